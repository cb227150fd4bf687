"""Record an upstream's answers to a JSON Lines file, and serve a recording back as an upstream.

A recording lets an operator rehearse a real game before tip-off and lets a developer reproduce
a bug afterwards: ``shotfeed replay FILE`` answers exactly what ShotTracker answered, at the
same pace (or faster), so the server under test cannot tell the difference.

One line per poll::

    {"elapsed": 12.03, "at": 1795694775158, "game": "EVT", "status": 200,
     "headers": {"etag": "...", "retry-after": null, "content-type": "application/json"},
     "body": "<the body as text>"}

A failed request (timeout, refused) is recorded with ``"status": null`` and ``"error"``; the
replay answers it with a 504 so the fault shows up again.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import anyio
import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.signing import signed_headers
from server.upstream import SHOTS_PATH, Credentials

KEPT_HEADERS = ("etag", "retry-after", "content-type", "date")


@dataclass(frozen=True, slots=True)
class Frame:
    """One recorded answer."""

    elapsed: float
    at: int
    game: str
    status: int | None
    headers: dict[str, str]
    body: str
    error: str | None = None

    def to_line(self) -> bytes:
        doc: dict[str, Any] = {
            "elapsed": round(self.elapsed, 3),
            "at": self.at,
            "game": self.game,
            "status": self.status,
            "headers": self.headers,
            "body": self.body,
        }
        if self.error:
            doc["error"] = self.error
        return orjson.dumps(doc) + b"\n"

    @classmethod
    def from_line(cls, line: bytes, lineno: int) -> Frame:
        try:
            doc = orjson.loads(line)
            return cls(
                elapsed=float(doc["elapsed"]),
                at=int(doc["at"]),
                game=str(doc["game"]),
                status=int(doc["status"]) if doc.get("status") is not None else None,
                headers={str(k): str(v) for k, v in (doc.get("headers") or {}).items()},
                body=str(doc.get("body") or ""),
                error=doc.get("error"),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"line {lineno}: not a recording frame ({exc})") from exc


def read_recording(path: str | Path) -> list[Frame]:
    frames = []
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                frames.append(Frame.from_line(line, lineno))
    if not frames:
        raise ValueError(f"{path}: the recording is empty")
    frames.sort(key=lambda f: f.elapsed)
    return frames


async def record(
    url_base: str,
    game: str,
    out: IO[bytes],
    *,
    credentials: Credentials | None,
    interval: float = 1.0,
    timeout: float = 5.0,
    limit: int | None = None,
    clock: Callable[[], float] = time.time,
) -> int:
    """Poll ``game`` every ``interval`` s and write each answer; returns the frames written."""
    start = time.monotonic()
    written = 0
    url = url_base.rstrip("/") + SHOTS_PATH.format(event_id=game)
    async with httpx.AsyncClient(timeout=timeout) as http:
        while limit is None or written < limit:
            headers = {"accept": "application/json"}
            if credentials is not None:
                headers.update(
                    signed_headers(credentials.username, credentials.secret, "GET", url, clock())
                )
            elapsed = time.monotonic() - start
            try:
                response = await http.get(url, headers=headers)
                frame = Frame(
                    elapsed,
                    int(clock() * 1000),
                    game,
                    response.status_code,
                    {k: response.headers[k] for k in KEPT_HEADERS if k in response.headers},
                    response.content.decode("utf-8", "replace"),
                )
            except httpx.HTTPError as exc:
                frame = Frame(
                    elapsed, int(clock() * 1000), game, None, {}, "", f"{type(exc).__name__}: {exc}"
                )
            out.write(frame.to_line())
            out.flush()
            written += 1
            await anyio.sleep(interval)
    return written


class Replay:
    """Serves a recording: a request at replay time T gets the last frame recorded by T*speed."""

    def __init__(
        self,
        frames: list[Frame],
        *,
        speed: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.frames = frames
        self.speed = speed
        self._clock = clock
        self._start: float | None = None
        self._times = [f.elapsed for f in frames]
        self.games = {f.game for f in frames}

    def frame_now(self) -> Frame:
        if self._start is None:
            self._start = self._clock()
        elapsed = (self._clock() - self._start) * self.speed + self.frames[0].elapsed
        i = bisect.bisect_right(self._times, elapsed) - 1
        return self.frames[max(i, 0)]

    @property
    def finished(self) -> bool:
        if self._start is None:
            return False
        return (self._clock() - self._start) * self.speed >= self._times[-1] - self._times[0]

    async def shots(self, request: Request) -> Response:
        game = request.path_params["event_id"]
        if game not in self.games:
            body = {"status": 404, "message": "Invalid id", "shottrackerRequestId": "replay"}
            return Response(orjson.dumps(body), 404, media_type="application/json")
        frame = self.frame_now()
        if frame.status is None:
            return Response(
                orjson.dumps(
                    {
                        "status": 504,
                        "message": frame.error or "timeout",
                        "shottrackerRequestId": "replay",
                    }
                ),
                504,
                media_type="application/json",
            )
        headers = {k: v for k, v in frame.headers.items() if k in ("etag", "retry-after")}
        if (
            frame.status == 200
            and "etag" in headers
            and (request.headers.get("if-none-match") == headers["etag"])
        ):
            return Response(b"", 304, headers=headers)
        return Response(
            frame.body.encode(),
            frame.status,
            headers=headers,
            media_type=frame.headers.get("content-type", "application/json"),
        )

    def app(self) -> Starlette:
        """ASGI app answering ``GET {SHOTS_PATH}`` (signatures are not checked)."""
        return Starlette(routes=[Route(SHOTS_PATH, self.shots, methods=["GET"])])
