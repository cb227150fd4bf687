"""What a game derives from its shots after each step: the splits, and the ``stats`` event.

Why apart from the detector: ``tracker.detect`` says what changed in the upstream's data; the
splits are a view of the result, and the rules for when that view is news (after a poll whose
shots moved them, after a config change; never on first sight) are the same for the live game
(``server.live.ledger``), the poll benchmark and the generated docs. One function keeps them
the same everywhere.

Pure: the calculator's memory (:class:`~server.core.splits.Splits`) is passed in and only ever
makes the result cheaper, never different.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from server.core import tracker
from server.core.events import STATS, Event
from server.core.roster import GameConfig
from server.core.splits import Splits
from server.core.tracker import GameState


@dataclass(frozen=True, slots=True)
class Derived:
    """The step's state and events with the derived ones appended, and the splits if new."""

    state: GameState
    events: list[Event]
    splits: dict[str, Any] | None


def after_step(
    calc: Splits,
    previous: Mapping[str, Any],
    state: GameState,
    events: Sequence[Event],
    config: GameConfig,
    now_ms: int,
    *,
    shots_changed: bool,
    announce: bool = True,
    stale: bool = False,
) -> Derived:
    """Recount the splits if ``shots_changed`` (or the config moved, which the caller says the
    same way) and, when they differ from ``previous`` and ``announce`` (not on first sight),
    append a ``stats`` event with the next seq. ``stale`` marks it as the step's events are."""
    out = list(events)
    if not shots_changed:
        return Derived(state, out, None)
    fresh = calc.compute(state.shots.values(), config, state)
    if fresh == previous:
        return Derived(state, out, None)
    if announce:
        state, event = tracker.append(state, STATS, fresh, now_ms, stale=stale)
        out.append(event)
    return Derived(state, out, fresh)
