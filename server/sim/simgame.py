"""A whole synthetic basketball game as ShotTracker would report it, for ``shotfeed demo``.

Pure and deterministic: no I/O, no clock reads, no global random state. Every random draw
comes from a ``random.Random`` seeded with a string derived from the game seed (string seeds
are hashed with SHA-512, so they do not depend on ``PYTHONHASHSEED``), one stream per purpose
and per period. That keeps a seed's game identical across runs and machines, and lets the
last period be rebuilt with a tie-breaking free throw without disturbing anything drawn before.

The game is a *timeline* in seconds from the start of the simulated event (offset 0 is the
start of a short pre-game; the tip is at ``pregame_s``). Inside a period the game clock runs,
except during stoppages (free-throw trips, timeouts), so a demo shows a clock that stops as a
real one does. Between periods there is a break in which the clock shows ``00:00:00``.

Box-score figures are drawn as *counts* per team first (attempts, threes, makes) and only then
placed on the court and the clock. Drawing shot by shot would let a seed wander far outside a
realistic box score; drawing counts keeps every seed within about 55-65 field goal attempts a
team (for 40 minutes), ~35 % of them threes, ~45 % made.

Geometry is ShotTracker's court frame: millimetres, origin at centre court, ``y`` along the
court's length, hoops at ``y = ±hoop_y``. Each shot is placed at least ``LINE_MARGIN_MM`` away
from the three-point line of the chosen rules, so no rounding can flip ``is3``.

Free throws are never shot records (ShotTracker's shots feed has none): they live in
``SimGame.free_throws`` and count only in ``gameTotals``.

Corrections: a few shots are first credited to one player and re-credited to a team-mate
some seconds later (same ``t``), the kind of correction a live feed sends and the server must
report as ``shot_update`` rather than as a new shot.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from server.core import zones
from server.core.shots import MM_PER_FT

Format = Literal["quarters", "halves"]
Rules = Literal["ncaa", "nba", "fiba"]
Side = Literal["home", "away"]
SIDES: tuple[Side, Side] = ("home", "away")

PREGAME_S = 30.0
QUARTER_BREAK_S = 60.0
HALFTIME_S = 120.0
OVERTIME_BREAK_S = 60.0
OVERTIME_MINUTES = 5
MAX_OVERTIMES = 4
LINE_MARGIN_MM = 350.0
HOOP_Z_MM = 3048
# 2026-01-01T00:00:00Z: the default epoch of ``t``, so a seed's payload is fixed in tests.
DEFAULT_T0_MS = 1_767_225_600_000

_FT_TRIP_PAUSE_S = 25.0
_AND_ONE_PAUSE_S = 18.0
_TIMEOUT_PAUSE_S = 45.0
_TIEBREAK_PAUSE_S = 15.0
_CORRECTION_RATE = 0.03


@dataclass(frozen=True, slots=True)
class CourtRules:
    """Court dimensions and three-point line for one rule set, all in millimetres.

    ``arc_mm`` is the arc radius around the hoop centre, ``corner_mm`` the distance of the
    straight corner lines from the hoop (they run from the baseline until they meet the arc).
    """

    name: str
    arc_mm: float
    corner_mm: float
    hoop_y_mm: float
    half_length_mm: float
    half_width_mm: float

    @property
    def break_mm(self) -> float:
        """How far toward half court (from the hoop) the corner lines meet the arc."""
        return math.sqrt(self.arc_mm**2 - self.corner_mm**2)

    @property
    def baseline_mm(self) -> float:
        """Distance from the hoop centre back to the baseline."""
        return self.half_length_mm - self.hoop_y_mm

    def boundary_mm(self, dx: float, dy: float) -> float:
        """Distance from the hoop to the three-point line along the ray through (dx, dy).

        ``dx`` is lateral, ``dy`` points from the hoop toward half court. Along a ray at angle
        theta from the court axis the line is the arc (radius ``arc_mm``) or, nearer the
        sidelines, the straight corner line ``|x| = corner_mm``, whichever comes first.
        """
        r = math.hypot(dx, dy)
        if r == 0:
            return self.arc_mm
        sin = abs(dx) / r
        if sin == 0:
            return self.arc_mm
        return min(self.arc_mm, self.corner_mm / sin)

    def is_three(self, dx: float, dy: float) -> bool:
        """True when (dx, dy) from the hoop is beyond the three-point line."""
        return math.hypot(dx, dy) > self.boundary_mm(dx, dy)


_FT = 304.8
_NCAA_NBA_COURT = {"hoop_y_mm": 12725.0, "half_length_mm": 47 * _FT, "half_width_mm": 25 * _FT}
COURTS: dict[str, CourtRules] = {
    # NCAA since 2019 (men) / 2021 (women): 22 ft 1.75 in = 6.75 m arc, 6.6 m corners.
    "ncaa": CourtRules("ncaa", 6750.0, 6600.0, **_NCAA_NBA_COURT),
    # NBA: 23 ft 9 in arc, 22 ft corners.
    "nba": CourtRules("nba", 23.75 * _FT, 22 * _FT, **_NCAA_NBA_COURT),
    # FIBA: 28 x 15 m court, hoop 1.575 m from the baseline, 6.75 m arc, 6.6 m corners.
    "fiba": CourtRules("fiba", 6750.0, 6600.0, 14000.0 - 1575.0, 14000.0, 7500.0),
}


@dataclass(frozen=True, slots=True)
class SimTeam:
    """One side's identity, in the shape the operator config uses."""

    side: Side
    team_id: str
    name: str
    short: str
    color: str

    def to_config(self) -> dict[str, str]:
        return {"teamId": self.team_id, "name": self.name, "short": self.short, "color": self.color}


