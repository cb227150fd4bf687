"""Overlay pages: ``GET /overlays/{name}`` and ``GET /overlays/{name}/manifest.json``.

An overlay is a Jinja2 template ``overlays/{name}.html`` (autoescaped) built on
``overlays/_base.html`` and ``static/feed.js``. The query parameters are parsed here, from one
table (``PARAMS``) that also feeds the manifest's JSON Schema and ``docs/overlays.md``: a value
reaches the page only inside a JSON block rendered with ``|tojson``, never interpolated into
HTML or script. A colour that is not ``#rgb``/``#rrggbb`` is ignored, an integer out of range is
clamped, anything unreadable falls back to the default.

Pages carry a Content-Security-Policy with a per-response nonce: scripts only from this server
(and the page's own nonce'd inline module), connections only back to this server, so an
injected ``<script>`` or ``<img onerror>`` cannot run even if one ever got into the markup.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from server.core.events import PROTOCOL_VERSION
from server.core.tracker import shot_data
from server.web.api import OrjsonResponse, error_response, key_ok
from server.web.assets import TEMPLATES_DIR, asset_urls, content_security_policy, package_version
from server.web.pages import OVERLAYS, templates

WIDTH = 1920
HEIGHT = 1080
_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_THEME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_GAME = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # as server.live.following.check_game_id
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
THEMES = ("default", "light")
# Static files a page loads; their URLs carry a content hash so a browser source never keeps
# an old feed.js after an upgrade.
ASSETS = ("contract.js", "feed.js", "overlay.css", "zones.js")
PENDING = "_pending.html"


@dataclass(frozen=True, slots=True)
class Param:
    """One query parameter of every overlay page."""

    name: str
    type: str  # JSON Schema type: "string", "integer" or "boolean"
    default: Any
    description: str
    minimum: int | None = None
    maximum: int | None = None
    pattern: str | None = None
    required: bool = False

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "description": self.description}
        if self.default is not None:
            out["default"] = self.default
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.pattern is not None:
            out["pattern"] = self.pattern
        if self.name == "theme":
            out["examples"] = list(THEMES)
        return out


PARAMS: tuple[Param, ...] = (
    Param(
        "game",
        "string",
        None,
        "ShotTracker event id of the game to follow (required).",
        pattern=_GAME.pattern,
        required=True,
    ),
    Param(
        "theme",
        "string",
        "default",
        "Look of the graphics: default (dark) or light; any other lower-case name only sets the "
        "class theme-<name> on the page, for a browser source's custom CSS.",
        pattern=_THEME.pattern,
    ),
    Param(
        "home_color",
        "string",
        None,
        "Home team colour, #rgb or #rrggbb; overrides the colour configured on the server. "
        "Anything else is ignored.",
        pattern=_COLOR.pattern,
    ),
    Param(
        "away_color",
        "string",
        None,
        "Away team colour, #rgb or #rrggbb; overrides the colour configured on the server. "
        "Anything else is ignored.",
        pattern=_COLOR.pattern,
    ),
    Param(
        "hold_ms",
        "integer",
        4000,
        "How long a splash (made three, banner) stays on air between its in and out "
        "animations, in milliseconds.",
        minimum=1000,
        maximum=30000,
    ),
    Param(
        "delay_ms",
        "integer",
        0,
        "Hold every message back this long, in milliseconds, so the graphics match a delayed "
        "video stream (the state shown lags too). 0 for the arena and undelayed outputs.",
        minimum=0,
        maximum=120000,
    ),
    Param(
        "autoplay",
        "boolean",
        True,
        "Show the graphic at once (OBS, vMix). 0 makes it wait for the CasparCG play() call.",
    ),
    Param(
        "debug",
        "boolean",
        False,
        "Show a small panel with the connection state, seq and what played. Never on air.",
    ),
    Param(
        "key",
        "string",
        None,
        "The overlay key, required when the server runs with SHOTFEED_OVERLAY_KEY.",
    ),
)
PARAM_BY_NAME: Mapping[str, Param] = {p.name: p for p in PARAMS}

_PID = r"^[A-Za-z0-9._:-]{1,64}$"
_SPLIT = (
    r"^(?:fg|fg3|points|guarded|unguarded|offDribble|catchShoot"
    r"|(?:zones|advancedZones|types|distance)\.[A-Za-z0-9+_-]{1,32})$"
)
# Parameters one page reads itself (the page's script, not parse_params): the subject of the
# tracking-split graphics when the operator's payload names none. Listed in that overlay's
# manifest only.
PAGE_PARAMS: Mapping[str, tuple[Param, ...]] = {
    "playercard": (
        Param("pid", "string", None, "The player shown when the payload names none.", pattern=_PID),
    ),
    "zones": (
        Param("pid", "string", None, "The player shown when the payload names none.", pattern=_PID),
        Param(
            "team",
            "string",
            None,
            "The team shown when the payload names no team or player (pid wins).",
            pattern=r"^(?:home|away)$",
        ),
        Param(
            "map",
            "string",
            "zones",
            "zones (14) or advancedZones (23), when the payload names none.",
            pattern=r"^(?:zones|advancedZones)$",
        ),
        Param(
            "highlight",
            "string",
            None,
            "A zone number of the map to outline, when the payload names none.",
            pattern=r"^\d{1,3}$",
        ),
    ),
    "compare": (
        Param(
            "split",
            "string",
            None,
            "The split compared when the payload names none (fg, fg3, points, guarded, "
            "unguarded, offDribble, catchShoot, zones.<z>, advancedZones.<az>, types.<TYPE>, "
            "distance.<band>); without it, a table of several.",
            pattern=_SPLIT,
        ),
    ),
}


def params_of(name: str) -> tuple[Param, ...]:
    """Every query parameter of one overlay: the shared ones, then its own."""
    return PARAMS + PAGE_PARAMS.get(name, ())


class ParamError(ValueError):
    """A query that cannot make a page (a missing or malformed game id)."""


def _bool(raw: str | None, default: bool) -> bool:
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return default


def _int(raw: str | None, param: Param) -> int:
    default = int(param.default)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        return default
    lo = param.minimum if param.minimum is not None else value
    hi = param.maximum if param.maximum is not None else value
    return max(lo, min(hi, value))


def _color(raw: str | None) -> str | None:
    if raw is None:
        return None
    value = raw.strip()
    return value.lower() if _COLOR.match(value) else None


def parse_params(query: Mapping[str, str]) -> dict[str, Any]:
    """The page's config from its query string; raises ParamError without a usable game id."""
    game = (query.get("game") or "").strip()
    if not game:
        raise ParamError("game=<ShotTracker event id> is required")
    if not _GAME.match(game):
        raise ParamError("game must be 1-128 characters of letters, digits and . _ : -")
    theme = (query.get("theme") or "").strip().lower()
    return {
        "game": game,
        "theme": theme if _THEME.match(theme) else "default",
        "homeColor": _color(query.get("home_color")),
        "awayColor": _color(query.get("away_color")),
        "holdMs": _int(query.get("hold_ms"), PARAM_BY_NAME["hold_ms"]),
        "delayMs": _int(query.get("delay_ms"), PARAM_BY_NAME["delay_ms"]),
        "autoplay": _bool(query.get("autoplay"), True),
        "debug": _bool(query.get("debug"), False),
        "key": query.get("key") or None,
    }


