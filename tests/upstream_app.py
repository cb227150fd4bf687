"""A scriptable ShotTracker stand-in for tests, served by a real uvicorn on a loopback port.

Each request pops the next scripted reply (or repeats the last one). A reply can be a normal
response, a delay longer than the client's timeout, a body cut off mid-stream, or a dropped
connection: the things only a real network shows.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from server.sim.loopback import LoopbackServer


@dataclass
class Reply:
    status: int = 200
    body: bytes | dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    truncate_at: int | None = None  # send this many bytes of body, then drop the connection

    def body_bytes(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return orjson.dumps(self.body)


class ScriptedUpstream:
    """ASGI app: GET /v1/data/stats/games/{id}/shots answers from a script."""

    def __init__(self) -> None:
        self.script: deque[Reply] = deque()
        self.last: Reply | None = None
        self.requests: list[dict[str, str]] = []
        self.paths: list[str] = []

    def push(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def _next(self) -> Reply:
        if self.script:
            self.last = self.script.popleft()
        if self.last is None:
            return Reply(404, {"status": 404, "message": "Invalid id"})
        return self.last

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.requests.append({k.decode().lower(): v.decode() for k, v in scope["headers"]})
        self.paths.append(scope["path"])
        reply = self._next()
        if reply.delay:
            import anyio

            await anyio.sleep(reply.delay)
        body = reply.body_bytes()
        headers = [(b"content-type", b"application/json")]
        headers += [(k.lower().encode(), v.encode()) for k, v in reply.headers.items()]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        if reply.truncate_at is not None:
            await send(
                {"type": "http.response.body", "body": body[: reply.truncate_at], "more_body": True}
            )
            raise ConnectionAbortedError("scripted drop mid-body")
        await send({"type": "http.response.body", "body": body})


class LiveServer(LoopbackServer):
    """The shared loopback server, quiet by default (tests read their own logs)."""

    def __init__(self, app: Any, **config: Any) -> None:
        super().__init__(app, **{"log_level": "critical", **config})
