"""The poll loop against a real HTTP upstream (uvicorn on loopback) and a real SQLite file.

Every failure kind SPEC names goes through ``Poller.poll_once`` end to end: the poller never
raises, the last good state stays, ``feed_status`` fires on transitions only, and the secret
shows up nowhere. The delay policy (``next_delay``) is tested as the pure function it is.
"""

from __future__ import annotations

import copy
import logging
import random
import socket
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest

from server.config import Settings
from server.core import signing
from server.core.events import Event
from server.errors import StoreError, UpstreamError
from server.live.ledger import Game
from server.live.poller import MIN_DELAY_S, Poller, auth_message, next_delay
from server.live.store import Store
from server.live.upstream import Credentials, UpstreamClient
from tests.upstream_app import LiveServer, Reply, ScriptedUpstream

DATA = Path(__file__).parent / "data"
GAME = "EVT"
USER = "bcast-user"
SECRET = "Zq7-sEcReT-do-not-leak-4f1d"
TIMEOUT_S = 0.3
T0 = 1663870491879  # the seed shot's t

pytestmark = pytest.mark.network


# -- payloads ----------------------------------------------------------------------------------


def seed_doc() -> dict[str, Any]:
    """The seed example as a dict (home 11, away 22, one missed two at T0)."""
    return orjson.loads((DATA / "seed_shots.json").read_bytes())


def with_shot(
    doc: dict[str, Any],
    t: int,
    *,
    made: bool = True,
    three: bool = True,
    pid: str = "7269",
    home: int | None = None,
) -> dict[str, Any]:
    """A copy of ``doc`` with one more shot at ``t`` (and the home score set, if given)."""
    new = copy.deepcopy(doc)
    shot = copy.deepcopy(doc["shots"][0])
    shot.update(t=t, pid=pid, st="MAKE" if made else "MISS", is3=three)
    shot["pts"] = (3 if three else 2) if made else -1
    new["shots"].append(shot)
    if home is not None:
        new["gameTotals"]["homeTeamScore"]["value"] = home
    return new


def with_three(doc: dict[str, Any] | None = None) -> dict[str, Any]:
    """The seed plus a made three 5 s after the seed shot; home goes 11 -> 14."""
    return with_shot(doc or seed_doc(), T0 + 5000, home=14)


def error_body(name: str) -> dict[str, Any]:
    return orjson.loads((DATA / name).read_bytes())


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the rig: Store + Game + UpstreamClient + Poller on a real DB file ---------------------------


@dataclass
class Rig:
    store: Store
    game: Game
    poller: Poller
    http: httpx.AsyncClient
    published: list[Event] = field(default_factory=list)

    def types(self, since: int = 0) -> list[str]:
        return [e.type for e in self.published if e.seq > since]

    def stored(self) -> list[dict[str, Any]]:
        return [orjson.loads(b) for b in self.store.events_since(GAME, 0, 100_000)]


def fast_settings(url: str, **kw: Any) -> Settings:
    base: dict[str, Any] = {
        "base_url": url,
        "username": USER,
        "secret": SECRET,
        "poll_interval": 0.05,
        "idle_interval": 0.1,
        "backoff_cap": 0.2,
        "auth_retry": 0.15,
        "timeout": TIMEOUT_S,
    }
    base.update(kw)
    return Settings(**base)


@asynccontextmanager
async def make_rig(
    db: Path,
    url: str,
    *,
    http_kw: dict[str, Any] | None = None,
    clock: Callable[[], float] = time.time,
    **settings_kw: Any,
) -> AsyncIterator[Rig]:
    settings = fast_settings(url, **settings_kw)
    store = Store(db)
    try:
        published: list[Event] = []

        def publish(game: str, events: Any, encoded: Any) -> None:
            published.extend(events)

        game = Game(GAME, store, settings, publish=publish, clock=clock)
        await game.load()
        async with httpx.AsyncClient(timeout=TIMEOUT_S, **(http_kw or {})) as http:
            client = UpstreamClient(url, Credentials(USER, SECRET), http=http)
            poller = Poller(game, client, settings, rng=random.Random(7))
            yield Rig(store, game, poller, http, published)
    finally:
        store.close()


def assert_no_secret(rig: Rig, caplog: pytest.LogCaptureFixture, *texts: str) -> None:
    """The secret is in no event (published or stored), no error message and no log record."""
    blobs = [e.encode().decode() for e in rig.published]
    blobs += [b.decode() for b in rig.store.events_since(GAME, 0, 100_000)]
    blobs += [r.getMessage() for r in caplog.records]
    blobs += [caplog.text, *texts]
    for blob in blobs:
        assert SECRET not in blob


# -- every failure kind, end to end --------------------------------------------------------------

REFUSED = "refused"
Arm = Callable[[], Reply | str]

