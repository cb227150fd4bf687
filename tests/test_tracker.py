"""server.core.tracker: scripted polls in, the exact broadcast events out.

Every scripted test starts from a baseline poll (0-0, Q1, 10:00, ACTIVE, no shots) so the events
that follow are exactly the ones the script causes, numbered from seq 1. The ``game`` fixture
also checks, after each test, that the whole log is numbered 1..N without a gap.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from server.core import events as ev
from server.core.events import Event
from server.core.roster import GameConfig, Player, TeamInfo
from server.core.shots import parse_payload
from server.core.tracker import (
    FeedHealth,
    GameState,
    KnownShot,
    PollContext,
    append,
    detect,
    feed_status,
    leader_of,
    shot_data,
)
from tests.payloads import AWAY_ID, HOME_ID, Game, brief, doc, period_total, rec

SEED_T = 1663870491879
SEED_SID = "587af773-3aa2-11ed-a78a-0242e9e2912e"
T = 1_000_000  # shot times used by the scripts (ms within the game)


@pytest.fixture
def game() -> Iterator[Game]:
    """A game past its silent baseline poll; afterwards its event log must be gapless."""
    g = Game()
    assert g.poll(doc()) == []
    yield g
    assert [e.seq for e in g.log] == list(range(1, len(g.log) + 1))
    assert g.state.seq == len(g.log)


def only(events: list[Event], type_: str) -> list[dict[str, Any]]:
    """The data of the events of one type."""
    return [e.data for e in events if e.type == type_]


# --- the seed example ------------------------------------------------------------------------


SEED_SHOT_DATA = {
    "key": str(SEED_T),
    "t": SEED_T,
    "sessionId": SEED_SID,
    "period": "Q1",
    "clock": "00:15:00",  # no gc on the record: the game clock of the poll that found it
    "team": None,  # tid 552 is neither gameTotals team (1, 2)
    "teamId": "552",
    "pid": "7269",
    "player": None,
    "made": False,
    "three": False,
    "points": 0,
    "distanceFt": 19.1,
    "x": -10.37,
    "y": 16.02,
    "attributes": ["OTD"],
    "zone": 8,
    "advancedZone": 12,
}


def test_seed_first_poll_is_a_silent_baseline(seed_bytes: bytes) -> None:
    """The seed on a never-seen game builds the state and emits nothing."""
    det = detect(GameState("EVT"), parse_payload(seed_bytes), PollContext(now_ms=5))
    assert det.events == []
    assert det.warnings == []
    st = det.state
    assert st.baseline is True
    assert st.seq == 0
    assert (st.home_score, st.away_score) == (11, 22)
    assert (st.home_team_id, st.away_team_id) == ("1", "2")
    assert (st.period, st.status, st.clock) == ("H2", "ACTIVE", "00:15:00")
    assert [p.period for p in st.period_totals] == ["H2", "H1"]
    [known] = st.shots.values()
    assert known.present is True
    assert known.three_fired is False
    assert shot_data(known, GameConfig(), st) == SEED_SHOT_DATA


def test_seed_polled_again_is_quiet(seed_bytes: bytes) -> None:
    """The same seed body on the next poll changes nothing and emits nothing."""
    g = Game()
    g.poll(seed_bytes)
    assert g.poll(seed_bytes) == []
    assert g.state.seq == 0


def test_seed_as_a_live_shot(game: Game, seed_bytes: bytes) -> None:
    """The seed arriving live: one shot with unknown team, and a two-sided score_update."""
    events = game.poll(seed_bytes)
    assert brief(events) == [
        (1, ev.PERIOD_CHANGE),
        (2, ev.SHOT),
        (3, ev.SCORE_UPDATE),
        (4, ev.CLOCK),
    ]
    period, shot, score, clock = events
    assert period.data["to"] == "H2"
    assert period.data["label"] == "2nd Half"
    assert shot.data == SEED_SHOT_DATA
    assert score.data == {
        "home": 11,
        "away": 22,
        "prev": {"home": 0, "away": 0},
        "team": None,  # both sides moved
        "leader": "away",
        "leadChange": False,
        "correction": False,
    }
    assert clock.data["clock"] == "00:15:00"


# --- malformed input -------------------------------------------------------------------------


MISSING = object()
MALFORMATIONS: list[tuple[str, Any]] = [
    ("pid", None),
    ("pid", ["P1"]),
    ("pid", MISSING),
    ("st", "GOOD"),
    ("st", None),
    ("st", MISSING),
    ("is3", "yes"),
    ("is3", None),
    ("is3", 1),
    ("is3", MISSING),
]


@pytest.fixture
def two_shots(game: Game) -> Game:
    """A game with two known made twos, P1 at T and P2 at T+1000."""
    events = game.poll(doc([rec(T, "P1"), rec(T + 1000, "P2")], home=4))
    assert brief(events) == [(1, ev.SHOT), (2, ev.SHOT), (3, ev.SCORE_UPDATE)]
    return game


@pytest.mark.parametrize(("field", "value"), MALFORMATIONS)
def test_malformed_record_keeps_its_known_shot(two_shots: Game, field: str, value: Any) -> None:
    """A known shot whose record turns malformed is kept (no shot_removed), with a warning."""
    bad = rec(T, "P1")
    if value is MISSING:
        del bad[field]
    else:
        bad[field] = value
    assert two_shots.poll(doc([bad, rec(T + 1000, "P2")], home=4)) == []
    assert two_shots.last is not None
    assert any("skipped shot record" in w for w in two_shots.last.warnings)
    assert all(k.present for k in two_shots.state.shots.values())
    # The record heals: nothing to say, the shot never went away.
    assert two_shots.poll(doc([rec(T, "P1"), rec(T + 1000, "P2")], home=4)) == []


@pytest.mark.parametrize(
    "bad", [{"t": "soon", "pid": "P1"}, {"pid": "P1"}, "junk", None, 17, [T, "P1"]]
)
def test_unidentifiable_record_removes_nothing(two_shots: Game, bad: Any) -> None:
    """A record whose t is unreadable could be any shot: no known shot is removed that poll."""
    assert two_shots.poll(doc([bad], home=4)) == []
    assert all(k.present for k in two_shots.state.shots.values())


def test_malformed_record_only_protects_its_own_t(two_shots: Game) -> None:
    """A readable t protects only that shot: another shot really missing is still removed."""
    bad = rec(T, "P1", st=None)
    events = two_shots.poll(doc([bad], home=4))
    assert brief(events) == [(4, ev.SHOT_REMOVED)]
    assert events[0].data["key"] == str(T + 1000)


def test_malformed_new_record_is_not_a_shot(game: Game) -> None:
    """A malformed record never seen before emits nothing, and the good ones still count."""
    events = game.poll(doc([rec(T, "P1", three=True), rec(T + 1, "P2", is3="no")], home=3))
    assert brief(events) == [(1, ev.SHOT), (2, ev.MADE_THREE), (3, ev.SCORE_UPDATE)]


def test_unreadable_record_never_leads_to_a_second_splash(game: Game) -> None:
    """A's three unreadable while C shoots at the same t: no re-credit A->C, no second splash."""
    game.poll(doc([rec(T, "A", three=True)], home=3))
    events = game.poll(doc([rec(T, "A", three=True, st=None), rec(T, "C", made=False)], home=3))
    assert events == []  # C is held back: it may be A's record re-credited, or a new shot
    assert game.last is not None
    assert any("held back" in w for w in game.last.warnings)
    events = game.poll(doc([rec(T, "A", three=True), rec(T, "C", made=False)], home=3))
    assert brief(events) == [(4, ev.SHOT)]
    assert (events[0].data["key"], events[0].data["pid"]) == (f"{T}-C", "C")
    assert len(only(game.log, ev.MADE_THREE)) == 1