@dataclass(frozen=True, slots=True)
class SimPlayer:
    """A roster entry; ``role`` steers where the player shoots from (guards shoot threes)."""

    pid: str
    name: str
    number: str
    side: Side
    role: Literal["guard", "forward", "center"]


@dataclass(frozen=True, slots=True)
class SimPeriod:
    """One period on the timeline, with the stoppages that freeze its clock.

    ``pauses`` are (clock seconds elapsed when the clock stops, how long it stays stopped),
    sorted. An event at the very clock value of a pause happens as the clock stops (the shot
    that draws the foul), and free throws happen during the pause.
    """

    code: str
    number: int
    session_id: str
    length_s: int
    start_s: float
    pauses: tuple[tuple[float, float], ...]

    @property
    def end_s(self) -> float:
        """Timeline offset when the clock reaches 00:00."""
        return self.start_s + self.length_s + sum(d for _, d in self.pauses)

    def offset_of(self, clock_elapsed_s: float) -> float:
        """Timeline offset at which the clock has run ``clock_elapsed_s`` seconds."""
        stopped = sum(d for c, d in self.pauses if c < clock_elapsed_s)
        return self.start_s + clock_elapsed_s + stopped

    def clock_elapsed_at(self, offset_s: float) -> float:
        """Seconds the clock has run at timeline ``offset_s`` (0 before, length after)."""
        t = offset_s - self.start_s
        if t <= 0:
            return 0.0
        for c, d in self.pauses:
            if t <= c:
                return t
            if t <= c + d:
                return c
            t -= d
        return min(t, float(self.length_s))

    def remaining_at(self, offset_s: float) -> float:
        return self.length_s - self.clock_elapsed_at(offset_s)


@dataclass(frozen=True, slots=True)
class SimShot:
    """A field goal attempt on the timeline.

    ``record`` is ShotTracker's record as it finally stands, with ``t`` left at 0: ``t`` is
    wall-clock time, which depends on when and how fast the demo plays (see
    ``SimGame.payload_at``). Until ``corrected_at_s`` the record names ``first_pid`` instead.
    """

    index: int
    offset_s: float
    period: str
    side: Side
    record: Mapping[str, Any]
    first_pid: str | None = None
    corrected_at_s: float | None = None

    @property
    def points(self) -> int:
        pts = int(self.record["pts"])
        return max(pts, 0)

    @property
    def made(self) -> bool:
        return bool(self.record["st"] == "MAKE")

    @property
    def three(self) -> bool:
        return bool(self.record["is3"])


@dataclass(frozen=True, slots=True)
class SimFreeThrow:
    """One free throw: it counts in the score when made, and is never a shot record."""

    offset_s: float
    period: str
    side: Side
    made: bool

    @property
    def points(self) -> int:
        return 1 if self.made else 0