FAILURES: dict[str, tuple[Arm, str]] = {
    "403": (lambda: Reply(403, error_body("seed_403.json")), "forbidden"),
    "401": (lambda: Reply(401, {"status": 401, "message": "Unauthorized"}), "unauthorized"),
    "404": (
        lambda: Reply(404, {"status": 404, "message": "Invalid id", "shottrackerRequestId": "r"}),
        "not_found",
    ),
    "429-seconds": (lambda: Reply(429, b"", headers={"Retry-After": "7"}), "rate_limited"),
    "429-http-date": (
        lambda: Reply(429, b"", headers={"Retry-After": formatdate(time.time() + 90, usegmt=True)}),
        "rate_limited",
    ),
    "500": (lambda: Reply(500, error_body("seed_500.json")), "upstream_error"),
    "503-html": (lambda: Reply(503, b"<html>Service Unavailable</html>"), "upstream_error"),
    "timeout": (lambda: Reply(200, with_three(), delay=TIMEOUT_S * 3), "timeout"),
    "refused": (lambda: REFUSED, "upstream_error"),
    "dropped-mid-body": (lambda: Reply(200, with_three(), truncate_at=60), "bad_payload"),
    "truncated-json": (
        lambda: Reply(200, orjson.dumps(with_three())[:-25]),
        "bad_payload",
    ),
    "malformed-json": (lambda: Reply(200, b"{shots: [nope"), "bad_payload"),
    "json-array": (lambda: Reply(200, b"[]"), "bad_payload"),
    "empty-200": (lambda: Reply(200, b""), "bad_payload"),
    "shots-not-a-list": (
        lambda: Reply(200, {"shots": {"t": 1}, "gameTotals": {}}),
        "bad_payload",
    ),
    "bad-gzip": (
        lambda: Reply(200, b"this is not gzip", headers={"content-encoding": "gzip"}),
        "bad_payload",
    ),
}


async def poll_failing(rig: Rig, app: ScriptedUpstream, arm: Arm, refused: UpstreamClient) -> Any:
    """One poll that meets the armed failure (a scripted reply, or a port that refuses)."""
    what = arm()
    if what == REFUSED:
        good = rig.poller.client
        rig.poller.client = refused
        try:
            return await rig.poller.poll_once()
        finally:
            rig.poller.client = good
    assert isinstance(what, Reply)
    app.push(what)
    return await rig.poller.poll_once()


