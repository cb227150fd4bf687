"""The pure fan-out channel (``server.core.channel``) with data alone: no socket, loop or clock.

A test plays the shell: it calls the channel with bytes, client frames and a fake ``now``, and
carries out the returned :class:`Fanout` on a :class:`Client` that records what reached it and
whose socket is writable or not as the test says. That is the whole contract the real shell
(``server.web.hub``) follows, so every guarantee of the feed is checked here: retention,
replay and gap, type filters, client ops, what races the hello, the cut at exactly the limit,
heartbeat timing, shutdown, and one random-schedule property over all of it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.core.channel import (
    CLOSE_GOING_AWAY,
    CLOSE_TOO_BIG,
    CLOSE_TRY_AGAIN,
    MAX_CLIENT_FRAME,
    Channel,
    Fanout,
    Item,
    Message,
    Subscriber,
    parse_types,
    text_frame,
    with_replay,
)
from server.core.events import PROTOCOL_VERSION

SKIP = ("hello", "heartbeat")


@dataclass(eq=False)
class Client:
    """What one connection received (as text), and whether its socket takes more right now."""

    writable: bool = True
    got: list[str] = field(default_factory=list)
    frames: list[bytes] = field(default_factory=list)
    wakes: int = 0

    def seqs(self) -> list[int]:
        """The events received (hello, heartbeats and replies left out)."""
        return [m["seq"] for m in self.messages() if "seq" in m and m["type"] not in SKIP]

    def messages(self) -> list[dict[str, Any]]:
        return [orjson.loads(t) for t in self.got]


Sub = Subscriber[Client]


def channel(*, retain: int = 100, limit: int = 8, heartbeat_s: float = 15.0) -> Channel[Client]:
    return Channel("G", retain=retain, limit=limit, heartbeat_s=heartbeat_s)


def body(seq: int, type_: str = "graphic", **data: Any) -> bytes:
    return orjson.dumps({"seq": seq, "type": type_, "game": "G", "at": 0, "data": data})


def state(seq: int) -> dict[str, Any]:
    return {"seq": seq, "home": {"score": 1}}


def apply(ch: Channel[Client], out: Fanout[Client]) -> Fanout[Client]:
    """The shell's part, as ``server.web.hub.Hub._apply`` does it."""
    for sub in out.writes:
        assert out.message is not None
        if sub.conn.writable:
            sub.conn.got.append(out.message.text)
            sub.conn.frames.append(out.message.frame)
        else:
            ch.back_up(sub, out.message)
    for sub in out.woken:
        sub.conn.wakes += 1
    return out


def flush(ch: Channel[Client], sub: Sub, now: float = 0.0) -> None:
    """Drain parked messages while the client's socket takes them (the sweeper, a queued task)."""
    while sub.conn.writable or not sub.direct:
        msg = ch.take(sub, now)
        if msg is None:
            return
        sub.conn.got.append(msg.text)


def join(
    ch: Channel[Client],
    *,
    since: int | None = None,
    types: frozenset[str] | None = None,
    direct: bool = True,
    state_seq: int | None = None,
    now: float = 0.0,
) -> Sub:
    """Subscribe, greet with the state at ``state_seq`` (default: the channel's), start."""
    sub = ch.subscribe(Client(), types, direct=direct, now=now)
    greeting = ch.greet(sub, state(ch.last_seq if state_seq is None else state_seq), since)
    sub.conn.got += greeting.texts
    ch.start(sub, greeting.last, now)
    flush(ch, sub, now)
    return sub


def publish(ch: Channel[Client], seq: int, type_: str = "graphic", now: float = 0.0) -> Fanout:
    return apply(ch, ch.publish(seq, type_, body(seq, type_), now))


# -- framing and helpers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "header"),
    [
        (0, bytes((0x81, 0))),
        (125, bytes((0x81, 125))),
        (126, struct.pack("!BBH", 0x81, 126, 126)),
        (65535, struct.pack("!BBH", 0x81, 126, 65535)),
        (65536, struct.pack("!BBQ", 0x81, 127, 65536)),
    ],
)
def test_text_frame_header_by_length(size: int, header: bytes) -> None:
    """RFC 6455 5.2: final text frame, unmasked, 7/16/64-bit length at the boundaries."""
    payload = b"x" * size
    assert text_frame(payload) == header + payload