@dataclass(frozen=True, slots=True)
class SimGame:
    """A complete simulated game; ask it what ShotTracker would answer at any moment."""

    seed: int
    fmt: Format
    rules: Rules
    court: CourtRules
    home: SimTeam
    away: SimTeam
    roster: Mapping[str, SimPlayer]
    periods: tuple[SimPeriod, ...]
    shots: tuple[SimShot, ...]
    free_throws: tuple[SimFreeThrow, ...]
    pregame_s: float = PREGAME_S
    t0_ms: int = DEFAULT_T0_MS
    _shot_offsets: tuple[float, ...] = field(default=(), repr=False, compare=False)

    @property
    def duration_s(self) -> float:
        """Timeline offset at which the game is FINAL (end of the last period)."""
        return self.periods[-1].end_s

    @property
    def period_codes(self) -> tuple[str, ...]:
        return tuple(p.code for p in self.periods)

    def team(self, side: Side) -> SimTeam:
        return self.home if side == "home" else self.away

    def status_at(self, elapsed_s: float) -> str:
        """SCHEDULED before the tip, ACTIVE through the last buzzer, FINAL after it."""
        if elapsed_s < self.pregame_s:
            return "SCHEDULED"
        if elapsed_s < self.duration_s:
            return "ACTIVE"
        return "FINAL"

    def period_at(self, elapsed_s: float) -> SimPeriod:
        """The period being played, or just finished during a break (the first one pre-game)."""
        current = self.periods[0]
        for p in self.periods:
            if p.start_s <= elapsed_s:
                current = p
        return current

    def score_at(self, elapsed_s: float) -> tuple[int, int]:
        """(home, away) points so far: field goals plus free throws."""
        return self._score(elapsed_s, None)

    @property
    def final_score(self) -> tuple[int, int]:
        return self._score(math.inf, None)

    def _score(self, elapsed_s: float, period: str | None) -> tuple[int, int]:
        totals = {"home": 0, "away": 0}
        for s in self.shots[: self._shots_until(elapsed_s)]:
            if period is None or s.period == period:
                totals[s.side] += s.points
        for ft in self.free_throws:
            if ft.offset_s <= elapsed_s and (period is None or ft.period == period):
                totals[ft.side] += ft.points
        return totals["home"], totals["away"]

    def _shots_until(self, elapsed_s: float) -> int:
        offsets = self._shot_offsets or tuple(s.offset_s for s in self.shots)
        return bisect.bisect_right(offsets, elapsed_s)

    def shot_t(self, shot: SimShot, *, t0_ms: int | None = None, speed: float = 1.0) -> int:
        """The shot's ``t``: the wall-clock ms at which it happens when the game plays from
        ``t0_ms`` at ``speed``. The index is added so two shots never share a ``t`` (the
        server's identity for a shot) however fast the demo runs."""
        base = self.t0_ms if t0_ms is None else t0_ms
        return base + int(shot.offset_s * 1000.0 / speed) + shot.index

    def payload_at(
        self, elapsed_s: float, *, t0_ms: int | None = None, speed: float = 1.0
    ) -> dict[str, Any]:
        """The exact JSON document ShotTracker's shots endpoint returns ``elapsed_s`` seconds
        (of game timeline) after the simulated event opened.

        ``t0_ms`` and ``speed`` only set the shots' ``t`` (wall-clock ms): a demo started at
        ``t0_ms`` playing at ``speed`` gives ``t`` values that match its own clock.
        """
        if speed <= 0:
            raise ValueError("speed must be positive")
        elapsed_s = max(0.0, elapsed_s)
        shots: list[dict[str, Any]] = []
        for s in self.shots[: self._shots_until(elapsed_s)]:
            rec = dict(s.record)
            rec["t"] = self.shot_t(s, t0_ms=t0_ms, speed=speed)
            corrected = s.corrected_at_s
            if s.first_pid is not None and corrected is not None and elapsed_s < corrected:
                rec["pid"] = s.first_pid
                rec["players"] = [s.first_pid]
            shots.append(rec)
        current = self.period_at(elapsed_s)
        status = self.status_at(elapsed_s)
        remaining = float(current.length_s) if status == "SCHEDULED" else 0.0
        if status == "ACTIVE":
            remaining = current.remaining_at(elapsed_s)
        home, away = self.score_at(elapsed_s)
        period_totals = []
        for p in reversed(self.periods):
            if p.start_s > elapsed_s:
                continue
            ph, pa = self._score(elapsed_s, p.code)
            period_totals.append(
                {
                    "awayTeamScore": {"teamId": self.away.team_id, "value": pa},
                    "homeTeamScore": {"teamId": self.home.team_id, "value": ph},
                    "period": p.code,
                    "sessionId": p.session_id,
                }
            )
        return {
            "shots": shots,
            "gameTotals": {
                "awayTeamScore": {"teamId": self.away.team_id, "value": away},
                "homeTeamScore": {"teamId": self.home.team_id, "value": home},
                "period": current.code,
                "gameClock": format_game_clock(remaining),
                "status": status,
                "periodTotals": period_totals,
            },
        }

    def config_data(self) -> dict[str, Any]:
        """Teams and roster in the shape ``GameConfig.from_data`` (and PUT .../config) takes."""
        return {
            "home": self.home.to_config(),
            "away": self.away.to_config(),
            "roster": {pid: {"name": p.name, "number": p.number} for pid, p in self.roster.items()},
        }