def _unknown(name: str) -> Response:
    return error_response(
        404, "not_found", f"no overlay {name[:40]!r}; overlays: {', '.join(OVERLAYS)}"
    )


async def overlay_page(request: Request) -> Response:
    name = str(request.path_params["name"])
    if name not in OVERLAYS:
        return _unknown(name)
    settings = request.app.state.settings
    if not key_ok(request.query_params.get("key"), settings.overlay_key):
        return error_response(403, "forbidden", "this overlay needs ?key=<overlay key>")
    try:
        config = parse_params(request.query_params)
    except ParamError as exc:
        return error_response(400, "bad_request", str(exc))
    config.update(
        overlay=name,
        protocol=PROTOCOL_VERSION,
        serverNow=int(time.time() * 1000),
        width=WIDTH,
        height=HEIGHT,
    )
    nonce = secrets.token_urlsafe(16)
    tpl: Jinja2Templates = getattr(request.app.state, "templates", None) or templates()
    # an overlay whose template is not written yet renders a blank, transparent stand-in
    template = f"{name}.html" if (TEMPLATES_DIR / f"{name}.html").is_file() else PENDING
    response = tpl.TemplateResponse(
        request,
        template,
        {
            "config": config,
            "nonce": nonce,
            "assets": asset_urls(ASSETS),
            "overlay": name,
            "about": OVERLAYS[name],
        },
    )
    response.headers["content-security-policy"] = content_security_policy(
        request.headers.get("host", ""), nonce=nonce, inline_styles=True
    )
    response.headers["cache-control"] = "no-store"
    response.headers["referrer-policy"] = "no-referrer"
    response.headers["x-content-type-options"] = "nosniff"
    return response


