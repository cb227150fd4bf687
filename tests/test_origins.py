"""Who may read and act, over real HTTP and WebSockets: the overlay key on the REST feeds, the
origin allow-list and CORS, wrong operator tokens slowed per address, and the WebSocket's
query errors in the HTTP route's words."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from server.core.limits import MAX_SINCE
from tests.server_fixtures import AUTH, GAME, recv_json, running_feed

pytestmark = [pytest.mark.network, pytest.mark.anyio]

KEY = "overlay-key-for-tests-0123456789"
FEEDS = [
    f"/api/games/{GAME}/state",
    f"/api/games/{GAME}/state.xml",
    f"/api/games/{GAME}/state.csv",
    f"/api/games/{GAME}/state.flat.json",
    f"/api/games/{GAME}/events",
    f"/api/games/{GAME}/shots",
    f"/api/games/{GAME}/config",
]
GOOD_ORIGIN = "https://gfx.example.org"


def other(tmp_path: Path) -> Path:
    """A second server's folder in the same test."""
    path = tmp_path / "open"
    path.mkdir()
    return path


EVIL_ORIGIN = "https://evil.example.net"


# -- the overlay key on the REST feeds ---------------------------------------------------------


async def test_the_rest_feeds_need_the_overlay_key(tmp_path: Path) -> None:
    async with running_feed(tmp_path, overlay_key=KEY) as feed:
        for path in FEEDS:
            for params in ({}, {"key": ""}, {"key": KEY + "x"}, {"key": KEY[:-1]}, {"key": "é"}):
                r = await feed.http.get(path, params=params)
                assert r.status_code == 401, (path, params, r.text)
                assert r.json()["error"] == "unauthorized"
                assert "key=" in r.json()["message"]
                assert KEY not in r.text
            r = await feed.http.get(path, params={"key": KEY})
            assert r.status_code == 200, (path, r.text)
            r = await feed.http.get(path, headers=AUTH)  # the console's way: its token
            assert r.status_code == 200, (path, r.text)
            r = await feed.http.get(path, headers={"authorization": "Bearer not-the-token-at-all"})
            assert r.status_code == 401
        # the same routes stay open on a server without a key (the default)
    async with running_feed(other(tmp_path)) as feed:
        for path in FEEDS:
            assert (await feed.http.get(path)).status_code == 200, path


