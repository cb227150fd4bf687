"""The direct fan-out path: the one module that knows uvicorn's internals.

Why: an event's frame is the same bytes for every client (``server.core.channel.text_frame``).
Going through ASGI costs a coroutine wake-up, the framing and several layers of calls per
client per event (70-80 µs in a plain Starlette loop); writing the one frame to each transport
costs little more than the send() itself. With thousands of overlays on one server that is the
difference between a few cores and a fraction of one.

What it reads, all on uvicorn's ``WebSocketsSansIOProtocol``
(``uvicorn.protocols.websockets.websockets_sansio_impl``, the ``ws="websockets-sansio"``
implementation ``server.web.serving`` configures; pyproject pins uvicorn to the tested range):

* the ASGI ``receive`` (or ``send``) callable's ``__self__``, matched by the class *name*
  ``WebSocketsSansIOProtocol``: the router hands the endpoint the server's own ``receive``
  unwrapped (Starlette's ExceptionMiddleware wraps only ``send``), and its bound ``__self__`` is
  the connection's protocol. A name match, not an import, so another server or uvicorn layout
  simply gets no writer and the queued (ASGI) path;
* ``proto.conn.extensions`` (its websockets ``ServerProtocol``): a negotiated extension
  (permessage-deflate) would make pre-built frames wrong, so then there is no writer;
* ``proto.transport``: ``write`` for the frames, ``get_write_buffer_size`` and ``is_closing``
  to tell a backed-up or closing socket, ``abort`` for a peer that will not take a close frame;
* ``proto.close_sent`` and ``proto.disconnected``: no data frame may follow a close frame, nor
  be written to a connection the peer has left;
* ``proto.send``: closing goes through the server's own ASGI send, which owns the closing
  handshake (and its timer);
* ``proto.request`` and ``proto.response``, set to None once the connection is open, and the
  request's ``headers`` and the scope's ``headers`` emptied (:func:`_release_handshake`);
* ``proto.queue`` (an ``asyncio.Queue``: uvicorn calls ``put_nowait``, ``get`` and ``empty``)
  and ``proto.writable`` (an ``asyncio.Event``: ``set``, ``clear``, ``wait``), replaced by
  :class:`_Inbox` and :class:`_Flag` with just those methods (:func:`_lighten`).

Version fence: :data:`TESTED_UVICORN` is the range this was written and tested against (the
same as the ``uvicorn`` line in ``pyproject.toml``). :func:`check_uvicorn_version` runs at
import and again on every attach (cheap after the first time); outside the range it logs one
warning and still tries: the attribute checks above make an incompatible layout fall back to
the queued path, which ``shotfeed_ws_connections{path="queued"}`` shows.

Frames never interleave badly: each ``write`` is one whole frame, so what uvicorn writes itself
(a pong to a client's ping, the close frame) falls between frames; the app of a direct
connection never sends a data frame through ASGI; and uvicorn's pings are off
(``ws_ping_interval=None``).
"""

from __future__ import annotations

import asyncio
import logging
from importlib import metadata
from typing import Any

from starlette.types import Receive, Scope, Send

log = logging.getLogger("shotfeed.fastpath")

PROTOCOL_CLASS = "WebSocketsSansIOProtocol"
# [low, high) as (major, minor): keep in step with pyproject.toml's uvicorn pin.
TESTED_UVICORN = ((0, 35), (0, 56))
_version_checked: bool | None = None
# Past this much unsent data the client is treated as slow: its frames are parked (bounded by
# the channel) and written as the socket drains, instead of piling up in the transport.
BUFFER_LIMIT = 64 * 1024


def _minor(version: str) -> tuple[int, int] | None:
    parts = version.split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return None


def check_uvicorn_version() -> bool:
    """Whether the installed uvicorn is inside :data:`TESTED_UVICORN`; warns once if not.

    Why a warning and not a refusal: a uvicorn outside the range may well still work, and if
    its layout changed the attribute checks in :meth:`DirectWriter.attach` already fall back to
    the queued path; the warning tells an operator why the metrics may show ``queued``.
    """
    global _version_checked
    if _version_checked is None:
        try:
            installed = metadata.version("uvicorn")
        except metadata.PackageNotFoundError:
            installed = "not installed"
        minor = _minor(installed)
        low, high = TESTED_UVICORN
        _version_checked = minor is not None and low <= minor < high
        if not _version_checked:
            log.warning(
                "uvicorn %s is outside the range the direct fan-out path was tested with "
                "(>=%d.%d,<%d.%d): it may fall back to the slower queued path",
                installed,
                *low,
                *high,
            )
    return _version_checked


