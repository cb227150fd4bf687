"""UpstreamClient alone against real sockets: each HTTP outcome becomes one typed result or code."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from email.utils import formatdate
from typing import Any

import anyio
import httpx
import pytest

from server.core import signing
from server.errors import UpstreamError
from server.live.upstream import (
    MAX_RETRY_AFTER_S,
    Credentials,
    NotModified,
    Shots,
    UpstreamClient,
    parse_retry_after,
)
from tests.test_poller import GAME, SECRET, USER, error_body, seed_doc
from tests.upstream_app import LiveServer, Reply, ScriptedUpstream

TIMEOUT_S = 0.3

pytestmark = pytest.mark.network


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
        yield client


async def fetch(client: UpstreamClient, **kw: Any) -> Shots | NotModified | UpstreamError:
    """fetch_shots, with an UpstreamError returned instead of raised."""
    with anyio.fail_after(5):
        try:
            return await client.fetch_shots(GAME, **kw)
        except UpstreamError as exc:
            assert SECRET not in exc.message and SECRET not in repr(exc)
            return exc


# -- Retry-After -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        (" 12 ", 12.0),
        ("0", 0.0),
        ("-5", 0.0),
        ("1.5", 1.5),
        ("99999", MAX_RETRY_AFTER_S),
        ("", None),
        (None, None),
        ("soon", None),
    ],
)
def test_retry_after_seconds(value: str | None, expected: float | None) -> None:
    """Delta-seconds Retry-After: clamped to [0, MAX_RETRY_AFTER_S]; garbage reads as None."""
    assert parse_retry_after(value, 1_800_000_000.0) == expected


def test_retry_after_http_date() -> None:
    """An HTTP-date Retry-After is seconds from our clock; a past date means now."""
    now = 1_800_000_000.0
    assert parse_retry_after(formatdate(now + 90, usegmt=True), now) == 90.0
    assert parse_retry_after(formatdate(now - 90, usegmt=True), now) == 0.0
    assert parse_retry_after(formatdate(now + 86_400, usegmt=True), now) == MAX_RETRY_AFTER_S


def test_credentials_hide_the_secret() -> None:
    """Neither repr nor str of the credentials shows the secret."""
    creds = Credentials(USER, SECRET)
    assert SECRET not in repr(creds) and SECRET not in str(creds)
    assert USER in repr(creds)


# -- statuses --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_200_parses_and_keeps_etag(
    upstream: tuple[ScriptedUpstream, LiveServer], http: httpx.AsyncClient, seed_bytes: bytes
) -> None:
    """A 200 gives the parsed seed payload, its ETag and its size."""
    app, live = upstream
    app.push(Reply(200, seed_bytes, headers={"ETag": 'W/"42"'}))
    got = await fetch(UpstreamClient(live.url, Credentials(USER, SECRET), http=http))
    assert isinstance(got, Shots)
    assert got.etag == 'W/"42"' and got.size == len(seed_bytes)
    assert [s.t for s in got.payload.shots] == [1663870491879]
    assert got.payload.totals is not None
    assert (got.payload.totals.home.score, got.payload.totals.away.score) == (11, 22)


@pytest.mark.anyio
async def test_304_is_not_modified(
    upstream: tuple[ScriptedUpstream, LiveServer], http: httpx.AsyncClient
) -> None:
    """If-None-Match goes out as given; a 304 comes back as NotModified (ETag or none)."""
    app, live = upstream
    client = UpstreamClient(live.url, Credentials(USER, SECRET), http=http)
    app.push(Reply(304, None, headers={"ETag": '"7"'}), Reply(304, None))
    got = await fetch(client, etag='"7"')
    assert got == NotModified('"7"')
    assert app.requests[-1]["if-none-match"] == '"7"'
    assert await fetch(client, etag='"7"') == NotModified(None)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reply", "code", "says"),
    [
        (
            Reply(403, error_body("seed_403.json")),
            "forbidden",
            ["403", "Access denied to resource", "f1e80480-e1d5-4684-a619-402984b5c9ba"],
        ),
        (Reply(401, b"nope"), "unauthorized", ["401", "SHOTTRACKER_SECRET"]),
        (Reply(404, {"status": 404, "message": "Invalid id"}), "not_found", ["Invalid id"]),
        (
            Reply(500, error_body("seed_500.json")),
            "upstream_error",
            ["500", "General System Error", "f1e80480"],
        ),
        (Reply(502, b"<html>bad gateway</html>"), "upstream_error", ["502", "Bad Gateway"]),
        (Reply(302, b"", headers={"location": "/elsewhere"}), "upstream_error", ["302"]),
        (Reply(429, b"", headers={"Retry-After": "3"}), "rate_limited", ["retry after 3 s"]),
        (Reply(429, b""), "rate_limited", ["rate limited"]),
    ],
)
async def test_error_statuses_map_to_codes(
    upstream: tuple[ScriptedUpstream, LiveServer],
    http: httpx.AsyncClient,
    reply: Reply,
    code: str,
    says: list[str],
) -> None:
    """Each HTTP error status becomes its SPEC code with a message a person can act on."""
    app, live = upstream
    app.push(reply)
    got = await fetch(UpstreamClient(live.url, Credentials(USER, SECRET), http=http))
    assert isinstance(got, UpstreamError)
    assert got.code == code
    for text in says:
        assert text in got.message
    assert len(got.message) < 400
    if code == "rate_limited":
        assert got.retry_after == (3.0 if "Retry-After" in reply.headers else None)


@pytest.mark.anyio
async def test_long_error_message_is_cut(
    upstream: tuple[ScriptedUpstream, LiveServer], http: httpx.AsyncClient
) -> None:
    """An upstream error message of any length yields a bounded error text."""
    app, live = upstream
    app.push(
        Reply(500, {"status": 500, "message": "x" * 10_000, "shottrackerRequestId": "y" * 999})
    )
    got = await fetch(UpstreamClient(live.url, Credentials(USER, SECRET), http=http))
    assert isinstance(got, UpstreamError) and got.code == "upstream_error"
    assert len(got.message) < 400


@pytest.mark.anyio
async def test_unsigned_403_says_no_credentials(
    upstream: tuple[ScriptedUpstream, LiveServer], http: httpx.AsyncClient
) -> None:
    """Without credentials nothing is signed, and a 403 says none are configured."""
    app, live = upstream
    app.push(Reply(403, error_body("seed_403.json")))
    got = await fetch(UpstreamClient(live.url, None, http=http))
    assert isinstance(got, UpstreamError) and got.code == "forbidden"
    assert "no SHOTTRACKER_USERNAME / SHOTTRACKER_SECRET configured" in got.message
    assert "authorization" not in app.requests[-1]


@pytest.mark.anyio
async def test_skew_hint_names_direction(
    upstream: tuple[ScriptedUpstream, LiveServer], http: httpx.AsyncClient
) -> None:
    """A 403 with our clock 10 min ahead says so; within 5 minutes no skew is claimed."""
    app, live = upstream
    app.push(Reply(403, error_body("seed_403.json")))
    ahead = UpstreamClient(
        live.url, Credentials(USER, SECRET), http=http, clock=lambda: time.time() + 600
    )
    got = await fetch(ahead)
    assert isinstance(got, UpstreamError)
    assert "ahead of ShotTracker's" in got.message and "NTP" in got.message
    near = UpstreamClient(
        live.url, Credentials(USER, SECRET), http=http, clock=lambda: time.time() + 60
    )
    got = await fetch(near)
    assert isinstance(got, UpstreamError) and "clock" not in got.message


# -- the network itself ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_slow_headers_time_out(
    upstream: tuple[ScriptedUpstream, LiveServer], http: httpx.AsyncClient
) -> None:
    """No answer within the client timeout is ``timeout``."""
    app, live = upstream
    app.push(Reply(200, seed_doc(), delay=TIMEOUT_S * 3))
    started = time.monotonic()
    got = await fetch(UpstreamClient(live.url, Credentials(USER, SECRET), http=http))
    assert isinstance(got, UpstreamError) and got.code == "timeout"
    assert time.monotonic() - started < TIMEOUT_S * 2.5


async def stall_body(scope: Any, receive: Any, send: Any) -> None:
    """ASGI app: headers at once, then the body never comes in time."""
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"application/json"), (b"content-length", b"100")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b'{"shots": [', "more_body": True})
    await anyio.sleep(TIMEOUT_S * 3)


@pytest.mark.anyio
async def test_stalled_body_times_out(http: httpx.AsyncClient) -> None:
    """Headers, then a body that stops coming: ``timeout``, not a hang."""
    with LiveServer(stall_body) as live:
        got = await fetch(UpstreamClient(live.url, Credentials(USER, SECRET), http=http))
    assert isinstance(got, UpstreamError) and got.code == "timeout"


@pytest.mark.anyio
async def test_dropped_mid_body_is_bad_payload(
    upstream: tuple[ScriptedUpstream, LiveServer], http: httpx.AsyncClient, seed_bytes: bytes
) -> None:
    """Headers then a connection cut mid-body: the truncated body is ``bad_payload``."""
    app, live = upstream
    app.push(Reply(200, seed_bytes, truncate_at=100))
    got = await fetch(UpstreamClient(live.url, Credentials(USER, SECRET), http=http))
    assert isinstance(got, UpstreamError) and got.code == "bad_payload"
    assert "truncated" in got.message


@pytest.mark.anyio
async def test_refused_connection_is_upstream_error(http: httpx.AsyncClient) -> None:
    """Nobody listening on the port: ``upstream_error`` naming the base URL."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    got = await fetch(UpstreamClient(url, Credentials(USER, SECRET), http=http))
    assert isinstance(got, UpstreamError) and got.code == "upstream_error"
    assert url in got.message


