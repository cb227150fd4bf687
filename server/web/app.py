"""The Starlette application: routes, static files, and a lifespan that owns the store, the hub,
the HTTP client and the pollers (in one task group). Nothing is built at import time.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from server.config import Settings
from server.core.channel import CLOSE_GOING_AWAY
from server.errors import StoreError
from server.live.broker import BROKER_UNAVAILABLE, Broker, LocalBroker
from server.live.following import Games
from server.live.redis_broker import RedisBroker
from server.live.store import Store
from server.web.api import ROUTES as API_ROUTES
from server.web.api import ApiError, OrjsonResponse, error_response
from server.web.assets import STATIC_DIR
from server.web.console import ROUTES as CONSOLE_ROUTES
from server.web.control import ROUTES as CONTROL_ROUTES
from server.web.feed import ROUTES as FEED_ROUTES
from server.web.hub import Hub
from server.web.metrics import Metrics
from server.web.ograf import ROUTES as OGRAF_ROUTES
from server.web.operators import generate_token, parse_tokens
from server.web.overlays import ROUTES as OVERLAY_ROUTES
from server.web.pages import index, templates

log = logging.getLogger("shotfeed.app")


async def healthz(request: Request) -> Response:
    """200 while the server does its job; 503 while the store cannot be written (or, with
    Redis, while Redis cannot be reached).

    503 and not 200-with-``ok: false``: a load balancer or an uptime check reads the status
    code, and a server that cannot record events is not doing its job, even though it still
    serves state and pages. It recovers by itself (see ``Store.health``), so a probe that
    restarts the process on 503 gains nothing; alert on it instead. A web process whose Redis
    is down keeps its clients connected meanwhile; a load balancer that takes it out of the
    pool on 503 only stops new connections reaching it.
    """
    games: Games = request.app.state.games
    broker = games.broker
    health = broker.health
    body = {
        "ok": health.ok,
        "games": len(games.games),
        "broker": "redis" if broker.shared else "sqlite",
        "role": request.app.state.role,
        "leading": sorted(games.leading),
        # Redis: which poll process leads each game (``host:pid:…``; None while none does),
        # so any web process shows it, though the poll processes have no HTTP port
        "leaders": {g: game.leader for g, game in games.games.items()} if broker.shared else None,
        "store": {
            "ok": health.ok,
            "error": None if health.ok else broker.error_code,
            "message": health.message,
            "since": health.since,
        },
    }
    return OrjsonResponse(body, status_code=200 if health.ok else 503)


async def metrics(request: Request) -> Response:
    m: Metrics = request.app.state.metrics
    return Response(m.render(), media_type=CONTENT_TYPE_LATEST)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail))


async def _store_error(request: Request, exc: Exception) -> Response:
    """A write the store could not commit: nothing changed, so the action may be tried again.

    503 (the server, not the request, is at fault, and it passes by itself) with the store's
    own code (``store_unwritable``, or ``broker_unavailable`` for Redis), so the operator
    console says what is wrong instead of "internal error". The store has logged the cause
    once; no traceback per request.
    """
    assert isinstance(exc, StoreError)
    if exc.code == BROKER_UNAVAILABLE:
        advice = "Redis cannot be reached; it is retried, try again when it is back"
    else:
        advice = "free disk space or make the store writable, then try again"
    return error_response(
        503,
        exc.code,
        f"nothing was changed: the server cannot write its store ({exc.message}); {advice}",
    )


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal", "the server hit an unexpected error; it is logged")


def create_app(
    settings: Settings | None = None,
    *,
    http_client: httpx.AsyncClient | None = None,
    announce: bool = True,
    poll: bool = True,
) -> Starlette:
    """Build the app. ``settings`` default to the environment; ``http_client`` is for tests.

    ``poll=False`` is ``shotfeed web``: no pollers in this process (Redis only: another process
    polls). With ``REDIS_URL`` set the games live in Redis, else in the SQLite store.
    """
    settings = settings or Settings.from_environ(os.environ)
    tokens = parse_tokens(settings)
    generated = None
    if not tokens:
        generated = generate_token()
        tokens = {generated: "operator"}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if generated and announce:
            print(
                f"shotfeed: no SHOTFEED_OPERATOR_TOKEN set; operator token for this run: "
                f"{generated}",
                file=sys.stderr,
                flush=True,
            )
        metrics_ = Metrics()
        hub = Hub(
            retain=settings.retain,
            queue_size=settings.queue_size,
            heartbeat_s=settings.heartbeat_s,
            metrics=metrics_,
        )
        store: Store | None = None
        broker: Broker
        if settings.redis_url:
            redis = RedisBroker(
                settings.redis_url,
                prefix=settings.redis_prefix,
                retain=settings.retain,
                timeout=settings.timeout,
            )
            metrics_.watch_redis(lambda: redis.health.ok)
            broker = redis
        else:
            store = Store(settings.db_path)
            broker = LocalBroker(store)
        metrics_.watch_store(lambda: broker.health.ok)
        http = http_client or httpx.AsyncClient(
            timeout=settings.timeout,
            limits=httpx.Limits(max_keepalive_connections=20),
        )
        outputs_http = httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=10))
        games = Games(settings, broker, hub, metrics_, http, outputs_http=outputs_http, poll=poll)
        app.state.settings = settings
        app.state.metrics = metrics_
        app.state.hub = hub
        app.state.store = store
        app.state.broker = broker
        app.state.games = games
        app.state.tokens = tokens
        app.state.templates = templates()
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(hub.sweep)
                await games.start(tg, settings.games)
                try:
                    yield
                finally:
                    hub.close_all(CLOSE_GOING_AWAY)
                    games.shutdown()
                    tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await broker.aclose()
                if http_client is None:
                    await http.aclose()
                await outputs_http.aclose()

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *FEED_ROUTES,
        *API_ROUTES,
        *CONTROL_ROUTES,
        *OVERLAY_ROUTES,
        *OGRAF_ROUTES,
        *CONSOLE_ROUTES,
        # gzip for the scripts and styles a browser source loads cold (fonts are woff2,
        # compressed already; tiny files are left alone)
        Mount(
            "/static",
            GZipMiddleware(StaticFiles(directory=str(STATIC_DIR)), minimum_size=1024),
            name="static",
        ),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            StoreError: _store_error,
            Exception: _server_error,
        },
    )
    app.state.tokens = tokens
    app.state.settings = settings
    app.state.role = ("serve" if poll else "web") if settings.redis_url else "serve"
    return app
