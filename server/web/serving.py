"""How shotfeed runs under uvicorn: the one Config builder ``shotfeed serve``, ``demo`` and the
tests share, so the configuration the tests exercise is the one production runs.

The WebSocket options are what the direct fan-out path (``server.web.fastpath``) needs:
``FeedProtocol`` (uvicorn's websockets-sansio protocol, able to detach an open connection from
its ASGI task; the hub writes to its transport), no permessage-deflate (a
pre-built frame must be the bytes on the wire) and no server pings (uvicorn's keepalive would
be a timer per connection; the hub's heartbeats keep proxies from closing idle sockets).

The HTTP protocol is the connection guard (``server.web.guard``): a request head must arrive
within ``SHOTFEED_HANDSHAKE_TIMEOUT_S`` and within the head limits, connections and WebSocket
clients are capped and each address's connect rate is limited, all from Settings.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from types import FrameType
from typing import Any

import uvicorn

from server.config import Settings
from server.core.limits import auto_max_connections
from server.web.fastpath import FeedProtocol

try:  # httptools comes with uvicorn[standard] (the pin); without it nothing is guarded
    from server.web.guard import GuardedHttpTools, guarded_http
except ImportError:  # pragma: no cover - a uvicorn installed without its standard extras
    GuardedHttpTools = None  # type: ignore[assignment,misc]
    guarded_http = None  # type: ignore[assignment]

log = logging.getLogger("shotfeed.serving")

MAX_WS_FRAME = 64 * 1024


def websocket_options() -> dict[str, Any]:
    """uvicorn's WebSocket settings for shotfeed (for servers the tests build around a socket)."""
    return {
        "ws": FeedProtocol,
        "ws_max_size": MAX_WS_FRAME,
        "ws_per_message_deflate": False,
        "ws_ping_interval": None,
    }


def open_file_limit() -> int | None:
    """The process's soft RLIMIT_NOFILE (None: unlimited or unknown)."""
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        return None
    return None if soft == resource.RLIM_INFINITY else int(soft)


def max_connections(settings: Settings) -> int:
    """``SHOTFEED_MAX_CONNECTIONS``, or (0) what the open-file limit allows."""
    return settings.max_connections or auto_max_connections(open_file_limit())


def server_options(settings: Settings) -> dict[str, Any]:
    """Everything but the address: the WebSocket options and the connection guard
    (``server.web.guard``: head timeout and limits, connection caps, connect rate). For the
    tests' servers too, so they run what ``shotfeed serve`` runs."""
    options = websocket_options()
    if guarded_http is None:  # pragma: no cover
        log.warning(
            "httptools is not installed: no request-head timeout, head limits, connection caps "
            "or connect rate (install uvicorn[standard])"
        )
        return options
    options["http"] = guarded_http(settings, max_connections(settings))
    return options


def guard_of(config: uvicorn.Config) -> Any:
    """The guard state of a server built with :func:`server_options` (None otherwise)."""
    http = config.http
    if GuardedHttpTools is None or not isinstance(http, type):
        return None
    return http.guard if issubclass(http, GuardedHttpTools) else None


def uvicorn_config(app: Any, settings: Settings, **extra: Any) -> uvicorn.Config:
    """The whole server configuration; ``extra`` overrides (tests: lifespan, log level)."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        **server_options(settings),
        "timeout_graceful_shutdown": 3,
        "log_level": "info",
        "access_log": False,
    }
    options.update(extra)
    return uvicorn.Config(app, **options)


def feed_server(app: Any, settings: Settings, **extra: Any) -> FeedServer:
    """The server ``shotfeed serve`` and ``demo`` run (and ``tests/test_fastpath.py`` checks)."""
    return FeedServer(uvicorn_config(app, settings, **extra))


class FeedServer(uvicorn.Server):
    """uvicorn, but on SIGTERM/SIGINT the WebSocket clients first get close 1001 (going away).

    uvicorn's own shutdown would close them with 1012; telling overlays "going away" lets them
    reconnect to another instance at once.
    """

    exit_signal: int | None = None
    """The signal that stopped the server (the command line logs its name)."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.exit_signal is None:
            self.exit_signal = sig
        hub = _find_hub(self.config.loaded_app)
        if hub is not None and not hub.closing:
            # A signal handler runs between any two bytecodes of the interrupted code, which
            # may be the hub's own channel halfway through moving a subscriber (seen: a
            # KeyError that killed a server on SIGTERM). So the close is queued to the event
            # loop, which runs it on its next turn, still before uvicorn notices should_exit.
            try:
                asyncio.get_running_loop().call_soon_threadsafe(_close_all, hub)
            except RuntimeError:  # no loop runs here: nothing can be halfway through
                _close_all(hub)
        super().handle_exit(sig, frame)
        # uvicorn re-raises a captured signal once it has shut down, so the process would die
        # of SIGTERM (status -15 / 143) after a clean shutdown; `serve` exits 0 instead.
        self._captured_signals.clear()


def _close_all(hub: Any) -> None:
    if not hub.closing:
        hub.close_all()


def _find_hub(app: Any) -> Any:
    """The app's hub, through the middleware uvicorn may have wrapped around it."""
    for _ in range(5):
        state = getattr(app, "state", None)
        if state is not None and hasattr(state, "hub"):
            return state.hub
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None
