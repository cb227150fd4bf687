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
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from server.events import EVENT_TYPES, PROTOCOL_VERSION
from server.games import Games
from server.hub import Hub, Item, Subscription, with_replay
from server.wire import DirectWriter

log = logging.getLogger("shotfeed.feed")

MAX_FRAME = 64 * 1024
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
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
    if settings.overlay_key and not hmac.compare_digest(query.get("key", ""), settings.overlay_key):
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

    sub = hub.subscribe(game_id, types)
    try:
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
        await websocket.send_text(orjson.dumps(hello).decode())
        for item in replay:
            if sub.wants(item.type):
                await websocket.send_text(with_replay(item.text))
        if replay:
            last = max(last, replay[-1].seq or 0)
        sub.last = last
        sub.last_sent = time.monotonic()
        # From here on, publish may write this client's frames itself while it keeps up.
        sub.direct = DirectWriter.attach(websocket.scope)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_receiver, websocket, sub, tg.cancel_scope)
                await _sender(websocket, sub, hub, settings.heartbeat_s)
                tg.cancel_scope.cancel()
        except* (WebSocketDisconnect, OSError) as gone:
            # anyio wraps the sender's error in an ExceptionGroup: the peer vanished mid-send
            log.debug("client of %s gone: %r", game_id, gone.exceptions)
    except WebSocketDisconnect:
        pass
    except OSError as exc:  # the peer vanished mid-send
        log.debug("client of %s gone: %s", game_id, exc)
    finally:
        hub.unsubscribe(sub)


async def _sender(websocket: WebSocket, sub: Subscription, hub: Hub, heartbeat_s: float) -> None:
    """Drain what publish queued (a client that fell behind), and send heartbeats on silence."""
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
                await _close(websocket, sub, sub.close_code or 1000, sub.close_reason)
                return
        if item is None:
            continue
        sub.backlog -= 1
        if item.seq is not None:
            if item.seq <= sub.last or not sub.wants(item.type):
                continue
            sub.last = item.seq
        if not await _send(websocket, sub, item.text):
            return


async def _send(websocket: WebSocket, sub: Subscription, text: str) -> bool:
    """One ASGI send, with the direct path held off meanwhile; False if the client is gone."""
    sub.busy = True
    try:
        with anyio.move_on_after(SEND_TIMEOUT_S) as scope:
            await websocket.send_text(text)
    finally:
        sub.busy = False
    if scope.cancelled_caught:
        log.info(
            "client of %s took over %s s to take one message: dropped", sub.game, SEND_TIMEOUT_S
        )
        _abort(websocket, sub)
        return False
    sub.last_sent = time.monotonic()
    return True


def _abort(websocket: WebSocket, sub: Subscription) -> None:
    """A peer that stopped reading cannot even take a close frame: drop its connection."""
    sub.direct = None
    writer = DirectWriter.attach(websocket.scope)
    if writer is not None:
        writer.abort()


async def _close(websocket: WebSocket, sub: Subscription, code: int, reason: str) -> None:
    sub.direct = None
    if websocket.application_state != WebSocketState.CONNECTED:
        return
    with anyio.move_on_after(2) as scope:
        await websocket.close(code, reason[:120])
    if scope.cancelled_caught:
        _abort(websocket, sub)


async def _receiver(websocket: WebSocket, sub: Subscription, scope: anyio.CancelScope) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            scope.cancel()
            return
        text = message.get("text")
        if text is None:
            data = message.get("bytes") or b""
            if len(data) > MAX_FRAME:
                _leave(sub, CLOSE_TOO_BIG, "frame over 64 KiB")
                return
            sub.control(_error("binary frames are not supported; send JSON text"))
            continue
        if len(text) > MAX_FRAME:
            _leave(sub, CLOSE_TOO_BIG, "frame over 64 KiB")
            return
        _handle(text, sub)


def _leave(sub: Subscription, code: int, reason: str) -> None:
    sub.direct = None
    sub.close_code = code
    sub.close_reason = reason
    sub.send.close()


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
