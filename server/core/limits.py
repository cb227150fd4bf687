"""Connection and request limits as pure decisions over data: no socket, no clock of its own.

The shell (``server.web.guard`` for connections and request heads, ``server.web.api`` for
tokens, ``server.web.feed`` for WebSocket queries) passes in the time and the counts and
carries out the answer. Keeping the arithmetic here lets ``tests/test_limits.py`` try every
edge without a server.

* :class:`Buckets`: one token bucket per key (a client address), bounded in memory. Used for
  connects per address per second and for wrong operator tokens per address.
* :func:`connection_refusal` / :func:`head_refusal` / :func:`upgrade_refusal`: what the guard
  answers, as a :class:`Refusal` (status, code, message, Retry-After) or None.
* :class:`Exempt`: addresses no per-address limit applies to (loopback by default: the machine
  itself, a load generator, or a reverse proxy in front, behind which every viewer would share
  one address).
* :func:`parse_origins` / :func:`origin_allowed`: the ``SHOTFEED_ALLOWED_ORIGINS`` list.
* :func:`parse_since`: the WebSocket's ``since``, with the HTTP events route's range and words.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

MAX_SINCE = 2**62
"""Largest ``since`` accepted (HTTP ``/events`` and the WebSocket alike)."""

DEFAULT_EXEMPT = "127.0.0.0/8,::1"


@dataclass(frozen=True, slots=True)
class Refusal:
    """An HTTP answer instead of the request: a JSON error as every other route gives."""

    status: int
    code: str
    message: str
    retry_after: int | None = None


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class Buckets:
    """Token buckets by key: ``burst`` at most, refilled at ``rate`` per second.

    Why buckets and not a fixed window: a window lets twice its limit through across a window
    edge; a bucket allows a short burst (overlays reconnecting together after a restart) and
    then exactly ``rate`` per second, and it says when the next one would be allowed
    (Retry-After).

    Memory is bounded by ``max_keys``: a full bucket carries no information (a new key starts
    full), so buckets that have refilled are dropped first; past that the least recently used
    go. An attacker cycling through addresses can only make the limiter forget, never grow.
    """

    __slots__ = ("_b", "burst", "max_keys", "rate")

    def __init__(self, rate: float, burst: float, max_keys: int = 10_000) -> None:
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError("rate must be a finite number > 0")
        if not (burst >= 1 and math.isfinite(burst)):
            raise ValueError("burst must be a finite number >= 1")
        if max_keys < 1:
            raise ValueError("max_keys must be >= 1")
        self.rate = float(rate)
        self.burst = float(burst)
        self.max_keys = max_keys
        self._b: dict[str, _Bucket] = {}

    def __len__(self) -> int:
        return len(self._b)

    def _level(self, b: _Bucket, now: float) -> float:
        # A clock that went back (now < at) refills nothing and takes nothing away.
        return min(self.burst, b.tokens + max(0.0, now - b.at) * self.rate)

    def wait(self, key: str, now: float) -> float:
        """Seconds until ``key`` may take one (0: it may now), without taking it."""
        b = self._b.get(key)
        if b is None:
            return 0.0
        level = self._level(b, now)
        return 0.0 if level >= 1 else (1 - level) / self.rate

    def take(self, key: str, now: float) -> float:
        """Take one for ``key`` if it has one: 0.0. Else nothing is taken and the answer is
        the seconds until one is there (> 0)."""
        b = self._b.pop(key, None)
        if b is None:
            b = _Bucket(self.burst, now)
        level = self._level(b, now)
        b.at = max(b.at, now)
        if level >= 1:
            b.tokens = level - 1
            wait = 0.0
        else:
            b.tokens = level
            wait = (1 - level) / self.rate
        self._b[key] = b  # re-inserted: the dict's order is least recently used first
        if len(self._b) > self.max_keys:
            self._prune(now)
        return wait

    def _prune(self, now: float) -> None:
        full = [k for k, b in self._b.items() if self._level(b, now) >= self.burst]
        for k in full:
            del self._b[k]
        while len(self._b) > self.max_keys:
            del self._b[next(iter(self._b))]


def retry_after(wait_s: float) -> int:
    """Retry-After is whole seconds; never 0 for a refusal (a client would retry at once)."""
    return max(1, math.ceil(wait_s))


class Exempt:
    """Networks no per-address limit applies to; the text is a comma list of addresses or
    CIDR networks (``127.0.0.0/8,::1``), or ``none``. An address that does not parse (a Unix
    socket's empty peer) is not exempt."""

    __slots__ = ("_nets",)

    def __init__(self, nets: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> None:
        self._nets = tuple(nets)

    @classmethod
    def parse(cls, text: str) -> Exempt:
        """ValueError naming the item that is not an address or network."""
        nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        if text.strip().lower() == "none":
            return cls(nets)
        for item in (p.strip() for p in text.split(",")):
            if not item:
                continue
            try:
                nets.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"{item[:60]!r} is not an address or network") from None
        return cls(nets)

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, str) or not self._nets:
            return False
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is loopback too
        return any(ip in n or (mapped is not None and mapped in n) for n in self._nets)


# -- the guard's decisions ---------------------------------------------------------------------


def auto_max_connections(open_file_limit: int | None) -> int:
    """The connection cap when ``SHOTFEED_MAX_CONNECTIONS`` is 0: the open-file limit less 64
    descriptors kept for the store, the upstream client, the logs and the listening socket;
    0 (no cap) when the limit is unknown or unlimited."""
    if open_file_limit is None or open_file_limit <= 0:
        return 0
    return max(16, open_file_limit - 64)


