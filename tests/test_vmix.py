"""vMix titles pushed live: the map is checked, only changed fields are sent, bursts coalesce,
and vMix being down, slow or answering errors never blocks the poll and heals by itself.

The vMix here is a loopback server that speaks vMix's documented HTTP API
(``GET /api/?Function=SetText&Input=…&SelectedName=….Text&Value=…``) and records every call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import pytest
from starlette.types import Receive, Scope, Send

from server.core.vmix import SOURCES, Call, VmixConfig, plan
from server.errors import ConfigError
from tests.server_fixtures import AUTH, GAME, Feed, free_port, running_feed, seed_doc
from tests.upstream_app import LiveServer, Reply

API = f"/api/games/{GAME}"
INPUT = "Scorebug.gtzip"
FIELDS = {
    "home_score": "HomeScore.Text",
    "away_score": "AwayScore.Text",
    "home_name": "HomeName.Text",
    "clock": "Clock.Text",
    "period_label": "Period.Text",
    "last_shot_player": "Shooter.Text",
}


# -- the pure part ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ("x", "vmix must be an object"),
        ({"port": 1}, "unknown vmix field(s): port"),
        ({"url": "ftp://x"}, "http:// or https://"),
        ({"url": "http://h:8088/api/?Function=Cut"}, "without a path"),
        ({"url": 5}, "must be a URL"),
        ({"input": ""}, "vmix.input must be a non-empty string"),
        ({"input": "x" * 121}, "longer than 120"),
        ({"fields": []}, "vmix.fields must be an object"),
        ({"fields": {"home_scor": "A.Text"}}, "'home_scor' is not a shotfeed field"),
        ({"fields": {"home_score": ""}}, "vmix.fields.home_score must be a non-empty string"),
        ({"enabled": "yes"}, "vmix.enabled must be true or false"),
    ],
)
def test_a_bad_map_is_refused_with_its_reason(patch: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        VmixConfig().merged(patch)


def test_merge_keeps_what_is_left_out_and_null_unmaps() -> None:
    cfg = VmixConfig().merged({"url": "http://10.0.0.5:8088/", "input": 3, "fields": FIELDS})
    assert (cfg.url, cfg.input, cfg.active) == ("http://10.0.0.5:8088", "3", True)
    cfg = cfg.merged({"enabled": False})
    assert cfg.fields == FIELDS and not cfg.active
    cfg = cfg.merged({"fields": {**FIELDS, "clock": None}, "enabled": True})
    assert "clock" not in cfg.fields and cfg.active
    assert VmixConfig.from_data(cfg.to_data()) == cfg
    assert set(FIELDS) <= set(SOURCES)


def test_plan_sends_only_what_differs() -> None:
    cfg = VmixConfig(input=INPUT, fields={"home_score": "H.Text", "clock": "C.Text"})
    row = {"home_score": "11", "clock": "15:00"}
    assert plan(cfg, {}, row) == [Call("H.Text", "11"), Call("C.Text", "15:00")]
    assert plan(cfg, {"H.Text": "11", "C.Text": "15:00"}, row) == []
    assert plan(cfg, {"H.Text": "11", "C.Text": "15:00"}, {**row, "clock": "14:59"}) == [
        Call("C.Text", "14:59")
    ]
    assert plan(cfg, {"H.Text": "11"}, {"clock": "1:00"}) == [
        Call("H.Text", ""),  # a field the row lacks is cleared, not left stale
        Call("C.Text", "1:00"),
    ]
    assert plan(VmixConfig(fields={"clock": "C.Text"}), {}, row) == []  # no input: inactive


def test_the_call_is_vmix_documented_query() -> None:
    cfg = VmixConfig(input="Title 0- The Classic Blue.gtzip")
    q = Call("Description.Text", "Ortiz & Bell 3/4 #1").query(cfg)
    parts = urlsplit(q)
    assert parts.path == "/api/"
    assert parse_qs(parts.query) == {
        "Function": ["SetText"],
        "Input": ["Title 0- The Classic Blue.gtzip"],
        "SelectedName": ["Description.Text"],
        "Value": ["Ortiz & Bell 3/4 #1"],
    }


# -- a vMix on loopback -------------------------------------------------------------------------


@dataclass
class FakeVmix:
    """Answers like vMix: 200 "Function completed successfully." or, when told, 500 with
    vMix's text, or after a delay. Records (SelectedName, Value) of every SetText."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    arrived: int = 0  # requests received, counted before any delay
    fail: bool = False
    delay: float = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        q = parse_qs(scope["query_string"].decode())
        self.arrived += 1
        if self.delay:
            await anyio.sleep(self.delay)
        if scope["path"].lower() != "/api/" or q.get("Function") != ["SetText"]:
            status, body = 404, b"Not found"
        elif self.fail:
            status, body = 500, b"Input not found"
        else:
            self.calls.append((q["SelectedName"][0], q.get("Value", [""])[0]))
            self.inputs.append(q["Input"][0])
            status, body = 200, b"Function completed successfully."
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def last(self, name: str) -> str | None:
        values = [v for n, v in self.calls if n == name]
        return values[-1] if values else None


