"""vMix titles pushed live: which shotfeed field goes into which title field, and what to send.

Why push: a vMix Data Source polls its URL (every second at best) and an operator must bind
it by hand; a GT title fed through vMix's own HTTP API (``/api/?Function=SetText``) changes the
moment shotfeed knows. The operator maps shotfeed's fields (the columns of ``state.flat.json``:
``home_score``, ``clock``, ``last_shot_player``…) to the title's field names
(``HomeScore.Text``), per game, in the config (``PUT …/config {"vmix": …}``) or the console.

Pure: the mapping is validated here, and :func:`plan` says which calls one new row needs given
what vMix was last sent; the shell (``server.live.vmix_push``) only sends them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

from server.errors import ConfigError

MAX_FIELDS: Final = 64
MAX_NAME: Final = 120
DEFAULT_URL: Final = "http://127.0.0.1:8088"

# What may be mapped: the flat row's columns (server.core.snapshot.flat_row), listed here so a
# typo is refused when the mapping is set, not silently never sent.
SOURCES: Final = (
    "game",
    "status",
    "period",
    "period_label",
    "period_short",
    "clock",
    "clock_raw",
    "clock_running",
    *(
        f"{side}_{key}"
        for side in ("home", "away")
        for key in (
            "name",
            "short",
            "score",
            "color",
            "team_id",
            "fgm",
            "fga",
            "fg3m",
            "fg3a",
        )
    ),
    "leader",
    "last_shot_player",
    "last_shot_number",
    "last_shot_pid",
    "last_shot_team",
    "last_shot_result",
    "last_shot_points",
    "last_shot_distance_ft",
    "feed_ok",
    "feed_error",
    "held",
    "seq",
)


@dataclass(frozen=True, slots=True)
class VmixConfig:
    """Where vMix is, which input (number, name or GUID) holds the title, and the field map
    ``{source: SelectedName}``. ``enabled`` pauses pushing without losing the map."""

    url: str = DEFAULT_URL
    input: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)
    enabled: bool = True

    @property
    def active(self) -> bool:
        return self.enabled and self.input is not None and bool(self.fields)

    def to_data(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "input": self.input,
            "fields": dict(self.fields),
            "enabled": self.enabled,
        }

    def merged(self, patch: Any) -> VmixConfig:
        """A partial update (fields left out stay); ``fields`` replaces the whole map, and a
        source mapped to null is taken out of it. ConfigError, naming the field, if malformed."""
        if not isinstance(patch, Mapping):
            raise ConfigError("vmix must be an object with url, input, fields, enabled")
        unknown = sorted(str(k) for k in set(patch) - {"url", "input", "fields", "enabled"})
        if unknown:
            raise ConfigError(f"unknown vmix field(s): {', '.join(unknown)}")
        url, input_, fields, enabled = self.url, self.input, dict(self.fields), self.enabled
        if "url" in patch:
            url = _url(patch["url"])
        if "input" in patch:
            input_ = _name(patch["input"], "vmix.input") if patch["input"] is not None else None
        if "enabled" in patch:
            if not isinstance(patch["enabled"], bool):
                raise ConfigError("vmix.enabled must be true or false")
            enabled = patch["enabled"]
        if "fields" in patch:
            raw = patch["fields"]
            if not isinstance(raw, Mapping):
                raise ConfigError("vmix.fields must be an object of source -> title field name")
            fields = {}
            for source, target in raw.items():
                if source not in SOURCES:
                    raise ConfigError(
                        f"vmix.fields: {str(source)[:40]!r} is not a shotfeed field; "
                        f"known: {', '.join(SOURCES)}"
                    )
                if target is None:
                    continue
                fields[str(source)] = _name(target, f"vmix.fields.{source}")
            if len(fields) > MAX_FIELDS:
                raise ConfigError(f"vmix.fields maps at most {MAX_FIELDS} fields")
        return VmixConfig(url, input_, fields, enabled)

    @classmethod
    def from_data(cls, data: Any) -> VmixConfig:
        return cls().merged(data or {})


def _url(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 200:
        raise ConfigError("vmix.url must be a URL like http://127.0.0.1:8088")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("vmix.url must be an http:// or https:// URL like http://127.0.0.1:8088")
    if parts.query or parts.fragment or (parts.path not in ("", "/")):
        raise ConfigError("vmix.url is vMix's address only (http://host:8088), without a path")
    return f"{parts.scheme}://{parts.netloc}"


def _name(value: Any, where: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # an input by number
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} must be a non-empty string")
    if len(value) > MAX_NAME:
        raise ConfigError(f"{where} is longer than {MAX_NAME} characters")
    return value.strip()


@dataclass(frozen=True, slots=True)
class Call:
    """One ``SetText`` for one title field."""

    selected: str
    value: str

    def query(self, config: VmixConfig) -> str:
        """The request's path and query, as vMix's HTTP API documents it."""
        params = {
            "Function": "SetText",
            "Input": config.input or "",
            "SelectedName": self.selected,
            "Value": self.value,
        }
        return "/api/?" + urlencode(params)


def plan(config: VmixConfig, sent: Mapping[str, str], row: Mapping[str, str]) -> list[Call]:
    """The calls that bring vMix from ``sent`` (title field -> the value it was last sent) to
    ``row``, in the map's order; nothing when inactive or already there. A source missing from
    the row sends an empty text (the field clears rather than showing a stale value)."""
    if not config.active:
        return []
    calls = []
    for source, selected in config.fields.items():
        value = row.get(source, "")
        if sent.get(selected) != value:
            calls.append(Call(selected, value))
    return calls