def test_with_replay_marks_the_event() -> None:
    text = body(3).decode()
    assert orjson.loads(with_replay(text)) == {**orjson.loads(text), "replay": True}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("", None),
        ("shot, made_three", frozenset({"shot", "made_three"})),
        (["hold"], frozenset({"hold"})),
        (" , ", None),
    ],
)
def test_parse_types(raw: Any, expected: frozenset[str] | None) -> None:
    assert parse_types(raw) == expected


@pytest.mark.parametrize("raw", ["shot,dunk", [1, 2], {"a": 1}, 3])
def test_parse_types_refuses(raw: Any) -> None:
    with pytest.raises(ValueError):
        parse_types(raw)


def test_limits_below_one_are_refused() -> None:
    """0 would read as "no limit" to a deque: a setting of 0 must never reach the channel."""
    with pytest.raises(ValueError):
        channel(retain=0)
    with pytest.raises(ValueError):
        channel(limit=0)


# -- retention and replay ---------------------------------------------------------------------


def test_retention_keeps_the_last_n() -> None:
    ch = channel(retain=3)
    for seq in range(1, 6):
        publish(ch, seq)
    assert [i.seq for i in ch.retained] == [3, 4, 5]
    assert ch.last_seq == 5


def test_warm_fills_the_log_as_published_would() -> None:
    ch = channel(retain=2)
    ch.warm([Item(s, "graphic", body(s).decode()) for s in (4, 5, 6)])
    assert [i.seq for i in ch.retained] == [5, 6]
    assert ch.last_seq == 6
    assert ch.replay(4) == (list(ch.retained), False)


def test_hello_without_since_then_live_only() -> None:
    ch = channel()
    for seq in (1, 2):
        publish(ch, seq)
    sub = join(ch)
    hello = sub.conn.messages()[0]
    assert hello == {
        "type": "hello",
        "protocol": PROTOCOL_VERSION,
        "game": "G",
        "seq": 2,
        "state": state(2),
        "gap": False,
    }
    assert len(sub.conn.got) == 1  # no replay without since
    publish(ch, 3)
    assert sub.conn.seqs() == [3]
    assert "replay" not in sub.conn.messages()[-1]


def test_replay_since_each_retained_event_once_marked() -> None:
    ch = channel()
    for seq in range(1, 6):
        publish(ch, seq)
    sub = join(ch, since=2)
    msgs = sub.conn.messages()
    assert msgs[0]["gap"] is False
    assert [(m["seq"], m["replay"]) for m in msgs[1:]] == [(3, True), (4, True), (5, True)]
    publish(ch, 6)
    assert sub.conn.seqs() == [3, 4, 5, 6]
    assert "replay" not in sub.conn.messages()[-1]


@pytest.mark.parametrize(
    ("since", "gap", "replayed"),
    [
        (0, True, [8, 9, 10]),  # 1..7 fell out of retention
        (6, True, [8, 9, 10]),  # 7 is missing
        (7, False, [8, 9, 10]),  # exactly the retained window
        (9, False, [10]),
        (10, False, []),  # up to date
        (11, True, []),  # ahead of the log (a store reset): resync from state
        (50, True, []),
    ],
)
def test_gap(since: int, gap: bool, replayed: list[int]) -> None:
    ch = channel(retain=3)
    for seq in range(1, 11):
        publish(ch, seq)
    items, got_gap = ch.replay(since)
    assert [i.seq for i in items] == replayed
    assert got_gap is gap
    sub = join(ch, since=since)
    assert sub.conn.messages()[0]["gap"] is gap
    assert sub.conn.seqs() == replayed


def test_empty_log_has_no_gap_at_zero() -> None:
    ch = channel()
    assert ch.replay(0) == ([], False)
    assert ch.replay(1) == ([], True)


# -- type filters and client ops --------------------------------------------------------------


