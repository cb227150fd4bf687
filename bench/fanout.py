"""WebSocket fan-out: what one broadcast costs the server, per delivered message.

Run it with ``.venv/bin/python bench/fanout.py`` (``--clients 100,1000,5000 --events 100``;
``--hold 10000`` instead connects 10,000 idle clients and reports memory and hellos). It prints
figures; it is not a test.

For each N the server runs as production runs it, as a fresh subprocess
(``python -m server serve --game BENCH ...``, so with ``server.cli.uvicorn_config``'s options,
printed in the header line with the git commit of the server code), against
a fake ShotTracker (``tests/upstream_app.py``: ``ScriptedUpstream`` answering the seed payload
of ``tests/data/seed_shots.json`` every time) served from a thread of this process. The load
generator is ``--workers`` separate processes, each holding N/workers loopback connections
(asyncio + the ``websockets`` client, ``compression=None``, no client pings; ``--client raw``: a
WebSocket reader of a few lines on uvloop, a fifth of the CPU per message), so the clients'
CPU is not the server's.

Phases, each measured on the server process from ``/proc/<pid>/stat`` (utime + stime, every
thread, clock ticks) and ``/proc/<pid>/status`` (VmRSS):

1. idle with no client (``--idle`` s): the background CPU rate (the poller, 1 poll a second);
2. calibration: ``--calibrate`` operator events with no client: the fixed cost of one event
   (HTTP POST, auth, SQLite log + audit writes in the worker thread, encode, publish);
3. connect N clients and wait until every one has its ``hello``; RSS before vs after (idle,
   after a short settle) over N = RSS per idle connection;
4. fire M events through ``POST /api/games/BENCH/graphics``, each payload carrying
   ``{"k": index, "t": time.time_ns()}`` taken just before the POST. Event k+1 is sent no
   sooner than ``--interval`` after event k *and* not before every client has event k, so each
   event measures one whole broadcast and broadcasts never overlap. A client's delivery latency
   is its receive ``time.time_ns()`` minus ``t`` (same host clock), so it includes the POST's
   own handling; time-to-last-client is the max over the clients of one event.

Server CPU per delivered message is the firing phase's CPU delta over N*M (the issue's figure,
"raw"); "net" first takes off the idle rate for the phase's duration and M times the
calibrated per-event cost, i.e. the marginal cost of one more subscriber per event.

Every client checks it got all M events, in seq order, nothing twice; missing ones are
reported. The load generator shares the machine's cores with the server, so latencies are
upper bounds (a client's own parsing delays its timestamp); the CPU figures are the server's
alone. Heartbeats are pushed out to ``--heartbeat`` s (default 600) so that no heartbeat lands
in a measured phase; ``--heartbeat 15 --settle 30`` measures what production's heartbeat costs
an idle server ("idle CPU holding them").

``--hold N`` is the same run with N clients and ``--hold-events`` (3) events. ``--profile DIR``
runs py-spy (``pip install py-spy``; not a dependency) on the server during the connect and
firing phases (collapsed stacks; ``--profile-args=--native`` to see C frames such as the cyclic
GC). ``--prelude CODE`` runs Python in the server process before ``server.cli.main`` for A/B
experiments (``"import gc; gc.disable()"``, patching ``uvicorn.Config``, ...).

``--peer node|shotfeed|both`` (default both): the same runs against ``bench/node/peer.js``, a
minimal Node server on the ``ws`` package (version pinned in ``bench/node/package.json``) with
the same surface (``GET .../state``, ``POST .../graphics`` with the operator token, the
``/ws/games/{id}`` hello and events) that frames each event once and writes that one buffer to
every socket. With both, runs alternate shotfeed, node, shotfeed, node, ... ``--repeat`` times
(3) at each N, measured identically (``/proc`` of the server process, the same load generator
and checks), and a side-by-side table gives the median and each run, and shotfeed/node.
``npm ci`` runs in ``bench/node`` on first use (when ``node_modules`` is missing).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import functools
import hashlib
import math
import multiprocessing as mp
import os
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "tests" / "data" / "seed_shots.json"
GAME = "BENCH"
CLK_TCK = os.sysconf("SC_CLK_TCK")
GOALS = {"cpu_us": 14.0, "rss_kib": 20.0, "hold": 10_000}
NODE_DIR = ROOT / "bench" / "node"
T = TypeVar("T")
PEERS = {"shotfeed": ("shotfeed",), "node": ("node",), "both": ("shotfeed", "node")}


def ensure_node() -> str:
    """The Node peer's deps (``npm ci`` on first use); returns "node vX, ws Y"."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise SystemExit("--peer node needs node and npm on PATH")
    ws_pkg = NODE_DIR / "node_modules" / "ws" / "package.json"
    if not ws_pkg.exists():
        print(f"installing the Node peer's dependencies: npm ci in {NODE_DIR}", flush=True)
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True)
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    return f"node {version}, ws {orjson.loads(ws_pkg.read_bytes())['version']}"