@pytest.fixture
def hangup_server() -> Iterator[str]:
    """A raw TCP server that reads the request and closes without answering."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(1)
                with contextlib.suppress(OSError):
                    conn.recv(65536)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        srv.close()


@pytest.mark.anyio
async def test_connection_dropped_before_answer_is_upstream_error(
    hangup_server: str, http: httpx.AsyncClient
) -> None:
    """The server hangs up before any status line: ``upstream_error`` (a dropped connection)."""
    got = await fetch(UpstreamClient(hangup_server, Credentials(USER, SECRET), http=http))
    assert isinstance(got, UpstreamError) and got.code == "upstream_error"


# -- what goes on the wire --------------------------------------------------------------------


class RawPath:
    """ASGI wrapper keeping each request's raw (still percent-encoded) path."""

    def __init__(self, app: ScriptedUpstream) -> None:
        self.app = app
        self.raw: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.raw.append(scope["raw_path"].decode())
        await self.app(scope, receive, send)


@pytest.mark.anyio
async def test_event_id_is_quoted_and_signed_as_sent(http: httpx.AsyncClient) -> None:
    """An id with / or spaces is percent-encoded, and the signature covers the path as sent."""
    app = ScriptedUpstream()
    rec = RawPath(app)
    with LiveServer(rec) as live:
        app.push(Reply(200, seed_doc()))
        client = UpstreamClient(live.url + "/", Credentials(USER, SECRET), http=http)
        with anyio.fail_after(5):
            got = await client.fetch_shots("a/b c")
    assert isinstance(got, Shots)
    assert rec.raw == ["/v1/data/stats/games/a%2Fb%20c/shots"]
    headers = app.requests[-1]
    assert signing.verify(headers, "GET", rec.raw[-1], {USER: SECRET}) == USER
    assert headers["accept"] == "application/json"
