"""The HTTP API against a real uvicorn: operator auth, operator actions, errors as JSON, the
flat state for vMix (XML, CSV, JSON array), the event log's paging, shots, health, metrics and
the index page.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import anyio
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.server_fixtures import AUTH, GAME, TOKEN, Feed, recv_json, running_feed

pytestmark = [pytest.mark.network, pytest.mark.anyio, pytest.mark.usefixtures("broker")]

XSS = "<img src=x onerror=alert(1)>"
ALL_ARMED = {
    "made_three": True,
    "score_update": True,
    "period_change": True,
    "scoring_run": True,
    "hot_hand": True,
}

# (method, path, JSON body) of every operator route
OPERATOR_ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/api/games", {"id": "NEW1"}),
    ("DELETE", f"/api/games/{GAME}", None),
    ("POST", f"/api/games/{GAME}/graphics", {"action": "show", "name": "x", "payload": {}}),
    ("POST", f"/api/games/{GAME}/hold", {"held": True}),
    ("POST", f"/api/games/{GAME}/panic", None),
    ("PUT", f"/api/games/{GAME}/config", {"home": {"name": "Changed"}}),
]


async def snapshot(feed: Feed) -> tuple[Any, ...]:
    """What an operator route could change (the feed's poll times left out)."""
    state = await feed.state()
    state.pop("feed")
    games = (await feed.http.get("/api/games")).json()["games"]
    return state, [g["id"] for g in games], await feed.events()


def assert_error(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = r.json()
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]
    return body


async def test_operator_routes_refuse_missing_or_wrong_token(tmp_path: Path) -> None:
    """Every operator route: 401 JSON without a valid bearer token, and nothing changes."""
    async with running_feed(tmp_path) as feed:
        await feed.fire("before")
        before = await snapshot(feed)
        bad_headers: list[dict[str, str]] = [
            {},
            {"authorization": "Bearer wrong-token-0123456789abcdef"},
            {"authorization": f"Bearer {TOKEN}x"},
            {"authorization": f"Basic {TOKEN}"},
            {"authorization": TOKEN},
            {"authorization": "Bearer"},
            {"x-operator-token": TOKEN},
        ]
        for method, path, body in OPERATOR_ROUTES:
            for headers in bad_headers:
                r = await feed.http.request(method, path, json=body, headers=headers)
                assert_error(r, 401, "unauthorized")
                assert r.headers["www-authenticate"] == "Bearer"
            # auth comes before the body is read: a bad body still gets 401
            r = await feed.http.request(method, path, content=b"{not json")
            assert_error(r, 401, "unauthorized")
        assert await snapshot(feed) == before


async def test_operator_actions_with_token(tmp_path: Path) -> None:
    """graphics, hold, panic, config with the token: events, state, and the log follow."""
    async with running_feed(tmp_path) as feed, feed.ws() as ws:
        await recv_json(ws)
        api = f"/api/games/{GAME}"

        r = await feed.http.post(
            f"{api}/graphics",
            json={"action": "show", "name": "lower3", "payload": {"text": XSS}},
            headers=AUTH,
        )
        assert r.status_code == 200
        shown = r.json()["event"]
        assert shown["type"] == "graphic"
        assert shown["data"] == {"action": "show", "name": "lower3", "payload": {"text": XSS}}
        assert await recv_json(ws) == shown
        assert (await feed.state())["graphics"] == {"lower3": {"text": XSS}}

        r = await feed.http.post(
            f"{api}/graphics", json={"action": "hide", "name": "lower3"}, headers=AUTH
        )
        assert r.json()["event"]["data"] == {"action": "hide", "name": "lower3", "payload": {}}
        assert (await feed.state())["graphics"] == {}

        r = await feed.http.post(f"{api}/hold", json={"held": True}, headers=AUTH)
        assert r.status_code == 200
        held = r.json()["event"]
        assert held["type"] == "hold"
        assert held["data"] == {"held": True, "autofire": ALL_ARMED}
        r = await feed.http.post(
            f"{api}/hold", json={"autofire": {"made_three": False}}, headers=AUTH
        )
        assert r.json()["event"]["data"] == {
            "held": True,
            "autofire": {**ALL_ARMED, "made_three": False},
        }
        state = await feed.state()
        assert state["held"] is True
        assert state["autofire"]["made_three"] is False

        for name in ("a", "b"):
            await feed.fire(name, {"n": name})
        r = await feed.http.post(f"{api}/panic", headers=AUTH)
        assert r.status_code == 200
        cleared = r.json()["event"]
        assert cleared["type"] == "graphic"
        assert cleared["data"]["action"] == "clear"
        assert cleared["data"]["payload"] == {}
        assert (await feed.state())["graphics"] == {}

        config = {
            "home": {"teamId": "1", "name": XSS, "short": "H<b>", "color": "#112233"},
            "roster": {"7269": {"name": '<script>alert("x")</script>', "number": "23"}},
        }
        r = await feed.http.put(f"{api}/config", json=config, headers=AUTH)
        assert r.status_code == 200
        first = r.json()["event"]
        assert first["type"] == "config"
        assert first["data"]["home"] == config["home"]
        assert first["data"]["roster"] == config["roster"]
        r = await feed.http.put(f"{api}/config", json={"away": {"name": "Away"}}, headers=AUTH)
        merged = r.json()["event"]["data"]
        assert merged == {
            "home": config["home"],
            "away": {"teamId": None, "name": "Away", "short": None, "color": None},
            "roster": config["roster"],
        }
        state = await feed.state()
        assert state["home"]["name"] == XSS
        assert state["home"]["short"] == "H<b>"
        assert state["home"]["score"] == 11
        assert state["away"]["name"] == "Away"
        shots = (await feed.http.get(f"{api}/shots")).json()["shots"]
        assert shots[0]["player"] == {
            "id": "7269",
            "name": '<script>alert("x")</script>',
            "number": "23",
        }
        page = (await feed.http.get("/")).text
        assert XSS not in page
        assert "&lt;img src=x onerror=alert(1)&gt;" in page

        # the socket saw each action once, in the order of the log
        log = [e for e in await feed.events() if e["seq"] > shown["seq"]]
        with anyio.fail_after(5):
            got = [await recv_json(ws) for _ in log]
        assert got == log
        assert [e["type"] for e in log] == [
            "graphic",
            "hold",
            "hold",
            "graphic",
            "graphic",
            "graphic",
            # a config that renames players or teams moves the splits' rows: each is followed
            # by the stats event that says so, in its own commit
            "config",
            "stats",
            "config",
            "stats",
        ]


async def test_follow_and_unfollow_a_game(tmp_path: Path) -> None:
    """POST /api/games starts following (201, then 200); DELETE stops it; 404 afterwards."""
    async with running_feed(tmp_path) as feed:
        r = await feed.http.post("/api/games", json={"id": "EVT2"}, headers=AUTH)
        assert r.status_code == 201
        assert r.json() == {"id": "EVT2", "following": True}
        r = await feed.http.post("/api/games", json={"id": "EVT2"}, headers=AUTH)
        assert r.status_code == 200
        games = (await feed.http.get("/api/games")).json()["games"]
        assert [g["id"] for g in games] == [GAME, "EVT2"]
        assert set(games[0]) == {"id", "status", "feed", "home", "away"}
        assert games[0]["home"]["score"] == 11 and games[0]["away"]["score"] == 22
        assert games[0]["feed"]["ok"] is True

        r = await feed.http.delete("/api/games/EVT2", headers=AUTH)
        assert r.status_code == 200
        assert r.json() == {"id": "EVT2", "following": False}
        games = (await feed.http.get("/api/games")).json()["games"]
        assert [g["id"] for g in games] == [GAME]
        assert_error(await feed.http.get("/api/games/EVT2/state"), 404, "not_found")
        assert_error(await feed.http.delete("/api/games/EVT2", headers=AUTH), 404, "not_found")


async def test_labelled_operator_tokens(tmp_path: Path) -> None:
    """SHOTFEED_OPERATOR_TOKENS label:token pairs each authorize; labels themselves do not."""
    alice, bob = "alice-token-0123456789", "bob-token-0123456789-xyz"
    async with running_feed(
        tmp_path, operator_token="", operator_tokens=f"alice:{alice}, bob:{bob}"
    ) as feed:
        url = f"/api/games/{GAME}/graphics"
        body = {"action": "show", "name": "x"}
        for token in (alice, bob):
            r = await feed.http.post(url, json=body, headers={"authorization": f"Bearer {token}"})
            assert r.status_code == 200, r.text
        for token in ("alice", f"alice:{alice}", TOKEN, alice.upper()):
            r = await feed.http.post(url, json=body, headers={"authorization": f"Bearer {token}"})
            assert_error(r, 401, "unauthorized")


async def test_no_token_configured_still_closed(tmp_path: Path) -> None:
    """With no operator token set, the server makes its own: the routes are not open."""
    async with running_feed(tmp_path, operator_token="") as feed:
        before = await snapshot(feed)
        for method, path, body in OPERATOR_ROUTES:
            assert_error(await feed.http.request(method, path, json=body), 401, "unauthorized")
            r = await feed.http.request(
                method, path, json=body, headers={"authorization": "Bearer"}
            )
            assert_error(r, 401, "unauthorized")
        assert await snapshot(feed) == before


async def test_request_errors_are_json(tmp_path: Path) -> None:
    """Bad JSON 400, wrong fields 422, too large 413, unknown game/route 404, all JSON."""
    async with running_feed(tmp_path) as feed:
        before = await snapshot(feed)
        api = f"/api/games/{GAME}"
        for method, path in (
            ("POST", f"{api}/graphics"),
            ("POST", f"{api}/hold"),
            ("PUT", f"{api}/config"),
            ("POST", "/api/games"),
        ):
            for content in (b"{not json", b"", b"[1, 2]", b'"text"', b"\xff\xfe"):
                r = await feed.http.request(method, path, content=content, headers=AUTH)
                assert_error(r, 400, "bad_json")

        invalid: list[tuple[str, str, Any]] = [
            ("POST", f"{api}/graphics", {"action": "dance", "name": "x"}),
            ("POST", f"{api}/graphics", {"action": "show"}),
            ("POST", f"{api}/graphics", {"action": "show", "name": ""}),
            ("POST", f"{api}/graphics", {"action": "show", "name": "x" * 65}),
            ("POST", f"{api}/graphics", {"action": "show", "name": "x", "payload": [1]}),
            ("POST", f"{api}/hold", {}),
            ("POST", f"{api}/hold", {"held": "yes"}),
            ("POST", f"{api}/hold", {"hold": True}),
            ("POST", f"{api}/hold", {"autofire": {"clock": True}}),
            ("POST", f"{api}/hold", {"autofire": {"made_three": 1}}),
            ("PUT", f"{api}/config", {"bogus": 1}),
            ("PUT", f"{api}/config", {"home": "Lakers"}),
            ("PUT", f"{api}/config", {"home": {"colour": "#fff"}}),
            ("PUT", f"{api}/config", {"home": {"color": "red"}}),
            ("PUT", f"{api}/config", {"home": {"name": "x" * 81}}),
            ("PUT", f"{api}/config", {"roster": {"7269": "Smith"}}),
        ]
        for method, path, body in invalid:
            r = await feed.http.request(method, path, json=body, headers=AUTH)
            assert_error(r, 422, "invalid")
        for body in ({"id": "bad id!"}, {"id": 7}, {}):
            r = await feed.http.post("/api/games", json=body, headers=AUTH)
            assert_error(r, 422, "invalid")
        r = await feed.http.post(
            f"{api}/graphics",
            json={"action": "show", "name": "big", "payload": {"pad": "p" * 17000}},
            headers=AUTH,
        )
        assert_error(r, 413, "too_large")
        assert await snapshot(feed) == before

        for path in ("state", "state.xml", "state.csv", "state.flat.json", "events", "shots"):
            assert_error(await feed.http.get(f"/api/games/NOPE/{path}"), 404, "not_found")
        for method, path, body in OPERATOR_ROUTES[1:]:
            r = await feed.http.request(method, path.replace(GAME, "NOPE"), json=body, headers=AUTH)
            assert_error(r, 404, "not_found")
        for path in ("/nope", "/api/nope", "/api/games/EVT/nope", "/static/nope.js"):
            assert_error(await feed.http.get(path), 404, "not_found")
        assert_error(await feed.http.get(f"{api}/panic"), 405, "method_not_allowed")
        for query in ("since=abc", "since=-1", "limit=0", "limit=100000"):
            assert_error(await feed.http.get(f"{api}/events?{query}"), 400, "bad_request")


async def test_flat_state_for_vmix(tmp_path: Path) -> None:
    """state.xml, state.csv and state.flat.json are one flat row with the seed's values."""
    async with running_feed(tmp_path) as feed:
        api = f"/api/games/{GAME}"
        name = 'Home, "The" <Team> & Co'
        r = await feed.http.put(f"{api}/config", json={"home": {"name": name}}, headers=AUTH)
        assert r.status_code == 200

        r = await feed.http.get(f"{api}/state.xml")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/xml")
        root = ET.fromstring(r.content)
        assert root.tag == "shotfeed"
        (game,) = list(root)
        from_xml = {child.tag: child.text or "" for child in game}

        r = await feed.http.get(f"{api}/state.csv")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(r.text)))
        assert len(rows) == 2
        header, values = rows
        assert len(header) == len(values)
        from_csv = dict(zip(header, values, strict=True))

        r = await feed.http.get(f"{api}/state.flat.json")
        assert r.status_code == 200
        flat = r.json()
        assert isinstance(flat, list) and len(flat) == 1
        (from_json,) = flat

        assert from_xml == from_csv == from_json
        row = from_json
        assert all(isinstance(v, str) for v in row.values())
        assert row["home_score"] == "11"
        assert row["away_score"] == "22"
        assert row["period"] == "H2"
        assert row["period_label"] == "2nd Half"
        assert row["clock"] == "15:00"
        assert row["home_name"] == name
        assert row["last_shot_distance_ft"] == "19.1"
        assert row["last_shot_result"] == "MISSED 2"