check_uvicorn_version()


def _protocol(receive: Receive, send: Send) -> Any:
    """The connection's uvicorn websockets-sansio protocol, or None."""
    for callable_ in (receive, send):
        proto = getattr(callable_, "__self__", None)
        if type(proto).__name__ == PROTOCOL_CLASS:
            return proto
    return None


def _release_handshake(proto: Any, scope: Scope) -> None:
    """Let go of the upgrade request and response once the connection is open.

    uvicorn keeps both (and the scope keeps the request headers) for the life of the connection
    but never reads them after the handshake; for thousands of idle overlays that is a few KiB
    each. Only attributes that exist are touched, so another uvicorn version merely keeps them.
    """
    # The websockets parser's generator frame keeps its own reference to the request for the
    # life of the connection, so dropping ours is not enough: empty its headers (~1.5 KiB).
    headers: Any = getattr(getattr(proto, "request", None), "headers", None)
    if callable(getattr(headers, "clear", None)):
        headers.clear()
    for name in ("request", "response"):
        if getattr(proto, name, None) is not None:
            setattr(proto, name, None)
    if isinstance(scope.get("headers"), list):
        scope["headers"] = []


def _lighten(proto: Any) -> None:
    """Swap the protocol's asyncio.Queue and asyncio.Event for slotted equivalents.

    Each asyncio.Queue holds three deques and an Event with a fourth, and uvicorn's ``writable``
    Event a fifth: about 4 KiB per connection, a fifth of an idle overlay's memory, for a queue
    that holds one client frame now and then and an event nobody waits on until a close. Only
    done when both are the stdlib types uvicorn 0.55 creates, and before anyone waits on them
    (the endpoint is not inside ``receive`` while it attaches); what is queued carries over.
    """
    queue, writable = getattr(proto, "queue", None), getattr(proto, "writable", None)
    if type(queue) is not asyncio.Queue or type(writable) is not asyncio.Event:
        return
    pending = []
    while not queue.empty():
        pending.append(queue.get_nowait())
    proto.queue = _Inbox(pending)
    proto.writable = _Flag(writable.is_set())


class _Inbox:
    """The part of asyncio.Queue uvicorn uses, for one consumer (the endpoint's receive)."""

    __slots__ = ("_items", "_waiter")

    def __init__(self, items: list[Any]) -> None:
        self._items = items
        self._waiter: asyncio.Future[None] | None = None

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        return self._items.pop(0)


class _Flag:
    """The part of asyncio.Event uvicorn uses; the waiter list exists only while one waits."""

    __slots__ = ("_set", "_waiters")

    def __init__(self, value: bool) -> None:
        self._set = value
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True


class DirectWriter:
    """Writes pre-built frames to one uvicorn websockets-sansio connection's transport."""

    __slots__ = ("_proto", "_transport")

    def __init__(self, proto: Any) -> None:
        self._proto = proto
        self._transport = proto.transport

    @classmethod
    def attach(cls, scope: Scope, receive: Receive, send: Send) -> DirectWriter | None:
        """A writer for this (accepted) connection, or None where the fast path does not apply."""
        check_uvicorn_version()
        proto = _protocol(receive, send)
        if proto is None:
            return None
        conn = getattr(proto, "conn", None)
        if conn is None or getattr(conn, "extensions", None) or not hasattr(proto, "transport"):
            return None
        _release_handshake(proto, scope)
        _lighten(proto)
        return cls(proto)

    def writable(self) -> bool:
        """Open, not closing, and not backed up."""
        proto = self._proto
        return (
            not proto.close_sent
            and not proto.disconnected
            and self._transport.get_write_buffer_size() < BUFFER_LIMIT
            and not self._transport.is_closing()
        )

    def write(self, frame: bytes) -> None:
        self._transport.write(frame)

    def wake(self) -> None:
        """Nothing waits on a direct connection: the hub writes for it."""

    async def close(self, code: int, reason: str) -> None:
        """Close through the server's own ASGI send: it owns the close handshake."""
        await self._proto.send({"type": "websocket.close", "code": code, "reason": reason})

    def abort(self) -> None:
        """Drop a connection that cannot take even a close frame (its peer stopped reading)."""
        self._transport.abort()