def format_game_clock(remaining_s: float) -> str:
    """Remaining period time as ``HH:MM:SS`` (the seed's "00:15:00"), rounded up so the clock
    only reads zero once the period is really over."""
    total = max(0, math.ceil(remaining_s - 1e-9))
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def format_shot_clock(remaining_s: float) -> str:
    """A shot's ``gc``: remaining period time as ``MM:SS``."""
    total = max(0, math.ceil(remaining_s - 1e-9))
    return f"{total // 60:02d}:{total % 60:02d}"


# -- identities -------------------------------------------------------------------------------

_TEAM_POOL: tuple[tuple[str, str, str, str], ...] = (
    ("Riverside", "Hawks", "RIV", "#c8102e"),
    ("Lakeview", "Comets", "LAK", "#0033a0"),
    ("Summit", "Pioneers", "SUM", "#00843d"),
    ("Harbor City", "Mariners", "HBR", "#0b2265"),
    ("Northgate", "Foxes", "NGT", "#e35205"),
    ("Westbrook", "Owls", "WBK", "#582c83"),
    ("Cedar Falls", "Lumberjacks", "CDF", "#7a4a1e"),
    ("Bayside", "Pelicans", "BAY", "#008c95"),
    ("Granite State", "Wolves", "GRS", "#4a4f55"),
    ("Sunvale", "Suns", "SUN", "#f2a900"),
)
_FIRST_NAMES = (
    "Maya", "Jordan", "Avery", "Kendall", "Riley", "Sam", "Taylor", "Jalen", "Morgan", "Quinn",
    "Amara", "Devin", "Skylar", "Reese", "Imani", "Cameron", "Noa", "Elena", "Marcus", "Tess",
    "Kai", "Priya", "Darius", "Lena", "Mateo", "Zoe", "Andre", "Nia", "Elias", "Sofia",
)  # fmt: skip
_LAST_NAMES = (
    "Okafor", "Lindqvist", "Brooks", "Moreau", "Castillo", "Nakamura", "Whitfield", "Adeyemi",
    "Kowalski", "Hartley", "Osei", "Delgado", "Fitzgerald", "Haddad", "Ivanova", "Jensen",
    "Mbeki", "Novak", "Petrov", "Quintero", "Rahman", "Sato", "Tremblay", "Ulloa", "Vasquez",
    "Weller", "Yilmaz", "Zamora", "Abernathy", "Bellamy", "Carver", "Dumont", "Esposito",
)  # fmt: skip
_NUMBERS = (
    "0", "1", "2", "3", "4", "5", "10", "11", "12", "13", "14", "15", "20", "21", "22",
    "23", "24", "25", "30", "31", "32", "33", "34", "35", "40", "41", "42", "44", "50",
)  # fmt: skip
_ROLES: tuple[Literal["guard", "forward", "center"], ...] = (
    "guard", "guard", "forward", "forward", "center",
    "guard", "forward", "guard", "center", "forward",
)  # fmt: skip
# Share of a team's shots per roster slot: starters first, a star, a short bench.
_USAGE = (0.20, 0.17, 0.15, 0.13, 0.11, 0.07, 0.06, 0.05, 0.04, 0.02)
_ROLE_ZONE_WEIGHT: dict[str, dict[str, float]] = {
    "guard": {"rim": 0.7, "short": 0.9, "mid": 1.1, "corner3": 1.2, "above3": 1.5},
    "forward": {"rim": 1.0, "short": 1.0, "mid": 1.0, "corner3": 1.1, "above3": 0.9},
    "center": {"rim": 1.9, "short": 1.4, "mid": 0.7, "corner3": 0.15, "above3": 0.15},
}


def _uuid_like(rng: random.Random) -> str:
    """A version-1-looking uuid like ShotTracker's ids (the seed's end in ``-11ed-``)."""
    return (
        f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-11ed-"
        f"{0x8000 | rng.getrandbits(14):04x}-{rng.getrandbits(48):012x}"
    )


def _rng(seed: int, purpose: str) -> random.Random:
    return random.Random(f"shotfeed-sim:{seed}:{purpose}")


def _make_teams_and_roster(
    seed: int,
) -> tuple[SimTeam, SimTeam, dict[str, SimPlayer]]:
    rng = _rng(seed, "teams")
    home_i, away_i = rng.sample(range(len(_TEAM_POOL)), 2)
    teams: list[SimTeam] = []
    for side, i, team_id in zip(SIDES, (home_i, away_i), ("1001", "1002"), strict=True):
        city, nick, short, color = _TEAM_POOL[i]
        teams.append(SimTeam(side, team_id, f"{city} {nick}", short, color))
    roster: dict[str, SimPlayer] = {}
    pids = rng.sample(range(7000, 7999), 20)
    firsts = rng.sample(_FIRST_NAMES, 20)
    lasts = rng.sample(_LAST_NAMES, 20)
    for t, side in enumerate(SIDES):
        numbers = rng.sample(_NUMBERS, 10)
        for slot in range(10):
            k = t * 10 + slot
            pid = str(pids[k])
            roster[pid] = SimPlayer(
                pid, f"{firsts[k]} {lasts[k]}", numbers[slot], side, _ROLES[slot]
            )
    return teams[0], teams[1], roster