def test_types_filter_live_and_replay() -> None:
    ch = channel()
    publish(ch, 1, "graphic")
    publish(ch, 2, "hold")
    sub = join(ch, since=0, types=frozenset({"hold", "config"}))
    assert [(m["seq"], m["type"]) for m in sub.conn.messages()[1:]] == [(2, "hold")]
    out = publish(ch, 3, "graphic")
    assert sub not in out.writes
    publish(ch, 4, "config")
    assert sub.conn.seqs() == [2, 4]


def ops(ch: Channel[Client], sub: Sub, text: str) -> dict[str, Any]:
    """Send one client frame; the one reply it got."""
    before = len(sub.conn.got)
    apply(ch, ch.receive(sub, text, None, 0.0))
    assert len(sub.conn.got) == before + 1
    reply: dict[str, Any] = orjson.loads(sub.conn.got[-1])
    return reply


def test_ping_and_subscribe_ops() -> None:
    ch = channel()
    sub = join(ch)
    assert ops(ch, sub, '{"op": "ping"}') == {"type": "pong"}
    assert ops(ch, sub, '{"op": "subscribe", "types": ["hold"]}') == {
        "type": "subscribed",
        "types": ["hold"],
    }
    publish(ch, 1, "graphic")
    publish(ch, 2, "hold")
    assert sub.conn.seqs() == [2]
    err = ops(ch, sub, '{"op": "subscribe", "types": ["hold", "dunk"]}')
    assert err["type"] == "error" and "dunk" in err["message"]
    assert sub.types == frozenset({"hold"})  # a refused filter leaves the old one
    assert ops(ch, sub, '{"op": "subscribe"}') == {"type": "subscribed", "types": None}
    publish(ch, 3, "graphic")
    assert sub.conn.seqs() == [2, 3]


@pytest.mark.parametrize(
    "text", ["garbage {", '{"op": "dance"}', "[1, 2]", '"ping"', "{}", '{"op": 3}']
)
def test_bad_client_text_gets_an_error_and_stays(text: str) -> None:
    ch = channel()
    sub = join(ch)
    err = ops(ch, sub, text)
    assert err["type"] == "error" and err["message"]
    assert sub in ch.subscribers and not sub.closing


def test_binary_frames_get_an_error() -> None:
    ch = channel()
    sub = join(ch)
    apply(ch, ch.receive(sub, None, b"\x00\x01", 0.0))
    assert sub.conn.messages()[-1]["type"] == "error"
    assert not sub.closing


@pytest.mark.parametrize(
    ("text", "data"), [("x" * (MAX_CLIENT_FRAME + 1), None), (None, b"\0" * (MAX_CLIENT_FRAME + 1))]
)
def test_frame_over_64k_closes_1009(text: str | None, data: bytes | None) -> None:
    ch = channel()
    sub = join(ch)
    ok = '{"op": "ping", "pad": "' + "x" * (MAX_CLIENT_FRAME - 25) + '"}'
    assert len(ok) == MAX_CLIENT_FRAME  # exactly 64 KiB is fine
    assert ops(ch, sub, ok) == {"type": "pong"}
    out = ch.receive(sub, text, data, 0.0)
    assert out.closed == [sub] and sub.close_code == CLOSE_TOO_BIG
    assert sub not in ch.subscribers
    assert ch.receive(sub, '{"op": "ping"}', None, 0.0) == Fanout()  # nothing after the close


# -- one frame for everyone -------------------------------------------------------------------


def test_every_live_client_gets_the_same_frame_object() -> None:
    ch = channel()
    subs = [join(ch) for _ in range(5)]
    out = publish(ch, 1)
    assert out.writes == subs and out.delivered == 5
    assert out.message is not None and out.message.frame == text_frame(body(1))
    assert all(s.conn.frames[0] is out.message.frame for s in subs)


# -- what races the hello ---------------------------------------------------------------------