def test_recredit_waits_for_a_readable_payload(game: Game) -> None:
    """A re-credit seen next to an unreadable record goes out once the payload reads cleanly."""
    game.poll(doc([rec(T, "A", three=True)], home=3))
    assert game.poll(doc([rec(T, "C", three=True), "junk"], home=3)) == []
    events = game.poll(doc([rec(T, "C", three=True)], home=3))
    assert brief(events) == [(4, ev.SHOT_UPDATE)]
    assert (events[0].data["before"]["pid"], events[0].data["after"]["pid"]) == ("A", "C")


def test_unreadable_record_does_not_hold_unrelated_shots(game: Game) -> None:
    """A new shot at a t with no known shot is not held back by an unreadable record."""
    game.poll(doc([rec(T, "A")], home=2))
    events = game.poll(doc([rec(T, "A"), rec(T + 5, "B"), "junk"], home=4))
    assert [e.type for e in events] == [ev.SHOT, ev.SCORE_UPDATE]


@pytest.mark.parametrize(
    "body",
    [
        {"shots": []},
        {"shots": [], "gameTotals": None},
        {"shots": [], "gameTotals": []},
        {"shots": [], "gameTotals": "ACTIVE"},
        {"shots": [], "gameTotals": {}},
        doc(home=None, away=None),
        doc(home="12", away="9"),
        doc(home=True, away=False),
        doc(home=12.5, away=[9]),
    ],
)
def test_missing_scores_keep_the_previous_ones(game: Game, body: dict[str, Any]) -> None:
    """gameTotals missing, or scores missing / mistyped: the scores stay, no score_update."""
    game.poll(doc(home=10, away=8))
    before = game.state
    events = game.poll(body)
    assert only(events, ev.SCORE_UPDATE) == []
    assert (game.state.home_score, game.state.away_score) == (10, 8)
    assert (game.state.period, game.state.status, game.state.clock) == (
        before.period,
        before.status,
        before.clock,
    )
    # When the scores come back unchanged there is still nothing to say.
    assert only(game.poll(doc(home=10, away=8)), ev.SCORE_UPDATE) == []


def test_one_side_missing_other_side_scores(game: Game) -> None:
    """Home's score missing while away scores: away credited, home kept (never None)."""
    game.poll(doc(home=10, away=8))
    events = game.poll(doc(home=None, away=11))
    [data] = only(events, ev.SCORE_UPDATE)
    assert data["home"] == 10
    assert data["away"] == 11
    assert data["team"] == "away"


def test_gametotals_missing_is_warned(game: Game) -> None:
    """A payload without usable gameTotals says so in the warnings."""
    game.poll({"shots": []})
    assert game.last is not None
    assert any("gameTotals" in w for w in game.last.warnings)


# --- shots -----------------------------------------------------------------------------------


def test_new_made_three(game: Game) -> None:
    """A new made three: shot + made_three (same data) + score_update, seq 1, 2, 3."""
    events = game.poll(doc([rec(T, "P1", three=True, gc="07:41")], home=3))
    assert brief(events) == [(1, ev.SHOT), (2, ev.MADE_THREE), (3, ev.SCORE_UPDATE)]
    shot, three, score = (e.data for e in events)
    assert shot == three
    assert shot["key"] == str(T)
    assert shot["team"] == "home"  # tid "1" is gameTotals' home teamId
    assert shot["pid"] == "P1"
    assert (shot["made"], shot["three"], shot["points"]) == (True, True, 3)
    assert shot["clock"] == "07:41"  # the shot's own gc wins over the game clock
    assert score == {
        "home": 3,
        "away": 0,
        "prev": {"home": 0, "away": 0},
        "team": "home",
        "leader": "home",
        "leadChange": False,
        "correction": False,
    }
    assert not any(e.stale for e in events)


def test_new_missed_shot(game: Game) -> None:
    """A missed three is a shot but no made_three."""
    events = game.poll(doc([rec(T, "P1", made=False, three=True)]))
    assert brief(events) == [(1, ev.SHOT)]
    assert events[0].data["points"] == 0


def test_make_to_miss_correction(game: Game) -> None:
    """MAKE -> MISS at the same t: shot_update with before/after, and a correcting score."""
    game.poll(doc([rec(T, "P1")], home=2))
    events = game.poll(doc([rec(T, "P1", made=False)], home=0))
    assert brief(events) == [(3, ev.SHOT_UPDATE), (4, ev.SCORE_UPDATE)]
    upd = events[0].data
    assert upd["key"] == str(T)
    assert (upd["before"]["made"], upd["before"]["points"]) == (True, 2)
    assert (upd["after"]["made"], upd["after"]["points"]) == (False, 0)
    assert upd["before"]["key"] == upd["after"]["key"] == str(T)
    assert events[1].data["correction"] is True
    assert events[1].data["team"] is None