# -- box score --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Attempt:
    side: Side
    three: bool
    made: bool


@dataclass(frozen=True, slots=True)
class _TeamPlan:
    """Per team: every field goal attempt (three?, made?) and the free-throw figures."""

    attempts: tuple[_Attempt, ...]
    ft_trips: int
    ft_pct: float


def _plan_team(rng: random.Random, side: Side, minutes: float, *, overtime: bool) -> _TeamPlan:
    """Counts first (see module docstring): attempts, threes, makes, free-throw trips."""
    scale = minutes / 40.0
    if overtime:
        fga = rng.randint(6, 9)
        trips = rng.randint(1, 3)
    else:
        fga = round(rng.randint(55, 65) * scale)
        trips = round(rng.randint(5, 9) * scale)
    threes = round(fga * rng.uniform(0.32, 0.38))
    made3 = round(threes * rng.uniform(0.31, 0.38))
    twos = fga - threes
    made2 = round(twos * rng.uniform(0.46, 0.54))
    attempts = (
        [_Attempt(side, True, True)] * made3
        + [_Attempt(side, True, False)] * (threes - made3)
        + [_Attempt(side, False, True)] * made2
        + [_Attempt(side, False, False)] * (twos - made2)
    )
    rng.shuffle(attempts)
    return _TeamPlan(tuple(attempts), trips, rng.uniform(0.66, 0.82))


def _split(rng: random.Random, items: Sequence[Any], weights: Sequence[float]) -> list[list[Any]]:
    """Deal ``items`` into len(weights) buckets at random, in proportion to the weights."""
    buckets: list[list[Any]] = [[] for _ in weights]
    for item in items:
        buckets[rng.choices(range(len(weights)), weights=weights)[0]].append(item)
    return buckets


# -- court geometry ---------------------------------------------------------------------------

_ZONE_GIVEN_MADE = {
    # P(zone | made) and P(zone | missed) from a mix of 42 % rim, 25 % short, 33 % mid-range
    # twos at 62 / 42 / 38 % (so twos go in about half the time), 22 % of threes from corners.
    (False, True): {"rim": 0.53, "short": 0.21, "mid": 0.26},
    (False, False): {"rim": 0.31, "short": 0.28, "mid": 0.41},
    (True, True): {"corner3": 0.28, "above3": 0.72},
    (True, False): {"corner3": 0.22, "above3": 0.78},
}


def _place(rng: random.Random, court: CourtRules, zone: str, dunk: bool) -> tuple[float, float]:
    """A shot position (dx lateral, dy toward half court) in mm from the hoop, in ``zone``,
    inside the court and at least LINE_MARGIN_MM from the three-point line."""
    for _ in range(1000):
        if zone == "corner3":
            dx = rng.uniform(court.corner_mm + LINE_MARGIN_MM + 20, court.half_width_mm - 250)
            dx = dx if rng.random() < 0.5 else -dx
            dy = rng.uniform(-1100, court.break_mm - 200)
        else:
            if zone == "rim":
                r = rng.uniform(150, 700) if dunk else rng.uniform(250, 1400)
                theta = rng.uniform(-100, 100)
            elif zone == "short":
                r = rng.uniform(1500, 4200)
                theta = rng.uniform(-95, 95)
            elif zone == "mid":
                r = rng.uniform(4200, court.arc_mm - LINE_MARGIN_MM)
                theta = rng.uniform(-92, 92)
            else:  # above3
                deep = rng.random() < 0.08
                r = court.arc_mm + LINE_MARGIN_MM + rng.uniform(20, 2200 if deep else 1000)
                theta = rng.uniform(-25, 25) if deep else rng.uniform(-72, 72)
            rad = math.radians(theta)
            dx, dy = r * math.sin(rad), r * math.cos(rad)
        if abs(dx) > court.half_width_mm - 200 or dy < -(court.baseline_mm - 250):
            continue
        r = math.hypot(dx, dy)
        margin = r - court.boundary_mm(dx, dy)
        want_three = zone in ("corner3", "above3")
        if (margin >= LINE_MARGIN_MM) if want_three else (margin <= -LINE_MARGIN_MM):
            return dx, dy
    raise RuntimeError(f"could not place a {zone} shot")  # pragma: no cover


# -- periods ----------------------------------------------------------------------------------


