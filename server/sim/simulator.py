"""An embedded ShotTracker stand-in that plays a :class:`~server.sim.simgame.SimGame` over HTTP.

``shotfeed demo`` runs this next to the server so the whole real path runs end to end: the
poller signs every request (HMAC-SHA1, as ShotTracker documents it), this app checks the
signature and the Date skew exactly as the real API does, and answers with the documented
JSON, error bodies, ETag/304, and, on request, the faults a live upstream shows (5xx, answers
slower than a client's timeout, truncated JSON) so the feed-health path can be seen working.

Time: the game starts when the app is created and plays at ``speed`` (game seconds per real
second), read from an injectable monotonic ``clock`` so tests can jump to any moment. Faults
are drawn from ``random.Random(seed)``, so a run's fault sequence is reproducible.
"""

from __future__ import annotations

import email.utils
import hashlib
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.core.signing import verify
from server.sim.simgame import SimGame

# Not a secret: the demo signs requests to its own in-process simulator with this pair, so
# the real signing code runs without anyone needing ShotTracker credentials.
DEMO_USERNAME = "shotfeed-demo"
DEMO_SECRET = "shotfeed-demo-secret"

SHOTS_ROUTE = "/v1/data/stats/games/{event_id}/shots"
MAX_SKEW_S = 300.0
DEFAULT_FAULT_DELAY_S = 6.0
FAULT_ERROR = "error"
FAULT_DELAY = "delay"
FAULT_TRUNCATED = "truncated"
FAULT_KINDS = (FAULT_ERROR, FAULT_DELAY, FAULT_TRUNCATED)
# Not something ShotTracker sends: names the injected fault so tests and logs can tell.
FAULT_HEADER = "x-simulator-fault"


@dataclass
class SimulatorState:
    """What the running simulator knows; on ``app.state.simulator`` for the demo's use
    (e.g. to print progress or notice the game is over)."""

    game: SimGame
    speed: float
    event_id: str
    credentials: Mapping[str, str] = field(repr=False)
    faults: float
    fault_delay_s: float
    clock: Callable[[], float]
    wall_clock: Callable[[], float]
    start: float
    t0_ms: int
    rng: random.Random
    requests: int = 0
    faults_served: Counter[str] = field(default_factory=Counter)

    def elapsed_s(self) -> float:
        """Game-timeline seconds since the simulated event opened."""
        return max(0.0, (self.clock() - self.start) * self.speed)

    def finished(self) -> bool:
        """True once the game is FINAL."""
        return self.elapsed_s() >= self.game.duration_s

    def payload(self) -> dict[str, Any]:
        return self.game.payload_at(self.elapsed_s(), t0_ms=self.t0_ms, speed=self.speed)


def _error(status: int, message: str, request_id: str) -> Response:
    """ShotTracker's error body: ``{status, message, shottrackerRequestId}``."""
    body = {"status": status, "message": message, "shottrackerRequestId": request_id}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha1(body, usedforsecurity=False).hexdigest()[:20] + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of If-None-Match against our ETag (``*`` matches any)."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


def _auth_problem(
    headers: Mapping[str, str],
    method: str,
    path: str,
    credentials: Mapping[str, str],
    now_s: float,
) -> tuple[int, str] | None:
    """None if the request is signed as ShotTracker requires, else (status, message).

    401 for a missing/unusable Authorization or Date (a skew over 5 minutes included, the
    usual cause of a "correct" secret failing); 403 for a signature that does not verify.
    """
    if not headers.get("authorization", "").startswith("hmac "):
        return 401, "Missing or malformed Authorization header"
    date = headers.get("date", "")
    try:
        sent = email.utils.parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError, IndexError):
        return 401, "Missing or malformed Date header"
    if abs(sent - now_s) > MAX_SKEW_S:
        return 401, "Request date is more than 5 minutes from server time"
    if verify(dict(headers), method, path, dict(credentials)) is None:
        return 403, "Access denied to resource"
    return None


def create_simulator_app(
    game: SimGame,
    *,
    speed: float = 1.0,
    event_id: str = "DEMO",
    credentials: Mapping[str, str] | None = None,
    faults: float = 0.0,
    seed: int = 0,
    clock: Callable[[], float] = time.monotonic,
    fault_delay_s: float = DEFAULT_FAULT_DELAY_S,
    wall_clock: Callable[[], float] = time.time,
    t0_ms: int | None = None,
) -> Starlette:
    """A Starlette app serving ``GET /v1/data/stats/games/{event_id}/shots`` for ``game``.

    ``credentials`` maps username -> secret (default: the demo pair). ``faults`` is the
    probability per accepted request of one upstream fault (a 500, a ``fault_delay_s`` delay,
    or a truncated body), drawn from ``random.Random(seed)``. ``t0_ms`` is the wall-clock epoch
    of the shots' ``t`` (default: now), ``wall_clock`` the time the Date header is checked
    against.
    """
    if speed <= 0:
        raise ValueError("speed must be positive")
    if not 0.0 <= faults <= 1.0:
        raise ValueError("faults is a probability between 0 and 1")
    state = SimulatorState(
        game=game,
        speed=speed,
        event_id=event_id,
        credentials=dict(credentials or {DEMO_USERNAME: DEMO_SECRET}),
        faults=faults,
        fault_delay_s=fault_delay_s,
        clock=clock,
        wall_clock=wall_clock,
        start=clock(),
        t0_ms=int(wall_clock() * 1000) if t0_ms is None else t0_ms,
        rng=random.Random(seed),
    )

    async def shots(request: Request) -> Response:
        state.requests += 1
        request_id = str(uuid.uuid4())
        headers = {k.lower(): v for k, v in request.headers.items()}
        # The signed path is the path as sent (still percent-encoded), without the query.
        raw_path = request.scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else request.url.path
        problem = _auth_problem(
            headers, request.method, path, state.credentials, state.wall_clock()
        )
        if problem is not None:
            return _error(problem[0], problem[1], request_id)
        if request.path_params["event_id"] != state.event_id:
            return _error(404, "Invalid id", request_id)

        fault: str | None = None
        if state.faults > 0 and state.rng.random() < state.faults:
            fault = state.rng.choice(FAULT_KINDS)
            state.faults_served[fault] += 1
        if fault == FAULT_ERROR:
            response = _error(500, "General System Error", request_id)
            response.headers[FAULT_HEADER] = fault
            return response
        if fault == FAULT_DELAY:
            await anyio.sleep(state.fault_delay_s)

        body = orjson.dumps(state.payload())
        if fault == FAULT_TRUNCATED:
            response = Response(body[: len(body) // 2], media_type="application/json")
            response.headers[FAULT_HEADER] = fault
            return response
        etag = _etag(body)
        extra = {"etag": etag, "cache-control": "no-cache"}
        if fault is not None:
            extra[FAULT_HEADER] = fault
        if _matches(headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=extra)
        return Response(body, media_type="application/json", headers=extra)

    async def not_found(request: Request, exc: Exception) -> Response:
        """Any other path or method answers in ShotTracker's error shape, not Starlette's."""
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        message = "Invalid id" if status == 404 else "Method not allowed"
        return _error(status, message, str(uuid.uuid4()))

    app = Starlette(
        routes=[Route(SHOTS_ROUTE, shots, methods=["GET"])],
        exception_handlers={404: not_found, 405: not_found},
    )
    app.state.simulator = state
    return app


__all__ = [
    "DEMO_SECRET",
    "DEMO_USERNAME",
    "FAULT_HEADER",
    "FAULT_KINDS",
    "SHOTS_ROUTE",
    "SimulatorState",
    "create_simulator_app",
]
