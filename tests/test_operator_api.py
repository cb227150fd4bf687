"""The operator API of the console against a real uvicorn: every operator route refuses a
missing or wrong token (401, nothing changes); each action with a token is audited under the
token's label; the manual override sets, merges, clears and undoes, shows the override and the
upstream side by side, keeps the upstream's truth in the log, and survives a restart; roster
import (CSV, JSON); rehearsal graphics; the console page itself.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.core import roster_import
from server.errors import ConfigError
from tests.browser import shot, with_shots
from tests.server_fixtures import AUTH, GAME, TOKEN, Feed, recv_json, running_feed
from tests.upstream_app import Reply

pytestmark = [pytest.mark.network, pytest.mark.anyio, pytest.mark.usefixtures("broker")]

API = f"/api/games/{GAME}"
ALICE = "alice-token-0123456789"
BOB = "bob-token-0123456789-xyz"
AS_ALICE = {"authorization": f"Bearer {ALICE}"}
AS_BOB = {"authorization": f"Bearer {BOB}"}
CSV = "text/csv"

# (method, path, body, content type) of every operator route; a JSON body unless a type is given
ROUTES: list[tuple[str, str, Any, str | None]] = [
    ("POST", "/api/games", {"id": "NEW1"}, None),
    ("DELETE", API, None, None),
    ("POST", f"{API}/graphics", {"action": "show", "name": "lowerthird", "payload": {}}, None),
    ("POST", f"{API}/hold", {"held": True}, None),
    ("POST", f"{API}/panic", None, None),
    ("PUT", f"{API}/config", {"home": {"name": "Changed"}}, None),
    ("POST", f"{API}/roster", "pid,number,name\n7301,3,Maya Ortiz\n", CSV),
    ("PUT", f"{API}/override", {"home": 54}, None),
    ("DELETE", f"{API}/override", None, None),
    ("POST", f"{API}/override/undo", None, None),
    ("GET", f"{API}/audit", None, None),
    ("GET", "/api/operator", None, None),
]
BAD_HEADERS: list[dict[str, str]] = [
    {},
    {"authorization": "Bearer wrong-token-0123456789abcdef"},
    {"authorization": f"Bearer {TOKEN}x"},
    {"authorization": f"Bearer {TOKEN[:-1]}"},
    {"authorization": f"Basic {TOKEN}"},
    {"authorization": TOKEN},
    {"authorization": "Bearer"},
    {"x-operator-token": TOKEN},
    {"cookie": f"token={TOKEN}"},
]


async def send(
    feed: Feed, method: str, path: str, body: Any, ctype: str | None, headers: dict[str, str]
) -> httpx.Response:
    if ctype is None:
        return await feed.http.request(method, path, json=body, headers=headers)
    return await feed.http.request(
        method, path, content=body, headers={**headers, "content-type": ctype}
    )


async def audit(feed: Feed, headers: dict[str, str] = AUTH) -> list[dict[str, Any]]:
    r = await feed.http.get(f"{API}/audit", headers=headers)
    assert r.status_code == 200, r.text
    entries: list[dict[str, Any]] = r.json()["entries"]
    return entries


async def everything(feed: Feed) -> tuple[Any, ...]:
    """What an operator route could change (the feed's poll times left out)."""
    state = await feed.state()
    state.pop("feed")
    games = (await feed.http.get("/api/games")).json()["games"]
    config = (await feed.http.get(f"{API}/config")).json()
    return state, [g["id"] for g in games], await feed.events(), config, await audit(feed)


def assert_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = r.json()
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]
    return body


async def put_override(feed: Feed, body: Any, headers: dict[str, str] = AUTH) -> dict[str, Any]:
    r = await feed.http.put(f"{API}/override", json=body, headers=headers)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


# -- authorisation -------------------------------------------------------------------------------