def test_events_racing_the_hello_are_parked_and_deduplicated() -> None:
    """Events published between subscribe and start wait; those the greeting covered drop."""
    ch = channel()
    publish(ch, 1)
    sub = ch.subscribe(Client(), None, direct=True, now=0.0)
    for seq in (2, 3, 4):  # race: published after subscribing, before the hello is out
        out = publish(ch, seq)
        assert out.writes == [] and out.delivered == 1
    greeting = ch.greet(sub, state(3), since=0)  # the state read saw up to 3; the log has 4
    assert greeting.last == 4
    publish(ch, 5)  # still before start
    sub.conn.got += greeting.texts
    assert sub.conn.got[0].startswith('{"type":"hello"')
    ch.start(sub, greeting.last, 0.0)
    assert sub in ch.backed_up and not sub.live
    flush(ch, sub)
    assert sub.live and sub not in ch.backed_up
    assert sub.conn.seqs() == [1, 2, 3, 4, 5]
    assert [m.get("replay", False) for m in sub.conn.messages()[1:]] == [True] * 4 + [False]
    publish(ch, 6)
    assert sub.conn.seqs() == [1, 2, 3, 4, 5, 6]


def test_parked_events_covered_by_the_state_are_skipped_without_since() -> None:
    ch = channel()
    sub = ch.subscribe(Client(), None, direct=False, now=0.0)
    for seq in (1, 2, 3):
        out = publish(ch, seq)
        assert out.woken == []  # its task is still sending the hello
    greeting = ch.greet(sub, state(2), None)
    sub.conn.got += greeting.texts
    ch.start(sub, greeting.last, 0.0)
    flush(ch, sub)
    assert sub.conn.seqs() == [3]


def test_queued_subscriber_is_never_live() -> None:
    ch = channel()
    sub = join(ch, direct=False)
    out = publish(ch, 1)
    assert out.writes == [] and out.woken == [sub] and sub.conn.wakes == 1
    flush(ch, sub)
    assert sub.conn.seqs() == [1] and not sub.live


# -- a backed-up socket and the cut -----------------------------------------------------------


def test_backed_up_socket_parks_then_drains_in_order() -> None:
    ch = channel(limit=4)
    sub = join(ch)
    sub.conn.writable = False
    out = publish(ch, 1)  # live: named in writes; the shell finds the socket full, hands it back
    assert out.writes == [sub] and not sub.live and sub in ch.backed_up
    out = publish(ch, 2)  # parked by the channel itself now
    assert out.writes == [] and out.delivered == 1
    flush(ch, sub)  # the sweeper writes nothing while the socket is full
    assert sub.conn.seqs() == []
    sub.conn.writable = True
    flush(ch, sub)
    assert sub.conn.seqs() == [1, 2]
    assert sub.live and sub not in ch.backed_up and sub.parked is None
    publish(ch, 3)
    assert sub.conn.seqs() == [1, 2, 3]


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "queued"])
def test_cut_at_exactly_the_limit(direct: bool) -> None:
    """``limit`` messages behind is kept; one more closes the client with 1013."""
    ch = channel(limit=3)
    sub = join(ch, direct=direct)
    other = join(ch)
    sub.conn.writable = False
    for seq in (1, 2, 3):
        out = publish(ch, seq)
        assert out.closed == [] and out.dropped == 0
    assert sub.parked is not None and len(sub.parked) == 3
    out = publish(ch, 4)
    assert out.closed == [sub] and out.dropped == 1
    assert sub.close_code == CLOSE_TRY_AGAIN and "since" in sub.close_reason
    assert sub not in ch.subscribers and sub not in ch.backed_up and sub.parked is None
    assert ch.take(sub, 0.0) is None
    publish(ch, 5)
    assert other.conn.seqs() == [1, 2, 3, 4, 5]  # the others never wait for it


def test_replies_to_a_full_client_are_discarded_not_fatal() -> None:
    ch = channel(limit=2)
    sub = join(ch, direct=False)
    publish(ch, 1)
    publish(ch, 2)
    out = ch.receive(sub, '{"op": "ping"}', None, 0.0)
    assert out.closed == [] and not sub.closing
    flush(ch, sub)
    assert sub.conn.seqs() == [1, 2]


# -- heartbeats -------------------------------------------------------------------------------


