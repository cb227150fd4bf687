"""Settings, read once from an environment mapping (never at import time).

One table, ``SETTINGS``, holds every variable's default, meaning and valid range: the Settings
dataclass takes its defaults from it, ``from_environ`` parses with it, and ``docs/config.md`` is
rendered from it (``python -m server.config > docs/config.md``), so the three cannot drift.
A value that cannot be used raises ConfigError naming the variable, at start, rather than
failing every poll or spinning a core later. Overrides (the command line's flags) and direct
construction go through the same checks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from server.core.limits import DEFAULT_EXEMPT, Exempt, parse_origins
from server.errors import ConfigError

MIN_TOKEN = 16
"""Shortest operator token accepted: a short one could be guessed by trying."""


class Kind(Protocol):
    """How one setting's text is read and which values make sense for it."""

    def parse(self, raw: str) -> object:
        """The value of a non-empty, stripped environment text; ValueError if unreadable."""
        ...

    def problem(self, value: object) -> str | None:
        """None when ``value`` is usable, else what it must be ("must be ...")."""
        ...

    def describe(self) -> str:
        """The valid range, for docs/config.md."""
        ...


@dataclass(frozen=True, slots=True)
class Number:
    """A number with a lower (and maybe upper) bound; never NaN or infinite.

    NaN compares false with everything, so a plain ``<= 0`` check lets it through and it then
    breaks every sleep or timeout it reaches; infinity parks a loop forever.
    """

    integer: bool
    low: float
    low_open: bool = False
    high: float | None = None

    def parse(self, raw: str) -> object:
        return int(raw) if self.integer else float(raw)

    def problem(self, value: object) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be {self.describe()}"
        if self.integer and not isinstance(value, int):
            return f"must be {self.describe()}"
        if not math.isfinite(value):
            return f"must be {self.describe()}"
        too_low = value <= self.low if self.low_open else value < self.low
        if too_low or (self.high is not None and value > self.high):
            return f"must be {self.describe()}"
        return None

    def describe(self) -> str:
        what = "a whole number" if self.integer else "a finite number"
        low = _num(self.low)
        if self.high is not None:
            return f"{what} from {low} to {_num(self.high)}"
        return f"{what} {'>' if self.low_open else '>='} {low}"


@dataclass(frozen=True, slots=True)
class Text:
    """Free text; ``required`` when an empty value would leave nothing to use."""

    required: bool = False
    min_len: int = 0

    def parse(self, raw: str) -> object:
        return raw

    def problem(self, value: object) -> str | None:
        if not isinstance(value, str):
            return "must be text"
        if self.required and not value.strip():
            return "must not be empty"
        if value and len(value) < self.min_len:
            return f"must be empty or at least {self.min_len} characters (it has {len(value)})"
        return None

    def describe(self) -> str:
        if self.min_len:
            return f"empty, or at least {self.min_len} characters"
        return "any non-empty text" if self.required else "any text"


@dataclass(frozen=True, slots=True)
class Url:
    """A URL with one of a few schemes; ``optional`` allows empty (the feature is off)."""

    schemes: tuple[str, ...]
    optional: bool = False

    def parse(self, raw: str) -> object:
        return raw

    def problem(self, value: object) -> str | None:
        if not isinstance(value, str):
            return f"must be {self.describe()}"
        if value == "" and self.optional:
            return None
        scheme, sep, rest = value.partition("://")
        if not sep or scheme.lower() not in self.schemes or not rest:
            return f"must be {self.describe()}"
        return None

    def describe(self) -> str:
        urls = " or ".join(f"{s}://…" for s in self.schemes)
        return f"empty or {urls}" if self.optional else f"{urls}"


@dataclass(frozen=True, slots=True)
class IdList:
    """A comma list of ids; blanks between commas are dropped."""

    def parse(self, raw: str) -> object:
        return tuple(g.strip() for g in raw.split(",") if g.strip())

    def problem(self, value: object) -> str | None:
        if not isinstance(value, tuple) or not all(isinstance(v, str) and v for v in value):
            return "must be a comma list of ids"
        return None

    def describe(self) -> str:
        return "comma list of ids"


@dataclass(frozen=True, slots=True)
class Listed:
    """A comma list checked by ``check`` (which raises ValueError naming the bad item); kept as
    text, the shell parses it once at start. ``what`` names the items for the docs."""

    what: str
    check: Callable[[str], object]

    def parse(self, raw: str) -> object:
        return raw

    def problem(self, value: object) -> str | None:
        if not isinstance(value, str):
            return f"must be {self.describe()}"
        try:
            self.check(value)
        except ValueError as exc:
            return f"must be {self.describe()}: {exc}"
        return None

    def describe(self) -> str:
        return f"empty, or a comma list of {self.what}"


