"""Restarts on a real SQLite file: a clean one in-process, and a ``kill -9`` of a real poller.

Either way seq continues without a gap, nothing already emitted is emitted again (above all no
second ``made_three``), and the first poll after the restart marks what it finds as stale.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from tests.test_poller import (
    GAME,
    T0,
    Rig,
    error_body,
    make_rig,
    seed_doc,
    with_shot,
    with_three,
)
from tests.upstream_app import LiveServer, Reply, ScriptedUpstream

RUN_POLLER = Path(__file__).parent / "run_poller.py"
ROOT = Path(__file__).parent.parent

pytestmark = pytest.mark.network


def log_of(rig: Rig) -> list[dict[str, Any]]:
    return [orjson.loads(b) for b in rig.store.events_since(GAME, 0, 100_000)]


def keys_of(events: list[dict[str, Any]], type_: str) -> list[str]:
    return [e["data"]["key"] for e in events if e["type"] == type_]


@pytest.mark.anyio
async def test_clean_restart_continues_seq_and_fires_nothing_twice(
    upstream: tuple[ScriptedUpstream, LiveServer], tmp_path: Path
) -> None:
    """A new Game+Poller on the same file: seq goes on, no second made_three, first poll stale."""
    app, live = upstream
    db = tmp_path / "feed.db"
    three = with_three()
    with anyio.fail_after(15):
        async with make_rig(db, live.url) as rig:
            app.push(Reply(200, seed_doc()), Reply(200, three))
            await rig.poller.poll_once()
            await rig.poller.poll_once()
            app.push(Reply(500, error_body("seed_500.json")))
            await rig.poller.poll_once()  # the process goes down while the feed is failing
            before = log_of(rig)
        assert [e["type"] for e in before] == [
            "shot",
            "made_three",
            "score_update",
            "stats",
            "feed_status",
        ]
        last_seq = before[-1]["seq"]

        async with make_rig(db, live.url) as rig:
            assert rig.game.state.seq == last_seq
            assert rig.game.state.baseline
            assert rig.game.state.home_score == 14
            app.push(Reply(200, with_shot(three, T0 + 8000, three=False, home=16)))
            out = await rig.poller.poll_once()
            assert out.outcome == "ok"
            new = rig.published
            assert [e.type for e in new] == ["shot", "score_update", "stats", "feed_status"]
            assert [e.seq for e in new] == [last_seq + n for n in (1, 2, 3, 4)]
            # found by the first poll after the restart
            assert new[0].stale and new[1].stale and new[2].stale
            assert new[3].data["ok"] is True and not new[3].stale
            assert new[0].data["key"] == str(T0 + 8000)

            # a later poll is live again, the old three never fires twice, and the scoring run
            # that began before the restart (3 + 2 + 3 unanswered) is still counted
            doc = with_shot(three, T0 + 8000, three=False)
            app.push(Reply(200, with_shot(doc, T0 + 9000, pid="8000", home=19)))
            await rig.poller.poll_once()
            live_events = [e for e in rig.published if e.seq > last_seq + 4]
            assert [e.type for e in live_events] == [
                "shot",
                "made_three",
                "score_update",
                "scoring_run",
                "stats",
                "suggestion",  # the 8-0 run, for the operator
            ]
            assert not any(e.stale for e in live_events)
            assert live_events[5].data["rule"] == "scoring_run"
            assert live_events[3].data["run"] == [8, 0]
            assert live_events[3].data["sinceSeq"] == before[2]["seq"]
            log = log_of(rig)
            assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
            assert keys_of(log, "made_three") == [str(T0 + 5000), str(T0 + 9000)]


@pytest.mark.anyio
async def test_removed_three_coming_back_after_restart_does_not_fire(
    upstream: tuple[ScriptedUpstream, LiveServer], tmp_path: Path
) -> None:
    """A three removed before a restart that reappears after it gives shot, not made_three."""
    app, live = upstream
    db = tmp_path / "feed.db"
    three = with_three()
    with anyio.fail_after(15):
        async with make_rig(db, live.url) as rig:
            gone = seed_doc()
            gone["gameTotals"]["homeTeamScore"]["value"] = 11
            app.push(Reply(200, seed_doc()), Reply(200, three), Reply(200, gone))
            for _ in range(3):
                await rig.poller.poll_once()
            assert [e.type for e in rig.published][-3:] == ["shot_removed", "score_update", "stats"]
            last_seq = rig.game.state.seq

        async with make_rig(db, live.url) as rig:
            app.push(Reply(200, three))
            await rig.poller.poll_once()
            assert [e.type for e in rig.published] == ["shot", "score_update", "stats"]
            assert rig.published[0].seq == last_seq + 1
            assert keys_of(log_of(rig), "made_three") == [str(T0 + 5000)]


def growing_game(n: int) -> list[dict[str, Any]]:
    """The seed, then ``n`` polls each adding one shot: two made threes, then a missed two."""
    docs = [seed_doc()]
    home = 11
    for i in range(1, n + 1):
        made = i % 3 != 0
        home += 3 if made else 0
        docs.append(
            with_shot(docs[-1], T0 + 3000 * i, made=made, three=made, pid=f"p{i % 4}", home=home)
        )
    return docs


def made_three_keys(doc: dict[str, Any]) -> set[str]:
    return {str(s["t"]) for s in doc["shots"] if s["st"] == "MAKE" and s["is3"]}


def read_log(db: Path) -> list[tuple[int, str, str, int, bytes]]:
    """The events table as another process sees it (empty before the schema exists)."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT seq, type, game, at, body FROM events ORDER BY seq").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