async def test_every_operator_route_refuses_a_missing_or_wrong_token(tmp_path: Path) -> None:
    """401 JSON with WWW-Authenticate for each, before the body is read; nothing changes."""
    async with running_feed(tmp_path) as feed:
        await put_override(feed, {"home": 40})  # so undo and clear would have work to do
        before = await everything(feed)
        for method, path, body, ctype in ROUTES:
            for headers in BAD_HEADERS:
                r = await send(feed, method, path, body, ctype, headers)
                assert_error(r, 401, "unauthorized")
                assert r.headers["www-authenticate"] == "Bearer"
                assert TOKEN not in r.text
            r = await feed.http.request(method, path, content=b"{not json")
            assert_error(r, 401, "unauthorized")
        assert await everything(feed) == before


async def test_every_operator_route_works_with_the_token(tmp_path: Path) -> None:
    async with running_feed(tmp_path) as feed:
        by_route = {(method, path): (body, ctype) for method, path, body, ctype in ROUTES}
        order = [
            ("POST", "/api/games"),
            ("POST", f"{API}/graphics"),
            ("POST", f"{API}/hold"),
            ("POST", f"{API}/panic"),
            ("PUT", f"{API}/config"),
            ("POST", f"{API}/roster"),
            ("PUT", f"{API}/override"),
            ("POST", f"{API}/override/undo"),
            ("PUT", f"{API}/override"),
            ("DELETE", f"{API}/override"),
            ("GET", f"{API}/audit"),
            ("GET", "/api/operator"),
            ("DELETE", API),
        ]
        assert set(order) == set(by_route)
        for method, path in order:
            body, ctype = by_route[(method, path)]
            r = await send(feed, method, path, body, ctype, AUTH)
            assert r.status_code in (200, 201), (method, path, r.text)


# -- audit ----------------------------------------------------------------------------------------


async def test_each_action_is_audited_under_the_token_label(tmp_path: Path) -> None:
    """Who (label), what, when, before -> after, newest first; reads are not audited."""
    async with running_feed(
        tmp_path, operator_token="", operator_tokens=f"alice:{ALICE},bob:{BOB}"
    ) as feed:
        steps: list[tuple[dict[str, str], str, str, Any, str | None]] = [
            (
                AS_ALICE,
                "POST",
                f"{API}/graphics",
                {"action": "show", "name": "lowerthird", "payload": {"title": "Coach"}},
                None,
            ),
            (AS_BOB, "POST", f"{API}/graphics", {"action": "hide", "name": "lowerthird"}, None),
            (AS_ALICE, "POST", f"{API}/hold", {"held": True}, None),
            (AS_BOB, "POST", f"{API}/panic", None, None),
            (AS_ALICE, "PUT", f"{API}/config", {"home": {"name": "Hawks"}}, None),
            (AS_BOB, "POST", f"{API}/roster", "7301,3,Maya Ortiz", CSV),
            (AS_ALICE, "PUT", f"{API}/override", {"home": 54}, None),
            (AS_BOB, "PUT", f"{API}/override", {"period": "Q4"}, None),
            (AS_ALICE, "POST", f"{API}/override/undo", None, None),
            (AS_BOB, "DELETE", f"{API}/override", None, None),
        ]
        for headers, method, path, body, ctype in steps:
            r = await send(feed, method, path, body, ctype, headers)
            assert r.status_code == 200, r.text
        entries = await audit(feed, AS_ALICE)
        assert await audit(feed, AS_BOB) == entries
        assert [(e["who"], e["action"]) for e in entries] == [
            ("bob", "override clear"),
            ("alice", "override undo"),
            ("bob", "override set"),
            ("alice", "override set"),
            ("bob", "roster import"),
            ("alice", "config"),
            ("bob", "panic"),
            ("alice", "hold"),
            ("bob", "graphic hide lowerthird"),
            ("alice", "graphic show lowerthird"),
        ]
        ats = [e["at"] for e in entries]
        assert ats == sorted(ats, reverse=True) and ats[-1] > 1_600_000_000_000
        by = {e["action"]: e for e in reversed(entries)}  # the last of each action
        assert by["graphic show lowerthird"]["before"] is None
        assert by["graphic show lowerthird"]["after"] == {"title": "Coach"}
        assert by["graphic hide lowerthird"]["before"] == {"title": "Coach"}
        assert by["hold"]["before"]["held"] is False and by["hold"]["after"]["held"] is True
        assert by["config"]["after"]["home"]["name"] == "Hawks"
        assert by["roster import"]["before"] == {}
        assert by["roster import"]["after"] == {"7301": {"name": "Maya Ortiz", "number": "3"}}
        sets = [e for e in entries if e["action"] == "override set"]
        assert (sets[1]["before"], sets[1]["after"]) == ({}, {"home": 54})
        assert (sets[0]["before"], sets[0]["after"]) == ({"home": 54}, {"home": 54, "period": "Q4"})
        assert (by["override undo"]["before"], by["override undo"]["after"]) == (
            {"home": 54, "period": "Q4"},
            {"home": 54},
        )
        assert (by["override clear"]["before"], by["override clear"]["after"]) == ({"home": 54}, {})

        # limit, an unknown game, a malformed id
        r = await feed.http.get(f"{API}/audit", params={"limit": 2}, headers=AS_ALICE)
        assert r.json()["entries"] == entries[:2]
        assert_error(
            await feed.http.get("/api/games/NOPE/audit", headers=AS_ALICE), 404, "not_found"
        )
        r = await feed.http.get(f"{API}/audit", params={"limit": 0}, headers=AS_ALICE)
        assert_error(r, 400, "bad_request")

        # who am I: the label, and what the console needs to show the overlays
        me = (await feed.http.get("/api/operator", headers=AS_BOB)).json()
        assert me["operator"] == "bob"
        assert me["overlayKey"] is None and me["protocol"] == 1
        assert "lowerthird" in [o["name"] for o in me["overlays"]]
        assert me["automatic"] == [
            "made_three",
            "score_update",
            "period_change",
            "scoring_run",
            "hot_hand",
        ]


