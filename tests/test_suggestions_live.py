"""Suggestions on a real server: made by a poll, listed in state, accepted or dismissed through
the operator API (audited), autofired only when armed, and remembered over a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.server_fixtures import AUTH, GAME, Feed, recv_json, running_feed, seed_doc
from tests.upstream_app import Reply

pytestmark = [pytest.mark.network, pytest.mark.anyio, pytest.mark.usefixtures("broker")]

API = f"/api/games/{GAME}"
SEED_T = 1663870491879


def _threes(doc: dict[str, Any], pid: str = "7300", n: int = 3) -> dict[str, Any]:
    """``n`` made left-corner threes by ``pid`` (home), 4 s apart after the seed's shot."""
    template = doc["shots"][0]
    for i in range(n):
        shot = dict(template)
        shot.update(
            t=SEED_T + 4_000 * (i + 1),
            pid=pid,
            tid="1",
            st="MAKE",
            is3=True,
            pts=3,
            z=14,
            az=19,
            d=700.0,
            attributes=["CAS", "UNGUARDED", "JUMPSHOT"],
        )
        doc["shots"].append(shot)
    doc["gameTotals"]["homeTeamScore"]["value"] += 3 * n
    return doc


async def _open(feed: Feed, n: int) -> list[dict[str, Any]]:
    with anyio.fail_after(10):
        while True:
            found: list[dict[str, Any]] = (await feed.state())["suggestions"]
            if len(found) >= n:
                return found
            await anyio.sleep(0.05)


async def _wait_event(feed: Feed, pred: Any) -> dict[str, Any]:
    with anyio.fail_after(10):
        while True:
            for e in await feed.events():
                if pred(e):
                    return e
            await anyio.sleep(0.05)


