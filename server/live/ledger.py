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
from typing import Any, Literal

import anyio
import orjson

from server.config import Settings
from server.core import replica, suggestions, tracker
from server.core.derived import Deriver, after_step, suggest_step
from server.core.events import CONFIG, SUGGESTION, Event
from server.core.onair import OnAir
from server.core.onair import fold as fold_onair
from server.core.override import Override
from server.core.override import fold as fold_override
from server.core.roster import GameConfig
from server.core.shots import Payload, ShotParser
from server.core.tracker import Detection, FeedHealth, GameState, PollContext
from server.errors import StoreError
from server.live.broker import FOLDED_TYPES, Broker, Commit, Conflict, as_broker
from server.live.store import AuditRow, Store

log = logging.getLogger("shotfeed.game")

# A step that keeps losing the race to other writers gives up (as a store failure) after this
# many tries; one conflict is a poll and an operator action landing within a millisecond.
MAX_CONFLICTS = 8
# Most events a catch-up reads back to publish what this process missed.
CATCH_UP_LIMIT = 100_000

Publish = Callable[[str, Sequence[Event], Sequence[bytes]], None]
# An operator action's audit row, made under the game's lock once its event exists.
Audit = Callable[[Event], AuditRow]


def _no_publish(game: str, events: Sequence[Event], encoded: Sequence[bytes]) -> None:
    return None