@pytest.mark.anyio
@pytest.mark.parametrize("kind", list(FAILURES))
async def test_failure_kind_keeps_state_and_reports_feed_status_once(
    kind: str,
    upstream: tuple[ScriptedUpstream, LiveServer],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failure keeps the last good state and emits feed_status only on each transition."""
    caplog.set_level(logging.DEBUG)
    app, live = upstream
    arm, code = FAILURES[kind]
    other: Arm = (
        (lambda: Reply(404, {"status": 404, "message": "Invalid id"}))
        if code == "upstream_error"
        else (lambda: Reply(500, error_body("seed_500.json")))
    )
    other_code = "not_found" if code == "upstream_error" else "upstream_error"
    good = with_three()
    with anyio.fail_after(15):
        async with make_rig(tmp_path / "feed.db", live.url) as rig:
            refused = UpstreamClient(
                f"http://127.0.0.1:{closed_port()}", Credentials(USER, SECRET), http=rig.http
            )
            app.push(Reply(200, seed_doc()), Reply(200, good))
            assert (await rig.poller.poll_once()).outcome == "ok"  # baseline, silent
            assert (await rig.poller.poll_once()).outcome == "ok"
            assert "made_three" in rig.types()
            state = rig.game.state
            keys = dict(state.shots)
            seq = state.seq
            messages: list[str] = []

            # first failure: one feed_status ok:false with the right code
            out = await poll_failing(rig, app, arm, refused)
            assert out.outcome == "failed"
            assert out.error is not None and out.error.code == code
            messages.append(out.error.message)
            new = [e for e in rig.published if e.seq > seq]
            assert [e.type for e in new] == ["feed_status"]
            assert new[0].data["ok"] is False
            assert new[0].data["error"] == code
            assert new[0].data["message"]
            assert new[0].seq == seq + 1
            st = rig.game.state
            assert (st.home_score, st.away_score) == (14, 22)
            assert dict(st.shots) == keys
            assert (st.status, st.period, st.clock) == (state.status, state.period, state.clock)
            if code in ("forbidden", "unauthorized"):
                # the key worked a moment ago (the baseline): ordinary backoff, not the slow retry
                s = rig.poller.settings
                assert MIN_DELAY_S <= out.delay <= min(s.backoff_cap, s.auth_retry)
                assert out.error.message.endswith(
                    "the key worked earlier in this run; retrying with backoff"
                )
                assert new[0].data["message"] == out.error.message
            elif kind == "429-seconds":
                assert out.delay >= 7
            elif kind == "429-http-date":
                assert 85 <= out.delay <= 91
            else:
                assert MIN_DELAY_S <= out.delay <= rig.poller.settings.backoff_cap

            # the same error again: no new event
            out = await poll_failing(rig, app, arm, refused)
            assert out.outcome == "failed" and out.error is not None and out.error.code == code
            messages.append(out.error.message)
            assert rig.game.state.seq == seq + 1
            assert rig.poller.failures == 2

            # a different code while failing: a second feed_status
            out = await poll_failing(rig, app, other, refused)
            assert out.error is not None and out.error.code == other_code
            messages.append(out.error.message)
            new = [e for e in rig.published if e.seq > seq + 1]
            assert [(e.type, e.data["ok"], e.data["error"]) for e in new] == [
                ("feed_status", False, other_code)
            ]

            # recovery: ok:true, nothing else (the payload did not change)
            app.push(Reply(200, good))
            out = await rig.poller.poll_once()
            assert out.outcome == "ok" and out.events == 0
            new = [e for e in rig.published if e.seq > seq + 2]
            assert [(e.type, e.data["ok"], e.data["error"]) for e in new] == [
                ("feed_status", True, None)
            ]
            assert rig.poller.failures == 0
            assert rig.game.state.feed.ok is True

            # the store holds exactly what was published, and the state survived
            assert [e["seq"] for e in rig.stored()] == list(range(1, rig.game.state.seq + 1))
            assert [e.encode() for e in rig.published] == rig.store.events_since(GAME)
            loaded = rig.store.load_game(GAME)
            assert loaded.state is not None
            assert (loaded.state.home_score, loaded.state.away_score) == (14, 22)
            assert set(loaded.state.shots) == set(keys)
            assert_no_secret(rig, caplog, *messages)


@pytest.mark.anyio
async def test_wrong_typed_shot_is_skipped_and_the_rest_counts(
    upstream: tuple[ScriptedUpstream, LiveServer],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A mistyped shot record is skipped with a warning; the payload's other shots still count."""
    caplog.set_level(logging.WARNING)
    app, live = upstream
    with anyio.fail_after(10):
        async with make_rig(tmp_path / "feed.db", live.url) as rig:
            app.push(Reply(200, seed_doc()))
            await rig.poller.poll_once()
            doc = with_shot(seed_doc(), T0 + 4000, three=True)
            doc["shots"][-1]["is3"] = "yes"  # wrong type: skipped
            doc = with_shot(doc, T0 + 6000, three=True, home=14)  # fine: counts
            doc["shots"].append({"t": "soon", "pid": 7})  # no usable t at all
            app.push(Reply(200, doc))
            out = await rig.poller.poll_once()
            assert out.outcome == "ok"
            assert rig.types() == ["shot", "made_three", "score_update", "stats"]
            assert rig.published[0].data["t"] == T0 + 6000
            assert set(rig.game.state.shots) == {str(T0), str(T0 + 6000)}
            assert rig.game.state.feed.ok is True
            assert any("skipped shot record" in r.getMessage() for r in caplog.records)
            assert_no_secret(rig, caplog)


@pytest.mark.anyio
async def test_known_shot_with_unreadable_record_is_kept(
    upstream: tuple[ScriptedUpstream, LiveServer], tmp_path: Path
) -> None:
    """A known shot whose record turns unreadable is not removed, and scores are kept."""
    app, live = upstream
    with anyio.fail_after(10):
        async with make_rig(tmp_path / "feed.db", live.url) as rig:
            good = with_three()
            app.push(Reply(200, seed_doc()), Reply(200, good))
            await rig.poller.poll_once()
            await rig.poller.poll_once()
            seq = rig.game.state.seq
            bad = copy.deepcopy(good)
            bad["shots"][-1]["st"] = 5
            bad["gameTotals"]["homeTeamScore"]["value"] = "fourteen"
            bad["gameTotals"]["awayTeamScore"] = None
            app.push(Reply(200, bad))
            out = await rig.poller.poll_once()
            assert out.outcome == "ok"
            assert rig.game.state.seq == seq
            assert rig.game.state.shots[str(T0 + 5000)].present
            assert (rig.game.state.home_score, rig.game.state.away_score) == (14, 22)
            doc = copy.deepcopy(good)
            doc["gameTotals"] = "not an object"
            app.push(Reply(200, doc))
            assert (await rig.poller.poll_once()).outcome == "ok"
            assert rig.game.state.seq == seq
            assert (rig.game.state.home_score, rig.game.state.away_score) == (14, 22)


@pytest.mark.anyio
async def test_clock_skew_is_named_on_401(
    upstream: tuple[ScriptedUpstream, LiveServer], tmp_path: Path
) -> None:
    """A 401 while our clock is 10 minutes off says the skew is the likely cause."""
    app, live = upstream
    with anyio.fail_after(10):
        async with make_rig(tmp_path / "feed.db", live.url) as rig:
            rig.poller.client = UpstreamClient(
                live.url, Credentials(USER, SECRET), http=rig.http, clock=lambda: time.time() - 600
            )
            app.push(Reply(401, {"status": 401, "message": "Date skew"}))
            out = await rig.poller.poll_once()
            assert out.error is not None and out.error.code == "unauthorized"
            assert "clock" in out.error.message and "5 minutes" in out.error.message
            # the cause first, then the retry rule (this key never worked: the slow retry)
            assert out.error.message.endswith("the key has not worked yet; retrying every 0.15 s")
            assert out.delay == rig.poller.settings.auth_retry
            assert SECRET not in out.error.message


# -- signing and conditional requests on the wire -------------------------------------------------


class QueryRecorder:
    """ASGI wrapper that keeps each request's raw query string, then defers to the script."""

    def __init__(self, app: ScriptedUpstream) -> None:
        self.app = app
        self.queries: list[bytes] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.queries.append(scope["query_string"])
        await self.app(scope, receive, send)


@pytest.mark.anyio
async def test_request_is_signed_on_the_wire(tmp_path: Path) -> None:
    """The upstream receives date/host/authorization that verify with the secret, path only."""
    app = ScriptedUpstream()
    rec = QueryRecorder(app)
    with anyio.fail_after(10), LiveServer(rec) as live:
        async with make_rig(
            tmp_path / "feed.db", live.url, http_kw={"params": {"cachebust": "1"}}
        ) as rig:
            app.push(Reply(200, seed_doc()))
            assert (await rig.poller.poll_once()).outcome == "ok"
        headers = app.requests[-1]
        path = app.paths[-1]
        assert path == f"/v1/data/stats/games/{GAME}/shots"
        assert rec.queries[-1] == b"cachebust=1"  # a query string went over the wire...
        assert headers["host"] == f"127.0.0.1:{live.port}"
        assert headers["date"].endswith(" GMT")  # RFC 1123, as ShotTracker documents
        assert abs(parsedate_to_datetime(headers["date"]).timestamp() - time.time()) < 60
        assert headers["authorization"].startswith(f'hmac username="{USER}",algorithm="hmac-sha1"')
        assert signing.verify(headers, "GET", path, {USER: SECRET}) == USER
        assert signing.verify(headers, "GET", path, {USER: "another-secret"}) is None
        # ...and it was not signed: the signature over path+query would differ.
        with_query = signing.signature(
            SECRET,
            f"date: {headers['date']}\nhost: {headers['host']}\nGET {path}?cachebust=1 HTTP/1.1",
        )
        assert with_query not in headers["authorization"]
        assert SECRET not in repr(headers)


@pytest.mark.anyio
async def test_etag_sends_if_none_match_and_304_writes_nothing(
    upstream: tuple[ScriptedUpstream, LiveServer], tmp_path: Path
) -> None:
    """After a 200 with an ETag the next GET sends If-None-Match; a 304 emits and writes nothing."""
    app, live = upstream
    with anyio.fail_after(10):
        async with make_rig(tmp_path / "feed.db", live.url) as rig:
            app.push(Reply(200, seed_doc(), headers={"ETag": '"v1"'}))
            assert (await rig.poller.poll_once()).outcome == "ok"
            assert "if-none-match" not in app.requests[-1]
            changes = rig.store._db.total_changes
            count = rig.store.event_count(GAME)
            seq = rig.game.state.seq
            app.push(Reply(304, None, headers={"ETag": '"v1"'}))
            out = await rig.poller.poll_once()
            assert out.outcome == "not_modified"
            assert out.events == 0 and out.error is None
            assert app.requests[-1]["if-none-match"] == '"v1"'
            assert rig.store._db.total_changes == changes
            assert rig.store.event_count(GAME) == count
            assert rig.game.state.seq == seq
            assert rig.published == []
            # a 200 without an ETag stops sending If-None-Match
            app.push(Reply(200, seed_doc()), Reply(200, seed_doc()))
            await rig.poller.poll_once()
            await rig.poller.poll_once()
            assert "if-none-match" not in app.requests[-1]


@pytest.mark.anyio
async def test_same_payload_twice_writes_nothing(
    upstream: tuple[ScriptedUpstream, LiveServer], tmp_path: Path
) -> None:
    """A 200 that brings nothing new emits nothing and does not touch the store."""
    app, live = upstream
    with anyio.fail_after(10):
        async with make_rig(tmp_path / "feed.db", live.url) as rig:
            app.push(Reply(200, seed_doc()), Reply(200, with_three()))
            await rig.poller.poll_once()
            await rig.poller.poll_once()
            changes = rig.store._db.total_changes
            seq = rig.game.state.seq
            for _ in range(3):
                out = await rig.poller.poll_once()  # the script repeats its last reply
                assert out.outcome == "ok" and out.events == 0
            assert rig.store._db.total_changes == changes
            assert rig.game.state.seq == seq


@pytest.mark.anyio
async def test_store_busy_poll_is_retried_without_loss(
    upstream: tuple[ScriptedUpstream, LiveServer], tmp_path: Path
) -> None:
    """A poll the store cannot commit sends nothing; the next poll emits it all exactly once."""
    app, live = upstream
    db = tmp_path / "feed.db"
    with anyio.fail_after(10):
        async with make_rig(db, live.url) as rig:
            app.push(Reply(200, seed_doc()))
            await rig.poller.poll_once()
            rig.store._db.execute("PRAGMA busy_timeout=50")
            seq = rig.game.state.seq
            blocker = sqlite3.connect(db, isolation_level=None)
            try:
                blocker.execute("BEGIN IMMEDIATE")  # another writer holds the file
                app.push(Reply(200, with_three()))
                out = await rig.poller.poll_once()
                assert out.outcome == "failed"
                assert out.error is not None and out.error.code == "store_unwritable"
                assert "database is locked" in out.error.message
                assert rig.published == []  # nothing sent that the store does not have
                assert rig.game.state.seq == seq
                assert rig.game.state.home_score == 11
                blocker.execute("ROLLBACK")
            finally:
                blocker.close()
            out = await rig.poller.poll_once()  # the same payload again
            assert out.outcome == "ok"
            assert rig.types() == ["shot", "made_three", "score_update", "stats"]
            assert [e.seq for e in rig.published] == [seq + 1, seq + 2, seq + 3, seq + 4]
            assert all(e.stale for e in rig.published)  # found one poll late: not animated
            assert [e.encode() for e in rig.published] == rig.store.events_since(GAME)


# -- stale marking through the shell ------------------------------------------------------------


@pytest.mark.anyio
async def test_three_found_after_outage_is_stale(
    upstream: tuple[ScriptedUpstream, LiveServer], tmp_path: Path
) -> None:
    """A made three found by the first poll after a failing one arrives with stale: true."""
    app, live = upstream
    with anyio.fail_after(10):
        async with make_rig(tmp_path / "feed.db", live.url) as rig:
            app.push(Reply(200, seed_doc()))
            await rig.poller.poll_once()
            app.push(Reply(500, error_body("seed_500.json")))
            assert (await rig.poller.poll_once()).outcome == "failed"
            seq = rig.game.state.seq
            doc = with_three()
            app.push(Reply(200, doc))
            assert (await rig.poller.poll_once()).outcome == "ok"
            found = [e for e in rig.published if e.seq > seq]
            assert [e.type for e in found] == [
                "shot",
                "made_three",
                "score_update",
                "stats",
                "feed_status",
            ]
            assert all(e.stale for e in found[:4])
            assert found[4].data["ok"] is True
            stored = {e["seq"]: e for e in rig.stored()}
            assert stored[found[1].seq]["stale"] is True
            # the next poll is live again
            seq = rig.game.state.seq
            app.push(Reply(200, with_shot(doc, T0 + 9000, home=17)))
            await rig.poller.poll_once()
            found = [e for e in rig.published if e.seq > seq]
            assert [e.type for e in found] == ["shot", "made_three", "score_update", "stats"]
            assert not any(e.stale for e in found)
            assert "stale" not in rig.stored()[-1]


@pytest.mark.anyio
async def test_304_ends_the_outage(
    upstream: tuple[ScriptedUpstream, LiveServer], tmp_path: Path
) -> None:
    """After failure then a 304 recovery, a three found by a later poll is live, not stale."""
    app, live = upstream
    with anyio.fail_after(10):
        async with make_rig(tmp_path / "feed.db", live.url) as rig:
            app.push(Reply(200, seed_doc(), headers={"ETag": '"a"'}))
            await rig.poller.poll_once()
            app.push(Reply(503, b"busy"))
            await rig.poller.poll_once()
            app.push(Reply(304, None, headers={"ETag": '"a"'}))
            assert (await rig.poller.poll_once()).outcome == "not_modified"
            assert rig.published[-1].type == "feed_status" and rig.published[-1].data["ok"]
            seq = rig.game.state.seq
            app.push(Reply(200, with_three(), headers={"ETag": '"b"'}))
            await rig.poller.poll_once()
            found = [e for e in rig.published if e.seq > seq]
            assert [e.type for e in found] == ["shot", "made_three", "score_update", "stats"]
            assert not any(e.stale for e in found)


def clocked(doc: dict[str, Any], clock: str) -> dict[str, Any]:
    """A copy of ``doc`` whose gameTotals show this game clock."""
    new = copy.deepcopy(doc)
    new["gameTotals"]["gameClock"] = clock
    return new


@pytest.mark.anyio
@pytest.mark.parametrize("recovery", ["200", "304"])
async def test_clock_that_stopped_during_an_outage_is_stale(
    recovery: str, upstream: tuple[ScriptedUpstream, LiveServer], tmp_path: Path
) -> None:
    """The clock ran, then stopped while the feed was down: the first poll after the outage
    finds it stopped and says so with one stale ``clock`` event, never a live one later.

    Two shapes of it: the clock stopped on the value seen before the outage (the first poll
    after it may be a 304, which re-applies the last payload), or it ran on during the outage
    and stopped on a new value (then nothing can tell it runs: it must not read as running and
    be pulled back by a live "stopped" two polls later, which is what happened).
    """
    app, live = upstream
    now = [1_700_000_000.0]
    with anyio.fail_after(10):
        async with make_rig(tmp_path / "feed.db", live.url, clock=lambda: now[0]) as rig:
            app.push(Reply(200, clocked(seed_doc(), "00:15:00"), headers={"ETag": '"a"'}))
            await rig.poller.poll_once()  # baseline
            now[0] += 1
            app.push(Reply(200, clocked(seed_doc(), "00:14:59"), headers={"ETag": '"b"'}))
            await rig.poller.poll_once()
            assert [(e.type, e.data.get("running"), e.stale) for e in rig.published] == [
                ("clock", True, False)
            ]
            now[0] += 1
            app.push(Reply(500, error_body("seed_500.json")))
            assert (await rig.poller.poll_once()).outcome == "failed"
            seq = rig.game.state.seq
            now[0] += 6
            if recovery == "304":  # stopped on 00:14:59: upstream has nothing new
                app.push(Reply(304, None, headers={"ETag": '"b"'}))
                stopped_at = "00:14:59"
            else:  # ran on, stopped on 00:14:40
                app.push(Reply(200, clocked(seed_doc(), "00:14:40"), headers={"ETag": '"c"'}))
                stopped_at = "00:14:40"
            await rig.poller.poll_once()
            found = [e for e in rig.published if e.seq > seq]
            assert [(e.type, e.stale) for e in found] == [("clock", True), ("feed_status", False)]
            assert found[0].data == {"clock": stopped_at, "period": "H2", "running": False}
            assert rig.game.state.clock_running is False
            assert {e["seq"]: e for e in rig.stored()}[found[0].seq]["stale"] is True
            # the following polls see the same clock: nothing more (no late, live "stopped")
            seq = rig.game.state.seq
            for _ in range(3):
                now[0] += 1
                await rig.poller.poll_once()
            assert [e for e in rig.published if e.seq > seq] == []
            # the clock starts again: live, running
            now[0] += 1
            app.push(Reply(200, clocked(seed_doc(), "00:14:39"), headers={"ETag": '"d"'}))
            await rig.poller.poll_once()
            assert [(e.type, e.data["running"], e.stale) for e in rig.published[-1:]] == [
                ("clock", True, False)
            ]


@pytest.mark.anyio
async def test_clock_after_a_restart_reads_stopped_until_it_moves(
    upstream: tuple[ScriptedUpstream, LiveServer], tmp_path: Path
) -> None:
    """A restart is an outage of unknown length: the first poll's new clock value is stale
    and stopped; the next poll that sees it move makes it run (live)."""
    app, live = upstream
    now = [1_700_000_000.0]
    db = tmp_path / "feed.db"
    with anyio.fail_after(10):
        async with make_rig(db, live.url, clock=lambda: now[0]) as rig:
            app.push(Reply(200, clocked(seed_doc(), "00:15:00")))
            await rig.poller.poll_once()
            now[0] += 1
            app.push(Reply(200, clocked(seed_doc(), "00:14:59")))
            await rig.poller.poll_once()
            assert rig.game.state.clock_running is True
        now[0] += 60
        async with make_rig(db, live.url, clock=lambda: now[0]) as rig:
            assert rig.game.after_outage is True
            app.push(Reply(200, clocked(seed_doc(), "00:13:30")))
            await rig.poller.poll_once()
            assert [(e.type, e.data["running"], e.stale) for e in rig.published] == [
                ("clock", False, True)
            ]
            now[0] += 1
            app.push(Reply(200, clocked(seed_doc(), "00:13:29")))
            await rig.poller.poll_once()
            assert [(e.type, e.data["running"], e.stale) for e in rig.published[1:]] == [
                ("clock", True, False)
            ]


# -- 401/403: a key that worked, a key that never did ------------------------------------------


class Timed:
    """ASGI wrapper that notes when each request arrived, then defers to the script."""

    def __init__(self, app: ScriptedUpstream) -> None:
        self.app = app
        self.times: list[float] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.times.append(time.monotonic())
        await self.app(scope, receive, send)


@pytest.mark.anyio
async def test_refusal_of_a_key_that_worked_is_retried_after_backoff(tmp_path: Path) -> None:
    """200, then a 403, then 200 again: the poll after the 403 comes after the ordinary
    backoff (a fraction of a second here), not after the 30 s auth retry, and the feed status
    says why."""
    app = ScriptedUpstream()
    timed = Timed(app)
    with anyio.fail_after(10), LiveServer(timed) as live:
        async with make_rig(
            tmp_path / "feed.db", live.url, auth_retry=30.0, backoff_cap=30.0
        ) as rig:
            app.push(
                Reply(200, seed_doc()),
                Reply(403, error_body("seed_403.json")),
                Reply(200, with_three()),
            )
            async with anyio.create_task_group() as tg:
                tg.start_soon(rig.poller.run)
                # the poll that recovers publishes its events first, then the feed's ok status:
                # wait for that too, or the poller may be cancelled between the two
                while not (
                    any(e.type == "made_three" for e in rig.published)
                    and any(e.type == "feed_status" and e.data["ok"] for e in rig.published)
                ):
                    await anyio.sleep(0.01)
                tg.cancel_scope.cancel()
    assert len(timed.times) >= 3
    gap = timed.times[2] - timed.times[1]
    ceiling = 0.05 * 2  # poll interval doubled once: full jitter below it
    assert gap < ceiling + 0.5, f"retried after {gap:.2f} s"
    statuses = [e.data for e in rig.published if e.type == "feed_status"]
    assert [(d["ok"], d["error"]) for d in statuses] == [(False, "forbidden"), (True, None)]
    assert statuses[0]["message"].endswith(
        "the key worked earlier in this run; retrying with backoff"
    )


@pytest.mark.anyio
@pytest.mark.parametrize("status", [401, 403])
async def test_refusal_of_a_key_that_never_worked_waits_the_slow_retry(
    status: int, upstream: tuple[ScriptedUpstream, LiveServer], tmp_path: Path
) -> None:
    """A key refused on its first poll waits auth_retry each time, and the status says so;
    once it has worked, the next refusal backs off instead."""
    app, live = upstream
    with anyio.fail_after(10):
        async with make_rig(
            tmp_path / "feed.db", live.url, auth_retry=30.0, backoff_cap=30.0
        ) as rig:
            app.push(Reply(status, {"status": status, "message": "Forbidden"}))
            for _ in range(2):
                out = await rig.poller.poll_once()
                assert out.delay == 30.0
                assert out.error is not None
                assert out.error.message.endswith("the key has not worked yet; retrying every 30 s")
            [event] = rig.published
            assert event.data["message"] == out.error.message
            app.push(Reply(200, seed_doc()), Reply(status, {"status": status, "message": "x"}))
            assert (await rig.poller.poll_once()).outcome == "ok"
            out = await rig.poller.poll_once()
            assert out.outcome == "failed"
            assert MIN_DELAY_S <= out.delay <= rig.poller.settings.poll_interval * 2
            assert out.error is not None and "worked earlier in this run" in out.error.message


# -- the run loop ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_run_survives_failures_and_recovers(
    upstream: tuple[ScriptedUpstream, LiveServer], tmp_path: Path
) -> None:
    """Poller.run keeps polling through failures and picks up the next good payload."""
    app, live = upstream
    with anyio.fail_after(10):
        async with make_rig(tmp_path / "feed.db", live.url, backoff_cap=0.05) as rig:
            app.push(
                Reply(200, seed_doc()),
                Reply(500, error_body("seed_500.json")),
                Reply(200, b"{"),
                Reply(200, with_three()),
            )
            async with anyio.create_task_group() as tg:
                tg.start_soon(rig.poller.run)
                while not (rig.published and rig.published[-1].data.get("ok") is True):
                    await anyio.sleep(0.02)
                tg.cancel_scope.cancel()
            assert [(e.type, e.data.get("error")) for e in rig.published] == [
                ("feed_status", "upstream_error"),
                ("feed_status", "bad_payload"),
                ("shot", None),
                ("made_three", None),
                ("score_update", None),
                ("stats", None),
                ("feed_status", None),
            ]
            assert len(app.paths) >= 4


