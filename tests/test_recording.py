"""Recording and replay: the file format, ``record`` against a live upstream, ``Replay`` as an
upstream, and record -> replay giving the server exactly the events the recorded game gives.

``tests/data/demo-game.jsonl.gz`` is a short simulated game recorded by
``tools/make_demo_recording.py`` (seed 7, halves of 4 min: made threes, a re-credited shot, a
hot hand, half-time, FINAL).
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest
from starlette.types import Receive, Scope, Send
from websockets.asyncio.client import connect

import server.live.following
from server.config import Settings
from server.core.events import Event
from server.core.shots import parse_payload
from server.live.ledger import Game
from server.live.store import Store
from server.live.upstream import SHOTS_PATH, Credentials
from server.sim.recording import Frame, Replay, open_recording, read_recording, record
from server.sim.simgame import simulate_game
from server.sim.simulator import DEMO_SECRET, DEMO_USERNAME, create_simulator_app
from server.web.app import create_app
from server.web.serving import websocket_options
from tests.server_fixtures import free_port
from tests.upstream_app import LiveServer

DATA = Path(__file__).parent / "data"
RECORDING = DATA / "demo-game.jsonl.gz"


def frame(elapsed: float = 1.5, game: str = "G", body: str = '{"shots": []}', **kw: Any) -> Frame:
    values: dict[str, Any] = {
        "elapsed": elapsed,
        "at": 1_795_000_000_000 + int(elapsed * 1000),
        "game": game,
        "status": 200,
        "headers": {"etag": '"abc"', "content-type": "application/json"},
        "body": body,
    }
    values.update(kw)
    return Frame(**values)


def shots_path(game: str) -> str:
    return SHOTS_PATH.format(event_id=game)


def totals(f: Frame) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(f.body)["gameTotals"]
    return doc


# --- the file format ------------------------------------------------------------------------


def test_frame_round_trips_through_a_line() -> None:
    """to_line/from_line keep every field, an error frame's null status and error included."""
    for f in (frame(), frame(2.25, status=None, headers={}, body="", error="ConnectTimeout: x")):
        line = f.to_line()
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        assert Frame.from_line(line, 1) == f


def test_frame_elapsed_is_kept_to_the_millisecond() -> None:
    """elapsed is written rounded to 3 decimals (a line stays short)."""
    assert Frame.from_line(frame(1.23456).to_line(), 1).elapsed == 1.235


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_an_empty_recording_is_a_value_error(tmp_path: Path, content: bytes) -> None:
    """A file with no frame (or only blank lines) cannot be replayed."""
    path = tmp_path / "empty.jsonl"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="empty"):
        read_recording(path)


@pytest.mark.parametrize(
    "bad", [b"{not json", b'{"elapsed": 1}', b'{"elapsed": "x", "at": 1, "game": "G"}', b"[]"]
)
def test_a_bad_line_is_a_value_error_naming_its_line(tmp_path: Path, bad: bytes) -> None:
    """A line that is not a frame raises ValueError with its 1-based line number."""
    path = tmp_path / "bad.jsonl"
    path.write_bytes(frame(0.1).to_line() + b"\n" + bad + b"\n" + frame(0.3).to_line())
    with pytest.raises(ValueError, match="line 3"):
        read_recording(path)


def test_gzip_recordings_are_written_and_read_transparently(tmp_path: Path) -> None:
    """A .gz name writes gzip; reading detects gzip by content, whatever the name."""
    frames = [frame(round(0.1 * i, 3), body=f'{{"i": {i}}}') for i in range(1, 6)]
    path = tmp_path / "rec.jsonl.gz"
    with open_recording(path, "wb") as out:
        for f in frames:
            out.write(f.to_line())
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert gzip.decompress(path.read_bytes()).count(b"\n") == 5
    assert read_recording(path) == frames
    renamed = tmp_path / "rec.jsonl"
    renamed.write_bytes(path.read_bytes())
    assert read_recording(renamed) == frames


