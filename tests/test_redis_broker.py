"""The Redis broker on a real redis-server (127.0.0.1:6379, which .ci/run starts), each test
under a key prefix of its own: the commit script's guarantees, and two processes' games on one
Redis (two ``Game`` objects on two brokers) racing for the same game.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import redis

from server.config import Settings
from server.core.events import Event
from server.core.shots import parse_payload
from server.core.tracker import GameState
from server.live.broker import BROKER_UNAVAILABLE, BrokerUnavailable, Commit, Conflict, NotLeader
from server.live.ledger import Game
from server.live.redis_broker import Change, RedisBroker
from server.live.store import AuditRow
from tests.server_fixtures import REDIS_URL, drop_prefix, free_port
from tests.test_store import seed_doc, with_shot

pytestmark = pytest.mark.anyio

GAME = "EVT"


@pytest.fixture
async def broker() -> AsyncIterator[RedisBroker]:
    prefix = f"test-broker-{uuid.uuid4().hex[:10]}"
    b = RedisBroker(REDIS_URL, prefix=prefix, retain=5)
    try:
        yield b
    finally:
        await b.aclose()
        drop_prefix(prefix)


def ev(seq: int, type_: str = "graphic", **data: Any) -> Event:
    return Event(seq, type_, GAME, 1_700_000_000_000 + seq, dict(data))


def commit(version: int, first: int, n: int, **kw: Any) -> Commit:
    events = [ev(first + i, name=f"g{first + i}") for i in range(n)]
    state = GameState(GAME, seq=first + n - 1)
    return Commit(version, state, events, [e.encode() for e in events], **kw)


async def test_a_commit_appends_its_events_with_their_seq_as_the_stream_id(
    broker: RedisBroker,
) -> None:
    c = commit(0, 1, 3)
    await broker.commit(GAME, c)
    assert await broker.events_since(GAME, 0, 100) == list(c.encoded)
    assert await broker.events_since(GAME, 2, 100) == list(c.encoded[2:])
    loaded = await broker.load_game(GAME)
    assert (loaded.version, loaded.game.seq) == (1, 3)
    with redis.Redis.from_url(REDIS_URL) as r:
        ids = [i for i, _ in r.xrange(broker.key(GAME, "events"))]
    assert ids == [b"1-0", b"2-0", b"3-0"]


async def test_the_stream_keeps_only_the_newest_retain_events(broker: RedisBroker) -> None:
    for version, first in enumerate(range(1, 13, 3)):  # 12 events, retain 5
        await broker.commit(GAME, commit(version, first, 3))
    tail = [orjson.loads(b)["seq"] for b in await broker.events_tail(GAME, 100)]
    assert tail == [8, 9, 10, 11, 12]
    since = [orjson.loads(b)["seq"] for b in await broker.events_since(GAME, 0, 100)]
    assert since == tail  # older ones are gone: a resume from before them has a gap


async def test_two_writers_on_one_version_the_second_conflicts_and_writes_nothing(
    broker: RedisBroker,
) -> None:
    await broker.commit(GAME, commit(0, 1, 1))
    await broker.commit(GAME, commit(1, 2, 1))  # one process
    with pytest.raises(Conflict) as caught:
        await broker.commit(GAME, commit(1, 2, 1))  # another, built on the same version
    assert caught.value.version == 2
    assert len(await broker.events_since(GAME, 0, 100)) == 2
    assert (await broker.load_game(GAME)).version == 2


async def test_a_poller_commit_without_the_lead_is_refused(broker: RedisBroker) -> None:
    assert await broker.try_lead(GAME, "a", 5000)
    assert not await broker.try_lead(GAME, "b", 5000)
    with pytest.raises(NotLeader):
        await broker.commit(GAME, commit(0, 1, 1, fence="b"))
    assert await broker.events_since(GAME, 0, 100) == []
    await broker.commit(GAME, commit(0, 1, 1, fence="a"))
    # renew and release only by the holder
    assert not await broker.renew(GAME, "b", 5000)
    assert await broker.renew(GAME, "a", 5000)
    await broker.release(GAME, "b")
    assert await broker.leader(GAME) == "a"
    await broker.release(GAME, "a")
    assert await broker.leader(GAME) is None
    # an operator's commit carries no fence: it needs no lead
    await broker.commit(GAME, commit(1, 2, 1))


async def test_the_change_feed_carries_events_state_and_config(broker: RedisBroker) -> None:
    cursor = await broker.changes_cursor()
    audit = AuditRow(5, "operator", "graphic show x", None, {"a": 1})
    c = commit(0, 1, 2, audit=audit)
    await broker.commit(GAME, c)
    await broker.set_following("OTHER", True)
    got = await broker.read_changes(cursor, block_ms=100)
    changes = [change for _, change in got]
    assert changes[0].game == GAME and changes[0].version == 1 and changes[0].seq == 2
    assert changes[0].events == tuple(c.encoded)
    assert orjson.loads(changes[0].state or b"{}")["seq"] == 2
    assert changes[1] == Change("OTHER", follow=True)
    assert await broker.followed_games() == ["OTHER"]
    assert (await broker.audit(GAME, 10))[0]["action"] == "graphic show x"
    # nothing more: the reader waits its block time and gets nothing
    assert await broker.read_changes(got[-1][0], block_ms=50) == []


async def test_only_the_operator_types_go_to_the_folded_log(broker: RedisBroker) -> None:
    events = [ev(1, "shot", key="k"), ev(2, "graphic", action="show"), ev(3, "hold", held=True)]
    state = GameState(GAME, seq=3)
    await broker.commit(GAME, Commit(0, state, events, [e.encode() for e in events]))
    types = [orjson.loads(b)["type"] for b in await broker.operator_events(GAME, ("graphic",))]
    assert types == ["graphic"]
    every = await broker.operator_events(GAME, ("hold", "graphic", "override", "suggestion"))
    assert [orjson.loads(b)["type"] for b in every] == ["graphic", "hold"]


async def test_a_restore_only_ever_moves_a_game_forward(broker: RedisBroker) -> None:
    for v in range(3):
        await broker.commit(GAME, commit(v, v + 1, 1))
    old = GameState(GAME, seq=2)
    assert await broker.restore(GAME, 2, old, (await broker.load_game(GAME)).game.config) == 3
    assert (await broker.load_game(GAME)).game.seq == 3  # untouched
    newer = GameState(GAME, seq=9)
    ops = [ev(4, "graphic", action="show").encode(), ev(8, "hold", held=True).encode()]
    config = (await broker.load_game(GAME)).game.config
    assert await broker.restore(GAME, 7, newer, config, ops) == 7
    loaded = await broker.load_game(GAME)
    assert (loaded.version, loaded.game.seq) == (7, 9)
    assert GAME in await broker.followed_games()
    # the operator log comes back with it: a process loading the game folds the same on-air
    assert await broker.operator_events(GAME, ("graphic", "hold")) == ops


async def test_an_unreachable_redis_is_broker_unavailable_and_says_so() -> None:
    port = free_port()  # nothing listens there
    b = RedisBroker(f"redis://user:hunter2@127.0.0.1:{port}/0", timeout=0.5)
    try:
        assert b.health.ok
        with pytest.raises(BrokerUnavailable) as caught:
            await b.load_game(GAME)
        assert caught.value.code == BROKER_UNAVAILABLE
        assert not b.health.ok and b.health.since is not None
        assert "hunter2" not in (b.health.message or "")  # the message is public
    finally:
        await b.aclose()


# -- two processes' copies of one game ----------------------------------------------------------


async def test_a_poll_racing_an_operator_action_in_another_process_keeps_one_order(
    broker: RedisBroker,
) -> None:
    """Process W (a web process) fires a graphic while process P (the poll leader) still holds
    the version before it: P's commit conflicts, P catches up (publishing W's event to its own
    clients first), then commits its poll's events after it. W learns of P's commit from the
    change feed and publishes it: both sides publish the same log, in the same order."""
    other = RedisBroker(REDIS_URL, prefix=broker.prefix, retain=100)
    published: dict[str, list[bytes]] = {"W": [], "P": []}

    def collect(name: str) -> Any:
        def publish(game: str, events: Any, encoded: Any) -> None:
            published[name].extend(encoded)

        return publish

    settings = Settings()
    try:
        poll = Game(GAME, broker, settings, publish=collect("P"))
        web = Game(GAME, other, settings, publish=collect("W"))
        await poll.load()
        await web.load()
        seed = parse_payload(orjson.dumps(seed_doc()))
        cursor = await other.changes_cursor()
        await poll.apply_poll(seed)  # first sight: silent, but a commit (version 1)
        for entry_id, change in await other.read_changes(cursor, block_ms=100):
            cursor = entry_id
            await web.apply_change(
                change.version, change.state, change.shots, change.config, change.events
            )
        assert web.version == poll.version == 1 and web.state.home_score == 11

        shown = await web.append("graphic", {"action": "show", "name": "x", "payload": {}})
        assert shown.seq == 1
        # P has not seen it: its poll's commit is built on version 1 and loses the race
        moved = parse_payload(orjson.dumps(with_shot(seed_doc(), 1663870491879 + 60_000, home=14)))
        detection = await poll.apply_poll(moved)
        assert detection.events[0].seq == 2  # after the operator's, not over it
        assert poll.onair.graphics == {"x": {}}  # folded while catching up
        for _, change in await other.read_changes(cursor, block_ms=100):
            await web.apply_change(
                change.version, change.state, change.shots, change.config, change.events
            )
        assert web.version == poll.version
        assert web.state.home_score == 14
        assert published["W"] == published["P"]
        seqs = [orjson.loads(b)["seq"] for b in published["P"]]
        assert seqs == list(range(1, len(seqs) + 1))
        assert web.splits == poll.splits
    finally:
        await other.aclose()
