"""The direct fan-out path: the one module that knows uvicorn's internals.

Why: an event's frame is the same bytes for every client (``server.core.channel.text_frame``).
Going through ASGI costs a coroutine wake-up, the framing and several layers of calls per
client per event (70-80 µs in a plain Starlette loop); writing the one frame to each transport
costs little more than the send() itself. With thousands of overlays on one server that is the
difference between a few cores and a fraction of one.

What it depends on, all in uvicorn's ``uvicorn.protocols.websockets.websockets_sansio_impl``
(pyproject pins uvicorn to the tested range):

* :class:`FeedProtocol` subclasses ``WebSocketsSansIOProtocol`` (``server.web.serving`` passes
  the class as uvicorn's ``ws``). It overrides ``run_asgi`` (a copy of uvicorn's that leaves a
  detached connection open) and ``send_receive_event_to_app`` (a detached connection's client
  frames go to its :class:`Link`, not the ASGI queue), and replaces ``queue`` (uvicorn calls
  ``put_nowait``, ``get``, ``empty``) and ``writable`` (``set``, ``clear``, ``wait``) with
  :class:`_Inbox`/:class:`_Sink` and :class:`_Flag`;
* the endpoint finds its protocol as the ASGI ``receive`` (or ``send``) callable's
  ``__self__``: the router hands the endpoint the server's own ``receive`` unwrapped
  (Starlette's ExceptionMiddleware wraps only ``send``). Any other protocol (another server, or
  uvicorn's own class) gets no writer and the queued (ASGI) path;
* ``proto.conn.extensions`` (its websockets ``ServerProtocol``): a negotiated extension
  (permessage-deflate) would make pre-built frames wrong, so then there is no writer;
* ``proto.transport``: ``write`` for the frames, ``get_write_buffer_size`` and ``is_closing``
  to tell a backed-up or closing socket, ``abort`` for a peer that will not take a close frame,
  and ``get_extra_info("socket").fileno()`` (not with TLS): while its buffer is empty a frame
  goes to the fd with ``os.write`` (:meth:`DirectWriter.try_write`, and for a whole channel at
  once :class:`Batch`), always right after ``is_closing()`` in the same synchronous step, so the
  fd cannot have been closed or reused, and only what the kernel did not take is queued in the
  transport;
* ``proto.close_sent`` and ``proto.disconnected``: no data frame may follow a close frame, nor
  be written to a connection the peer has left;
* ``proto.send``: closing goes through the server's own ASGI send, which owns the closing
  handshake (and its timer); its ``websocket.disconnect`` (and the one ``connection_lost``
  queues) is how a detached connection learns it ended;
* ``proto.request`` and ``proto.response``, set to None once the connection is open, and the
  request's ``headers`` and the scope's ``headers`` emptied (:func:`_release_handshake`).

Version fence: :data:`TESTED_UVICORN` is the range this was written and tested against (the
same as the ``uvicorn`` line in ``pyproject.toml``). :func:`check_uvicorn_version` runs at
import and again on every attach (cheap after the first time); outside the range it logs one
warning and still tries: the attribute checks above make an incompatible layout fall back to
the queued path, which ``shotfeed_ws_connections{path="queued"}`` shows. A uvicorn without
this module at all fails at import, which the pin rules out.

Frames never interleave badly: each ``write`` is one whole frame, so what uvicorn writes itself
(a pong to a client's ping, the close frame) falls between frames; the app of a direct
connection never sends a data frame through ASGI; and uvicorn's pings are off
(``ws_ping_interval=None``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import operator
import os
from importlib import metadata
from typing import Any, Protocol

from starlette.types import Receive, Scope, Send
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

log = logging.getLogger("shotfeed.fastpath")

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


def _protocol(receive: Receive, send: Send) -> FeedProtocol | None:
    """The connection's :class:`FeedProtocol`, or None (another server or protocol)."""
    for callable_ in (receive, send):
        proto = getattr(callable_, "__self__", None)
        if isinstance(proto, FeedProtocol):
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


class Link(Protocol):
    """Where a detached connection's client frames and its end go (``server.web.feed``)."""

    def frame(self, text: str | None, data: bytes | None) -> None: ...

    def gone(self) -> None: ...


class FeedProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol, able to hand an open connection over to the hub.

    Why: after the greeting a feed connection only ever gets client frames (ping, subscribe)
    and its end; everything it is sent, the hub writes. Keeping an ASGI task parked in
    ``receive()`` for that holds the task, a dozen coroutine frames of the middleware stack and
    the scope for as long as the overlay stays connected: most of an idle connection's memory.
    :meth:`detach` lets the endpoint return instead; from then on the protocol calls its
    :class:`Link` synchronously from ``data_received``, and ``run_asgi`` leaves the transport
    open (uvicorn's closes it when the app returns; that is the one behaviour changed).

    Also lighter from the start: the stdlib ``asyncio.Queue`` and ``asyncio.Event`` uvicorn
    creates per connection (five deques, ~4 KiB) are replaced by :class:`_Inbox` and
    :class:`_Flag`, which have just the methods uvicorn calls.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue: Any = _Inbox([])
        self.writable: Any = _Flag(True)
        self.link: Link | None = None
        self.detached = False

    def detach(self, link: Link) -> None:
        """From now on client frames and the end go to ``link``; the ASGI app may return.

        What the client sent before this (queued for ``receive()``) is handed over first, in
        order, and reading resumes if uvicorn had paused it for the app to catch up.
        """
        self.detached = True
        self.link = link
        inbox = self.queue
        self.queue = sink = _Sink(self)
        while not inbox.empty():
            sink.put_nowait(inbox.get_nowait())
        self.scope: Any = {}  # nothing reads it after the handshake; frees the request's scope
        if self.read_paused and not self.disconnected:
            self.read_paused = False
            self.transport.resume_reading()

    def send_receive_event_to_app(self) -> None:
        if not self.detached:
            super().send_receive_event_to_app()
            return
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent or self.link is None:
            return
        if self.curr_msg_data_type != "text":
            self._to_link(None, bytes(data))
            return
        try:
            text = bytes(data).decode()
        except UnicodeDecodeError:
            # RFC 6455 8.1: close with 1007. One line, not uvicorn's traceback: a client's
            # bad bytes are not a server fault.
            log.info("client %s sent a text frame that is not UTF-8: closing 1007", self.client)
            self.conn.send_close(1007, "invalid UTF-8")
            self.handle_parser_exception()
            return
        self._to_link(text, None)

    def _to_link(self, text: str | None, data: bytes | None) -> None:
        link = self.link
        if link is None:
            return
        try:
            link.frame(text, data)
        except Exception:  # a bug in handling one frame must not kill the event loop's callback
            log.exception("handling a client frame failed; closing the connection with 1011")
            self.conn.send_close(1011, "internal error")
            self.handle_parser_exception()

    def ended(self) -> None:
        """The connection is over (peer close, our close, loss): tell the link, once."""
        link, self.link = self.link, None
        if link is not None:
            link.gone()

    async def run_asgi(self) -> None:
        """uvicorn's ``run_asgi``, except that a detached connection stays open.

        Same order and messages as uvicorn 0.55's; only the last step (close the transport when
        the app returns) is skipped for a connection the app handed to :meth:`detach`.
        """
        try:
            result = await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException:
            self.logger.exception("Exception in ASGI application\n")
            self.send_500_response()
        else:
            if not self.handshake_complete:
                self.logger.error("ASGI callable returned without completing handshake.")
                self.send_500_response()
            elif result is not None:
                self.logger.error("ASGI callable should return None, but returned '%s'.", result)
        if self.close_timer is None and not self.detached:
            self.transport.close()


class _Sink:
    """A detached connection's ``queue``: uvicorn's ``put_nowait`` calls become link calls."""

    __slots__ = ("_proto",)

    def __init__(self, proto: FeedProtocol) -> None:
        self._proto = proto

    def empty(self) -> bool:
        return True

    def put_nowait(self, item: Any) -> None:
        kind = item.get("type")
        if kind == "websocket.receive":  # only from the inbox handed over at detach
            self._proto._to_link(item.get("text"), item.get("bytes"))
        elif kind == "websocket.disconnect":
            self._proto.ended()

    async def get(self) -> Any:
        raise RuntimeError("a detached connection has no ASGI receive")


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

    def get_nowait(self) -> Any:
        return self._items.pop(0)

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


def _plain_fd(transport: Any) -> int:
    """The socket's fd when frames may be written to it directly, else -1 (TLS, no socket).

    Safe only because every direct write first checks ``is_closing()`` in the same
    synchronous step: a transport closes its fd only after it starts closing, so the number
    can never belong to another connection by then.
    """
    if transport.get_extra_info("sslcontext") is not None:
        return -1
    sock = transport.get_extra_info("socket")
    try:
        return int(sock.fileno()) if sock is not None else -1
    except (AttributeError, OSError, ValueError):
        return -1


class DirectWriter:
    """Writes pre-built frames to one uvicorn websockets-sansio connection's transport."""

    # The transport's bound methods are kept: the per-client cost of an event is these calls.
    __slots__ = ("_buffered", "_closing", "_fd", "_proto", "_send", "_transport")

    def __init__(self, proto: Any) -> None:
        self._proto = proto
        transport = self._transport = proto.transport
        self._buffered = transport.get_write_buffer_size
        self._closing = transport.is_closing
        self._send = transport.write
        self._fd = _plain_fd(transport)

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
        return cls(proto)

    def detach(self, link: Link) -> None:
        """Hand the connection to ``link``: the endpoint's task may now end (FeedProtocol)."""
        self._proto.detach(link)

    def writable(self) -> bool:
        """Open, not closing, and not backed up."""
        proto = self._proto
        return (
            not proto.close_sent
            and not proto.disconnected
            and self._buffered() < BUFFER_LIMIT
            and not self._closing()
        )

    def write(self, frame: bytes) -> None:
        self._send(frame)

    def try_write(self, frame: bytes) -> bool:
        """:meth:`writable` then :meth:`write` in one call (the fan-out's hot loop).

        Every way a connection ends or sends its close frame (the peer's close, a lost
        connection, a parser failure, uvicorn's shutdown) also closes the transport, except
        the server's own close, and that one is only sent after the channel let the
        subscriber go: so ``is_closing()`` stands in for ``close_sent``/``disconnected`` here.
        """
        buffered = self._buffered()
        if buffered >= BUFFER_LIMIT or self._closing():
            return False
        fd = self._fd
        if buffered or fd < 0:
            self._send(frame)
            return True
        # Nothing queued in the transport: the frame goes to the socket directly, and only
        # what the kernel did not take is queued behind it (so order holds).
        try:
            sent = os.write(fd, frame)
        except OSError:  # would block, or reset by the peer: the transport takes it from here
            sent = 0
        if sent < len(frame):
            self._send(frame[sent:])
        return True

    def wake(self) -> None:
        """Nothing waits on a direct connection: the hub writes for it."""

    async def close(self, code: int, reason: str) -> None:
        """Close through the server's own ASGI send: it owns the close handshake."""
        await self._proto.send({"type": "websocket.close", "code": code, "reason": reason})

    def abort(self) -> None:
        """Drop a connection that cannot take even a close frame (its peer stopped reading)."""
        self._transport.abort()


class Batch:
    """One frame to many direct connections with no Python frame per connection.

    Why: at thousands of clients the per-client cost of an event is what is left above the
    kernel's ``write()``; a method call per client is most of it. Here the checks are C calls
    driven by ``map`` and the writes are ``os.write`` driven by ``map``. Only the common case
    takes this path: every connection open and its transport's buffer empty, all on plain
    sockets. Otherwise nothing is written here and the caller writes one by one
    (:meth:`DirectWriter.try_write`), which parks a backed-up client's frame.

    The same guarantees as ``try_write``: the checks and the writes run in one synchronous step
    on the loop thread, so no fd can have been closed or reused in between and nothing queued
    in a transport can be overtaken; what the kernel did not take of a frame is queued in that
    transport behind it.
    """

    __slots__ = ("_buffered", "_closing", "_fds", "_sends", "version")

    def __init__(self, writers: list[DirectWriter], version: int) -> None:
        self.version = version
        self._buffered = [w._buffered for w in writers]
        self._closing = [w._closing for w in writers]
        self._fds = [w._fd for w in writers]
        self._sends = [w._send for w in writers]
        if any(fd < 0 for fd in self._fds):
            self._fds = []  # a TLS or socketless transport: never batch this set

    def write_all(self, frame: bytes) -> bool:
        """Write ``frame`` to every connection if all are ready; False (nothing written) if not."""
        fds = self._fds
        if not fds or any(map(operator.call, self._buffered)):
            return False
        if any(map(operator.call, self._closing)):
            return False
        size = len(frame)
        sent: list[int] = []
        writes = map(os.write, fds, itertools.repeat(frame))
        while True:
            try:
                sent.extend(writes)
                break
            except OSError:  # would block, or reset: that one gets it through its transport
                sent.append(0)
        if sent.count(size) != len(sent):
            for send, n in zip(self._sends, sent, strict=True):
                if n != size:
                    send(frame[n:])
        return True