def connection_refusal(open_connections: int, max_connections: int) -> Refusal | None:
    """A new TCP connection when ``open_connections`` (this one not counted) are open.

    ``max_connections`` 0 means no cap. The cap keeps file descriptors for the store, the
    upstream client and the logs: a server out of descriptors fails everything at once.
    """
    if max_connections and open_connections >= max_connections:
        return Refusal(503, "busy", "the server holds as many connections as it may", 5)
    return None


def head_refusal(headers: int, head_bytes: int, max_headers: int, max_bytes: int) -> Refusal | None:
    """A request head so far (``headers`` fields, ``head_bytes`` bytes): 431 past a limit."""
    if headers > max_headers:
        return Refusal(
            431, "headers_too_large", f"a request may have at most {max_headers} header fields"
        )
    if head_bytes > max_bytes:
        return Refusal(
            431, "headers_too_large", f"a request head may be at most {max_bytes // 1024} KiB"
        )
    return None


def rate_refusal(wait_s: float) -> Refusal | None:
    """Connects from one address over its rate: 429 with when to come back."""
    if wait_s <= 0:
        return None
    return Refusal(
        429, "rate_limited", "too many connections from this address", retry_after(wait_s)
    )


def upgrade_refusal(open_websockets: int, max_clients: int) -> Refusal | None:
    """A WebSocket upgrade when ``open_websockets`` (not counting it) are open: 503 past the
    cap, before the upgrade, so a client (an overlay) retries as after any failed connect."""
    if open_websockets >= max_clients:
        return Refusal(
            503, "busy", f"the server has its maximum of {max_clients} WebSocket clients", 5
        )
    return None


# -- wrong operator tokens ---------------------------------------------------------------------


class TokenThrottle:
    """Wrong operator tokens per address: ``burst`` failures, then one more try every
    ``1/rate`` seconds.

    While an address has no tries left, its requests are answered 429 *without checking the
    token*, right or wrong: checking would let a guesser go on at full speed, since a 429 for a
    wrong token and a 200 for the right one tell them apart. A right token costs nothing and
    resets nothing (a reset would hand a guesser that shares the operator's address fresh
    tries each time the console polls). A request without a token is not a guess.
    """

    __slots__ = ("_buckets", "exempt")

    def __init__(self, burst: int, per_minute: float, exempt: Exempt | None = None) -> None:
        self._buckets = Buckets(per_minute / 60.0, burst)
        self.exempt = exempt or Exempt(())

    def blocked(self, address: str, now: float) -> Refusal | None:
        """429 when ``address`` has no try left now; None: check its token."""
        if address in self.exempt:
            return None
        wait = self._buckets.wait(address, now)
        if wait <= 0:
            return None
        return Refusal(
            429,
            "too_many_failures",
            "too many wrong operator tokens from this address; try again later",
            retry_after(wait),
        )

    def failed(self, address: str, now: float) -> None:
        if address not in self.exempt:
            self._buckets.take(address, now)

    def __len__(self) -> int:
        return len(self._buckets)


# -- origins -----------------------------------------------------------------------------------


def parse_origins(text: str) -> frozenset[str]:
    """``SHOTFEED_ALLOWED_ORIGINS``: a comma list of ``scheme://host[:port]``, or ``*``.

    Origins compare as browsers send them (RFC 6454 serialisation): lower case, no path, no
    trailing slash. ValueError names an item that is not an origin.
    """
    out: set[str] = set()
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        if item == "*":
            out.add("*")
            continue
        origin = item.rstrip("/").lower()
        scheme, sep, host = origin.partition("://")
        if scheme not in ("http", "https") or not sep or not host or "/" in host:
            raise ValueError(f"{item[:60]!r} is not an origin (scheme://host[:port])")
        out.add(origin)
    return frozenset(out)


def origin_allowed(origin: str | None, allowed: frozenset[str], host: str | None = None) -> bool:
    """Whether a request with this ``Origin`` header may go on.

    No list: everything (as before the setting existed). No Origin header: allowed, it is not
    a browser page of another site (vMix's data sources, CasparCG's server, curl). The server's
    own pages are always allowed: an ``Origin`` whose host[:port] is the request's ``Host``
    (an overlay in OBS's browser source, which is Chromium and sends Origin on its WebSocket,
    or the console's POSTs). ``Origin: null`` (a sandboxed or file:// page) is refused when
    there is a list.
    """
    if not allowed or origin is None:
        return True
    given = origin.strip().rstrip("/").lower()
    if "*" in allowed or given in allowed:
        return True
    _, sep, netloc = given.partition("://")
    return bool(sep and host and netloc == host.strip().lower())


# -- WebSocket query ---------------------------------------------------------------------------


_INT = re.compile(r"[+-]?[0-9]{1,25}")


def parse_bounded(name: str, raw: str | None, lo: int, hi: int) -> int | None:
    """An integer query parameter (None when absent or empty), ValueError with a message for a
    person: ASCII digits only (``int`` alone would take ``"1_000"``, Arabic-Indic digits and
    spaces), at most 25 of them, between ``lo`` and ``hi``."""
    if raw is None or raw == "":
        return None
    if not _INT.fullmatch(raw):
        raise ValueError(f"{name} must be an integer, not {raw[:20]!r}")
    value = int(raw)
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}")
    return value


def parse_since(raw: str | None) -> int | None:
    """The WebSocket's ``since`` (None: live only): the same words and range as
    ``GET /api/games/{id}/events``."""
    return parse_bounded("since", raw, 0, MAX_SINCE)
