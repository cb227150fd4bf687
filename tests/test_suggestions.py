"""Suggestion rules on scripted games: real records through parse_payload, the detector and the
splits, exactly as a poll gives them to the ledger (server/core/suggestions.py).

``Script`` keeps an upstream shot list, polls it through ``tests.payloads.Game`` (so the events
and the scoring runs are the detector's), builds ``Facts`` from the detector's state (splits,
shot_data with zone/advancedZone, this poll's event messages) and steps the book, logging every
event as the ledger would, so ``Book.from_events`` can be checked against the living book.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.core import suggestions as sg
from server.core.roster import GameConfig, Player, TeamInfo
from server.core.splits import compute
from server.core.suggestions import (
    AUTOFIRE_PREFIX,
    DEFAULT_TTL_MS,
    RULES,
    Book,
    Facts,
    SuggestionError,
    decide,
    step,
)
from server.core.tracker import shot_data
from tests.payloads import AWAY_ID, HOME_ID, T0, Game, doc, rec

CM_PER_FT = 30.48

ROSTER = {
    "U": Player("U", "Ulloa", "4"),
    "K": Player("K", "Kim", "11"),
    "P": Player("P", "Perez", "3"),
    "Q": Player("Q", None, "23"),
    "R": Player("R", None, None),
}
TEAM_OF = {"U": HOME_ID, "K": HOME_ID, "P": AWAY_ID, "Q": AWAY_ID, "R": AWAY_ID, "Z": AWAY_ID}
CONFIG = GameConfig(
    home=TeamInfo(HOME_ID, "Lumberjacks", "LUM"),
    away=TeamInfo(AWAY_ID, "Pioneers", "PIO"),
    roster=ROSTER,
)


class Script:
    """A game the test writes shot by shot; each ``poll`` runs detector, splits and step."""

    def __init__(self, config: GameConfig = CONFIG) -> None:
        self.game = Game(config=config)
        self.records: dict[int, dict[str, Any]] = {}
        self.t = T0
        self.book = Book()
        self.log: list[dict[str, Any]] = []
        self.seq = 0
        self.armed: dict[str, bool] = {}
        self.held = False
        self.facts: Facts | None = None
        self.poll()  # the baseline: silent

    # -- the upstream's shot list ------------------------------------------------------------

    def shoot(
        self,
        pid: str,
        made: bool = True,
        three: bool = False,
        *,
        zone: int | None = None,
        ft: float | None = None,
        guarded: bool = False,
    ) -> int:
        self.t += 7_000
        if zone is None:
            zone = 12 if three else 8
        if ft is None:
            ft = 24.0 if three else 19.1
        self.records[self.t] = rec(
            self.t,
            pid,
            tid=TEAM_OF[pid],
            made=made,
            three=three,
            z=zone,
            az=zone,
            d=ft * CM_PER_FT,
            attributes=["GUARDED" if guarded else "UNGUARDED", "JUMPSHOT"],
        )
        return self.t

    def remove(self, t: int) -> None:
        del self.records[t]

    def change(self, t: int, *, made: bool | None = None, pid: str | None = None, **over: Any):
        r = self.records[t]
        if made is not None:
            points = (3 if r["is3"] else 2) if made else -1
            r.update(st="MAKE" if made else "MISS", pts=points)
        if pid is not None:
            r.update(pid=pid, tid=TEAM_OF[pid])
        r.update(over)

    def score(self, tid: str) -> int:
        return sum(r["pts"] for r in self.records.values() if r["tid"] == tid and r["pts"] > 0)

    # -- polls and decisions -------------------------------------------------------------------

    def poll(self, *, stale: bool = False, wait_ms: int = 1_000) -> list[tuple[str, dict]]:
        self.game.step_ms = wait_ms
        body = doc(
            [self.records[t] for t in sorted(self.records)],
            home=self.score(HOME_ID),
            away=self.score(AWAY_ID),
        )
        events = self.game.poll(body, after_outage=stale)
        self.facts = facts_of(self.game, [e.to_message() for e in events], stale)
        self.book, out = step(self.book, self.facts, armed=self.armed, held=self.held)
        self.record(out)
        return out

    def decide(self, sid: str, action: str) -> list[tuple[str, dict]]:
        self.book, out = decide(self.book, sid, action, self.game.now)  # type: ignore[arg-type]
        self.record(out)
        return out

    def record(self, out: list[tuple[str, dict]]) -> None:
        for type_, data in out:
            self.seq += 1
            msg = {"seq": self.seq, "type": type_, "game": "EVT", "at": self.game.now, "data": data}
            self.log.append(orjson_roundtrip(msg))

    def open(self, rule: str | None = None) -> list[dict[str, Any]]:
        return [s for s in self.book.open_list(self.game.now) if rule is None or s["rule"] == rule]

    def one(self, rule: str) -> dict[str, Any]:
        found = self.open(rule)
        assert len(found) == 1, found
        return found[0]


def orjson_roundtrip(msg: dict[str, Any]) -> dict[str, Any]:
    """What the log hands back after a restart: the JSON the event was stored as."""
    import orjson

    return orjson.loads(orjson.dumps(msg))


def facts_of(game: Game, events: list[dict[str, Any]], stale: bool = False) -> Facts:
    state, config = game.state, game.config
    present = sorted(
        (k for k in state.shots.values() if k.present), key=lambda k: (k.shot.t, k.key)
    )
    shots = []
    for k in present:
        data = shot_data(k, config, state)
        data.setdefault("zone", k.shot.zone)
        data.setdefault("advancedZone", k.shot.adv_zone)
        shots.append(data)
    splits = compute(state.shots.values(), config, state)
    return Facts(splits=splits, shots=shots, events=events, now_ms=game.now, stale=stale)


def statuses(out: list[tuple[str, dict]]) -> list[tuple[str, str, str]]:
    """(type, rule or graphic name, status or action) of each emitted event."""
    brief = []
    for type_, data in out:
        if type_ == "suggestion":
            brief.append((type_, data["rule"], data["status"]))
        else:
            brief.append((type_, data["name"], data["action"]))
    return brief


def of_rule(out: list[tuple[str, dict]], rule: str) -> list[tuple[str, dict]]:
    return [(t, d) for t, d in out if t != "suggestion" or d["rule"] == rule]


def basket(s: Script, pid: str = "K") -> int:
    """A two at the rim with no zone (so it starts no zone streak); not polled yet."""
    t = s.shoot(pid, zone=1, ft=2.0)
    s.records[t]["z"] = None
    return t


def away_basket(s: Script) -> None:
    """A Pioneers two that ends any Lumberjacks run (and starts theirs)."""
    basket(s, "P")
    s.poll()


# -- the interface -----------------------------------------------------------------------------


def test_interface_constants() -> None:
    assert RULES == (
        "scoring_run",
        "shooting_night",
        "zone_streak",
        "longest_make",
        "guarded_split",
    )
    assert all(r.isidentifier() and r == r.lower() for r in RULES)
    assert AUTOFIRE_PREFIX == "suggestion:"
    assert DEFAULT_TTL_MS == 90_000
    assert set(sg.RULE_TTL_MS) <= set(RULES)


def test_baseline_and_an_empty_book_suggest_nothing() -> None:
    s = Script()
    assert s.log == []
    assert Book().open_list(T0) == []
    assert Book.from_events([]) == Book()


# -- each rule: text, graphic, payload, score -------------------------------------------------


def test_shooting_night_three_of_three() -> None:
    s = Script()
    for _ in range(2):
        s.shoot("U", three=True)
        s.poll()
        away_basket(s)
    assert s.open("shooting_night") == []
    s.shoot("U", three=True)
    out = s.poll()
    assert of_rule(out, "shooting_night") == [("suggestion", s.one("shooting_night"))]
    got = s.one("shooting_night")
    assert got["text"] == "Ulloa 3/3 from three tonight"
    assert (got["graphic"], got["payload"]) == ("playercard", {"pid": "U"})
    assert got["subject"] == "U"
    assert got["fact"] == "shooting_night:U:3/3"
    assert got["score"] == 70  # 50 + 0 per make over 3 + 20 for 100 %
    assert got["expiresAt"] == s.game.now + DEFAULT_TTL_MS
    assert got["replaces"] is None
    assert got["status"] == "open"
    assert got["id"].startswith("s")


@pytest.mark.parametrize(
    ("shots", "expected"),
    [
        # (made, three) for Ulloa in order -> the open shooting_night text (None: none)
        ([(True, True)] * 2, None),
        ([(True, True)] * 2 + [(False, True)] * 2 + [(True, True)], "Ulloa 3/5 from three tonight"),
        ([(True, True)] * 3 + [(False, True)] * 3, None),  # 3/6 is 50 %
        ([(True, True)] * 4 + [(False, True)] * 2, "Ulloa 4/6 from three tonight"),
        ([(True, False)] * 6, None),  # twos are not threes
        ([(True, True)] * 3 + [(True, False)] * 3, "Ulloa 3/3 from three tonight"),
    ],
)
def test_shooting_night_thresholds(shots: list[tuple[bool, bool]], expected: str | None) -> None:
    s = Script()
    for made, three in shots:
        s.shoot("U", made, three)
        s.poll()
    found = [x["text"] for x in s.open("shooting_night")]
    assert found == ([] if expected is None else [expected])


def test_guarded_split_cold_team() -> None:
    s = Script()
    for i in range(11):
        s.shoot("P", made=i in (3, 7), guarded=True)
        s.shoot("U", made=False)  # keeps the Lumberjacks' shooting out of it
        s.poll()
    got = s.one("guarded_split")
    assert got["text"] == "Pioneers 2/11 when guarded"
    assert (got["graphic"], got["payload"], got["subject"]) == (
        "compare",
        {"split": "guarded"},
        "away",
    )
    assert got["fact"] == "guarded_split:away:2/11"
    # strength = misses * miss rate = 9 * 9/11 -> 40 + 2 * 7.36
    assert got["score"] == 55


def test_guarded_split_hot_team_and_middle_ground() -> None:
    s = Script()
    for i in range(10):
        s.shoot("U", made=i < 6, guarded=True)
        s.poll()
        away_basket(s)
    assert s.one("guarded_split")["text"] == "Lumberjacks 6/10 when guarded"
    s.shoot("U", made=False, guarded=True)
    out = s.poll()
    # 6/11 (55 %) is neither cold nor hot: the 6/10 is no longer true
    assert ("suggestion", "guarded_split", "withdrawn") in statuses(out)
    assert s.open("guarded_split") == []


@pytest.mark.parametrize(
    ("guarded", "expected"),
    [
        (9, []),  # under the 10 attempts
        (10, ["Pioneers 0/10 when guarded"]),
    ],
)
def test_guarded_split_needs_attempts(guarded: int, expected: list[str]) -> None:
    s = Script()
    for _ in range(guarded):
        s.shoot("P", made=False, guarded=True)
    s.shoot("P", made=False)  # unguarded: not in the split
    s.poll()
    assert [x["text"] for x in s.open("guarded_split")] == expected


def test_scoring_run_from_the_detector_and_a_stronger_one_replaces() -> None:
    s = Script()
    for _ in range(3):
        basket(s)
        s.poll()
    assert s.open("scoring_run") == []  # 6-0
    basket(s)
    s.poll()
    run = s.one("scoring_run")
    assert run["text"] == "Lumberjacks on an 8-0 run"
    assert (run["graphic"], run["payload"]) == (
        "lowerthird",
        {"title": "Lumberjacks on an 8-0 run", "team": "home"},
    )
    assert run["subject"] == "home"
    assert run["score"] == 60
    assert run["expiresAt"] == s.game.now + sg.RULE_TTL_MS["scoring_run"]
    s.shoot("U", three=True, zone=14)
    out = s.poll()
    assert [x for x in statuses(out) if x[1] == "scoring_run"] == [
        ("suggestion", "scoring_run", "replaced"),
        ("suggestion", "scoring_run", "open"),
    ]
    new = s.one("scoring_run")
    assert new["text"] == "Lumberjacks on an 11-0 run"
    assert new["replaces"] == run["id"]
    assert new["score"] == 72
    # The Pioneers score: the run is over, its suggestion no longer true.
    away_basket(s)
    assert s.open("scoring_run") == []
    assert s.log[-1]["data"]["status"] == "withdrawn"
    assert s.log[-1]["data"]["id"] == new["id"]


def test_scoring_run_withdrawn_by_a_score_correction() -> None:
    s = Script()
    ts = []
    for _ in range(4):
        ts.append(basket(s))
        s.poll()
    assert s.one("scoring_run")["text"] == "Lumberjacks on an 8-0 run"
    s.change(ts[-1], made=False)  # the last basket was a miss after all: 6-0
    out = s.poll()
    assert ("suggestion", "scoring_run", "withdrawn") in statuses(out)
    assert s.open("scoring_run") == []


def test_scoring_run_kept_while_nothing_happens() -> None:
    s = Script()
    for _ in range(4):
        basket(s)
        s.poll()
    run = s.one("scoring_run")
    for _ in range(3):
        assert s.poll() == []
    assert s.one("scoring_run") == run
    s.shoot("K", made=False)  # a miss neither ends nor extends a run
    assert of_rule(s.poll(), "scoring_run") == []
    assert s.one("scoring_run") == run


def test_longest_make() -> None:
    s = Script()
    s.shoot("P", three=True, ft=24.0)
    s.poll()
    assert s.open("longest_make") == []  # under 25 ft
    s.shoot("U", three=True, ft=27.2)
    s.poll()
    got = s.one("longest_make")
    assert got["text"] == "Ulloa: longest make of the night, 27 ft"
    assert (got["graphic"], got["payload"], got["subject"]) == ("playercard", {"pid": "U"}, "U")
    assert got["score"] == 59  # 50 + 4 * 2.2
    # A longer one by someone else replaces it (one slot per game).
    t = s.shoot("Q", three=True, ft=29.0)
    out = s.poll()
    assert [x for x in statuses(out) if x[1] == "longest_make"] == [
        ("suggestion", "longest_make", "replaced"),
        ("suggestion", "longest_make", "open"),
    ]
    new = s.one("longest_make")
    assert new["text"] == "#23: longest make of the night, 29 ft"
    assert new["replaces"] == got["id"]
    # Removed by a correction: withdrawn, and the 27-footer (old news) is not suggested again.
    s.remove(t)
    out = s.poll()
    assert [x for x in statuses(out) if x[1] == "longest_make"] == [
        ("suggestion", "longest_make", "withdrawn")
    ]
    assert s.open("longest_make") == []


def test_longest_make_a_tie_is_not_a_new_longest() -> None:
    s = Script()
    s.shoot("U", three=True, ft=26.0)
    s.poll()
    first = s.one("longest_make")
    s.shoot("P", three=True, ft=26.0)
    assert of_rule(s.poll(), "longest_make") == []
    assert s.one("longest_make") == first


def test_longest_make_a_miss_is_not_a_make() -> None:
    s = Script()
    s.shoot("U", made=False, three=True, ft=35.0)
    s.poll()
    assert s.open("longest_make") == []


def test_zone_streak() -> None:
    s = Script()
    s.shoot("U", three=True, zone=14)
    s.shoot("U", zone=1, ft=1.0)  # another zone does not break it
    s.shoot("U", three=True, zone=14)
    s.poll()
    assert s.open("zone_streak") == []
    s.shoot("U", three=True, zone=14)
    s.poll()
    got = s.one("zone_streak")
    assert got["text"] == "Ulloa: 3 straight makes from the left corner"
    assert (got["graphic"], got["payload"]) == ("zones", {"pid": "U", "highlight": "14"})
    assert got["score"] == 55
    s.shoot("U", three=True, zone=14)
    s.poll()
    four = s.one("zone_streak")
    assert four["text"] == "Ulloa: 4 straight makes from the left corner"
    assert four["replaces"] == got["id"]
    assert four["score"] == 65
    s.shoot("U", made=False, three=True, zone=14)
    out = s.poll()
    assert [x for x in statuses(out) if x[1] == "zone_streak"] == [
        ("suggestion", "zone_streak", "withdrawn")
    ]


@pytest.mark.parametrize(
    ("zone", "phrase"),
    [
        (1, "at the rim"),
        (3, "from close range in the middle"),
        (4, "from close range on the left"),
        (7, "from mid-range at the top of the key"),
        (9, "from mid-range on the left baseline"),
        (10, "from the right corner"),
        (11, "from three on the right wing"),
        (12, "from three at the top of the key"),
        (14, "from the left corner"),
        (99, "from zone 99"),
    ],
)
def test_zone_phrases(zone: int, phrase: str) -> None:
    assert sg.zone_phrase(zone) == phrase


def test_zone_streak_shots_without_a_zone_count_nowhere() -> None:
    s = Script()
    for _ in range(4):
        t = s.shoot("U", zone=1, ft=1.0)
        s.records[t]["z"] = None
    s.poll()
    assert s.open("zone_streak") == []


def test_zone_streak_the_longest_run_of_a_player() -> None:
    s = Script()
    for _ in range(3):
        s.shoot("U", zone=1, ft=1.0)
    for _ in range(4):
        s.shoot("U", three=True, zone=10)
    s.poll()
    assert s.one("zone_streak")["text"] == "Ulloa: 4 straight makes from the right corner"


# -- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pid", "name"),
    [("U", "Ulloa"), ("Q", "#23"), ("R", "Player R"), ("Z", "Player Z")],
)
def test_player_names_fall_back(pid: str, name: str) -> None:
    s = Script()
    for _ in range(3):
        s.shoot(pid, three=True)
    s.poll()
    assert s.one("shooting_night")["text"] == f"{name} 3/3 from three tonight"


@pytest.mark.parametrize(
    ("home", "name"),
    [
        (TeamInfo(HOME_ID, "Lumberjacks", "LUM"), "Lumberjacks"),
        (TeamInfo(HOME_ID, None, "LUM"), "LUM"),
        (TeamInfo(HOME_ID, None, None), "Home"),
    ],
)
def test_team_names_fall_back(home: TeamInfo, name: str) -> None:
    s = Script(GameConfig(home=home, away=TeamInfo(AWAY_ID), roster=ROSTER))
    for _ in range(4):
        basket(s)
        s.poll()
    assert s.one("scoring_run")["text"] == f"{name} on an 8-0 run"
    away_basket(s)
    for _ in range(5):
        s.shoot("P", zone=1, ft=1.0)
        s.poll()
    assert s.one("scoring_run")["text"] == "Away on a 12-0 run"


def test_name_helpers_ignore_blank_and_odd_values() -> None:
    assert sg.player_name({"name": "  ", "number": " 7 "}, "x") == "#7"
    assert sg.player_name({"name": 5, "number": None}, "x") == "Player x"
    assert sg.player_name(None, "x") == "Player x"
    assert sg.team_name({"name": "", "short": " "}, "away") == "Away"
    assert sg.team_name(None, "home") == "Home"


def test_hostile_name_is_passed_as_text_untouched() -> None:
    hostile = "<img src=x onerror=alert(1)>"
    roster = {**ROSTER, "U": Player("U", hostile, "4")}
    s = Script(GameConfig(home=CONFIG.home, away=CONFIG.away, roster=roster))
    for _ in range(3):
        s.shoot("U", three=True, zone=14)
    s.poll()
    assert s.one("shooting_night")["text"] == f"{hostile} 3/3 from three tonight"
    assert s.one("zone_streak")["text"].startswith(hostile)


# -- corrections withdraw -------------------------------------------------------------------


def three_of_three(s: Script) -> list[int]:
    ts = []
    for _ in range(3):
        ts.append(s.shoot("U", three=True, zone=11 + len(ts)))  # no zone streak
        s.poll()
        away_basket(s)  # no run in the way
    return ts


CORRECTIONS = {
    "removed": lambda s, ts: s.remove(ts[0]),
    "made -> missed": lambda s, ts: s.change(ts[1], made=False),
    "re-credited": lambda s, ts: s.change(ts[2], pid="K"),
    "a two after all": lambda s, ts: s.change(ts[0], is3=False, pts=2),
    "not counting": lambda s, ts: s.change(ts[0], s="DELETED"),
}


@pytest.mark.parametrize("how", list(CORRECTIONS))
def test_a_correction_withdraws_shooting_night(how: str) -> None:
    s = Script()
    ts = three_of_three(s)
    before = s.one("shooting_night")
    CORRECTIONS[how](s, ts)
    out = s.poll()
    assert [x for x in statuses(out) if x[1] == "shooting_night"] == [
        ("suggestion", "shooting_night", "withdrawn")
    ]
    withdrawn = next(d for t, d in out if t == "suggestion" and d["rule"] == "shooting_night")
    assert withdrawn["id"] == before["id"]
    assert {k: v for k, v in withdrawn.items() if k != "status"} == {
        k: v for k, v in before.items() if k != "status"
    }
    assert s.open("shooting_night") == []


def test_a_correction_that_keeps_the_fact_changes_nothing() -> None:
    s = Script()
    ts = three_of_three(s)
    before = s.one("shooting_night")
    s.change(ts[0], d=25.0 * CM_PER_FT)  # a longer three is still a three: 3/3
    out = s.poll()
    assert of_rule(out, "shooting_night") == []
    assert s.one("shooting_night") == before


def test_a_correction_back_does_not_suggest_the_same_fact_again() -> None:
    s = Script()
    ts = three_of_three(s)
    s.change(ts[1], made=False)
    s.poll()
    assert s.open("shooting_night") == []
    s.change(ts[1], made=True)  # and back: 3/3 again, the fact suggested last
    out = s.poll()
    assert [x for x in statuses(out) if x[1] == "shooting_night"] == []


def test_a_weaker_but_still_good_line_withdraws_and_suggests_the_true_one() -> None:
    s = Script()
    for _ in range(4):
        s.shoot("U", three=True)
        s.poll()
        away_basket(s)
    s.shoot("U", made=False, three=True)
    s.poll()
    four_five = s.one("shooting_night")
    assert four_five["text"] == "Ulloa 4/5 from three tonight"
    s.shoot("U", made=False, three=True)
    out = s.poll()
    assert [x for x in statuses(out) if x[1] == "shooting_night"] == [
        ("suggestion", "shooting_night", "withdrawn"),
        ("suggestion", "shooting_night", "open"),
    ]
    now = s.one("shooting_night")
    assert now["text"] == "Ulloa 4/6 from three tonight"
    assert now["replaces"] is None  # not stronger: 4/5 was withdrawn, not replaced


def test_zone_correction_withdraws_zone_streak() -> None:
    s = Script()
    ts = [s.shoot("U", three=True, zone=14) for _ in range(3)]
    s.poll()
    assert s.open("zone_streak")
    s.change(ts[1], z=13)  # the middle one was from the left wing
    out = s.poll()
    assert ("suggestion", "zone_streak", "withdrawn") in statuses(out)
    assert s.open("zone_streak") == []


def test_guarded_split_withdrawn_when_a_shot_was_unguarded_after_all() -> None:
    s = Script()
    ts = []
    for _ in range(10):
        ts.append(s.shoot("P", made=False, guarded=True))
    s.poll()
    assert s.one("guarded_split")["text"] == "Pioneers 0/10 when guarded"
    s.change(ts[0], attributes=["UNGUARDED"])
    out = s.poll()
    assert statuses(out) == [("suggestion", "guarded_split", "withdrawn")]


# -- cooldown, expiry, stale polls --------------------------------------------------------------


@pytest.mark.parametrize("ending", ["dismiss", "accept", "expire"])
def test_the_same_fact_is_never_suggested_twice_in_a_row(ending: str) -> None:
    s = Script()
    three_of_three(s)
    got = s.one("shooting_night")
    if ending == "expire":
        s.poll(wait_ms=DEFAULT_TTL_MS)
    else:
        s.decide(got["id"], ending)
    assert s.open("shooting_night") == []
    for _ in range(3):
        s.shoot("K", made=False)  # the game goes on, Ulloa is still 3/3
        assert [x for x in statuses(s.poll()) if x[1] == "shooting_night"] == []
    s.shoot("U", three=True)
    s.poll()
    assert s.one("shooting_night")["text"] == "Ulloa 4/4 from three tonight"
    assert s.one("shooting_night")["replaces"] is None


def test_expiry_drops_from_open_list_without_an_event() -> None:
    s = Script()
    three_of_three(s)
    got = s.one("shooting_night")
    assert s.book.open_list(got["expiresAt"] - 1) == s.open()
    assert got in s.open()
    assert got not in s.book.open_list(got["expiresAt"])
    n = len(s.log)
    s.poll(wait_ms=DEFAULT_TTL_MS)
    assert len(s.log) == n
    with pytest.raises(SuggestionError) as err:
        s.decide(got["id"], "accept")
    assert err.value.code == "suggestion_expired"


def test_an_expired_suggestion_stays_expired_after_a_new_one_takes_its_slot() -> None:
    s = Script()
    three_of_three(s)
    got = s.one("shooting_night")
    s.poll(wait_ms=DEFAULT_TTL_MS)
    s.shoot("U", three=True)
    s.poll()
    assert s.one("shooting_night")["replaces"] is None  # nothing open to replace
    assert s.book.ended[got["id"]] == "expired"
    with pytest.raises(SuggestionError) as err:
        s.decide(got["id"], "dismiss")
    assert err.value.code == "suggestion_expired"
    assert Book.from_events(s.log) == s.book


def test_a_stale_poll_suggests_nothing_but_withdraws() -> None:
    s = Script()
    ts = three_of_three(s)
    s.shoot("U", three=True, zone=14)
    s.change(ts[0], made=False)  # 3/4 would be new; the 3/3 is no longer true
    out = s.poll(stale=True)
    assert statuses(out) == [("suggestion", "shooting_night", "withdrawn")]
    assert s.open() == []
    out = s.poll()  # the next live poll suggests what is true now
    assert ("suggestion", "shooting_night", "open") in statuses(out)
    assert s.one("shooting_night")["text"] == "Ulloa 3/4 from three tonight"


def test_a_stale_poll_does_not_replace_it_withdraws() -> None:
    s = Script()
    three_of_three(s)
    s.shoot("U", three=True)
    out = s.poll(stale=True)
    assert statuses(out) == [("suggestion", "shooting_night", "withdrawn")]
    out = s.poll()
    assert [x for x in statuses(out) if x[1] == "shooting_night"] == [
        ("suggestion", "shooting_night", "open")
    ]
    assert s.one("shooting_night")["replaces"] is None


def test_stale_events_start_no_run_and_no_longest_make() -> None:
    s = Script()
    for _ in range(3):
        basket(s)
        s.poll()
    s.shoot("U", three=True, ft=28.0)
    s.poll(stale=True)
    assert s.open() == []
    s.poll()  # nothing new in this poll: a stale run and a stale longest make stay unsaid
    assert s.open("scoring_run") == []
    assert s.open("longest_make") == []


# -- autofire and hold ---------------------------------------------------------------------------


def test_autofire_armed_rule_goes_on_air_and_is_accepted() -> None:
    s = Script()
    s.armed = {AUTOFIRE_PREFIX + "zone_streak": True, AUTOFIRE_PREFIX + "scoring_run": False}
    for _ in range(3):
        s.shoot("U", three=True, zone=14)
    out = s.poll()
    zone = [(t, d) for t, d in out if t == "graphic" or d["rule"] == "zone_streak"]
    assert statuses(zone) == [
        ("suggestion", "zone_streak", "open"),
        ("graphic", "zones", "show"),
        ("suggestion", "zone_streak", "accepted"),
    ]
    assert zone[1][1] == {
        "action": "show",
        "name": "zones",
        "payload": {"pid": "U", "highlight": "14"},
    }
    assert zone[2][1]["by"] == "autofire"
    assert zone[2][1]["id"] == zone[0][1]["id"]
    assert s.open("zone_streak") == []
    assert s.open("shooting_night")  # not armed: waits for the operator
    assert Book.from_events(s.log) == s.book


def test_autofire_not_while_held_and_not_by_default() -> None:
    s = Script()
    s.armed = {AUTOFIRE_PREFIX + r: True for r in RULES}
    s.held = True
    for _ in range(3):
        s.shoot("U", three=True, zone=14)
    out = s.poll()
    assert all(t == "suggestion" and d["status"] == "open" for t, d in out)
    s2 = Script()
    s2.armed = {"zone_streak": True}  # without the prefix: another type, not this rule
    for _ in range(3):
        s2.shoot("U", three=True, zone=14)
    assert all(t == "suggestion" for t, _ in s2.poll())


def test_autofire_on_a_replacement() -> None:
    s = Script()
    three_of_three(s)
    old = s.one("shooting_night")
    s.armed = {AUTOFIRE_PREFIX + "shooting_night": True}
    s.shoot("U", three=True)
    out = s.poll()
    assert [x for x in statuses(out) if x[1] in ("shooting_night", "playercard")] == [
        ("suggestion", "shooting_night", "replaced"),
        ("suggestion", "shooting_night", "open"),
        ("graphic", "playercard", "show"),
        ("suggestion", "shooting_night", "accepted"),
    ]
    assert out[1][1]["replaces"] == old["id"]


# -- decide ----------------------------------------------------------------------------------


def test_accept_fires_the_graphic_then_closes() -> None:
    s = Script()
    three_of_three(s)
    got = s.one("shooting_night")
    out = s.decide(got["id"], "accept")
    assert out == [
        ("graphic", {"action": "show", "name": "playercard", "payload": {"pid": "U"}}),
        ("suggestion", {**got, "status": "accepted"}),
    ]
    assert s.open("shooting_night") == []
    with pytest.raises(SuggestionError) as err:
        s.decide(got["id"], "dismiss")
    assert err.value.code == "suggestion_closed"
    assert "accepted" in str(err.value)


def test_dismiss_closes_without_a_graphic() -> None:
    s = Script()
    three_of_three(s)
    got = s.one("shooting_night")
    out = s.decide(got["id"], "dismiss")
    assert out == [("suggestion", {**got, "status": "dismissed"})]
    with pytest.raises(SuggestionError) as err:
        s.decide(got["id"], "accept")
    assert err.value.code == "suggestion_closed"


@pytest.mark.parametrize("status", ["withdrawn", "replaced"])
def test_decide_on_a_withdrawn_or_replaced_one_is_closed(status: str) -> None:
    s = Script()
    ts = three_of_three(s)
    got = s.one("shooting_night")
    if status == "withdrawn":
        s.remove(ts[0])
    else:
        s.shoot("U", three=True)
    s.poll()
    assert s.book.ended[got["id"]] == status
    with pytest.raises(SuggestionError) as err:
        s.decide(got["id"], "accept")
    assert err.value.code == "suggestion_closed"


def test_decide_unknown_and_bad_action() -> None:
    with pytest.raises(SuggestionError) as err:
        decide(Book(), "s1", "accept", T0)
    assert err.value.code == "unknown_suggestion"
    assert "s1" in str(err.value)
    assert isinstance(err.value, ValueError)
    s = Script()
    three_of_three(s)
    with pytest.raises(ValueError, match="accept or dismiss"):
        decide(s.book, s.one("shooting_night")["id"], "fire", T0)  # type: ignore[arg-type]


def test_decide_leaves_the_book_it_was_given_alone() -> None:
    s = Script()
    three_of_three(s)
    before = s.book
    snapshot = Book.from_events(s.log)
    decide(before, s.one("shooting_night")["id"], "accept", s.game.now)
    assert before == snapshot


def test_emitted_payloads_are_copies() -> None:
    s = Script()
    three_of_three(s)
    got = s.one("shooting_night")
    out = s.decide(got["id"], "accept")
    out[0][1]["payload"]["pid"] = "mutated"
    assert Book.from_events(s.log[:-2]).open_list(s.game.now)[0]["payload"] == {"pid": "U"}


# -- the open list -------------------------------------------------------------------------------


def test_open_list_best_score_first_and_ids_unique() -> None:
    s = Script()
    for _ in range(5):
        s.shoot("U", three=True, zone=14, ft=26.0)
        s.poll()
    lst = s.open()
    assert {x["rule"] for x in lst} == {
        "shooting_night",
        "zone_streak",
        "scoring_run",
        "longest_make",
    }
    scores = [x["score"] for x in lst]
    assert scores == sorted(scores, reverse=True)
    ids = [m["data"]["id"] for m in s.log if m["data"]["status"] == "open"]
    assert len(ids) == len(set(ids))
    assert len({x["fact"] for x in lst}) == len(lst)


def test_open_list_ties_newest_first() -> None:
    book = Book(
        slots={
            "a": {"id": "s1", "score": 50, "expiresAt": 10},
            "b": {"id": "s2", "score": 50, "expiresAt": 10},
            "c": {"id": "s3", "score": 70, "expiresAt": 10},
        }
    )
    assert [x["id"] for x in book.open_list(0)] == ["s3", "s2", "s1"]


# -- restart: from_events ---------------------------------------------------------------------


def test_from_events_skips_other_types_and_junk() -> None:
    s = Script()
    three_of_three(s)
    noise: list[Mapping[str, Any]] = [
        {"type": "shot", "data": {"id": "s9"}},
        {"type": "suggestion", "data": None},
        {"type": "suggestion", "data": {"id": 5, "rule": "x"}},
    ]
    assert Book.from_events(noise + s.log) == s.book


def test_restart_mid_game_makes_the_same_decisions() -> None:
    live = Script()
    three_of_three(live)
    for _ in range(3):
        live.shoot("U", three=True, zone=14)
        live.poll()
    live.decide(live.one("zone_streak")["id"], "dismiss")
    rebuilt = Book.from_events(live.log)
    assert rebuilt == live.book
    assert rebuilt.open_list(live.game.now) == live.book.open_list(live.game.now)
    # Both go on through the same polls and decisions and say the same things.
    twin_book = rebuilt
    for action in ("miss", "make", "make", "wait", "remove"):
        if action == "miss":
            live.shoot("U", made=False, three=True, zone=14)
        elif action == "make":
            live.shoot("U", three=True, zone=14)
        elif action == "wait":
            live.game.now += DEFAULT_TTL_MS
        else:
            live.remove(max(live.records))
        live_before = live.book
        out = live.poll()
        assert live.facts is not None
        twin_book, twin_out = step(twin_book, live.facts, armed={}, held=False)
        assert twin_out == out
        assert twin_book == live.book
        assert live_before is not live.book
    assert Book.from_events(live.log) == live.book


# -- properties ---------------------------------------------------------------------------------

PIDS = ("U", "K", "P", "Q")
SHOT = st.tuples(
    st.just("shot"),
    st.sampled_from(PIDS),
    st.sampled_from((True, True, False)),
    st.booleans(),
    st.sampled_from((1, 8, 10, 14, None)),
    st.sampled_from((2.0, 19.0, 24.0, 27.5, 31.0)),
    st.booleans(),
)
OPS = st.one_of(
    *[SHOT] * 8,  # most of a game is shots
    st.tuples(st.just("remove"), st.integers(0, 30)),
    st.tuples(st.just("flip"), st.integers(0, 30)),
    st.tuples(st.just("recredit"), st.integers(0, 30), st.sampled_from(PIDS)),
    st.tuples(st.just("rezone"), st.integers(0, 30), st.sampled_from((1, 10, 14))),
    st.tuples(st.just("wait"), st.sampled_from((1_000, 30_000, 61_000, 95_000))),
    st.tuples(st.just("stale")),
    st.tuples(st.just("decide"), st.integers(0, 5), st.sampled_from(("accept", "dismiss"))),
    st.tuples(st.just("arm"), st.sampled_from(RULES), st.booleans()),
    st.tuples(st.just("hold"), st.booleans()),
    st.tuples(st.just("restart")),
)


def check_invariants(s: Script, out: list[tuple[str, dict]], stale: bool) -> None:
    opened: set[str] = set()
    closed: set[str] = set()
    for m in s.log:
        if m["type"] != "suggestion":
            continue
        d = m["data"]
        assert d["status"] in sg.STATUSES
        assert 0 <= d["score"] <= 100
        assert isinstance(d["text"], str) and d["text"]
        if d["status"] == "open":
            assert d["id"] not in opened, "an id opened twice"
            opened.add(d["id"])
        else:
            assert d["id"] in opened and d["id"] not in closed, "closing what is not open"
            closed.add(d["id"])
    if stale:
        assert all(d["status"] != "open" for t, d in out if t == "suggestion")
    for i, (t, d) in enumerate(out):
        if t == "graphic":
            nxt = out[i + 1][1]
            assert nxt["status"] == "accepted"
            assert d == {"action": "show", "name": nxt["graphic"], "payload": nxt["payload"]}
    lst = s.open()
    assert len({x["fact"] for x in lst}) == len(lst), "two open suggestions with one fact"
    assert len({sg._slot(x["rule"], x["subject"]) for x in lst}) == len(lst)
    assert all(x["status"] == "open" and x["expiresAt"] > s.game.now for x in lst)
    assert s.facts is not None
    run = s.game.state.run
    for x in lst:
        if x["rule"] == "scoring_run":
            assert x["fact"] == f"scoring_run:{run.team}:{run.since_seq}:{run.points}"
        else:
            assert sg.holds(x, s.facts), x
    assert Book.from_events(s.log) == s.book


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPS, min_size=10, max_size=50))
def test_random_scripted_games(ops: list[tuple[Any, ...]]) -> None:
    s = Script()
    for op in ops:
        kind = op[0]
        out: list[tuple[str, dict]] = []
        stale = False
        if kind == "shot":
            _, pid, made, three, zone, ft, guarded = op
            s.shoot(pid, made, three, zone=zone, ft=ft, guarded=guarded)
            out = s.poll()
        elif kind in ("remove", "flip", "recredit", "rezone"):
            if not s.records:
                continue
            t = sorted(s.records)[op[1] % len(s.records)]
            if kind == "remove":
                s.remove(t)
            elif kind == "flip":
                s.change(t, made=s.records[t]["st"] != "MAKE")
            elif kind == "recredit":
                s.change(t, pid=op[2])
            else:
                s.change(t, z=op[2])
            out = s.poll()
        elif kind == "wait":
            out = s.poll(wait_ms=op[1])
        elif kind == "stale":
            stale = True
            out = s.poll(stale=True)
        elif kind == "decide":
            lst = s.open()
            if not lst:
                continue
            out = s.decide(lst[op[1] % len(lst)]["id"], op[2])
        elif kind == "arm":
            s.armed[AUTOFIRE_PREFIX + op[1]] = op[2]
            continue
        elif kind == "hold":
            s.held = op[1]
            continue
        else:
            s.book = Book.from_events(s.log)
            continue
        check_invariants(s, out, stale)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPS, min_size=5, max_size=30), st.integers(0, 20))
def test_restart_anywhere_same_later_decisions(ops: list[tuple[Any, ...]], cut: int) -> None:
    """A book rebuilt from the log at any point answers every later poll exactly as the one that
    lived through it."""
    s = Script()
    twin: Book | None = None
    for i, op in enumerate(ops):
        if op[0] != "shot":
            if op[0] == "wait":
                s.game.now += op[1]
            continue
        _, pid, made, three, zone, ft, guarded = op
        s.shoot(pid, made, three, zone=zone, ft=ft, guarded=guarded)
        if i == cut:
            twin = Book.from_events(s.log)
            assert twin == s.book
        out = s.poll()
        if twin is not None:
            assert s.facts is not None
            twin, twin_out = step(twin, s.facts, armed={}, held=False)
            assert twin_out == out
            assert twin == s.book