async def _until(pred: Any, timeout: float = 10) -> None:
    with anyio.fail_after(timeout):
        while not pred():
            await anyio.sleep(0.02)


async def _health(feed: Feed) -> dict[str, Any]:
    r = await feed.http.get(f"{API}/vmix", headers=AUTH)
    assert r.status_code == 200, r.text
    health: dict[str, Any] = r.json()["health"]
    return health


def _with_shot(home: int, t_offset: int) -> dict[str, Any]:
    doc = seed_doc()
    shot = dict(doc["shots"][0], t=doc["shots"][0]["t"] + t_offset, pid="7300", tid="1")
    shot.update(st="MAKE", pts=2)
    doc["shots"].append(shot)
    doc["gameTotals"]["homeTeamScore"]["value"] = home
    return doc


@pytest.mark.network
@pytest.mark.anyio
async def test_titles_follow_the_game_and_heal_after_vmix_trouble(tmp_path: Path) -> None:
    vmix = FakeVmix()
    with LiveServer(vmix) as vm:
        async with running_feed(tmp_path) as feed:
            r = await feed.http.put(f"{API}/vmix", json={"url": vm.url}, headers=AUTH)
            assert r.status_code == 200 and r.json()["health"]["active"] is False
            r = await feed.http.put(
                f"{API}/vmix", json={"fields": {"nope": "X.Text"}}, headers=AUTH
            )
            assert r.status_code == 422 and "not a shotfeed field" in r.json()["message"]
            r = await feed.http.put(f"{API}/vmix", json={"input": INPUT, "fields": FIELDS})
            assert r.status_code == 401  # operator only
            r = await feed.http.put(
                f"{API}/vmix", json={"input": INPUT, "fields": FIELDS}, headers=AUTH
            )
            assert r.status_code == 200
            assert r.json()["config"]["fields"] == FIELDS

            # every mapped field goes out once, with the seed's values
            await _until(lambda: len(vmix.calls) >= len(FIELDS))
            assert dict(vmix.calls) == {
                "HomeScore.Text": "11",
                "AwayScore.Text": "22",
                "HomeName.Text": "",
                "Clock.Text": "15:00",
                "Period.Text": "2nd Half",
                "Shooter.Text": "",
            }
            assert set(vmix.inputs) == {INPUT}
            health = await _health(feed)
            assert health["ok"] is True and health["pending"] == 0

            # a shot: only what changed is sent
            await feed.http.put(
                f"{API}/config", json={"roster": {"7300": {"name": "Ulloa"}}}, headers=AUTH
            )
            before = len(vmix.calls)
            feed.upstream.push(Reply(200, _with_shot(13, 5_000)))
            await _until(lambda: vmix.last("HomeScore.Text") == "13")
            await _until(lambda: vmix.last("Shooter.Text") == "Ulloa")
            sent = {n for n, _ in vmix.calls[before:]}
            assert sent == {"HomeScore.Text", "Shooter.Text"}

            # a burst of twenty renames in a row: coalesced, and the last one wins
            before = len(vmix.calls)
            for i in range(20):
                await feed.http.put(
                    f"{API}/config", json={"home": {"name": f"Hawks {i}"}}, headers=AUTH
                )
            await _until(lambda: vmix.last("HomeName.Text") == "Hawks 19")
            await anyio.sleep(0.3)
            renames = [v for n, v in vmix.calls[before:] if n == "HomeName.Text"]
            assert renames[-1] == "Hawks 19" and len(renames) < 20

            # vMix answers errors: the output says so, retries, and when vMix is well again it
            # sends every field (a restarted vMix has lost them)
            vmix.fail = True
            feed.upstream.push(Reply(200, _with_shot(15, 5_000)))
            await _until(lambda: feed.app.state.games.vmix[GAME].health().ok is False)
            health = await _health(feed)
            assert health["error"] == "vmix_error" and "Input not found" in health["message"]
            assert await feed.metric(f'shotfeed_vmix_ok{{game="{GAME}"}}') == 0.0
            # the poll went on meanwhile
            assert (await feed.state())["home"]["score"] == 15
            before = len(vmix.calls)
            vmix.fail = False
            await _until(lambda: {n for n, _ in vmix.calls[before:]} == set(FIELDS.values()), 15)
            assert vmix.last("HomeScore.Text") == "15"
            health = await _health(feed)
            assert health["ok"] is True and health["failures"] >= 1
            assert await feed.metric(f'shotfeed_vmix_ok{{game="{GAME}"}}') == 1.0
            ok_calls = await feed.metric(
                f'shotfeed_vmix_requests_total{{game="{GAME}",outcome="ok"}}'
            )
            assert ok_calls >= len(vmix.calls) - 1

            # a vMix too slow to answer: a timeout, and the poll is not held up by it
            vmix.delay = 3.0
            feed.upstream.push(Reply(200, _with_shot(17, 5_000)))
            with anyio.fail_after(3):
                while (await feed.state())["home"]["score"] != 17:
                    await anyio.sleep(0.05)
            await _until(lambda: feed.app.state.games.vmix[GAME].health().ok is False, 10)
            assert (await _health(feed))["error"] == "timeout"
            vmix.delay = 0.0
            await _until(lambda: vmix.last("HomeScore.Text") == "17", 15)

            # vMix gone altogether (nothing listens): unreachable, said once, retried
            r = await feed.http.put(
                f"{API}/vmix", json={"url": f"http://127.0.0.1:{free_port()}"}, headers=AUTH
            )
            assert r.status_code == 200
            await _until(lambda: feed.app.state.games.vmix[GAME].health().error == "unreachable")

            # paused: nothing more is sent; removed: the map is gone (audited both times)
            r = await feed.http.put(
                f"{API}/vmix", json={"url": vm.url, "enabled": False}, headers=AUTH
            )
            assert r.json()["health"]["active"] is False
            before = vmix.arrived
            feed.upstream.push(Reply(200, _with_shot(19, 5_000)))
            await anyio.sleep(1.2)
            assert vmix.arrived == before
            r = await feed.http.delete(f"{API}/vmix", headers=AUTH)
            assert r.json()["config"] is None
            r = await feed.http.get(f"{API}/audit", headers=AUTH)
            assert [e["action"] for e in r.json()["entries"]].count("vmix") >= 5