def test_a_gzip_recording_cut_short_keeps_its_flushed_frames(tmp_path: Path) -> None:
    """A record killed mid-run (no gzip trailer) still reads up to its last flushed frame."""
    path = tmp_path / "rec.jsonl.gz"
    out = open_recording(path, "wb")
    try:
        for i in range(3):
            out.write(frame(i + 0.5).to_line())
            out.flush()
        cut = tmp_path / "cut.jsonl.gz"
        cut.write_bytes(path.read_bytes())  # what is on disk before close() writes the trailer
    finally:
        out.close()
    assert [f.elapsed for f in read_recording(cut)] == [0.5, 1.5, 2.5]


def test_appended_runs_play_one_after_the_other(tmp_path: Path) -> None:
    """record appends: a second run (elapsed restarting at 0) is placed after the first."""
    first = [frame(0.0), frame(1.0), frame(2.0)]
    # the second run started 10 s (wall clock) after the first's last frame
    second = [frame(e, at=first[-1].at + 10_000 + int(e * 1000)) for e in (0.0, 1.0)]
    path = tmp_path / "rec.jsonl"
    path.write_bytes(b"".join(f.to_line() for f in first + second))
    frames = read_recording(path)
    assert [f.elapsed for f in frames] == [0.0, 1.0, 2.0, 12.0, 13.0]
    assert [f.at for f in frames] == [f.at for f in first + second]


def test_the_shipped_recording_is_a_whole_short_game() -> None:
    """tests/data/demo-game.jsonl.gz: small, all 200s, SCHEDULED -> ACTIVE -> FINAL, H1 -> H2."""
    assert RECORDING.stat().st_size < 500 * 1024
    frames = read_recording(RECORDING)
    assert {f.game for f in frames} == {"DEMO"}
    assert all(f.status == 200 for f in frames)
    statuses = [totals(f)["status"] for f in frames]
    assert statuses[0] == "SCHEDULED" and statuses[-1] == "FINAL"
    assert "ACTIVE" in statuses
    assert [totals(f)["period"] for f in frames][-1] == "H2"
    assert DEMO_SECRET not in RECORDING.read_bytes().decode("latin-1")


# --- Replay as an upstream -------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_replay_serves_the_frame_recorded_by_replay_time_times_speed() -> None:
    """Time starts at the first request; at T the answer is the last frame recorded by T*speed."""
    frames = [frame(e, body=f'{{"e": {e}}}') for e in (0.5, 1.5, 3.5)]
    clock = FakeClock()
    replay = Replay(frames, speed=2.0, clock=clock)
    assert replay.frame_now("G") == frames[0] and not replay.finished
    clock.now += 0.49
    assert replay.frame_now("G") == frames[0]
    clock.now += 0.01
    assert replay.frame_now("G") == frames[1]
    clock.now += 1.0
    assert replay.frame_now("G") == frames[2] and replay.finished
    clock.now += 100
    assert replay.frame_now("G") == frames[2]


def test_replay_keeps_each_game_to_its_own_frames() -> None:
    """A recording of two games answers each game with its own latest frame."""
    frames = [frame(0.0, "A"), frame(1.0, "B"), frame(2.0, "A"), frame(3.0, "B")]
    clock = FakeClock()
    replay = Replay(frames, clock=clock)
    assert (replay.frame_now("A"), replay.frame_now("B")) == (frames[0], frames[1])
    clock.now += 2.5
    assert (replay.frame_now("A"), replay.frame_now("B")) == (frames[2], frames[1])
    clock.now += 1
    assert (replay.frame_now("A"), replay.frame_now("B")) == (frames[2], frames[3])


def test_replay_rejects_a_bad_speed_or_no_frames() -> None:
    """speed must be > 0, and there must be something to replay."""
    with pytest.raises(ValueError):
        Replay([frame()], speed=0)
    with pytest.raises(ValueError):
        Replay([])


