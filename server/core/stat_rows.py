"""The tracking splits as flat rows: ``stats.csv``, ``stats.xml`` and ``stats.flat.json``.

Why flat: vMix Data Sources, Singular and scoreboard controllers bind a title field to a named
column of a row, and an operator picks the row. So every player is one row, every split a
fixed set of columns (``zone_8_fgm``, ``zone_8_fga``, ``zone_8_pct``…), every value a string,
and the columns are the same in every row and every request of the game: all 14 zones and 23
advanced zones, every distance band, the known shot types plus any other seen tonight.

Pure: the splits document (:mod:`server.core.splits`) in, rows out; the filters (``team``,
``pid``, team rows instead of players) come from the route's query and are checked here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from server.core.snapshot import flat_text
from server.core.splits import DISTANCE_BANDS, FIXED_SPLITS, pct_display
from server.core.zones import ADVANCED_COUNT, ZONE_COUNT

KNOWN_TYPES: Final = ("DUNK", "LAYUP", "JUMPSHOT", "FADEAWAY")
ROWS: Final = ("players", "teams")
TEAMS: Final = ("home", "away")
_SNAKE: Final = {
    "guarded": "guarded",
    "unguarded": "unguarded",
    "offDribble": "off_dribble",
    "catchShoot": "catch_shoot",
}


class RowsError(ValueError):
    """A query that names no rows this route has (the message is for a person)."""


def _three(out: dict[str, Any], prefix: str, cell: Mapping[str, Any] | None) -> None:
    m = int(cell["fgm"]) if cell else 0
    a = int(cell["fga"]) if cell else 0
    out[f"{prefix}_fgm"] = m
    out[f"{prefix}_fga"] = a
    out[f"{prefix}_pct"] = pct_display(m, a)


def _column_key(name: str) -> str:
    """A shot type code as a column name: letters, digits and underscores only."""
    return "".join(c if c.isalnum() else "_" for c in name.lower())


def type_columns(lines: Iterable[Mapping[str, Any]]) -> list[str]:
    """The known shot types, then any other one seen in ``lines``, in a stable order."""
    seen = list(KNOWN_TYPES)
    for line in lines:
        for code in line.get("types") or {}:
            if code not in seen:
                seen.append(code)
    return seen


def line_row(
    line: Mapping[str, Any], head: Mapping[str, Any], types: Iterable[str]
) -> dict[str, str]:
    """One team's or player's line with ``head`` columns first."""
    out: dict[str, Any] = dict(head)
    for key in ("fgm", "fga"):
        out[key] = line[key]
    out["fg_pct"] = pct_display(line["fgm"], line["fga"])
    out["fg3m"], out["fg3a"] = line["fg3m"], line["fg3a"]
    out["fg3_pct"] = pct_display(line["fg3m"], line["fg3a"])
    out["points"] = line["points"]
    out["line"] = f"{line['fgm']}/{line['fga']} FG, {line['fg3m']}/{line['fg3a']} 3PT"
    out["longest_make_ft"] = line["longestMakeFt"]
    out["streak"] = line["streak"]
    for name in FIXED_SPLITS:
        _three(out, _SNAKE[name], line[name])
    for band, _ in DISTANCE_BANDS:
        _three(
            out, "distance_" + band.replace("-", "_").replace("+", "_plus"), line["distance"][band]
        )
    for code in types:
        _three(out, "type_" + _column_key(code), line["types"].get(code))
    zones = line["zones"]
    for z in range(1, ZONE_COUNT + 1):
        _three(out, f"zone_{z}", zones.get(str(z)))
    advanced = line["advancedZones"]
    for az in range(1, ADVANCED_COUNT + 1):
        _three(out, f"az_{az}", advanced.get(str(az)))
    return {k: flat_text(v) for k, v in out.items()}


_ZERO_LINE: Final[Mapping[str, Any]] = {
    "fgm": 0,
    "fga": 0,
    "fg3m": 0,
    "fg3a": 0,
    "points": 0,
    "zones": {},
    "advancedZones": {},
    "types": {},
    "distance": {band: {"fgm": 0, "fga": 0} for band, _ in DISTANCE_BANDS},
    "longestMakeFt": None,
    "streak": 0,
    **{name: {"fgm": 0, "fga": 0} for name in FIXED_SPLITS},
}
_PLAYER_HEAD: Final = ("pid", "name", "number", "team", "team_id", "team_name", "team_short")
_TEAM_HEAD: Final = ("team", "team_id", "team_name", "team_short")


def columns(splits: Mapping[str, Any], rows: str | None = None) -> list[str]:
    """The column names of :func:`stats_rows` (a CSV with no row still has its header)."""
    teams = splits.get("teams") or {}
    types = type_columns([*teams.values(), *(splits.get("players") or [])])
    head = _TEAM_HEAD if rows == "teams" else _PLAYER_HEAD
    return list(line_row(_ZERO_LINE, dict.fromkeys(head), types))


def stats_rows(
    splits: Mapping[str, Any],
    *,
    rows: str | None = None,
    team: str | None = None,
    pid: str | None = None,
) -> list[dict[str, str]]:
    """Player rows (``rows="teams"``: the two team rows), optionally one team's or one pid's.

    A pid that is not in the game gives no row, not an error: a vMix source set up for a player
    before tip-off fills in at their first shot.
    """
    which = rows or "players"
    if which not in ROWS:
        raise RowsError(f"rows must be one of {', '.join(ROWS)}")
    if team is not None and team not in TEAMS:
        raise RowsError("team must be home or away")
    teams = splits.get("teams") or {}
    players = splits.get("players") or []
    types = type_columns([*teams.values(), *players])
    if which == "teams":
        out = []
        for side in TEAMS:
            if side not in teams or (team is not None and side != team):
                continue
            t = teams[side]
            head = {
                "team": side,
                "team_id": t.get("teamId"),
                "team_name": t.get("name"),
                "team_short": t.get("short"),
            }
            out.append(line_row(t, head, types))
        return out
    out = []
    for p in players:
        if team is not None and p.get("team") != team:
            continue
        if pid is not None and p.get("pid") != pid:
            continue
        side = p.get("team")
        t = teams.get(side) if side else None
        head = {
            "pid": p.get("pid"),
            "name": p.get("name"),
            "number": p.get("number"),
            "team": side,
            "team_id": p.get("teamId"),
            "team_name": t.get("name") if t else None,
            "team_short": t.get("short") if t else None,
        }
        out.append(line_row(p, head, types))
    return out
