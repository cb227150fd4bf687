"""``shotfeed`` (also ``python -m server``): serve, tail, and the commands listed in SPEC.

The command line only parses arguments into Settings and starts things; the work is elsewhere.
"""

from __future__ import annotations

import argparse
import atexit
import faulthandler
import logging
import math
import os
import random
import resource
import signal
import sys
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import anyio
import orjson
import uvicorn

from server.config import Settings
from server.errors import ConfigError
from server.web.serving import FeedServer, feed_server
from server.web.serving import uvicorn_config as uvicorn_config  # bench/fanout.py reads it here

log = logging.getLogger("shotfeed")

# -- last words: whatever stops the server says why ---------------------------------------------

_stop_logged = False


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """sys.excepthook: an exception nobody caught in the main thread, logged before we die."""
    if issubclass(kind, KeyboardInterrupt):
        log.warning("interrupted (KeyboardInterrupt)")
    else:
        log.critical("uncaught exception, the process ends", exc_info=(kind, exc, tb))


def _log_thread_uncaught(args: threading.ExceptHookArgs) -> None:
    """threading.excepthook: a thread's uncaught exception (the thread ends, the process not)."""
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    exc_info = (args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)
    log.critical("uncaught exception in thread %s", name, exc_info=exc_info)


def _log_exit_without_reason() -> None:
    """atexit: the interpreter is ending and no stop line was written (a sys.exit somewhere)."""
    if not _stop_logged:
        log.warning("shotfeed process exiting (no stop reason was logged before)")


def install_last_words() -> None:
    """faulthandler to stderr (a crash in C, a deadlock dumped on SIGABRT/SIGSEGV/SIGBUS/SIGFPE/
    SIGILL), hooks for uncaught exceptions in the main thread and in threads, and an atexit
    line; only SIGKILL (and the OOM killer) can end the process without a word."""
    if not faulthandler.is_enabled():
        faulthandler.enable(file=sys.stderr, all_threads=True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_thread_uncaught
    atexit.register(_log_exit_without_reason)


def _raise_open_file_limit() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit: each client holds a descriptor, and the
    common soft default (1024) would stop a show's overlays far below SHOTFEED_MAX_CLIENTS."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY:
            hard = 1 << 20
        if soft != resource.RLIM_INFINITY and soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            log.info("open-file limit raised from %d to %d", soft, hard)
    except (OSError, ValueError) as exc:
        log.warning("could not raise the open-file limit: %s", exc)


def run_server(server: FeedServer, what: str) -> None:
    """Run uvicorn and log, on every way out, why it stopped: the signal (SIGTERM, SIGINT and
    SIGHUP all shut down cleanly), the exception, uvicorn's own exit (a port in use), or a
    normal end."""
    global _stop_logged
    _raise_open_file_limit()
    if hasattr(signal, "SIGHUP") and threading.current_thread() is threading.main_thread():
        # A closed terminal or a supervisor's reload: shut down as on SIGTERM, not die mute.
        signal.signal(signal.SIGHUP, server.handle_exit)
    reason = "normal end"
    try:
        server.run()
    except SystemExit as exc:
        reason = f"exit status {exc.code} (uvicorn could not start or stopped itself)"
        raise
    except KeyboardInterrupt:
        reason = "KeyboardInterrupt"
        raise
    except BaseException as exc:
        reason = f"{type(exc).__name__}: {exc}"
        log.critical("%s stopped by an exception", what, exc_info=exc)
        raise
    finally:
        if server.exit_signal is not None and reason == "normal end":
            reason = f"signal {_signal_name(server.exit_signal)}"
        _stop_logged = True
        log.info("shotfeed %s stopped: %s", what, reason)


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)


def _serve(args: argparse.Namespace) -> int:
    from server.web.app import create_app

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
    run_server(feed_server(create_app(settings), settings), "serve")
    return 0


def _web(args: argparse.Namespace) -> int:
    from server.web.app import create_app

    settings = Settings.from_environ(os.environ, host=args.host, port=args.port)
    if not settings.redis_url:
        raise ConfigError(
            "shotfeed web needs REDIS_URL: without it nothing would poll (use shotfeed serve)"
        )
    run_server(feed_server(create_app(settings, poll=False), settings), "web")
    return 0


def _poll(args: argparse.Namespace) -> int:
    global _stop_logged
    from server.live.poll_role import run_pollers

    settings = Settings.from_environ(os.environ, poll_interval=args.poll_interval)
    reason = "normal end"
    try:
        reason = anyio.run(run_pollers, settings)
    except BaseException as exc:
        if not isinstance(exc, ConfigError):
            reason = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        _stop_logged = True
        log.info("shotfeed poll stopped: %s", reason)
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


