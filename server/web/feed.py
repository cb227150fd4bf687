"""The WebSocket endpoint ``/ws/games/{event_id}``: hello with state, replay, live, heartbeat.

One connection is two tasks: a *sender* that alone writes to the socket (events from the hub
queue, control replies, heartbeats after silence, the final close code) and a *receiver* that
reads client frames (ping, subscribe; anything else gets an error and the connection stays).

Ordering: the subscription is taken before the state is read, and the sender skips any queued
event at or below the last seq it sent, so a client never sees seq go backwards, repeat, or
skip within its filter, however events race the hello.
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any

import anyio
import orjson
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from server.core.events import EVENT_TYPES, PROTOCOL_VERSION
from server.live.following import Games
from server.web.fastpath import SEND_KEY, DirectWriter, text_frame
from server.web.hub import (
    CLOSE_NORMAL,
    CLOSE_TOO_BIG,
    DirectSubscription,
    Hub,
    Item,
    QueuedSubscription,
    Subscription,
    with_replay,
)

log = logging.getLogger("shotfeed.feed")

MAX_FRAME = 64 * 1024
CLOSE_POLICY = 1008
# A client that cannot take a single message in this long is gone (its socket is full).
SEND_TIMEOUT_S = 10.0


def _error(message: str) -> str:
    return orjson.dumps({"type": "error", "message": message}).decode()


def parse_types(raw: Any) -> frozenset[str] | None:
    """A type filter from a comma list or a JSON list; unknown names are an error."""
    if raw is None or raw == "":
        return None
    names = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise ValueError("types must be a list of event type names")
    cleaned = frozenset(n.strip() for n in names if n.strip())
    unknown = sorted(cleaned - set(EVENT_TYPES))
    if unknown:
        raise ValueError(f"unknown event type(s): {', '.join(unknown)}")
    return cleaned or None


async def websocket_feed(websocket: WebSocket) -> None:
    games: Games = websocket.app.state.games
    hub: Hub = websocket.app.state.hub
    settings = websocket.app.state.settings
    game_id = websocket.path_params["event_id"]
    query = websocket.query_params
    await websocket.accept()
    if settings.overlay_key and not hmac.compare_digest(
        query.get("key", "").encode(), settings.overlay_key.encode()
    ):
        await websocket.send_text(_error("this feed needs ?key="))
        await websocket.close(CLOSE_POLICY)
        return
    if game_id not in games.games:
        await websocket.send_text(_error(f"game {game_id!r} is not being followed"))
        await websocket.close(CLOSE_POLICY)
        return
    try:
        types = parse_types(query.get("types"))
        since = int(query["since"]) if query.get("since") not in (None, "") else None
        if since is not None and since < 0:
            raise ValueError("since must be >= 0")
    except ValueError as exc:
        await websocket.send_text(_error(f"bad query: {exc}"))
        await websocket.close(CLOSE_POLICY)
        return

    writer = DirectWriter.attach(websocket.scope)
    sub = hub.subscribe(game_id, types, writer=writer)
    try:
        if isinstance(sub, DirectSubscription):
            await _serve_direct(websocket, sub, games, hub, since)
        elif isinstance(sub, QueuedSubscription):
            last, hello, replay = _greeting(games, hub, game_id, since)
            await websocket.send_text(hello)
            for item in replay:
                if sub.wants(item.type):
                    await websocket.send_text(with_replay(item.text))
            del hello, replay
            sub.last = last
            await _serve_queued(websocket, sub, hub, settings.heartbeat_s)
    except WebSocketDisconnect:
        pass
    except OSError as exc:  # the peer vanished mid-send
        log.debug("client of %s gone: %s", game_id, exc)
    finally:
        hub.unsubscribe(sub)


def _greeting(
    games: Games, hub: Hub, game_id: str, since: int | None
) -> tuple[int, str, list[Item]]:
    """The hello (state read after subscribing) and the replay, and the last seq they cover."""
    state = games.state(game_id)
    last = int(state["seq"])
    replay: list[Item] = []
    gap = False
    if since is not None:
        replay, gap = hub.replay(game_id, since)
    hello = {
        "type": "hello",
        "protocol": PROTOCOL_VERSION,
        "game": game_id,
        "seq": last,
        "state": state,
        "gap": gap,
    }
    if replay:
        last = max(last, replay[-1].seq or 0)
    return last, orjson.dumps(hello).decode(), replay


async def _serve_direct(
    websocket: WebSocket, sub: DirectSubscription, games: Games, hub: Hub, since: int | None
) -> None:
    """The connection's only task: read client frames. Its events are written by the hub."""
    last, hello, replay = _greeting(games, hub, sub.game, since)
    sub.writer.write(text_frame(hello.encode()))
    for item in replay:
        if sub.wants(item.type):
            sub.writer.write(text_frame(with_replay(item.text).encode()))
    del hello, replay  # an idle connection should not keep its greeting alive
    sub.start(last)
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        verdict = _frame_verdict(message)
        if verdict is None:
            _handle(message["text"], sub)
        elif isinstance(verdict, int):
            sub.close(verdict, "frame over 64 KiB")
        else:
            sub.control(_error(verdict))