def test_miss_to_made_three_is_an_update_not_a_splash(game: Game) -> None:
    """A miss corrected to a made three is a shot_update; it never fires made_three late."""
    game.poll(doc([rec(T, "P1", made=False, three=True)]))
    events = game.poll(doc([rec(T, "P1", made=True, three=True)], home=3))
    assert brief(events) == [(2, ev.SHOT_UPDATE), (3, ev.SCORE_UPDATE)]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"three": True}, "three"),
        ({"tid": AWAY_ID}, "teamId"),
        ({"px": 0, "py": 0}, "x"),
        ({"prd": "Q2"}, "period"),
        ({"attributes": ["DUNK"]}, "attributes"),
        ({"d": 30.48}, "distanceFt"),
    ],
)
def test_other_corrections_are_updates(game: Game, change: dict[str, Any], field: str) -> None:
    """An is3 flip, a new team, a moved shot... each is one shot_update of the same key."""
    game.poll(doc([rec(T, "P1", made=False)]))
    events = game.poll(doc([rec(T, "P1", made=False, **change)]))
    assert brief(events) == [(2, ev.SHOT_UPDATE)]
    upd = events[0].data
    assert upd["key"] == str(T)
    assert upd["before"][field] != upd["after"][field]


def test_recredited_three_never_splashes_twice(game: Game) -> None:
    """A three re-credited to another player (same t, new pid) is a shot_update only."""
    game.poll(doc([rec(T, "P1", three=True)], home=3))
    events = game.poll(doc([rec(T, "P2", three=True)], home=3))
    assert brief(events) == [(4, ev.SHOT_UPDATE)]
    upd = events[0].data
    assert upd["key"] == str(T)
    assert (upd["before"]["pid"], upd["after"]["pid"]) == ("P1", "P2")
    # ... and back again, and to a third player on the other team: still no second splash.
    assert brief(game.poll(doc([rec(T, "P1", three=True)], home=3))) == [(5, ev.SHOT_UPDATE)]
    assert brief(game.poll(doc([rec(T, "P9", tid=AWAY_ID, three=True)], home=3))) == [
        (6, ev.SHOT_UPDATE)
    ]
    assert len(only(game.log, ev.MADE_THREE)) == 1


def test_recredited_three_echoed_beside_its_new_owner_never_splashes(game: Game) -> None:
    """A re-credited three (P1 -> P2) whose old record reappears beside the new one: no splash."""
    game.poll(doc([rec(T, "P1", three=True)], home=3))
    game.poll(doc([rec(T, "P2", three=True)], home=3))
    events = game.poll(doc([rec(T, "P2", three=True), rec(T, "P1", three=True)], home=3))
    assert [e.type for e in events] == [ev.SHOT]
    assert events[0].data["pid"] == "P1"
    assert len(only(game.log, ev.MADE_THREE)) == 1


def test_recredit_prefers_the_live_shot_over_a_removed_one(game: Game) -> None:
    """At a t with a removed and a live shot, a re-credit updates the live one."""
    game.poll(doc([rec(T, "P1", made=False), rec(T, "P2", made=False)]))
    game.poll(doc([rec(T, "P2", made=False)]))  # P1's shot (key T) removed
    events = game.poll(doc([rec(T, "P3", made=False)]))  # P2's shot re-credited to P3
    assert brief(events) == [(4, ev.SHOT_UPDATE)]
    assert events[0].data["key"] == f"{T}-P2"
    assert (events[0].data["before"]["pid"], events[0].data["after"]["pid"]) == ("P2", "P3")


@pytest.mark.parametrize(
    "change",
    [
        {"px": 3118},  # one millimetre: rounds to the same feet
        {"d": 581.77},  # the same 19.1 ft
        {"gc": None},  # gc dropped: the shot keeps the clock it had
        {"sst": "OTHER", "label": "x", "shotDefenders": []},  # fields not on the wire
    ],
)
def test_invisible_change_is_not_a_correction(game: Game, change: dict[str, Any]) -> None:
    """A record change that alters nothing on the wire emits no shot_update."""
    game.poll(doc([rec(T, "P1", made=False, gc="05:00")]))
    assert game.poll(doc([rec(T, "P1", made=False, **{"gc": "05:00", **change})])) == []
    [known] = game.state.shots.values()
    assert known.clock == "05:00"


def test_corrected_shot_keeps_its_clock(game: Game) -> None:
    """A correction without gc keeps the clock the shot was found at, not the current one."""
    game.poll(doc([rec(T, "P1", gc=None)], home=2, clock="08:12"))
    events = game.poll(doc([rec(T, "P1", made=False, gc=None)], home=0, clock="07:00"))
    [upd] = only(events, ev.SHOT_UPDATE)
    assert upd["before"]["clock"] == upd["after"]["clock"] == "08:12"


def test_returning_shot_takes_the_current_clock(game: Game) -> None:
    """A shot that comes back without gc carries the clock of the poll that found it again."""
    game.poll(doc([rec(T, "P1", gc=None)], clock="08:12"))
    game.poll(doc([], clock="08:12"))
    [shot] = only(game.poll(doc([rec(T, "P1", gc=None)], clock="07:00")), ev.SHOT)
    assert shot["clock"] == "07:00"


def test_shot_removed(game: Game) -> None:
    """A known shot missing from the next payload: shot_removed with key and before."""
    game.poll(doc([rec(T, "P1"), rec(T + 1000, "P2", made=False)], home=2))
    events = game.poll(doc([rec(T, "P1")], home=2))
    assert brief(events) == [(4, ev.SHOT_REMOVED)]
    data = events[0].data
    assert data["key"] == str(T + 1000)
    assert data["before"]["pid"] == "P2"
    assert set(data) == {"key", "before"}
    assert game.state.shots[str(T + 1000)].present is False
    # It stays gone quietly.
    assert game.poll(doc([rec(T, "P1")], home=2)) == []


def test_removed_three_comes_back_without_a_second_splash(game: Game) -> None:
    """A made three removed and back: shot_removed, then shot, never a second made_three."""
    game.poll(doc([rec(T, "P1", three=True)], home=3))
    assert brief(game.poll(doc([], home=3))) == [(4, ev.SHOT_REMOVED)]
    events = game.poll(doc([rec(T, "P1", three=True)], home=3))
    assert brief(events) == [(5, ev.SHOT)]
    assert events[0].data["key"] == str(T)
    assert len(only(game.log, ev.MADE_THREE)) == 1


def test_removed_three_comes_back_recredited(game: Game) -> None:
    """A removed three back under another player keeps its key and its fired splash."""
    game.poll(doc([rec(T, "P1", three=True)], home=3))
    game.poll(doc([], home=3))
    events = game.poll(doc([rec(T, "P2", three=True)], home=3))
    assert brief(events) == [(5, ev.SHOT)]
    assert events[0].data["key"] == str(T)
    assert events[0].data["pid"] == "P2"


