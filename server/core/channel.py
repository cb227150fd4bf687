"""One game's WebSocket fan-out, sans I/O: who gets which frame, what waits, who is cut loose.

Modelled on the websockets library's sans-I/O ``Protocol``: every method takes data (an event's
bytes, a client's frame, the time ``now``) and returns a decision (a :class:`Fanout`: this frame
to these subscribers, these subscribers to wake, these to close). Nothing here touches a socket,
a task or a clock, so every guarantee of the feed is tested with plain values
(``tests/test_hub.py``), and the shell (``server.web.hub``) only carries out what it is told:

* events reach a client in seq order, never repeated or skipped within its type filter, and
  never interleaved between its replay and live: a subscriber is *parked* from the moment it
  subscribes until its hello and replay are out (:meth:`Channel.start`); what raced the hello
  waits, and is de-duplicated by seq against what the greeting covered;
* an event is encoded and framed once (:class:`Message`); every subscriber that keeps up gets
  the same bytes;
* a client's lag is bounded: ``limit`` parked messages, one more and it is closed with 1013
  (it resumes with ``since``), so one slow client never slows another nor grows memory.

Two kinds of subscriber share all of this. A *direct* one (the server lets us write to its
socket) is *live* while nothing waits for it: publish names it in ``Fanout.writes`` and the shell
writes the frame at once; when its socket backs up the shell hands the frame back
(:meth:`Channel.back_up`) and later drains it with :meth:`Channel.take` as the socket empties.
A *queued* one (any other ASGI server) is never live: everything is parked and its connection's
own task takes messages one at a time; publish names it in ``Fanout.woken``.
"""

from __future__ import annotations

import itertools
import struct
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

import orjson

from server.core.events import EVENT_TYPES, PROTOCOL_VERSION

CLOSE_NORMAL: Final = 1000
CLOSE_GOING_AWAY: Final = 1001
CLOSE_POLICY: Final = 1008
CLOSE_TOO_BIG: Final = 1009
CLOSE_TRY_AGAIN: Final = 1013
MAX_CLIENT_FRAME: Final = 64 * 1024
TOO_SLOW: Final = "too slow: resume with since"
BINARY_REFUSED: Final = "binary frames are not supported; send JSON text"

C = TypeVar("C")


def text_frame(payload: bytes) -> bytes:
    """A final, unmasked text frame (RFC 6455 5.2) carrying ``payload`` (UTF-8 JSON).

    Server-to-client frames are not masked and shotfeed never compresses, so one event's frame
    is the same bytes for every client: built once here, written many times by the shell.
    """
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


def with_replay(text: str) -> str:
    """The same event marked ``"replay": true`` (spliced into the JSON object's end)."""
    return text[:-1] + ',"replay":true}'


def error_text(message: str) -> str:
    return orjson.dumps({"type": "error", "message": message}).decode()


def parse_types(raw: Any) -> frozenset[str] | None:
    """A type filter from a comma list or a JSON list; unknown names are a ValueError."""
    if raw is None or raw == "":
        return None
    names = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise ValueError("types must be a list of event type names")
    cleaned = frozenset(n.strip() for n in names if n.strip())
    unknown = sorted(cleaned - set(EVENT_TYPES))
    if unknown:
        raise ValueError(f"unknown event type(s): {', '.join(unknown)}")
    if not cleaned:
        return None
    # Every overlay asks for the same types: one shared set instead of a ~1 KiB one per
    # connection. Bounded, so a client cycling through subsets cannot grow it without end.
    shared = _FILTERS.get(cleaned)
    if shared is not None:
        return shared
    if len(_FILTERS) < MAX_SHARED_FILTERS:
        _FILTERS[cleaned] = cleaned
    return cleaned


MAX_SHARED_FILTERS: Final = 256
_FILTERS: dict[frozenset[str], frozenset[str]] = {}


