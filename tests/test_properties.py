"""Property tests of the detector: random games with corrections and faults keep the invariants.

A game is a random script of upstream changes (shots appearing, corrected, re-credited, removed,
coming back, duplicated, turning non-RECORDED; scores moving up and down; period, status and
clock changing) interleaved with faults (failed polls, unparsable bodies, malformed records,
unusable gameTotals) and operator events. After every step and at the end:

* the seq over every event emitted is exactly 1..N, and ``state.seq`` is N;
* no shot key ever gets a second ``made_three``;
* after a poll without unreadable records, the present shots are exactly the counting records;
* nothing raises;
* and what each event says agrees with SPEC's rules, checked against a small model of the game
  (score_update's team / leader / leadChange / correction, stale marking, feed_status only on
  a health transition, made_three only for a made three).
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.core import events as ev
from server.core.events import Event
from server.core.shots import Payload, ShotParser, parse_payload
from server.core.tracker import GameState, PollContext, append, detect, feed_status
from server.errors import PayloadError
from tests.payloads import AWAY_ID, HOME_ID, T0, doc, rec

TIMES = [T0 + dt for dt in (0, 1_000, 2_000, 25_000, 26_000, 60_000)]
PIDS = ["P1", "P2", "P3", "P4"]
MALFORM = [("pid", None), ("st", "GOOD"), ("is3", "yes"), ("t", "soon")]
FEED_CODES = ["timeout", "upstream_error", "forbidden", "unauthorized", "rate_limited"]

idx = st.integers(min_value=0, max_value=50)
ADD = st.tuples(
    st.just("add"),
    st.sampled_from(TIMES),
    st.sampled_from(PIDS),
    # Made threes are what the once-only rule is about: draw them often.
    st.sampled_from([(True, True), (True, True), (True, False), (False, True), (False, False)]),
)
REMOVE = st.tuples(st.just("remove"), idx)
RESTORE = st.tuples(st.just("restore"), idx)
RECREDIT = st.tuples(st.just("recredit"), idx, st.sampled_from(PIDS))
FLIP = st.tuples(st.just("flip"), idx, st.sampled_from(["made", "three", "tid", "gc"]))
SCORE = st.tuples(st.just("score"), st.integers(-3, 3), st.integers(-3, 3))
OPS = st.one_of(
    # Listed twice: drawn about twice as often.
    ADD,
    ADD,
    REMOVE,
    REMOVE,
    RESTORE,
    RESTORE,
    RECREDIT,
    FLIP,
    SCORE,
    SCORE,
    st.tuples(st.just("uncount"), idx),
    st.tuples(st.just("dup"), idx),
    st.tuples(st.just("malformed"), idx, st.sampled_from(MALFORM)),
    st.tuples(st.just("junk_record"), st.sampled_from(["x", None, 5, {"pid": "P1"}])),
    st.tuples(st.just("period"), st.sampled_from(["Q1", "Q2", "Q3", "Q4", "H2", "OT", "OT2"])),
    st.tuples(st.just("status"), st.sampled_from(["ACTIVE", "FINAL", "COMPLETE", "WEIRD"])),
    st.tuples(st.just("clock"), st.sampled_from(["10:00", "09:59", "05:00", "00:00"])),
    st.tuples(st.just("bad_totals"), st.sampled_from([None, [], "x", {}, {"status": "FINAL"}])),
    st.tuples(st.just("fail"), st.sampled_from(FEED_CODES)),
    st.tuples(st.just("bad_body"), st.sampled_from([b"", b'{"shots": [', b"[]", b"<html>"])),
    st.tuples(st.just("operator")),
    st.tuples(st.just("quiet")),
)


@dataclass
class Upstream:
    """What ShotTracker currently says about the game (the model the script edits)."""

    records: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    home: int = 0
    away: int = 0
    period: str = "Q1"
    status: str = "ACTIVE"
    clock: str = "10:00"

    def body(self) -> dict[str, Any]:
        return doc(
            copy.deepcopy(self.records),
            home=self.home,
            away=self.away,
            period=self.period,
            status=self.status,
            clock=self.clock,
        )


def _leader(home: int, away: int) -> str:
    return "home" if home > away else "away" if away > home else "tie"


@dataclass
class Run:
    """The shell around the detector, as the poller drives it, with a model to check events."""

    state: GameState = field(default_factory=lambda: GameState("EVT"))
    parser: ShotParser = field(default_factory=ShotParser)
    log: list[Event] = field(default_factory=list)
    now: int = T0
    failing: bool = False
    feed_code: str | None = None
    score: tuple[int, int] | None = None
    last_leader: str | None = None
    newest_t: int | None = None

    def take(self, events: list[Event]) -> None:
        self.log.extend(events)
        assert [e.seq for e in self.log] == list(range(1, len(self.log) + 1))
        assert self.state.seq == len(self.log)
        assert all(e.game == "EVT" and e.at == self.now for e in events)

    def feed(self, code: str | None) -> None:
        """Report poll health; feed_status must come exactly on a transition."""
        ok = code is None
        transition = (ok and self.failing) or (not ok and code != self.feed_code)
        self.state, event = feed_status(self.state, ok, code, None if ok else code, self.now)
        assert (event is not None) is transition
        if event is not None:
            assert event.data["ok"] is ok
            assert event.data["error"] == code
        self.failing, self.feed_code = not ok, code
        self.take([event] if event is not None else [])

    def fail(self, code: str) -> None:
        self.now += 1000
        self.feed(code)

    def poll(self, body: dict[str, Any] | bytes) -> list[Event] | None:
        self.now += 1000
        try:
            raw = parse_payload(body) if isinstance(body, bytes) else self.parser.parse(body)
        except PayloadError:
            self.feed("bad_payload")
            return None
        after_outage = self.failing
        if self.failing:
            self.feed(None)
        before = self.state
        det = detect(before, raw, PollContext(now_ms=self.now, after_outage=after_outage))
        self.state = det.state
        self.take(det.events)
        self._check(before, raw, det.events, after_outage)
        return det.events

    def _check(
        self, before: GameState, raw: Payload, events: list[Event], after_outage: bool
    ) -> None:
        """What the events say agrees with SPEC's rules, as a model of the game sees them."""
        counting = [s for s in raw.shots if s.counting]
        if counting:
            newest = max(s.t for s in counting)
            self.newest_t = newest if self.newest_t is None else max(self.newest_t, newest)
        if not raw.skipped:
            present = {(k.shot.t, k.shot.pid) for k in self.state.shots.values() if k.present}
            assert present == {(s.t, s.pid) for s in counting}
        if after_outage:
            assert all(e.stale for e in events)
        # Scores: the model knows them from every usable gameTotals.
        score = self.score
        if raw.totals is not None:
            home = raw.totals.home.score
            away = raw.totals.away.score
            if score is not None:
                home = score[0] if home is None else home
                away = score[1] if away is None else away
            if home is not None and away is not None:
                score = (home, away)
        updates = [e.data for e in events if e.type == ev.SCORE_UPDATE]
        if not before.baseline:
            assert events == []
            self.score = score
            self.last_leader = None
            if score is not None and _leader(*score) != "tie":
                self.last_leader = _leader(*score)
            return
        assert self.score is not None  # the baseline poll always had usable totals
        assert score is not None
        if score == self.score:
            assert updates == []
        else:
            [data] = updates
            (h0, a0), (h1, a1) = self.score, score
            assert (data["home"], data["away"]) == (h1, a1)
            assert data["prev"] == {"home": h0, "away": a0}
            assert data["correction"] is (h1 < h0 or a1 < a0)
            expected_team = None
            if not data["correction"]:
                if h1 > h0 and a1 == a0:
                    expected_team = "home"
                elif a1 > a0 and h1 == h0:
                    expected_team = "away"
            assert data["team"] == expected_team
            leader = _leader(h1, a1)
            assert data["leader"] == leader
            assert data["leadChange"] is (
                leader != "tie" and self.last_leader is not None and leader != self.last_leader
            )
            if leader != "tie":
                self.last_leader = leader
        self.score = score
        for i, e in enumerate(events):
            if e.type in (ev.SHOT, ev.MADE_THREE):
                assert self.newest_t is not None
                old = self.newest_t - e.data["t"] > 20_000
                assert e.stale is (after_outage or old)
            if e.type == ev.MADE_THREE:
                assert (e.data["made"], e.data["three"], e.data["points"]) == (True, True, 3)
                assert events[i - 1].type == ev.SHOT
                assert events[i - 1].data == e.data
            elif e.type == ev.SHOT_UPDATE:
                assert e.data["before"] != e.data["after"]
                assert e.data["before"]["key"] == e.data["after"]["key"] == e.data["key"]
                assert before.shots[e.data["key"]].present
            elif e.type == ev.SHOT_REMOVED:
                assert before.shots[e.data["key"]].present
                assert not self.state.shots[e.data["key"]].present
            elif e.type == ev.SCORING_RUN:
                assert events[i - 1].type == ev.SCORE_UPDATE
                assert events[i - 1].data["team"] == e.data["team"]
                assert e.data["run"][0] >= 8
            elif e.type == ev.HOT_HAND:
                assert e.data["streak"] >= 3


