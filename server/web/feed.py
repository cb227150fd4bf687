"""The WebSocket endpoint ``/ws/games/{event_id}``: hello with state, replay, live, heartbeat.

A raw ASGI endpoint in Starlette's route table (``ROUTES``), so it gets the server's own
``receive`` unwrapped (the direct path finds its connection through it, see
``server.web.fastpath``) and no per-connection ``WebSocket`` wrapper or closure stays alive for
an idle overlay.

Every connection's client frames go to the same ``Hub.receive`` (the channel decides the
answer), and its heartbeats come from the hub's one sweeper. What differs is who carries them:

* direct (``server.web.fastpath.FeedProtocol``, as ``shotfeed serve`` runs): the hub writes
  every frame, and once the greeting is out the endpoint *detaches* the connection and
  returns: the protocol hands client frames to a :class:`_Link` as they arrive, so an idle
  overlay holds no task, no coroutine frames and no scope;
* queued (any other ASGI server): the connection's task runs :func:`_receive_loop` and a
  second task (:func:`_drain`) takes what the channel parked for it and sends it through ASGI.

Ordering: the subscription is taken before the state is read; what raced the hello waits in
the channel and is de-duplicated by seq (``server.core.channel``).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

import anyio
import orjson
from starlette.datastructures import QueryParams
from starlette.routing import WebSocketRoute
from starlette.types import Receive, Scope, Send

from server.core.channel import (
    CLOSE_NORMAL,
    CLOSE_POLICY,
    Channel,
    error_text,
    parse_types,
    text_frame,
)
from server.core.events import STATS, SUGGESTION
from server.core.limits import origin_allowed, parse_since
from server.live.following import Games
from server.web.api import allowed_origins, key_ok
from server.web.fastpath import DirectWriter
from server.web.hub import Conn, Hub, QueuedConn, Sub

log = logging.getLogger("shotfeed.feed")

# A client that cannot take a single message in this long is gone (its socket is full).
SEND_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 2.0


async def _refuse(send: Send, message: str) -> None:
    """An error message a person can read, then close 1008 with the same words as reason
    (cut to fit a close frame), so a client that only logs the close code sees why too."""
    message = message[:300]
    reason = message.encode()[:120].decode(errors="ignore")
    await send({"type": "websocket.send", "text": error_text(message)})
    await send({"type": "websocket.close", "code": CLOSE_POLICY, "reason": reason})


async def _deny(scope: Scope, send: Send, status: int, code: str, message: str) -> None:
    """Refuse the upgrade with an HTTP answer: the JSON error every route gives when the
    server offers ASGI's WebSocket denial response, else a bare 403."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": CLOSE_POLICY, "reason": ""})
        return
    body = orjson.dumps({"error": code, "message": message})
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": body})


def _query_problem(query: QueryParams) -> tuple[frozenset[str] | None, int | None, str | None]:
    """``types`` and ``since``, or what is wrong with them (the HTTP events route's words and
    range for ``since``: an integer from 0 to 2**62)."""
    try:
        return parse_types(query.get("types")), parse_since(query.get("since")), None
    except ValueError as exc:
        return None, None, f"bad query: {exc}"


async def serve(scope: Scope, receive: Receive, send: Send) -> None:
    if (await receive())["type"] != "websocket.connect":
        return
    state = scope["app"].state
    games: Games = state.games
    hub: Hub = state.hub
    settings = state.settings
    game_id: str = scope["path_params"]["event_id"]
    query = QueryParams(scope["query_string"])
    if not origin_allowed(
        _header(scope, b"origin"), allowed_origins(state), _header(scope, b"host")
    ):
        # Before the upgrade: another site's page (SHOTFEED_ALLOWED_ORIGINS) gets an HTTP 403;
        # the server's own pages and clients without Origin (vMix, curl) are never refused.
        await _deny(scope, send, 403, "forbidden_origin", "this origin may not open the feed")
        return
    await send({"type": "websocket.accept"})
    if not key_ok(query.get("key"), settings.overlay_key):
        await _refuse(send, "this feed needs ?key=")
        return
    if game_id not in games.games:
        await _refuse(send, f"game {game_id!r} is not being followed")
        return
    types, since, problem = _query_problem(query)
    if problem is not None:
        await _refuse(send, problem)
        return
    del query, state

    ch = hub.channel(game_id)
    writer = DirectWriter.attach(scope, receive, send)
    if writer is not None:
        sub = hub.subscribe(game_id, types, writer)
        try:
            _greet_direct(_state_for(games, game_id, types), hub, ch, sub, writer, since)
        except BaseException:
            hub.unsubscribe(ch, sub)
            raise
        # From here the protocol calls the link; this task (and the scope) can end.
        writer.detach(_Link(hub, ch, sub))
        return
    queued = QueuedConn()
    sub = hub.subscribe(game_id, types, queued)
    try:
        greeting = ch.greet(sub, _state_for(games, game_id, types), since)
        for text in greeting.texts:
            await send({"type": "websocket.send", "text": text})
        hub.start(ch, sub, greeting.last)
        del greeting
        async with anyio.create_task_group() as tg:
            tg.start_soon(_receive_then_cancel, receive, hub, ch, sub, tg.cancel_scope)
            await _drain(send, hub, ch, sub, queued)
            tg.cancel_scope.cancel()
    except* OSError as gone:  # the peer vanished mid-send (uvicorn's ClientDisconnected)
        log.debug("client of %s gone: %r", game_id, gone.exceptions)
    finally:
        hub.unsubscribe(ch, sub)


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == wanted:
            return bytes(value).decode("latin-1")
    return None


