"""The splits from outside, on a real server: GET /stats and its flat forms, state.splits in
hello, and one ``stats`` event in the same commit as the poll or config that moved them."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from server.core.zones import ADVANCED_COUNT, ZONE_COUNT
from tests.server_fixtures import (
    AUTH,
    GAME,
    Feed,
    recv_json,
    recv_until_seq,
    running_feed,
    seed_doc,
)
from tests.upstream_app import Reply

pytestmark = [pytest.mark.network, pytest.mark.anyio]

API = f"/api/games/{GAME}"
SEED_T = 1663870491879


def _with_shot(**over: Any) -> dict[str, Any]:
    """The seed payload plus one more shot, 10 s later: a made corner three by 7300."""
    doc = seed_doc()
    shot = dict(doc["shots"][0])
    shot.update(
        t=SEED_T + 10_000,
        pid="7300",
        tid="1",
        st="MAKE",
        is3=True,
        pts=3,
        z=14,
        az=19,
        d=720.0,
        attributes=["CAS", "UNGUARDED", "JUMPSHOT"],
    )
    shot.update(over)
    doc["shots"].append(shot)
    doc["gameTotals"]["homeTeamScore"]["value"] = 14
    return doc


async def _wait_for(feed: Feed, pred: Any) -> dict[str, Any]:
    with anyio.fail_after(10):
        while True:
            r = await feed.http.get(f"{API}/stats")
            assert r.status_code == 200
            doc: dict[str, Any] = r.json()
            if pred(doc):
                return doc
            await anyio.sleep(0.05)


async def test_stats_route_and_its_flat_forms(tmp_path: Path) -> None:
    """One row per player with fixed columns, the same in XML, CSV and JSON; filters work."""
    async with running_feed(tmp_path) as feed:
        r = await feed.http.put(
            f"{API}/config",
            json={
                "home": {"teamId": "1", "name": "Pioneers"},
                "roster": {"7300": {"name": "Ulloa", "number": "4"}},
            },
            headers=AUTH,
        )
        assert r.status_code == 200
        feed.upstream.push(Reply(200, _with_shot()))
        stats = await _wait_for(feed, lambda d: d["teams"]["home"]["fga"] == 1)
        assert stats["teams"]["home"]["name"] == "Pioneers"
        ulloa = next(p for p in stats["players"] if p["pid"] == "7300")
        assert (ulloa["name"], ulloa["team"], ulloa["fg3m"], ulloa["zones"]) == (
            "Ulloa",
            "home",
            1,
            {"14": {"fgm": 1, "fga": 1}},
        )
        assert [p["pid"] for p in stats["players"]] == ["7300", "7269"]  # home first

        r = await feed.http.get(f"{API}/stats.flat.json")
        from_json = r.json()
        r = await feed.http.get(f"{API}/stats.csv")
        assert r.headers["content-type"].startswith("text/csv")
        table = list(csv.reader(io.StringIO(r.text)))
        from_csv = [dict(zip(table[0], row, strict=True)) for row in table[1:]]
        r = await feed.http.get(f"{API}/stats.xml")
        root = ET.fromstring(r.content)
        from_xml = [{c.tag: c.text or "" for c in player} for player in root]
        assert from_json == from_csv == from_xml
        assert [row["pid"] for row in from_json] == ["7300", "7269"]
        row = from_json[0]
        assert all(isinstance(v, str) for v in row.values())
        assert (row["name"], row["team_name"], row["fg3_pct"], row["line"]) == (
            "Ulloa",
            "Pioneers",
            "100%",
            "1/1 FG, 1/1 3PT",
        )
        assert (row["zone_14_fgm"], row["zone_14_pct"], row["zone_8_pct"]) == (
            "1",
            "100%",
            "\u2014",
        )
        assert row["catch_shoot_fga"] == "1" and row["distance_20_24_fgm"] == "1"
        assert row["longest_make_ft"] == "23.6" and row["streak"] == "1"
        # every zone and advanced zone is a column in every row, whatever was shot
        for n in range(1, ZONE_COUNT + 1):
            assert f"zone_{n}_fga" in row
        for n in range(1, ADVANCED_COUNT + 1):
            assert f"az_{n}_pct" in row
        assert list(from_json[1]) == list(row)

        r = await feed.http.get(f"{API}/stats.flat.json", params={"pid": "7269"})
        (seed_row,) = r.json()
        assert (seed_row["team"], seed_row["zone_8_fga"], seed_row["az_12_fga"]) == ("", "1", "1")
        r = await feed.http.get(f"{API}/stats.flat.json", params={"team": "home"})
        assert [x["pid"] for x in r.json()] == ["7300"]
        r = await feed.http.get(f"{API}/stats.flat.json", params={"rows": "teams"})
        assert [x["team"] for x in r.json()] == ["home", "away"]
        assert r.json()[0]["fg3m"] == "1"
        # a pid not (yet) in the game: no row, and the CSV still has its header
        r = await feed.http.get(f"{API}/stats.csv", params={"pid": "nobody"})
        assert r.text.splitlines()[0].startswith("pid,name,number,team")
        assert len(r.text.splitlines()) == 1
        for bad in ({"team": "left"}, {"rows": "refs"}):
            r = await feed.http.get(f"{API}/stats.flat.json", params=bad)
            assert r.status_code == 400 and r.json()["error"] == "bad_request"


async def test_stats_routes_need_the_overlay_key_when_set(tmp_path: Path) -> None:
    async with running_feed(tmp_path, overlay_key="k3y-for-tests") as feed:
        for path in ("stats", "stats.csv", "stats.xml", "stats.flat.json"):
            r = await feed.http.get(f"{API}/{path}")
            assert r.status_code == 401, path
            r = await feed.http.get(f"{API}/{path}", params={"key": "k3y-for-tests"})
            assert r.status_code == 200, path


async def test_hello_and_stats_event_carry_the_same_splits(tmp_path: Path) -> None:
    """A client that asks for stats gets state.splits in hello, then one `stats` event per poll
    that moved them, in the poll's commit (right after its shot events); an unchanged poll
    sends nothing; an overlay that did not ask gets neither."""
    async with (
        running_feed(tmp_path) as feed,
        feed.ws() as everything,
        feed.ws("types=shot,score_update") as overlay,
    ):
        hello = await recv_json(everything)
        assert hello["state"]["splits"]["players"][0]["pid"] == "7269"
        assert "splits" not in (await recv_json(overlay))["state"]

        feed.upstream.push(Reply(200, _with_shot()))
        stats = await _wait_for(feed, lambda d: d["teams"]["home"]["fga"] == 1)
        events = await feed.events()
        last = events[-1]
        assert last["type"] == "stats" and last["data"] == stats
        types = [e["type"] for e in events if e["seq"] > hello["seq"]]
        assert types.index("stats") > types.index("made_three")
        got = await recv_until_seq(everything, last["seq"])
        assert got[-1]["type"] == "stats" and got[-1]["data"] == stats
        seen = []
        while not seen or seen[-1]["type"] != "score_update":
            seen.append(await recv_json(overlay))
        assert [m["type"] for m in seen] == ["shot", "score_update"]

        # the same payload again: no event; a clock change alone: no stats event
        again = _with_shot()
        again["gameTotals"]["gameClock"] = "00:14:50"
        feed.upstream.push(Reply(200, again))
        with anyio.fail_after(10):
            while (await feed.events())[-1]["type"] != "clock":
                await anyio.sleep(0.05)
        assert [e["type"] for e in await feed.events()].count("stats") == 1

        # a re-credit moves the three to another player: a new stats event says so
        moved = _with_shot(pid="7301")
        moved["gameTotals"]["gameClock"] = "00:14:50"
        feed.upstream.push(Reply(200, moved))
        stats = await _wait_for(
            feed, lambda d: any(p["pid"] == "7301" and p["fg3m"] == 1 for p in d["players"])
        )
        assert not any(p["pid"] == "7300" for p in stats["players"])
        last = (await feed.events())[-1]
        assert last["type"] == "stats" and last["data"] == stats

        # a config change (who is home) moves the team rows at once, with its own event
        r = await feed.http.put(f"{API}/config", json={"home": {"teamId": "552"}}, headers=AUTH)
        assert r.status_code == 200
        config_seq = r.json()["event"]["seq"]
        events = await feed.events()
        assert [e["type"] for e in events[-2:]] == ["config", "stats"]
        assert events[-1]["seq"] == config_seq + 1
        # the seed's shot (tid 552) is home's now, beside tid 1's three (gameTotals' home)
        assert events[-1]["data"]["teams"]["home"]["fga"] == 2


async def test_a_restart_serves_the_same_splits(tmp_path: Path) -> None:
    """Splits are recomputed from the store at start (shots and config): the same document,
    and no stats event for what did not change."""
    async with running_feed(tmp_path) as feed:
        r = await feed.http.put(
            f"{API}/config",
            json={"home": {"teamId": "552"}, "roster": {"7269": {"name": "Ulloa"}}},
            headers=AUTH,
        )
        assert r.status_code == 200
        before = await _wait_for(feed, lambda d: d["teams"]["home"]["fga"] == 1)
        count = [e["type"] for e in await feed.events()].count("stats")
        assert count == 1
    async with running_feed(tmp_path) as feed:
        after = await _wait_for(feed, lambda d: d["teams"]["home"]["fga"] == 1)
        assert orjson.dumps(after) == orjson.dumps(before)
        assert after["players"][0]["name"] == "Ulloa"
        await anyio.sleep(1.2)  # a few more polls of the same payload
        assert [e["type"] for e in await feed.events()].count("stats") == count
