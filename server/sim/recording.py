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

A file whose name ends in ``.gz`` is written gzip-compressed (a whole game's polls repeat each
other, so it shrinks tenfold or more); reading detects gzip by its magic bytes, whatever the
name. ``shotfeed record`` appends: a second run into the same file plays after the first.
"""

from __future__ import annotations

import bisect
import gzip
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import anyio
import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.core.signing import signed_headers
from server.live.upstream import SHOTS_PATH, Credentials

KEPT_HEADERS = ("etag", "retry-after", "content-type", "date")
GZIP_MAGIC = b"\x1f\x8b"


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


def open_recording(path: str | Path, mode: str = "ab") -> IO[bytes]:
    """Open a recording for writing (``ab``/``wb``): gzip when the name ends in ``.gz``.

    Every frame is flushed (a gzip sync flush), so a recording cut short by a crash keeps every
    frame written before it (:func:`read_recording` reads up to the cut).
    """
    if str(path).endswith(".gz"):
        return gzip.open(path, mode)  # type: ignore[return-value]
    return open(path, mode)


def _lines(path: str | Path) -> list[bytes]:
    with open(path, "rb") as fh:
        gzipped = fh.read(2) == GZIP_MAGIC
    if not gzipped:
        with open(path, "rb") as fh:
            return fh.readlines()
    lines: list[bytes] = []
    with gzip.open(path, "rb") as gz:
        try:
            for line in gz:
                lines.append(line)
        except EOFError:
            # Recording killed before gzip's trailer was written: the flushed frames are whole.
            if lines and not lines[-1].endswith(b"\n"):
                lines.pop()
        except zlib.error as exc:
            raise ValueError(f"{path}: corrupt gzip data after line {len(lines)} ({exc})") from exc
    return lines


def read_recording(path: str | Path) -> list[Frame]:
    """The frames of a recording (plain or gzip JSON Lines), on one timeline.

    ``elapsed`` restarts at 0 in each ``shotfeed record`` run appended to the file; a later run
    is placed after the one before it, the wall-clock gap between them (``at``) kept, so the
    runs play in the order they were recorded. Raises ValueError naming the bad line.
    """
    frames: list[Frame] = []
    offset = 0.0
    for lineno, line in enumerate(_lines(path), 1):
        if not line.strip():
            continue
        frame = Frame.from_line(line, lineno)
        if frames and frame.elapsed + offset < frames[-1].elapsed:
            prev = frames[-1]
            gap = max(0.0, (frame.at - prev.at) / 1000)
            offset = prev.elapsed + gap - frame.elapsed
        if offset:
            frame = replace(frame, elapsed=frame.elapsed + offset)
        frames.append(frame)
    if not frames:
        raise ValueError(f"{path}: the recording is empty")
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
    """Serves a recording: a request for game G at replay time T gets the last frame of G
    recorded by T*speed (the first frame of G before that). Time starts at the first request."""

    def __init__(
        self,
        frames: list[Frame],
        *,
        speed: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        if not frames:
            raise ValueError("a replay needs at least one frame")
        self.frames = frames
        self.speed = speed
        self._clock = clock
        self._start: float | None = None
        self._times = [f.elapsed for f in frames]
        self._by_game: dict[str, list[Frame]] = {}
        for f in frames:
            self._by_game.setdefault(f.game, []).append(f)
        self._game_times = {g: [f.elapsed for f in fs] for g, fs in self._by_game.items()}
        self.games = set(self._by_game)

    def _elapsed(self) -> float:
        if self._start is None:
            self._start = self._clock()
        return (self._clock() - self._start) * self.speed + self._times[0]

    def frame_now(self, game: str | None = None) -> Frame:
        """The frame to answer now (for ``game``; any game's when None)."""
        frames, times = self.frames, self._times
        if game is not None:
            frames, times = self._by_game[game], self._game_times[game]
        i = bisect.bisect_right(times, self._elapsed()) - 1
        return frames[max(i, 0)]

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
        frame = self.frame_now(game)
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