def test_heartbeat_after_heartbeat_s_of_silence() -> None:
    ch = channel(heartbeat_s=15)
    publish(ch, 1)
    sub = join(ch, now=100.0)
    assert apply(ch, ch.heartbeat(114.9)).writes == []
    out = apply(ch, ch.heartbeat(115.0))
    assert out.writes == [sub]
    assert sub.conn.messages()[-1] == {"type": "heartbeat", "seq": 1}
    assert ch.heartbeat(129.9).writes == []  # counted from the heartbeat itself
    publish(ch, 2, now=125.0)  # any traffic resets the silence
    assert ch.heartbeat(139.9).writes == []
    assert ch.heartbeat(140.0).writes == [sub]


def test_heartbeat_decision_for_both_kinds() -> None:
    ch = channel(heartbeat_s=1)
    direct = join(ch)
    queued = join(ch, direct=False)
    busy = join(ch)
    busy.conn.writable = False
    publish(ch, 1, now=0.5)
    assert busy in ch.backed_up
    flush(ch, queued, now=0.5)
    waiting = ch.subscribe(Client(), None, direct=True, now=0.0)  # hello not out yet
    out = apply(ch, ch.heartbeat(2.0))
    assert out.writes == [direct]  # live direct: written by the shell
    assert out.woken == [queued]  # idle queued: parked, its task woken
    assert busy not in out.writes and waiting not in out.writes  # backed up / not started
    flush(ch, queued, now=2.0)
    assert queued.conn.messages()[-1] == {"type": "heartbeat", "seq": 1}
    assert queued.last_sent == 2.0


def test_heartbeat_message_is_built_once_per_beat() -> None:
    ch = channel(heartbeat_s=1)
    subs = [join(ch) for _ in range(3)]
    out = apply(ch, ch.heartbeat(5.0))
    assert out.writes == subs
    assert len({id(s.conn.frames[-1]) for s in subs}) == 1


# -- leaving ----------------------------------------------------------------------------------


def test_close_all_and_close_once() -> None:
    ch = channel()
    subs = [join(ch), join(ch, direct=False)]
    out = ch.close_all(CLOSE_GOING_AWAY, "server shutting down")
    assert out.closed == subs
    assert all(s.close_code == CLOSE_GOING_AWAY for s in subs)
    assert ch.subscribers == {}
    assert ch.close(subs[0], CLOSE_TRY_AGAIN, "again").closed == []  # once
    assert subs[0].close_code == CLOSE_GOING_AWAY
    assert publish(ch, 1).delivered == 0
    assert ch.heartbeat(100.0).writes == []


def test_unsubscribe_once() -> None:
    ch = channel()
    sub = join(ch)
    assert ch.unsubscribe(sub) is True
    assert ch.unsubscribe(sub) is False
    assert publish(ch, 1).writes == []


def test_messages_other_than_events_are_never_deduplicated() -> None:
    ch = channel()
    sub = join(ch)
    sub.conn.writable = False
    publish(ch, 5)
    apply(ch, ch.reply(sub, '{"type":"pong"}', 0.0))
    sub.conn.writable = True
    flush(ch, sub)
    assert [m["type"] for m in sub.conn.messages()[1:]] == ["graphic", "pong"]
    assert Message.control("{}").seq is None


# -- the property -----------------------------------------------------------------------------

TYPES = ("graphic", "hold", "config")
step = st.one_of(
    st.tuples(st.just("publish"), st.sampled_from(TYPES)),
    st.tuples(st.just("subscribe"), st.booleans(), st.integers(0, 30), st.booleans()),
    st.tuples(st.just("greet")),
    st.tuples(st.just("socket"), st.integers(0, 7), st.booleans()),
    st.tuples(st.just("sweep")),
    st.tuples(st.just("ping"), st.integers(0, 7)),
    # a filter naming every type excludes nothing, but moves the client to another fast group
    st.tuples(st.just("filter"), st.integers(0, 7), st.booleans()),
)


def check_fast_set(ch: Channel[Client]) -> None:
    """``fast`` is exactly the live subscribers, each in the group of its own type filter;
    ``rest`` every other one; no group is empty."""
    fast = {s for s in ch.subscribers if s.live}
    assert set(ch.fast) == fast
    assert set(ch.rest) == set(ch.subscribers) - fast
    for key, group in ch.groups.items():
        assert group.members and group.key == key
        assert all(s.types == key and s.group is group for s in group.members)