def _pick(items: list[Any], i: int) -> Any:
    return items[i % len(items)] if items else None


def _apply(up: Upstream, op: tuple[Any, ...]) -> dict[str, Any] | bytes | tuple[str, ...]:
    """Edit the upstream model by one op; return what the next poll sees (a body or a fault)."""
    kind = op[0]
    if kind in ("fail", "operator"):
        return op
    if kind == "bad_body":
        return op[1]
    body = up.body()
    r = _pick(up.records, op[1]) if kind in ("flip", "recredit", "uncount") else None
    if kind == "add":
        _, t, pid, (made, three) = op
        tid = HOME_ID if pid in ("P1", "P2") else AWAY_ID
        up.records.append(rec(t, pid, tid=tid, made=made, three=three))
    elif kind == "flip" and r is not None:
        name = op[2]
        if name == "made":
            r["st"] = "MISS" if r["st"] == "MAKE" else "MAKE"
        elif name == "three":
            r["is3"] = not r["is3"]
        elif name == "tid":
            r["tid"] = AWAY_ID if r["tid"] == HOME_ID else HOME_ID
        else:
            r["gc"] = None if r["gc"] else "04:44"
    elif kind == "recredit" and r is not None:
        r["pid"] = op[2]
    elif kind == "uncount" and r is not None:
        r["s"] = "DELETED" if r["s"] == "RECORDED" else "RECORDED"
    elif kind == "remove" and up.records:
        up.removed.append(up.records.pop(op[1] % len(up.records)))
    elif kind == "restore" and up.removed:
        up.records.append(up.removed.pop(op[1] % len(up.removed)))
    elif kind == "dup" and body["shots"]:
        body["shots"].append(copy.deepcopy(_pick(body["shots"], op[1])))
        return body  # this poll only
    elif kind == "malformed" and body["shots"]:
        name, value = op[2]
        _pick(body["shots"], op[1])[name] = value
        return body  # this poll only
    elif kind == "junk_record":
        body["shots"].append(op[1])
        return body
    elif kind == "bad_totals":
        body["gameTotals"] = op[1]
        return body
    elif kind == "score":
        up.home = max(0, up.home + op[1])
        up.away = max(0, up.away + op[2])
    elif kind == "period":
        up.period = op[1]
    elif kind == "status":
        up.status = op[1]
    elif kind == "clock":
        up.clock = op[1]
    return up.body()