def test_baseline_threes_never_splash() -> None:
    """Threes already made at the baseline count as fired: removed and back, no splash."""
    g = Game()
    g.poll(doc([rec(T, "P1", three=True)], home=3))
    g.poll(doc([], home=3))
    events = g.poll(doc([rec(T, "P1", three=True)], home=3))
    assert brief(events) == [(2, ev.SHOT)]


def test_same_shot_twice_in_one_payload(game: Game) -> None:
    """The same (t, pid) twice in one payload is one shot, and the duplicate is warned about."""
    events = game.poll(doc([rec(T, "P1", three=True), rec(T, "P1", three=True)], home=3))
    assert brief(events) == [(1, ev.SHOT), (2, ev.MADE_THREE), (3, ev.SCORE_UPDATE)]
    assert list(game.state.shots) == [str(T)]
    assert game.last is not None
    assert any("duplicate" in w for w in game.last.warnings)
    # Back to one copy: nothing changed.
    assert game.poll(doc([rec(T, "P1", three=True)], home=3)) == []


def test_two_players_same_t(game: Game) -> None:
    """Two players at the same t are two shots with distinct, stable keys."""
    events = game.poll(doc([rec(T, "P1"), rec(T, "P2", tid=AWAY_ID)], home=2, away=2))
    assert brief(events) == [(1, ev.SHOT), (2, ev.SHOT), (3, ev.SCORE_UPDATE)]
    keys = [e.data["key"] for e in events[:2]]
    assert keys == [str(T), f"{T}-P2"]
    assert [e.data["team"] for e in events[:2]] == ["home", "away"]
    # Reordered in the next payload: same keys, nothing to say.
    assert game.poll(doc([rec(T, "P2", tid=AWAY_ID), rec(T, "P1")], home=2, away=2)) == []
    # One of them removed: the right one goes.
    events = game.poll(doc([rec(T, "P2", tid=AWAY_ID)], home=2, away=2))
    assert brief(events) == [(4, ev.SHOT_REMOVED)]
    assert events[0].data["key"] == str(T)


def test_shots_emitted_in_time_order(game: Game) -> None:
    """Several new shots in one poll come out in upstream time order, whatever the list order."""
    events = game.poll(doc([rec(T + 2000, "P3"), rec(T, "P1"), rec(T + 1000, "P2")], home=6))
    assert [e.data["t"] for e in events if e.type == ev.SHOT] == [T, T + 1000, T + 2000]


@pytest.mark.parametrize("state", ["DELETED", "PENDING", None, "VOID"])
def test_non_recorded_shot_stops_counting(game: Game, state: Any) -> None:
    """A record not RECORDED is no shot; a known shot turning so is shot_removed."""
    assert game.poll(doc([rec(T + 5000, "P5", three=True, s=state)])) == []
    game.poll(doc([rec(T, "P1", three=True)], home=3))
    events = game.poll(doc([rec(T, "P1", three=True, s=state)], home=3))
    assert brief(events) == [(4, ev.SHOT_REMOVED)]
    assert events[0].data["key"] == str(T)
    # Recorded again: a shot again, but its splash already went out.
    assert brief(game.poll(doc([rec(T, "P1", three=True)], home=3))) == [(5, ev.SHOT)]


def test_shot_clock_falls_back_to_game_clock(game: Game) -> None:
    """A shot without gc carries the game clock of the poll that found it."""
    events = game.poll(doc([rec(T, "P1", gc=None)], home=2, clock="08:12"))
    assert events[0].type == ev.SHOT
    assert events[0].data["clock"] == "08:12"


# --- score_update ----------------------------------------------------------------------------


# (home, away) -> (team, leader, leadChange, correction), from 0-0 with nobody having led.
SCORE_SCRIPT = [
    ((2, 0), ("home", "home", False, False)),  # first lead is not a change
    ((2, 2), ("away", "tie", False, False)),  # a tie alone is no lead change
    ((2, 5), ("away", "away", True, False)),  # away leads, home led last
    ((4, 5), ("home", "away", False, False)),
    ((7, 5), ("home", "home", True, False)),
    ((7, 7), ("away", "tie", False, False)),
    ((9, 7), ("home", "home", False, False)),  # home led last, leads again: no change
    ((11, 12), (None, "away", True, False)),  # both moved: nobody credited
    ((11, 10), (None, "home", True, True)),  # a score went down: correction
    ((11, 11), ("away", "tie", False, False)),
    ((10, 9), (None, "home", False, True)),  # both down, home still the last leader
]


def test_score_update_team_leader_lead_change(game: Game) -> None:
    """team / leader / leadChange / correction over a scripted game, one score_update per poll."""
    prev = (0, 0)
    for (home, away), (team, leader, lead_change, correction) in SCORE_SCRIPT:
        events = game.poll(doc(home=home, away=away), run_threshold=1000)
        assert [e.type for e in events] == [ev.SCORE_UPDATE]
        assert events[0].data == {
            "home": home,
            "away": away,
            "prev": {"home": prev[0], "away": prev[1]},
            "team": team,
            "leader": leader,
            "leadChange": lead_change,
            "correction": correction,
        }, (home, away)
        prev = (home, away)


def test_score_going_down(game: Game) -> None:
    """A score going down: score_update with correction true and team null."""
    game.poll(doc(home=5, away=3))
    events = game.poll(doc(home=2, away=3))
    assert brief(events) == [(2, ev.SCORE_UPDATE)]
    assert events[0].data["correction"] is True
    assert events[0].data["team"] is None
    assert events[0].data["prev"] == {"home": 5, "away": 3}


def test_lead_from_baseline_counts_as_last_leader() -> None:
    """Joining a game home 10-8 up: away taking the lead is a lead change."""
    g = Game()
    g.poll(doc(home=10, away=8))
    [data] = only(g.poll(doc(home=10, away=11)), ev.SCORE_UPDATE)
    assert data["leadChange"] is True


@pytest.mark.parametrize(
    ("home", "away", "leader"),
    [(1, 0, "home"), (0, 1, "away"), (3, 3, "tie"), (None, 1, None), (1, None, None)],
)
def test_leader_of(home: int | None, away: int | None, leader: str | None) -> None:
    """leader_of: home / away / tie, unknown when either score is unknown."""
    assert leader_of(home, away) == leader