@settings(max_examples=400, deadline=None)
@given(st.lists(step, max_size=60))
def test_any_schedule_keeps_every_guarantee(steps: list[tuple[Any, ...]]) -> None:
    """Whatever the interleaving of events, subscribes, greetings (events racing them), slow
    sockets and client pings, each client sees hello first, then seqs strictly increasing with
    no repeat, replay only before live, and every event after what its greeting covered unless
    it was cut with 1013 or told of a gap."""
    ch = channel(retain=10, limit=4)
    seq = 0
    subs: list[Sub] = []
    pending: list[tuple[Sub, int | None]] = []
    covered: dict[int, int] = {}

    def greet() -> None:
        sub, since = pending.pop(0)
        greeting = ch.greet(sub, state(ch.last_seq), since)
        sub.conn.got += greeting.texts
        ch.start(sub, greeting.last, 0.0)
        covered[id(sub)] = since if since is not None else ch.last_seq
        subs.append(sub)

    for kind, *args in steps:
        if kind == "publish":
            seq += 1
            publish(ch, seq, args[0])
        elif kind == "subscribe":
            since = min(args[1], seq) if args[0] else None
            pending.append((ch.subscribe(Client(), None, direct=args[2], now=0.0), since))
        elif kind == "greet" and pending:
            greet()
        elif kind == "socket" and subs:
            subs[args[0] % len(subs)].conn.writable = args[1]
        elif kind == "sweep":
            for sub in list(ch.backed_up) + [s for s in subs if not s.direct]:
                flush(ch, sub)
        elif kind == "ping" and subs:
            sub = subs[args[0] % len(subs)]
            apply(ch, ch.receive(sub, '{"op": "ping"}', None, 0.0))
        elif kind == "filter" and subs:
            sub = subs[args[0] % len(subs)]
            types = list(TYPES) if args[1] else None
            op = orjson.dumps({"op": "subscribe", "types": types}).decode()
            apply(ch, ch.receive(sub, op, None, 0.0))
        check_fast_set(ch)
    while pending:
        greet()
    for sub in subs:
        sub.conn.writable = True
        flush(ch, sub)
        msgs = [m for m in sub.conn.messages() if m["type"] not in ("pong", "subscribed")]
        assert msgs[0]["type"] == "hello"
        seqs = [m["seq"] for m in msgs[1:]]
        assert seqs == sorted(set(seqs)), "strictly increasing, never repeated"
        flags = [m.get("replay", False) for m in msgs[1:]]
        assert flags == sorted(flags, reverse=True), "replay only before live"
        if not sub.closing and not msgs[0]["gap"]:
            assert seqs == list(range(covered[id(sub)] + 1, seq + 1)), "nothing skipped"


def test_identical_type_filters_share_one_set_and_one_group() -> None:
    """A thousand overlays asking for the same types hold one frozenset between them (not a
    KiB each), and land in one fast group; a different filter gets its own."""
    from server.core.events import OVERLAY_TYPES

    overlay = ",".join(OVERLAY_TYPES)
    a = parse_types(overlay)
    b = parse_types(list(reversed(OVERLAY_TYPES)))
    assert a is b and a == frozenset(OVERLAY_TYPES)
    ch: Channel[Client] = Channel("g", retain=10, limit=10, heartbeat_s=15)
    subs = [ch.subscribe(Client(), parse_types(overlay), direct=True, now=0) for _ in range(3)]
    other = ch.subscribe(Client(), parse_types("shot"), direct=True, now=0)
    for sub in [*subs, other]:
        ch.start(sub, 0, now=0)
    assert set(ch.groups) == {a, frozenset({"shot"})}
    assert list(ch.groups[a].members) == subs
    out = ch.publish(1, "stats", b"{}", now=1)  # neither group wants the splits
    assert out.writes == [] and out.groups == []
    out = ch.publish(2, "shot", b"{}", now=1)
    assert [n for _, n in out.groups] == [3, 1] and out.fast == 4
