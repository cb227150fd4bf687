"""Pre-framed broadcast: one WebSocket frame built per event, written straight to each socket.

Why: a server-to-client text frame is not masked, and shotfeed never compresses, so the bytes
of an event's frame are the same for every client. Going through ASGI costs one coroutine
wake-up, the framing and several layers of calls per client per event (70-80 µs in a plain
Starlette loop); writing the one frame to each transport costs little more than the send()
itself. With thousands of overlays on one server that is the difference between a few cores
and a fraction of one.

How, safely: the feed endpoint (``server.web.feed.FeedEndpoint``) keeps the server's own ``send``
callable in the scope.
When it belongs to uvicorn's websockets-sansio protocol (the implementation ``shotfeed serve``
configures) and no extension (compression) was negotiated, :class:`DirectWriter` writes to its
transport; otherwise there is no writer and the ASGI path is used. The writer only writes
while the connection is open, nothing else is queued for that client, and the transport's
buffer is small (see ``Hub.publish``), so frames never interleave with the ASGI path's.
"""

from __future__ import annotations

import struct
from typing import Any

from starlette.types import Scope, Send

SEND_KEY = "shotfeed.send"
# Past this much unsent data the client is treated as slow: events go to its bounded queue
# (where the ASGI path waits for the socket to drain) instead of piling up in the transport.
BUFFER_LIMIT = 64 * 1024


def text_frame(payload: bytes) -> bytes:
    """A final, unmasked text frame (RFC 6455 5.2) carrying ``payload`` (UTF-8 JSON)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


def _release_handshake(proto: Any, scope: Scope) -> None:
    """Let go of the upgrade request and response once the connection is open.

    uvicorn keeps both (and the scope keeps the request headers) for the life of the connection
    but never reads them after the handshake; for thousands of idle overlays that is a few KiB
    each. Only attributes that exist are touched, so another uvicorn version merely keeps them.
    """
    for name in ("request", "response"):
        if getattr(proto, name, None) is not None:
            setattr(proto, name, None)
    if isinstance(scope.get("headers"), list):
        scope["headers"] = []


class DirectWriter:
    """Writes pre-built frames to one uvicorn websockets-sansio connection's transport."""

    __slots__ = ("_proto", "_send", "_transport")

    def __init__(self, proto: Any, send: Send) -> None:
        self._proto = proto
        self._send = send
        self._transport = proto.transport

    @classmethod
    def attach(cls, scope: Scope) -> DirectWriter | None:
        """A writer for this connection, or None where the fast path does not apply."""
        send = scope.get(SEND_KEY)
        proto = getattr(send, "__self__", None)
        if send is None or proto is None or type(proto).__name__ != "WebSocketsSansIOProtocol":
            return None
        conn = getattr(proto, "conn", None)
        if conn is None or getattr(conn, "extensions", None) or not hasattr(proto, "transport"):
            return None
        _release_handshake(proto, scope)
        return cls(proto, send)

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

    async def close(self, code: int, reason: str) -> None:
        """Close through the server's own ASGI send: it owns the close handshake."""
        await self._send({"type": "websocket.close", "code": code, "reason": reason})

    def abort(self) -> None:
        """Drop a connection that cannot take even a close frame (its peer stopped reading)."""
        self._transport.abort()