async def test_whoami_gives_the_overlay_key_to_an_operator_only(tmp_path: Path) -> None:
    key = "overlay-key-0123456789"
    async with running_feed(tmp_path, overlay_key=key) as feed:
        r = await feed.http.get("/api/operator", headers=AUTH)
        assert r.json()["overlayKey"] == key
        r = await feed.http.get("/api/operator")
        assert_error(r, 401, "unauthorized")
        assert key not in r.text
        page = await feed.http.get("/operator")
        assert key not in page.text


# -- manual override ---------------------------------------------------------------------------


async def test_override_set_merge_clear_and_undo(tmp_path: Path) -> None:
    async with running_feed(tmp_path) as feed, feed.ws() as ws:
        hello = await recv_json(ws)
        assert hello["state"]["override"] == {
            "active": False,
            "fields": {},
            "upstream": {
                "home": 11,
                "away": 22,
                "period": "H2",
                "clock": "00:15:00",
                "clockRunning": False,
                "clockAt": hello["state"]["clockAt"],
            },
            "canUndo": False,
        }
        out = await put_override(feed, {"home": 54})
        event = out["event"]
        assert event["type"] == "override"
        assert event["data"]["action"] == "set" and event["data"]["active"] is True
        assert event["data"]["fields"] == {"home": 54}
        assert event["data"]["upstream"]["home"] == 11
        assert event["data"]["canUndo"] is True
        assert await recv_json(ws) == event
        assert out["override"]["fields"] == {"home": 54}
        state = await feed.state()
        assert state["home"]["score"] == 54 and state["away"]["score"] == 22
        assert state["leader"] == "home"
        assert state["override"]["active"] is True
        assert state["override"]["upstream"]["home"] == 11

        # merge; the value forms are normalised
        out = await put_override(feed, {"period": "q4", "clock": "2:00"})
        assert out["event"]["data"]["fields"] == {"home": 54, "period": "Q4", "clock": "00:02:00"}
        state = await feed.state()
        assert (state["period"], state["periodLabel"], state["clockDisplay"]) == (
            "Q4",
            "4th Quarter",
            "2:00",
        )
        assert state["clockRunning"] is False
        row = (await feed.http.get(f"{API}/state.flat.json")).json()[0]
        assert (row["home_score"], row["period"], row["clock"]) == ("54", "Q4", "2:00")

        # the same again changes nothing: no event, no audit entry
        n_audit = len(await audit(feed))
        n_events = len(await feed.events())
        out = await put_override(feed, {"home": 54, "period": "Q4"})
        assert out["event"] is None
        assert len(await audit(feed)) == n_audit and len(await feed.events()) == n_events

        # null stops overriding one field
        out = await put_override(feed, {"home": None})
        assert out["event"]["data"]["fields"] == {"period": "Q4", "clock": "00:02:00"}
        assert (await feed.state())["home"]["score"] == 11

        # undo goes back one step at a time; DELETE clears (and can itself be undone)
        r = await feed.http.post(f"{API}/override/undo", headers=AUTH)
        assert r.json()["event"]["data"]["action"] == "undo"
        assert r.json()["override"]["fields"] == {"home": 54, "period": "Q4", "clock": "00:02:00"}
        r = await feed.http.delete(f"{API}/override", headers=AUTH)
        assert r.json()["event"]["data"] == {
            "action": "clear",
            "active": False,
            "fields": {},
            "canUndo": True,
            "upstream": event["data"]["upstream"],
        }
        state = await feed.state()
        assert state["home"]["score"] == 11 and state["period"] == "H2"
        assert state["override"]["active"] is False
        r = await feed.http.delete(f"{API}/override", headers=AUTH)
        assert r.status_code == 200 and r.json()["event"] is None  # nothing to clear
        r = await feed.http.post(f"{API}/override/undo", headers=AUTH)
        assert r.json()["override"]["fields"] == {"home": 54, "period": "Q4", "clock": "00:02:00"}
        for _ in range(4):  # back through: merge, first set, nothing
            r = await feed.http.post(f"{API}/override/undo", headers=AUTH)
            if r.status_code == 409:
                break
            assert r.status_code == 200
        assert_error(r, 409, "conflict")
        assert (await feed.state())["override"] == {**state["override"], "canUndo": False}
        assert not feed.errors


