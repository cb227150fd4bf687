"""Fan-out: one channel per game, each event encoded once, the same bytes to every subscriber.

``publish`` is synchronous and never awaits a socket. Two kinds of subscriber:

* :class:`DirectSubscription` (uvicorn's websockets-sansio connections, i.e. ``shotfeed serve``):
  publish writes the event's one pre-built WebSocket frame (``server.web.fastpath``) straight to the
  connection. No task, queue or timer exists per client: an idle overlay costs a few objects,
  a delivered event little more than the send() itself. A client whose socket backs up gets its
  frames parked (bounded) and flushed by the hub's one sweeper task as the socket drains.
* :class:`QueuedSubscription` (any other ASGI server): a bounded queue that the connection's
  own task drains through ASGI ``send``.

Either way a client that falls ``queue_size`` messages behind is cut loose at once (closed with
1013; it resumes with ``since``), so one slow client never slows the others and memory never
grows without bound, as the websockets library's broadcast docs recommend.

Each channel also retains the last N events for replay to reconnecting clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import anyio
import orjson
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from server.core.events import Event
from server.web.fastpath import DirectWriter, text_frame
from server.web.metrics import Metrics

log = logging.getLogger("shotfeed.hub")

# Close codes a subscriber can be told to leave with.
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_TOO_BIG = 1009
CLOSE_TRY_AGAIN = 1013
CLOSE_TIMEOUT_S = 2.0
FLUSH_TICK_S = 0.05


@dataclass(frozen=True, slots=True)
class Item:
    """One message for one subscriber; ``seq`` None for control replies (pong, errors)."""

    seq: int | None
    type: str
    text: str


class Subscription:
    """One client of one game. ``last`` is the last seq it was given."""

    # Slots: thousands of these live for hours, one per connected overlay.
    __slots__ = ("close_code", "close_reason", "game", "last", "last_sent", "types")

    def __init__(self, game: str, types: Iterable[str] | None) -> None:
        self.game = game
        self.types: frozenset[str] | None = frozenset(types) if types is not None else None
        self.last = 0
        self.last_sent = time.monotonic()
        self.close_code: int | None = None
        self.close_reason = ""

    def wants(self, type_: str) -> bool:
        return self.types is None or type_ in self.types

    @property
    def closing(self) -> bool:
        return self.close_code is not None

    def deliver(self, item: Item, frame: bytes, now: float) -> bool:
        """Hand over one event; False when the client is too far behind to keep."""
        raise NotImplementedError

    def control(self, text: str) -> None:
        """A reply that is not an event (pong, error); dropped if the client is that slow."""
        raise NotImplementedError

    def close(self, code: int, reason: str) -> None:
        """Ask the connection to close with ``code`` (once)."""
        raise NotImplementedError


class DirectSubscription(Subscription):
    """Frames written straight to the socket; parked (bounded) while the socket is backed up."""

    __slots__ = ("_close_task", "hub", "limit", "parked", "ready", "writer")

    def __init__(
        self, game: str, types: Iterable[str] | None, writer: DirectWriter, limit: int, hub: Hub
    ) -> None:
        super().__init__(game, types)
        self.writer = writer
        self.limit = limit
        self.hub = hub
        self.ready = False  # until hello and replay are out, everything is parked
        self.parked: deque[tuple[int | None, bytes]] | None = None
        self._close_task: asyncio.Task[None] | None = None

    def _park(self, seq: int | None, frame: bytes) -> bool:
        if self.parked is None:
            self.parked = deque()
        if len(self.parked) >= self.limit:
            return False
        self.parked.append((seq, frame))
        self.hub.backed_up.add(self)
        return True

    def deliver(self, item: Item, frame: bytes, now: float) -> bool:
        if self.closing:
            return True
        if self.ready and not self.parked and self.writer.writable():
            self.writer.write(frame)
            self.last = item.seq or self.last
            self.last_sent = now
            return True
        return self._park(item.seq, frame)

    def control(self, text: str) -> None:
        if self.closing:
            return
        frame = text_frame(text.encode())
        if self.ready and not self.parked and self.writer.writable():
            self.writer.write(frame)
            self.last_sent = time.monotonic()
        else:
            self._park(None, frame)

    def start(self, last: int) -> None:
        """Hello and replay are out: from now on frames go straight to the socket."""
        self.last = last
        self.ready = True
        self.flush(time.monotonic())

    def flush(self, now: float) -> None:
        """Write parked frames while the socket takes them (skipping what replay covered)."""
        parked = self.parked
        while parked and self.writer.writable() and not self.closing:
            seq, frame = parked.popleft()
            if seq is not None:
                if seq <= self.last:
                    continue
                self.last = seq
            self.writer.write(frame)
            self.last_sent = now
        if not parked:
            self.parked = None
            self.hub.backed_up.discard(self)

    def close(self, code: int, reason: str) -> None:
        if self.closing:
            return
        self.close_code, self.close_reason = code, reason
        self.parked = None
        self.hub.backed_up.discard(self)
        self._close_task = asyncio.get_running_loop().create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        """Close through the server (it owns the close handshake); abort a peer that won't read."""
        try:
            with anyio.fail_after(CLOSE_TIMEOUT_S):
                await self.writer.close(code, reason[:120])
        except Exception as exc:  # a timeout, or the peer was already gone
            log.debug("closing a client of %s with %d: %r; aborting", self.game, code, exc)
            self.writer.abort()