@dataclass
class _PeriodPlan:
    code: str
    number: int
    length_s: int
    attempts: list[_Attempt]
    ft_trips: list[Side]
    timeouts: int
    second_half: bool


def _build_period(
    seed: int,
    game: _GameContext,
    plan: _PeriodPlan,
    start_s: float,
    first_index: int,
    tiebreak: Side | None,
) -> tuple[SimPeriod, list[SimShot], list[SimFreeThrow]]:
    """Place one period's attempts, free-throw trips and timeouts on its clock."""
    rng = _rng(seed, plan.code)
    session_id = _uuid_like(rng)
    events: list[tuple[str, Any]] = (
        [("shot", a) for a in plan.attempts]
        + [("ft", side) for side in plan.ft_trips]
        + [("timeout", None)] * plan.timeouts
    )
    rng.shuffle(events)
    # Distinct whole-second clock times, at least `gap` apart, leaving the first few seconds
    # (the tip) and the last ones (room for a tie-breaking free throw) empty.
    k = len(events)
    usable = plan.length_s - 10
    gap = max(1, min(4, usable // max(1, 2 * k)))
    room = usable - gap * max(0, k - 1)
    picks = sorted(rng.sample(range(room), k)) if k else []
    times = [5 + p + gap * i for i, p in enumerate(picks)]

    pauses: list[tuple[float, float]] = []
    pending: list[tuple[str, float, Any]] = []  # (kind, clock time, payload)
    for (kind, payload), c in zip(events, times, strict=True):
        if kind == "ft":
            pauses.append((c, _FT_TRIP_PAUSE_S))
        elif kind == "timeout":
            pauses.append((c, _TIMEOUT_PAUSE_S))
        elif payload.made and rng.random() < 0.05:
            pauses.append((c, _AND_ONE_PAUSE_S))
            kind = "and1"
        pending.append((kind, c, payload))
    if tiebreak is not None:
        pauses.append((plan.length_s - 2, _TIEBREAK_PAUSE_S))
        pending.append(("tiebreak", plan.length_s - 2, tiebreak))
    period = SimPeriod(
        plan.code, plan.number, session_id, plan.length_s, start_s, tuple(sorted(pauses))
    )

    shots: list[SimShot] = []
    fts: list[SimFreeThrow] = []
    for kind, clock_s, payload in pending:
        at = period.offset_of(clock_s)
        if kind in ("shot", "and1"):
            shot = _make_shot(
                rng, game, payload, period, clock_s, at, first_index + len(shots), plan.second_half
            )
            shots.append(shot)
            if kind == "and1":
                fts.append(
                    SimFreeThrow(
                        at + 10, plan.code, payload.side, rng.random() < game.ft_pct[payload.side]
                    )
                )
        elif kind == "ft":
            for delay in (8.0, 18.0):
                fts.append(
                    SimFreeThrow(
                        at + delay, plan.code, payload, rng.random() < game.ft_pct[payload]
                    )
                )
        elif kind == "tiebreak":
            fts.append(SimFreeThrow(at + 8, plan.code, payload, True))
    return period, shots, fts


@dataclass(frozen=True, slots=True)
class _GameContext:
    court: CourtRules
    teams: Mapping[str, SimTeam]
    roster: Mapping[str, SimPlayer]
    by_side: Mapping[str, tuple[SimPlayer, ...]]
    ft_pct: Mapping[str, float]
    gid: str
    fid: str
    hoops: Mapping[int, tuple[int, int, str]]  # end (+1/-1) -> (hx, hy, hid)


def _make_shot(
    rng: random.Random,
    game: _GameContext,
    attempt: _Attempt,
    period: SimPeriod,
    clock_s: float,
    offset_s: float,
    index: int,
    second_half: bool,
) -> SimShot:
    """One ShotTracker shot record, every field of the seed's present and consistent."""
    court = game.court
    zone_weights = _ZONE_GIVEN_MADE[(attempt.three, attempt.made)]
    zone = rng.choices(list(zone_weights), weights=list(zone_weights.values()))[0]
    dunk = zone == "rim" and rng.random() < (0.12 if attempt.made else 0.02)
    dx, dy = _place(rng, court, zone, dunk)

    team_players = game.by_side[attempt.side]
    weights = [_USAGE[i] * _ROLE_ZONE_WEIGHT[p.role][zone] for i, p in enumerate(team_players)]
    shooter = rng.choices(team_players, weights=weights)[0]
    opponents = game.by_side["away" if attempt.side == "home" else "home"]

    # Home attacks the +y hoop in the first half, the -y hoop after half-time (and in OT).
    end = 1 if (attempt.side == "home") != second_half else -1
    hx, hy, hid = game.hoops[end]
    px = round(hx - end * dx)
    py = round(hy - end * dy)
    hsx, hsy = hx - px, hy - py
    distance_cm = math.hypot(hsx, hsy) / 10.0

    if zone == "rim":
        shot_type = "DUNK" if dunk else "LAYUP"
        drb = rng.choice((0, 1, 1, 2, 2, 3))
        pz = rng.randint(700, 950) if dunk else rng.randint(350, 700)
    else:
        fade = zone in ("short", "mid") and rng.random() < 0.12
        shot_type = "FADEAWAY" if fade else "JUMPSHOT"
        drb = 0 if rng.random() < (0.6 if attempt.three else 0.4) else rng.randint(1, 6)
        pz = rng.randint(150, 450) if attempt.three else rng.randint(200, 600)
    guarded = rng.random() < (0.75 if zone in ("rim", "short") else 0.55)
    attributes = ["OTD" if drb else "CAS", "GUARDED" if guarded else "UNGUARDED", shot_type]
    if attempt.made and shot_type in ("JUMPSHOT", "FADEAWAY") and rng.random() < 0.4:
        attributes.append("CLEAN")
    defenders: list[int] = []
    if guarded:
        defenders = [int(p.pid) for p in rng.sample(opponents[:8], 2 if zone == "rim" else 1)]
        if zone == "rim" and rng.random() < 0.5:
            defenders = defenders[:1]
    # The server's own zone map (server.core.zones), so every split and zone graphic agrees
    # with where the shot is drawn.
    z, az = zones.classify(dx / MM_PER_FT, dy / MM_PER_FT, attempt.three)

    record: dict[str, Any] = {
        "label": None,
        "t": 0,
        "pid": shooter.pid,
        "tid": game.teams[attempt.side].team_id,
        "sid": period.session_id,
        "sst": "GAME_ROUND",
        "gid": game.gid,
        "st": "MAKE" if attempt.made else "MISS",
        "is3": attempt.three,
        "pts": (3 if attempt.three else 2) if attempt.made else -1,
        "z": z,
        "az": az,
        "px": px,
        "py": py,
        "pz": pz,
        "hx": hx,
        "hy": hy,
        "hz": HOOP_Z_MM,
        "hsx": hsx,
        "hsy": hsy,
        "s": "RECORDED",
        "drb": drb,
        "dd": None,
        "fid": game.fid,
        "hid": hid,
        "gc": format_shot_clock(period.length_s - clock_s),
        "sc": None,
        "prd": period.code,
        "attributes": attributes,
        "players": [shooter.pid],
        "d": distance_cm,
        "shotDefenders": defenders,
    }
    first_pid: str | None = None
    corrected_at: float | None = None
    if rng.random() < _CORRECTION_RATE:
        others = [p for p in team_players[:8] if p.pid != shooter.pid]
        first_pid = rng.choice(others).pid
        corrected_at = offset_s + rng.uniform(15.0, 40.0)
    return SimShot(index, offset_s, period.code, attempt.side, record, first_pid, corrected_at)


# -- the game ---------------------------------------------------------------------------------


def simulate_game(
    seed: int,
    fmt: Format = "quarters",
    rules: Rules = "ncaa",
    *,
    period_minutes: int | None = None,
    overtime: bool = True,
    t0_ms: int = DEFAULT_T0_MS,
    pregame_s: float = PREGAME_S,
) -> SimGame:
    """A whole deterministic game for ``seed``.

    ``fmt`` quarters (10 min by default, NCAA-women/FIBA style) or halves (20 min);
    ``period_minutes`` overrides the length (attempt counts scale with it). A game tied after
    regulation goes to 5-minute overtimes (``OT1``, ``OT2``...; at most four, the last one
    decided by a free throw); with ``overtime=False`` a tie is broken by a free throw in the
    last seconds instead. ``t0_ms`` is the default wall-clock epoch of the shots' ``t``.
    """
    if fmt not in ("quarters", "halves"):
        raise ValueError(f"fmt must be 'quarters' or 'halves', not {fmt!r}")
    if rules not in COURTS:
        raise ValueError(f"rules must be one of {', '.join(COURTS)}, not {rules!r}")
    court = COURTS[rules]
    count = 4 if fmt == "quarters" else 2
    minutes = period_minutes or (10 if fmt == "quarters" else 20)
    if minutes <= 0:
        raise ValueError("period_minutes must be positive")
    prefix = "Q" if fmt == "quarters" else "H"

    home, away, roster = _make_teams_and_roster(seed)
    teams = {"home": home, "away": away}
    by_side: dict[str, tuple[SimPlayer, ...]] = {
        side: tuple(p for p in roster.values() if p.side == side) for side in SIDES
    }
    ids = _rng(seed, "ids")
    gid, fid = _uuid_like(ids), _uuid_like(ids)
    hoops: dict[int, tuple[int, int, str]] = {}
    for end in (1, -1):
        # A hoop's surveyed position is a few centimetres off nominal, as in the seed.
        hx = ids.randint(-45, 45)
        hy = end * round(court.hoop_y_mm + ids.randint(-40, 40))
        hoops[end] = (hx, hy, _uuid_like(ids))

    totals_rng = _rng(seed, "totals")
    team_plans = {
        side: _plan_team(totals_rng, side, minutes * count, overtime=False) for side in SIDES
    }
    ctx = _GameContext(
        court,
        teams,
        roster,
        by_side,
        {side: team_plans[side].ft_pct for side in SIDES},
        gid,
        fid,
        hoops,
    )
    split_rng = _rng(seed, "split")
    attempts_by_period: list[list[_Attempt]] = [[] for _ in range(count)]
    trips_by_period: list[list[Side]] = [[] for _ in range(count)]
    for side in SIDES:
        for i, bucket in enumerate(_split(split_rng, team_plans[side].attempts, [1.0] * count)):
            attempts_by_period[i].extend(bucket)
        trips = [side] * team_plans[side].ft_trips
        for i, bucket in enumerate(_split(split_rng, trips, [1.0] * count)):
            trips_by_period[i].extend(bucket)
    plans = [
        _PeriodPlan(
            f"{prefix}{n + 1}",
            n + 1,
            minutes * 60,
            attempts_by_period[n],
            trips_by_period[n],
            split_rng.randint(1, 2),
            n >= count // 2,
        )
        for n in range(count)
    ]

    periods: list[SimPeriod] = []
    shots: list[SimShot] = []
    fts: list[SimFreeThrow] = []
    start = pregame_s
    regulation = len(plans)
    n = 0
    while n < len(plans):
        plan = plans[n]
        period, p_shots, p_fts = _build_period(seed, ctx, plan, start, len(shots), None)
        home_pts, away_pts = _tally(shots + p_shots, fts + p_fts)
        overtimes_played = n + 1 - regulation
        if home_pts == away_pts and overtimes_played >= 0:
            if overtime and overtimes_played < MAX_OVERTIMES:
                ot = overtimes_played + 1
                ot_rng = _rng(seed, f"plan-OT{ot}")
                ot_attempts: list[_Attempt] = []
                ot_trips: list[Side] = []
                for side in SIDES:
                    tp = _plan_team(ot_rng, side, OVERTIME_MINUTES, overtime=True)
                    ot_attempts.extend(tp.attempts)
                    ot_trips.extend([side] * tp.ft_trips)
                plans.append(
                    _PeriodPlan(
                        f"OT{ot}", n + 2, OVERTIME_MINUTES * 60, ot_attempts, ot_trips, 1, True
                    )
                )
            else:
                winner: Side = _rng(seed, f"tiebreak-{plan.code}").choice(SIDES)
                period, p_shots, p_fts = _build_period(seed, ctx, plan, start, len(shots), winner)
        periods.append(period)
        shots.extend(p_shots)
        fts.extend(p_fts)
        start = period.end_s + _break_after(fmt, plan.number, count)
        n += 1

    fts.sort(key=lambda f: f.offset_s)
    shot_tuple = tuple(shots)
    return SimGame(
        seed=seed,
        fmt=fmt,
        rules=rules,
        court=court,
        home=home,
        away=away,
        roster=roster,
        periods=tuple(periods),
        shots=shot_tuple,
        free_throws=tuple(fts),
        pregame_s=pregame_s,
        t0_ms=t0_ms,
        _shot_offsets=tuple(s.offset_s for s in shot_tuple),
    )


def _tally(shots: Sequence[SimShot], fts: Sequence[SimFreeThrow]) -> tuple[int, int]:
    totals = {"home": 0, "away": 0}
    for s in shots:
        totals[s.side] += s.points
    for f in fts:
        totals[f.side] += f.points
    return totals["home"], totals["away"]


def _break_after(fmt: Format, number: int, count: int) -> float:
    """Break after period ``number``: half-time is longer; every overtime follows a short one."""
    if number >= count:
        return OVERTIME_BREAK_S
    if fmt == "halves" or number == count // 2:
        return HALFTIME_S
    return QUARTER_BREAK_S


__all__ = [
    "COURTS",
    "DEFAULT_T0_MS",
    "CourtRules",
    "Format",
    "Rules",
    "SimFreeThrow",
    "SimGame",
    "SimPeriod",
    "SimPlayer",
    "SimShot",
    "SimTeam",
    "format_game_clock",
    "simulate_game",
]