# -- the delay policy (pure) --------------------------------------------------------------------


class TopRandom(random.Random):
    """Full jitter's worst case: always the top of the range."""

    def uniform(self, a: float, b: float) -> float:
        return b


def _err(code: str, retry_after: float | None = None) -> UpstreamError:
    return UpstreamError(code, "x", retry_after=retry_after)


def test_backoff_is_exponential_and_capped() -> None:
    """The backoff ceiling doubles per failure from the poll interval and stops at the cap."""
    s = Settings(poll_interval=1.0, backoff_cap=30.0)
    tops = [
        next_delay(
            settings=s,
            status="ACTIVE",
            failures=n,
            error=_err("timeout"),
            key_worked=True,
            rng=TopRandom(),
        )
        for n in range(1, 9)
    ]
    assert tops == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0]
    huge = next_delay(
        settings=s,
        status="ACTIVE",
        failures=10_000,
        error=_err("timeout"),
        key_worked=True,
        rng=TopRandom(),
    )
    assert huge == 30.0
    assert Settings().backoff_cap == 30.0


def test_backoff_has_full_jitter() -> None:
    """Delays spread over the whole [0, ceiling] range, never below the floor or above the cap."""
    s = Settings(poll_interval=1.0, backoff_cap=30.0)
    rng = random.Random(1)
    for failures, ceiling in ((1, 2.0), (3, 8.0), (12, 30.0)):
        got = [
            next_delay(
                settings=s,
                status="ACTIVE",
                failures=failures,
                error=_err("upstream_error"),
                key_worked=True,
                rng=rng,
            )
            for _ in range(400)
        ]
        assert all(MIN_DELAY_S <= d <= ceiling for d in got)
        assert min(got) < ceiling * 0.1
        assert max(got) > ceiling * 0.9
    same = [
        next_delay(
            settings=s,
            status="ACTIVE",
            failures=4,
            error=_err("bad_payload"),
            key_worked=True,
            rng=random.Random(5),
        )
        for _ in range(2)
    ]
    assert same[0] == same[1]  # pure: the randomness is the rng's