# --- period, status, clock -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "label"),
    [
        ("Q1", "Q2", "2nd Quarter"),
        ("Q3", "Q4", "4th Quarter"),
        ("H1", "H2", "2nd Half"),
        ("Q4", "OT", "Overtime"),
        ("H2", "OT1", "Overtime"),
        ("OT1", "OT2", "2nd Overtime"),
        ("OT", "OT2", "2nd Overtime"),
        ("OT2", "OT3", "3rd Overtime"),
        ("Q4", "SHOOTOUT", "SHOOTOUT"),
    ],
)
def test_period_change(before: str, after: str, label: str) -> None:
    """A new gameTotals.period: one period_change with from, to, label and periodTotals."""
    g = Game()
    g.poll(doc(period=before))
    pts = [period_total(before, 20, 18, "s1"), period_total(after, 0, 0, "s2")]
    events = g.poll(doc(period=after, period_totals=pts))
    assert brief(events) == [(1, ev.PERIOD_CHANGE)]
    assert events[0].data == {
        "from": before,
        "to": after,
        "label": label,
        "periodTotals": [
            {"period": before, "sessionId": "s1", "home": 20, "away": 18},
            {"period": after, "sessionId": "s2", "home": 0, "away": 0},
        ],
    }


def test_period_missing_keeps_period(game: Game) -> None:
    """A payload without a period keeps the current one (no period_change to null)."""
    events = game.poll(doc(period=None))
    assert events == []
    assert game.state.period == "Q1"


@pytest.mark.parametrize("status", ["FINAL", "COMPLETE", "SCHEDULED", "HALFTIME_WEIRD"])
def test_game_status_open_set(game: Game, status: str) -> None:
    """Any new status value passes through as game_status from -> to."""
    events = game.poll(doc(status=status))
    assert brief(events) == [(1, ev.GAME_STATUS)]
    assert events[0].data == {"from": "ACTIVE", "to": status}
    assert game.state.status == status


def test_final_game_still_takes_corrections(game: Game) -> None:
    """After FINAL, a late correction still comes through (shot_update, score correction)."""
    game.poll(doc([rec(T, "P1", three=True)], home=3))
    assert brief(game.poll(doc([rec(T, "P1", three=True)], home=3, status="FINAL"))) == [
        (4, ev.GAME_STATUS)
    ]
    events = game.poll(doc([rec(T, "P1", three=False)], home=2, status="FINAL"))
    assert brief(events) == [(5, ev.SHOT_UPDATE), (6, ev.SCORE_UPDATE)]
    assert events[1].data["correction"] is True


def test_clock_events(game: Game) -> None:
    """A new clock value: clock (running); unchanged long enough: clock (stopped), once."""
    events = game.poll(doc(clock="09:59"))
    assert brief(events) == [(1, ev.CLOCK)]
    assert events[0].data == {"clock": "09:59", "period": "Q1", "running": True}
    assert game.poll(doc(clock="09:59")) == []  # 1 s later: too soon to call it stopped
    events = game.poll(doc(clock="09:59"))  # 2 s unchanged: stopped
    assert brief(events) == [(2, ev.CLOCK)]
    assert events[0].data == {"clock": "09:59", "period": "Q1", "running": False}
    assert game.poll(doc(clock="09:59")) == []
    assert game.state.clock_running is False
    events = game.poll(doc(clock="09:58"))
    assert brief(events) == [(3, ev.CLOCK)]
    assert game.state.clock_at == game.now


def test_clock_missing_keeps_clock(game: Game) -> None:
    """No gameClock in the payload: the clock stays, no clock event to null."""
    assert game.poll(doc(clock=None)) == []
    assert game.state.clock == "10:00"


def test_event_order_within_one_poll(game: Game) -> None:
    """One poll's events: status, period, shots, hot_hand, score, run, clock (in that order)."""
    game.poll(doc([rec(T, "P1"), rec(T + 1, "P1")], home=4))
    events = game.poll(
        doc(
            [rec(T, "P1"), rec(T + 1, "P1"), rec(T + 2, "P1", three=True)],
            home=10,
            period="Q2",
            status="LIVE",
            clock="09:00",
        )
    )
    assert [e.type for e in events] == [
        ev.GAME_STATUS,
        ev.PERIOD_CHANGE,
        ev.SHOT,
        ev.MADE_THREE,
        ev.HOT_HAND,
        ev.SCORE_UPDATE,
        ev.SCORING_RUN,
        ev.CLOCK,
    ]
    assert [e.seq for e in events] == list(range(4, 12))


# --- scoring_run and hot_hand ----------------------------------------------------------------


def test_scoring_run_at_threshold(game: Game) -> None:
    """8 unanswered points: scoring_run for that team, naming the score_update it began at."""
    assert brief(game.poll(doc(home=3))) == [(1, ev.SCORE_UPDATE)]
    assert brief(game.poll(doc(home=6))) == [(2, ev.SCORE_UPDATE)]
    events = game.poll(doc(home=8))
    assert brief(events) == [(3, ev.SCORE_UPDATE), (4, ev.SCORING_RUN)]
    run = events[1].data
    assert (run["team"], run["run"], run["sinceSeq"]) == ("home", [8, 0], 1)
    assert run["extended"] is False


def test_scoring_run_extended_then_answered(game: Game) -> None:
    """A run going on is reported again as extended; the other team scoring ends it."""
    for home in (3, 6, 8):
        game.poll(doc(home=home))
    events = game.poll(doc(home=10))
    assert brief(events) == [(5, ev.SCORE_UPDATE), (6, ev.SCORING_RUN)]
    assert (events[1].data["run"], events[1].data["extended"]) == ([10, 0], True)
    # Away answers: no run; home scores again: the count starts over.
    assert brief(game.poll(doc(home=10, away=2))) == [(7, ev.SCORE_UPDATE)]
    assert brief(game.poll(doc(home=13, away=2))) == [(8, ev.SCORE_UPDATE)]
    assert brief(game.poll(doc(home=16, away=2))) == [(9, ev.SCORE_UPDATE)]
    events = game.poll(doc(home=18, away=2))
    assert brief(events) == [(10, ev.SCORE_UPDATE), (11, ev.SCORING_RUN)]
    assert (events[1].data["run"], events[1].data["sinceSeq"]) == ([8, 0], 8)


def test_scoring_run_for_away(game: Game) -> None:
    """Runs work for the away side too."""
    game.poll(doc(away=5))
    events = game.poll(doc(away=9))
    assert [e.type for e in events] == [ev.SCORE_UPDATE, ev.SCORING_RUN]
    assert (events[1].data["team"], events[1].data["run"]) == ("away", [9, 0])


@pytest.mark.parametrize(
    ("threshold", "scores", "fires_at"),
    [(5, [3, 5], 1), (5, [2, 4], None), (12, [3, 6, 9, 11], None), (12, [3, 6, 9, 12], 3)],
)
def test_scoring_run_threshold_configurable(
    game: Game, threshold: int, scores: list[int], fires_at: int | None
) -> None:
    """PollContext.run_threshold sets how many unanswered points make a run."""
    fired = []
    for i, home in enumerate(scores):
        if only(game.poll(doc(home=home), run_threshold=threshold), ev.SCORING_RUN):
            fired.append(i)
    assert fired == ([] if fires_at is None else [fires_at])