class FeedEndpoint:
    """``/ws/games/{event_id}`` as a raw ASGI app: an instance, not a function, so Starlette's
    route calls it as ASGI and wraps nothing more around it per connection; ``__call__`` is
    :func:`serve` itself, so an idle connection holds no extra coroutine frame for it."""

    __call__ = staticmethod(serve)


ROUTES = [WebSocketRoute("/ws/games/{event_id}", FeedEndpoint(), name="feed")]


class _Link:
    """A detached direct connection's way back to the hub: client frames, and its end.

    The protocol calls it synchronously (``server.web.fastpath.FeedProtocol``); one small
    object per connection instead of a task parked in ``receive()``.
    """

    __slots__ = ("ch", "hub", "sub")

    def __init__(self, hub: Hub, ch: Channel[Conn], sub: Sub) -> None:
        self.hub, self.ch, self.sub = hub, ch, sub

    def frame(self, text: str | None, data: bytes | None) -> None:
        self.hub.receive(self.ch, self.sub, text, data)

    def gone(self) -> None:
        self.hub.unsubscribe(self.ch, self.sub)


def _state_for(games: Games, game_id: str, types: Collection[str] | None) -> dict[str, Any]:
    """The hello's state; without the tracking splits for a client that did not ask for
    ``stats`` (a scorebug has no use for a document of every player's zones on every connect),
    nor the operator's suggestions for one that did not ask for ``suggestion``."""
    state = games.state(game_id)
    if types is not None and STATS not in types:
        del state["splits"]
    if types is not None and SUGGESTION not in types:
        del state["suggestions"]
    return state


def _greet_direct(
    state: dict[str, Any],
    hub: Hub,
    ch: Channel[Conn],
    sub: Sub,
    writer: DirectWriter,
    since: int | None,
) -> None:
    """Hello and replay written at once (no await, so nothing can race them); the greeting is
    not kept: an idle connection should not hold its hello alive."""
    greeting = ch.greet(sub, state, since)
    for text in greeting.texts:
        writer.write(text_frame(text.encode()))
    hub.start(ch, sub, greeting.last)


async def _receive_loop(receive: Receive, hub: Hub, ch: Channel[Conn], sub: Sub) -> None:
    """The one client-frame loop of both kinds of connection, until the client leaves."""
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        hub.receive(ch, sub, message.get("text"), message.get("bytes"))


async def _receive_then_cancel(
    receive: Receive, hub: Hub, ch: Channel[Conn], sub: Sub, scope: anyio.CancelScope
) -> None:
    """The client left: the queued connection's sender has nothing more to do."""
    await _receive_loop(receive, hub, ch, sub)
    scope.cancel()


async def _drain(send: Send, hub: Hub, ch: Channel[Conn], sub: Sub, conn: QueuedConn) -> None:
    """A queued connection's sender: what the channel parked, through ASGI, then the close."""
    while True:
        msg = hub.take(ch, sub)
        if msg is not None:
            with anyio.move_on_after(SEND_TIMEOUT_S) as timer:
                await send({"type": "websocket.send", "text": msg.text})
            if timer.cancelled_caught:
                log.info(
                    "client of %s took over %s s to take one message: dropped",
                    ch.game,
                    SEND_TIMEOUT_S,
                )
                return
            continue
        if sub.closing:
            with anyio.move_on_after(CLOSE_TIMEOUT_S):
                await send(
                    {
                        "type": "websocket.close",
                        "code": sub.close_code or CLOSE_NORMAL,
                        "reason": sub.close_reason[:120],
                    }
                )
            return
        await conn.wait()