async def test_override_refuses_bad_values_and_changes_nothing(tmp_path: Path) -> None:
    async with running_feed(tmp_path) as feed:
        await put_override(feed, {"away": 30})
        before = await everything(feed)
        for body in (
            {},
            {"home": "54"},
            {"home": -1},
            {"home": 1000},
            {"home": True},
            {"home": 5.5},
            {"period": "Q9X"},
            {"period": 4},
            {"clock": "25:99"},
            {"clock": ""},
            {"score": 1},
            {"home": 50, "bogus": 1},
        ):
            r = await feed.http.put(f"{API}/override", json=body, headers=AUTH)
            assert_error(r, 422, "invalid")
        for content in (b"{not json", b"[1]", b""):
            r = await feed.http.put(f"{API}/override", content=content, headers=AUTH)
            assert_error(r, 400, "bad_json")
        for method in ("PUT", "DELETE"):
            r = await feed.http.request(
                method, "/api/games/NOPE/override", json={"home": 1}, headers=AUTH
            )
            assert_error(r, 404, "not_found")
        assert await everything(feed) == before


async def test_upstream_changes_under_an_override_stay_off_air(tmp_path: Path) -> None:
    """The log keeps the upstream's truth; the state shows the override until it is cleared."""
    async with running_feed(tmp_path) as feed:
        await put_override(feed, {"home": 54, "period": "Q4"})
        async with feed.ws("since=0") as ws:
            await recv_json(ws)
            feed.upstream.push(Reply(200, with_shots(shot(5000), home=14)))
            while (msg := await recv_json(ws))["type"] != "score_update":
                pass
        assert msg["data"]["home"] == 14 and msg["data"]["prev"]["home"] == 11
        state = await feed.state()
        assert state["home"]["score"] == 54
        assert state["override"]["upstream"]["home"] == 14
        assert state["override"]["upstream"]["period"] == "H2" and state["period"] == "Q4"
        r = await feed.http.delete(f"{API}/override", headers=AUTH)
        assert r.json()["event"]["data"]["upstream"]["home"] == 14
        state = await feed.state()
        assert state["home"]["score"] == 14 and state["period"] == "H2"