def _print_urls(settings: Settings, game: str) -> None:
    from server.web.pages import OVERLAYS

    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    base = f"http://{host}:{settings.port}"
    lines = [
        f"shotfeed is following game {game}",
        f"  index      {base}/",
        f"  operator   {base}/operator   (operator token below)",
    ]
    lines += [f"  {name:<10} {base}/overlays/{name}?game={game}" for name in OVERLAYS]
    lines += [
        f"  state      {base}/api/games/{game}/state (vMix: state.xml, .csv, .flat.json)",
        f"  stats      {base}/api/games/{game}/stats (vMix: stats.xml, .csv, .flat.json)",
        f"  ograf      {base}/ograf/   (every overlay as an OGraf v1 graphic)",
        f"  vmix push  {base}/api/games/{game}/vmix   (docs/overlays.md: vMix titles)",
        f"  websocket  ws://{host}:{settings.port}/ws/games/{game}",
        f"  tail       shotfeed tail --game {game} --url {base}",
    ]
    print("\n".join(lines), flush=True)


def _demo(args: argparse.Namespace) -> int:
    import tempfile
    import time
    from pathlib import Path

    from server.core.roster import GameConfig
    from server.live.store import Store
    from server.sim.chaos import ChaosUpstream
    from server.sim.loopback import LoopbackServer
    from server.sim.simgame import simulate_game
    from server.sim.simulator import DEMO_SECRET, DEMO_USERNAME, create_simulator_app
    from server.web.app import create_app

    if args.speed <= 0:
        raise ConfigError("--speed must be > 0")
    if not 0 <= args.faults <= 1:
        raise ConfigError("--faults is a probability between 0 and 1")
    if not 0 <= args.chaos <= 1:
        raise ConfigError("--chaos is a probability between 0 and 1")
    game_id = "DEMO"
    sim = simulate_game(args.seed, args.format)
    db_path = args.db or str(Path(tempfile.mkdtemp(prefix="shotfeed-demo-")) / "demo.db")
    store = Store(db_path)
    store.save_config(game_id, GameConfig.from_data(sim.config_data()))
    store.close()
    poll = max(0.1, min(1.0, 10.0 / args.speed))
    # The game's clock starts at the feed's first poll, not when this process made the app: the
    # feed server takes a second or two to start, which at --speed 200 would be minutes of play
    # (the tip-off and the first shots folded silently into the first poll).
    first_poll: list[float] = []

    def sim_clock() -> float:
        return time.monotonic() - first_poll[0] if first_poll else 0.0

    sim_app = create_simulator_app(
        sim,
        speed=args.speed,
        event_id=game_id,
        credentials={DEMO_USERNAME: DEMO_SECRET},
        faults=args.faults,
        seed=args.seed,
        fault_delay_s=min(6.0, 3 * poll + 1),
        clock=sim_clock,
    )

    async def sim_app_started_by_first_poll(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not first_poll:
            first_poll.append(time.monotonic())
        await sim_app(scope, receive, send)

    upstream: LoopbackServer | ChaosUpstream = LoopbackServer(sim_app_started_by_first_poll)
    if args.chaos > 0:  # every fault of server.sim.chaos; its game also starts at the first poll
        upstream = ChaosUpstream(
            sim,
            speed=args.speed,
            rate=args.chaos,
            seed=args.seed,
            event_id=game_id,
            timeout_delay_s=min(6.0, 3 * poll + 1),
        )
    # The demo is one process on its own SQLite file, whatever the environment says: no key,
    # no network, and no Redis even where REDIS_URL is set for the real deployment.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SHOTTRACKER_") and k not in ("REDIS_URL", "SHOTFEED_GAMES")
    }
    settings = Settings.from_environ(
        env,
        username=DEMO_USERNAME,
        secret=DEMO_SECRET,
        base_url=upstream.url,
        games=(game_id,),
        db_path=db_path,
        host=args.host,
        port=args.port,
        poll_interval=poll,
        idle_interval=poll,
        timeout=min(5.0, 3 * poll),
        backoff_cap=max(1.0, 5 * poll),
    )
    upstream.start()
    minutes = sim.duration_s / args.speed / 60
    print(
        f"shotfeed demo: simulated {args.format} game (seed {args.seed}) at {args.speed:g}x, "
        f"about {minutes:.1f} min; upstream {upstream.url} (HMAC-signed, no network)",
        flush=True,
    )
    _print_urls(settings, game_id)
    try:
        run_server(feed_server(create_app(settings), settings), "demo")
    finally:
        upstream.stop()
    return 0


