"""What a game derives after each step: the splits with their ``stats`` event, and the
operator's ``suggestion`` events (with the graphics an armed rule fires by itself).

Why apart from the detector: ``tracker.detect`` says what changed in the upstream's data; the
splits and the suggestions are views of the result, and the rules for when they are news
(after a poll whose shots moved them, after a config change; never on first sight) are the
same for the live game (``server.live.ledger``), the poll benchmark and the generated docs. One
function keeps them the same everywhere.

Pure: the memory in :class:`Deriver` (the splits calculator, the shots as the rules read them)
is keyed by identity and only ever makes the result cheaper, never different.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from server.core import suggestions, tracker
from server.core.events import GRAPHIC, SCORE_UPDATE, SCORING_RUN, STATS, SUGGESTION, Event
from server.core.onair import OnAir
from server.core.roster import GameConfig
from server.core.splits import Splits, present_in_order
from server.core.suggestions import Book, Facts
from server.core.tracker import GameState, KnownShot

# A step with one of these events may make or end a suggestion even if no shot changed (a run
# from free throws, a score corrected).
_SCORING: frozenset[str] = frozenset((SCORE_UPDATE, SCORING_RUN))


class Deriver:
    """The memory one game keeps to derive cheaply: the splits calculator, and every shot as
    the suggestion rules read it (a small dict, made once per shot object)."""

    def __init__(self) -> None:
        self.splits = Splits()
        self._shots: dict[int, tuple[KnownShot, dict[str, Any]]] = {}
        self._present: list[KnownShot] = []
        self._present_of: Mapping[str, KnownShot] | None = None

    def present(self, state: GameState) -> list[KnownShot]:
        """``present_in_order`` of the state's shots, sorted once per shots mapping (the
        splits and the rules of one poll read the same list)."""
        shots = state.shots
        if self._present_of is not shots:
            self._present = present_in_order(shots.values())
            self._present_of = shots
        return self._present

    def shot_facts(self, present: Sequence[KnownShot]) -> list[dict[str, Any]]:
        """The counting shots (``present_in_order``), with what the rules read (key, pid,
        made, three, zone, advancedZone, distanceFt, t). Team-free, so a config change costs
        nothing here."""
        memo, out = self._shots, []
        fresh: dict[int, tuple[KnownShot, dict[str, Any]]] = {}
        for known in present:
            ident = id(known)
            hit = memo.get(ident)
            if hit is None or hit[0] is not known:
                s = known.shot
                hit = (
                    known,
                    {
                        "key": known.key,
                        "t": s.t,
                        "pid": s.pid,
                        "made": s.made,
                        "three": s.three,
                        "zone": s.zone,
                        "advancedZone": s.adv_zone,
                        "distanceFt": s.distance_ft(),
                    },
                )
            fresh[ident] = hit
            out.append(hit[1])
        self._shots = fresh
        return out


@dataclass(frozen=True, slots=True)
class Derived:
    """The step's state and events with the derived ones appended; the splits if new, the
    suggestion book if it changed."""

    state: GameState
    events: list[Event]
    splits: dict[str, Any] | None
    book: Book | None = None


def after_step(
    deriver: Deriver,
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
    append a ``stats`` event with the next seq. ``stale`` marks it as the step's events are.
    """
    out = list(events)
    splits: dict[str, Any] | None = None
    if shots_changed:
        fresh = deriver.splits.compute_present(deriver.present(state), config, state)
        if fresh != previous:
            splits = fresh
            if announce:
                state, event = tracker.append(state, STATS, fresh, now_ms, stale=stale)
                out.append(event)
    return Derived(state, out, splits)


def suggest_step(
    deriver: Deriver,
    splits: Mapping[str, Any],
    state: GameState,
    events: Sequence[Event],
    now_ms: int,
    *,
    shots_changed: bool,
    book: Book,
    onair: OnAir,
    stale: bool = False,
) -> Derived:
    """The suggestion rules over a committed poll: they read the splits, the shots and the
    poll's events (when shots changed or the score moved) and answer with their own events
    only (``suggestion``; for a rule armed in ``onair`` while nothing is held, the ``graphic``
    it fires and its acceptance), numbered after the poll's. ``book`` is set in the result
    only when it changed.

    Why after the poll and not in it: the poll's events are what goes on air, and nothing the
    console's suggestions need may delay them; the shell commits these right after.
    """
    if not (shots_changed or any(e.type in _SCORING for e in events)):
        return Derived(state, [], None)
    facts = Facts(
        splits=splits,
        shots=deriver.shot_facts(deriver.present(state)),
        events=[e.to_message() for e in events],
        now_ms=now_ms,
        stale=stale,
    )
    next_book, made = suggestions.step(book, facts, armed=onair.autofire, held=onair.held)
    out: list[Event] = []
    for type_, data in made:
        assert type_ in (SUGGESTION, GRAPHIC)
        state, event = tracker.append(state, type_, data, now_ms, stale=stale)
        out.append(event)
    return Derived(state, out, None, next_book if (made or next_book != book) else None)