async def test_override_and_audit_survive_a_restart(tmp_path: Path) -> None:
    async with running_feed(tmp_path) as feed:
        await put_override(feed, {"home": 54})
        await put_override(feed, {"clock": "1:00"})
        before = (await feed.state())["override"]
        entries = await audit(feed)
    async with running_feed(tmp_path) as feed:
        state = await feed.state()
        assert state["override"] == before
        assert state["home"]["score"] == 54 and state["clock"] == "00:01:00"
        assert await audit(feed) == entries
        r = await feed.http.post(f"{API}/override/undo", headers=AUTH)
        assert r.json()["override"]["fields"] == {"home": 54}


# -- roster import ---------------------------------------------------------------------------------


async def test_roster_import_csv_json_and_replace(tmp_path: Path) -> None:
    async with running_feed(tmp_path) as feed:
        csv_text = '\ufeffpid,number,name\r\n7301,3,"Ortiz, Maya"\r\n\r\n7302,00,Jordan Bell\r\n'
        r = await feed.http.post(
            f"{API}/roster", content=csv_text.encode(), headers={**AUTH, "content-type": CSV}
        )
        assert r.status_code == 200, r.text
        assert r.json()["imported"] == 2 and r.json()["removed"] == []
        assert r.json()["event"]["type"] == "config"
        roster = (await feed.http.get(f"{API}/config")).json()["roster"]
        assert roster == {
            "7301": {"name": "Ortiz, Maya", "number": "3"},
            "7302": {"name": "Jordan Bell", "number": "00"},
        }
        # JSON, merged: one renamed, one added, the third kept
        r = await feed.http.post(
            f"{API}/roster",
            json=[{"pid": "7301", "number": 3, "name": "Maya Ortiz"}, {"pid": 7401, "name": "Sam"}],
            headers=AUTH,
        )
        assert r.status_code == 200, r.text
        roster = (await feed.http.get(f"{API}/config")).json()["roster"]
        assert roster["7301"] == {"name": "Maya Ortiz", "number": "3"}
        assert roster["7401"] == {"name": "Sam", "number": None}
        assert "7302" in roster
        # replace: the players left out go
        r = await feed.http.post(
            f"{API}/roster?replace=1",
            content=b'{"roster": {"7401": {"name": "Sam Okafor", "number": "11"}}}',
            headers={**AUTH, "content-type": "application/json"},
        )
        assert r.json()["removed"] == ["7301", "7302"]
        roster = (await feed.http.get(f"{API}/config")).json()["roster"]
        assert roster == {"7401": {"name": "Sam Okafor", "number": "11"}}
        state = await feed.state()
        assert state["seq"] == (await feed.events())[-1]["seq"]

        before = await everything(feed)
        for content, ctype, status, code in (
            (b"", CSV, 400, "bad_request"),
            (b"7301,3,A\n7301,4,B\n", CSV, 422, "invalid"),  # a pid twice
            (b"7301,3\n", CSV, 422, "invalid"),  # a column short
            (b"pid,name\n7301,A\n", CSV, 422, "invalid"),  # header without number
            (b'{"7301": "A"}', "application/json", 422, "invalid"),
            (b"{nope", "application/json", 422, "invalid"),
            (b"7301,3," + b"x" * 81, CSV, 422, "invalid"),  # the config's text limit
            (b"\xff\xfe", CSV, 422, "invalid"),
        ):
            r = await feed.http.post(
                f"{API}/roster", content=content, headers={**AUTH, "content-type": ctype}
            )
            assert_error(r, status, code)
        assert await everything(feed) == before