def _record(args: argparse.Namespace) -> int:
    from server.live.upstream import Credentials
    from server.sim.recording import open_recording, record

    settings = Settings.from_environ(os.environ, base_url=args.upstream)
    creds = Credentials(settings.username, settings.secret) if settings.signing else None
    with open_recording(args.out, "ab") as out:
        try:
            n = anyio.run(
                lambda: record(
                    settings.base_url,
                    args.game,
                    out,
                    credentials=creds,
                    interval=args.interval,
                    timeout=settings.timeout,
                    limit=args.count,
                )
            )
        except KeyboardInterrupt:
            return 0
    print(f"recorded {n} responses to {args.out}", file=sys.stderr)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from server.sim.recording import Replay, read_recording

    try:
        frames = read_recording(args.file)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot replay {args.file}: {exc}") from exc
    replay = Replay(frames, speed=args.speed)
    settings = Settings.from_environ(os.environ, host=args.host, port=args.port)
    games = ", ".join(sorted(replay.games))
    span = frames[-1].elapsed - frames[0].elapsed
    print(
        f"replaying {len(frames)} responses ({span:.0f} s at {args.speed:g}x) for game(s) "
        f"{games} as an upstream at http://{settings.host}:{settings.port}\n"
        f"  follow it with: shotfeed serve --game {sorted(replay.games)[0]} "
        f"--upstream http://{settings.host}:{settings.port}",
        flush=True,
    )
    uvicorn.run(replay.app(), host=settings.host, port=settings.port, log_level="warning")
    return 0


def _positive(text: str) -> float:
    """A flag's value that must be a finite number > 0 (argparse names the flag on error).

    float() alone takes "nan" and "inf": a NaN speed or interval then breaks every sleep it
    reaches, an infinite one parks the loop for ever.
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, not {text!r}")
    return value


def _count(text: str) -> int:
    """A flag's value that must be a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text!r}")
    return value


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

    web = sub.add_parser("web", help="the web half alone: no pollers, games through Redis")
    web.add_argument("--host", help="listen address (default HOST or 127.0.0.1)")
    web.add_argument("--port", type=int, help="listen port (default PORT or 8000)")
    web.set_defaults(func=_web)

    poll = sub.add_parser("poll", help="the pollers alone: one leader per game, through Redis")
    poll.add_argument("--poll-interval", type=float, help="seconds between polls (default 1)")
    poll.set_defaults(func=_poll)

    demo = sub.add_parser("demo", help="play a simulated game through the real server (no key)")
    demo.add_argument("--port", type=int, default=8000, help="listen port (default 8000)")
    demo.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    demo.add_argument("--speed", type=_positive, default=10.0, help="game speed, 1 = real time")
    # 16: a game in which every suggestion rule fires within its first 40 timeline minutes
    # (about 4 minutes at the default speed), so the demo shows them all
    demo.add_argument("--seed", type=int, default=16, help="which simulated game (deterministic)")
    demo.add_argument("--format", choices=("quarters", "halves"), default="quarters")
    demo.add_argument(
        "--faults",
        type=float,
        default=0.0,
        help="probability of an upstream fault per poll (500, timeout, bad body)",
    )
    demo.add_argument(
        "--chaos",
        type=float,
        default=0.0,
        help="share of polls answered with any fault of server.sim.chaos (statuses, resets, "
        "refusals, broken or odd bodies)",
    )
    demo.add_argument("--db", help="SQLite store (default: a new temporary file)")
    demo.set_defaults(func=_demo)

    rec = sub.add_parser("record", help="capture an upstream's answers to a JSON Lines file")
    rec.add_argument("--game", required=True, help="event id")
    rec.add_argument("--out", required=True, help="file to append to")
    rec.add_argument("--upstream", help="upstream base URL (overrides SHOTTRACKER_BASE_URL)")
    rec.add_argument("--interval", type=_positive, default=1.0, help="seconds between requests")
    rec.add_argument("--count", type=_count, help="stop after this many requests")
    rec.set_defaults(func=_record)

    rep = sub.add_parser("replay", help="serve a recording back as an upstream")
    rep.add_argument("file", help="a file written by shotfeed record")
    rep.add_argument("--speed", type=_positive, default=1.0, help="1 = as recorded")
    rep.add_argument("--host", default="127.0.0.1")
    rep.add_argument("--port", type=int, default=8001)
    rep.set_defaults(func=_replay)

    tail = sub.add_parser("tail", help="print a running server's events as JSON lines")
    tail.add_argument("--game", required=True, help="event id")
    tail.add_argument("--url", default="http://127.0.0.1:8000", help="server URL")
    tail.add_argument("--types", help="comma list of event types")
    tail.add_argument("--since", type=int, help="replay from this seq")
    tail.set_defaults(func=_tail_cmd)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("serve", "demo", "web", "poll"):
        install_last_words()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request at INFO: one line a second per game drowns what matters.
    logging.getLogger("httpx").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    if hasattr(signal, "SIGPIPE"):
        # `shotfeed tail | head` should end quietly, so tail dies of a closed pipe. Nothing
        # else may: a server writing to a socket its peer just reset would be killed on the
        # spot by SIGPIPE, with no log line (tests/test_peer_resets.py); it gets EPIPE instead.
        quiet = signal.SIG_DFL if args.command == "tail" else signal.SIG_IGN
        signal.signal(signal.SIGPIPE, quiet)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        global _stop_logged
        _stop_logged = True  # the message is the reason: no "no stop reason" line after it
        print(f"shotfeed: {exc}", file=sys.stderr)
        return 2
