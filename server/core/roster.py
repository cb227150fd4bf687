"""A game's configuration as the operator sets it: the two teams and the roster.

ShotTracker's shots carry a team id (``tid``) and a player id (``pid``) but no names, colours
or numbers, and a shot's ``tid`` may match neither ``gameTotals`` team id (the seed example
does exactly that). This is where the mapping lives; anything not configured stays unknown
(None), never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from server.core.vmix import VmixConfig
from server.errors import ConfigError

_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_TEAM_FIELDS = {"teamId": "team_id", "name": "name", "short": "short", "color": "color"}
_MAX_TEXT = 80


@dataclass(frozen=True, slots=True)
class TeamInfo:
    team_id: str | None = None
    name: str | None = None
    short: str | None = None
    color: str | None = None

    def to_data(self) -> dict[str, Any]:
        return {"teamId": self.team_id, "name": self.name, "short": self.short, "color": self.color}


@dataclass(frozen=True, slots=True)
class Player:
    id: str
    name: str | None = None
    number: str | None = None

    def to_data(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "number": self.number}


def _text(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, not {type(value).__name__}")
    value = value.strip()
    if len(value) > _MAX_TEXT:
        raise ConfigError(f"{where} is longer than {_MAX_TEXT} characters")
    return value or None


@dataclass(frozen=True, slots=True)
class GameConfig:
    """Teams and roster of one game; ``merged`` applies an operator's partial update."""

    home: TeamInfo = field(default_factory=TeamInfo)
    away: TeamInfo = field(default_factory=TeamInfo)
    roster: Mapping[str, Player] = field(default_factory=dict)
    vmix: VmixConfig | None = None
    """Titles pushed to vMix (server.core.vmix); None: no vMix output for this game."""

    def side_of(self, team_id: str | None) -> str | None:
        """ "home"/"away" for a configured team id, else None."""
        if team_id is None:
            return None
        if self.home.team_id == team_id:
            return "home"
        if self.away.team_id == team_id:
            return "away"
        return None

    def player(self, pid: str | None) -> Player | None:
        return self.roster.get(pid) if pid is not None else None

    def to_data(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "home": self.home.to_data(),
            "away": self.away.to_data(),
            "roster": {pid: {"name": p.name, "number": p.number} for pid, p in self.roster.items()},
        }
        if self.vmix is not None:
            out["vmix"] = self.vmix.to_data()
        return out

    @classmethod
    def from_data(cls, data: Mapping[str, Any] | None) -> GameConfig:
        return cls().merged(data or {})

    def merged(self, patch: Mapping[str, Any]) -> GameConfig:
        """Apply a partial update (fields left out stay as they were); ConfigError if malformed."""
        if not isinstance(patch, Mapping):
            raise ConfigError("config must be a JSON object")
        unknown = set(patch) - {"home", "away", "roster", "vmix"}
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(sorted(unknown))}")
        home = (
            self._merge_team(self.home, patch.get("home"), "home") if "home" in patch else self.home
        )
        away = (
            self._merge_team(self.away, patch.get("away"), "away") if "away" in patch else self.away
        )
        roster = dict(self.roster)
        if "roster" in patch:
            raw = patch["roster"]
            if not isinstance(raw, Mapping):
                raise ConfigError("roster must be an object of pid -> {name, number}")
            for pid, entry in raw.items():
                pid = str(pid)
                if entry is None:
                    roster.pop(pid, None)
                    continue
                if not isinstance(entry, Mapping):
                    raise ConfigError(f"roster[{pid}] must be an object with name and number")
                extra = sorted(str(k) for k in set(entry) - {"name", "number"})
                if extra:
                    raise ConfigError(f"unknown roster[{pid}] field(s): {', '.join(extra)}")
                old = roster.get(pid, Player(pid))
                roster[pid] = Player(
                    pid,
                    _text(entry["name"], f"roster[{pid}].name") if "name" in entry else old.name,
                    _text(entry["number"], f"roster[{pid}].number")
                    if "number" in entry
                    else old.number,
                )
        vmix = self.vmix
        if "vmix" in patch:
            raw_vmix = patch["vmix"]
            vmix = None if raw_vmix is None else (vmix or VmixConfig()).merged(raw_vmix)
        return GameConfig(home, away, roster, vmix)

    @staticmethod
    def _merge_team(team: TeamInfo, raw: Any, side: str) -> TeamInfo:
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{side} must be an object with teamId, name, short, color")
        unknown = set(raw) - set(_TEAM_FIELDS)
        if unknown:
            raise ConfigError(f"unknown {side} field(s): {', '.join(sorted(unknown))}")
        changes: dict[str, Any] = {}
        for key, attr in _TEAM_FIELDS.items():
            if key in raw:
                changes[attr] = _text(raw[key], f"{side}.{key}")
        color = changes.get("color")
        if color is not None and not _COLOR.match(color):
            raise ConfigError(f"{side}.color must look like #1a2b3c, not {color!r}")
        return replace(team, **changes)
