"""Settings, read once from an environment mapping (never at import time).

One table of (variable, default, help) feeds the defaults, the parsing and ``docs/config.md``;
a value that cannot be used raises ConfigError naming the variable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from server.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Setting:
    env: str
    attr: str
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("SHOTTRACKER_USERNAME", "username", "", "ShotTracker-issued username for signing."),
    Setting(
        "SHOTTRACKER_SECRET", "secret", "", "ShotTracker-issued secret; never leaves the server."
    ),
    Setting(
        "SHOTTRACKER_BASE_URL", "base_url", "https://api.shottracker.com", "Upstream base URL."
    ),
    Setting("SHOTFEED_GAMES", "games", (), "Comma list of ShotTracker event ids to follow."),
    Setting("SHOTFEED_DB", "db_path", "./shotfeed.db", "SQLite store path."),
    Setting(
        "SHOTFEED_POLL_INTERVAL", "poll_interval", 1.0, "Seconds between polls of an ACTIVE game."
    ),
    Setting(
        "SHOTFEED_IDLE_INTERVAL",
        "idle_interval",
        5.0,
        "Seconds between polls of a game not ACTIVE.",
    ),
    Setting(
        "SHOTFEED_BACKOFF_CAP", "backoff_cap", 30.0, "Upper bound of the retry backoff, seconds."
    ),
    Setting("SHOTFEED_AUTH_RETRY", "auth_retry", 30.0, "Seconds between retries after 401/403."),
    Setting("SHOTFEED_TIMEOUT", "timeout", 5.0, "Upstream request timeout, seconds."),
    Setting(
        "SHOTFEED_STALE_S", "stale_s", 20.0, "A shot older than the newest by this much is stale."
    ),
    Setting(
        "SHOTFEED_RUN_THRESHOLD", "run_threshold", 8, "Unanswered points that make a scoring_run."
    ),
    Setting("SHOTFEED_HOT_HAND", "hot_hand", 3, "Consecutive makes that make a hot_hand."),
    Setting("SHOTFEED_OPERATOR_TOKEN", "operator_token", "", "Bearer token for operator routes."),
    Setting(
        "SHOTFEED_OPERATOR_TOKENS", "operator_tokens", "", "label:token,... for several operators."
    ),
    Setting("SHOTFEED_OVERLAY_KEY", "overlay_key", "", "When set, overlays need ?key=."),
    Setting("SHOTFEED_HEARTBEAT_S", "heartbeat_s", 15.0, "Seconds of silence before a heartbeat."),
    Setting(
        "SHOTFEED_RETAIN", "retain", 1000, "Events kept in memory per game for WebSocket replay."
    ),
    Setting(
        "SHOTFEED_QUEUE", "queue_size", 256, "Messages a slow WebSocket client may lag behind."
    ),
    Setting("REDIS_URL", "redis_url", "", "Redis for scale-out (web/poll split)."),
    Setting("HOST", "host", "127.0.0.1", "Address to listen on."),
    Setting("PORT", "port", 8000, "Port to listen on."),
)


def _games(raw: str) -> tuple[str, ...]:
    return tuple(g.strip() for g in raw.split(",") if g.strip())


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of the server; ``from_environ`` is the only place the environment is read."""

    username: str = ""
    secret: str = field(default="", repr=False)
    base_url: str = "https://api.shottracker.com"
    games: tuple[str, ...] = ()
    db_path: str = "./shotfeed.db"
    poll_interval: float = 1.0
    idle_interval: float = 5.0
    backoff_cap: float = 30.0
    auth_retry: float = 30.0
    timeout: float = 5.0
    stale_s: float = 20.0
    run_threshold: int = 8
    hot_hand: int = 3
    operator_token: str = field(default="", repr=False)
    operator_tokens: str = field(default="", repr=False)
    overlay_key: str = field(default="", repr=False)
    heartbeat_s: float = 15.0
    retain: int = 1000
    queue_size: int = 256
    redis_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8000

    @classmethod
    def from_environ(cls, env: Mapping[str, str], **overrides: Any) -> Settings:
        values: dict[str, Any] = {}
        types = {f.name: f.type for f in fields(cls)}
        for s in SETTINGS:
            raw = env.get(s.env)
            if raw is None or raw == "":
                continue
            values[s.attr] = _cast(s, raw, str(types[s.attr]))
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        positive = ("poll_interval", "idle_interval", "backoff_cap", "auth_retry", "timeout")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{_env_of(name)} must be > 0, got {getattr(self, name)!r}")
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"SHOTTRACKER_BASE_URL must be an http(s) URL, got {self.base_url!r}")
        if self.queue_size < 1 or self.retain < 0:
            raise ConfigError("SHOTFEED_QUEUE must be >= 1 and SHOTFEED_RETAIN >= 0")

    @property
    def signing(self) -> bool:
        return bool(self.username and self.secret)


def _env_of(attr: str) -> str:
    return next(s.env for s in SETTINGS if s.attr == attr)


def _cast(setting: Setting, raw: str, type_name: str) -> Any:
    casts: dict[str, Callable[[str], Any]] = {"float": float, "int": int, "str": str}
    if "tuple" in type_name:
        return _games(raw)
    cast = casts.get(type_name, str)
    try:
        value = cast(raw.strip())
    except ValueError as exc:
        raise ConfigError(
            f"{setting.env}={raw!r} is not a valid {type_name} ({setting.help})"
        ) from exc
    return value
