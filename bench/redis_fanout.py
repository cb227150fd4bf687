"""Scale-out through Redis: W web processes sharing N clients versus one process holding N.

Run it with ``.venv/bin/python bench/redis_fanout.py`` (N = 5,000 clients, W = 4 web processes,
M = 60 events, 3 alternated runs of each mode; ``--quick`` for a smoke run). It prints figures;
it is not a test. It needs a Redis on loopback (``--redis-url``, default
``redis://127.0.0.1:6379/0``); every key it makes is under a prefix unique to the run
(``bench-rf-<random>-...``), deleted at the end (SCAN + DEL).

The issue's questions: four web processes with 1,250 clients each through Redis versus one
process with 5,000 -- p99 time-to-last-client for one event, the latency Redis adds (goal
<= 5 ms at p99), and server CPU per delivered message in a web process (goal: within 10 % of
the embedded mode's). Both modes run in the same invocation, alternated ``--repeat`` times, so
their ratios are comparable on a noisy machine:

* **embedded**: one ``python -m server serve --game BENCH`` (SQLite, poller and web in one
  process), N clients;
* **redis**: W ``python -m server web`` processes (no pollers) and one ``python -m server poll``,
  all with ``REDIS_URL``, ``SHOTFEED_REDIS_PREFIX`` (unique per run) and
  ``SHOTFEED_GAMES=BENCH``; N/W clients on each web process. Events are POSTed to web process 0
  (``--fire-all``: round-robin over all of them): that one commits (one Lua script, XADD to
  ``<prefix>:changes``) and fans out to its own clients, the others learn of the commit through
  ``XREAD BLOCK`` and fan the same bytes out to theirs;
* **share-embedded** (the control; ``--no-share`` skips it): one ``serve`` process holding N/W
  clients, one web process's share, and taking the same POSTs. Each event has a fixed cost in
  every process that fans it out (the POST or the ``XREAD`` wake-up, applying it, the fan-out's
  set-up), which W processes bear over W times fewer messages each, with or without Redis: this
  run measures that part alone, so the summary can tell it from what Redis itself costs a web
  process (a web process against this one).

Everything else is ``bench/fanout.py``'s, imported from it: the upstream (``ScriptedUpstream``
answering the seed payload), the server launch and its readiness wait, the load generator
(``--workers`` processes, here spread evenly over the web processes, the same count in both
modes; ``--client raw`` by default, fanout.py's ``RawWorker``, a WebSocket reader of a few
lines on uvloop that spends ~9 us per message where the ``websockets`` client spends ~42: on two
cores the load generator's CPU is taken from the servers being measured), the POST that
carries ``time.time_ns()`` from just before it, the pacing (the next event no sooner than
``--interval`` after the last and only once every client has it), the ``/proc/<pid>/stat`` CPU
accounting and the checks (every client got every event, in seq order, nothing twice). Per
mode it reports: server CPU per delivered message (the firing phase's CPU of the web processes
/ deliveries; per web process too; "net" first takes off each process's idle rate and its
per-event cost measured with no client), delivery latency and time to last client p50/p99,
and the CPU of the poll process and of redis-server meanwhile.
In both modes the load generator also hashes each client's raw frames after its hello: in
Redis mode clients on different web processes must have byte-identical frames (one hash).

"The latency Redis adds" is taken two ways: the fan-out runs' time to last client, Redis minus
embedded, at p50 and p99 (on a 2-core machine shared with the load generator, mostly client
noise); and an isolated run with no fan-out load: ``--iso-events`` events to 10 clients on one
process, embedded, Redis with the POST to the clients' own web process ("local": the commit's
round trip to Redis), and Redis with the POST to a second web process that has no client
("cross": commit, XADD, the XREAD wake-up in the clients' process, apply, fan out -- the whole
Redis hop).

``--pin`` puts the server processes on the first CPU and the load generator and the poll
process on the others (a control: the two sides never share a core). ``--sweep 625,1250,...``
instead runs, at each client count, the embedded process and a *follower* (a web process with
every client while the POSTs go to a second web process, so all its events come through Redis)
and fits CPU per event = fixed + per client x n for both: where the CPU of scale-out goes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.fanout import (  # noqa: E402
    GAME,
    SEED,
    Bench,
    add_run_options,
    cpu_seconds,
    cpu_split,
    event_times,
    free_port,
    git_describe,
    merge_report,
    pct,
    raise_nofile,
    stop_processes,
    stop_worker,
    uvicorn_options,
    worker_main,
)

GOAL_ADDED_MS = 5.0  # Redis adds at most this to time-to-last-client at p99
GOAL_CPU_RATIO = 1.10  # a web process's CPU per delivered message within 10 % of embedded's
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def pin(pids: list[int], on: bool, side: int) -> None:
    """``--pin``: the servers' processes (every thread) on the first CPU, the load generator and
    the poll process on the others, so the two sides never share a core."""
    cpus = sorted(os.sched_getaffinity(0))
    if not on or len(cpus) < 2:
        return
    where = {cpus[0]} if side == 0 else set(cpus[1:])
    for pid in pids:
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(ProcessLookupError):
                os.sched_setaffinity(int(task), where)


# -- one run -----------------------------------------------------------------------------------


@dataclass
class Run:
    label: str  # "embedded", "share-embedded", "redis", "iso-embedded", "iso-redis-local", ...
    n: int
    m: int
    clients: list[int]  # per server process (0 for a web process without clients)
    hellos: int = 0
    connect_s: float = 0.0
    wall_s: float = 0.0
    idle_rate: list[float] = field(default_factory=list)  # CPU s/s per server process
    fixed_ms: list[float] = field(default_factory=list)  # CPU ms per event, no client
    fire_s: float = 0.0
    fire_cpu: list[float] = field(default_factory=list)  # per server process
    fire_user: list[float] = field(default_factory=list)
    poll_cpu: float = 0.0  # the poll process (redis) during the firing phase
    redis_cpu: float | None = None  # redis-server during the firing phase
    loadgen_cpu: float = 0.0
    lat_ms: list[float] = field(default_factory=list)
    last_ms: list[float] = field(default_factory=list)  # per event, over every client
    last_by_web: dict[int, list[float]] = field(default_factory=dict)
    timeouts: int = 0
    checks: dict[str, Any] = field(default_factory=dict)
    digests: dict[int, Counter[str]] = field(default_factory=dict)  # web -> hash -> clients

    def per_msg_us(self, i: int, net: bool = False) -> float:
        cpu = self.fire_cpu[i]
        if net and self.idle_rate:
            cpu = max(0.0, cpu - self.idle_rate[i] * self.fire_s - self.m * self.fixed_ms[i] / 1e3)
        return cpu / max(1, self.clients[i] * self.m) * 1e6

    def user_us(self) -> float:
        return sum(self.fire_user) / max(1, sum(self.clients) * self.m) * 1e6

    def total_us(self, net: bool = False, everything: bool = False) -> float:
        """CPU of all server processes per delivered message (``everything``: with the poll
        process and redis-server)."""
        cpu = sum(self.fire_cpu)
        if net and self.idle_rate:
            cpu -= sum(self.idle_rate) * self.fire_s + self.m * sum(self.fixed_ms) / 1e3
        if everything:
            cpu += self.poll_cpu + (self.redis_cpu or 0.0)
        return max(0.0, cpu) / max(1, sum(self.clients) * self.m) * 1e6

    @property
    def ok(self) -> bool:
        c = self.checks
        bad = ("missing", "incomplete", "disorder", "duplicated", "n_failures", "closed_early")
        return (
            self.hellos == self.n
            and self.timeouts == 0
            and all(c.get(k, 0) == 0 for k in bad)
            and self.distinct_frames == 1
        )

    @property
    def distinct_frames(self) -> int:
        return len(set().union(*self.digests.values())) if self.digests else 0


class RedisKeys:
    """The run's keys in Redis: one prefix per server set-up, all deleted at the end."""

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.base = f"bench-rf-{secrets.token_hex(4)}"
        info = self.client.info("server")
        self.version = info.get("redis_version", "?")
        self.pid = int(info.get("process_id", 0))
        try:
            cpu_seconds(self.pid)
        except OSError:
            self.pid = 0  # another host or namespace: not measured

    def prefix(self, tag: str) -> str:
        return f"{self.base}-{tag}"

    def cpu(self) -> float | None:
        return cpu_seconds(self.pid) if self.pid else None

    def version_of(self, prefix: str) -> int:
        return int(self.client.hget(f"{prefix}:g:{GAME}:meta", "version") or 0)

    def delete(self, prefix: str | None = None) -> int:
        pattern = f"{prefix}:*" if prefix else f"{self.base}-*"
        deleted = 0
        batch: list[bytes] = []
        for key in self.client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 500:
                deleted += self.client.delete(*batch)
                batch = []
        if batch:
            deleted += self.client.delete(*batch)
        return deleted


