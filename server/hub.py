"""Fan-out: one channel per game, each event encoded once, the same bytes to every subscriber.

``publish`` is synchronous and never awaits a socket. For each subscriber it either writes the
event's pre-built WebSocket frame straight to the connection (``server.wire``: the common case,
a client that is keeping up) or drops the event's text into the subscriber's bounded queue,
which its connection task drains through ASGI. A subscriber whose queue is full is cut loose at
once (closed with 1013; it resumes with ``since``), so one slow client never slows the others
and memory never grows without bound: the pattern the websockets library's broadcast docs
recommend, without a coroutine wake-up per client per event.

Each channel also retains the last N events for replay to reconnecting clients.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import anyio
import orjson
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from server.events import Event
from server.metrics import Metrics
from server.wire import DirectWriter, text_frame

log = logging.getLogger("shotfeed.hub")

# Close codes a subscriber can be told to leave with.
CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN = 1013


@dataclass(frozen=True, slots=True)
class Item:
    """One message for one subscriber; ``seq`` None for control replies (pong, errors)."""

    seq: int | None
    type: str
    text: str


@dataclass(eq=False)
class Subscription:
    """One client of one game. ``last`` is the last seq it was given, whichever path took it."""

    game: str
    types: frozenset[str] | None
    send: MemoryObjectSendStream[Item]
    receive: MemoryObjectReceiveStream[Item]
    close_code: int | None = None
    close_reason: str = ""
    direct: DirectWriter | None = None
    backlog: int = 0  # items queued and not yet taken by the connection task
    busy: bool = False  # the connection task is in the middle of an ASGI send
    last: int = 0
    last_sent: float = field(default_factory=time.monotonic)

    def wants(self, type_: str) -> bool:
        return self.types is None or type_ in self.types

    def control(self, text: str) -> None:
        """Queue a reply that is not an event (pong, error); dropped if the client is that slow."""
        with contextlib.suppress(anyio.WouldBlock, anyio.ClosedResourceError):
            self.send.send_nowait(Item(None, "control", text))
            self.backlog += 1


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
        self, *, retain: int = 1000, queue_size: int = 256, metrics: Metrics | None = None
    ) -> None:
        self.retain = retain
        self.queue_size = queue_size
        self.metrics = metrics
        self.channels: dict[str, Channel] = {}
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

    def subscribe(self, game: str, types: Iterable[str] | None = None) -> Subscription:
        send, receive = anyio.create_memory_object_stream[Item](self.queue_size)
        sub = Subscription(game, frozenset(types) if types is not None else None, send, receive)
        self.channel(game).subscribers.add(sub)
        if self.metrics is not None:
            self.metrics.clients.inc()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        ch = self.channels.get(sub.game)
        if ch is not None and sub in ch.subscribers:
            ch.subscribers.discard(sub)
            if self.metrics is not None:
                self.metrics.clients.dec()
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
        direct_n = queued_n = 0
        ch = self.channel(game)
        for event, body in zip(events, encoded, strict=True):
            seq, type_ = event.seq, event.type
            item = Item(seq, type_, body.decode())
            ch.retained.append(item)
            ch.last_seq = seq
            if self.metrics is not None:
                self.metrics.events.labels(type_).inc()
            frame: bytes | None = None
            for sub in list(ch.subscribers):
                if sub.types is not None and type_ not in sub.types:
                    continue
                direct = sub.direct
                if direct is not None and not sub.backlog and not sub.busy and direct.writable():
                    if frame is None:
                        frame = text_frame(body)
                    direct.write(frame)
                    sub.last = seq
                    sub.last_sent = now
                    direct_n += 1
                    continue
                try:
                    sub.send.send_nowait(item)
                    sub.backlog += 1
                    queued_n += 1
                except anyio.WouldBlock:
                    self._drop(ch, sub, CLOSE_TRY_AGAIN, "too slow: resume with since")
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    ch.subscribers.discard(sub)
        if self.metrics is not None:
            self.metrics.fanout_seconds.observe(time.perf_counter() - started)
            self.metrics.deliveries.labels("direct").inc(direct_n)
            self.metrics.deliveries.labels("queued").inc(queued_n)

    def _drop(self, ch: Channel, sub: Subscription, code: int, reason: str) -> None:
        sub.close_code = code
        sub.close_reason = reason
        sub.direct = None
        ch.subscribers.discard(sub)
        sub.send.close()
        if code == CLOSE_TRY_AGAIN:
            log.info(
                "game %s: closing a client that fell %d messages behind", sub.game, self.queue_size
            )
            if self.metrics is not None:
                self.metrics.dropped.inc()
        if self.metrics is not None:
            self.metrics.clients.dec()

    def close_all(self, code: int = CLOSE_GOING_AWAY, reason: str = "server shutting down") -> None:
        """Ask every subscriber to leave (shutdown): each connection closes with ``code``."""
        self.closing = True
        for ch in self.channels.values():
            for sub in list(ch.subscribers):
                self._drop(ch, sub, code, reason)