class Game:
    """The live state of one game and the only writer of its event log in this process.

    With a shared broker (Redis) other processes write the same game: ``version`` counts the
    game's commits, every commit is a compare-and-set on it, and a step that lost the race
    catches up (:meth:`_catch_up`) and is built again on the new state. Whatever moves
    ``version`` forward in this process also publishes the events in between, in seq order,
    so this process's clients see exactly the log, whichever process wrote it.
    """

    def __init__(
        self,
        game_id: str,
        store: Store | Broker,
        settings: Settings,
        *,
        publish: Publish = _no_publish,
        limiter: anyio.CapacityLimiter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.id = game_id
        self.store = store
        self.broker = as_broker(store, limiter)
        self.settings = settings
        self.publish = publish
        self.parser = ShotParser()
        self.state = GameState(game_id)
        self.config = GameConfig()
        self.onair = OnAir()
        self.override = Override()
        self.after_outage = False
        self.version = 0
        # The poller's leadership token (Redis): its commits are refused once it lapsed; and
        # until when (time.monotonic) its lead is surely still valid: no poll after that.
        self.fence: str | None = None
        self.lease_until: float | None = None
        # The operator log this process folded (hold, graphic, override, suggestion bodies):
        # what it puts back, with the rest of its copy, where Redis lost the game.
        self.ops_log: list[bytes] = []
        # Redis: who leads this game's polling (``host:pid:…``), as read about once a second.
        self.leader: str | None = None
        # When this game's poller (in whichever process) last polled successfully.
        self.last_success_at: int | None = None
        self._deriver = Deriver()
        self.splits: dict[str, Any] = self._deriver.splits.compute((), self.config, self.state)
        # the operator's suggestions, folded from the log on load (server.live.following)
        self.book = suggestions.Book()
        self._lock = anyio.Lock()
        self._clock = clock

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def load(self) -> None:
        """Pick up where the store left off; a known game's next poll counts as after an outage."""
        loaded = await self.broker.load_game(self.id)
        self._take(loaded.game.state, loaded.game.config, loaded.game.seq, loaded.version)
        if loaded.game.state is not None:
            self.after_outage = True

    def _take(self, state: GameState | None, config: GameConfig, seq: int, version: int) -> None:
        self.config = config
        self.state = state if state is not None else GameState(self.id, seq=seq)
        self.version = version
        self.splits = self._deriver.splits.compute(
            self.state.shots.values(), self.config, self.state
        )

    async def fold_log(self) -> None:
        """On air, the override and the suggestions, folded from the whole operator log."""
        bodies = await self.broker.operator_events(self.id, FOLDED_TYPES)
        self.ops_log = list(bodies)
        log_ = [orjson.loads(b) for b in bodies]
        self.onair = fold_onair(log_)
        self.override = fold_override(log_)
        self.book = suggestions.Book.from_events(log_)

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

    # -- commits -------------------------------------------------------------------------------

    async def _commit(
        self,
        state: GameState,
        events: Sequence[Event],
        shots: Sequence[tracker.KnownShot] = (),
        audit: AuditRow | None = None,
        config: GameConfig | None = None,
        splits: dict[str, Any] | None = None,
        book: suggestions.Book | None = None,
        *,
        fenced: bool = False,
    ) -> None:
        encoded = [e.encode() for e in events]
        await self.broker.commit(
            self.id,
            Commit(
                self.version,
                state,
                events,
                encoded,
                shots,
                audit=audit,
                config=config,
                fence=self.fence if fenced else None,
            ),
        )
        self.version += 1
        self.state = state
        if config is not None:
            self.config = config
        if splits is not None:
            self.splits = splits
        self._fold(events, encoded, book)
        if events:
            self.publish(self.id, events, encoded)

    def _fold(
        self,
        events: Sequence[Event],
        bodies: Sequence[bytes],
        book: suggestions.Book | None = None,
    ) -> None:
        """What the operator's events change: on air, the override, and (unless the step that
        made them computed it) the suggestion book."""
        for e, body in zip(events, bodies, strict=True):
            self.onair = self.onair.apply(e.type, e.data)
            self.override = self.override.apply(e.type, e.data)
            if e.type in FOLDED_TYPES and self.broker.shared:
                self.ops_log.append(body)
        if book is not None:
            self.book = book
        elif any(e.type == SUGGESTION for e in events):
            self.book = self.book.fold(e.to_message() for e in events)

    async def _retrying(self, step: Callable[[], Any]) -> Any:
        """Run a step (under the lock) until it commits on the game's current version: a
        :class:`Conflict` means another process wrote first, so catch up and build it again."""
        for _ in range(MAX_CONFLICTS):
            try:
                return await step()
            except Conflict:
                await self._catch_up()
        raise StoreError(f"game {self.id}: {MAX_CONFLICTS} commits in a row lost to others")

    async def _catch_up(self) -> None:
        """Bring this process's copy up to the broker's (under the lock), publishing every event
        it had not seen, in seq order. If the broker has *less* than this process (a Redis that
        restarted without persistence), put this process's copy back instead."""
        if not self.broker.shared:
            return  # one writer: nothing to catch up with
        loaded = await self.broker.load_game(self.id)
        step = replica.on_load(self.version, loaded.version)
        if step == "same":
            return
        if step == "restore":
            now = await self.broker.restore(
                self.id, self.version, self.state, self.config, self.ops_log
            )
            log.warning(
                "game %s: the broker had version %d, this process %d; restored (now %d)",
                self.id,
                loaded.version,
                self.version,
                now,
            )
            if now != self.version:
                await self._catch_up()
            return
        last = self.state.seq
        bodies = await self.broker.events_since(self.id, last, CATCH_UP_LIMIT)
        seq = loaded.game.seq
        messages = [orjson.loads(b) for b in bodies]
        kept = [(m, b) for m, b in zip(messages, bodies, strict=True) if int(m["seq"]) <= seq]
        events = [Event.from_message(m) for m, _ in kept]
        missed = [b for _, b in kept]
        self._take(loaded.game.state, loaded.game.config, seq, loaded.version)
        if replica.complete(last, seq, [e.seq for e in events]):
            self._fold(events, missed)
        else:  # some fell out of the stream: fold the whole operator log instead
            log.warning("game %s: caught up from seq %d to %d with a gap", self.id, last, seq)
            await self.fold_log()
        if events:
            self.publish(self.id, events, missed)

    async def apply_change(
        self,
        version: int,
        state_blob: bytes | None,
        shots_json: bytes,
        config_blob: bytes | None,
        bodies: Sequence[bytes],
        *,
        reload: bool = False,
    ) -> None:
        """Another process's commit, as the change feed brought it: applied and published if
        it is the next one, skipped if this process has it already, caught up if some came
        before it that this process missed."""
        async with self._lock:
            step = replica.on_change(self.version, version, reload=reload)
            if step == replica.SKIP:
                return
            if step == replica.CATCH_UP or state_blob is None:
                await self._catch_up()
                return
            changed = [tracker.KnownShot.from_record(r) for r in orjson.loads(shots_json)]
            shots = dict(self.state.shots)
            for k in changed:
                shots[k.key] = k
            state = GameState.from_record(orjson.loads(state_blob), shots.values())
            config = GameConfig.from_data(orjson.loads(config_blob)) if config_blob else self.config
            events = [Event.from_message(orjson.loads(b)) for b in bodies]
            moved_splits = bool(changed) or config_blob is not None
            self.state = state
            self.config = config
            self.version = version
            if moved_splits:
                self.splits = self._deriver.splits.compute(state.shots.values(), config, state)
            self._fold(events, bodies)
            if events:
                self.publish(self.id, events, list(bodies))

    async def sync(self) -> None:
        """Catch up with the broker now (a new poll leader, a process back from an outage)."""
        async with self._lock:
            await self._catch_up()

    # -- steps ---------------------------------------------------------------------------------

    async def apply_poll(self, payload: Payload) -> Detection:
        """Detect, persist, publish. A poll that changes nothing writes nothing."""
        async with self._lock:
            result: Detection = await self._retrying(lambda: self._apply_poll(payload))
            return result

    async def _apply_poll(self, payload: Payload) -> Detection:
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
                    state, events, detection.changed_shots, splits=derived.splits, fenced=True
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
        poll only (the next poll's rules see the same facts); the poll itself stands. So does
        losing the race to another process's commit (caught up; the next poll's rules run on
        the new state)."""
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
            await self._commit(derived.state, derived.events, book=derived.book, fenced=True)
        except StoreError as exc:
            log.warning("game %s: suggestions of this poll not stored: %s", self.id, exc)
            return []
        except Conflict:
            await self._catch_up()
            return []
        return derived.events

    async def apply_feed(self, ok: bool, error: str | None, message: str | None) -> Event | None:
        """Record feed health; emits ``feed_status`` only on a transition.

        A success (a 304 included) ends an outage: only the first poll after it is stale.
        """
        async with self._lock:
            self.after_outage = not ok

            async def step() -> Event | None:
                state, event = tracker.feed_status(self.state, ok, error, message, self.now_ms())
                if event is not None:
                    await self._commit(state, [event], fenced=True)
                else:
                    self.state = state
                return event

            result: Event | None = await self._retrying(step)
            return result

    async def probe_store(self) -> None:
        """While the store is failing, the write that finds out whether it is back (StoreError
        if not). Under the game's lock, like every other write of the game."""
        async with self._lock:
            await self.broker.probe()

    def feed(self) -> FeedHealth:
        """The feed's health as clients are told it (state's ``feed``, the console, /api/games).

        A store that cannot be written (or a Redis that cannot be reached) comes first:
        upstream may be fine, but nothing reaches the log or the clients. It cannot be a
        ``feed_status`` event (that would need the very write that fails), so it lives here,
        in memory, read by every ``state`` built.
        """
        store = self.broker.health
        if not store.ok:
            return FeedHealth(False, self.broker.error_code, store.message, store.since)
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
        once never both start from the same "before" (through Redis too: a step built on a
        version another process moved is built again). ``build`` returns None for "no
        change"; anything it raises propagates and nothing is written. ``audit`` makes the
        action's audit row from the event; it is committed in the same transaction.
        """
        async with self._lock:

            async def step() -> Event | None:
                built = build()
                if built is None:
                    return None
                type_, data = built
                state, event = tracker.append(self.state, type_, data, self.now_ms())
                await self._commit(state, [event], audit=audit(event) if audit else None)
                return event

            result: Event | None = await self._retrying(step)
            return result

    async def set_config(self, config: GameConfig, *, audit: Audit | None = None) -> Event:
        """Store the new teams/roster and tell the overlays with a ``config`` event."""
        async with self._lock:

            async def step() -> Event:
                now = self.now_ms()
                state, event = tracker.append(self.state, CONFIG, config.to_data(), now)
                # Names, numbers and which team id is home move the splits' rows: say so at once.
                derived = after_step(
                    self._deriver, self.splits, state, [event], config, now, shots_changed=True
                )
                # One transaction: a config the store took always has the event announcing it.
                await self._commit(
                    derived.state,
                    derived.events,
                    audit=audit(event) if audit else None,
                    config=config,
                    splits=derived.splits,
                )
                return event

            result: Event = await self._retrying(step)
            return result

    async def decide(
        self, sid: str, action: Literal["accept", "dismiss"], *, audit: Audit | None = None
    ) -> list[Event]:
        """The operator accepts (the graphic goes on air, then the acceptance) or dismisses a
        suggestion: one commit, under the game's lock, audited with the first event.
        :class:`~server.core.suggestions.SuggestionError` if it cannot be done (nothing written).
        """
        async with self._lock:

            async def step() -> list[Event]:
                now = self.now_ms()
                book, made = suggestions.decide(self.book, sid, action, now)
                state, events = self.state, []
                for type_, data in made:
                    state, event = tracker.append(state, type_, data, now)
                    events.append(event)
                row = audit(events[-1]) if audit else None
                await self._commit(state, events, audit=row, book=book)
                return events

            result: list[Event] = await self._retrying(step)
            return result
