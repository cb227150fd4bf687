"""derived.after_step: when the splits and the suggestions are looked at, and when they are news."""

from __future__ import annotations

from typing import Any

from server.core import tracker
from server.core.derived import Deriver, after_step, suggest_step
from server.core.events import Event
from server.core.onair import OnAir
from server.core.roster import GameConfig
from server.core.splits import Splits
from server.core.suggestions import Book
from server.core.tracker import GameState
from tests.payloads import T0, Game, doc, rec


class CountingSplits(Splits):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def compute_present(self, present: Any, config: GameConfig, state: GameState) -> Any:
        self.calls += 1
        return super().compute_present(present, config, state)


def _deriver() -> tuple[Deriver, CountingSplits]:
    d = Deriver()
    d.splits = CountingSplits()
    return d, d.splits


def _game_with_shot() -> Game:
    g = Game()
    g.poll(doc([]))
    g.poll(doc([rec(T0 + 1, "P1", made=True)], home=2))
    return g


def test_a_step_that_changed_no_shot_counts_nothing() -> None:
    g = _game_with_shot()
    d, calc = _deriver()
    clock = Event(g.state.seq + 1, "clock", "EVT", 5, {"clock": "09:59"})
    out = after_step(d, {}, g.state, [clock], g.config, 5, shots_changed=False)
    assert calc.calls == 0
    assert out.splits is None
    assert out.events == [clock] and out.state is g.state
    sug = suggest_step(d, {}, g.state, [clock], 5, shots_changed=False, book=Book(), onair=OnAir())
    assert sug.events == [] and sug.book is None


def test_first_sight_counts_but_says_nothing() -> None:
    g = _game_with_shot()
    d, calc = _deriver()
    out = after_step(d, {}, g.state, [], g.config, 5, shots_changed=True, announce=False)
    assert calc.calls == 1
    assert out.splits is not None and out.splits["teams"]["home"]["fga"] == 1
    assert out.events == [] and out.state.seq == g.state.seq


def test_news_is_one_stats_event_with_the_next_seq_marked_as_the_step() -> None:
    g = _game_with_shot()
    d, _ = _deriver()
    seq = g.state.seq
    out = after_step(d, {}, g.state, [], g.config, 5, shots_changed=True, stale=True)
    (stats,) = out.events
    assert (stats.type, stats.seq, stats.stale) == ("stats", seq + 1, True)
    assert stats.data == out.splits and out.state.seq == seq + 1
    # the same splits again: no event
    again = after_step(d, out.splits, out.state, [], g.config, 6, shots_changed=True)
    assert again.events == [] and again.splits is None


def test_suggestions_look_when_the_score_moved_even_without_a_shot() -> None:
    """A run can come from free throws: a score_update alone makes the rules look."""
    g = Game()
    g.poll(doc([]))
    state = g.state
    events: list[Event] = []
    for i, (home, away) in enumerate([(3, 0), (6, 0), (9, 0)]):
        state, e = tracker.append(
            state,
            "scoring_run" if home >= 8 else "score_update",
            {"team": "home", "run": [home, 0], "sinceSeq": 1, "extended": False}
            if home >= 8
            else {"home": home, "away": away, "team": "home"},
            T0 + i,
        )
        events.append(e)
    d, calc = _deriver()
    out = suggest_step(
        d, {}, state, events[-1:], T0 + 10, shots_changed=False, book=Book(), onair=OnAir()
    )
    assert calc.calls == 0
    kinds = [(e.type, e.data.get("rule")) for e in out.events]
    assert kinds == [("suggestion", "scoring_run")]
    assert out.events[0].seq == state.seq + 1
    assert out.book is not None and out.book.open_list(T0 + 10)[0]["rule"] == "scoring_run"
