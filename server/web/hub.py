"""Fan-out shell: carries out what each game's pure :class:`~server.core.channel.Channel` decides.

Every decision (retention, replay and gaps, parking, the 1013 cut, heartbeat due-ness) is made
in ``server.core.channel``, over data. What cannot be pure lives here: the clock, the metrics,
writing frames to direct connections (``server.web.fastpath``), waking queued ones, closing,
and the hub's one sweeper task that drains backed-up sockets and sends heartbeats for every
connection of both kinds.

``publish`` is synchronous and never awaits a socket. A direct connection costs no task, queue
or timer of its own: an idle overlay is a few objects, a delivered event little more than the
send() itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Protocol

import anyio
import orjson

from server.core.channel import (
    CLOSE_GOING_AWAY,
    CLOSE_TRY_AGAIN,
    Channel,
    Fanout,
    Group,
    Item,
    Message,
    Subscriber,
)
from server.core.events import Event
from server.web.fastpath import Batch, DirectWriter
from server.web.metrics import Metrics

log = logging.getLogger("shotfeed.hub")

CLOSE_TIMEOUT_S = 2.0
FLUSH_TICK_S = 0.05
# Below this many fast subscribers the batch's fixed cost is not worth it.
BATCH_MIN = 16


class Conn(Protocol):
    """The shell's handle on one connection, as the hub uses it."""

    def writable(self) -> bool: ...

    def write(self, frame: bytes) -> None: ...

    def try_write(self, frame: bytes) -> bool: ...

    def wake(self) -> None: ...


