"""A simulated ShotTracker that misbehaves on purpose: the chaos upstream.

It plays a :class:`~server.sim.simgame.SimGame` exactly as :mod:`server.sim.simulator` does
(signed requests checked, ShotTracker's error bodies, ETag/304), and answers a share ``rate`` of
the requests with one of the faults a live upstream shows, drawn from ``random.Random(seed)``:

* statuses: 500, 403, 401, 429 with ``Retry-After``;
* the network: an answer slower than the client's timeout, a connection reset with no answer,
  a connection refused (the port stops listening for a moment), a body cut off mid-stream;
* the body: JSON cut short, JSON that does not parse, ``shots`` of the wrong type;
* answers that are 200 and usable, but not as documented: a shot field of the wrong type, a
  score of the wrong type, shots reordered, duplicated or briefly missing, a period code the
  server has never seen.

Why a raw HTTP/1.1 server on asyncio streams rather than an ASGI app: a connection reset with no
answer, a refused connection and a body shorter than its Content-Length are things an ASGI app
cannot do (uvicorn answers 500 for an app that fails before answering). Here every fault is
real bytes (or their absence) on a real loopback socket.

Every request is logged (:attr:`ChaosUpstream.served`) with the fault it got and the feed error
code SPEC says it must produce, so a test can hold the server's ``feed_status`` transitions
against what was injected. Setting :attr:`ChaosUpstream.rate` to 0 calms the upstream at run
time (a test's end of game). The game's timeline starts at the first request, so a server that
takes a second to start does not find half the game in its silent first poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import random
import socket
import struct
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from server.sim.simgame import SimGame
from server.sim.simulator import (
    DEFAULT_FAULT_DELAY_S,
    DEMO_SECRET,
    DEMO_USERNAME,
    FAULT_HEADER,
    SHOTS_ROUTE,
    SimulatorState,
    _auth_problem,
    _etag,
    _matches,
)

# Faults that make a poll fail, with the feed error code SPEC gives each.
FAILING: dict[str, str] = {
    "http_500": "upstream_error",
    "http_403": "forbidden",
    "http_401": "unauthorized",
    "http_429": "rate_limited",
    "timeout": "timeout",
    "reset": "upstream_error",
    "refused": "upstream_error",
    "truncated": "bad_payload",
    "cut_json": "bad_payload",
    "malformed": "bad_payload",
    "shots_type": "bad_payload",
}
# Faults that still give a usable 200: the poll succeeds, the server must not be fooled.
DEGRADED: tuple[str, ...] = (
    "shot_field_type",
    "shot_t_type",
    "score_type",
    "reordered",
    "duplicated",
    "missing",
    "unknown_period",
)
KINDS: tuple[str, ...] = (*FAILING, *DEGRADED)
# A period code no rule book has: the server must pass it through, not crash or guess.
UNKNOWN_PERIOD = "ET1"
START_TIMEOUT_S = 10.0

_REASONS = {
    200: "OK",
    304: "Not Modified",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


@dataclass(frozen=True, slots=True)
class Served:
    """One request as the chaos upstream saw it: when (monotonic s), which fault (None for a
    clean answer), and the feed error code it must cause (None: the poll succeeds)."""

    n: int
    at: float
    fault: str | None
    code: str | None
    elapsed_s: float


def expected_transitions(served: Sequence[Served]) -> list[tuple[bool, str | None]]:
    """The ``feed_status`` (ok, error) sequence SPEC prescribes for these poll outcomes: ok:false
    with the code on the first failure, again when the code changes while failing, ok:true on
    the next success. The feed starts healthy."""
    out: list[tuple[bool, str | None]] = []
    ok, code = True, None
    for s in served:
        if s.code is None:
            if not ok:
                out.append((True, None))
            ok, code = True, None
        elif ok or s.code != code:
            out.append((False, s.code))
            ok, code = False, s.code
    return out


def _response(status: int, body: bytes, headers: Mapping[str, str] | None = None) -> bytes:
    lines = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        f"date: {email.utils.formatdate(usegmt=True)}",
    ]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _reset(writer: asyncio.StreamWriter) -> None:
    """Drop the connection with a TCP reset and no answer (SO_LINGER 0, then close)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _error_body(status: int, message: str) -> bytes:
    return orjson.dumps(
        {"status": status, "message": message, "shottrackerRequestId": str(uuid.uuid4())}
    )