def raise_nofile() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (each connection is one descriptor per side)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def cpu_split(pid: int) -> tuple[float, float]:
    """utime and stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    return sum(cpu_split(pid))


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def pct(values: list[int] | list[float], p: float) -> float:
    """Nearest-rank percentile of an unsorted list."""
    if not values:
        return math.nan
    s = sorted(values)
    return float(s[max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))])


def git_describe() -> str:
    """The commit the server code is at, and whether server/ has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "server"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown commit"
    where = f"{ROOT} at {head}" if head else f"{ROOT} (not a git checkout)"
    return where + (" + uncommitted server/ changes" if dirty else "")


def uvicorn_options() -> str:
    """The WebSocket options production runs with (``server.cli.uvicorn_config``)."""
    sys.path.insert(0, str(ROOT))
    from server.cli import uvicorn_config
    from server.config import Settings

    cfg = uvicorn_config(None, Settings())
    return (
        f"ws={cfg.ws} loop={cfg.loop} ws_max_size={cfg.ws_max_size} "
        f"deflate={cfg.ws_per_message_deflate} ws_ping_interval={cfg.ws_ping_interval}"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- load generator (runs in worker processes) -------------------------------------------------


@dataclass
class ClientLog:
    seqs: list[int] = field(default_factory=list)  # seq of each bench event, as received
    disorder: int = 0  # any event (bench or not) whose seq was not above the last one
    other: int = 0  # events that were not bench graphics (polls, feed status...)
    close: str = ""  # how the connection ended early, if it did
    hello: bool = False
    last: int = 0  # the seq of the last event (the hello's at first)


# heartbeats and pongs are the server's own, per connection: not part of the hashed frames
NOT_FRAMES = (b'{"type":"heartbeat"', b'{"type":"pong"')


class Worker:
    """N clients in one process, on the ``websockets`` client (``client``) or on a WebSocket
    reader of a few lines (``RawWorker``); both feed every frame to ``on_hello``/``on_frame``,
    so what is checked and timed is the same whichever reads the socket.

    ``hash_frames``: each client's raw frames after its hello (heartbeats and pongs aside) go
    through a blake2b, so clients of different server processes can be compared byte for byte.
    """

    def __init__(
        self,
        url: str,
        n: int,
        m: int,
        concurrency: int,
        hellos: Any,
        done: Any,
        hash_frames: bool = False,
    ) -> None:
        self.url = url
        self.n = n
        self.m = m
        self.sem = asyncio.Semaphore(concurrency)
        self.hellos = hellos  # shared with the bench process: [hellos, failed connections]
        self.done = done  # shared array: done[k] = 1 once every client here has event k
        self.lat = [array("q") for _ in range(m)]
        self.counts = [0] * m
        self.logs = [ClientLog() for _ in range(n)]
        self.digests = [hashlib.blake2b(digest_size=16) for _ in range(n)] if hash_frames else []
        self.got_hello = 0
        self.failures: list[str] = []
        self.heartbeats = 0
        self.hello_bytes = 0
        self.transports: list[Any] = []  # aborted at "stop"

    def on_hello(self, i: int, raw: bytes) -> bool:
        """The first frame of client i; False (counted as a failure) unless it is a hello."""
        self.hello_bytes = len(raw)
        hello = orjson.loads(raw)
        if hello.get("type") != "hello":
            self.fail(f"first message not hello: {hello}")
            return False
        log = self.logs[i]
        log.hello = True
        log.last = int(hello["seq"])
        self.got_hello += 1
        self.hellos[0] += 1
        return True

    def on_frame(self, i: int, raw: bytes, now: int) -> None:
        """Every later frame of client i, received at ``now`` (time.time_ns())."""
        if self.digests and not raw.startswith(NOT_FRAMES):
            digest = self.digests[i]
            digest.update(len(raw).to_bytes(4, "big"))
            digest.update(raw)
        msg = orjson.loads(raw)
        type_ = msg.get("type")
        if type_ in ("heartbeat", "pong"):
            self.heartbeats += 1
            return
        log = self.logs[i]
        seq = msg.get("seq")
        if seq is None:
            log.other += 1
            return
        if seq <= log.last:
            log.disorder += 1
        log.last = seq
        payload = (msg.get("data") or {}).get("payload") if type_ == "graphic" else None
        if not isinstance(payload, dict):
            log.other += 1
            return
        k = payload.get("k")
        if k is None or not 0 <= k < self.m:
            log.other += 1
            return
        log.seqs.append(seq)
        self.lat[k].append(now - payload["t"])
        self.counts[k] += 1
        if self.counts[k] >= self.got_hello:
            self.done[k] = 1

    async def client(self, i: int) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        log = self.logs[i]
        async with self.sem:
            ws = await self.retrying(
                lambda: connect(
                    self.url,
                    compression=None,
                    ping_interval=None,
                    open_timeout=120,
                    close_timeout=1,
                    max_size=2**24,
                    proxy=None,
                )
            )
            if ws is None:
                return
            self.transports.append(ws.transport)
            try:
                if not self.on_hello(i, await ws.recv(decode=False)):
                    return
            except ConnectionClosed as exc:
                self.fail(f"closed before hello: {exc}")
                return
        try:
            while True:
                raw = await ws.recv(decode=False)
                self.on_frame(i, raw, time.time_ns())
        except ConnectionClosed as exc:
            log.close = f"{exc.rcvd.code if exc.rcvd else 'no close frame'}"
        except Exception as exc:
            log.close = f"{type(exc).__name__}: {exc}"[:200]

    async def retrying(self, open_: Callable[[], Awaitable[T]]) -> T | None:
        """``open_()``, tried again with backoff when refused or reset (a full accept queue
        while thousands connect); None, counted as a failure, after the sixth try."""
        for attempt in range(6):
            try:
                return await open_()
            except Exception as exc:
                if attempt == 5:
                    self.fail(f"{type(exc).__name__}: {exc}")
                    return None
                await asyncio.sleep(0.2 * 2**attempt)
        return None

    def fail(self, why: str) -> None:
        self.failures.append(why[:200])
        self.hellos[1] += 1

    def report(self, expected: list[int]) -> dict[str, Any]:
        missing = incomplete = duplicated = disorder = other = closed = 0
        want = set(expected)
        for log in self.logs:
            if not log.hello:
                continue
            got = set(log.seqs)
            missing += len(want - got)
            duplicated += len(log.seqs) - len(got)
            disorder += log.disorder + (log.seqs != sorted(log.seqs))
            incomplete += log.seqs != expected
            other += log.other
            closed += bool(log.close)
        closes = sorted({log.close for log in self.logs if log.close})[:5]
        return {
            "hellos": self.got_hello,
            "failures": self.failures[:5],
            "n_failures": len(self.failures),
            "missing": missing,
            "incomplete": incomplete,
            "duplicated": duplicated,
            "disorder": disorder,
            "other": other,
            "closed_early": closed,
            "closes": closes,
            "heartbeats": self.heartbeats,
            "hello_bytes": [self.hello_bytes],
            "lat": [a.tobytes() for a in self.lat],
            "digests": [self.digests[i].hexdigest() for i, log in enumerate(self.logs) if log.hello]
            if self.digests
            else [],
        }

    async def run(self, conn: Connection) -> None:
        tasks = [asyncio.create_task(self.client(i)) for i in range(self.n)]
        while True:
            cmd, arg = await asyncio.to_thread(conn.recv)
            if cmd == "report":
                conn.send(self.report(arg))
            elif cmd == "stop":
                for transport in self.transports:  # RST, no close handshake: not measured
                    with contextlib.suppress(Exception):
                        transport.abort()
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                conn.send("stopped")
                return


class RawClient(asyncio.Protocol):
    """One client connection read with no WebSocket library: the upgrade request, then the
    server's frames parsed straight off the bytes (unmasked, never fragmented by shotfeed).

    Why: the ``websockets`` client spends ~40 us of the load generator's CPU per message, five
    to six times what the server spends delivering it; on a 2-core machine that CPU is taken
    from the servers being measured. This one spends a few us (its ``orjson.loads`` and the
    checks of ``Worker.on_frame``), so the servers get the cores and the figures are theirs.
    """

    def __init__(self, worker: Worker, i: int, request: bytes, ready: asyncio.Future[bool]):
        self.worker = worker
        self.i = i
        self.request = request
        self.ready = ready
        self.buf = bytearray()
        self.upgraded = False
        self.hello = False
        self.transport: Any = None  # uvloop's TCPTransport (not an asyncio.Transport subclass)

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.time_ns()
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buf[: buf.find(b"\r\n")])
            if not status.startswith(b"HTTP/1.1 101"):
                self.give_up(f"upgrade refused: {status.decode(errors='replace')}")
                return
            del buf[: end + 4]
            self.upgraded = True
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if size - pos - head < length:
                break
            payload = bytes(buf[pos + head : pos + head + length])
            pos += head + length
            opcode = b0 & 0x0F
            if b1 & 0x80 or not b0 & 0x80 or opcode not in (1, 2, 8, 9, 10):
                self.give_up(f"frame this reader does not take: {b0:#04x} {b1:#04x}")
                return
            if opcode == 8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else "no code"
                self.worker.logs[self.i].close = str(code)
                self.give_up(f"closed before hello: {code}")
                return
            if opcode != 1 and opcode != 2:
                continue  # ping/pong: the server sends none (ws_ping_interval=None)
            if self.hello:
                self.worker.on_frame(self.i, payload, now)
            else:
                self.hello = True
                self.ready.set_result(self.worker.on_hello(self.i, payload))
        del buf[:pos]

    def give_up(self, why: str) -> None:
        if not self.ready.done():
            self.worker.fail(why)
            self.ready.set_result(False)
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        log = self.worker.logs[self.i]
        if not log.close:
            log.close = f"lost: {exc}" if exc else "no close frame"
        if not self.ready.done():
            self.worker.fail(f"closed before hello: {log.close}")
            self.ready.set_result(False)


