"""ShotTracker's shots payload -> typed, validated values.

Pure: bytes or decoded JSON in, frozen dataclasses out, no I/O. One malformed shot record is
reported in ``Payload.skipped`` and the rest of the payload still counts; only a body that is
not the documented object at all raises :class:`PayloadError`.

ShotTracker gives a shot no id: ``sid`` is the *session* (period) id, so a shot is identified
by its time ``t`` (see ``tracker``). Positions are millimetres in a court frame whose origin is
centre court; everything downstream wants feet relative to the hoop, computed here once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import orjson

from server.errors import PayloadError

MM_PER_FT = 304.8
CM_PER_FT = 30.48
COUNTING_STATE = "RECORDED"


@dataclass(frozen=True, slots=True)
class Shot:
    """One upstream shot record, validated. ``counting`` is False for any state but RECORDED."""

    t: int
    pid: str
    tid: str | None
    sid: str | None
    period: str | None
    made: bool
    three: bool
    counting: bool
    record_state: str | None
    px: float | None
    py: float | None
    hx: float | None
    hy: float | None
    distance_cm: float | None
    gc: str | None
    attributes: tuple[str, ...]
    zone: int | None
    adv_zone: int | None
    dribbles: int | None

    @property
    def points(self) -> int:
        """0 on a miss, 2 or 3 on a make (free throws are never in this feed)."""
        if not self.made:
            return 0
        return 3 if self.three else 2

    def hoop_relative_ft(self) -> tuple[float, float] | None:
        """(x, y) in feet with the hoop at the origin and +y pointing out toward half court.

        The court frame is centred at mid-court, so a hoop at positive ``hy`` faces -y: rotating
        by 180 degrees for that end keeps both ends on one half-court chart without mirroring.
        """
        if self.px is None or self.py is None or self.hx is None or self.hy is None:
            return None
        dx = self.px - self.hx
        dy = self.py - self.hy
        if self.hy > 0:
            dx, dy = -dx, -dy
        return round(dx / MM_PER_FT, 2), round(dy / MM_PER_FT, 2)

    def distance_ft(self) -> float | None:
        """Shot distance in feet: upstream ``d`` (cm) when given, else from the positions."""
        if self.distance_cm is not None:
            return round(self.distance_cm / CM_PER_FT, 1)
        rel = self.hoop_relative_ft()
        if rel is None:
            return None
        return round(math.hypot(*rel), 1)


@dataclass(frozen=True, slots=True)
class TeamScore:
    """One side of ``gameTotals``: the upstream team id and score, either possibly unknown."""

    team_id: str | None
    score: int | None


@dataclass(frozen=True, slots=True)
class PeriodTotal:
    """Points per side in one period; ``session_id`` equals the shots' ``sid`` of that period."""

    period: str | None
    session_id: str | None
    home: int | None
    away: int | None

    def to_data(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "sessionId": self.session_id,
            "home": self.home,
            "away": self.away,
        }


@dataclass(frozen=True, slots=True)
class GameTotals:
    """``gameTotals``: the only source of scores (free throws are not in the shots list)."""

    home: TeamScore
    away: TeamScore
    period: str | None
    clock: str | None
    status: str | None
    period_totals: tuple[PeriodTotal, ...]