class ChaosUpstream:
    """``with ChaosUpstream(game, speed=300, rate=0.3, seed=1) as up: up.url`` — its own event
    loop in a daemon thread, on a free 127.0.0.1 port (kept across a "refused" pause)."""

    def __init__(
        self,
        game: SimGame,
        *,
        speed: float = 10.0,
        rate: float = 0.3,
        seed: int = 0,
        event_id: str = "DEMO",
        credentials: Mapping[str, str] | None = None,
        kinds: Sequence[str] = KINDS,
        timeout_delay_s: float = DEFAULT_FAULT_DELAY_S,
        retry_after: str = "1",
        refuse_s: float = 0.1,
        t0_ms: int | None = None,
        clean_first: int = 1,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate is a probability between 0 and 1")
        unknown = set(kinds) - set(KINDS)
        if unknown or not kinds:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        self.rate = rate
        self.kinds = tuple(kinds)
        self.timeout_delay_s = timeout_delay_s
        self.retry_after = retry_after
        self.refuse_s = refuse_s
        self.clean_first = clean_first
        self.served: list[Served] = []
        self.faults: Counter[str] = Counter()
        self.dropped: set[int] = set()  # every ``t`` a "missing" fault left out
        self._first: list[float] = []
        self.state = SimulatorState(
            game=game,
            speed=speed,
            event_id=event_id,
            credentials=dict(credentials or {DEMO_USERNAME: DEMO_SECRET}),
            faults=0.0,
            fault_delay_s=timeout_delay_s,
            clock=self._game_clock,
            wall_clock=time.time,
            start=0.0,
            t0_ms=int(time.time() * 1000) if t0_ms is None else t0_ms,
            rng=random.Random(seed),
        )
        self._pick = random.Random(f"chaos-{seed}")
        self._mutate = random.Random(f"chaos-mutate-{seed}")
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.bind(("127.0.0.1", 0))
        self.port: int = probe.getsockname()[1]
        probe.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="chaos-upstream")

    # -- time -------------------------------------------------------------------------------

    def _game_clock(self) -> float:
        """Seconds since the first request (0 before it): the game starts when the feed asks."""
        return time.monotonic() - self._first[0] if self._first else 0.0

    def finished(self) -> bool:
        """True once the simulated game is FINAL."""
        return self.state.finished()

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S) or self._error is not None:
            raise RuntimeError(f"the chaos upstream did not start: {self._error!r}")

    def stop(self) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        self._thread.join(timeout=10)

    def __enter__(self) -> ChaosUpstream:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # recorded for start(); the thread must not die silently
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        await self._listen()
        self._ready.set()
        await self._stopping.wait()
        self._drop_all()
        if self._server is not None:
            self._server.close()

    def _drop_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()

    async def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self._server = await asyncio.start_server(self._connection, sock=sock, backlog=128)

    async def _unlisten(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _refuse_for_a_while(self) -> None:
        """Stop listening (connects are refused), drop every open connection, listen again."""
        self._drop_all()
        await self._unlisten()
        await asyncio.sleep(self.refuse_s)
        if self._stopping is not None and not self._stopping.is_set():
            await self._listen()

    # -- HTTP -------------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
                    return
                keep = await self._request(head, writer)
                if not keep:
                    return
        except asyncio.CancelledError:
            # The upstream is stopping. Ending quietly matters: asyncio's stream callback asks a
            # cancelled handler task for its exception and logs that as an ERROR.
            return
        finally:
            self._writers.discard(writer)
            writer.close()  # graceful: what was written still goes out, then FIN

    async def _request(self, head: bytes, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection must end (a fault, or ``close``)."""
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, _version = lines[0].split(" ", 2)
        except ValueError:
            writer.write(_response(400, _error_body(400, "Bad request")))
            return False
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        keep = headers.get("connection", "").lower() != "close"
        path = target.split("?", 1)[0]
        if not self._first:
            self._first.append(time.monotonic())
        st = self.state
        st.requests += 1
        prefix, _, suffix = SHOTS_ROUTE.partition("{event_id}")
        event_id = path[len(prefix) : -len(suffix)] if path.startswith(prefix) else None
        if method != "GET" or event_id is None or not path.endswith(suffix):
            writer.write(_response(404, _error_body(404, "Invalid id")))
            return keep
        problem = _auth_problem(headers, method, path, st.credentials, st.wall_clock())
        if problem is not None:  # a real signing problem, not an injected one
            self._log(None, "unauthorized" if problem[0] == 401 else "forbidden")
            writer.write(_response(problem[0], _error_body(problem[0], problem[1])))
            return keep
        if event_id != st.event_id:
            self._log(None, "not_found")
            writer.write(_response(404, _error_body(404, "Invalid id")))
            return keep

        fault: str | None = None
        if st.requests > self.clean_first and self._pick.random() < self.rate:
            fault = self._pick.choice(self.kinds)
            self.faults[fault] += 1
        self._log(fault, FAILING.get(fault) if fault else None)
        marker = {FAULT_HEADER: fault} if fault else {}

        if fault in ("http_500", "http_403", "http_401", "http_429"):
            status = int(fault[5:])
            message = {
                500: "General System Error",
                403: "Access denied to resource",
                401: "Missing or malformed Authorization header",
                429: "Too many requests",
            }[status]
            extra = dict(marker)
            if status == 429:
                extra["retry-after"] = self.retry_after
            writer.write(_response(status, _error_body(status, message), extra))
            return keep
        if fault == "reset":
            _reset(writer)
            return False
        if fault == "refused":
            _reset(writer)
            task = asyncio.get_running_loop().create_task(self._refuse_for_a_while())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return False
        if fault == "timeout":
            await asyncio.sleep(self.timeout_delay_s)

        doc = st.payload()
        if fault in DEGRADED:
            self._degrade(fault, doc)
        body = orjson.dumps(doc)
        if fault == "truncated":  # the whole length announced, half of it sent, then gone
            writer.write(_response(200, body, marker)[: -(len(body) // 2) or None])
            await writer.drain()
            return False
        if fault == "cut_json":
            writer.write(_response(200, body[: len(body) // 2], marker))
            return keep
        if fault == "malformed":
            writer.write(_response(200, body.replace(b'"gameTotals":', b'"gameTotals"', 1), marker))
            return keep
        if fault == "shots_type":
            doc["shots"] = {"count": len(doc["shots"])}
            writer.write(_response(200, orjson.dumps(doc), marker))
            return keep
        if fault is not None:  # degraded or slow: a usable 200, no ETag to cache it by
            writer.write(_response(200, body, marker))
            if fault == "timeout":
                with contextlib.suppress(OSError):
                    await writer.drain()
                return False
            return keep
        etag = _etag(body)
        extra = {"etag": etag, "cache-control": "no-cache"}
        if _matches(headers.get("if-none-match"), etag):
            writer.write(_response(304, b"", extra))
        else:
            writer.write(_response(200, body, extra))
        with contextlib.suppress(OSError):
            await writer.drain()
        return keep

    def _log(self, fault: str | None, code: str | None) -> None:
        self.served.append(
            Served(len(self.served) + 1, time.monotonic(), fault, code, self.state.elapsed_s())
        )

    def _degrade(self, fault: str, doc: dict[str, Any]) -> None:
        """Turn a good payload into a usable but undocumented one, in place."""
        rng = self._mutate
        shots: list[dict[str, Any]] = doc["shots"]
        totals: dict[str, Any] = doc["gameTotals"]
        if fault == "shot_field_type" and shots:
            i = rng.randrange(len(shots))
            field = rng.choice(("is3", "st", "pid"))
            wrong = {"is3": "true", "st": 1, "pid": [shots[i]["pid"]]}[field]
            shots[i] = {**shots[i], field: wrong}
        elif fault == "shot_t_type" and shots:
            i = rng.randrange(len(shots))
            shots[i] = {**shots[i], "t": str(shots[i]["t"])}
        elif fault == "score_type":
            side = rng.choice(("homeTeamScore", "awayTeamScore"))
            totals[side] = {**totals[side], "value": str(totals[side]["value"])}
        elif fault == "reordered":
            rng.shuffle(shots)
        elif fault == "duplicated" and shots:
            for _ in range(rng.randint(1, 3)):
                shots.insert(rng.randrange(len(shots) + 1), dict(rng.choice(shots)))
        elif fault == "missing" and shots:
            for _ in range(min(len(shots), rng.randint(1, 3))):
                self.dropped.add(int(shots.pop(rng.randrange(len(shots)))["t"]))
        elif fault == "unknown_period":
            totals["period"] = UNKNOWN_PERIOD


__all__ = [
    "DEGRADED",
    "FAILING",
    "KINDS",
    "UNKNOWN_PERIOD",
    "ChaosUpstream",
    "Served",
    "expected_transitions",
]
