"""The connection guard: request-head timeout, head size limits, connection caps and the
per-address connect rate, in front of everything the app serves.

Why here and not in the app: what it refuses never reaches ASGI. A client that opens a socket
and sends half an upgrade request (or nothing) holds a file descriptor; uvicorn has no timer
for a first request's head, no limit on its size (httptools takes a 200 KB header or 20,000
fields) and no cap on connections, so a slow trickle of such clients runs the process out of
descriptors. The decisions are pure (``server.core.limits``); this module only counts, times
and writes the answer.

What it relies on in uvicorn (0.35-0.55, as ``server.web.fastpath``; pinned in pyproject), all
in ``uvicorn.protocols.http.httptools_impl.HttpToolsProtocol``, which :class:`GuardedHttpTools`
subclasses (``server.web.serving`` passes the class as uvicorn's ``http``):

* its constructor signature ``(config, server_state, app_state, _loop)`` and the attributes it
  sets: ``connections`` (the server's set of open connection protocols: HTTP ones add
  themselves in ``connection_made`` and leave in ``connection_lost`` or, on an upgrade, in
  ``handle_websocket_upgrade``; the WebSocket protocol adds itself), ``transport``,
  ``client``, ``parser`` (an ``httptools.HttpRequestParser`` calling ``on_message_begin``,
  ``on_url``, ``on_header``, ``on_headers_complete``), ``loop``, ``logger``;
* its methods ``data_received`` (reimplemented here, the same steps as uvicorn 0.55's plus the
  guard's: an exception raised in a parser callback comes out of ``feed_data`` as
  ``httptools.HttpParserCallbackError``), ``_unset_keepalive_if_required``,
  ``_should_upgrade``, ``_unsupported_upgrade_warning``, ``handle_websocket_upgrade``,
  ``send_400_response``; the parser's ``should_upgrade()``.

An uvicorn without httptools (the h11 protocol) is not guarded: ``server.web.serving`` then
logs a warning. The head limits and the timer are per connection; the rate buckets and the
count of open HTTP connections (to tell WebSocket clients from the rest of ``connections``)
are one :class:`GuardState` per server.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, ClassVar

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from server.config import Settings
from server.core.limits import (
    Buckets,
    Exempt,
    Refusal,
    connection_refusal,
    head_refusal,
    rate_refusal,
    upgrade_refusal,
)

log = logging.getLogger("shotfeed.guard")

LINGER_S = 1.0
"""After a refusal the socket is half-closed and read (and dropped) this long before it is
closed: closing with the client's request still unread would reset the connection and could
destroy the answer before the client reads it."""

REFUSED_TIMEOUT_S = 1.0
"""Head timeout of a connection already refused for its address's rate: it holds a descriptor
only until the answer can be sent."""

LOG_EVERY_S = 10.0


class GuardState:
    """One server's limits, buckets and counts (shared by all its connections)."""

    def __init__(self, settings: Settings, max_connections: int) -> None:
        self.handshake_timeout_s = settings.handshake_timeout_s
        self.max_clients = settings.max_clients
        self.max_connections = max_connections
        self.max_headers = settings.max_headers
        self.max_header_bytes = settings.max_header_bytes
        self.exempt = Exempt.parse(settings.limit_exempt)
        self.rate = Buckets(settings.connect_rate, settings.connect_burst)
        self.http_open = 0  # guard protocols now in the server's ``connections``
        self.refused: dict[str, int] = {}  # code -> how many, since start (tests, logs)
        self._unlogged: dict[str, int] = {}
        self._logged_at = 0.0

    def note(self, refusal: Refusal, client: Any) -> None:
        """Count a refusal; log at most one line per LOG_EVERY_S (a flood must not flood)."""
        code = f"{refusal.status} {refusal.code}"
        self.refused[code] = self.refused.get(code, 0) + 1
        self._unlogged[code] = self._unlogged.get(code, 0) + 1
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_S:
            self._logged_at = now
            counts = ", ".join(f"{n} x {c}" for c, n in sorted(self._unlogged.items()))
            self._unlogged.clear()
            log.info(
                "refused connections (%s); latest from %s: %s", counts, client, refusal.message
            )


class _Refused(Exception):
    """Raised in a parser callback to stop parsing; the refusal is on the protocol."""