class RawWorker(Worker):
    """``Worker`` whose clients are ``RawClient``s on uvloop (``--client raw``)."""

    async def client(self, i: int) -> None:
        url = urlsplit(self.url)
        host, port = url.hostname or "127.0.0.1", url.port or 80
        path = url.path + (f"?{url.query}" if url.query else "")
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        loop = asyncio.get_running_loop()

        async def open_() -> tuple[Any, asyncio.Future[bool]]:
            ready: asyncio.Future[bool] = loop.create_future()
            factory = functools.partial(RawClient, self, i, request, ready)
            transport, _ = await loop.create_connection(factory, host, port)
            return transport, ready

        async with self.sem:
            opened = await self.retrying(open_)
            if opened is None:
                return
            transport, ready = opened
            self.transports.append(transport)
            try:
                await asyncio.wait_for(asyncio.shield(ready), 120)
            except TimeoutError:
                self.fail("no hello in 120 s")
                transport.abort()


WORKERS = {"websockets": Worker, "raw": RawWorker}


def worker_main(
    kind: str,
    url: str,
    n: int,
    m: int,
    concurrency: int,
    hellos: Any,
    done: Any,
    hash_frames: bool,
    conn: Connection,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the bench process stops us
    raise_nofile()
    worker = WORKERS[kind](url, n, m, concurrency, hellos, done, hash_frames)
    if kind == "raw":
        import uvloop

        uvloop.run(worker.run(conn))
    else:
        asyncio.run(worker.run(conn))


# -- the bench process -------------------------------------------------------------------------


@dataclass
class Result:
    n: int
    m: int
    peer: str = "shotfeed"
    hellos: int = 0
    connect_s: float = 0.0
    connect_cpu_us: float = 0.0
    rss_before_kib: int = 0
    rss_after_kib: int = 0
    idle_cpu_rate: float = 0.0
    held_cpu_rate: float = 0.0
    event_fixed_ms: float = 0.0
    fire_s: float = 0.0
    fire_cpu_s: float = 0.0
    fire_user_s: float = 0.0  # of which user space (the rest is the kernel: send() and such)
    spacing_ms: float = 0.0
    loadgen_cpu_s: float = 0.0
    lat_ms: list[float] = field(default_factory=list)
    last_ms: list[float] = field(default_factory=list)
    first_ms: list[float] = field(default_factory=list)
    timeouts: int = 0
    checks: dict[str, Any] = field(default_factory=dict)

    @property
    def delivered(self) -> int:
        return len(self.lat_ms)

    @property
    def rss_per_conn_kib(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) / max(1, self.hellos)

    @property
    def raw_us(self) -> float:
        return self.fire_cpu_s / max(1, self.n * self.m) * 1e6

    @property
    def user_us(self) -> float:
        """The user-space part of raw (utime only)."""
        return self.fire_user_s / max(1, self.n * self.m) * 1e6

    @property
    def net_us(self) -> float:
        background = self.idle_cpu_rate * self.fire_s + self.m * self.event_fixed_ms / 1e3
        return max(0.0, self.fire_cpu_s - background) / max(1, self.n * self.m) * 1e6


class Bench:
    def __init__(self, args: argparse.Namespace, upstream_url: str, tmp: Path) -> None:
        self.args = args
        self.upstream_url = upstream_url
        self.tmp = tmp
        self.token = "bench-" + secrets.token_hex(16)
        self.ctx = mp.get_context("spawn")
        self.profiling = False  # py-spy this run (--profile: the first shotfeed run of each N)

    def start_server(self, tag: str, peer: str = "shotfeed") -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        python = ROOT / ".venv" / "bin" / "python"
        env = dict(
            os.environ,
            SHOTFEED_OPERATOR_TOKEN=self.token,
            SHOTFEED_HEARTBEAT_S=str(self.args.heartbeat),
            SHOTFEED_GAMES="",
        )
        state_file = self.tmp / "state.json"  # shotfeed's state, so node's hello is as big
        if peer == "node":
            cmd = [shutil.which("node") or "node", str(NODE_DIR / "peer.js"), "--port", str(port)]
            cmd += ["--game", GAME]
            if state_file.exists():
                cmd += ["--state", str(state_file)]
            return self._launch(cmd, env, f"node-{tag}", None)
        launch = ["-m", "server"]
        if self.args.prelude:  # A/B experiments: code run in the server process before main()
            launch = ["-c", f"{self.args.prelude}\nimport sys\nfrom server.cli import main\n"]
            launch[1] += "sys.exit(main(sys.argv[1:]))"
        cmd = [
            str(python if python.exists() else sys.executable),
            *launch,
            "serve",
            "--game",
            GAME,
            "--upstream",
            self.upstream_url,
            "--port",
            str(port),
            "--db",
            str(self.tmp / f"b-{tag}.db"),
            "--poll-interval",
            str(self.args.poll_interval),
        ]
        return self._launch(cmd, env, tag, state_file)

    def _launch(
        self, cmd: list[str], env: dict[str, str], tag: str, state_file: Path | None
    ) -> tuple[subprocess.Popen[bytes], str]:
        port = cmd[cmd.index("--port") + 1]
        log = open(self.tmp / f"server-{tag}.log", "wb")  # noqa: SIM115 (the child owns it)
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=raise_nofile
        )
        log.close()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited {proc.returncode}; see {log.name}")
            with contextlib.suppress(httpx.HTTPError):
                r = httpx.get(f"{base}/api/games/{GAME}/state", timeout=2)
                if r.status_code == 200:
                    if state_file is not None and not state_file.exists():
                        state_file.write_bytes(r.content)
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("server did not come up in 30 s")
            time.sleep(0.1)
        return proc, base

    def start_profiler(self, pid: int, tag: str) -> subprocess.Popen[bytes] | None:
        """``--profile DIR``: py-spy (not a dependency) samples the server during one phase."""
        if not self.args.profile or not self.profiling:
            return None
        out = Path(self.args.profile) / f"server-{tag}.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        spy = Path(sys.executable).parent / "py-spy"
        cmd = [str(spy if spy.exists() else "py-spy"), "record", "--pid", str(pid)]
        cmd += ["--rate", "250", "--format", "raw", "--output", str(out)]
        extra = self.args.profile_args.split()
        cmd += extra if "--native" in extra else ["--nonblocking", *extra]  # native must pause
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # attached before the phase starts
        print(f"  py-spy samples this phase into {out}")
        return proc

    @staticmethod
    def stop_profiler(spy: subprocess.Popen[bytes] | None) -> None:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)

    def fire(self, http: httpx.Client, payload: dict[str, Any]) -> int:
        payload["t"] = time.time_ns()
        r = http.post(
            f"/api/games/{GAME}/graphics",
            json={"action": "show", "name": "bench", "payload": payload},
        )
        r.raise_for_status()
        return int(r.json()["event"]["seq"])

    def run(self, n: int, m: int, peer: str = "shotfeed", run_no: int = 0) -> Result:
        args = self.args
        res = Result(n, m, peer)
        proc, base = self.start_server(f"{n}-{run_no}", peer)
        self.profiling = peer == "shotfeed" and run_no == 0  # py-spy: the first shotfeed run
        workers: list[tuple[Any, Connection, Any, Any]] = []
        headers = {"authorization": f"Bearer {self.token}"}
        try:
            pid = proc.pid
            http = httpx.Client(base_url=base, headers=headers, timeout=30)
            time.sleep(1.5)  # first poll and imports done

            # 1. background rate, no client
            c0, t0 = cpu_seconds(pid), time.monotonic()
            time.sleep(args.idle)
            res.idle_cpu_rate = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)

            # 2. fixed cost of one event, no client
            c0, t0 = cpu_seconds(pid), time.monotonic()
            for i in range(args.calibrate):
                self.fire(http, {"cal": i})
                time.sleep(args.interval)
            dt = time.monotonic() - t0
            cal = cpu_seconds(pid) - c0 - res.idle_cpu_rate * dt
            res.event_fixed_ms = max(0.0, cal) / max(1, args.calibrate) * 1e3

            # 3. connect N, wait for every hello
            time.sleep(0.5)
            res.rss_before_kib = rss_kib(pid)
            url = base.replace("http://", "ws://") + f"/ws/games/{GAME}"
            if args.types == "overlay":
                # as an overlay page connects: the on-air types (server.core.events)
                sys.path.insert(0, str(ROOT))
                from server.core.events import OVERLAY_TYPES

                url += "?types=" + ",".join(OVERLAY_TYPES)
            n_workers = max(1, min(args.workers, n))
            spy = self.start_profiler(pid, f"{n}-connect")
            c0, t0 = cpu_seconds(pid), time.monotonic()
            for w in range(n_workers):
                share = n // n_workers + (w < n % n_workers)
                hellos = self.ctx.RawArray("q", 2)
                done = self.ctx.RawArray("b", max(1, m))
                parent, child = self.ctx.Pipe()
                p = self.ctx.Process(
                    target=worker_main,
                    args=(args.client, url, share, m, args.concurrency, hellos, done, False, child),
                    daemon=True,
                )
                p.start()
                workers.append((p, parent, hellos, done))
            deadline = time.monotonic() + args.connect_timeout
            while True:
                got = sum(h[0] + h[1] for _, _, h, _ in workers)
                if got >= n or time.monotonic() > deadline:
                    break
                if any(not p.is_alive() for p, _, _, _ in workers):
                    raise RuntimeError("a load-generator worker died while connecting")
                time.sleep(0.05)
            res.connect_s = time.monotonic() - t0
            res.hellos = sum(h[0] for _, _, h, _ in workers)
            res.connect_cpu_us = (cpu_seconds(pid) - c0) / max(1, res.hellos) * 1e6
            self.stop_profiler(spy)
            c0, t0 = cpu_seconds(pid), time.monotonic()
            time.sleep(args.settle)
            res.rss_after_kib = rss_kib(pid)
            res.held_cpu_rate = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)

            # 4. fire M events, one broadcast at a time
            expected: list[int] = []
            fired_at: list[float] = []
            lg0 = sum(cpu_seconds(p.pid) for p, _, _, _ in workers)
            spy = self.start_profiler(pid, f"{n}-fire")
            u0 = cpu_split(pid)[0]
            c0, t0 = cpu_seconds(pid), time.monotonic()
            for k in range(m):
                if fired_at:
                    wait = fired_at[-1] + args.interval - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                fired_at.append(time.monotonic())
                expected.append(self.fire(http, {"k": k}))
                until = time.monotonic() + args.event_timeout
                while not all(d[k] for _, _, _, d in workers):
                    if time.monotonic() > until:
                        res.timeouts += 1
                        break
                    time.sleep(0.001)
            res.fire_s = time.monotonic() - t0
            if m > 1:
                res.spacing_ms = (fired_at[-1] - fired_at[0]) / (m - 1) * 1e3
            res.fire_cpu_s = cpu_seconds(pid) - c0
            res.fire_user_s = cpu_split(pid)[0] - u0
            res.loadgen_cpu_s = sum(cpu_seconds(p.pid) for p, _, _, _ in workers) - lg0
            self.stop_profiler(spy)
            http.close()

            # 5. collect and check
            time.sleep(0.2)
            per_event: list[list[int]] = [[] for _ in range(m)]
            totals: dict[str, Any] = {}
            for _, conn, _, _ in workers:
                conn.send(("report", expected))
            for _, conn, _, _ in workers:
                for k, lats in enumerate(merge_report(conn.recv(), totals)):
                    per_event[k].extend(lats)
            res.checks = totals
            res.lat_ms, res.last_ms, res.first_ms = event_times(per_event)
        finally:
            for p, conn, _, _ in workers:
                stop_worker(p, conn)
            stop_processes([proc])
        return res