@pytest.mark.parametrize(
    "break_with",
    [
        doc(home=6, away=1),  # the other team scores
        doc(home=5, away=0),  # a correction
        doc(home=8, away=2),  # both move at once
    ],
)
def test_scoring_run_reset(game: Game, break_with: dict[str, Any]) -> None:
    """The run resets when the other team scores, on a correction, or when both move."""
    game.poll(doc(home=3))
    game.poll(doc(home=6))
    game.poll(break_with)
    home = game.state.home_score or 0
    assert only(game.poll(doc(home=home + 3, away=game.state.away_score)), ev.SCORING_RUN) == []


def test_hot_hand_three_makes_in_a_row(game: Game) -> None:
    """A player's 3rd make in a row: hot_hand with streak 3; the 4th: streak 4."""
    config = GameConfig(roster={"P1": Player("P1", "Ann Lee", "7")})
    shots = [rec(T, "P1")]
    assert [e.type for e in game.poll(doc(shots), config=config)] == [ev.SHOT]
    shots.append(rec(T + 1000, "P1"))
    assert [e.type for e in game.poll(doc(shots), config=config)] == [ev.SHOT]
    shots.append(rec(T + 2000, "P1", three=True))
    events = game.poll(doc(shots), config=config)
    assert [e.type for e in events] == [ev.SHOT, ev.MADE_THREE, ev.HOT_HAND]
    assert events[2].data == {
        "pid": "P1",
        "player": {"id": "P1", "name": "Ann Lee", "number": "7"},
        "team": "home",
        "streak": 3,
        "key": str(T + 2000),
    }
    shots.append(rec(T + 3000, "P1"))
    events = game.poll(doc(shots), config=config)
    assert [(e.type, e.data.get("streak")) for e in events] == [(ev.SHOT, None), (ev.HOT_HAND, 4)]


def test_hot_hand_reset_by_a_miss(game: Game) -> None:
    """A miss resets the streak: two makes after it are not hot, the third is."""
    shots = [rec(T, "P1"), rec(T + 1, "P1"), rec(T + 2, "P1", made=False)]
    game.poll(doc(shots))
    for i, hot in [(3, False), (4, False), (5, True)]:
        shots.append(rec(T + i, "P1"))
        assert bool(only(game.poll(doc(shots)), ev.HOT_HAND)) is hot


def test_hot_hand_ignores_other_players(game: Game) -> None:
    """Makes by other players neither count toward nor break a player's streak."""
    shots = [rec(T, "P1"), rec(T + 1, "P2", made=False), rec(T + 2, "P1"), rec(T + 3, "P2")]
    game.poll(doc(shots))
    assert only(game.log, ev.HOT_HAND) == []
    shots.append(rec(T + 4, "P1"))
    [hot] = only(game.poll(doc(shots)), ev.HOT_HAND)
    assert (hot["pid"], hot["streak"]) == ("P1", 3)


def test_hot_hand_corrected_make_breaks_streak(game: Game) -> None:
    """A make corrected to a miss no longer counts toward the streak."""
    shots = [rec(T, "P1"), rec(T + 1, "P1")]
    game.poll(doc(shots))
    shots[1] = rec(T + 1, "P1", made=False)
    game.poll(doc(shots))
    shots.append(rec(T + 2, "P1"))
    assert only(game.poll(doc(shots)), ev.HOT_HAND) == []


@pytest.mark.parametrize(("n", "fires_on"), [(2, 2), (4, 4), (1, 1)])
def test_hot_hand_configurable(game: Game, n: int, fires_on: int) -> None:
    """PollContext.hot_hand sets how many makes in a row are hot."""
    shots: list[dict[str, Any]] = []
    first = None
    for i in range(1, 5):
        shots.append(rec(T + i, "P1"))
        if only(game.poll(doc(shots), hot_hand=n), ev.HOT_HAND) and first is None:
            first = i
    assert first == fires_on


# --- stale -----------------------------------------------------------------------------------


def test_after_outage_every_event_is_stale(game: Game) -> None:
    """The first poll after an outage marks every event it finds stale."""
    events = game.poll(
        doc([rec(T, "P1", three=True)], home=3, period="Q2", clock="09:00"), after_outage=True
    )
    assert [e.type for e in events] == [
        ev.PERIOD_CHANGE,
        ev.SHOT,
        ev.MADE_THREE,
        ev.SCORE_UPDATE,
        ev.CLOCK,
    ]
    assert all(e.stale for e in events)
    assert all(e.to_message()["stale"] is True for e in events)
    # The poll after that is live again.
    events = game.poll(doc([rec(T, "P1", three=True)], home=3, period="Q2", clock="08:59"))
    assert [(e.type, e.stale) for e in events] == [(ev.CLOCK, False)]
    assert "stale" not in events[0].to_message()


# Every type a poll can emit (all but feed_status, which is the poller's, and the operator's).
POLL_TYPES = {
    ev.GAME_STATUS,
    ev.PERIOD_CHANGE,
    ev.SHOT,
    ev.MADE_THREE,
    ev.SHOT_UPDATE,
    ev.SHOT_REMOVED,
    ev.HOT_HAND,
    ev.SCORE_UPDATE,
    ev.SCORING_RUN,
    ev.CLOCK,
}


def test_after_outage_every_event_type_is_stale(game: Game) -> None:
    """One poll after an outage that makes every event type a poll can make: all stale.

    Before the outage: P1 made two twos, P2 missed, P3 made a two (home 6, a 6-0 run). During
    it: the period and status moved on, P2's miss was corrected to a make, P3's shot was taken
    away, P1 hit a three (a third make in a row: hot hand; the run reaches 9), the clock moved.
    """
    before = [rec(T, "P1"), rec(T + 1, "P1"), rec(T + 2, "P2", made=False), rec(T + 3, "P3")]
    game.poll(doc(before, home=6))
    after = [
        rec(T, "P1"),
        rec(T + 1, "P1"),
        rec(T + 2, "P2", made=True),
        rec(T + 4, "P1", three=True),
    ]
    events = game.poll(
        doc(after, home=9, period="Q2", clock="09:12", status="HALFTIME"), after_outage=True
    )
    assert {e.type for e in events} == POLL_TYPES
    assert [e.type for e in events if not e.stale] == []
    assert all(e.to_message()["stale"] is True for e in events)
    [clock] = only(events, ev.CLOCK)
    assert clock["running"] is False  # moved across the gap: not proof that it runs
    # the same poll without the outage: the same types, all live
    fresh = Game()
    fresh.poll(doc())
    fresh.poll(doc(before, home=6))
    live = fresh.poll(doc(after, home=9, period="Q2", clock="09:12", status="HALFTIME"))
    assert [e.type for e in live] == [e.type for e in events]
    assert not any(e.stale for e in live)
    assert only(live, ev.CLOCK)[0]["running"] is True


