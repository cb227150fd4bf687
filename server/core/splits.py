"""Tracking splits: what ShotTracker's per-shot data says, counted for every team and player.

Why from scratch each time: a correction, a re-credit or a removal must move a shot to where it
now belongs, and an incremental tally would have to undo exactly what it once did. Counting the
game's current counting shots again is exact by construction, and cheap enough to do on every
poll that changed a shot (bench/poll.py). A poll that changed no shot computes nothing: the
shell keeps the last result (:class:`Splits`) and asks again only when shots or the config move.

Pure: known shots + config + the detector's team ids in, plain JSON-able data out. The shape is
the one of ``GET /api/games/{id}/stats``, the ``stats`` event and ``state.splits``; every field
is documented in docs/stats.md.

Rules worth knowing:

* A split is ``{"fgm", "fga"}``. ``zones``, ``advancedZones`` and ``types`` hold only the keys
  that have an attempt (an unknown zone number or shot type is its own key); ``guarded``,
  ``unguarded``, ``offDribble``, ``catchShoot`` and every ``distance`` band are always there.
* A shot with a field missing counts in the totals and in no split of that field.
* ``types`` counts every attribute that is not one of the four with a split of their own
  (OTD, CAS, GUARDED, UNGUARDED): DUNK, LAYUP, JUMPSHOT, FADEAWAY, CLEAN and any new code.
* ``streak`` is the current run of consecutive makes (by shot time), ``longestMakeFt`` the
  longest make (the distance as shown, to 0.1 ft), ``null`` before the first make.
* Players are listed home, away, then team unknown; within each by jersey number, then pid.
  Every rostered player is listed from the start, with zeros, under "team unknown" until
  their first shot says which team they play for (a roster carries no team). A vMix data
  source that must stay on one player asks for it by pid (``stats.flat.json?pid=…``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter
from typing import Any, Final

from server.core.roster import GameConfig
from server.core.tracker import AWAY, HOME, GameState, KnownShot, side_of

OFF_DRIBBLE: Final = "OTD"
CATCH_SHOOT: Final = "CAS"
GUARDED: Final = "GUARDED"
UNGUARDED: Final = "UNGUARDED"
SPLIT_ATTRIBUTES: Final = {
    GUARDED: "guarded",
    UNGUARDED: "unguarded",
    OFF_DRIBBLE: "offDribble",
    CATCH_SHOOT: "catchShoot",
}
FIXED_SPLITS: Final = ("guarded", "unguarded", "offDribble", "catchShoot")
# (label, lowest foot in the band); a distance belongs to the last band it reaches.
DISTANCE_BANDS: Final = (
    ("0-4", 0.0),
    ("5-9", 5.0),
    ("10-14", 10.0),
    ("15-19", 15.0),
    ("20-24", 20.0),
    ("25+", 25.0),
)


NO_PCT: Final = "\u2014"


def pct_display(fgm: int, fga: int) -> str:
    """How a percentage is shown on air: whole percent, halves rounded up ("57%"), and an em
    dash for no attempts. Integer arithmetic, so the JS twin (contract.js) agrees exactly."""
    if fga <= 0:
        return NO_PCT
    return f"{(200 * fgm + fga) // (2 * fga)}%"


def distance_band(feet: float | None) -> str | None:
    """The band label of a distance in feet (as shown, to 0.1 ft), or None when unknown."""
    if feet is None or feet < 0:
        return None
    label = DISTANCE_BANDS[0][0]
    for name, low in DISTANCE_BANDS:
        if feet >= low:
            label = name
    return label


# Cell keys: "fga"/"fg3a" for the totals, then "<split>\t<key>" for every split a shot is in.
_FGA: Final = "fga"
_FG3A: Final = "fg3a"
_ZONE: Final = "zones\t"
_ADV: Final = "advancedZones\t"
_TYPE: Final = "types\t"
_BAND: Final = "distance\t"
_NESTED: Final = ("zones", "advancedZones", "types")


@dataclass(frozen=True, slots=True)
class _Counted:
    """What one shot contributes: every cell it counts in, and what a make adds."""

    made: bool
    three: bool
    feet: float | None
    keys: tuple[str, ...]


def _counted(known: KnownShot) -> _Counted:
    s = known.shot
    feet = s.distance_ft()
    keys = [_FGA]
    if s.three:
        keys.append(_FG3A)
    if s.zone is not None:
        keys.append(_ZONE + str(s.zone))
    if s.adv_zone is not None:
        keys.append(_ADV + str(s.adv_zone))
    band = distance_band(feet)
    if band is not None:
        keys.append(_BAND + band)
    for attr in s.attributes:
        split = SPLIT_ATTRIBUTES.get(attr)
        key = split if split is not None else _TYPE + attr
        if key not in keys:
            keys.append(key)
    return _Counted(s.made, s.three, feet, tuple(keys))


def _cells(att: Counter[str], made: Counter[str], prefix: str) -> dict[str, dict[str, int]]:
    n = len(prefix)
    keys = [k[n:] for k in att if k.startswith(prefix)]

    def order(key: str) -> tuple[int, int, str]:
        return (0, int(key), "") if key.isdigit() else (1, 0, key)

    keys.sort(key=order)
    return {k: {"fgm": made[prefix + k], "fga": att[prefix + k]} for k in keys}


def _line(shots: Sequence[_Counted]) -> dict[str, Any]:
    """One team's or player's line from its shots in time order (Counter does the counting in
    C: a 200-shot team line is ~2,000 cell increments)."""
    att: Counter[str] = Counter(chain.from_iterable(c.keys for c in shots))
    made: Counter[str] = Counter(chain.from_iterable(c.keys for c in shots if c.made))
    streak = 0
    for c in reversed(shots):
        if not c.made:
            break
        streak += 1
    longest = max((c.feet for c in shots if c.made and c.feet is not None), default=None)
    fgm, fg3m = made[_FGA], made[_FG3A]
    out: dict[str, Any] = {
        "fgm": fgm,
        "fga": att[_FGA],
        "fg3m": fg3m,
        "fg3a": att[_FG3A],
        "points": 2 * fgm + fg3m,
        "zones": _cells(att, made, _ZONE),
        "advancedZones": _cells(att, made, _ADV),
    }
    for name in FIXED_SPLITS:
        out[name] = {"fgm": made[name], "fga": att[name]}
    out["types"] = _cells(att, made, _TYPE)
    out["distance"] = {
        name: {"fgm": made[_BAND + name], "fga": att[_BAND + name]} for name, _ in DISTANCE_BANDS
    }
    out["longestMakeFt"] = longest
    out["streak"] = streak
    return out


def _number_order(number: str | None) -> tuple[int, int, str]:
    if number is None:
        return (2, 0, "")
    text = number.strip()
    if text.isdigit():
        return (0, int(text), text)
    return (1, 0, text)


_UNSET: Final = "?"


_time_order: Final = attrgetter("shot.t", "key")


def present_in_order(shots: Iterable[KnownShot]) -> list[KnownShot]:
    """The counting shots in the order everything derived reads them: shot time, then key."""
    return sorted((k for k in shots if k.present), key=_time_order)


_SIDE_ORDER: Final = {HOME: 0, AWAY: 1, None: 2}


class Splits:
    """The splits calculator with its memory: what each shot contributes and each line's
    result are kept by identity, so a poll that changed one shot recounts only the lines that
    shot is in. The result is the same as counting everything again (tests/test_splits.py
    checks it against a fresh calculator after every step)."""

    def __init__(self) -> None:
        self._counted: dict[int, tuple[KnownShot, _Counted]] = {}
        self._lines: dict[tuple[str, str | None], tuple[tuple[_Counted, ...], dict[str, Any]]] = {}

    def _contribution(self, known: KnownShot) -> _Counted:
        hit = self._counted.get(id(known))
        if hit is not None and hit[0] is known:
            return hit[1]
        return _counted(known)

    def _line(self, key: tuple[str, str | None], shots: list[_Counted]) -> dict[str, Any]:
        hit = self._lines.get(key)
        # Tuple equality compares by identity first, in C: an unchanged line costs no Python.
        if hit is not None and hit[0] == tuple(shots):
            return hit[1]
        return _line(shots)

    def compute(
        self, shots: Iterable[KnownShot], config: GameConfig, state: GameState
    ) -> dict[str, Any]:
        """``{"teams": {"home", "away"}, "players": [...]}`` from the game's known shots."""
        return self.compute_present(present_in_order(shots), config, state)

    def compute_present(
        self, present: Sequence[KnownShot], config: GameConfig, state: GameState
    ) -> dict[str, Any]:
        """:meth:`compute` from :func:`present_in_order`'s list (when the caller has it)."""
        cache, make = self._counted, _counted
        if len(cache) > 2 * len(present) + 64:
            # forget shots no longer known (the memo holds them, so no id can be reused)
            live = {id(k) for k in present}
            cache = self._counted = {i: v for i, v in cache.items() if i in live}
        by_side: dict[str, list[_Counted]] = {HOME: [], AWAY: []}
        by_player: defaultdict[str, list[_Counted]] = defaultdict(list)
        last_tid: dict[str, str | None] = {}
        sides: dict[str | None, str | None] = {}
        get = cache.get
        for known in present:
            ident = id(known)
            hit = get(ident)
            if hit is not None and hit[0] is known:
                c = hit[1]
            else:
                c = make(known)
                cache[ident] = (known, c)
            shot = known.shot
            tid = shot.tid
            side = sides.get(tid, _UNSET)
            if side is _UNSET:
                side = sides[tid] = side_of(tid, config, state)
            if side is not None:
                by_side[side].append(c)
            by_player[shot.pid].append(c)
            # A player's team is the one of their latest shot (a re-credit moves them with it).
            last_tid[shot.pid] = tid
        player_side = {pid: sides[tid] for pid, tid in last_tid.items()}
        player_tid = dict(last_tid)
        for pid in config.roster:
            if pid not in by_player:
                by_player[pid] = []
                player_side[pid] = None  # a roster has no team: known from the first shot on
                player_tid[pid] = None

        lines: dict[tuple[str, str | None], tuple[tuple[_Counted, ...], dict[str, Any]]] = {}

        def line(key: tuple[str, str | None], mine: list[_Counted]) -> dict[str, Any]:
            data = self._line(key, mine)
            lines[key] = (tuple(mine), data)
            return data

        rows = []
        for pid, mine in by_player.items():
            info = config.player(pid)
            number = info.number if info is not None else None
            row: dict[str, Any] = {
                "pid": pid,
                "name": info.name if info is not None else None,
                "number": number,
                "team": player_side[pid],
                "teamId": player_tid[pid],
            }
            row.update(line(("player", pid), mine))
            rows.append(((_SIDE_ORDER.get(row["team"], 2), _number_order(number), pid), row))
        rows.sort(key=lambda pair: pair[0])

        def team(side: str) -> dict[str, Any]:
            info = config.home if side == HOME else config.away
            tid = state.home_team_id if side == HOME else state.away_team_id
            head: dict[str, Any] = {
                "team": side,
                "teamId": info.team_id or tid,
                "name": info.name,
                "short": info.short,
            }
            head.update(line(("team", side), by_side[side]))
            return head

        teams = {HOME: team(HOME), AWAY: team(AWAY)}
        self._lines = lines
        return {"teams": teams, "players": [r for _, r in rows]}


def compute(shots: Iterable[KnownShot], config: GameConfig, state: GameState) -> dict[str, Any]:
    """The splits counted from nothing (what :class:`Splits` must always agree with)."""
    return Splits().compute(shots, config, state)