def event_times(per_event: list[list[int]]) -> tuple[list[float], list[float], list[float]]:
    """Latencies in ns per event (each client's) as ms: every delivery's, then per event that
    reached any client the time to its last client and to its first."""
    lat_ms = [x / 1e6 for got in per_event for x in got]
    last_ms = [max(got) / 1e6 for got in per_event if got]
    first_ms = [min(got) / 1e6 for got in per_event if got]
    return lat_ms, last_ms, first_ms


def merge_report(rep: dict[str, Any], totals: dict[str, Any]) -> list[array[int]]:
    """One worker's report: its latencies per event (returned, one array each, in event
    order); its checks added into ``totals`` (counts summed, lists joined)."""
    per_event = []
    for blob in rep.pop("lat"):
        a = array("q")
        a.frombytes(blob)
        per_event.append(a)
    for key, value in rep.items():
        if isinstance(value, list):
            totals.setdefault(key, []).extend(value)
        else:
            totals[key] = totals.get(key, 0) + value
    return per_event


def stop_worker(p: Any, conn: Any) -> None:
    """Ask a load-generator worker to close its clients and end; kill it if it will not."""
    with contextlib.suppress(Exception):
        conn.send(("stop", None))
        if conn.poll(20):
            conn.recv()
    p.join(5)
    if p.is_alive():
        p.kill()
        p.join()