def test_roster_parsers() -> None:
    assert roster_import.parse_csv("7301,3,Ortiz, Maya\n") == {
        "7301": {"name": "Ortiz, Maya", "number": "3"}
    }
    assert roster_import.parse_csv("name,pid,number\nMaya,7301,\n") == {
        "7301": {"name": "Maya", "number": None}
    }
    assert roster_import.parse(b"7301,3,A", "text/plain") == {"7301": {"name": "A", "number": "3"}}
    assert roster_import.parse(b'[{"pid": "1", "name": "A"}]', "text/plain") == {
        "1": {"name": "A", "number": None}
    }
    assert roster_import.replacing({"1": 0, "2": 0}, {"2": {"name": "B"}}) == {
        "1": None,
        "2": {"name": "B"},
    }
    for bad in ("", "\n\n", ",3,A", "pid,number\n1,2"):
        with pytest.raises(ConfigError):
            roster_import.parse_csv(bad)
    for raw in (b"[]", b"{}", b"7", b'[{"pid": true}]', b'{"roster": [1]}'):
        with pytest.raises(ConfigError):
            roster_import.parse_json(raw)


# -- rehearsal graphics, the console page ------------------------------------------------------


async def test_rehearsal_graphics_never_enter_the_scoring_log(tmp_path: Path) -> None:
    async with running_feed(tmp_path) as feed:
        before = await feed.state()
        sample = {"key": "test-1", "made": True, "three": True, "team": "home"}
        shown = await feed.fire("test:made_three", sample)
        assert shown["type"] == "graphic" and shown["data"]["name"] == "test:made_three"
        r = await feed.http.post(
            f"{API}/graphics", json={"action": "show", "name": "test:bogus"}, headers=AUTH
        )
        assert_error(r, 422, "invalid")
        state = await feed.state()
        assert state["graphics"] == {}  # a rehearsal is a moment, not something to restore
        assert state["stats"] == before["stats"] and state["recent"] == before["recent"]
        assert state["home"]["score"] == before["home"]["score"]
        types = [e["type"] for e in await feed.events()]
        assert "made_three" not in types and "shot" not in types
        shots = (await feed.http.get(f"{API}/shots")).json()["shots"]
        assert [s["key"] for s in shots] == ["1663870491879"]


async def test_console_page_is_public_and_locked_down(tmp_path: Path) -> None:
    async with running_feed(tmp_path) as feed:
        r = await feed.http.get("/operator")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["x-frame-options"] == "DENY"
        assert "set-cookie" not in r.headers
        csp = r.headers["content-security-policy"]
        host = feed.url.split("//", 1)[1]
        for part in (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"connect-src 'self' ws://{host} wss://{host}",
            "frame-src 'self'",
            "frame-ancestors 'none'",
        ):
            assert part in csp, part
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        html = r.text
        assert TOKEN not in html
        for url in re.findall(r'(?:src|href)="([^"]*)"', html):
            assert url.startswith(("/static/", "data:")), url
            r = await feed.http.get(url) if url.startswith("/") else None
            assert r is None or r.status_code == 200, url
        assert "http://" not in html and "https://" not in html
        # the only scripts: the JSON config block, the shared contract, the module, all from here
        scripts = re.findall(r"<script([^>]*)>", html)
        assert len(scripts) == 3
        assert 'type="application/json"' in scripts[0]
        assert re.search(r'src="/static/contract\.js\?v=\w+"', scripts[1])
        assert re.search(r'type="module" src="/static/operator\.js\?v=\w+"', scripts[2])
        for key in ("H", "P or Esc", "L", "1 to 5", "Shift+U"):
            assert f"<kbd>{key}</kbd>" in html, key
        js = (await feed.http.get("/static/operator.js")).text
        assert "innerHTML" not in js and "insertAdjacentHTML" not in js
        assert "sessionStorage" in js and "localStorage.setItem(TOKEN" not in js
        assert "document.cookie" not in js