class QueuedConn:
    """A connection served through ASGI ``send`` by its own task, which the hub wakes."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = anyio.Event()

    def writable(self) -> bool:
        return False  # never live: the channel parks everything for it

    def write(self, frame: bytes) -> None:
        raise RuntimeError("a queued connection is written by its own task")

    def try_write(self, frame: bytes) -> bool:
        return False

    def wake(self) -> None:
        self._event.set()

    async def wait(self) -> None:
        """Until woken; a wake-up that came while the task was busy returns at once."""
        await self._event.wait()
        self._event = anyio.Event()


Sub = Subscriber[Conn]


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
        self.channels: dict[str, Channel[Conn]] = {}
        self.closing = False
        self._kick: anyio.Event | None = None  # wakes the sweeper when a socket backs up
        self._closers: set[asyncio.Task[None]] = set()

    def channel(self, game: str) -> Channel[Conn]:
        ch = self.channels.get(game)
        if ch is None:
            ch = self.channels[game] = Channel(
                game, retain=self.retain, limit=self.queue_size, heartbeat_s=self.heartbeat_s
            )
        return ch

    def warm(self, game: str, encoded: Iterable[bytes]) -> None:
        """Fill the replay buffer from the store's log tail after a restart."""
        items = []
        for body in encoded:
            msg = orjson.loads(body)
            items.append(Item(int(msg["seq"]), str(msg["type"]), body.decode()))
        self.channel(game).warm(items)

    # -- one connection's life ----------------------------------------------------------------

    def subscribe(
        self, game: str, types: frozenset[str] | None, conn: DirectWriter | QueuedConn
    ) -> Sub:
        direct = isinstance(conn, DirectWriter)
        sub = self.channel(game).subscribe(conn, types, direct=direct, now=time.monotonic())
        if self.metrics is not None:
            self.metrics.clients.inc()
            self.metrics.ws_connections.labels("direct" if direct else "queued").inc()
        return sub

    def start(self, ch: Channel[Conn], sub: Sub, last: int) -> None:
        """The greeting is out; a direct connection gets what raced it at once."""
        now = time.monotonic()
        ch.start(sub, last, now)
        if sub.direct:
            self._flush(ch, sub, now)

    def receive(self, ch: Channel[Conn], sub: Sub, text: str | None, data: bytes | None) -> None:
        self._apply(ch, ch.receive(sub, text, data, time.monotonic()))

    def take(self, ch: Channel[Conn], sub: Sub) -> Message | None:
        """The next message for a queued connection's task to send."""
        return ch.take(sub, time.monotonic())

    def unsubscribe(self, ch: Channel[Conn], sub: Sub) -> None:
        if ch.unsubscribe(sub) and self.metrics is not None:
            self.metrics.clients.dec()
        if self.metrics is not None:
            self.metrics.ws_connections.labels("direct" if sub.direct else "queued").dec()

    def close(self, ch: Channel[Conn], sub: Sub, code: int, reason: str) -> None:
        self._apply(ch, ch.close(sub, code, reason))

    def close_all(self, code: int = CLOSE_GOING_AWAY, reason: str = "server shutting down") -> None:
        """Ask every subscriber to leave (shutdown): each connection closes with ``code``."""
        self.closing = True
        for ch in self.channels.values():
            self._apply(ch, ch.close_all(code, reason))

    # -- events -------------------------------------------------------------------------------

    def publish(self, game: str, events: Sequence[Event], encoded: Sequence[bytes]) -> None:
        """Hand each event to every subscriber that wants it; never blocks."""
        started = time.perf_counter()
        now = time.monotonic()
        delivered = 0
        ch = self.channel(game)
        for event, body in zip(events, encoded, strict=True):
            out = ch.publish(event.seq, event.type, body, now)
            self._apply(ch, out)
            delivered += out.delivered
            if self.metrics is not None:
                self.metrics.events.labels(event.type).inc()
        if self.metrics is not None:
            self.metrics.fanout_seconds.observe(time.perf_counter() - started)
            self.metrics.deliveries.inc(delivered)

    def _apply(self, ch: Channel[Conn], out: Fanout[Conn]) -> None:
        """Carry out one decision of the channel."""
        msg = out.message
        if out.writes:
            assert msg is not None
            frame = msg.frame
            writes = out.writes
            if out.fast >= BATCH_MIN:
                writes = self._write_groups(out, frame)
            for sub in writes:  # one call per client while it keeps up
                if not sub.conn.try_write(frame):
                    ch.back_up(sub, msg)
                    if self._kick is not None:
                        self._kick.set()
        for sub in out.woken:
            sub.conn.wake()
        for sub in out.closed:
            self._closed(ch, sub)

    @staticmethod
    def _write_groups(out: Fanout[Conn], frame: bytes) -> list[Sub]:
        """Each fast group big enough in one batch; what is left to write one by one."""
        writes = out.writes
        left: list[Sub] = []
        start = 0
        for group, n in out.groups:
            if n < BATCH_MIN or not Hub._batch(group).write_all(frame):
                left += writes[start : start + n]
            start += n
        if not left:
            return writes[start:] if start < len(writes) else []
        return left + writes[start:]

    @staticmethod
    def _batch(group: Group[Conn]) -> Batch:
        """A fast group as a :class:`Batch`, rebuilt only when its members changed."""
        batch = group.cache
        if not isinstance(batch, Batch) or batch.version != group.version:
            writers = [sub.conn for sub in group.members]
            assert all(isinstance(w, DirectWriter) for w in writers)  # fast implies direct
            batch = Batch(writers, group.version)  # type: ignore[arg-type]
            group.cache = batch
        return batch

    def _closed(self, ch: Channel[Conn], sub: Sub) -> None:
        if self.metrics is not None:
            self.metrics.clients.dec()
        if sub.close_code == CLOSE_TRY_AGAIN:
            log.info("game %s: closing a client that fell %d messages behind", ch.game, ch.limit)
            if self.metrics is not None:
                self.metrics.dropped.inc()
        conn = sub.conn
        if isinstance(conn, DirectWriter):
            task = asyncio.get_running_loop().create_task(
                _close_direct(conn, ch.game, sub.close_code or 1000, sub.close_reason)
            )
            self._closers.add(task)
            task.add_done_callback(self._closers.discard)
        else:
            conn.wake()  # its task sees the close and sends it through ASGI

    # -- the one timer ------------------------------------------------------------------------

    async def sweep(self) -> None:
        """The hub's one task: drain backed-up sockets as they empty, send heartbeats.

        One task for all clients instead of a timer per connection keeps an idle overlay cheap.
        """
        beat = min(1.0, self.heartbeat_s / 3)
        next_beat = time.monotonic() + beat
        while True:
            kick = self._kick = anyio.Event()
            backed_up = any(ch.backed_up for ch in self.channels.values())
            wait = FLUSH_TICK_S if backed_up else max(0.0, next_beat - time.monotonic())
            with anyio.move_on_after(wait):
                await kick.wait()
            if kick.is_set():  # a socket just backed up: give it a tick to drain first
                await anyio.sleep(FLUSH_TICK_S)
            now = time.monotonic()
            for ch in self.channels.values():
                for sub in list(ch.backed_up):
                    self._flush(ch, sub, now)
            if now >= next_beat:
                next_beat = now + beat
                for ch in self.channels.values():
                    self._apply(ch, ch.heartbeat(now))

    def _flush(self, ch: Channel[Conn], sub: Sub, now: float) -> None:
        """Write parked frames one at a time while the socket takes them."""
        conn = sub.conn
        while conn.writable():
            msg = ch.take(sub, now)
            if msg is None:
                return
            conn.write(msg.frame)


async def _close_direct(writer: DirectWriter, game: str, code: int, reason: str) -> None:
    """Close through the server (it owns the close handshake); abort a peer that won't read."""
    try:
        with anyio.fail_after(CLOSE_TIMEOUT_S):
            await writer.close(code, reason[:120])
    except Exception as exc:  # a timeout, or the peer was already gone
        log.debug("closing a client of %s with %d: %r; aborting", game, code, exc)
        writer.abort()
