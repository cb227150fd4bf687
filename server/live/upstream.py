"""The ShotTracker HTTP client: one signed GET per poll, every outcome typed.

httpx exceptions and HTTP statuses are translated here, once, into either a result
(:class:`Shots`, :class:`NotModified`) or an :class:`UpstreamError` carrying one of SPEC's
feed error codes. The secret is used to sign and is never put into a message, a repr or a log.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
import orjson

from server.core.shots import Payload, ShotParser
from server.core.signing import signed_headers
from server.errors import PayloadError, UpstreamError

log = logging.getLogger("shotfeed.upstream")

SHOTS_PATH = "/v1/data/stats/games/{event_id}/shots"
MAX_SKEW_S = 300.0
MAX_RETRY_AFTER_S = 600.0

FORBIDDEN = "forbidden"
UNAUTHORIZED = "unauthorized"
NOT_FOUND = "not_found"
RATE_LIMITED = "rate_limited"
UPSTREAM_ERROR = "upstream_error"
TIMEOUT = "timeout"
BAD_PAYLOAD = "bad_payload"


@dataclass(frozen=True, slots=True)
class Credentials:
    """A ShotTracker username and secret; the secret is kept out of repr and str."""

    username: str
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Shots:
    """A 200: the parsed payload, the ETag to send next time, and the raw size."""

    payload: Payload
    etag: str | None
    size: int


@dataclass(frozen=True, slots=True)
class NotModified:
    """A 304 after If-None-Match: nothing changed upstream."""

    etag: str | None


def parse_retry_after(value: str | None, now_s: float) -> float | None:
    """Retry-After as seconds from now: either delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - now_s
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def _error_detail(response: httpx.Response, body: bytes) -> str:
    """ShotTracker's ``{status, message, shottrackerRequestId}`` as one short phrase."""
    try:
        doc = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        doc = None
    if isinstance(doc, dict):
        msg = str(doc.get("message") or "").strip()[:200]
        rid = doc.get("shottrackerRequestId")
        parts = [f"HTTP {response.status_code}"]
        if msg:
            parts.append(repr(msg))
        if rid:
            parts.append(f"request id {str(rid)[:64]}")
        return " ".join(parts)
    return f"HTTP {response.status_code} {response.reason_phrase}".strip()


class UpstreamClient:
    """GETs one game's shots. Takes its ``httpx.AsyncClient`` so tests and the demo can pass one."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials | None,
        *,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = credentials
        self._http = http
        self._clock = clock

    def shots_url(self, event_id: str) -> str:
        return self.base_url + SHOTS_PATH.format(event_id=quote(event_id, safe=""))

    async def fetch_shots(
        self, event_id: str, *, etag: str | None = None, parser: ShotParser | None = None
    ) -> Shots | NotModified:
        """One poll. Returns Shots or NotModified; raises UpstreamError for every failure kind."""
        url = self.shots_url(event_id)
        headers = {"accept": "application/json"}
        if self._credentials is not None:
            headers.update(
                signed_headers(
                    self._credentials.username, self._credentials.secret, "GET", url, self._clock()
                )
            )
        if etag:
            headers["if-none-match"] = etag
        request = self._http.build_request("GET", url, headers=headers)
        try:
            response = await self._http.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise UpstreamError(TIMEOUT, f"no answer from {self.base_url} in time") from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(
                UPSTREAM_ERROR, f"cannot reach {self.base_url}: {type(exc).__name__}: {exc}"
            ) from exc
        try:
            try:
                body = await response.aread()
            except httpx.TimeoutException as exc:
                raise UpstreamError(TIMEOUT, "the answer stopped coming in time") from exc
            except httpx.HTTPError as exc:
                # Headers arrived, then the connection dropped: the body we have is truncated.
                raise UpstreamError(
                    BAD_PAYLOAD, f"truncated body (HTTP {response.status_code}): {exc}"
                ) from exc
        finally:
            await response.aclose()
        return self._interpret(response, body, parser)

    def _interpret(
        self, response: httpx.Response, body: bytes, parser: ShotParser | None
    ) -> Shots | NotModified:
        status = response.status_code
        if status == 304:
            return NotModified(response.headers.get("etag"))
        if status == 200:
            try:
                payload = (parser or ShotParser()).parse_body(body)
            except PayloadError as exc:
                raise UpstreamError(BAD_PAYLOAD, f"unusable body: {exc}") from exc
            return Shots(payload, response.headers.get("etag"), len(body))
        detail = _error_detail(response, body)
        if status in (401, 403):
            code = UNAUTHORIZED if status == 401 else FORBIDDEN
            hint = "check SHOTTRACKER_USERNAME / SHOTTRACKER_SECRET and their privileges"
            if self._credentials is None:
                hint = "no SHOTTRACKER_USERNAME / SHOTTRACKER_SECRET configured"
            skew = self._skew(response)
            if skew is not None and abs(skew) > MAX_SKEW_S:
                hint = (
                    f"this server's clock is {abs(skew):.0f} s "
                    f"{'behind' if skew > 0 else 'ahead of'} ShotTracker's; it rejects a skew over "
                    "5 minutes: fix the clock (NTP)"
                )
            raise UpstreamError(code, f"ShotTracker refused the request ({detail}): {hint}")
        if status == 404:
            raise UpstreamError(NOT_FOUND, f"ShotTracker does not know this game ({detail})")
        if status == 429:
            retry = parse_retry_after(response.headers.get("retry-after"), self._clock())
            wait = f"; retry after {retry:.0f} s" if retry is not None else ""
            raise UpstreamError(RATE_LIMITED, f"rate limited ({detail}){wait}", retry_after=retry)
        raise UpstreamError(UPSTREAM_ERROR, f"ShotTracker answered {detail}")

    def _skew(self, response: httpx.Response) -> float | None:
        """Upstream clock minus ours, from the response's Date header, if it has one."""
        date = response.headers.get("date")
        if not date:
            return None
        try:
            theirs = email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return None
        return theirs - self._clock()