@pytest.mark.parametrize("code", ["forbidden", "unauthorized"])
def test_auth_failure_of_a_key_that_never_worked_retries_slowly_and_fixed(code: str) -> None:
    """A key that has not worked yet: 401/403 wait auth_retry every time, however many
    failures, whatever the rng, the status or the other settings."""
    for auth_retry, cap in ((45.0, 30.0), (30.0, 30.0), (5.0, 30.0)):
        s = Settings(poll_interval=1.0, auth_retry=auth_retry, backoff_cap=cap)
        got = {
            next_delay(
                settings=s,
                status=status,
                failures=n,
                error=_err(code),
                key_worked=False,
                rng=rng,
            )
            for n in (1, 2, 5, 50, 10_000)
            for status in ("ACTIVE", None, "FINAL")
            for rng in (random.Random(n), TopRandom())
        }
        assert got == {auth_retry}


@pytest.mark.parametrize("code", ["forbidden", "unauthorized"])
@pytest.mark.parametrize(
    ("auth_retry", "cap", "tops"),
    [
        # doubling from the poll interval, capped by the auth retry...
        (30.0, 30.0, [2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]),
        (5.0, 30.0, [2.0, 4.0, 5.0, 5.0, 5.0, 5.0, 5.0]),
        # ...and never slower than any other failure's backoff
        (120.0, 10.0, [2.0, 4.0, 8.0, 10.0, 10.0, 10.0, 10.0]),
    ],
)
def test_auth_failure_of_a_key_that_worked_backs_off_like_any_failure(
    code: str, auth_retry: float, cap: float, tops: list[float]
) -> None:
    """A key that worked earlier: 401/403 take the ordinary backoff (full jitter up to a
    ceiling doubling from the poll interval), capped by the auth retry and the backoff cap."""
    s = Settings(poll_interval=1.0, auth_retry=auth_retry, backoff_cap=cap)
    got = [
        next_delay(
            settings=s,
            status="ACTIVE",
            failures=n,
            error=_err(code),
            key_worked=True,
            rng=TopRandom(),
        )
        for n in range(1, 8)
    ]
    assert got == tops
    assert next_delay(
        settings=s,
        status="ACTIVE",
        failures=10_000,
        error=_err(code),
        key_worked=True,
        rng=TopRandom(),
    ) == min(auth_retry, cap)
    rng = random.Random(3)
    for n, ceiling in enumerate(tops, start=1):
        spread = [
            next_delay(
                settings=s, status="ACTIVE", failures=n, error=_err(code), key_worked=True, rng=rng
            )
            for _ in range(300)
        ]
        assert all(MIN_DELAY_S <= d <= ceiling for d in spread)
        assert min(spread) < ceiling * 0.1  # full jitter: not a fixed wait
        assert max(spread) > ceiling * 0.9
    # the first retry of a key that worked comes far sooner than the slow retry
    first = next_delay(
        settings=Settings(poll_interval=1.0),
        status="ACTIVE",
        failures=1,
        error=_err(code),
        key_worked=True,
        rng=TopRandom(),
    )
    assert first == 2.0 < Settings().auth_retry