def stop_processes(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to every server process at once, then wait for each (killed after 15 s)."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def print_result(r: Result) -> None:
    c = r.checks
    ok = (
        r.hellos == r.n
        and c.get("missing", 0) == 0
        and c.get("incomplete", 0) == 0
        and c.get("disorder", 0) == 0
        and c.get("duplicated", 0) == 0
    )
    print(f"\n== {r.peer}: N = {r.n:,} clients, M = {r.m} events ==")
    print(
        f"  connect: {r.hellos:,}/{r.n:,} hellos in {r.connect_s:.1f} s, "
        f"server CPU {r.connect_cpu_us:,.0f} us per connection (handshake + "
        f"{max(c.get('hello_bytes', [0])):,} B hello)"
    )
    if c.get("n_failures"):
        print(f"  connect failures: {c['n_failures']}: {c['failures']}")
    print(
        f"  RSS: {r.rss_before_kib / 1024:.1f} MiB before -> {r.rss_after_kib / 1024:.1f} MiB "
        f"with {r.hellos:,} idle clients = {r.rss_per_conn_kib:.1f} KiB per idle connection"
    )
    print(
        f"  idle CPU holding them: {r.held_cpu_rate * 1e3:.1f} ms/s over --settle; "
        f"{c.get('heartbeats', 0):,} heartbeats received in all"
    )
    if r.m == 0:
        return
    print(
        f"  background: {r.idle_cpu_rate * 1e3:.1f} ms CPU/s idle; "
        f"{r.event_fixed_ms:.2f} ms CPU per event with no client (POST + store + publish)"
    )
    print(
        f"  firing: {r.m} events in {r.fire_s:.2f} s ({r.spacing_ms:.0f} ms apart), "
        f"server CPU {r.fire_cpu_s:.2f} s, load generator CPU {r.loadgen_cpu_s:.2f} s"
    )
    print(
        f"  server CPU per delivered message: raw {r.raw_us:.1f} us (CPU / (N*M)), "
        f"net {r.net_us:.1f} us (minus idle and per-event fixed cost); of raw, user "
        f"{r.user_us:.1f} us, kernel {r.raw_us - r.user_us:.1f} us"
    )
    print(
        f"  delivery latency: p50 {pct(r.lat_ms, 50):.1f} ms, p99 {pct(r.lat_ms, 99):.1f} ms, "
        f"max {pct(r.lat_ms, 100):.1f} ms ({r.delivered:,} of {r.hellos * r.m:,} delivered)"
    )
    print(
        f"  time to last client per event: p50 {pct(r.last_ms, 50):.1f} ms, "
        f"p99 {pct(r.last_ms, 99):.1f} ms; to first client p50 {pct(r.first_ms, 50):.1f} ms"
    )
    print(
        f"  checks: {'OK' if ok else 'FAILED'}: missing {c.get('missing', 0)}, "
        f"clients without all M in order {c.get('incomplete', 0)}, "
        f"out of order {c.get('disorder', 0)}, duplicated {c.get('duplicated', 0)}, "
        f"closed early {c.get('closed_early', 0)} {c.get('closes', [])}, "
        f"other events {c.get('other', 0)}, heartbeats {c.get('heartbeats', 0)}, "
        f"event waits timed out {r.timeouts}"
    )


def checks_ok(r: Result) -> bool:
    c = r.checks
    return (
        r.hellos == r.n
        and all(c.get(k, 0) == 0 for k in ("missing", "incomplete", "disorder", "duplicated"))
        and r.timeouts == 0
    )


def print_versus(results: list[Result]) -> None:
    """Side by side per N: median over the runs (and each run, in the order they ran)."""
    print("\n== shotfeed versus Node ws (median of runs [each run, in order]) ==")
    print("   us/msg = server CPU (utime+stime, /proc) per delivered message; raw = CPU/(N*M),")
    print("   net = minus idle rate and per-event fixed cost; user = utime part of raw (the rest")
    print("   is the kernel's: send() and the loopback delivery); KiB/conn = RSS per idle conn")
    head = (
        f"{'clients':>8} {'peer':>8}  {'us/msg raw':<26} {'us/msg net':<26} "
        f"{'of raw: user':<26} {'KiB/conn':<26} {'checks':>6}"
    )
    print(head)

    def col(values: list[float]) -> str:
        return f"{statistics.median(values):5.1f} [{' '.join(f'{v:.1f}' for v in values)}]"

    for n in dict.fromkeys(r.n for r in results):
        medians: dict[str, tuple[float, float, float, float]] = {}
        for peer in dict.fromkeys(r.peer for r in results):
            runs = [r for r in results if r.n == n and r.peer == peer]
            if not runs:
                continue
            raw, net = [r.raw_us for r in runs], [r.net_us for r in runs]
            user, kib = [r.user_us for r in runs], [r.rss_per_conn_kib for r in runs]
            ok = sum(checks_ok(r) for r in runs)
            medians[peer] = (
                statistics.median(raw),
                statistics.median(net),
                statistics.median(user),
                statistics.median(kib),
            )
            print(
                f"{n:>8,} {peer:>8}  {col(raw):<26} {col(net):<26} {col(user):<26} "
                f"{col(kib):<26} {ok}/{len(runs)} OK"
            )
        if "shotfeed" in medians and "node" in medians:
            ratios = [a / b if b else math.nan for a, b in zip(*medians.values(), strict=True)]
            print(
                f"{n:>8,} {'ratio':>8}  "
                + " ".join(f"{x:5.2f} {'':<20}" for x in ratios)
                + "(shotfeed / node)"
            )


def print_summary(results: list[Result]) -> None:
    print("\n== summary (goals: CPU per delivered message <= Node ws's in the same run at 1,000")
    print("   and 5,000 clients, <= 12 KiB RSS per idle connection, 10,000 held by one process) ==")
    head = (
        f"{'clients':>8} {'peer':>8} {'hellos':>7} {'us/msg raw':>10} {'us/msg net':>10} "
        f"{'KiB/conn':>9} "
        f"{'lat p50':>8} {'lat p99':>8} {'last p50':>9} {'last p99':>9} {'missing':>8}"
    )
    print(head)
    for r in results:
        print(
            f"{r.n:>8,} {r.peer[:8]:>8} {r.hellos:>7,} {r.raw_us:>10.1f} {r.net_us:>10.1f} "
            f"{r.rss_per_conn_kib:>9.1f} {pct(r.lat_ms, 50):>6.1f}ms {pct(r.lat_ms, 99):>6.1f}ms "
            f"{pct(r.last_ms, 50):>7.1f}ms {pct(r.last_ms, 99):>7.1f}ms "
            f"{r.checks.get('missing', 0):>8}"
        )


def add_run_options(parser: argparse.ArgumentParser, *, client: str) -> None:
    """The options ``Bench`` and the load generator read, for this bench and redis_fanout.py
    (``client``: the default load-generator client)."""
    parser.add_argument(
        "--client",
        choices=sorted(WORKERS),
        default=client,
        help=f"the load generator's clients: {' or '.join(sorted(WORKERS))} (default {client})",
    )
    parser.add_argument("--interval", type=float, default=0.075, help="min s between events")
    parser.add_argument("--concurrency", type=int, default=50, help="handshakes at once/worker")
    parser.add_argument("--calibrate", type=int, default=40, help="events fired with no client")
    parser.add_argument("--idle", type=float, default=3.0, help="s to measure background CPU")
    parser.add_argument("--settle", type=float, default=1.0, help="s after connect (and RSS)")
    parser.add_argument("--heartbeat", type=float, default=600.0, help="server heartbeat s")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="server poll s")
    parser.add_argument("--connect-timeout", type=float, default=300.0)
    parser.add_argument("--event-timeout", type=float, default=30.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="100,1000,5000", help="comma list of N")
    parser.add_argument("--events", type=int, default=60, help="M events per N")
    parser.add_argument(
        "--types",
        choices=("all", "overlay"),
        default="all",
        help="clients subscribe to every type, or to the overlays' on-air types",
    )
    parser.add_argument(
        "--hold", type=int, default=0, help="instead: connect this many idle clients (10000)"
    )
    parser.add_argument("--hold-events", type=int, default=3, help="events to fire in --hold")
    parser.add_argument("--workers", type=int, default=2, help="load-generator processes")
    add_run_options(parser, client="websockets")
    parser.add_argument(
        "--profile", help="directory: py-spy the server while connecting and firing"
    )
    parser.add_argument(
        "--prelude",
        help="Python run in the server process before server.cli.main (A/B: GC, ws impl)",
    )
    parser.add_argument("--profile-args", default="", help="more py-spy options (--native)")
    parser.add_argument(
        "--peer",
        choices=sorted(PEERS),
        default="both",
        help="server(s) to measure; both alternates shotfeed and node at each N",
    )
    parser.add_argument(
        "--repeat", type=int, help="runs per peer per N (alternated); 3, or 1 with --hold"
    )
    args = parser.parse_args()

    nofile = raise_nofile()
    sizes = [args.hold] if args.hold else [int(x) for x in args.clients.split(",") if x.strip()]
    m = args.hold_events if args.hold else args.events
    if max(sizes) + 200 > nofile:
        print(f"warning: RLIMIT_NOFILE is {nofile}; {max(sizes)} clients may not fit")
    print(
        f"fanout bench: python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"{args.workers} load-generator processes, nofile {nofile}, "
        f"{CLK_TCK} clock ticks/s, server at {git_describe()}, {uvicorn_options()}"
    )
    if args.prelude:
        print(f"server prelude: {args.prelude!r}")
    peers = PEERS[args.peer]
    repeat = args.repeat if args.repeat is not None else (1 if args.hold else 3)
    if "node" in peers:
        print(f"node peer: {ensure_node()} ({NODE_DIR / 'peer.js'}: framed once)")
    print(f"peers: {', '.join(peers)}, {repeat} run(s) each per N, alternated", flush=True)

    sys.path.insert(0, str(ROOT))
    from tests.upstream_app import LiveServer, Reply, ScriptedUpstream

    upstream = ScriptedUpstream()
    upstream.push(Reply(200, SEED.read_bytes()))  # the last reply repeats forever
    results = []
    with (
        tempfile.TemporaryDirectory(prefix="fanout-") as tmp,
        LiveServer(upstream) as up,
    ):
        bench = Bench(args, up.url, Path(tmp))
        for n in sizes:
            for run_no in range(repeat):
                for peer in peers:
                    r = bench.run(n, m, peer, run_no)
                    print_result(r)
                    results.append(r)
    print_summary(results)
    print_versus(results)
    if args.hold:
        for r in results:
            held = r.hellos == args.hold and r.checks.get("closed_early", 0) == 0
            print(
                f"\nhold {args.hold:,} ({r.peer}): {'all' if held else 'NOT all'} connected with "
                f"hello ({r.hellos:,}), {r.rss_per_conn_kib:.1f} KiB RSS per idle connection, "
                f"server RSS {r.rss_after_kib / 1024:.0f} MiB"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