@dataclass(frozen=True, slots=True)
class Item:
    """One retained event, kept as text (the frame is rebuilt only for a replay)."""

    seq: int
    type: str
    text: str


class Message:
    """One outgoing message, encoded once: ``text`` for ASGI, ``frame`` for a direct socket.

    ``seq`` is None for messages that are not events (pong, errors, heartbeats): they are
    never de-duplicated nor filtered.
    """

    __slots__ = ("frame", "seq", "text", "type")

    def __init__(self, seq: int | None, type_: str, text: str, frame: bytes) -> None:
        self.seq = seq
        self.type = type_
        self.text = text
        self.frame = frame

    @classmethod
    def control(cls, text: str) -> Message:
        return cls(None, "control", text, text_frame(text.encode()))

    def __repr__(self) -> str:
        return f"Message({self.seq!r}, {self.type!r})"


class Subscriber(Generic[C]):
    """One client of one channel. ``conn`` is the shell's handle; the channel never uses it.

    ``last`` is the highest seq the client has been given through its greeting or
    :meth:`Channel.take`; parked events at or below it are skipped. ``live`` means a direct
    subscriber with its greeting out and nothing parked: frames go straight to its socket.
    """

    # Slots: thousands of these live for hours, one per connected overlay.
    __slots__ = (
        "close_code",
        "close_reason",
        "conn",
        "direct",
        "group",
        "last",
        "last_sent",
        "live",
        "parked",
        "ready",
        "types",
    )

    def __init__(self, conn: C, types: frozenset[str] | None, direct: bool, now: float) -> None:
        self.conn = conn
        self.types = types
        self.direct = direct
        self.last = 0
        self.last_sent = now
        self.ready = False
        self.live = False
        self.parked: deque[Message] | None = None
        self.group: Group[C] | None = None  # the fast group it is in, if live
        self.close_code: int | None = None
        self.close_reason = ""

    def wants(self, type_: str) -> bool:
        return self.types is None or type_ in self.types

    @property
    def closing(self) -> bool:
        return self.close_code is not None

    def __repr__(self) -> str:
        kind = "direct" if self.direct else "queued"
        return f"<Subscriber {kind} last={self.last} live={self.live} closing={self.closing}>"


class Group(Generic[C]):
    """Live direct subscribers that share one type filter (``key``; None: no filter).

    Why groups: a publish hands each group that wants the event to the shell as one block, so
    the shell can write it with no Python per client (``server.web.fastpath.Batch``). Overlays
    all ask for the same on-air types and consoles for everything, so a game has two or three
    groups however many clients it has. ``sent`` is when the group was last sent an event (its
    members' ``last_sent`` for the heartbeat); ``version`` changes with every change of
    ``members``, unique across the channel's groups, so the shell may cache by it (in
    ``cache``, which the core never reads).
    """

    __slots__ = ("cache", "key", "members", "sent", "version")

    def __init__(self, key: frozenset[str] | None, version: int) -> None:
        self.key = key
        self.members: dict[Subscriber[C], None] = {}
        self.sent = 0.0
        self.version = version
        self.cache: object = None

    def wants(self, type_: str) -> bool:
        return self.key is None or type_ in self.key


@dataclass(slots=True)
class Fanout(Generic[C]):
    """What the shell must do: write ``message`` to ``writes``, wake ``woken``, close ``closed``.

    ``writes`` are live direct subscribers; a socket that turns out to be backed up gets the
    message back through :meth:`Channel.back_up`. ``woken`` are queued subscribers that now
    have something parked. ``closed`` are subscribers the channel has let go of (``close_code``
    says with what); ``dropped`` counts those cut for being too slow, ``delivered`` the
    subscribers that got the message (written or parked).
    """

    message: Message | None = None
    writes: list[Subscriber[C]] = field(default_factory=list)
    fast: int = 0  # the first ``fast`` of ``writes`` are the ``groups`` blocks, in order
    groups: list[tuple[Group[C], int]] = field(default_factory=list)  # (group, its count)
    woken: list[Subscriber[C]] = field(default_factory=list)
    closed: list[Subscriber[C]] = field(default_factory=list)
    delivered: int = 0
    dropped: int = 0