@pytest.mark.parametrize(
    "code",
    ["timeout", "upstream_error", "bad_payload", "not_found", "rate_limited", "store_unwritable"],
)
def test_key_worked_changes_nothing_but_auth_failures(code: str) -> None:
    """Only 401/403 look at key_worked: every other failure, and success, delay the same."""
    s = Settings(poll_interval=1.0, backoff_cap=30.0, auth_retry=45.0)
    for n in (1, 2, 4, 9, 40):
        a, b = (
            next_delay(
                settings=s,
                status="ACTIVE",
                failures=n,
                error=_err(code),
                key_worked=worked,
                rng=random.Random(n),
            )
            for worked in (True, False)
        )
        assert a == b
        assert MIN_DELAY_S <= a <= 30.0
    for status in ("ACTIVE", "FINAL", None):
        assert {
            next_delay(
                settings=s, status=status, failures=0, error=None, key_worked=w, rng=TopRandom()
            )
            for w in (True, False)
        } == {1.0 if status != "FINAL" else s.idle_interval}


def test_store_unwritable_backs_off_like_any_failure() -> None:
    """A store that cannot be written is retried with the ordinary backoff (from the poll
    interval, doubling, capped), so a freed disk is noticed soon but not in a tight loop."""
    s = Settings(poll_interval=1.0, backoff_cap=30.0)
    tops = [
        next_delay(
            settings=s,
            status="ACTIVE",
            failures=n,
            error=StoreError("database or disk is full"),
            key_worked=True,
            rng=TopRandom(),
        )
        for n in range(1, 8)
    ]
    assert tops == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_auth_message_says_which_retry_applies() -> None:
    """The feed_status message of a 401/403 says whether the key worked and how it is retried;
    it holds no countdown, so repeated refusals do not change it."""
    base = "ShotTracker refused the request (HTTP 403): check the clock"
    worked = auth_message(base, key_worked=True, auth_retry=30.0)
    never = auth_message(base, key_worked=False, auth_retry=30.0)
    assert worked == f"{base}; the key worked earlier in this run; retrying with backoff"
    assert never == f"{base}; the key has not worked yet; retrying every 30 s"
    assert auth_message(base, key_worked=False, auth_retry=2.5).endswith("retrying every 2.5 s")
    assert worked.startswith(base) and never.startswith(base)  # the cause (clock skew) stays


