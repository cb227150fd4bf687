"""``shotfeed`` (also ``python -m server``): serve, tail, and the commands listed in SPEC.

The command line only parses arguments into Settings and starts things; the work is elsewhere.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Any

import anyio
import orjson
import uvicorn

from server.config import Settings
from server.errors import ConfigError

log = logging.getLogger("shotfeed")

MAX_WS_FRAME = 64 * 1024


class FeedServer(uvicorn.Server):
    """uvicorn, but on SIGTERM/SIGINT the WebSocket clients first get close 1001 (going away).

    uvicorn's own shutdown would close them with 1012; telling overlays "going away" lets them
    reconnect to another instance at once.
    """

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        app = self.config.loaded_app
        hub = getattr(getattr(getattr(app, "app", app), "state", None), "hub", None)
        if hub is None:  # the app may be wrapped by uvicorn's middleware
            hub = _find_hub(app)
        if hub is not None and not hub.closing:
            hub.close_all()
        super().handle_exit(sig, frame)


def _find_hub(app: Any) -> Any:
    for _ in range(5):
        state = getattr(app, "state", None)
        if state is not None and hasattr(state, "hub"):
            return state.hub
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


def uvicorn_config(app: Any, settings: Settings, **extra: Any) -> uvicorn.Config:
    """The server settings shotfeed relies on (one place, used by serve, demo and tests)."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ws="websockets",
        ws_max_size=MAX_WS_FRAME,
        ws_per_message_deflate=False,
        ws_ping_interval=None,
        timeout_graceful_shutdown=3,
        log_level="info",
        access_log=False,
        **extra,
    )


def _serve(args: argparse.Namespace) -> int:
    from server.app import create_app

    overrides: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "base_url": args.upstream,
        "poll_interval": args.poll_interval,
        "db_path": args.db,
    }
    if args.game:
        overrides["games"] = tuple(args.game)
    settings = Settings.from_environ(os.environ, **overrides)
    if not settings.games:
        log.warning("no game given (--game or SHOTFEED_GAMES); add one with POST /api/games")
    app = create_app(settings)
    server = FeedServer(uvicorn_config(app, settings))
    server.run()
    return 0


async def _tail(url: str, game: str, types: str | None, since: int | None) -> None:
    import websockets
    from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

    base = url.rstrip("/").replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    attempt = 0
    while True:
        query = []
        if since is not None:
            query.append(f"since={since}")
        if types:
            query.append(f"types={types}")
        ws_url = f"{base}/ws/games/{game}" + ("?" + "&".join(query) if query else "")
        try:
            async with websockets.connect(ws_url, max_size=2**24, compression=None) as ws:
                attempt = 0
                async for raw in ws:
                    msg = orjson.loads(raw)
                    kind = msg.get("type")
                    if kind == "hello":
                        print(
                            f"# hello game={msg['game']} seq={msg['seq']} gap={msg['gap']}",
                            flush=True,
                        )
                        if since is None:
                            since = int(msg["seq"])
                        continue
                    if kind in ("heartbeat", "pong"):
                        continue
                    if kind == "error":
                        print(f"# error: {msg.get('message')}", file=sys.stderr, flush=True)
                        continue
                    if "seq" in msg:
                        since = max(since or 0, int(msg["seq"]))
                    print(raw if isinstance(raw, str) else raw.decode(), flush=True)
        except (OSError, ConnectionClosed, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            attempt += 1
            delay = random.uniform(0, min(10.0, 0.5 * 2**attempt))
            print(
                f"# disconnected ({type(exc).__name__}); reconnecting in {delay:.1f} s "
                f"with since={since}",
                file=sys.stderr,
                flush=True,
            )
            await anyio.sleep(delay)


def _tail_cmd(args: argparse.Namespace) -> int:
    try:
        anyio.run(_tail, args.url, args.game, args.types, args.since)
    except KeyboardInterrupt:
        return 0
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shotfeed", description="Broadcast graphics feed server for ShotTracker games."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="follow real games: web + poller in one process")
    serve.add_argument("--game", action="append", help="ShotTracker event id (repeatable)")
    serve.add_argument("--upstream", help="upstream base URL (overrides SHOTTRACKER_BASE_URL)")
    serve.add_argument("--poll-interval", type=float, help="seconds between polls (default 1)")
    serve.add_argument("--host", help="listen address (default HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default PORT or 8000)")
    serve.add_argument("--db", help="SQLite store path (default SHOTFEED_DB or ./shotfeed.db)")
    serve.set_defaults(func=_serve)

    tail = sub.add_parser("tail", help="print a running server's events as JSON lines")
    tail.add_argument("--game", required=True, help="event id")
    tail.add_argument("--url", default="http://127.0.0.1:8000", help="server URL")
    tail.add_argument("--types", help="comma list of event types")
    tail.add_argument("--since", type=int, help="replay from this seq")
    tail.set_defaults(func=_tail_cmd)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if hasattr(signal, "SIGPIPE"):  # `shotfeed tail | head` should end quietly
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"shotfeed: {exc}", file=sys.stderr)
        return 2