@pytest.mark.network
def test_replay_answers_as_the_upstream_did() -> None:
    """200 with the body and ETag, 304 on If-None-Match, 504 for a failed request, 404 JSON."""
    frames = [
        frame(0.0, body='{"n": 1}'),
        frame(1.0, status=None, headers={}, body="", error="ReadTimeout: slow"),
        frame(2.0, status=500, headers={}, body='{"status": 500, "message": "General"}'),
    ]
    clock = FakeClock()
    with (
        LiveServer(Replay(frames, clock=clock).app()) as srv,
        httpx.Client(base_url=srv.url, timeout=5) as http,
    ):
        r = http.get(shots_path("G"))
        assert (r.status_code, r.text, r.headers["etag"]) == (200, '{"n": 1}', '"abc"')
        assert http.get(shots_path("G"), headers={"if-none-match": '"abc"'}).status_code == 304
        clock.now += 1
        r = http.get(shots_path("G"))
        assert r.status_code == 504 and r.json()["message"] == "ReadTimeout: slow"
        clock.now += 1
        assert http.get(shots_path("G")).status_code == 500
        r = http.get(shots_path("NOPE"))
        assert r.status_code == 404 and r.json()["status"] == 404


# --- record against a live upstream ----------------------------------------------------------


@pytest.mark.network
@pytest.mark.anyio
async def test_record_signs_its_requests_and_writes_each_answer(tmp_path: Path) -> None:
    """record() polls the simulator (HMAC-checked) and writes 200 frames; the secret stays out."""
    sim = simulate_game(3, "halves", period_minutes=2)
    app = create_simulator_app(sim, speed=50, event_id="SIM")
    path = tmp_path / "rec.jsonl"
    with LiveServer(app) as up, path.open("wb") as out:
        with anyio.fail_after(10):
            n = await record(
                up.url,
                "SIM",
                out,
                credentials=Credentials(DEMO_USERNAME, DEMO_SECRET),
                interval=0.01,
                limit=4,
            )
        assert n == 4
    frames = read_recording(path)
    assert [f.status for f in frames] == [200] * 4
    assert all(parse_payload(f.body.encode()).totals is not None for f in frames)
    assert all(f.headers["etag"].startswith('"') for f in frames)
    assert DEMO_SECRET not in path.read_text()


@pytest.mark.anyio
async def test_record_writes_a_refused_request_as_an_error_frame(tmp_path: Path) -> None:
    """A request that gets no answer is a status-null frame with the error; replay gives 504."""
    path = tmp_path / "rec.jsonl"
    with path.open("wb") as out, anyio.fail_after(10):
        n = await record(
            f"http://127.0.0.1:{free_port()}", "G", out, credentials=None, interval=0, limit=2
        )
    frames = read_recording(path)
    assert n == 2 and [f.status for f in frames] == [None, None]
    assert all(f.error and f.error.startswith("Connect") for f in frames)


# --- record -> replay: the server sees the same game -----------------------------------------


async def direct_events(frames: list[Frame], tmp_path: Path) -> list[Event]:
    """The recording's 200 bodies fed in order straight into a fresh Game, its clock at each
    frame's recorded time (what the server must produce from the replay)."""
    now = [0.0]
    store = Store(tmp_path / "direct.db")
    game = Game(frames[0].game, store, Settings(db_path=str(tmp_path / "direct.db")))
    game._clock = lambda: now[0]
    events: list[Event] = []
    game.publish = lambda _game, evs, _encoded: events.extend(evs)
    try:
        for f in frames:
            if f.status == 200:
                now[0] = f.at / 1000
                await game.apply_poll(parse_payload(f.body.encode()))
    finally:
        store.close()
    return events


class SteppedReplay:
    """The Replay app with its clock stepped by requests: the i-th poll gets frame i, once.

    Replay's own clock would let the poller see some frames and skip others (how many depends
    on the machine's timing); stepping it per request makes the server see every recorded
    frame exactly once and in order (then the last one again and again), so its events can be
    compared with feeding the same bodies straight into a Game. ``now_s`` is the recorded wall
    time of the frame last served: the server's Game runs on it, as the direct Game does.
    """

    def __init__(self, frames: list[Frame]) -> None:
        self.frames = frames
        self.served = 0
        self._replay_now = 0.0
        self.replay = Replay(frames, speed=1.0, clock=lambda: self._replay_now)
        self.app = self.replay.app()

    def now_s(self) -> float:
        return self.frames[max(0, min(self.served, len(self.frames)) - 1)].at / 1000

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            i = min(self.served, len(self.frames) - 1)
            # Replay's time starts at the first request (0.0 here); later ones are a microsecond
            # past frame i's offset, so float rounding never picks frame i-1
            if i:
                self._replay_now = self.frames[i].elapsed - self.frames[0].elapsed + 1e-6
            self.served += 1
        await self.app(scope, receive, send)


