"""The ShotTracker secret and the operator token never leave the server (SPEC, issue 11).

One whole simulated game, followed by ``python -m server serve`` as a subprocess with a known
username/secret (the simulator refuses unsigned or wrongly signed requests, so the game only
plays if the server really signs with that secret) and a known operator token. Meanwhile a
WebSocket client records every message, a crawler fetches every page, route and static file
(reads and operator actions, with the token), and a second, unknown game makes the poller log
and report 404s. Then every response body and header, every WebSocket message and every line
the process wrote is searched: neither the secret nor the token may appear anywhere.

The second test checks the other half of the promise: every state-changing operator route
answers 401 without the token and 401/403 with a wrong one (429 once that address is slowed),
and nothing changes.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from server.sim.loopback import LoopbackServer
from server.sim.simgame import simulate_game
from server.sim.simulator import create_simulator_app
from server.web.pages import OVERLAYS
from tests.server_fixtures import GAME as FIXTURE_GAME
from tests.server_fixtures import TOKEN as FIXTURE_TOKEN
from tests.server_fixtures import free_port, running_feed, serve_process

pytestmark = [pytest.mark.network]

ROOT = Path(__file__).resolve().parents[1]
GAME = "SECRETS1"
USERNAME = "shotfeed-test-user"
SECRET = "S3cr3t-" + "k9QzX2vLmP7wRt4YbN8c"  # distinctive: no accidental match
TOKEN = "op-token-" + "Hq6Jd2Lw9Vx4Ce7Rb1Nz"
SPEED = 240.0


def leaks(text: str) -> list[str]:
    """Which of the two secrets ``text`` holds (also URL- or JSON-escaped forms)."""
    found = []
    for name, value in (("secret", SECRET), ("token", TOKEN)):
        if value in text or value.replace("-", "%2D") in text:
            found.append(name)
    return found


class Seen:
    """Everything the server said, with where it said it (for the failure message)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, where: str, text: str) -> None:
        self.items.append((where, text))

    def response(self, r: httpx.Response) -> None:
        where = f"{r.request.method} {r.request.url.path} -> {r.status_code}"
        self.add(where, r.text)
        self.add(where + " headers", "\n".join(f"{k}: {v}" for k, v in r.headers.items()))

    def leaked(self) -> list[tuple[str, list[str]]]:
        return [(where, found) for where, text in self.items if (found := leaks(text))]


async def crawl(http: httpx.AsyncClient, seen: Seen, auth: dict[str, str]) -> None:
    """Every read route, page and static file once; the operator reads with the token."""
    reads = [
        "/",
        "/healthz",
        "/metrics",
        "/operator",
        "/api/games",
        f"/api/games/{GAME}/state",
        f"/api/games/{GAME}/state.xml",
        f"/api/games/{GAME}/state.csv",
        f"/api/games/{GAME}/state.flat.json",
        f"/api/games/{GAME}/events?limit=1000",
        f"/api/games/{GAME}/shots",
        f"/api/games/{GAME}/config",
        "/api/games/NOPE404/state",
    ]
    reads += [f"/overlays/{name}?game={GAME}&debug=1" for name in OVERLAYS]
    reads += [f"/overlays/{name}/manifest.json" for name in OVERLAYS]
    reads += [
        f"/static/{p.relative_to(ROOT / 'static')}"
        for p in sorted((ROOT / "static").rglob("*"))
        if p.is_file() and p.suffix in (".js", ".css")
    ]
    for path in reads:
        seen.response(await http.get(path))
    for path in (f"/api/games/{GAME}/audit", "/api/operator", "/api/games"):
        seen.response(await http.get(path, headers=auth))


async def operate(http: httpx.AsyncClient, seen: Seen, auth: dict[str, str], i: int) -> None:
    """Operator actions with the token: each answer is searched too."""
    base = f"/api/games/{GAME}"
    calls: list[tuple[str, str, Any]] = [
        ("POST", f"{base}/graphics", {"action": "show", "name": "lowerthird", "payload": {"i": i}}),
        ("POST", f"{base}/hold", {"held": i % 2 == 0}),
        ("PUT", f"{base}/override", {"home": 10 + i}),
        ("DELETE", f"{base}/override", None),
        ("PUT", f"{base}/config", {"home": {"name": f"Home {i}"}}),
        ("POST", f"{base}/panic", None),
    ]
    for method, path, body in calls:
        r = await http.request(method, path, json=body, headers=auth)
        assert r.status_code < 400, (method, path, r.status_code, r.text)
        seen.response(r)


