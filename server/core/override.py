"""The operator's manual override of what the upstream says: scores, period, clock.

When ShotTracker is wrong (a missed free throw, a stuck clock, a period that did not turn), the
operator sets the value by hand. The override is operator state per game, any subset of
``home``, ``away`` (scores), ``period`` and ``clock``. It never touches the detector: the
detector's state stays the upstream's truth, and the override is laid over it only where the
state is built for clients (``server.core.snapshot.build_state``) and, live, in ``static/feed.js``.

Like the on-air state (``server.core.onair``), it is folded from the game's own ``override`` events,
so a restart gets back exactly what was overridden, and the undo history with it. Each event
carries the whole new setting (``fields``), never a patch.

Pure: validation, merging, folding. No I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from server.core import events as ev
from server.core.tracker import GameState

FIELDS: tuple[str, ...] = ("home", "away", "period", "clock")
# How many earlier settings "undo" can go back to (the log itself keeps every one).
MAX_UNDO = 50
MAX_SCORE = 999

SET = "set"
CLEAR = "clear"
UNDO = "undo"
ACTIONS = (SET, CLEAR, UNDO)

_PERIOD = re.compile(r"^(?:Q[1-9]|H[1-9]|OT(?:[1-9][0-9]?)?)$")
_CLOCK = re.compile(r"^(?:(\d{1,2}):)?(\d{1,2}):(\d{2})$")


class OverrideError(ValueError):
    """An override request that cannot be applied (the message is for a person)."""


def normalize_clock(value: str) -> str:
    """ "2:00", "02:00", "0:02:00" -> "00:02:00": the upstream's own ``HH:MM:SS`` form."""
    match = _CLOCK.match(value.strip())
    if match is None:
        raise OverrideError(f"clock must look like 12:00 or 00:12:00, not {value[:20]!r}")
    hours, minutes, seconds = (int(g) if g is not None else 0 for g in match.groups())
    if seconds > 59 or (match.group(1) is not None and minutes > 59):
        raise OverrideError(f"clock {value[:20]!r} is not a time (minutes and seconds < 60)")
    if match.group(1) is None and minutes > 59:
        hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}"


def _value(name: str, raw: Any) -> Any:
    """One field's value, checked and normalised; ``None`` means "stop overriding it"."""
    if raw is None:
        return None
    if name in ("home", "away"):
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise OverrideError(f"{name} must be a whole number (a score), or null to clear it")
        if not 0 <= raw <= MAX_SCORE:
            raise OverrideError(f"{name} must be between 0 and {MAX_SCORE}")
        return raw
    if not isinstance(raw, str) or not raw.strip():
        raise OverrideError(f"{name} must be a string, or null to clear it")
    if name == "period":
        code = raw.strip().upper()
        if not _PERIOD.match(code):
            raise OverrideError(
                f"period must be a period code (Q1..Q4, H1, H2, OT, OT1, OT2, …), not {raw[:20]!r}"
            )
        return code
    return normalize_clock(raw)


def parse_patch(body: Any) -> dict[str, Any]:
    """A PUT body -> ``{field: value or None}``; OverrideError when it is not one."""
    if not isinstance(body, Mapping) or not body:
        raise OverrideError(
            'send any of {"home": 54, "away": 50, "period": "Q4", "clock": "02:00"} '
            "(null clears one field)"
        )
    unknown = sorted(str(k) for k in set(body) - set(FIELDS))
    if unknown:
        raise OverrideError(
            f"unknown override field(s): {', '.join(unknown)}; fields: {', '.join(FIELDS)}"
        )
    return {name: _value(name, body[name]) for name in FIELDS if name in body}


def merged(fields: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """The fields after a patch: a value sets, ``None`` removes; the rest stay. Field order kept."""
    out = {k: v for k, v in fields.items() if k in FIELDS}
    for name, value in patch.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return {k: out[k] for k in FIELDS if k in out}


def _clean(raw: Any) -> dict[str, Any]:
    """Fields as read back from an event (written validated; read defensively)."""
    if not isinstance(raw, Mapping):
        return {}
    return {k: raw[k] for k in FIELDS if raw.get(k) is not None}


@dataclass(frozen=True, slots=True)
class Override:
    """The fields overridden now, and the earlier settings "undo" goes back through."""

    fields: Mapping[str, Any] = field(default_factory=dict)
    history: tuple[Mapping[str, Any], ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.fields)

    @property
    def can_undo(self) -> bool:
        return bool(self.history)

    def set(self, patch: Mapping[str, Any]) -> dict[str, Any]:
        """The event data of applying a validated patch (``parse_patch``)."""
        return self._data(SET, merged(self.fields, patch), undo_depth=len(self.history) + 1)

    def clear(self) -> dict[str, Any]:
        return self._data(CLEAR, {}, undo_depth=len(self.history) + 1)

    def undo(self) -> dict[str, Any]:
        """The event data going back to the previous setting; OverrideError if there is none."""
        if not self.history:
            raise OverrideError("nothing to undo: no earlier override setting")
        return self._data(UNDO, dict(self.history[-1]), undo_depth=len(self.history) - 1)

    @staticmethod
    def _data(action: str, fields: dict[str, Any], *, undo_depth: int) -> dict[str, Any]:
        # ``upstream`` is filled in by the caller, under the game's lock (see server.web.api)
        return {
            "action": action,
            "active": bool(fields),
            "fields": fields,
            "canUndo": undo_depth > 0,
        }

    def apply(self, type_: str, data: Mapping[str, Any]) -> Override:
        """Fold one event; anything but ``override`` leaves it as it is."""
        if type_ != ev.OVERRIDE:
            return self
        fields = _clean(data.get("fields"))
        if data.get("action") == UNDO:
            history = self.history[:-1]
        else:
            history = (*self.history, dict(self.fields))[-MAX_UNDO:]
        return Override(fields, history)

    def to_data(self, upstream: Mapping[str, Any]) -> dict[str, Any]:
        """What ``state.override`` shows: both the override and what the upstream says."""
        return {
            "active": self.active,
            "fields": dict(self.fields),
            "upstream": dict(upstream),
            "canUndo": self.can_undo,
        }


def upstream_of(state: GameState) -> dict[str, Any]:
    """What the upstream says now, for the fields an override can cover (and the clock's run)."""
    return {
        "home": state.home_score,
        "away": state.away_score,
        "period": state.period,
        "clock": state.clock,
        "clockRunning": state.clock_running,
        "clockAt": state.clock_at,
    }


def fold(messages: Iterable[Mapping[str, Any]]) -> Override:
    """Override from a sequence of event messages (oldest first)."""
    state = Override()
    for msg in messages:
        state = state.apply(str(msg.get("type")), msg.get("data") or {})
    return state