def feed_server(base_url: str, game: str, tmp_path: Path) -> LiveServer:
    settings = Settings(
        base_url=base_url,
        games=(game,),
        db_path=str(tmp_path / "feed.db"),
        poll_interval=0.01,
        idle_interval=0.01,
        operator_token="operator-token-for-recording-tests",
    )
    return LiveServer(create_app(settings, announce=False), lifespan="on", **websocket_options())


async def ws_events(url: str, game: str, last_seq: int) -> list[dict[str, Any]]:
    """Every event of the game from seq 1 up to last_seq, over the WebSocket (since=0)."""
    ws_url = url.replace("http://", "ws://", 1) + f"/ws/games/{game}?since=0"
    out: list[dict[str, Any]] = []
    async with connect(ws_url, compression=None, ping_interval=None, open_timeout=10) as ws:
        with anyio.fail_after(10):
            assert orjson.loads(await ws.recv())["type"] == "hello"
            while not out or out[-1]["seq"] < last_seq:
                msg = orjson.loads(await ws.recv())
                if msg["type"] != "heartbeat":
                    msg.pop("replay", None)
                    out.append(msg)
    return out


@pytest.mark.network
@pytest.mark.anyio
async def test_record_then_replay_gives_the_server_the_same_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipped recording replayed to the real server: its WebSocket events (seq, type, data,
    stale, at) equal those of the recorded bodies fed straight into a Game."""
    frames = read_recording(RECORDING)
    game = frames[0].game
    expected = [e.to_message() for e in await direct_events(frames, tmp_path)]
    types = {e["type"] for e in expected}
    assert {"shot", "made_three", "shot_update", "score_update", "period_change"} <= types
    assert {"game_status", "clock", "hot_hand"} <= types

    stepped = SteppedReplay(frames)
    # The server's Game runs on the recorded time of the frame it was just served.
    monkeypatch.setattr(server.live.following, "Game", partial(Game, clock=stepped.now_s))
    with LiveServer(stepped) as up, feed_server(up.url, game, tmp_path) as srv:
        with anyio.fail_after(20):
            while stepped.served < len(frames) + 3:
                await anyio.sleep(0.02)
        got = await ws_events(srv.url, game, expected[-1]["seq"])
        async with httpx.AsyncClient(base_url=srv.url, timeout=5) as http:
            logged = (await http.get(f"/api/games/{game}/events?limit=1000")).json()["events"]
            state = (await http.get(f"/api/games/{game}/state")).json()

    assert got == expected
    assert logged == expected, "the server made events the recording does not give"
    final = totals(frames[-1])
    assert state["status"] == "FINAL"
    assert (state["home"]["score"], state["away"]["score"]) == (
        final["homeTeamScore"]["value"],
        final["awayTeamScore"]["value"],
    )


@pytest.mark.network
@pytest.mark.anyio
async def test_a_fast_replay_skips_frames_but_no_shot(tmp_path: Path) -> None:
    """Replay at 20x on its own clock: the server skips frames but gets every shot and three
    exactly once, gapless seqs, and the final score."""
    frames = read_recording(RECORDING)
    game = frames[0].game
    expected = await direct_events(frames, tmp_path)
    replay = Replay(frames, speed=20)
    with LiveServer(replay.app()) as up, feed_server(up.url, game, tmp_path) as srv:
        async with httpx.AsyncClient(base_url=srv.url, timeout=5) as http:
            with anyio.fail_after(20):
                while (await http.get(f"/api/games/{game}/state")).json()["status"] != "FINAL":
                    await anyio.sleep(0.05)
            await anyio.sleep(0.1)  # the rest of the FINAL poll's events
            events = (await http.get(f"/api/games/{game}/events?limit=1000")).json()["events"]
            state = (await http.get(f"/api/games/{game}/state")).json()

    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))

    def keys(evs: list[dict[str, Any]], type_: str) -> list[str]:
        return [e["data"]["key"] for e in evs if e["type"] == type_]

    want = [e.to_message() for e in expected]
    assert sorted(keys(events, "shot")) == sorted(keys(want, "shot"))
    assert sorted(keys(events, "made_three")) == sorted(keys(want, "made_three"))
    final = totals(frames[-1])
    assert (state["home"]["score"], state["away"]["score"]) == (
        final["homeTeamScore"]["value"],
        final["awayTeamScore"]["value"],
    )


# --- the commands ----------------------------------------------------------------------------


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHOTFEED_", "SHOTTRACKER_"))}
    env.update(extra)
    return env


def run_record(url: str, out: Path, count: int, tmp_path: Path) -> subprocess.CompletedProcess:
    args = ["--game", "SIM", "--out", str(out), "--upstream", url, "--interval", "0.05"]
    return subprocess.run(
        [sys.executable, "-m", "server", "record", *args, "--count", str(count)],
        cwd=tmp_path,
        env=cli_env(SHOTTRACKER_USERNAME=DEMO_USERNAME, SHOTTRACKER_SECRET=DEMO_SECRET),
        capture_output=True,
        timeout=30,
        check=False,
    )


@pytest.mark.network
def test_record_and_replay_commands(tmp_path: Path) -> None:
    """`shotfeed record --count 5` writes 5 frames; `shotfeed replay FILE` serves them back."""
    sim = simulate_game(3, "halves", period_minutes=2)
    out = tmp_path / "rec.jsonl"
    with LiveServer(create_simulator_app(sim, speed=50, event_id="SIM")) as up:
        done = run_record(up.url, out, 5, tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert b"recorded 5 responses" in done.stderr
    frames = read_recording(out)
    assert len(frames) == 5 and {f.game for f in frames} == {"SIM"}
    assert all(f.status == 200 and parse_payload(f.body.encode()).totals for f in frames)
    assert [f.elapsed for f in frames] == sorted(f.elapsed for f in frames)

    port = free_port()
    log = (tmp_path / "replay.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "replay", str(out), "--port", str(port)],
        cwd=tmp_path,
        env=cli_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            deadline = time.monotonic() + 20
            while True:  # an unknown game's 404 is the probe: it does not start the replay clock
                assert proc.poll() is None, (tmp_path / "replay.log").read_text()
                assert time.monotonic() < deadline, "shotfeed replay did not start listening"
                try:
                    unknown = http.get(shots_path("NOPE"))
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            assert unknown.status_code == 404
            assert unknown.headers["content-type"] == "application/json"
            assert unknown.json()["status"] == 404
            r = http.get(shots_path("SIM"))
            assert r.status_code == 200
            assert r.content == frames[0].body.encode()
            assert r.headers["etag"] == frames[0].headers["etag"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.network
def test_record_command_appends_gzip_runs_that_replay_in_order(tmp_path: Path) -> None:
    """Two `shotfeed record` runs into one .jsonl.gz read back as one gzip recording, in order."""
    sim = simulate_game(3, "halves", period_minutes=2)
    out = tmp_path / "rec.jsonl.gz"
    with LiveServer(create_simulator_app(sim, speed=50, event_id="SIM")) as up:
        for count in (3, 2):
            done = run_record(up.url, out, count, tmp_path)
            assert done.returncode == 0, done.stderr.decode()
    assert out.read_bytes()[:2] == b"\x1f\x8b"
    frames = read_recording(out)
    assert len(frames) == 5
    assert [f.at for f in frames] == sorted(f.at for f in frames)
    assert [f.elapsed for f in frames] == sorted(f.elapsed for f in frames)