def test_retry_after_is_honoured() -> None:
    """A 429's Retry-After is a floor for the next delay, even above the backoff cap."""
    s = Settings(poll_interval=1.0, backoff_cap=30.0)
    for retry in (0.5, 7.0, 120.0):
        for n in (1, 3, 9):
            d = next_delay(
                settings=s,
                status="ACTIVE",
                failures=n,
                error=_err("rate_limited", retry),
                key_worked=True,
                rng=random.Random(n),
            )
            assert d >= retry
            assert d <= max(retry, 30.0)
    plain = next_delay(
        settings=s,
        status="ACTIVE",
        failures=1,
        error=_err("rate_limited"),
        key_worked=True,
        rng=TopRandom(),
    )
    assert plain == 2.0  # no Retry-After: ordinary backoff


@pytest.mark.parametrize(
    ("status", "expected"),
    [("ACTIVE", 1.5), (None, 1.5), ("SCHEDULED", 8.0), ("FINAL", 8.0), ("COMPLETE", 8.0)],
)
def test_healthy_interval_depends_on_status(status: str | None, expected: float) -> None:
    """Healthy: poll_interval while ACTIVE (or not yet known), idle_interval otherwise."""
    s = Settings(poll_interval=1.5, idle_interval=8.0)
    for worked in (True, False):
        assert (
            next_delay(
                settings=s,
                status=status,
                failures=0,
                error=None,
                key_worked=worked,
                rng=TopRandom(),
            )
            == expected
        )


@pytest.mark.anyio
async def test_idle_status_slows_the_poller(
    upstream: tuple[ScriptedUpstream, LiveServer], tmp_path: Path
) -> None:
    """A FINAL game is polled at idle_interval, an ACTIVE one at poll_interval."""
    app, live = upstream
    with anyio.fail_after(10):
        async with make_rig(tmp_path / "feed.db", live.url) as rig:
            app.push(Reply(200, seed_doc()))
            assert (await rig.poller.poll_once()).delay == rig.poller.settings.poll_interval
            final = seed_doc()
            final["gameTotals"]["status"] = "FINAL"
            app.push(Reply(200, final))
            out = await rig.poller.poll_once()
            assert out.delay == rig.poller.settings.idle_interval
            assert rig.types() == ["game_status"]
            assert rig.published[0].data == {"from": "ACTIVE", "to": "FINAL"}
