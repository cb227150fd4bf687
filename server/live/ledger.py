"""One followed game in the I/O shell: its state, config, lock, persistence and publishing.

Every step that allocates seq numbers (a poll, a feed health change, an operator action) goes
through one lock per game, is written to the store, and only then handed to subscribers. So a
crash between the two loses nothing (clients catch up from the log with ``since``), and nothing
is ever sent that the store does not have.

A step the store cannot commit (:class:`~server.errors.StoreError`) leaves the game exactly as
it was: the state, and with it the seq, only move once the write is committed, so the next
committed event takes the next seq after the last committed one and nothing uncommitted is ever
published. A poll that could not be committed is found again by the next poll (the payload is
still there upstream); its events then reach clients late, so that commit counts as the first
after an outage and its events are stale.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any, Literal

import anyio
import anyio.to_thread

from server.config import Settings
from server.core import suggestions, tracker
from server.core.derived import Deriver, after_step, suggest_step
from server.core.events import CONFIG, Event
from server.core.onair import OnAir
from server.core.override import Override
from server.core.roster import GameConfig
from server.core.shots import Payload, ShotParser
from server.core.tracker import Detection, FeedHealth, GameState, PollContext
from server.errors import StoreError
from server.live.store import STORE_UNWRITABLE, AuditRow, Store

log = logging.getLogger("shotfeed.game")

Publish = Callable[[str, Sequence[Event], Sequence[bytes]], None]
# An operator action's audit row, made under the game's lock once its event exists.
Audit = Callable[[Event], AuditRow]


def _no_publish(game: str, events: Sequence[Event], encoded: Sequence[bytes]) -> None:
    return None


class Game:
    """The live state of one game and the only writer of its event log."""

    def __init__(
        self,
        game_id: str,
        store: Store,
        settings: Settings,
        *,
        publish: Publish = _no_publish,
        limiter: anyio.CapacityLimiter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.id = game_id
        self.store = store
        self.settings = settings
        self.publish = publish
        self.parser = ShotParser()
        self.state = GameState(game_id)
        self.config = GameConfig()
        self.onair = OnAir()
        self.override = Override()
        self.after_outage = False
        self._deriver = Deriver()
        self.splits: dict[str, Any] = self._deriver.splits.compute((), self.config, self.state)
        # the operator's suggestions, folded from the log on load (server.live.following)
        self.book = suggestions.Book()
        self._lock = anyio.Lock()
        self._limiter = limiter or anyio.CapacityLimiter(1)
        self._clock = clock

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def load(self) -> None:
        """Pick up where the store left off; a known game's next poll counts as after an outage."""
        loaded = await anyio.to_thread.run_sync(self.store.load_game, self.id)
        self.config = loaded.config
        if loaded.state is not None:
            self.state = loaded.state
            self.after_outage = True
        else:
            self.state = GameState(self.id, seq=loaded.seq)
        self.splits = self._deriver.splits.compute(
            self.state.shots.values(), self.config, self.state
        )

    def context(self) -> PollContext:
        s = self.settings
        return PollContext(
            now_ms=self.now_ms(),
            config=self.config,
            after_outage=self.after_outage,
            stale_ms=int(s.stale_s * 1000),
            run_threshold=s.run_threshold,
            hot_hand=s.hot_hand,
        )

    async def _commit(
        self,
        state: GameState,
        events: Sequence[Event],
        shots: Sequence[tracker.KnownShot] = (),
        audit: AuditRow | None = None,
        config: GameConfig | None = None,
        splits: dict[str, Any] | None = None,
        book: suggestions.Book | None = None,
    ) -> None:
        encoded = [e.encode() for e in events]
        await anyio.to_thread.run_sync(
            partial(
                self.store.save, state, events, shots, encoded=encoded, audit=audit, config=config
            ),
            limiter=self._limiter,
        )
        self.state = state
        if config is not None:
            self.config = config
        if splits is not None:
            self.splits = splits
        if book is not None:
            self.book = book
        if events:
            self.publish(self.id, events, encoded)

    async def apply_poll(self, payload: Payload) -> Detection:
        """Detect, persist, publish. A poll that changes nothing writes nothing."""
        async with self._lock:
            ctx = self.context()
            detection = tracker.detect(self.state, payload, ctx)
            for warning in detection.warnings:
                log.warning("game %s: %s", self.id, warning)
            if detection.state_changed:
                # First sight stays silent (no event at all); after it, a poll whose shots
                # moved the splits says so, in the same commit as its events.
                seen = self.state.baseline
                shots_changed = bool(detection.changed_shots)
                derived = after_step(
                    self._deriver,
                    self.splits,
                    detection.state,
                    detection.events,
                    self.config,
                    ctx.now_ms,
                    shots_changed=shots_changed,
                    announce=seen,
                    stale=ctx.after_outage,
                )
                state, events = derived.state, derived.events
                try:
                    await self._commit(
                        state, events, detection.changed_shots, splits=derived.splits
                    )
                except StoreError:
                    self.after_outage = True  # what it found reaches clients late, if ever
                    raise
                if seen:
                    events = events + await self._suggest(events, ctx, shots_changed)
                detection = replace(detection, state=self.state, events=events)
            else:
                self.state = detection.state
            self.after_outage = False
            return detection

    async def _suggest(
        self, events: Sequence[Event], ctx: PollContext, shots_changed: bool
    ) -> list[Event]:
        """The suggestion rules over the poll just committed (under the same lock, so their
        seq follows the poll's), in a commit of their own: the poll's events went on air
        without waiting for them. A store that cannot take them costs the suggestions of this
        poll only (the next poll's rules see the same facts); the poll itself stands."""
        derived = suggest_step(
            self._deriver,
            self.splits,
            self.state,
            events,
            ctx.now_ms,
            shots_changed=shots_changed,
            book=self.book,
            onair=self.onair,
            stale=ctx.after_outage,
        )
        if not derived.events:
            if derived.book is not None:
                self.book = derived.book  # no event: nothing to write
            return []
        try:
            await self._commit(derived.state, derived.events, book=derived.book)
        except StoreError as exc:
            log.warning("game %s: suggestions of this poll not stored: %s", self.id, exc)
            return []
        return derived.events

    async def apply_feed(self, ok: bool, error: str | None, message: str | None) -> Event | None:
        """Record feed health; emits ``feed_status`` only on a transition.

        A success (a 304 included) ends an outage: only the first poll after it is stale.
        """
        async with self._lock:
            self.after_outage = not ok
            state, event = tracker.feed_status(self.state, ok, error, message, self.now_ms())
            if event is not None:
                await self._commit(state, [event])
            else:
                self.state = state
            return event

    async def probe_store(self) -> None:
        """While the store is failing, the write that finds out whether it is back (StoreError
        if not). Under the game's lock and limiter, like every other write of the game."""
        async with self._lock:
            await anyio.to_thread.run_sync(self.store.probe, limiter=self._limiter)

    def feed(self) -> FeedHealth:
        """The feed's health as clients are told it (state's ``feed``, the console, /api/games).

        A store that cannot be written comes first: upstream may be fine, but nothing reaches
        the log or the clients. It cannot be a ``feed_status`` event (that would need the very
        write that fails), so it lives here, in memory, read by every ``state`` built.
        """
        store = self.store.health
        if not store.ok:
            return FeedHealth(False, STORE_UNWRITABLE, store.message, store.since)
        return self.state.feed

    async def append(
        self, type_: str, data: dict[str, Any], *, audit: Audit | None = None
    ) -> Event:
        """An operator event (graphic, hold, config...): next seq in the same log."""
        event = await self.append_with(lambda: (type_, data), audit=audit)
        assert event is not None
        return event

    async def append_with(
        self,
        build: Callable[[], tuple[str, dict[str, Any]] | None],
        *,
        audit: Audit | None = None,
    ) -> Event | None:
        """An operator event whose data depends on the game's current state (the override,
        what upstream says): ``build`` runs under the game's lock, so two operators acting at
        once never both start from the same "before". ``build`` returns None for "no change";
        anything it raises propagates and nothing is written. ``audit`` makes the action's
        audit row from the event; it is committed in the same transaction.
        """
        async with self._lock:
            built = build()
            if built is None:
                return None
            type_, data = built
            state, event = tracker.append(self.state, type_, data, self.now_ms())
            await self._commit(state, [event], audit=audit(event) if audit else None)
            return event

    async def set_config(self, config: GameConfig, *, audit: Audit | None = None) -> Event:
        """Store the new teams/roster and tell the overlays with a ``config`` event."""
        async with self._lock:
            now = self.now_ms()
            state, event = tracker.append(self.state, CONFIG, config.to_data(), now)
            # Names, numbers and which team id is home move the splits' rows: say so at once.
            derived = after_step(
                self._deriver, self.splits, state, [event], config, now, shots_changed=True
            )
            state, events, splits = derived.state, derived.events, derived.splits
            # One transaction: a config the store took always has the event that announces it.
            await self._commit(
                state,
                events,
                audit=audit(event) if audit else None,
                config=config,
                splits=splits,
            )
            return event

    async def decide(
        self, sid: str, action: Literal["accept", "dismiss"], *, audit: Audit | None = None
    ) -> list[Event]:
        """The operator accepts (the graphic goes on air, then the acceptance) or dismisses a
        suggestion: one commit, under the game's lock, audited with the first event.
        :class:`~server.core.suggestions.SuggestionError` if it cannot be done (nothing written).
        """
        async with self._lock:
            now = self.now_ms()
            book, made = suggestions.decide(self.book, sid, action, now)
            state, events = self.state, []
            for type_, data in made:
                state, event = tracker.append(state, type_, data, now)
                events.append(event)
            row = audit(events[-1]) if audit else None
            await self._commit(state, events, audit=row, book=book)
            return events