def response_bytes(refusal: Refusal) -> bytes:
    """The whole HTTP answer: the JSON error every route gives, and ``connection: close``."""
    body = orjson.dumps({"error": refusal.code, "message": refusal.message})
    lines = [
        STATUS_LINE[refusal.status],
        b"content-type: application/json\r\n",
        b"content-length: " + str(len(body)).encode() + b"\r\n",
        b"connection: close\r\n",
    ]
    if refusal.retry_after is not None:
        lines.append(b"retry-after: " + str(refusal.retry_after).encode() + b"\r\n")
    lines += [b"\r\n", body]
    return b"".join(lines)


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head timer, head limits, caps and a connect rate.

    Subclassed per server by :func:`guarded_http` (the class attribute :attr:`guard` is that
    server's state); see the module docstring for what it relies on.
    """

    guard: ClassVar[GuardState]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._counted = False
        self._in_head = True  # a request head has begun (or may begin) and is not complete
        self._began = False  # some byte of the current head has arrived
        self._head_raw = 0  # bytes received while in the head
        self._head_bytes = 0  # request line and fields as parsed
        self._fields = 0
        self._rate_refusal: Refusal | None = None
        self._pending: Refusal | None = None
        self._done = False  # answered (refused) or timed out: drop whatever comes

    # -- connection ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        g = self.guard
        already_open = len(self.connections)
        super().connection_made(transport)
        self._counted = True
        g.http_open += 1
        refusal = connection_refusal(already_open, g.max_connections)
        if refusal is not None:
            self._refuse(refusal)
            return
        host = self.client[0] if self.client else ""
        timeout = g.handshake_timeout_s
        if host not in g.exempt:
            self._rate_refusal = rate_refusal(g.rate.take(host, time.monotonic()))
            if self._rate_refusal is not None:
                timeout = min(timeout, REFUSED_TIMEOUT_S)
        self._arm(timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._uncount()
        self._disarm()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        self._uncount()  # uvicorn takes this protocol out of ``connections`` here
        super().handle_websocket_upgrade()

    def _uncount(self) -> None:
        if self._counted:
            self._counted = False
            self.guard.http_open -= 1

    # -- the head timer --------------------------------------------------------------------

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._head_timeout)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _head_timeout(self) -> None:
        self._timer = None
        if self._done or self.transport.is_closing():
            return
        if self._began:
            seconds = f"{self.guard.handshake_timeout_s:g}"
            self._refuse(
                Refusal(408, "timeout", f"the request head did not arrive within {seconds} s")
            )
            return
        self._done = True
        self.guard.note(Refusal(408, "idle", "no request"), self.client)
        self.transport.close()

    # -- parsing ---------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """uvicorn 0.55's ``data_received`` with the guard's refusals and head byte count."""
        if self._done:
            return
        self._unset_keepalive_if_required()
        if self._in_head:
            self._head_raw += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            pending, self._pending = self._pending, None
            if pending is not None:
                self._refuse(pending)
                return
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._in_head and self._head_raw > self.guard.max_header_bytes:
            # One field still arriving (httptools buffers a field until it is whole).
            kib = self.guard.max_header_bytes // 1024
            self._refuse(
                Refusal(431, "headers_too_large", f"a request head may be at most {kib} KiB")
            )

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_head:  # a later request on a kept-alive connection
            self._in_head = True
            self._arm(self.guard.handshake_timeout_s)
        self._began = True

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._head_bytes += len(url)
        self._check_head()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields += 1
        self._head_bytes += len(name) + len(value) + 4
        self._check_head()
        super().on_header(name, value)

    def _check_head(self) -> None:
        g = self.guard
        refusal = head_refusal(self._fields, self._head_bytes, g.max_headers, g.max_header_bytes)
        if refusal is not None:
            self._stop(refusal)

    def on_headers_complete(self) -> None:
        self._disarm()
        self._in_head = self._began = False
        self._head_raw = self._head_bytes = self._fields = 0
        if self._rate_refusal is not None:
            self._stop(self._rate_refusal)
        if self.parser.should_upgrade() and self._should_upgrade():
            # WebSocket protocols are the server's connections that are not guarded HTTP ones.
            websockets = len(self.connections) - self.guard.http_open
            refusal = upgrade_refusal(websockets, self.guard.max_clients)
            if refusal is not None:
                self._stop(refusal)
        super().on_headers_complete()

    def _stop(self, refusal: Refusal) -> None:
        """From a parser callback: parsing ends, ``data_received`` sends the answer."""
        self._pending = refusal
        raise _Refused(refusal.code)

    # -- answering -------------------------------------------------------------------------

    def _refuse(self, refusal: Refusal) -> None:
        """Answer, half-close, drop what the client still sends for a moment, then close."""
        self._done = True
        self._disarm()
        self.guard.note(refusal, self.client)
        transport = self.transport
        if transport.is_closing():
            return
        transport.write(response_bytes(refusal))
        try:
            if transport.can_write_eof():
                transport.write_eof()
        except (OSError, RuntimeError):
            transport.close()
            return
        self.loop.call_later(LINGER_S, _close, transport)


def _close(transport: asyncio.Transport) -> None:
    if not transport.is_closing():
        transport.close()


def guarded_http(settings: Settings, max_connections: int) -> type[GuardedHttpTools]:
    """A :class:`GuardedHttpTools` class with its own :class:`GuardState`, for one server."""

    class Guarded(GuardedHttpTools):
        guard = GuardState(settings, max_connections)

    return Guarded
