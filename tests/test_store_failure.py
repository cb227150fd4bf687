"""A store that cannot be written, on real SQLite: a genuinely full database and a read-only one.

Full: ``PRAGMA max_page_count`` pins the file at its size and filler rows take the room left,
so SQLite itself answers "database or disk is full" (SQLITE_FULL, what a full disk gives).
Read-only: ``PRAGMA query_only`` on the store's connection, or the connection swapped for one
opened ``mode=ro`` (as after a read-only remount); we run as root, so chmod would not stop a write.

What must hold, whatever the cause: nothing that was not committed is published; seq never
moves past the last committed event, and the next committed event takes the next one; the
failure shows in ``Store.health``, the game's feed (``store_unwritable``), ``/healthz`` (503),
``/metrics`` (``shotfeed_store_ok 0``) and the operator routes (503 ``store_unwritable``); and
when the store can be written again everything recovers by itself.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest

from server.config import Settings
from server.core.events import Event
from server.core.roster import GameConfig
from server.core.tracker import GameState
from server.errors import StoreError
from server.live.following import Games
from server.live.ledger import Game
from server.live.store import STORE_UNWRITABLE, Store
from server.web.hub import Hub
from server.web.metrics import Metrics
from tests import browser as shared_browser
from tests.browser import Rig as BrowserRig
from tests.server_fixtures import AUTH, GAME, Feed, recv_until_seq, running_feed
from tests.test_operator_console import keys, open_console, status_ok
from tests.test_poller import T0, error_body, make_rig, seed_doc, with_shot, with_three
from tests.upstream_app import LiveServer, Reply, ScriptedUpstream

pytestmark = pytest.mark.network

MIN_DELAY = 0.05

FULL = "full"
QUERY_ONLY = "query_only"
READ_ONLY_REOPEN = "read_only_reopen"
KINDS = (FULL, QUERY_ONLY, READ_ONLY_REOPEN)
CAUSE = {
    FULL: "database or disk is full",
    QUERY_ONLY: "attempt to write a readonly database",
    READ_ONLY_REOPEN: "attempt to write a readonly database",
}


# -- making a real SQLite store unwritable, and writable again ---------------------------------


def _fill(store: Store) -> None:
    """Genuinely full: no page may be added, and no free page is left.

    What a full disk does to SQLite: a write that needs a new page fails with "database or
    disk is full". The writes the tests make (events of a few KB, like a shot with its whole
    record) need new pages; a row rewritten in place, or a tiny one that fits the room left in
    a page, may still go in, as on a nearly full disk.
    """
    with store._lock:
        db = store._db
        db.execute("CREATE TABLE IF NOT EXISTS test_filler (pad BLOB)")
        pages = int(db.execute("PRAGMA page_count").fetchone()[0])
        db.execute(f"PRAGMA max_page_count = {pages}")
        for size in (4000, 1000, 200, 40):
            while True:
                try:
                    db.execute("INSERT INTO test_filler VALUES (zeroblob(?))", (size,))
                except sqlite3.OperationalError as exc:
                    assert "database or disk is full" in str(exc)
                    break
        assert db.execute("PRAGMA freelist_count").fetchone()[0] == 0


def _unfill(store: Store) -> None:
    with store._lock:
        store._db.execute("PRAGMA max_page_count = 1073741823")


class Breaker:
    """Makes one store unwritable by one of the three means, and undoes it."""

    def __init__(self, store: Store, kind: str) -> None:
        self.store = store
        self.kind = kind
        self._saved: sqlite3.Connection | None = None

    def break_(self) -> None:
        if self.kind == FULL:
            _fill(self.store)
        elif self.kind == QUERY_ONLY:
            with self.store._lock:
                self.store._db.execute("PRAGMA query_only = ON")
        else:
            ro = sqlite3.connect(
                f"file:{self.store.path}?mode=ro",
                uri=True,
                check_same_thread=False,
                isolation_level=None,
            )
            with self.store._lock:
                self._saved, self.store._db = self.store._db, ro

    def mend(self) -> None:
        if self.kind == FULL:
            _unfill(self.store)
        elif self.kind == QUERY_ONLY:
            with self.store._lock:
                self.store._db.execute("PRAGMA query_only = OFF")
        else:
            assert self._saved is not None
            with self.store._lock:
                ro, self.store._db = self.store._db, self._saved
            ro.close()


PAD = "x" * 9000  # more than two pages: a write of it needs new pages


def big(seq: int) -> Event:
    """An operator event of about 9 KB (a graphic with a large payload)."""
    return Event(seq, "graphic", GAME, seq, {"action": "show", "name": "x", "payload": {"p": PAD}})


def big_three() -> dict[str, Any]:
    """The seed plus a made three whose record is a few KB (ShotTracker passes every attribute
    code through): its events need pages a full store does not have."""
    doc = with_three()
    doc["shots"][-1]["attributes"] = [f"CODE{i:04d}" for i in range(700)]
    return doc


def stored(store: Store) -> list[dict[str, Any]]:
    return [orjson.loads(b) for b in store.events_since(GAME, 0, 100_000)]


# -- the store alone -------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "feed.db")
    yield s
    s.close()


@pytest.mark.parametrize("kind", KINDS)
def test_store_health_follows_its_writes(store: Store, kind: str) -> None:
    """A write that cannot commit raises StoreError with SQLite's cause and turns health bad;
    probe() fails while it lasts; once writable, probe() (or any write) turns it good."""
    store.save(GameState(GAME, seq=1, baseline=True), [big(1)])
    assert store.health.ok and store.health.message is None
    breaker = Breaker(store, kind)
    breaker.break_()
    with pytest.raises(StoreError) as info:
        store.save(GameState(GAME, seq=2, baseline=True), [big(2)])
    assert CAUSE[kind] in info.value.message
    assert info.value.code == STORE_UNWRITABLE == "store_unwritable"
    health = store.health
    assert health.ok is False and health.since is not None
    assert health.message is not None and CAUSE[kind] in health.message
    assert not store._db.in_transaction  # nothing left open to block the next BEGIN
    writes: list[Callable[[], None]] = [store.probe]
    if kind != FULL:  # a full store may still take a tiny row or one rewritten in place
        writes += [
            lambda: store.add_audit(GAME, 1, "op", "follow", None, None),
            lambda: store.set_following(GAME, False),
            lambda: store.save_config(GAME, GameConfig()),
        ]
    for write in writes:
        with pytest.raises(StoreError):
            write()
        assert store.health.ok is False
    assert store.health.since == health.since  # still the same outage
    breaker.mend()
    store.probe()
    assert store.health.ok is True and store.health.message is None
    assert [e["seq"] for e in stored(store)] == [1]  # the probe left no trace in the log
    store.save(GameState(GAME, seq=2, baseline=True), [big(2)])
    assert [e["seq"] for e in stored(store)] == [1, 2]
    assert store.load_game(GAME).seq == 2


def test_probe_needs_room_a_rewrite_in_place_does_not(store: Store) -> None:
    """On a full database a row rewritten in place may still commit, so it proves nothing;
    the probe needs new room and fails, as an event insert would."""
    store.save(GameState(GAME, seq=1, baseline=True), [big(1)])
    _fill(store)
    store.set_following(GAME, True)  # same row, same size: SQLite takes it
    assert store.health.ok
    with pytest.raises(StoreError):
        store.probe()
    with pytest.raises(StoreError):
        store.save(GameState(GAME, seq=2, baseline=True), [big(2)])
    _unfill(store)
    store.probe()
    assert store.health.ok


def test_a_bug_is_not_a_broken_disk(store: Store) -> None:
    """A write refused for its content (a reused seq) keeps SQLite's own error and leaves the
    health alone: only the disk or file turn it bad."""
    store.save(GameState(GAME, seq=1, baseline=True), [Event(1, "graphic", GAME, 1)])
    with pytest.raises(sqlite3.IntegrityError):
        store.save(GameState(GAME, seq=1, baseline=True), [Event(1, "graphic", GAME, 1)])
    assert store.health.ok is True


def test_checkpoint_on_an_unwritable_store_does_not_raise(store: Store) -> None:
    """Shutdown checkpoints the WAL; on a read-only store it cannot, and shutdown goes on."""
    breaker = Breaker(store, READ_ONLY_REOPEN)
    breaker.break_()
    store.checkpoint()
    breaker.mend()


# -- a game and its poller over a store that fails -------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_poll_that_cannot_commit_publishes_nothing_and_seq_continues(
    kind: str, upstream: tuple[ScriptedUpstream, LiveServer], tmp_path: Path
) -> None:
    """A poll whose events cannot be committed: nothing published, seq not moved, the game's
    feed says store_unwritable (no feed_status event: it would need the store), and the poll is
    retried with the ordinary backoff. Once the store takes writes, the same events commit with
    the next seqs, stale (they are late), exactly once."""
    app, live = upstream
    with anyio.fail_after(15):
        async with make_rig(tmp_path / "feed.db", live.url, backoff_cap=0.2) as rig:
            app.push(Reply(200, seed_doc()))
            assert (await rig.poller.poll_once()).outcome == "ok"
            seq = rig.game.state.seq
            breaker = Breaker(rig.store, kind)
            breaker.break_()
            app.push(Reply(200, big_three()))
            for n in range(1, 4):
                out = await rig.poller.poll_once()
                assert out.outcome == "failed"
                assert out.error is not None and out.error.code == "store_unwritable"
                assert CAUSE[kind] in out.error.message
                assert MIN_DELAY <= out.delay <= 0.2
                assert rig.poller.failures == n
            assert rig.published == []
            assert rig.game.state.seq == seq
            assert rig.game.state.home_score == 11  # the state did not advance either
            feed = rig.game.feed()
            assert (feed.ok, feed.error) == (False, "store_unwritable")
            assert feed.message is not None and CAUSE[kind] in feed.message
            assert rig.game.state.feed.ok is True  # upstream itself is fine
            breaker.mend()
            out = await rig.poller.poll_once()
            assert out.outcome == "ok" and out.events == 4
            assert rig.store.health.ok and rig.game.feed().ok
            assert [(e.seq, e.type, e.stale) for e in rig.published] == [
                (seq + 1, "shot", True),
                (seq + 2, "made_three", True),
                (seq + 3, "score_update", True),
                (seq + 4, "stats", True),
            ]
            assert [e.encode() for e in rig.published] == rig.store.events_since(GAME)
            assert rig.poller.failures == 0
            # the next poll is live again, and numbered on
            app.push(Reply(200, with_shot(big_three(), T0 + 9000, home=17)))
            await rig.poller.poll_once()
            assert [(e.seq, e.stale) for e in rig.published[4:]] == [
                (seq + 5, False),
                (seq + 6, False),
                (seq + 7, False),
                (seq + 8, False),
            ]
            assert [e["seq"] for e in stored(rig.store)] == list(range(1, seq + 9))


@pytest.mark.anyio
async def test_upstream_failing_while_the_store_fails(
    upstream: tuple[ScriptedUpstream, LiveServer], tmp_path: Path
) -> None:
    """Upstream fails while the store cannot take the feed_status: no event is half made; once
    the store is back, the pending transition is committed with the next seq."""
    app, live = upstream
    with anyio.fail_after(15):
        async with make_rig(tmp_path / "feed.db", live.url, backoff_cap=0.2) as rig:
            app.push(Reply(200, seed_doc()))
            await rig.poller.poll_once()
            seq = rig.game.state.seq
            breaker = Breaker(rig.store, QUERY_ONLY)  # a full one may take a small event
            breaker.break_()
            app.push(Reply(500, error_body("seed_500.json")))
            out = await rig.poller.poll_once()
            assert out.error is not None and out.error.code == "upstream_error"
            assert rig.published == [] and rig.game.state.seq == seq
            assert rig.game.feed().error == "store_unwritable"  # the graver of the two
            breaker.mend()
            await rig.poller.poll_once()  # still 500: now the transition commits
            assert [(e.seq, e.type, e.data["error"]) for e in rig.published] == [
                (seq + 1, "feed_status", "upstream_error")
            ]
            assert rig.game.feed().error == "upstream_error"


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_operator_writes_that_cannot_commit_change_nothing(kind: str, tmp_path: Path) -> None:
    """append / append_with / set_config on an unwritable store raise StoreError and change
    nothing: no event, no seq, no config in memory or on disk, nothing published. Afterwards
    the next action takes the next seq after the last committed one."""
    store = Store(tmp_path / "feed.db")
    published: list[Event] = []
    try:
        game = Game(
            GAME, store, Settings(), publish=lambda g, events, enc: published.extend(events)
        )
        await game.load()
        first = await game.append("graphic", {"action": "show", "name": "a", "payload": {}})
        assert first.seq == 1
        roster = {str(p): {"name": f"Player Number {p} " * 4, "number": str(p)} for p in range(300)}
        config = GameConfig.from_data({"home": {"name": "Hawks"}, "roster": roster})
        breaker = Breaker(store, kind)
        breaker.break_()
        graphic = {"action": "show", "name": "b", "payload": {"p": PAD}}
        for attempt in (
            lambda: game.append("graphic", graphic),
            lambda: game.append_with(lambda: ("hold", {"held": True, "autofire": {}, "p": PAD})),
            lambda: game.set_config(config),
        ):
            with pytest.raises(StoreError):
                await attempt()
        assert game.state.seq == 1
        assert game.config == GameConfig()
        assert [e.seq for e in published] == [1]
        assert game.feed().error == "store_unwritable"
        breaker.mend()
        event = await game.set_config(config)
        assert event.seq == 2 and event.type == "config"
        assert game.config == config
        assert store.health.ok
        # the roster's names move the splits' rows: its stats event is in the same commit
        assert [(e.seq, e.type) for e in published] == [(1, "graphic"), (2, "config"), (3, "stats")]
        assert store.load_game(GAME).config == config  # config and its event: one commit
        assert [e["seq"] for e in stored(store)] == [1, 2, 3]
    finally:
        store.close()


@pytest.mark.anyio
async def test_start_on_a_store_that_cannot_be_written(
    upstream: tuple[ScriptedUpstream, LiveServer], tmp_path: Path
) -> None:
    """A restart on a read-only (or full) store still comes up: the games are followed (from
    the settings and the stored list), the store's health says what is wrong, and polling
    takes over once it can write. Following a new game at run time, though, is refused."""
    app, live = upstream
    app.push(Reply(200, seed_doc()))
    store = Store(tmp_path / "feed.db")
    store.set_following("STORED", True)  # followed before the restart
    breaker = Breaker(store, QUERY_ONLY)
    breaker.break_()
    settings = Settings(base_url=live.url, games=(GAME,), poll_interval=0.05, backoff_cap=0.1)
    metrics = Metrics()
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            games = Games(settings, store, Hub(metrics=metrics), metrics, http)
            with anyio.fail_after(15):
                async with anyio.create_task_group() as tg:
                    await games.start(tg, settings.games)
                    assert set(games.games) == {GAME, "STORED"}
                    assert store.health.ok is False
                    assert games.state(GAME)["feed"]["error"] == "store_unwritable"
                    with pytest.raises(StoreError):
                        await games.follow("NEW")
                    assert "NEW" not in games.games
                    while games.pollers[GAME].failures < 2:  # polls that cannot commit
                        await anyio.sleep(0.01)
                    assert games.games[GAME].state.baseline is False
                    breaker.mend()
                    while not games.games[GAME].state.baseline:
                        await anyio.sleep(0.01)
                    assert store.health.ok
                    assert games.state(GAME)["feed"]["ok"] is True
                    assert games.state(GAME)["home"]["score"] == 11
                    tg.cancel_scope.cancel()
    finally:
        store.close()


# -- the whole server ------------------------------------------------------------------------


@asynccontextmanager
async def feed_with_store(tmp_path: Path) -> AsyncIterator[tuple[Feed, Store]]:
    """The real server (uvicorn, the app's own store) with a quick backoff, and its store."""
    async with running_feed(tmp_path, backoff_cap=0.3, poll_interval=0.1) as feed:
        yield feed, feed.app.state.store
        # The store logged its failure (once) as an error: expected here, and only that.
        messages = [r.getMessage() for r in feed.errors]
        assert all("cannot write the store" in m for m in messages), messages
        feed.errors.clear()


async def wait_for(check: Callable[[], Any], timeout: float = 10) -> None:
    with anyio.fail_after(timeout):
        while not await check():
            await anyio.sleep(0.02)


async def healthz(feed: Feed) -> tuple[int, dict[str, Any]]:
    r = await feed.http.get("/healthz")
    body: dict[str, Any] = r.json()
    return r.status_code, body


@pytest.mark.anyio
@pytest.mark.parametrize("kind", [FULL, QUERY_ONLY])
async def test_server_reports_a_store_that_cannot_be_written_and_recovers(
    kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Through the real server: a made three arrives while the store cannot be written.

    While it lasts: /healthz 503 with the reason, shotfeed_store_ok 0, state and /api/games
    say store_unwritable, a new client's hello says so too, the three is on nobody's screen,
    seq stays, an operator action answers 503 store_unwritable and changes nothing. Once the
    store is writable again, with nobody doing anything: health green, the three arrives once
    (stale: it is late) with the next seqs, and the operator's next action follows them.
    """
    caplog.set_level(logging.WARNING, "shotfeed.store")
    with anyio.fail_after(40):
        async with feed_with_store(tmp_path) as (feed, store):
            status, body = await healthz(feed)
            assert status == 200 and body["ok"] is True and body["store"]["ok"] is True
            assert await feed.metric("shotfeed_store_ok") == 1.0
            seq = (await feed.state())["seq"]
            async with feed.ws(f"since={seq}") as watcher:
                hello = orjson.loads(await watcher.recv())
                assert hello["type"] == "hello" and hello["seq"] == seq
                breaker = Breaker(store, kind)
                breaker.break_()
                feed.upstream.push(Reply(200, big_three()))

                async def store_reported() -> bool:
                    return (await healthz(feed))[0] == 503

                await wait_for(store_reported)
                status, body = await healthz(feed)
                assert body["ok"] is False
                assert body["store"]["ok"] is False
                assert body["store"]["error"] == "store_unwritable"
                assert CAUSE[kind] in body["store"]["message"]
                assert isinstance(body["store"]["since"], int)
                assert await feed.metric("shotfeed_store_ok") == 0.0
                state = await feed.state()
                assert state["seq"] == seq
                assert state["home"]["score"] == 11  # the three is not in any state
                assert state["feed"]["ok"] is False
                assert state["feed"]["error"] == "store_unwritable"
                assert CAUSE[kind] in state["feed"]["message"]
                games = (await feed.http.get("/api/games")).json()["games"]
                assert [g["feed"]["error"] for g in games] == ["store_unwritable"]
                async with feed.ws() as late:
                    greeting = orjson.loads(await late.recv())
                    assert greeting["state"]["feed"]["error"] == "store_unwritable"
                r = await feed.http.post(
                    f"/api/games/{GAME}/graphics",
                    json={"action": "show", "name": "lowerthird", "payload": {"p": PAD}},
                    headers=AUTH,
                )
                assert r.status_code == 503, r.text
                assert r.json()["error"] == "store_unwritable"
                assert "nothing was changed" in r.json()["message"]
                assert CAUSE[kind] in r.json()["message"]
                await anyio.sleep(0.5)  # several failed polls meanwhile
                assert (await feed.state())["seq"] == seq
                assert [e["seq"] for e in await feed.events()] == list(range(1, seq + 1))
                with anyio.move_on_after(0.3):
                    while True:  # nothing but heartbeats reached the client
                        msg = orjson.loads(await watcher.recv())
                        assert msg["type"] == "heartbeat", msg

                breaker.mend()

                async def recovered() -> bool:
                    return (await healthz(feed))[0] == 200

                await wait_for(recovered)
                got = await recv_until_seq(watcher, seq + 3)
                assert [(m["seq"], m["type"], m.get("stale")) for m in got] == [
                    (seq + 1, "shot", True),
                    (seq + 2, "made_three", True),
                    (seq + 3, "score_update", True),
                ]
            assert await feed.metric("shotfeed_store_ok") == 1.0
            state = await feed.state()
            assert state["feed"]["ok"] is True and state["feed"]["error"] is None
            assert state["home"]["score"] == 14
            fired = await feed.fire("lowerthird")
            assert fired["seq"] == seq + 5  # after the poll's stats event (seq + 4)
            log = await feed.events()
            assert [e["seq"] for e in log] == list(range(1, seq + 6))
            assert [e["type"] for e in log].count("made_three") == 1
    store_logs = [r for r in caplog.records if r.name == "shotfeed.store"]
    assert [r.levelname for r in store_logs] == ["ERROR", "WARNING"]  # once down, once back
    assert "writable again" in store_logs[1].getMessage()


@pytest.mark.anyio
async def test_server_recovers_when_only_an_operator_write_failed(tmp_path: Path) -> None:
    """The write that failed was the operator's, and the polls have nothing to write: the
    store still turns green by itself once it can take data (the poller probes it)."""
    with anyio.fail_after(30):
        async with feed_with_store(tmp_path) as (feed, store):
            seq = (await feed.state())["seq"]
            _fill(store)
            r = await feed.http.post(
                f"/api/games/{GAME}/graphics",
                json={"action": "show", "name": "lowerthird", "payload": {"p": PAD}},
                headers=AUTH,
            )
            assert r.status_code == 503 and r.json()["error"] == "store_unwritable"
            assert (await healthz(feed))[0] == 503
            await anyio.sleep(0.6)  # polls of an unchanged game: their probes fail
            status, body = await healthz(feed)
            assert status == 503 and "database or disk is full" in body["store"]["message"]
            _unfill(store)

            async def recovered() -> bool:
                return (await healthz(feed))[0] == 200

            await wait_for(recovered)
            assert await feed.metric("shotfeed_store_ok") == 1.0
            r = await feed.http.post(f"/api/games/{GAME}/panic", headers=AUTH)
            assert r.status_code == 200 and r.json()["event"]["seq"] == seq + 1


# -- the operator console (headless Chromium) ------------------------------------------------


browser = shared_browser.browser
rig = shared_browser.rig


def test_console_shows_the_store_and_refuses_actions_plainly(rig: BrowserRig) -> None:
    """The console, as an operator sees it: the STORE CANNOT BE WRITTEN banner (from /healthz)
    with the cause, the games table says store_unwritable in plain words, a panic pressed
    meanwhile says "nothing was changed"; once the store is writable the next panic works and
    the banner goes by itself."""
    app = rig.server.server.config.app if rig.server.server else None
    assert app is not None
    store: Store = app.state.store
    quiet = logging.getLogger("shotfeed.store")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # the rig fails a test on any error logged: expected here
    try:
        con = open_console(rig)
        assert con.js("document.getElementById('store-banner').hidden")
        breaker = Breaker(store, QUERY_ONLY)
        breaker.break_()
        rig.push(big_three())
        con.wait("!document.getElementById('store-banner').hidden")
        banner = con.text("#store-banner")
        assert banner.startswith("STORE CANNOT BE WRITTEN")
        assert "attempt to write a readonly database" in banner
        con.wait(
            "document.querySelector('#games tbody').textContent.includes('cannot write its store')"
        )
        assert "FAILING" in con.text("#games tbody")
        assert con.js("document.getElementById('feed-banner').hidden")  # said once, not twice
        keys(con, "Escape")
        con.wait(
            "(s => s.className.includes('bad') && s.textContent.includes('nothing was changed'))"
            "(document.getElementById('status'))"
        )
        breaker.mend()
        keys(con, "Escape")  # the first write that commits turns the store green
        status_ok(con, "PANIC")
        con.wait("document.getElementById('store-banner').hidden")
        con.wait("!document.querySelector('#games tbody').textContent.includes('FAILING')")
        assert not con.page_errors
        # Chromium notes every 503 it was answered; nothing else went wrong on the page
        assert all("status of 503" in m for m in con.console_errors), con.console_errors
    finally:
        quiet.setLevel(level)