@dataclass(frozen=True, slots=True)
class Setting:
    env: str
    attr: str
    default: object
    help: str
    kind: Kind
    secret: bool = False


SECONDS = Number(integer=False, low=0, low_open=True)
AT_LEAST_ONE = Number(integer=True, low=1)

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "SHOTTRACKER_USERNAME", "username", "", "ShotTracker-issued username for signing.", Text()
    ),
    Setting(
        "SHOTTRACKER_SECRET",
        "secret",
        "",
        "ShotTracker-issued secret; never leaves the server.",
        Text(),
        secret=True,
    ),
    Setting(
        "SHOTTRACKER_BASE_URL",
        "base_url",
        "https://api.shottracker.com",
        "Upstream base URL.",
        Url(("http", "https")),
    ),
    Setting(
        "SHOTFEED_GAMES", "games", (), "Comma list of ShotTracker event ids to follow.", IdList()
    ),
    Setting("SHOTFEED_DB", "db_path", "./shotfeed.db", "SQLite store path.", Text(required=True)),
    Setting(
        "SHOTFEED_POLL_INTERVAL",
        "poll_interval",
        1.0,
        "Seconds between polls of an ACTIVE game.",
        SECONDS,
    ),
    Setting(
        "SHOTFEED_IDLE_INTERVAL",
        "idle_interval",
        5.0,
        "Seconds between polls of a game not ACTIVE.",
        SECONDS,
    ),
    Setting(
        "SHOTFEED_BACKOFF_CAP",
        "backoff_cap",
        30.0,
        "Upper bound of the retry backoff, seconds.",
        SECONDS,
    ),
    Setting(
        "SHOTFEED_AUTH_RETRY",
        "auth_retry",
        30.0,
        "Seconds between retries after 401/403 of a key that has not worked yet for the game "
        "(one that has backs off from the poll interval, capped by this).",
        SECONDS,
    ),
    Setting("SHOTFEED_TIMEOUT", "timeout", 5.0, "Upstream request timeout, seconds.", SECONDS),
    Setting(
        "SHOTFEED_STALE_S",
        "stale_s",
        20.0,
        "A shot older than the newest by this many seconds is stale, not animated on air.",
        SECONDS,
    ),
    Setting(
        "SHOTFEED_RUN_THRESHOLD",
        "run_threshold",
        8,
        "Unanswered points that make a scoring_run.",
        AT_LEAST_ONE,
    ),
    Setting(
        "SHOTFEED_HOT_HAND",
        "hot_hand",
        3,
        "Consecutive makes that make a hot_hand.",
        AT_LEAST_ONE,
    ),
    Setting(
        "SHOTFEED_OPERATOR_TOKEN",
        "operator_token",
        "",
        "Bearer token for operator routes; empty: the server makes one at start and prints it.",
        Text(min_len=MIN_TOKEN),
        secret=True,
    ),
    Setting(
        "SHOTFEED_OPERATOR_TOKENS",
        "operator_tokens",
        "",
        f"label:token,... for several operators; each token at least {MIN_TOKEN} characters.",
        Text(),
        secret=True,
    ),
    Setting(
        "SHOTFEED_OVERLAY_KEY",
        "overlay_key",
        "",
        "When set, overlays, the WebSocket and the REST feeds (state and its flat forms, "
        "events, shots, config) need ?key= (or an operator's bearer token).",
        Text(),
        secret=True,
    ),
    Setting(
        "SHOTFEED_HEARTBEAT_S",
        "heartbeat_s",
        15.0,
        "Seconds of silence before a WebSocket heartbeat; under 0.1 its sender would spin.",
        Number(integer=False, low=0.1),
    ),
    Setting(
        "SHOTFEED_RETAIN",
        "retain",
        1000,
        "Events kept in memory per game for WebSocket replay; 0 is refused, the hub would "
        "read it as no limit.",
        AT_LEAST_ONE,
    ),
    Setting(
        "SHOTFEED_QUEUE",
        "queue_size",
        256,
        "Messages a slow WebSocket client may lag behind before it is closed with 1013.",
        AT_LEAST_ONE,
    ),
    Setting(
        "SHOTFEED_ALLOWED_ORIGINS",
        "allowed_origins",
        "",
        "Browser origins allowed on the WebSocket and the operator API (and given CORS there); "
        "a page of another origin is refused 403; the server's own pages (overlays in OBS, the "
        "console) and requests without Origin (vMix, CasparCG, curl) are always allowed; * "
        "allows any; empty: no check, no CORS.",
        Listed("origins (scheme://host[:port]) or *", parse_origins),
    ),
    Setting(
        "SHOTFEED_HANDSHAKE_TIMEOUT_S",
        "handshake_timeout_s",
        10.0,
        "A connection that has not sent a whole request head (a WebSocket upgrade included) "
        "in this many seconds is closed (408 when it sent part of one).",
        Number(integer=False, low=0.1, high=3600),
    ),
    Setting(
        "SHOTFEED_MAX_CLIENTS",
        "max_clients",
        20000,
        "Open WebSocket clients at most; one more is refused 503 with Retry-After before the "
        "upgrade.",
        AT_LEAST_ONE,
    ),
    Setting(
        "SHOTFEED_MAX_CONNECTIONS",
        "max_connections",
        0,
        "Open TCP connections at most (HTTP and WebSocket); one more is answered 503 and "
        "closed at once. 0: the process's open-file limit less 64 kept for the store, the "
        "upstream and the logs.",
        Number(integer=True, low=0),
    ),
    Setting(
        "SHOTFEED_CONNECT_RATE",
        "connect_rate",
        50.0,
        "New connections per second allowed from one address (after a burst of "
        "SHOTFEED_CONNECT_BURST); more are answered 429 with Retry-After.",
        SECONDS,
    ),
    Setting(
        "SHOTFEED_CONNECT_BURST",
        "connect_burst",
        200,
        "New connections one address may open at once before SHOTFEED_CONNECT_RATE applies.",
        AT_LEAST_ONE,
    ),
    Setting(
        "SHOTFEED_LIMIT_EXEMPT",
        "limit_exempt",
        DEFAULT_EXEMPT,
        "Addresses the per-address connect rate does not apply to: by default loopback (this "
        "machine, a load generator, or a reverse proxy in front, where every viewer would "
        "share one address).",
        Listed("addresses or CIDR networks", Exempt.parse),
    ),
    Setting(
        "SHOTFEED_MAX_HEADER_BYTES",
        "max_header_bytes",
        32768,
        "Largest request head (request line and header fields), bytes; larger: 431.",
        Number(integer=True, low=1024, high=1048576),
    ),
    Setting(
        "SHOTFEED_MAX_HEADERS",
        "max_headers",
        100,
        "Most header fields in one request; more: 431.",
        Number(integer=True, low=8, high=10000),
    ),
    Setting(
        "SHOTFEED_AUTH_FAILURES",
        "auth_failures",
        10,
        "Wrong operator tokens one address may send before it is slowed: then 429 with "
        "Retry-After, no token checked, until SHOTFEED_AUTH_FAILURES_PER_MIN gives it a try.",
        AT_LEAST_ONE,
    ),
    Setting(
        "SHOTFEED_AUTH_FAILURES_PER_MIN",
        "auth_failures_per_min",
        10.0,
        "Tries a slowed address gets back per minute.",
        SECONDS,
    ),
    Setting(
        "REDIS_URL",
        "redis_url",
        "",
        "Redis for scale-out (shotfeed web / shotfeed poll, docs/deploy.md); empty: one "
        "process, SQLite, no Redis.",
        Url(("redis", "rediss", "unix"), optional=True),
    ),
    Setting(
        "SHOTFEED_REDIS_PREFIX",
        "redis_prefix",
        "shotfeed",
        "Prefix of every Redis key shotfeed uses: several deployments (a rehearsal beside the "
        "show) can share one Redis.",
        Text(required=True),
    ),
    Setting(
        "SHOTFEED_LEADER_TTL_S",
        "leader_ttl_s",
        5.0,
        "Redis: how long a poll process's lead on a game lasts unless renewed (every third of "
        "it); a killed leader is replaced about this long after its last renewal.",
        Number(integer=False, low=0.3, high=600),
    ),
    Setting("HOST", "host", "127.0.0.1", "Address to listen on.", Text(required=True)),
    Setting("PORT", "port", 8000, "Port to listen on.", Number(integer=True, low=1, high=65535)),
)