def _step(up: Upstream, run: Run, op: tuple[Any, ...]) -> None:
    seen = _apply(up, op)
    if isinstance(seen, tuple):
        if seen[0] == "fail":
            run.fail(seen[1])
        else:
            run.now += 1
            run.state, event = append(run.state, ev.GRAPHIC, {"action": "clear"}, run.now)
            run.take([event])
    else:
        run.poll(seen)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    initial=st.lists(
        st.tuples(st.sampled_from(TIMES), st.sampled_from(PIDS), st.booleans(), st.booleans()),
        max_size=4,
    ),
    ops=st.lists(OPS, max_size=40),
)
def test_random_games_keep_the_invariants(
    initial: list[tuple[int, str, bool, bool]], ops: list[tuple[Any, ...]]
) -> None:
    """Any script of changes and faults: gapless seq, one made_three per key, no exception."""
    up = Upstream(records=[rec(t, pid, made=m, three=th) for t, pid, m, th in initial])
    run = Run()
    assert run.poll(up.body()) == []  # the baseline is silent
    for op in ops:
        _step(up, run, op)
    assert [e.seq for e in run.log] == list(range(1, len(run.log) + 1))
    assert run.state.seq == (run.log[-1].seq if run.log else 0)
    threes = Counter(e.data["key"] for e in run.log if e.type == ev.MADE_THREE)
    assert all(n == 1 for n in threes.values()), threes
    # Every made_three names a shot the state knows, and that shot remembers it fired.
    for key in threes:
        assert run.state.shots[key].three_fired


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(OPS, max_size=25))
def test_memo_parser_agrees_with_fresh_parse(ops: list[tuple[Any, ...]]) -> None:
    """The memoised parser gives the same Payload as a fresh parse of every body in a game."""
    up = Upstream()
    parser = ShotParser()
    for op in ops:
        body = _apply(up, op)
        if isinstance(body, dict):
            assert parser.parse(body) == parse_payload(body)