@dataclass(frozen=True, slots=True)
class Skipped:
    """A shot record that could not be used, with its ``t`` when that much was readable."""

    t: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class Payload:
    """A whole parsed response: every usable shot, the totals, and what was skipped and why."""

    shots: tuple[Shot, ...]
    totals: GameTotals | None
    skipped: tuple[Skipped, ...] = ()
    totals_problem: str | None = None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _str(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def parse_shot(raw: Any) -> Shot:
    """Validate one record. Raises PayloadError naming the first field that is unusable."""
    if not isinstance(raw, dict):
        raise PayloadError(f"shot record is {type(raw).__name__}, not an object")
    t = _int(raw.get("t"))
    if t is None:
        raise PayloadError(f"shot field 't' is {raw.get('t')!r}, not an integer time")
    pid = _str(raw.get("pid"))
    if pid is None:
        raise PayloadError(f"shot t={t}: field 'pid' is {raw.get('pid')!r}, not a player id")
    st = raw.get("st")
    if st not in ("MAKE", "MISS"):
        raise PayloadError(f"shot t={t}: field 'st' is {st!r}, not MAKE or MISS")
    is3 = raw.get("is3")
    if not isinstance(is3, bool):
        raise PayloadError(f"shot t={t}: field 'is3' is {is3!r}, not a boolean")
    state = raw.get("s")
    attributes = raw.get("attributes")
    attrs: tuple[str, ...] = (
        tuple(a for a in attributes if isinstance(a, str)) if isinstance(attributes, list) else ()
    )
    return Shot(
        t=t,
        pid=pid,
        tid=_str(raw.get("tid")),
        sid=_str(raw.get("sid")),
        period=_str(raw.get("prd")),
        made=st == "MAKE",
        three=is3,
        counting=state == COUNTING_STATE,
        record_state=state if isinstance(state, str) else None,
        px=_num(raw.get("px")),
        py=_num(raw.get("py")),
        hx=_num(raw.get("hx")),
        hy=_num(raw.get("hy")),
        distance_cm=_num(raw.get("d")),
        gc=_str(raw.get("gc")),
        attributes=attrs,
        zone=_int(raw.get("z")),
        adv_zone=_int(raw.get("az")),
        dribbles=_int(raw.get("drb")),
    )


def _team_score(raw: Any) -> TeamScore:
    if not isinstance(raw, dict):
        return TeamScore(None, None)
    return TeamScore(_str(raw.get("teamId")), _int(raw.get("value")))


def parse_totals(raw: Any) -> GameTotals:
    """Validate ``gameTotals``. A missing or mistyped field reads as None (unknown), never 0."""
    if not isinstance(raw, dict):
        raise PayloadError(f"'gameTotals' is {type(raw).__name__}, not an object")
    periods: list[PeriodTotal] = []
    raw_periods = raw.get("periodTotals")
    if isinstance(raw_periods, list):
        for item in raw_periods:
            if not isinstance(item, dict):
                continue
            periods.append(
                PeriodTotal(
                    period=_str(item.get("period")),
                    session_id=_str(item.get("sessionId")),
                    home=_team_score(item.get("homeTeamScore")).score,
                    away=_team_score(item.get("awayTeamScore")).score,
                )
            )
    return GameTotals(
        home=_team_score(raw.get("homeTeamScore")),
        away=_team_score(raw.get("awayTeamScore")),
        period=_str(raw.get("period")),
        clock=_str(raw.get("gameClock")),
        status=_str(raw.get("status")),
        period_totals=tuple(periods),
    )


def decode_body(body: bytes) -> dict[str, Any]:
    """JSON bytes -> the top-level object, or PayloadError (truncated bodies land here)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(f"body is not JSON ({exc}); {len(body)} bytes") from exc
    if not isinstance(doc, dict):
        raise PayloadError(f"body is a JSON {type(doc).__name__}, not an object")
    return doc


class ShotParser:
    """Parses payloads, reusing the Shot of any record identical to the previous poll's.

    Every poll repeats the whole game; comparing a record dict with the one seen last time is
    several times cheaper than validating it again, which keeps a 400-shot poll well under a
    millisecond. The memo is plain data, so this stays pure and deterministic.
    """

    def __init__(self) -> None:
        self._memo: dict[int, tuple[dict[str, Any], Shot]] = {}
        self._last_body: bytes | None = None
        self._last_payload: Payload | None = None
        self._prev_raw: list[Any] = []
        self._prev_shots: tuple[Shot, ...] = ()
        self._prev_skipped: tuple[Skipped, ...] = ()

    @property
    def last_payload(self) -> Payload | None:
        """The payload of the last body parsed (what a 304 Not Modified means again)."""
        return self._last_payload

    def parse_body(self, body: bytes) -> Payload:
        """Decode and parse a response body; a body identical to the last one is not decoded.

        Most polls of a game bring exactly the bytes of the poll before (nothing happened in
        that second); a bytes comparison is a memcmp, decoding 200 KiB of JSON is a millisecond.
        """
        if self._last_payload is not None and body == self._last_body:
            return self._last_payload
        payload = self.parse(decode_body(body))
        self._last_body = bytes(body)
        self._last_payload = payload
        return payload

    def parse(self, doc: dict[str, Any]) -> Payload:
        raw_shots = doc.get("shots")
        if not isinstance(raw_shots, list):
            raise PayloadError(f"'shots' is {type(raw_shots).__name__}, not a list")
        memo = self._memo
        new_memo: dict[int, tuple[dict[str, Any], Shot]] = {}
        shots: list[Shot] = []
        skipped: list[Skipped] = []
        rest: list[Any] = raw_shots
        # The usual poll is the last one with shots appended: one list comparison (in C) proves
        # the old records unchanged, and only the new tail is looked at record by record.
        prev = self._prev_raw
        n = len(prev)
        if n and len(raw_shots) >= n and raw_shots[:n] == prev:
            shots.extend(self._prev_shots)
            skipped.extend(self._prev_skipped)
            new_memo.update(memo)
            rest = raw_shots[n:]
        for raw in rest:
            if isinstance(raw, dict):
                t = raw.get("t")
                cached = memo.get(t) if isinstance(t, int) else None
                if cached is not None and cached[0] == raw:
                    shots.append(cached[1])
                    new_memo[cached[1].t] = cached
                    continue
            try:
                shot = parse_shot(raw)
            except PayloadError as exc:
                t_raw = raw.get("t") if isinstance(raw, dict) else None
                skipped.append(Skipped(_int(t_raw), str(exc)))
                continue
            shots.append(shot)
            if shot.t not in new_memo:
                new_memo[shot.t] = (raw, shot)
        self._memo = new_memo
        self._prev_raw = raw_shots
        self._prev_shots = tuple(shots)
        self._prev_skipped = tuple(skipped)
        totals: GameTotals | None = None
        problem: str | None = None
        try:
            totals = parse_totals(doc.get("gameTotals"))
        except PayloadError as exc:
            problem = str(exc)
        return Payload(tuple(shots), totals, tuple(skipped), problem)


def parse_payload(body: bytes | dict[str, Any]) -> Payload:
    """One-off parse without the memo (tests, tools, the first poll)."""
    doc = decode_body(body) if isinstance(body, bytes | bytearray) else body
    return ShotParser().parse(doc)