async def test_suggest_accept_dismiss_and_autofire(tmp_path: Path) -> None:
    async with running_feed(tmp_path) as feed:
        r = await feed.http.put(
            f"{API}/config", json={"roster": {"7300": {"name": "Ulloa"}}}, headers=AUTH
        )
        assert r.status_code == 200
        async with feed.ws() as console, feed.ws("types=graphic,shot") as overlay:
            hello = await recv_json(console)
            assert hello["state"]["suggestions"] == []
            assert "suggestions" not in (await recv_json(overlay))["state"]

            feed.upstream.push(Reply(200, _threes(seed_doc())))
            found = await _open(feed, 3)
            texts = {s["rule"]: s["text"] for s in found}
            assert sorted(texts) == ["scoring_run", "shooting_night", "zone_streak"]
            assert "9-0 run" in texts["scoring_run"]
            assert texts["shooting_night"] == "Ulloa 3/3 from three tonight"
            assert texts["zone_streak"].startswith("Ulloa: 3 straight makes from the left corner")
            assert [s["score"] for s in found] == sorted((s["score"] for s in found), reverse=True)
            night = next(s for s in found if s["rule"] == "shooting_night")
            streak = next(s for s in found if s["rule"] == "zone_streak")
            assert (night["graphic"], night["payload"]) == ("playercard", {"pid": "7300"})
            # nothing went on air by itself: no rule is armed
            assert (await feed.state())["graphics"] == {}

            # accept without the token: refused, nothing changes
            url = f"{API}/suggestions/{night['id']}"
            r = await feed.http.post(f"{url}/accept")
            assert r.status_code == 401
            r = await feed.http.post(f"{url}/accept", headers=AUTH)
            assert r.status_code == 200, r.text
            graphic, accepted = r.json()["events"]
            assert graphic["type"] == "graphic" and graphic["data"] == {
                "action": "show",
                "name": "playercard",
                "payload": {"pid": "7300"},
            }
            assert accepted["type"] == "suggestion" and accepted["data"]["status"] == "accepted"
            assert accepted["seq"] == graphic["seq"] + 1
            state = await feed.state()
            assert state["graphics"] == {"playercard": {"pid": "7300"}}
            assert night["id"] not in [s["id"] for s in state["suggestions"]]
            assert streak["id"] in [s["id"] for s in state["suggestions"]]
            # the overlay got the graphic, not the suggestion traffic
            with anyio.fail_after(10):
                while (msg := await recv_json(overlay))["type"] != "graphic":
                    assert msg["type"] == "shot"
            assert msg["data"]["name"] == "playercard"

            # twice, unknown, a wrong action: clear errors, nothing written
            before = len(await feed.events())
            r = await feed.http.post(f"{url}/accept", headers=AUTH)
            assert (r.status_code, r.json()["error"]) == (409, "suggestion_closed")
            r = await feed.http.post(f"{API}/suggestions/s999/dismiss", headers=AUTH)
            assert (r.status_code, r.json()["error"]) == (404, "unknown_suggestion")
            r = await feed.http.post(f"{url}/launch", headers=AUTH)
            assert r.status_code == 404
            assert len(await feed.events()) == before

            r = await feed.http.post(f"{API}/suggestions/{streak['id']}/dismiss", headers=AUTH)
            assert r.status_code == 200
            (dismissed,) = r.json()["events"]
            assert dismissed["data"]["status"] == "dismissed"
            assert [s["rule"] for s in (await feed.state())["suggestions"]] == ["scoring_run"]

            r = await feed.http.get(f"{API}/audit", headers=AUTH)
            actions = [e["action"] for e in r.json()["entries"]]
            assert f"suggestion accept {night['id']}" in actions
            assert f"suggestion dismiss {streak['id']}" in actions
            entry = next(
                e for e in r.json()["entries"] if e["action"].startswith("suggestion accept")
            )
            assert entry["before"]["text"] == "Ulloa 3/3 from three tonight"
            assert entry["after"] == {"status": "accepted", "graphic": "playercard"}

            # arm one rule: its next suggestion goes on air by itself, and says so
            r = await feed.http.post(
                f"{API}/hold", json={"autofire": {"suggestion:nope": True}}, headers=AUTH
            )
            assert r.status_code == 422
            r = await feed.http.post(
                f"{API}/hold", json={"autofire": {"suggestion:longest_make": True}}, headers=AUTH
            )
            assert r.status_code == 200
            doc = _threes(seed_doc())
            deep = dict(doc["shots"][-1], t=SEED_T + 20_000, pid="7301", d=850.0, z=12, az=21)
            doc["shots"].append(deep)
            doc["gameTotals"]["homeTeamScore"]["value"] += 3
            feed.upstream.push(Reply(200, doc))
            auto = await _wait_event(
                feed, lambda e: e["type"] == "suggestion" and e["data"].get("by") == "autofire"
            )
            events = await feed.events()
            i = next(k for k, e in enumerate(events) if e["seq"] == auto["seq"])
            assert [e["type"] for e in events[i - 2 : i + 1]] == [
                "suggestion",
                "graphic",
                "suggestion",
            ]
            assert events[i - 2]["data"]["rule"] == "longest_make"
            assert events[i - 1]["data"]["name"] == "playercard"
            assert (await feed.state())["graphics"]["playercard"] == {"pid": "7301"}
            last_id = max(int(e["data"]["id"][1:]) for e in events if e["type"] == "suggestion")
            last_seq = events[-1]["seq"]

    # a restart folds the book from the log: the same facts are not suggested again, and new
    # ids continue where the old ones stopped
    async with running_feed(tmp_path) as feed:
        feed.upstream.push(Reply(200, _threes(seed_doc())))
        await anyio.sleep(1.5)
        events = await feed.events()
        fresh = [e for e in events if e["type"] == "suggestion" and e["seq"] > last_seq]
        assert all(
            int(e["data"]["id"][1:]) > last_id for e in fresh if e["data"]["status"] == "open"
        ), [(e["seq"], e["data"]["id"], e["data"]["status"], e["data"]["rule"]) for e in fresh]
        assert not any(
            e["data"]["rule"] == "shooting_night" and e["data"]["status"] == "open" for e in fresh
        ), fresh