class QueuedSubscription(Subscription):
    """A bounded queue drained by the connection's own task (servers without the direct path)."""

    __slots__ = ("receive", "send")

    def __init__(self, game: str, types: Iterable[str] | None, limit: int) -> None:
        super().__init__(game, types)
        self.send: MemoryObjectSendStream[Item]
        self.receive: MemoryObjectReceiveStream[Item]
        self.send, self.receive = anyio.create_memory_object_stream[Item](limit)

    def deliver(self, item: Item, frame: bytes, now: float) -> bool:
        try:
            self.send.send_nowait(item)
        except anyio.WouldBlock:
            return False
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            return True
        return True

    def control(self, text: str) -> None:
        with contextlib.suppress(anyio.WouldBlock, anyio.ClosedResourceError):
            self.send.send_nowait(Item(None, "control", text))

    def close(self, code: int, reason: str) -> None:
        if self.closing:
            return
        self.close_code, self.close_reason = code, reason
        self.send.close()  # the connection task drains what is queued, then closes with code


@dataclass(eq=False)
class Channel:
    retained: deque[Item]
    subscribers: set[Subscription] = field(default_factory=set)
    last_seq: int = 0


def with_replay(text: str) -> str:
    """The same event marked ``"replay": true`` (splices into the JSON object's end)."""
    return text[:-1] + ',"replay":true}'