def test_clock_stopped_during_outage_is_one_stale_event(game: Game) -> None:
    """The clock ran, the feed went down, the clock stopped on a new value: the first poll
    after the outage says "stopped" once, stale, and no later poll says it again, live.

    (Before: the first poll called the new value running, and the poll 1.8 s later sent a
    live ``running: false``, so a scorebug ran the clock on and then pulled it back.)
    """
    assert only(game.poll(doc(clock="09:59")), ev.CLOCK) == [
        {"clock": "09:59", "period": "Q1", "running": True}
    ]
    events = game.poll(doc(clock="09:31"), after_outage=True)
    assert [(e.type, e.data, e.stale) for e in events] == [
        (ev.CLOCK, {"clock": "09:31", "period": "Q1", "running": False}, True)
    ]
    assert game.state.clock_running is False
    for _ in range(3):
        assert game.poll(doc(clock="09:31")) == []
    events = game.poll(doc(clock="09:30"))  # it runs again: seen moving between two polls
    assert [(e.type, e.data["running"], e.stale) for e in events] == [(ev.CLOCK, True, False)]


def test_clock_stopped_on_the_same_value_during_outage_is_stale(game: Game) -> None:
    """The clock stopped on the value last seen before the outage: the first poll after it
    (a 304 re-applies that same payload) finds it stopped: stale."""
    game.poll(doc(clock="09:59"))
    game.now += 5_000  # the outage
    events = game.poll(doc(clock="09:59"), after_outage=True)
    assert [(e.type, e.data["running"], e.stale) for e in events] == [(ev.CLOCK, False, True)]
    assert game.poll(doc(clock="09:59")) == []


def test_clock_running_through_outage_runs_again_on_the_next_poll(game: Game) -> None:
    """A clock that kept running: stopped (stale) on the first poll after the outage, running
    (live) on the next one, so a page never runs a clock that may have stopped."""
    game.poll(doc(clock="09:59"))
    events = game.poll(doc(clock="09:40"), after_outage=True)
    assert [(e.data["running"], e.stale) for e in events] == [(False, True)]
    events = game.poll(doc(clock="09:39"))
    assert [(e.data["running"], e.stale) for e in events] == [(True, False)]
    assert game.state.clock_running is True


def test_old_shot_is_stale(game: Game) -> None:
    """A shot more than stale_ms older than the newest shot: its shot/made_three are stale."""
    events = game.poll(doc([rec(T, "P1", three=True), rec(T + 20_001, "P2", three=True)], home=6))
    assert [(e.type, e.data.get("key"), e.stale) for e in events] == [
        (ev.SHOT, str(T), True),
        (ev.MADE_THREE, str(T), True),
        (ev.SHOT, str(T + 20_001), False),
        (ev.MADE_THREE, str(T + 20_001), False),
        (ev.SCORE_UPDATE, None, False),  # the score is news whatever the shot's age
    ]


def test_stale_boundary(game: Game) -> None:
    """Exactly stale_ms older is still fresh; one ms more is stale."""
    events = game.poll(doc([rec(T, "P1"), rec(T + 20_000, "P2")], home=4))
    assert [e.stale for e in events if e.type == ev.SHOT] == [False, False]


def test_late_arriving_shot_is_stale(game: Game) -> None:
    """A shot that shows up late, older than the newest known shot, is stale."""
    game.poll(doc([rec(T + 60_000, "P2", made=False)]))
    events = game.poll(doc([rec(T, "P1", three=True), rec(T + 60_000, "P2", made=False)]))
    assert [(e.type, e.stale) for e in events] == [(ev.SHOT, True), (ev.MADE_THREE, True)]


def test_stale_ms_configurable(game: Game) -> None:
    """PollContext.stale_ms sets the age limit."""
    events = game.poll(doc([rec(T, "P1"), rec(T + 5_000, "P2")], home=4), stale_ms=4_000)
    assert [e.stale for e in events if e.type == ev.SHOT] == [True, False]


def test_stale_hot_hand(game: Game) -> None:
    """hot_hand of an old shot is stale too."""
    shots = [rec(T, "P1"), rec(T + 1, "P1"), rec(T + 2, "P1"), rec(T + 60_000, "P2")]
    events = game.poll(doc(shots))
    [hot] = [e for e in events if e.type == ev.HOT_HAND]
    assert hot.stale is True


# --- teams and players -----------------------------------------------------------------------


def test_team_and_player_from_config(seed_bytes: bytes) -> None:
    """GameConfig maps the seed's tid 552 to home and pid 7269 to a named player."""
    config = GameConfig.from_data(
        {
            "home": {"teamId": "552", "name": "Hawks"},
            "roster": {"7269": {"name": "Jane Doe", "number": 23}},
        }
    )
    g = Game(config=config)
    g.poll(doc(home=0, away=0, period="H2", clock="00:15:00"))
    events = g.poll(seed_bytes)
    [shot] = only(events, ev.SHOT)
    assert shot["team"] == "home"
    assert shot["teamId"] == "552"
    assert shot["player"] == {"id": "7269", "name": "Jane Doe", "number": "23"}


@pytest.mark.parametrize(
    ("config", "tid", "team"),
    [
        (GameConfig(), HOME_ID, "home"),  # gameTotals' ids when nothing is configured
        (GameConfig(), AWAY_ID, "away"),
        (GameConfig(), "552", None),  # unknown stays unknown, never guessed
        (GameConfig(), None, None),
        (GameConfig(home=TeamInfo(team_id="552")), "552", "home"),
        (GameConfig(away=TeamInfo(team_id="552")), "552", "away"),
        (GameConfig(away=TeamInfo(team_id=HOME_ID)), HOME_ID, "away"),  # config wins
    ],
)
def test_team_side(game: Game, config: GameConfig, tid: str | None, team: str | None) -> None:
    """A shot's team side: the operator's config first, then gameTotals' team ids, else null."""
    [shot] = only(game.poll(doc([rec(T, "P1", tid=tid)], home=2), config=config), ev.SHOT)
    assert shot["team"] == team
    assert shot["teamId"] == tid