@pytest.mark.network
@pytest.mark.anyio
async def test_a_bug_in_the_output_never_stops_the_poller(tmp_path: Path) -> None:
    """Whatever the output's task raises, the game goes on polling and the output restarts."""
    vmix = FakeVmix()
    with LiveServer(vmix) as vm:
        async with running_feed(tmp_path) as feed:
            output = feed.app.state.games.vmix[GAME]
            real_row = output._row
            calls = {"n": 0}

            def broken_once() -> Any:
                calls["n"] += 1
                if calls["n"] == 1:
                    raise RuntimeError("a bug in the row")
                return real_row()

            output._row = broken_once
            r = await feed.http.put(
                f"{API}/vmix",
                json={"url": vm.url, "input": INPUT, "fields": {"home_score": "H.Text"}},
                headers=AUTH,
            )
            assert r.status_code == 200
            # the poller still polls meanwhile
            feed.upstream.push(Reply(200, _with_shot(13, 5_000)))
            with anyio.fail_after(10):
                while (await feed.state())["home"]["score"] != 13:
                    await anyio.sleep(0.05)
            # and the output came back by itself, with the value as it is now
            await _until(lambda: vmix.last("H.Text") == "13", 15)
            assert calls["n"] >= 2
            assert any("vMix output failed" in r.getMessage() for r in feed.errors)
            feed.errors.clear()  # the one ERROR this test provokes on purpose