async def test_pages_and_the_socket_still_work_with_the_key(tmp_path: Path) -> None:
    async with running_feed(tmp_path, overlay_key=KEY) as feed:
        index = await feed.http.get("/")
        assert index.status_code == 200
        assert "YOUR_OVERLAY_KEY" in index.text and KEY not in index.text
        assert (await feed.http.get(f"/overlays/scorebug?game={GAME}")).status_code == 403
        page = await feed.http.get(f"/overlays/scorebug?game={GAME}&key={KEY}")
        assert page.status_code == 200
        assert KEY in page.text  # passed through to feed.js, which adds it to the socket URL
        r = await feed.http.get(f"/overlays/shotchart/shots.json?game={GAME}&key={KEY}")
        assert r.status_code == 200
        async with feed.ws(f"key={KEY}") as ws:
            assert (await recv_json(ws))["type"] == "hello"
        async with feed.ws() as ws:
            msg = await recv_json(ws)
            assert msg["type"] == "error" and "key" in msg["message"]
            with pytest.raises(ConnectionClosed) as closed:
                await recv_json(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


# -- origins and CORS --------------------------------------------------------------------------


async def test_origin_allow_list_on_the_socket(tmp_path: Path) -> None:
    async with running_feed(tmp_path, allowed_origins=GOOD_ORIGIN) as feed:
        for origin in (EVIL_ORIGIN, "null", GOOD_ORIGIN + ".evil.test"):
            with pytest.raises(InvalidStatus) as refused:
                async with feed.ws(origin=origin):
                    pass
            assert refused.value.response.status_code == 403
            assert b"forbidden_origin" in refused.value.response.body
        async with feed.ws(origin=GOOD_ORIGIN) as ws:
            assert (await recv_json(ws))["type"] == "hello"
        async with feed.ws() as ws:  # no Origin: vMix, CasparCG, tail
            assert (await recv_json(ws))["type"] == "hello"
        # the server's own overlay page (in OBS's Chromium) sends its own origin: allowed
        async with feed.ws(origin=feed.url) as ws:
            assert (await recv_json(ws))["type"] == "hello"
    async with running_feed(other(tmp_path)) as feed, feed.ws(origin=EVIL_ORIGIN) as ws:
        assert (await recv_json(ws))["type"] == "hello"  # no list: as before


async def test_origin_allow_list_and_cors_on_the_operator_api(tmp_path: Path) -> None:
    graphics = f"/api/games/{GAME}/graphics"
    body = {"action": "show", "name": "x", "payload": {}}
    async with running_feed(tmp_path, allowed_origins=GOOD_ORIGIN) as feed:
        before = len(await feed.events())
        r = await feed.http.post(graphics, json=body, headers={**AUTH, "origin": EVIL_ORIGIN})
        assert r.status_code == 403 and r.json()["error"] == "forbidden_origin"
        assert "access-control-allow-origin" not in r.headers
        assert len(await feed.events()) == before  # nothing changed

        r = await feed.http.post(graphics, json=body, headers={**AUTH, "origin": GOOD_ORIGIN})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == GOOD_ORIGIN
        assert r.headers["vary"] == "Origin"
        # errors of an allowed origin carry CORS too, so its page can read them
        r = await feed.http.post(graphics, content=b"{no", headers={**AUTH, "origin": GOOD_ORIGIN})
        assert r.status_code == 400 and r.headers["access-control-allow-origin"] == GOOD_ORIGIN
        r = await feed.http.post(graphics, json=body, headers={"origin": GOOD_ORIGIN})
        assert r.status_code == 401 and r.headers["access-control-allow-origin"] == GOOD_ORIGIN

        r = await feed.http.post(graphics, json=body, headers=AUTH)  # no Origin: curl
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
        # the console's own POSTs carry the server's origin: allowed without being listed
        r = await feed.http.post(graphics, json=body, headers={**AUTH, "origin": feed.url})
        assert r.status_code == 200

        pre = {"access-control-request-method": "POST"}
        r = await feed.http.options(graphics, headers={**pre, "origin": GOOD_ORIGIN})
        assert r.status_code == 204
        assert r.headers["access-control-allow-origin"] == GOOD_ORIGIN
        assert "POST" in r.headers["access-control-allow-methods"]
        assert "authorization" in r.headers["access-control-allow-headers"]
        r = await feed.http.options(graphics, headers={**pre, "origin": EVIL_ORIGIN})
        assert r.status_code == 403
        # the read routes get no CORS headers
        r = await feed.http.get(f"/api/games/{GAME}/state", headers={"origin": GOOD_ORIGIN})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers

    async with running_feed(other(tmp_path)) as feed:
        r = await feed.http.post(graphics, json=body, headers={**AUTH, "origin": EVIL_ORIGIN})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
        r = await feed.http.options(graphics, headers={"origin": EVIL_ORIGIN})
        assert r.status_code == 405


# -- wrong tokens slowed ----------------------------------------------------------------------


async def test_wrong_tokens_are_slowed_and_the_right_one_works_at_the_next_try(
    tmp_path: Path,
) -> None:
    graphics = f"/api/games/{GAME}/graphics"
    body = {"action": "show", "name": "x", "payload": {}}
    wrong = {"authorization": "Bearer wrong-token-0123456789abcdef"}
    async with running_feed(tmp_path, auth_failures=3, auth_failures_per_min=60) as feed:
        before = len(await feed.events())
        for _ in range(3):
            r = await feed.http.post(graphics, json=body, headers=wrong)
            assert r.status_code == 401
        r = await feed.http.post(graphics, json=body, headers=wrong)
        assert r.status_code == 429 and r.json()["error"] == "too_many_failures"
        assert r.headers["retry-after"] == "1"
        # while slowed, no token is checked: the right one too (documented)
        r = await feed.http.post(graphics, json=body, headers=AUTH)
        assert r.status_code == 429
        # no token at all is not a guess: 401 as ever
        assert (await feed.http.post(graphics, json=body)).status_code == 401
        # the read routes are not touched by it
        assert (await feed.http.get(f"/api/games/{GAME}/state")).status_code == 200
        assert len(await feed.events()) == before
        await anyio.sleep(1.05)
        r = await feed.http.post(graphics, json=body, headers=AUTH)
        assert r.status_code == 200, r.text


async def test_a_burst_of_500_wrong_tokens_is_mostly_refused_unchecked(tmp_path: Path) -> None:
    """The probe's 500 wrong tokens in 0.8 s: at most burst + rate * elapsed are checked."""
    url = f"/api/games/{GAME}/panic"
    async with running_feed(tmp_path, auth_failures=10, auth_failures_per_min=10) as feed:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(base_url=feed.url, limits=limits, timeout=10) as http:
            t0 = time.monotonic()
            codes: list[int] = []

            async def one(i: int) -> None:
                r = await http.post(url, headers={"authorization": f"Bearer wrong-{i:030d}"})
                codes.append(r.status_code)

            async with anyio.create_task_group() as tg:
                for i in range(500):
                    tg.start_soon(one, i)
            elapsed = time.monotonic() - t0
        assert len(codes) == 500 and set(codes) <= {401, 429}
        assert codes.count(401) <= 10 + 10 / 60 * elapsed + 1
        assert codes.count(429) >= 480
        r = await feed.http.post(url, headers=AUTH)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


# -- the WebSocket's query errors --------------------------------------------------------------


@pytest.mark.parametrize(
    "query, message",
    [
        ("since=abc", "bad query: since must be an integer, not 'abc'"),
        ("since=1.5", "bad query: since must be an integer, not '1.5'"),
        ("since=99999999999999999999", f"bad query: since must be between 0 and {MAX_SINCE}"),
        ("since=-1", f"bad query: since must be between 0 and {MAX_SINCE}"),
        ("types=shot,nope", "bad query: unknown event type(s): nope"),
    ],
)
async def test_a_bad_socket_query_is_refused_in_words(
    tmp_path: Path, query: str, message: str
) -> None:
    async with running_feed(tmp_path) as feed:
        http = await feed.http.get(f"/api/games/{GAME}/events?{query}")
        if query.startswith("since"):
            assert http.status_code == 400
            assert message.removeprefix("bad query: ") == http.json()["message"]
        async with feed.ws(query) as ws:
            msg = await recv_json(ws)
            assert msg == {"type": "error", "message": message}
            with pytest.raises(ConnectionClosed) as closed:
                await recv_json(ws)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1008
            assert closed.value.rcvd.reason == message[:120]
        async with feed.ws(f"since={MAX_SINCE}") as ws:  # the top of the range is fine
            assert (await recv_json(ws))["type"] == "hello"