async def test_event_log_pages_with_since_and_limit(tmp_path: Path) -> None:
    """/events?since&limit pages through the whole log, in order, without gap or repeat."""
    async with running_feed(tmp_path) as feed:
        await feed.fire_many(7)
        everything = await feed.events()
        seqs = [e["seq"] for e in everything]
        assert seqs == list(range(1, len(seqs) + 1))
        assert len(seqs) >= 7

        pages: list[list[dict[str, Any]]] = []
        since = 0
        while True:
            r = await feed.http.get(
                f"/api/games/{GAME}/events", params={"since": since, "limit": 3}
            )
            assert r.status_code == 200
            page = r.json()["events"]
            if not page:
                break
            assert len(page) <= 3
            pages.append(page)
            since = page[-1]["seq"]
        assert [e for page in pages for e in page] == everything
        assert all(len(p) == 3 for p in pages[:-1])

        r = await feed.http.get(f"/api/games/{GAME}/events", params={"since": seqs[-3]})
        assert [e["seq"] for e in r.json()["events"]] == seqs[-2:]
        for e in everything:
            assert set(e) >= {"seq", "type", "game", "at", "data"}
            assert e["game"] == GAME


async def test_shots_health_metrics_and_index(tmp_path: Path) -> None:
    """/shots has the seed shot; /healthz; /metrics is Prometheus text; / lists overlay URLs."""
    async with running_feed(tmp_path) as feed:
        r = await feed.http.get(f"/api/games/{GAME}/shots")
        assert r.status_code == 200
        (shot,) = r.json()["shots"]
        assert shot["key"] == "1663870491879"
        assert shot["t"] == 1663870491879
        assert shot["distanceFt"] == 19.1
        assert shot["made"] is False and shot["three"] is False and shot["points"] == 0
        assert shot["period"] == "Q1"
        assert shot["teamId"] == "552" and shot["team"] is None
        assert shot["attributes"] == ["OTD"]

        r = await feed.http.get("/healthz")
        assert r.status_code == 200
        assert r.json()["ok"] is True

        fired = await feed.fire_many(3)
        async with feed.ws() as ws:
            await recv_json(ws)
            r = await feed.http.get("/metrics")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text)
            for s in family.samples
        }
        names = {name for name, _ in samples}
        for name in (
            "shotfeed_clients",
            "shotfeed_events_total",
            "shotfeed_polls_total",
            "shotfeed_poll_seconds_count",
            "shotfeed_fanout_seconds_count",
            "shotfeed_clients_dropped_total",
        ):
            assert name in names, name
        assert samples[("shotfeed_clients", ())] == 1
        assert samples[("shotfeed_events_total", (("type", "graphic"),))] == len(fired)
        assert samples[("shotfeed_polls_total", (("outcome", "ok"),))] >= 1
        assert samples[("shotfeed_poll_seconds_count", ())] >= 1
        assert samples[("shotfeed_fanout_seconds_count", ())] == len(fired)
        assert samples[("shotfeed_clients_dropped_total", ())] == 0

        r = await feed.http.get("/")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        page = r.text
        assert GAME in page
        for overlay in ("scorebug", "three", "period", "ticker", "shotchart", "scoreboard"):
            assert f"{feed.url}/overlays/{overlay}?game={GAME}" in page
        assert f"{feed.ws_base}/ws/games/{GAME}" in page
        assert f"{feed.url}/api/games/{GAME}/state.xml" in page