class Hub:
    def __init__(
        self,
        *,
        retain: int = 1000,
        queue_size: int = 256,
        heartbeat_s: float = 15.0,
        metrics: Metrics | None = None,
    ) -> None:
        self.retain = retain
        self.queue_size = queue_size
        self.heartbeat_s = heartbeat_s
        self.metrics = metrics
        self.channels: dict[str, Channel] = {}
        self.backed_up: set[DirectSubscription] = set()
        self.closing = False

    def channel(self, game: str) -> Channel:
        ch = self.channels.get(game)
        if ch is None:
            ch = self.channels[game] = Channel(deque(maxlen=self.retain or None))
        return ch

    def warm(self, game: str, encoded: Iterable[bytes]) -> None:
        """Fill the replay buffer from the store's log tail after a restart."""
        ch = self.channel(game)
        for body in encoded:
            msg = orjson.loads(body)
            ch.retained.append(Item(int(msg["seq"]), str(msg["type"]), body.decode()))
            ch.last_seq = max(ch.last_seq, int(msg["seq"]))

    def _add(self, sub: Subscription) -> None:
        self.channel(sub.game).subscribers.add(sub)
        if self.metrics is not None:
            self.metrics.clients.inc()

    def subscribe(
        self, game: str, types: Iterable[str] | None = None, *, writer: DirectWriter | None = None
    ) -> Subscription:
        """A direct subscription when the connection has a writer, else a queued one."""
        sub: Subscription
        if writer is not None:
            sub = DirectSubscription(game, types, writer, self.queue_size, self)
        else:
            sub = QueuedSubscription(game, types, self.queue_size)
        self._add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        ch = self.channels.get(sub.game)
        if ch is not None and sub in ch.subscribers:
            ch.subscribers.discard(sub)
            if self.metrics is not None:
                self.metrics.clients.dec()
        if isinstance(sub, DirectSubscription):
            self.backed_up.discard(sub)
            sub.parked = None
        elif isinstance(sub, QueuedSubscription):
            sub.send.close()
            sub.receive.close()

    def replay(self, game: str, since: int) -> tuple[list[Item], bool]:
        """Retained events with seq > since, and whether some were no longer retained (gap)."""
        ch = self.channel(game)
        items = [i for i in ch.retained if i.seq is not None and i.seq > since]
        oldest = ch.retained[0].seq if ch.retained else ch.last_seq + 1
        assert oldest is not None
        # A client ahead of the server (its since is from before a store reset) has a gap too:
        # what it holds is not this log, and it must take the state as it is now.
        gap = (since < ch.last_seq and since + 1 < oldest) or since > ch.last_seq
        return items, gap

    def publish(self, game: str, events: Sequence[Event], encoded: Sequence[bytes]) -> None:
        """Hand each event to every subscriber that wants it; never blocks."""
        started = time.perf_counter()
        now = time.monotonic()
        delivered = 0
        ch = self.channel(game)
        for event, body in zip(events, encoded, strict=True):
            type_ = event.type
            item = Item(event.seq, type_, body.decode())
            ch.retained.append(item)
            ch.last_seq = event.seq
            if self.metrics is not None:
                self.metrics.events.labels(type_).inc()
            frame = text_frame(body)
            dropped: list[Subscription] = []
            for sub in ch.subscribers:
                if sub.types is not None and type_ not in sub.types:
                    continue
                if sub.deliver(item, frame, now):
                    delivered += 1
                else:
                    dropped.append(sub)
            for sub in dropped:
                self._drop(ch, sub, CLOSE_TRY_AGAIN, "too slow: resume with since")
        if self.metrics is not None:
            self.metrics.fanout_seconds.observe(time.perf_counter() - started)
            self.metrics.deliveries.inc(delivered)

    def _drop(self, ch: Channel, sub: Subscription, code: int, reason: str) -> None:
        if sub in ch.subscribers:
            ch.subscribers.discard(sub)
            if self.metrics is not None:
                self.metrics.clients.dec()
        sub.close(code, reason)
        if code == CLOSE_TRY_AGAIN:
            log.info(
                "game %s: closing a client that fell %d messages behind", sub.game, self.queue_size
            )
            if self.metrics is not None:
                self.metrics.dropped.inc()

    def close_all(self, code: int = CLOSE_GOING_AWAY, reason: str = "server shutting down") -> None:
        """Ask every subscriber to leave (shutdown): each connection closes with ``code``."""
        self.closing = True
        for ch in self.channels.values():
            for sub in list(ch.subscribers):
                self._drop(ch, sub, code, reason)

    async def sweep(self) -> None:
        """The hub's one timer: flush parked frames as sockets drain, heartbeat idle clients.

        One task for all clients instead of a timer per connection keeps an idle overlay cheap.
        """
        beat = min(1.0, self.heartbeat_s / 3)
        next_beat = time.monotonic() + beat
        while True:
            await anyio.sleep(FLUSH_TICK_S if self.backed_up else beat)
            now = time.monotonic()
            for sub in list(self.backed_up):
                sub.flush(now)
            if now >= next_beat:
                next_beat = now + beat
                self._heartbeats(now)

    def _heartbeats(self, now: float) -> None:
        for ch in self.channels.values():
            frame: bytes | None = None
            for sub in ch.subscribers:
                if (
                    isinstance(sub, DirectSubscription)
                    and sub.ready
                    and now - sub.last_sent >= self.heartbeat_s
                    and not sub.parked
                    and sub.writer.writable()
                ):
                    if frame is None:
                        frame = text_frame(b'{"type":"heartbeat","seq":%d}' % ch.last_seq)
                    sub.writer.write(frame)
                    sub.last_sent = now
