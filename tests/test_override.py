"""The manual override, pure: validation, merging, undo history, folding from the log, and how
build_state lays it over what the upstream says (the detector's state stays untouched).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from server.core import events as ev
from server.core.onair import OnAir
from server.core.override import (
    MAX_UNDO,
    Override,
    OverrideError,
    fold,
    merged,
    normalize_clock,
    parse_patch,
    upstream_of,
)
from server.core.roster import GameConfig
from server.core.snapshot import FeedInfo, build_state, flat_row
from server.core.tracker import GameState

FEED = FeedInfo(True, None, None, 1_000)
UPSTREAM = GameState(
    "EVT",
    seq=9,
    baseline=True,
    status="ACTIVE",
    period="H2",
    clock="00:15:00",
    clock_at=5_000,
    clock_running=True,
    home_score=11,
    away_score=22,
)


def event(data: dict[str, Any], type_: str = ev.OVERRIDE) -> dict[str, Any]:
    return {"type": type_, "data": data}


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("2:00", "00:02:00"),
        ("02:00", "00:02:00"),
        ("0:45", "00:00:45"),
        ("12:00", "00:12:00"),
        ("00:12:00", "00:12:00"),
        ("1:02:03", "01:02:03"),
        (" 5:07 ", "00:05:07"),
        ("75:00", "01:15:00"),  # minutes alone may pass 59 (a long period); shown as h:mm:ss
    ],
)
def test_clock_is_normalised_to_the_upstream_form(raw: str, want: str) -> None:
    assert normalize_clock(raw) == want


@pytest.mark.parametrize("raw", ["", "12", "2:5", "2:60", "1:60:00", "a:bc", "-1:00", "1:2:3:4"])
def test_clock_that_is_no_time_is_refused(raw: str) -> None:
    with pytest.raises(OverrideError):
        normalize_clock(raw)


def test_parse_patch_checks_and_normalises_every_field() -> None:
    assert parse_patch({"home": 54, "away": 0, "period": "q4", "clock": "2:00"}) == {
        "home": 54,
        "away": 0,
        "period": "Q4",
        "clock": "00:02:00",
    }
    assert parse_patch({"home": None}) == {"home": None}
    for period in ("Q1", "H2", "OT", "OT1", "ot12"):
        assert parse_patch({"period": period}) == {"period": period.upper()}


@pytest.mark.parametrize(
    "body",
    [
        {},
        [],
        "54",
        None,
        {"home": "54"},
        {"home": 54.0},
        {"home": True},
        {"home": -1},
        {"away": 1000},
        {"period": "Q0"},
        {"period": "Fourth"},
        {"period": ""},
        {"period": 4},
        {"clock": 120},
        {"clock": "99:99"},
        {"score": 1},
        {"home": 1, "colour": "red"},
    ],
)
def test_parse_patch_refuses_what_is_not_an_override(body: Any) -> None:
    with pytest.raises(OverrideError) as err:
        parse_patch(body)
    assert str(err.value)  # a message for a person


def test_merge_sets_keeps_and_removes() -> None:
    fields = merged({}, {"home": 54})
    assert fields == {"home": 54}
    fields = merged(fields, {"period": "Q4", "clock": "00:02:00"})
    assert fields == {"home": 54, "period": "Q4", "clock": "00:02:00"}
    fields = merged(fields, {"home": None, "away": 50})
    assert fields == {"away": 50, "period": "Q4", "clock": "00:02:00"}
    assert list(fields) == ["away", "period", "clock"]  # always in FIELDS order
    assert merged(fields, {"away": None, "period": None, "clock": None}) == {}


def test_set_clear_undo_and_fold_agree() -> None:
    """The event data says the whole new setting; folding those events gives the same model."""
    o = Override()
    assert not o.active and not o.can_undo
    with pytest.raises(OverrideError):
        o.undo()
    log: list[dict[str, Any]] = []

    def step(data: dict[str, Any]) -> None:
        nonlocal o
        log.append(event(data))
        o = o.apply(ev.OVERRIDE, data)

    step(o.set(parse_patch({"home": 54})))
    assert log[-1]["data"] == {
        "action": "set",
        "active": True,
        "fields": {"home": 54},
        "canUndo": True,
    }
    step(o.set(parse_patch({"period": "Q4"})))
    step(o.clear())
    assert log[-1]["data"] == {"action": "clear", "active": False, "fields": {}, "canUndo": True}
    assert not o.active
    step(o.undo())  # undo the clear
    assert o.fields == {"home": 54, "period": "Q4"}
    step(o.undo())  # undo the period
    assert o.fields == {"home": 54}
    assert log[-1]["data"]["canUndo"] is True
    step(o.undo())  # undo the first set
    assert o.fields == {} and not o.can_undo
    assert log[-1]["data"] == {"action": "undo", "active": False, "fields": {}, "canUndo": False}
    # a restart folds the same log into the same model (other events leave it alone)
    noise = [event({"held": True, "autofire": {}}, ev.HOLD), event({"home": 1}, ev.SCORE_UPDATE)]
    assert fold([*noise, *log, *noise]) == o
    assert fold(log[:2]) == Override({"home": 54, "period": "Q4"}, ({}, {"home": 54}))


def test_undo_history_is_bounded() -> None:
    o = Override()
    for score in range(MAX_UNDO + 10):
        o = o.apply(ev.OVERRIDE, o.set({"home": score}))
    assert len(o.history) == MAX_UNDO
    for _ in range(MAX_UNDO):
        o = o.apply(ev.OVERRIDE, o.undo())
    assert o.fields == {"home": 9} and not o.can_undo


def test_fold_reads_bad_fields_defensively() -> None:
    o = fold([event({"action": "set", "fields": {"home": 3, "bogus": 1, "away": None}})])
    assert o.fields == {"home": 3}
    assert fold([event({"action": "set", "fields": "nope"})]).fields == {}


def test_state_without_override_is_the_upstream() -> None:
    state = build_state(UPSTREAM, GameConfig(), OnAir(), FEED)
    assert state["home"]["score"] == 11 and state["away"]["score"] == 22
    assert state["period"] == "H2" and state["clock"] == "00:15:00" and state["clockRunning"]
    assert state["override"] == {
        "active": False,
        "fields": {},
        "upstream": {
            "home": 11,
            "away": 22,
            "period": "H2",
            "clock": "00:15:00",
            "clockRunning": True,
            "clockAt": 5_000,
        },
        "canUndo": False,
    }
    assert state == build_state(UPSTREAM, GameConfig(), OnAir(), FEED, Override())


def test_state_shows_the_override_and_the_upstream_side_by_side() -> None:
    o = Override({"home": 54, "period": "Q4", "clock": "00:02:00"}, ({},))
    state = build_state(UPSTREAM, GameConfig(), OnAir(), FEED, o)
    assert state["home"]["score"] == 54 and state["away"]["score"] == 22
    assert state["leader"] == "home"
    assert (state["period"], state["periodLabel"], state["periodShort"]) == (
        "Q4",
        "4th Quarter",
        "Q4",
    )
    assert (state["clock"], state["clockDisplay"]) == ("00:02:00", "2:00")
    assert state["clockRunning"] is False  # an overridden clock stands still
    assert state["override"]["active"] is True
    assert state["override"]["fields"] == {"home": 54, "period": "Q4", "clock": "00:02:00"}
    assert state["override"]["upstream"]["home"] == 11
    assert state["override"]["upstream"]["period"] == "H2"
    assert state["override"]["canUndo"] is True
    # the flat row vMix and the arena board read shows what is on air
    row = flat_row(state)
    assert (row["home_score"], row["period"], row["clock"], row["leader"]) == (
        "54",
        "Q4",
        "2:00",
        "home",
    )
    # only the clock overridden: the scores stay the upstream's
    state = build_state(UPSTREAM, GameConfig(), OnAir(), FEED, Override({"away": 30}))
    assert state["home"]["score"] == 11 and state["away"]["score"] == 30
    assert state["clockRunning"] is True and state["period"] == "H2"


def test_upstream_of_never_changes_the_detector_state() -> None:
    before = replace(UPSTREAM)
    upstream_of(UPSTREAM)
    build_state(UPSTREAM, GameConfig(), OnAir(), FEED, Override({"home": 1}))
    assert before == UPSTREAM


def test_rehearsal_graphics_are_not_in_the_state() -> None:
    onair = OnAir().apply(ev.GRAPHIC, {"action": "show", "name": "test:made_three", "payload": {}})
    onair = onair.apply(
        ev.GRAPHIC, {"action": "show", "name": "lowerthird", "payload": {"title": "x"}}
    )
    state = build_state(UPSTREAM, GameConfig(), onair, FEED)
    assert state["graphics"] == {"lowerthird": {"title": "x"}}