_BY_ATTR: dict[str, Setting] = {s.attr: s for s in SETTINGS}


def _field(attr: str) -> Any:
    """A dataclass field whose default (and whether repr shows it) comes from SETTINGS."""
    s = _BY_ATTR[attr]
    return field(default=s.default, repr=not s.secret)


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of the server; ``from_environ`` is the only place the environment is read.

    The fields' types are written here for the type checker; their defaults live in SETTINGS.
    """

    username: str = _field("username")
    secret: str = _field("secret")
    base_url: str = _field("base_url")
    games: tuple[str, ...] = _field("games")
    db_path: str = _field("db_path")
    poll_interval: float = _field("poll_interval")
    idle_interval: float = _field("idle_interval")
    backoff_cap: float = _field("backoff_cap")
    auth_retry: float = _field("auth_retry")
    timeout: float = _field("timeout")
    stale_s: float = _field("stale_s")
    run_threshold: int = _field("run_threshold")
    hot_hand: int = _field("hot_hand")
    operator_token: str = _field("operator_token")
    operator_tokens: str = _field("operator_tokens")
    overlay_key: str = _field("overlay_key")
    heartbeat_s: float = _field("heartbeat_s")
    retain: int = _field("retain")
    queue_size: int = _field("queue_size")
    allowed_origins: str = _field("allowed_origins")
    handshake_timeout_s: float = _field("handshake_timeout_s")
    max_clients: int = _field("max_clients")
    max_connections: int = _field("max_connections")
    connect_rate: float = _field("connect_rate")
    connect_burst: int = _field("connect_burst")
    limit_exempt: str = _field("limit_exempt")
    max_header_bytes: int = _field("max_header_bytes")
    max_headers: int = _field("max_headers")
    auth_failures: int = _field("auth_failures")
    auth_failures_per_min: float = _field("auth_failures_per_min")
    redis_url: str = _field("redis_url")
    redis_prefix: str = _field("redis_prefix")
    leader_ttl_s: float = _field("leader_ttl_s")
    host: str = _field("host")
    port: int = _field("port")

    def __post_init__(self) -> None:
        for s in SETTINGS:
            value = getattr(self, s.attr)
            problem = s.kind.problem(value)
            if problem:
                raise ConfigError(_message(s, _shown(s, value), problem))

    @classmethod
    def from_environ(cls, env: Mapping[str, str], **overrides: Any) -> Settings:
        """Settings from ``env``; an empty variable means its default.

        ``overrides`` (None = not given) win over the environment; a bad one is reported under
        its variable's name too, marked as given on the command line.
        """
        values: dict[str, Any] = {}
        for s in SETTINGS:
            raw = env.get(s.env, "").strip()
            if raw:
                values[s.attr] = _parse(s, raw)
        for attr, value in overrides.items():
            if value is None:
                continue
            given = _BY_ATTR.get(attr)
            if given is None:
                raise TypeError(f"Settings has no setting {attr!r}")
            problem = given.kind.problem(value)
            if problem:
                shown = f"{_shown(given, value)} (given on the command line)"
                raise ConfigError(_message(given, shown, problem))
            values[attr] = value
        return cls(**values)

    @property
    def signing(self) -> bool:
        return bool(self.username and self.secret)


def _parse(s: Setting, raw: str) -> object:
    try:
        value = s.kind.parse(raw)
    except ValueError:
        raise ConfigError(_message(s, _shown(s, raw), f"must be {s.kind.describe()}")) from None
    problem = s.kind.problem(value)
    if problem:
        raise ConfigError(_message(s, _shown(s, raw), problem))
    return value


def _shown(s: Setting, value: object) -> str:
    """The value as a message may show it: a secret is never echoed (logs keep messages)."""
    if s.secret:
        return "<hidden>"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def _message(s: Setting, shown: str, problem: str) -> str:
    return f"{s.env}={shown}: {problem} ({s.help})"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _default_cell(value: object) -> str:
    if value == "":
        return "(empty)"
    if value == ():
        return "(none)"
    return f"`{value}`"


def render_markdown() -> str:
    """docs/config.md, as the table says it; tests/test_config.py fails when the file differs."""
    lines = [
        "# Configuration",
        "",
        "<!-- Generated from server/config.py SETTINGS: python -m server.config > docs/config.md"
        " -->",
        "",
        "shotfeed reads these environment variables once, at start. An empty variable means its",
        "default. A value outside its valid range stops the server at start with a message",
        "naming the variable (exit status 2 from the command line); the command line's flags",
        "(`--port`, `--poll-interval`, `--host`, `--upstream`, `--db`, `--game`) override the",
        "environment and are checked the same way. Secret values are never echoed.",
        "",
        "| variable | default | meaning | valid |",
        "| --- | --- | --- | --- |",
    ]
    for s in SETTINGS:
        cells = (f"`{s.env}`", _default_cell(s.default), s.help, s.kind.describe())
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")