class ScaleBench:
    def __init__(self, args: argparse.Namespace, bench: Bench, keys: RedisKeys) -> None:
        self.args = args
        self.bench = bench  # fanout's: server launch, token, fire, spawn context
        self.keys = keys
        self.python = str(ROOT / ".venv" / "bin" / "python")
        if not Path(self.python).exists():
            self.python = sys.executable

    def redis_env(self, prefix: str) -> dict[str, str]:
        return dict(
            os.environ,
            SHOTFEED_OPERATOR_TOKEN=self.bench.token,
            SHOTFEED_HEARTBEAT_S=str(self.args.heartbeat),
            SHOTFEED_GAMES=GAME,
            SHOTFEED_DB=str(self.bench.tmp / f"{prefix}.db"),  # not used: Redis is the store
            SHOTTRACKER_BASE_URL=self.bench.upstream_url,
            REDIS_URL=self.args.redis_url,
            SHOTFEED_REDIS_PREFIX=prefix,
        )

    def start_redis(
        self, tag: str, webs: int
    ) -> tuple[list[subprocess.Popen[bytes]], list[str], subprocess.Popen[bytes]]:
        prefix = self.keys.prefix(tag)
        env = self.redis_env(prefix)
        cmd = [self.python, "-m", "server", "poll", "--poll-interval", str(self.args.poll_interval)]
        log = open(self.bench.tmp / f"server-{tag}-poll.log", "wb")  # noqa: SIM115
        poll = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=raise_nofile
        )
        log.close()
        deadline = time.monotonic() + 30
        while self.keys.version_of(prefix) < 1:  # the leader's first (baseline) poll committed
            if poll.poll() is not None or time.monotonic() > deadline:
                poll.kill()
                raise RuntimeError(f"the poll process did not commit a first poll; see {log.name}")
            time.sleep(0.05)
        procs, bases = [], []
        try:
            for i in range(webs):
                web = [self.python, "-m", "server", "web", "--port", str(free_port())]
                proc, base = self.bench._launch(web, env, f"{tag}-web{i}", None)
                procs.append(proc)
                bases.append(base)
        except BaseException:
            stop_processes([*procs, poll])
            raise
        return procs, bases, poll

    def run(
        self,
        label: str,
        tag: str,
        n: int,
        m: int,
        *,
        webs: int = 1,
        client_webs: list[int] | None = None,
        fire_to: list[int] | None = None,
        workers: int = 1,
        measure_cpu: bool = True,
    ) -> Run:
        """One set-up: start it, (idle + calibration), connect, fire M, collect, stop."""
        args = self.args
        t_start = time.monotonic()
        redis = not label.endswith("embedded")
        client_webs = list(range(webs)) if client_webs is None else client_webs
        fire_to = fire_to or [0]
        clients = [0] * webs
        for j, w in enumerate(client_webs):
            clients[w] = n // len(client_webs) + (j < n % len(client_webs))
        res = Run(label, n, m, clients)
        poll: subprocess.Popen[bytes] | None = None
        if redis:
            procs, bases, poll = self.start_redis(tag, webs)
        else:
            proc, base = self.bench.start_server(tag)
            procs, bases = [proc], [base]
        pids = [p.pid for p in procs]
        pin(pids, self.args.pin, 0)
        if poll is not None:
            pin([poll.pid], self.args.pin, 1)
        headers = {"authorization": f"Bearer {self.bench.token}"}
        https = [httpx.Client(base_url=bases[i], headers=headers, timeout=30) for i in fire_to]
        workers_: list[tuple[Any, Connection, Any, Any, int]] = []
        fired = 0

        def fire(payload: dict[str, Any]) -> int:
            nonlocal fired
            fired += 1
            return self.bench.fire(https[(fired - 1) % len(https)], payload)

        def cpus() -> list[float]:
            return [cpu_seconds(pid) for pid in pids]

        try:
            time.sleep(1.5)  # first poll and imports done
            if measure_cpu:
                c0, t0 = cpus(), time.monotonic()
                time.sleep(args.idle)
                dt = time.monotonic() - t0
                res.idle_rate = [(c - b) / dt for c, b in zip(cpus(), c0, strict=True)]
                c0, t0 = cpus(), time.monotonic()
                for i in range(args.calibrate):
                    fire({"cal": i})
                    time.sleep(args.interval)
                time.sleep(0.3)  # the other web processes apply the last one
                dt = time.monotonic() - t0
                res.fixed_ms = [
                    max(0.0, c - b - r * dt) / max(1, args.calibrate) * 1e3
                    for c, b, r in zip(cpus(), c0, res.idle_rate, strict=True)
                ]
            time.sleep(0.5)

            # connect: the same number of load-generator processes in both modes
            ctx = self.bench.ctx
            t0 = time.monotonic()
            per_web = max(1, workers // max(1, len(client_webs)))
            for w in client_webs:
                url = bases[w].replace("http://", "ws://") + f"/ws/games/{GAME}"
                for j in range(per_web):
                    share = clients[w] // per_web + (j < clients[w] % per_web)
                    if share == 0:
                        continue
                    hellos = ctx.RawArray("q", 2)
                    done = ctx.RawArray("b", max(1, m))
                    parent, child = ctx.Pipe()
                    conc = args.concurrency
                    p = ctx.Process(
                        target=worker_main,
                        args=(args.client, url, share, m, conc, hellos, done, True, child),
                        daemon=True,
                    )
                    p.start()
                    if p.pid is not None:
                        pin([p.pid], args.pin, 1)
                    workers_.append((p, parent, hellos, done, w))
            deadline = time.monotonic() + args.connect_timeout
            while sum(h[0] + h[1] for _, _, h, _, _ in workers_) < n:
                if time.monotonic() > deadline:
                    break
                if any(not p.is_alive() for p, _, _, _, _ in workers_):
                    raise RuntimeError("a load-generator worker died while connecting")
                time.sleep(0.05)
            res.connect_s = time.monotonic() - t0
            res.hellos = sum(h[0] for _, _, h, _, _ in workers_)
            time.sleep(args.settle)

            # fire M events, one broadcast at a time
            expected: list[int] = []
            fired_at: list[float] = []
            lg0 = sum(cpu_seconds(p.pid) for p, _, _, _, _ in workers_)
            poll0 = cpu_seconds(poll.pid) if poll else 0.0
            redis0 = self.keys.cpu() if redis else None
            u0 = [cpu_split(pid)[0] for pid in pids]
            c0, t0 = cpus(), time.monotonic()
            for k in range(m):
                if fired_at:
                    wait = fired_at[-1] + args.interval - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                fired_at.append(time.monotonic())
                expected.append(fire({"k": k}))
                until = time.monotonic() + args.event_timeout
                while not all(d[k] for _, _, _, d, _ in workers_):
                    if time.monotonic() > until:
                        res.timeouts += 1
                        break
                    time.sleep(0.001)
            res.fire_s = time.monotonic() - t0
            res.fire_cpu = [c - b for c, b in zip(cpus(), c0, strict=True)]
            res.fire_user = [cpu_split(pid)[0] - u for pid, u in zip(pids, u0, strict=True)]
            res.loadgen_cpu = sum(cpu_seconds(p.pid) for p, _, _, _, _ in workers_) - lg0
            if poll is not None:
                res.poll_cpu = cpu_seconds(poll.pid) - poll0
            if redis0 is not None:
                res.redis_cpu = (self.keys.cpu() or 0.0) - redis0
            time.sleep(0.2)
            collect(res, workers_, expected)
        finally:
            for h in https:
                h.close()
            stop_workers(workers_)
            stop_processes([*procs, *([poll] if poll else [])])
            if redis:
                self.keys.delete(self.keys.prefix(tag))
        res.wall_s = time.monotonic() - t_start
        return res


def collect(
    res: Run, workers: list[tuple[Any, Connection, Any, Any, int]], expected: list[int]
) -> None:
    """The workers' reports: latencies per event (over all clients, and per web process), the
    checks summed, the frame hashes per web process."""
    per_event: list[list[int]] = [[] for _ in range(res.m)]
    by_web: dict[int, list[list[int]]] = {}
    for _, conn, _, _, _ in workers:
        conn.send(("report", expected))
    for _, conn, _, _, w in workers:
        rep = conn.recv()
        res.digests.setdefault(w, Counter()).update(rep.pop("digests"))
        web_events = by_web.setdefault(w, [[] for _ in range(res.m)])
        for k, lats in enumerate(merge_report(rep, res.checks)):
            per_event[k].extend(lats)
            web_events[k].extend(lats)
    res.lat_ms, res.last_ms, _ = event_times(per_event)
    for w, events in sorted(by_web.items()):
        res.last_by_web[w] = event_times(events)[1]


def stop_workers(workers: list[tuple[Any, Connection, Any, Any, int]]) -> None:
    for p, conn, _, _, _ in workers:
        stop_worker(p, conn)


# -- printing ----------------------------------------------------------------------------------


def print_run(r: Run) -> None:
    c = r.checks
    procs = len(r.clients)
    where = "1 serve process" if r.label.endswith("embedded") else f"{procs} web + 1 poll"
    print(f"\n== {r.label}: {r.hellos:,}/{r.n:,} clients on {where}, M = {r.m} events ==")
    print(
        f"  connect {r.connect_s:.1f} s; firing {r.fire_s:.2f} s; load generator CPU "
        f"{r.loadgen_cpu:.2f} s; whole run {r.wall_s:.0f} s"
    )
    if r.idle_rate:
        for i in range(procs):
            if not r.clients[i]:
                print(f"  process {i}: no client, firing CPU {r.fire_cpu[i]:.2f} s")
                continue
            print(
                f"  process {i}: {r.clients[i]:,} clients, idle {r.idle_rate[i] * 1e3:.1f} ms/s, "
                f"{r.fixed_ms[i]:.2f} ms CPU per event with no client, firing CPU "
                f"{r.fire_cpu[i]:.2f} s (user {r.fire_user[i]:.2f}) = raw "
                f"{r.per_msg_us(i):.2f} us, net {r.per_msg_us(i, net=True):.2f} us per delivered "
                "message"
            )
        extra = f"; poll process {r.poll_cpu:.2f} s" if r.label == "redis" else ""
        if r.redis_cpu is not None:
            extra += f", redis-server {r.redis_cpu:.2f} s"
        print(
            f"  server CPU per delivered message, all server processes: raw "
            f"{r.total_us():.2f} us, net {r.total_us(net=True):.2f} us{extra}"
        )
    print(
        f"  delivery latency p50 {pct(r.lat_ms, 50):.1f} ms, p99 {pct(r.lat_ms, 99):.1f} ms; "
        f"time to last client p50 {pct(r.last_ms, 50):.1f} ms, p99 {pct(r.last_ms, 99):.1f} ms"
    )
    if len(r.last_by_web) > 1 or r.label.startswith("iso-redis"):
        parts = [
            f"web {w}: {pct(v, 50):.1f}/{pct(v, 99):.1f}" for w, v in sorted(r.last_by_web.items())
        ]
        print(f"  time to last client per web process, p50/p99 ms: {'; '.join(parts)}")
    frames = {w: len(d) for w, d in sorted(r.digests.items())}
    print(
        f"  checks: {'OK' if r.ok else 'FAILED'}: missing {c.get('missing', 0)}, without all M "
        f"in order {c.get('incomplete', 0)}, out of order {c.get('disorder', 0)}, duplicated "
        f"{c.get('duplicated', 0)}, connect failures {c.get('n_failures', 0)} "
        f"{c.get('failures', [])}, closed early {c.get('closed_early', 0)} "
        f"{c.get('closes', [])}, timeouts {r.timeouts}; frame hashes: {r.distinct_frames} "
        f"distinct over all clients (per web process {frames})",
        flush=True,
    )


def per_run(runs: list[Run], attr: str, p: float) -> list[float]:
    """Each run's percentile of ``attr`` (``last_ms``: one value per event; ``lat_ms``: one
    per delivery)."""
    return [pct(getattr(r, attr), p) for r in runs]


def pooled(runs: list[Run], attr: str, p: float) -> float:
    return pct([x for r in runs for x in getattr(r, attr)], p)


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def col(values: list[float], fmt: str = "{:.2f}") -> str:
    if not values:
        return "-"
    each = " ".join(fmt.format(v) for v in values)
    return f"{fmt.format(med(values))} [{each}]" if len(values) > 1 else each


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


LATENCY_ROWS = (
    ("time to last client p50 (ms)", "last_ms", 50),
    ("time to last client p99 (ms)", "last_ms", 99),
    ("delivery latency p50 (ms)", "lat_ms", 50),
    ("delivery latency p99 (ms)", "lat_ms", 99),
)


def print_summary(runs: list[Run], args: argparse.Namespace, where: str) -> None:
    emb = [r for r in runs if r.label == "embedded"]
    red = [r for r in runs if r.label == "redis"]
    n, m, w = args.clients, args.events, args.webs
    print(f"\n== summary: {n:,} clients, {m} events per run, {len(emb)} run(s) per mode ==")
    print("   every figure: median of the runs [each run, in order]; a run's p99 of time to last")
    print("   client is over its M events (p99 of 60 = the slowest event); pooled: over all runs'")
    print("   events; us/msg = server CPU (utime+stime, /proc) in the firing phase / deliveries")
    rows: list[tuple[str, ...]] = []
    for name, attr, p in LATENCY_ROWS:
        a, b = per_run(emb, attr, p), per_run(red, attr, p)
        pool = f"{pooled(emb, attr, p):.1f} / {pooled(red, attr, p):.1f}"
        rows.append((name, col(a, "{:.1f}"), col(b, "{:.1f}"), f"{med(b) - med(a):+.1f}", pool))
    emb_us = med([r.total_us() for r in emb])
    measures: tuple[tuple[str, Callable[[Run], float]], ...] = (
        ("us/msg raw, web processes", lambda r: r.total_us()),
        ("us/msg net (- idle, - per event)", lambda r: r.total_us(net=True)),
        ("us/msg user (utime part of raw)", lambda r: r.user_us()),
        ("us/msg raw, + poll + redis-server", lambda r: r.total_us(everything=True)),
    )
    for name, fn in measures:
        a, b = [fn(r) for r in emb], [fn(r) for r in red]
        rows.append((name, col(a), col(b), f"x{med(b) / med(a):.2f}", ""))
    for i in range(w):
        b = [r.per_msg_us(i) for r in red]
        rows.append((f"us/msg raw, web process {i}", "", col(b), f"x{med(b) / emb_us:.2f}", ""))
    share = [r for r in runs if r.label == "share-embedded"]
    if share:
        s = [r.total_us() for r in share]
        name = f"us/msg raw, embedded, {share[0].n:,} clients"
        rows.append((name, col(s), "", f"x{med(s) / emb_us:.2f}", ""))
    ok_e, ok_r = sum(r.ok for r in emb), sum(r.ok for r in red)
    rows.append(("checks (+ identical frames)", f"{ok_e}/{len(emb)} OK", f"{ok_r}/{len(red)} OK"))
    rows[-1] += ("", "")
    head = ("", "embedded (1 process)", f"redis ({w} web + 1 poll)", "vs embedded", "pooled e / r")
    print_table(head, rows)

    iso = {
        label: [r for r in runs if r.label == label]
        for label in ("iso-embedded", "iso-redis-local", "iso-redis-cross")
    }
    base = iso["iso-embedded"]
    if base:
        print(
            f"\n== isolated: {base[0].n} clients on one process, {base[0].m} events per run, "
            f"{len(base)} run(s); local = POST to the clients' web process, cross = POST to "
            "another web process (the whole Redis hop); (added) = median minus embedded's =="
        )
        rows = []
        for name, attr, p in LATENCY_ROWS:
            e = per_run(base, attr, p)
            cells = [col(e)]
            for label in ("iso-redis-local", "iso-redis-cross"):
                v = per_run(iso[label], attr, p)
                cells.append(f"{col(v)} ({med(v) - med(e):+.2f})")
            pool = " / ".join(f"{pooled(v, attr, p):.2f}" for v in iso.values())
            rows.append((name, *cells, pool))
        checks = [f"{sum(r.ok for r in v)}/{len(v)} OK" for v in iso.values()]
        rows.append(("checks", *checks, ""))
        print_table(("", "embedded", "redis local", "redis cross", "pooled e / l / c"), rows)

    print(f"\n== goals (server at {where}) ==")
    added = med(per_run(red, "last_ms", 99)) - med(per_run(emb, "last_ms", 99))
    print(
        f"  Redis adds <= {GOAL_ADDED_MS:g} ms to time-to-last-client p99, {n:,} clients: "
        f"{added:+.1f} ms: {verdict(added <= GOAL_ADDED_MS)}"
    )
    if base:
        e99 = med(per_run(base, "last_ms", 99))
        cross = med(per_run(iso["iso-redis-cross"], "last_ms", 99)) - e99
        local = med(per_run(iso["iso-redis-local"], "last_ms", 99)) - e99
        print(
            f"  Redis adds <= {GOAL_ADDED_MS:g} ms at p99, isolated ({base[0].n} clients): cross "
            f"{cross:+.2f} ms: {verdict(cross <= GOAL_ADDED_MS)}; local {local:+.2f} ms: "
            f"{verdict(local <= GOAL_ADDED_MS)}"
        )
    agg = med([r.total_us() for r in red]) / emb_us
    worst = max(med([r.per_msg_us(i) for r in red]) for i in range(w)) / emb_us
    print(
        f"  web-process CPU per delivered message within {GOAL_CPU_RATIO - 1:.0%} of embedded's "
        f"(raw): all web processes x{agg:.2f}: {verdict(agg <= GOAL_CPU_RATIO)}; the "
        f"costliest one x{worst:.2f}: {verdict(worst <= GOAL_CPU_RATIO)}"
    )
    if share:
        print_share(red, share, emb_us, w, args.fire_all)
    ok = all(r.ok for r in runs)
    print(f"  checks (all runs, every event once and in order, identical frames): {verdict(ok)}")


def print_share(red: list[Run], share: list[Run], emb_us: float, w: int, fire_all: bool) -> None:
    """The goal's ratio taken apart with the control, an embedded process holding one web
    process's share of the clients and taking the same POSTs: what spreading the clients over
    W processes costs any process (each event's fixed cost borne by W times fewer messages),
    and what is left for Redis (a web process against that embedded process)."""
    sh = med([r.total_us() for r in share])
    ratios = [med([r.per_msg_us(i) for r in red]) / sh for i in range(w)]
    together = med([r.total_us() for r in red]) / sh
    print(
        f"  the ratio taken apart: an embedded process holding {share[0].n:,} clients (one web "
        f"process's share, the same POSTs) costs x{sh / emb_us:.2f} per delivered message the "
        f"one holding {share[0].n * w:,}: each event's fixed cost is borne by {w} times fewer "
        f"messages, with or without Redis"
    )

    def role(i: int) -> str:
        if fire_all:
            return "takes 1/W of the POSTs"
        return "takes the POSTs" if i == 0 else "follows"

    each = "; ".join(f"web {i} x{v:.2f} ({role(i)})" for i, v in enumerate(ratios))
    worst = max(ratios)
    print(
        f"  Redis's own part, a web process against that embedded process: {each}; the {w} "
        f"together x{together:.2f}: within {GOAL_CPU_RATIO - 1:.0%}: "
        f"{verdict(worst <= GOAL_CPU_RATIO and together <= GOAL_CPU_RATIO)}"
    )


def fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least squares ms = fixed + per_client * n over (n, ms) points."""
    xs, ys = [float(n) for n, _ in points], [ms for _, ms in points]
    slope, intercept = statistics.linear_regression(xs, ys)
    return intercept, slope


def print_sweep(runs: list[Run], args: argparse.Namespace, where: str) -> None:
    """Where the CPU of scale-out goes: per event, a fixed part and a part per client, for the
    embedded process and for a web process that only follows the change feed."""
    print(f"\n== sweep: CPU per event by clients on the process (median of {args.repeat}) ==")
    print("   embedded: the serve process, POSTs to it; follower: a web process with every client")
    print("   while the POSTs go to a second web process, so its events all come through Redis")
    sizes = sorted({r.n for r in runs})
    rows: list[tuple[str, ...]] = []
    points: dict[str, list[tuple[int, float]]] = {"embedded": [], "follower": []}
    for n in sizes:
        row = [f"{n:,}"]
        for label, proc in (("embedded", 0), ("follower", 1)):
            ms = [r.per_msg_us(proc) * n / 1e3 for r in runs if r.label == label and r.n == n]
            points[label] += [(n, v) for v in ms]
            row.append(f"{med(ms):.2f} ms ({med(ms) / n * 1e3:.2f} us/msg) {col(ms)}")
        rows.append(tuple(row))
    print_table(("clients", "embedded CPU/event", "follower CPU/event"), rows)
    (fe, ce), (ff, cf) = fit(points["embedded"]), fit(points["follower"])
    print(
        f"  fit, CPU per event = fixed + per client x n: embedded {fe:.2f} ms + {ce * 1e3:.2f} us"
        f" x n; follower {ff:.2f} ms + {cf * 1e3:.2f} us x n"
    )
    n, w = args.clients, args.webs
    model = (fe + (w - 1) * ff + n * cf) / (fe + n * ce)
    print(
        f"  so {w} web processes holding {n:,} clients (one taking the POSTs, {w - 1} following) "
        f"would cost x{model:.2f} the embedded process per delivered message: each follower "
        f"adds its fixed {ff:.2f} ms per event; per client a follower costs x{cf / ce:.2f} "
        f"of the embedded process (server at {where})"
    )
    ok = all(r.ok for r in runs)
    print(f"  checks (all runs, every event once and in order): {verdict(ok)}")


def print_table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(x) for x in column) for column in zip(head, *rows, strict=True)]
    for row in (head, *rows):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(wd) for c, wd in zip(row[1:], widths[1:], strict=True)
        ]
        print("  " + "  ".join(cells))


# -- main --------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=5000, help="N clients in all")
    parser.add_argument("--webs", type=int, default=4, help="W web processes in Redis mode")
    parser.add_argument("--events", type=int, default=60, help="M events per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each mode, alternated")
    parser.add_argument("--quick", action="store_true", help="smoke run: 400 clients, 20 events")
    parser.add_argument("--fire-all", action="store_true", help="POST round-robin to every web")
    parser.add_argument("--iso-clients", type=int, default=10, help="isolated runs' clients")
    parser.add_argument("--iso-events", type=int, default=200, help="isolated runs' events")
    parser.add_argument("--no-iso", action="store_true", help="skip the isolated runs")
    parser.add_argument(
        "--no-share",
        action="store_true",
        help="skip the control: an embedded process holding N/W clients (one web process's share)",
    )
    parser.add_argument(
        "--sweep",
        help="instead: comma list of client counts; embedded vs one follower web process at "
        "each, and a fit of CPU per event = fixed + per client x n",
    )
    parser.add_argument("--workers", type=int, help="load-generator processes (default W)")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="servers on the first CPU, load generator and poll process on the others",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    add_run_options(parser, client="raw")
    parser.add_argument("--logs", help="keep the servers' logs in this directory")
    parser.set_defaults(prelude=None, profile=None, profile_args="")  # fanout's Bench reads them
    args = parser.parse_args()
    if args.quick:
        args.clients, args.events, args.iso_events, args.repeat = 400, 20, 50, 1
        args.idle, args.calibrate = 1.0, 10
    if urlsplit(args.redis_url).hostname not in LOOPBACK and not args.redis_url.startswith("unix"):
        raise SystemExit("--redis-url: loopback only (the bench deletes keys there)")
    workers = args.workers or args.webs
    workers += -workers % args.webs  # the same number on each web process
    for var in ("REDIS_URL", "SHOTFEED_REDIS_PREFIX", "SHOTFEED_GAMES"):
        os.environ.pop(var, None)  # the embedded server must not inherit Redis mode

    # SIGTERM (the bench is often run in the background) cleans up as Ctrl-C does: the servers
    # and workers are stopped, the Redis keys deleted
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with it ignored
    nofile = raise_nofile()
    where = git_describe()
    if args.clients + 200 > nofile:
        print(f"warning: RLIMIT_NOFILE is {nofile}; {args.clients} clients may not fit")
    keys = RedisKeys(args.redis_url)
    print(
        f"redis fan-out bench: python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"{workers} load-generator processes, nofile {nofile}, server at {where}, "
        f"{uvicorn_options()}; redis {keys.version} at {args.redis_url} (pid "
        f"{keys.pid or 'not visible'}), key prefix {keys.base}-*"
    )
    print(
        f"N = {args.clients:,} clients, W = {args.webs} web processes, M = {args.events} events, "
        f"{args.repeat} alternated run(s) per mode, POST to "
        f"{'every web process in turn' if args.fire_all else 'web process 0'}",
        flush=True,
    )

    from tests.upstream_app import LiveServer, Reply, ScriptedUpstream

    upstream = ScriptedUpstream()
    upstream.push(Reply(200, SEED.read_bytes()))  # the last reply repeats forever
    runs: list[Run] = []
    t0 = time.monotonic()
    with contextlib.ExitStack() as stack:
        if args.logs:
            tmp = Path(args.logs)
            tmp.mkdir(parents=True, exist_ok=True)
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="redis-fanout-")))
        up = stack.enter_context(LiveServer(upstream))
        stack.callback(keys.delete)
        bench = Bench(args, up.url, tmp)
        sb = ScaleBench(args, bench, keys)
        fire_all = list(range(args.webs)) if args.fire_all else [0]
        n, m, k, mi = args.clients, args.events, args.iso_clients, args.iso_events
        sweep = [int(x) for x in args.sweep.split(",")] if args.sweep else []
        for i in range(args.repeat):
            specs: list[tuple[str, int, int, dict[str, Any]]]
            if sweep:
                pair = (
                    ("embedded", {"workers": workers}),
                    ("follower", {"webs": 2, "client_webs": [1], "workers": workers}),
                )
                specs = [(label, size, m, options) for size in sweep for label, options in pair]
            else:
                specs = [
                    ("embedded", n, m, {"workers": workers}),
                    ("redis", n, m, {"webs": args.webs, "fire_to": fire_all, "workers": workers}),
                ]
                if not args.no_share:  # the control: one process with one web process's share
                    share = {"workers": workers // args.webs}
                    specs.insert(1, ("share-embedded", n // args.webs, m, share))
            if not sweep and not args.no_iso:
                specs += [
                    ("iso-embedded", k, mi, {"measure_cpu": False}),
                    ("iso-redis-local", k, mi, {"measure_cpu": False}),
                    (
                        "iso-redis-cross",
                        k,
                        mi,
                        {"webs": 2, "client_webs": [1], "measure_cpu": False},
                    ),
                ]
            for label, clients, events, options in specs:
                r = sb.run(label, f"{label}-{clients}-{i}", clients, events, **options)
                print_run(r)
                runs.append(r)
    if sweep:
        print_sweep(runs, args, where)
    else:
        print_summary(runs, args, where)
    print(f"\nwhole bench: {time.monotonic() - t0:.0f} s; Redis keys {keys.base}-* deleted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