@pytest.mark.anyio
async def test_a_whole_game_never_shows_the_secret_or_the_token(tmp_path: Path) -> None:
    game = simulate_game(3, "quarters", period_minutes=2)
    upstream_app = create_simulator_app(
        game, speed=SPEED, event_id=GAME, credentials={USERNAME: SECRET}
    )
    port = free_port()
    seen = Seen()
    ws_messages: list[str] = []
    env = dict(
        os.environ,
        SHOTTRACKER_USERNAME=USERNAME,
        SHOTTRACKER_SECRET=SECRET,
        SHOTFEED_OPERATOR_TOKEN=TOKEN,
        SHOTFEED_GAMES="",
        PYTHONUNBUFFERED="1",
    )
    auth = {"Authorization": f"Bearer {TOKEN}"}
    args = [
        *("-v", "serve", "--game", GAME, "--port", str(port)),
        *("--db", str(tmp_path / "s.db"), "--poll-interval", "0.2"),
    ]
    with LoopbackServer(upstream_app) as upstream:
        async with (
            serve_process(
                [*args, "--upstream", upstream.url],
                env=env,
                cwd=tmp_path,
                port=port,
                ready=f"/api/games/{GAME}/state",
            ) as child,
            httpx.AsyncClient(base_url=child.url, timeout=10) as http,
        ):
            proc = child.proc
            # an unknown game: the poller gets 404s and reports them (log, feed_status)
            r = await http.post("/api/games", json={"id": "NOPE404"}, headers=auth)
            assert r.status_code == 201, r.text
            seen.response(r)

            async def record() -> None:
                async with connect(
                    f"ws://127.0.0.1:{port}/ws/games/{GAME}?since=0", ping_interval=None
                ) as ws:
                    async for message in ws:
                        assert isinstance(message, str)
                        ws_messages.append(message)

            final = False
            deadline = time.monotonic() + game.duration_s / SPEED + 30
            async with anyio.create_task_group() as tg:
                tg.start_soon(record)
                i = 0
                while not final:
                    assert time.monotonic() < deadline, "the game did not end"
                    assert proc.poll() is None, child.log()[-3000:]
                    await crawl(http, seen, auth)
                    await operate(http, seen, auth, i)
                    i += 1
                    state = (await http.get(f"/api/games/{GAME}/state")).json()
                    final = state["status"] not in ("ACTIVE", "SCHEDULED", None)
                    await anyio.sleep(1.0)
                await crawl(http, seen, auth)
                await anyio.sleep(0.5)
                tg.cancel_scope.cancel()
    log_text = child.log()
    seen.add("server log", log_text)
    for message in ws_messages:
        seen.add("websocket", message)

    # it really was a whole game, signed with the secret, with errors on the way
    types = [orjson.loads(m)["type"] for m in ws_messages]
    assert {"hello", "shot", "made_three", "score_update", "period_change", "graphic"} <= set(types)
    assert types.count("shot") >= 20
    assert len(seen.items) > 200
    assert re.search(r"NOPE404.*not_found|not_found.*NOPE404|404", log_text), log_text[-2000:]
    assert "stopping" in log_text.lower() or "stopped" in log_text.lower(), log_text[-2000:]

    assert seen.leaked() == [], seen.leaked()[:5]


@pytest.mark.anyio
async def test_operator_routes_refuse_without_or_with_a_wrong_token_and_change_nothing(
    tmp_path: Path,
) -> None:
    base = f"/api/games/{FIXTURE_GAME}"
    routes: list[tuple[str, str, Any]] = [
        ("POST", "/api/games", {"id": "OTHER"}),
        ("DELETE", base, None),
        ("POST", f"{base}/graphics", {"action": "show", "name": "x", "payload": {}}),
        ("POST", f"{base}/hold", {"held": True}),
        ("POST", f"{base}/panic", None),
        ("PUT", f"{base}/override", {"home": 99}),
        ("DELETE", f"{base}/override", None),
        ("POST", f"{base}/override/undo", None),
        ("PUT", f"{base}/config", {"home": {"name": "Hacked"}}),
        ("POST", f"{base}/roster", "pid,number,name\n1,2,Hacked\n"),
    ]
    wrong_headers = (
        "Bearer wrong-token-wrong-token",
        f"Bearer {FIXTURE_TOKEN}x",
        f"Bearer {FIXTURE_TOKEN[:-1]}",
        f"Basic {FIXTURE_TOKEN}",
    )
    async with running_feed(tmp_path, auth_failures=10) as feed:
        http = feed.http

        async def snapshot() -> tuple[Any, ...]:
            # read as a client would, except the audit (the right token is slowed too once
            # this address sent too many wrong ones): straight from the store's file
            state = (await http.get(f"{base}/state")).json()
            events = (await http.get(f"{base}/events?limit=1000")).json()["events"]
            games = (await http.get("/api/games")).json()["games"]
            with sqlite3.connect(feed.settings.db_path) as db:
                (audit,) = db.execute("SELECT count(*) FROM audit").fetchone()
            return state["seq"], len(events), audit, [g["id"] for g in games]

        before = await snapshot()
        budget = feed.settings.auth_failures
        wrong = 0
        for method, path, body in routes:
            kwargs: dict[str, Any] = (
                {"content": body, "headers": {"content-type": "text/csv"}}
                if isinstance(body, str)
                else {"json": body}
            )
            extra: dict[str, str] = kwargs.pop("headers", {})
            r = await http.request(method, path, headers=extra, **kwargs)
            assert (r.status_code, r.json()["error"]) == (401, "unauthorized"), (method, path)
            for header in wrong_headers:
                headers = {**extra, "Authorization": header}
                r = await http.request(method, path, headers=headers, **kwargs)
                wrong += 1
                if wrong <= budget:
                    assert r.status_code in (401, 403), (method, path, header, r.status_code)
                else:  # slowed: at most a trickle of further tries is even looked at
                    assert r.status_code in (401, 403, 429), (method, path, r.status_code)
                assert FIXTURE_TOKEN not in r.text
        assert wrong > budget
        r = await http.post(f"{base}/panic", headers={"Authorization": "Bearer nope-nope-nope"})
        assert r.status_code == 429 and "retry-after" in r.headers
        assert await snapshot() == before


def test_the_scan_finds_what_it_looks_for() -> None:
    """The search itself can fail: a secret in a log line, a JSON body or a URL is found."""
    assert leaks(f"signing with {SECRET} failed") == ["secret"]
    assert leaks(orjson.dumps({"t": TOKEN}).decode()) == ["token"]
    assert leaks("https://x/?k=" + SECRET.replace("-", "%2D")) == ["secret"]
    assert leaks("nothing here") == []