def _frame_verdict(message: Any) -> str | int | None:
    """None for a text frame to handle, an error text to answer, or a close code."""
    text = message.get("text")
    if text is None:
        if len(message.get("bytes") or b"") > MAX_FRAME:
            return CLOSE_TOO_BIG
        return "binary frames are not supported; send JSON text"
    if len(text) > MAX_FRAME:
        return CLOSE_TOO_BIG
    return None


async def _serve_queued(
    websocket: WebSocket, sub: QueuedSubscription, hub: Hub, heartbeat_s: float
) -> None:
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_receiver, websocket, sub, tg.cancel_scope)
            await _sender(websocket, sub, hub, heartbeat_s)
            tg.cancel_scope.cancel()
    except* (WebSocketDisconnect, OSError) as gone:
        # anyio wraps the sender's error in an ExceptionGroup: the peer vanished mid-send
        log.debug("client of %s gone: %r", sub.game, gone.exceptions)


async def _sender(
    websocket: WebSocket, sub: QueuedSubscription, hub: Hub, heartbeat_s: float
) -> None:
    """Drain the queue through ASGI, and send heartbeats on silence."""
    while True:
        wait = heartbeat_s - (time.monotonic() - sub.last_sent)
        if wait <= 0:
            seq = hub.channel(sub.game).last_seq
            if not await _send(websocket, sub, f'{{"type":"heartbeat","seq":{seq}}}'):
                return
            continue
        item: Item | None = None
        with anyio.move_on_after(wait):
            try:
                item = await sub.receive.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                await _close(websocket, sub.close_code or CLOSE_NORMAL, sub.close_reason)
                return
        if item is None:
            continue
        if item.seq is not None:
            if item.seq <= sub.last or not sub.wants(item.type):
                continue
            sub.last = item.seq
        if not await _send(websocket, sub, item.text):
            return


async def _send(websocket: WebSocket, sub: Subscription, text: str) -> bool:
    """One ASGI send; False if the client could not take it in time (it is gone)."""
    with anyio.move_on_after(SEND_TIMEOUT_S) as scope:
        await websocket.send_text(text)
    if scope.cancelled_caught:
        log.info(
            "client of %s took over %s s to take one message: dropped", sub.game, SEND_TIMEOUT_S
        )
        return False
    sub.last_sent = time.monotonic()
    return True


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    if websocket.application_state != WebSocketState.CONNECTED:
        return
    with anyio.move_on_after(2):
        await websocket.close(code, reason[:120])


async def _receiver(
    websocket: WebSocket, sub: QueuedSubscription, scope: anyio.CancelScope
) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            scope.cancel()
            return
        verdict = _frame_verdict(message)
        if verdict is None:
            _handle(message["text"], sub)
        elif isinstance(verdict, int):
            sub.close(verdict, "frame over 64 KiB")
            return
        else:
            sub.control(_error(verdict))


def _handle(text: str, sub: Subscription) -> None:
    try:
        msg = orjson.loads(text)
    except orjson.JSONDecodeError:
        sub.control(_error('invalid JSON; send {"op": "ping"} or {"op": "subscribe"}'))
        return
    op = msg.get("op") if isinstance(msg, dict) else None
    if op == "ping":
        sub.control('{"type":"pong"}')
    elif op == "subscribe":
        try:
            sub.types = parse_types(msg.get("types"))
        except ValueError as exc:
            sub.control(_error(str(exc)))
            return
        types = sorted(sub.types) if sub.types is not None else None
        sub.control(orjson.dumps({"type": "subscribed", "types": types}).decode())
    else:
        sub.control(_error(f"unknown op {str(op)[:40]!r}; known: ping, subscribe"))


class FeedEndpoint:
    """ASGI middleware serving ``/ws/games/{event_id}`` ahead of Starlette's router.

    Thousands of overlays stay connected for hours; routed the usual way, each idle connection
    would keep five more coroutine frames and exception-handler closures alive for nothing.
    It also keeps the server's own ``send`` in the scope for the direct fan-out path.
    """

    PREFIX = "/ws/games/"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"].startswith(self.PREFIX):
            game = scope["path"][len(self.PREFIX) :]
            if game and "/" not in game:
                scope[SEND_KEY] = send
                scope["path_params"] = {"event_id": game}
                await websocket_feed(WebSocket(scope, receive, send))
                return
        await self.app(scope, receive, send)