@pytest.mark.anyio
async def test_kill_9_mid_game_loses_nothing_and_repeats_nothing(
    upstream: tuple[ScriptedUpstream, LiveServer], tmp_path: Path
) -> None:
    """SIGKILL a polling process; the reopened store is gapless and a new poller repeats nothing."""
    app, live = upstream
    db = tmp_path / "feed.db"
    docs = growing_game(60)
    app.push(*(Reply(200, d) for d in docs))
    errlog = tmp_path / "child.log"
    with anyio.fail_after(30), errlog.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, str(RUN_POLLER), live.url, str(db), GAME],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            while sum(1 for row in read_log(db) if row[1] == "made_three") < 6:
                assert proc.poll() is None, errlog.read_text()
                await anyio.sleep(0.01)
            # land the kill anywhere in the next few polls (between them or mid-commit)
            await anyio.sleep(random.uniform(0, 0.08))
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        assert proc.returncode == -signal.SIGKILL
    app.script.clear()
    assert app.last is not None and isinstance(app.last.body, dict)
    last_doc = app.last.body  # the last payload the killed process was served

    # the log as the killed process left it: gapless, every row intact
    rows = read_log(db)
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    for seq, type_, game, at, body in rows:
        msg = orjson.loads(body)
        assert (msg["seq"], msg["type"], msg["game"], msg["at"]) == (seq, type_, game, at)
    before = [orjson.loads(r[4]) for r in rows]
    fired = keys_of(before, "made_three")
    assert len(fired) == len(set(fired)) >= 6
    shown = set(keys_of(before, "shot"))

    with anyio.fail_after(15):
        async with make_rig(db, live.url) as rig:
            loaded = rig.store.load_game(GAME)
            assert loaded.seq == len(rows)
            assert loaded.state is not None
            for key in fired:
                assert loaded.state.shots[key].three_fired

            # the same payload again: only what the killed process never committed, stale
            app.push(Reply(200, last_doc))
            assert (await rig.poller.poll_once()).outcome == "ok"
            new = [e.to_message() for e in rig.published]
            assert [e["seq"] for e in new] == list(range(len(rows) + 1, len(rows) + 1 + len(new)))
            assert not set(keys_of(new, "made_three")) & set(fired)
            assert not set(keys_of(new, "shot")) & shown
            assert all(e.get("stale") for e in new)
            assert set(fired) | set(keys_of(new, "made_three")) == made_three_keys(last_doc)

            # a new shot continues at seq + 1, live
            seq = rig.game.state.seq
            t_new = max(s["t"] for s in last_doc["shots"]) + 2000
            home = last_doc["gameTotals"]["homeTeamScore"]["value"] + 3
            app.push(Reply(200, with_shot(last_doc, t_new, home=home)))
            await rig.poller.poll_once()
            latest = [e for e in rig.published if e.seq > seq]
            assert [e.type for e in latest][:2] == ["shot", "made_three"]
            assert latest[0].seq == seq + 1
            assert latest[1].data["key"] == str(t_new)
            assert not any(e.stale for e in latest)
            log = log_of(rig)
            assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
            all_fired = keys_of(log, "made_three")
            assert len(all_fired) == len(set(all_fired))