def manifest(name: str, page_url: str) -> dict[str, Any]:
    """The overlay's OGraf-style manifest (what the page is, its parameters, how to drive it)."""
    required = [p.name for p in PARAMS if p.required]
    return {
        "id": f"shotfeed-{name}",
        "name": name,
        "description": OVERLAYS[name],
        "version": package_version(),
        "author": {"name": "shotfeed"},
        "url": page_url,
        "width": WIDTH,
        "height": HEIGHT,
        "transparent": name != "scoreboard",
        "supportsRealTime": True,
        "supportsNonRealTime": False,
        "stepCount": 1,
        "parameters": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": f"{name} query parameters",
            "type": "object",
            "properties": {p.name: p.schema() for p in params_of(name)},
            "required": required,
            "additionalProperties": False,
        },
        "schema": {
            "description": (
                "What update() takes (a JSON string or object): a hello message "
                '{"type": "hello", "state": {...}}, one event {"type", "data"} as on the '
                "WebSocket, or a partial state object (e.g. "
                '{"home": {"score": 12}, "clock": "00:09:58", "clockRunning": true}).'
            ),
            "type": "object",
        },
        "casparcg": {
            "functions": ["update", "play", "next", "stop"],
            "update": "update(data): apply a state, hello or event; never animates by itself",
            "play": "play(): show the graphic (and play what update() loaded)",
            "next": "next(): end the current splash early and go on to the next one",
            "stop": "stop(): animate out; automatic graphics stay off until play()",
        },
        "obs": {"events": ["obsSourceVisibleChanged", "obsSourceActiveChanged"]},
    }


async def overlay_manifest(request: Request) -> Response:
    name = str(request.path_params["name"])
    if name not in OVERLAYS:
        return _unknown(name)
    url = str(request.url_for("overlay", name=name))
    return OrjsonResponse(manifest(name, url))


# What the shot chart draws from, per shot: the rest of `shot` data (player, session, clock,
# attributes...) would be ~5x the bytes of its page for a whole game.
SHOTCHART_FIELDS = ("key", "t", "x", "y", "made", "three", "team")


async def shotchart_shots(request: Request) -> Response:
    """``GET /overlays/shotchart/shots.json?game=ID``: every counting shot of the game (oldest
    first) as compact rows of ``SHOTCHART_FIELDS``, for the shot chart page to load once on
    hello. The same shots as ``/api/games/{id}/shots``; the overlay key applies as to the page.
    """
    settings = request.app.state.settings
    if not key_ok(request.query_params.get("key"), settings.overlay_key):
        return error_response(403, "forbidden", "this overlay needs ?key=<overlay key>")
    game_id = (request.query_params.get("game") or "").strip()
    game = request.app.state.games.games.get(game_id) if _GAME.match(game_id) else None
    if game is None:
        return error_response(404, "not_found", "no such game is being followed")
    state, config = game.state, game.config
    present = sorted((k for k in state.shots.values() if k.present), key=lambda k: k.shot.t)
    rows = []
    for known in present:
        data = shot_data(known, config, state)
        rows.append([data[f] for f in SHOTCHART_FIELDS])
    response = OrjsonResponse({"fields": list(SHOTCHART_FIELDS), "shots": rows})
    response.headers["cache-control"] = "no-store"
    return response


ROUTES = [
    Route("/overlays/shotchart/shots.json", shotchart_shots, methods=["GET"]),
    Route("/overlays/{name}", overlay_page, methods=["GET"], name="overlay"),
    Route("/overlays/{name}/manifest.json", overlay_manifest, methods=["GET"]),
]