@dataclass(frozen=True, slots=True)
class Greeting:
    """The hello and the replay, in order, and the last seq they cover."""

    texts: list[str]
    last: int


class Channel(Generic[C]):
    """One game: the retained log for replay, and every subscriber's place in the stream."""

    def __init__(self, game: str, *, retain: int, limit: int, heartbeat_s: float) -> None:
        if retain < 1 or limit < 1:
            raise ValueError("retain and limit must be >= 1")
        self.game = game
        self.limit = limit
        self.heartbeat_s = heartbeat_s
        self.retained: deque[Item] = deque(maxlen=retain)
        self.last_seq = 0
        # dicts, not sets: insertion order makes every decision reproducible
        self.subscribers: dict[Subscriber[C], None] = {}
        self.backed_up: dict[Subscriber[C], None] = {}
        # The common case, kept apart so publish costs no Python per client for it: live
        # direct subscribers, in one :class:`Group` per type filter (an event that a group
        # wants goes straight to all its sockets). ``rest`` is every other subscriber.
        self.groups: dict[frozenset[str] | None, Group[C]] = {}
        self.rest: dict[Subscriber[C], None] = {}
        self._versions = itertools.count(1)

    @property
    def fast(self) -> dict[Subscriber[C], None]:
        """Every subscriber in a fast group (for tests and the shell's accounting)."""
        out: dict[Subscriber[C], None] = {}
        for group in self.groups.values():
            out.update(group.members)
        return out

    # -- the log ------------------------------------------------------------------------------

    def warm(self, items: Iterable[Item]) -> None:
        """Fill the replay buffer (the store's log tail after a restart)."""
        for item in items:
            self.retained.append(item)
            self.last_seq = max(self.last_seq, item.seq)

    def replay(self, since: int) -> tuple[list[Item], bool]:
        """Retained events with seq > since, and whether some were no longer retained (gap)."""
        items = [i for i in self.retained if i.seq > since]
        oldest = self.retained[0].seq if self.retained else self.last_seq + 1
        # A client ahead of the server (its since is from before a store reset) has a gap too:
        # what it holds is not this log, and it must take the state as it is now.
        gap = (since < self.last_seq and since + 1 < oldest) or since > self.last_seq
        return items, gap

    # -- joining and leaving ------------------------------------------------------------------

    def subscribe(
        self, conn: C, types: frozenset[str] | None, *, direct: bool, now: float
    ) -> Subscriber[C]:
        """A new subscriber, parked until :meth:`start`: subscribe before reading the state."""
        sub = Subscriber(conn, types, direct, now)
        self.subscribers[sub] = None
        self.rest[sub] = None
        return sub

    def _set_live(self, sub: Subscriber[C], live: bool) -> None:
        """``sub.live``, and whether it is in :attr:`fast`, change only here."""
        sub.live = live
        self._place(sub)

    def _place(self, sub: Subscriber[C]) -> None:
        want = sub.live and sub in self.subscribers
        cur = sub.group
        if cur is not None and (not want or cur.key != sub.types):
            del cur.members[sub]
            cur.version = next(self._versions)
            sub.last_sent = max(sub.last_sent, cur.sent)
            sub.group = None
            if not cur.members:
                del self.groups[cur.key]
            if sub in self.subscribers:
                self.rest[sub] = None
        if want and sub.group is None:
            group = self.groups.get(sub.types)
            if group is None:
                group = self.groups[sub.types] = Group(sub.types, next(self._versions))
            self.rest.pop(sub, None)
            group.members[sub] = None
            group.version = next(self._versions)
            sub.last_sent = max(sub.last_sent, group.sent)
            sub.group = group

    def _last_sent(self, sub: Subscriber[C]) -> float:
        group = sub.group
        return max(sub.last_sent, group.sent) if group is not None else sub.last_sent

    def greet(self, sub: Subscriber[C], state: Mapping[str, Any], since: int | None) -> Greeting:
        """The hello (``state`` read after subscribing) and the replay ``since`` asks for."""
        last = int(state["seq"])
        replay: list[Item] = []
        gap = False
        if since is not None:
            replay, gap = self.replay(since)
        hello = {
            "type": "hello",
            "protocol": PROTOCOL_VERSION,
            "game": self.game,
            "seq": last,
            "state": state,
            "gap": gap,
        }
        texts = [orjson.dumps(hello).decode()]
        texts += [with_replay(i.text) for i in replay if sub.wants(i.type)]
        if replay:
            last = max(last, replay[-1].seq)
        return Greeting(texts, last)

    def start(self, sub: Subscriber[C], last: int, now: float) -> None:
        """The greeting covering up to ``last`` is out: what was parked meanwhile may follow."""
        if sub.closing:
            return
        sub.last = max(sub.last, last)
        sub.last_sent = now
        sub.ready = True
        if sub.parked:
            if sub.direct:
                self.backed_up[sub] = None
        else:
            sub.parked = None
            self._set_live(sub, sub.direct)

    def unsubscribe(self, sub: Subscriber[C]) -> bool:
        """Forget a subscriber (its connection ended); True if it was still subscribed."""
        self._set_live(sub, False)
        sub.parked = None
        self.backed_up.pop(sub, None)
        self.rest.pop(sub, None)
        if sub not in self.subscribers:
            return False
        del self.subscribers[sub]
        return True

    def close(self, sub: Subscriber[C], code: int, reason: str) -> Fanout[C]:
        """Let a subscriber go with ``code`` (once): nothing more is written or parked for it."""
        out: Fanout[C] = Fanout()
        if sub.closing:
            return out
        sub.close_code, sub.close_reason = code, reason
        self.unsubscribe(sub)
        out.closed.append(sub)
        if code == CLOSE_TRY_AGAIN:
            out.dropped = 1
        return out

    def close_all(self, code: int, reason: str) -> Fanout[C]:
        out: Fanout[C] = Fanout()
        for sub in list(self.subscribers):
            out.closed += self.close(sub, code, reason).closed
        return out

    # -- messages out -------------------------------------------------------------------------

    def publish(self, seq: int, type_: str, body: bytes, now: float) -> Fanout[C]:
        """Retain one event and decide, for every subscriber that wants it, write or park."""
        text = body.decode()
        self.retained.append(Item(seq, type_, text))
        self.last_seq = seq
        msg = Message(seq, type_, text, text_frame(body))
        out: Fanout[C] = Fanout(msg)
        writes = out.writes
        for group in self.groups.values():
            if group.wants(type_):
                writes.extend(group.members)
                out.groups.append((group, len(group.members)))
                group.sent = now
        out.fast = len(writes)
        slow: list[Subscriber[C]] = []
        parked = 0
        for sub in self.rest:
            types = sub.types
            if types is not None and type_ not in types:
                continue
            if sub.live:
                sub.last_sent = now
                writes.append(sub)
            elif self._park(sub, msg):
                parked += 1
                if not sub.direct and sub.ready:
                    out.woken.append(sub)
            else:
                slow.append(sub)
        out.delivered = len(writes) + parked
        for sub in slow:
            self.close(sub, CLOSE_TRY_AGAIN, TOO_SLOW)
            out.closed.append(sub)
            out.dropped += 1
        return out

    def reply(self, sub: Subscriber[C], text: str, now: float) -> Fanout[C]:
        """A message that is not an event (pong, error); discarded if the client is that slow."""
        msg = Message.control(text)
        out: Fanout[C] = Fanout(msg)
        if sub.closing:
            return out
        if sub.live:
            sub.last_sent = now
            out.writes.append(sub)
        elif self._park(sub, msg) and not sub.direct and sub.ready:
            out.woken.append(sub)
        return out

    def heartbeat(self, now: float) -> Fanout[C]:
        """A heartbeat to every subscriber that has been sent nothing for ``heartbeat_s``.

        One decision for both kinds: a live direct subscriber gets it written, an idle queued
        one gets it parked and is woken. A subscriber with messages waiting is not idle.
        """
        out: Fanout[C] = Fanout()
        for sub in self.subscribers:
            if not sub.ready or sub.parked or now - self._last_sent(sub) < self.heartbeat_s:
                continue
            if out.message is None:
                out.message = Message.control(f'{{"type":"heartbeat","seq":{self.last_seq}}}')
            sub.last_sent = now
            if sub.live:
                out.writes.append(sub)
            elif self._park(sub, out.message):
                out.woken.append(sub)
        return out

    # -- a backed-up socket -------------------------------------------------------------------

    def back_up(self, sub: Subscriber[C], msg: Message) -> None:
        """The shell could not write ``msg`` to a live subscriber: it waits, first in line."""
        if sub.closing:
            return
        self._set_live(sub, False)
        self._park(sub, msg)
        if sub.ready:
            self.backed_up[sub] = None

    def take(self, sub: Subscriber[C], now: float) -> Message | None:
        """The next parked message to write, or None (then a direct subscriber is live again).

        Skips events the greeting already covered and events the filter no longer wants, so a
        client never sees one twice, whatever raced its hello. The shell calls this while its
        socket takes more, one message at a time, so a full socket never grows without bound.
        """
        if not sub.ready or sub.closing:
            return None
        parked = sub.parked
        while parked:
            msg = parked.popleft()
            if msg.seq is not None:
                if msg.seq <= sub.last or not sub.wants(msg.type):
                    continue
                sub.last = msg.seq
            sub.last_sent = now
            return msg
        sub.parked = None
        self.backed_up.pop(sub, None)
        self._set_live(sub, sub.direct)
        return None

    def _park(self, sub: Subscriber[C], msg: Message) -> bool:
        """Keep ``msg`` for later; False when ``limit`` are already waiting."""
        parked = sub.parked
        if parked is None:
            parked = sub.parked = deque()
        elif len(parked) >= self.limit:
            return False
        parked.append(msg)
        return True

    # -- messages in --------------------------------------------------------------------------

    def receive(
        self, sub: Subscriber[C], text: str | None, data: bytes | None, now: float
    ) -> Fanout[C]:
        """One client frame: answer ping and subscribe, an error for anything else, 1009 if big."""
        if sub.closing:
            return Fanout()
        if text is None:
            if len(data or b"") > MAX_CLIENT_FRAME:
                return self.close(sub, CLOSE_TOO_BIG, "frame over 64 KiB")
            return self.reply(sub, error_text(BINARY_REFUSED), now)
        if len(text) > MAX_CLIENT_FRAME:
            return self.close(sub, CLOSE_TOO_BIG, "frame over 64 KiB")
        answer = self._answer(sub, text)
        self._place(sub)  # a subscribe op may have set or cleared its type filter
        return self.reply(sub, answer, now)

    @staticmethod
    def _answer(sub: Subscriber[C], text: str) -> str:
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            return error_text('invalid JSON; send {"op": "ping"} or {"op": "subscribe"}')
        op = msg.get("op") if isinstance(msg, dict) else None
        if op == "ping":
            return '{"type":"pong"}'
        if op == "subscribe":
            try:
                sub.types = parse_types(msg.get("types"))
            except ValueError as exc:
                return error_text(str(exc))
            types = sorted(sub.types) if sub.types is not None else None
            return orjson.dumps({"type": "subscribed", "types": types}).decode()
        return error_text(f"unknown op {str(op)[:40]!r}; known: ping, subscribe")