def test_unknown_player_is_null(game: Game) -> None:
    """A pid missing from the roster has player null."""
    config = GameConfig(roster={"P2": Player("P2", "Bo", "1")})
    [shot] = only(game.poll(doc([rec(T, "P1")], home=2), config=config), ev.SHOT)
    assert shot["player"] is None


# --- feed_status and append ------------------------------------------------------------------


# (ok, error, message) per step -> emitted?
FEED_SCRIPT: list[tuple[bool, str | None, str | None, bool]] = [
    (True, None, None, False),  # ok -> ok: nothing
    (False, "timeout", "no answer in 5 s", True),  # ok -> failing
    (False, "timeout", "no answer in 5 s", False),  # same failure: nothing
    (False, "timeout", "no answer in 6 s", False),  # only the text changed: nothing
    (False, "forbidden", "No access to STATS data", True),  # code changed while failing
    (True, None, None, True),  # failing -> ok
    (True, None, None, False),
    (False, "bad_payload", "body is not JSON", True),
]


def test_feed_status_only_on_transitions() -> None:
    """feed_status is emitted on ok->fail, fail->ok and a code change, never otherwise."""
    state = GameState("EVT")
    seq = 0
    for i, (ok, error, message, emitted) in enumerate(FEED_SCRIPT):
        now = 1000 + i
        state, event = feed_status(state, ok, error, message, now)
        assert (event is not None) is emitted, i
        if event is not None:
            seq += 1
            assert event.seq == seq
            assert event.type == ev.FEED_STATUS
            assert event.data == {
                "ok": ok,
                "error": error,
                "message": message,
                "since": now,
            }
            assert state.feed == FeedHealth(ok, error, message, now)
        assert state.seq == seq
    assert state.feed.error == "bad_payload"


def test_feed_status_keeps_the_latest_message() -> None:
    """A failure repeating with a new text updates the kept message without an event."""
    state, _ = feed_status(GameState("EVT"), False, "timeout", "first", 1)
    state, event = feed_status(state, False, "timeout", "second", 2)
    assert event is None
    assert state.feed == FeedHealth(False, "timeout", "second", 1)


def test_feed_status_ok_carries_no_error() -> None:
    """Back to ok, the event and the kept health say error null whatever was passed along."""
    state, _ = feed_status(GameState("EVT"), False, "timeout", "slow", 1)
    state, event = feed_status(state, True, "timeout", "slow", 2)
    assert event is not None
    assert (event.data["ok"], event.data["error"], event.data["message"]) == (True, None, None)
    assert state.feed == FeedHealth(True, None, None, 2)


def test_feed_status_shares_seq_with_poll_events(game: Game) -> None:
    """Feed events and poll events draw from one gapless seq."""
    game.poll(doc(home=2))
    game.state, failing = feed_status(game.state, False, "upstream_error", "HTTP 500", game.now)
    assert failing is not None
    game.log.append(failing)
    game.state, back = feed_status(game.state, True, None, None, game.now + 1)
    assert back is not None
    game.log.append(back)
    events = game.poll(doc(home=4))
    assert [e.seq for e in game.log] == [1, 2, 3, 4]
    assert events[0].seq == 4


def test_append_allocates_next_seq(game: Game) -> None:
    """append gives an operator event the next seq in the same log."""
    game.poll(doc(home=3))
    state, event = append(game.state, ev.GRAPHIC, {"action": "show", "name": "lower"}, 777)
    assert (event.seq, event.type, event.game, event.at) == (2, ev.GRAPHIC, "EVT", 777)
    assert event.data == {"action": "show", "name": "lower"}
    assert event.stale is False
    assert state.seq == 2
    game.state = state
    game.log.append(event)
    [e] = game.poll(doc(home=5))
    assert e.seq == 3


def test_event_message_shape(game: Game) -> None:
    """An event on the wire: seq, type, game, at (server ms), data; at is the poll's time."""
    [event] = game.poll(doc(home=2))
    assert event.to_message() == {
        "seq": 1,
        "type": ev.SCORE_UPDATE,
        "game": "EVT",
        "at": game.now,
        "data": event.data,
    }
    assert ev.Event.from_message(event.to_message()) == event


# --- persistence -----------------------------------------------------------------------------


def test_restart_keeps_made_three_memory(game: Game) -> None:
    """State and shots through to_record/from_record (a restart) keep the fired splash."""
    game.poll(doc([rec(T, "P1", three=True), rec(T, "P2", made=False)], home=3))
    game.poll(doc([rec(T, "P2", made=False)], home=3))  # the three is removed
    records = [k.to_record() for k in game.state.shots.values()]
    restored = GameState.from_record(
        game.state.to_record(), [KnownShot.from_record(r) for r in records]
    )
    assert restored == game.state
    game.state = restored
    events = game.poll(doc([rec(T, "P1", three=True), rec(T, "P2", made=False)], home=3))
    assert brief(events) == [(6, ev.SHOT)]
    assert events[0].data["key"] == str(T)


def test_detection_reports_changed_shots(game: Game) -> None:
    """Detection.changed_shots lists exactly the shots to write back to the store."""
    game.poll(doc([rec(T, "P1"), rec(T + 1, "P2")], home=4))
    assert game.last is not None
    assert sorted(k.key for k in game.last.changed_shots) == [str(T), str(T + 1)]
    game.poll(doc([rec(T, "P1"), rec(T + 1, "P2")], home=4))
    assert game.last.changed_shots == []
    assert game.last.state_changed is False
    game.poll(doc([rec(T, "P1")], home=4))
    assert [k.key for k in game.last.changed_shots] == [str(T + 1)]
    assert game.last.state_changed is True


def test_made_three_at_most_once_per_key_in_a_busy_script(game: Game) -> None:
    """Across removals, re-credits and returns, each key has at most one made_three."""
    script = [
        [rec(T, "P1", three=True)],
        [rec(T, "P2", three=True)],
        [],
        [rec(T, "P2", three=True), rec(T, "P1", three=True)],
        [rec(T, "P1", three=True)],
        [rec(T, "P1", three=True, s="DELETED")],
        [rec(T, "P3", three=True)],
        [rec(T, "P3", three=True), rec(T, "P3", three=True)],
    ]
    for shots in script:
        game.poll(doc(shots))
    per_key = Counter(d["key"] for d in only(game.log, ev.MADE_THREE))
    # One ball, one millisecond: every record at T is the same three, so it splashes once.
    assert per_key == {str(T): 1}
