"""Fan-out: one channel per game, each event encoded once, the same text to every subscriber.

``publish`` is synchronous and never awaits a socket: it drops the event's text into each
subscriber's bounded queue (``send_nowait``). A subscriber whose queue is full is cut loose at
once (its connection is closed with 1013 and it resumes later with ``since``), so one slow
client never slows the others and memory never grows without bound. This is the pattern the
websockets library's broadcast docs recommend.

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
    game: str
    types: frozenset[str] | None
    send: MemoryObjectSendStream[Item]
    receive: MemoryObjectReceiveStream[Item]
    close_code: int | None = None
    close_reason: str = ""

    def wants(self, type_: str) -> bool:
        return self.types is None or type_ in self.types

    def control(self, text: str) -> None:
        """Queue a reply that is not an event (pong, error); dropped if the client is that slow."""
        with contextlib.suppress(anyio.WouldBlock, anyio.ClosedResourceError):
            self.send.send_nowait(Item(None, "control", text))


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
        ch = self.channel(game)
        for event, body in zip(events, encoded, strict=True):
            item = Item(event.seq, event.type, body.decode())
            ch.retained.append(item)
            ch.last_seq = event.seq
            if self.metrics is not None:
                self.metrics.events.labels(event.type).inc()
            for sub in list(ch.subscribers):
                if not sub.wants(event.type):
                    continue
                try:
                    sub.send.send_nowait(item)
                except anyio.WouldBlock:
                    self._drop(ch, sub, CLOSE_TRY_AGAIN, "too slow: resume with since")
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    ch.subscribers.discard(sub)
        if self.metrics is not None:
            self.metrics.fanout_seconds.observe(time.perf_counter() - started)

    def _drop(self, ch: Channel, sub: Subscription, code: int, reason: str) -> None:
        sub.close_code = code
        sub.close_reason = reason
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
