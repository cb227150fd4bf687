"""What a control surface needs to draw its buttons: ``GET /api/games/{id}/control``.

A Stream Deck page (Bitfocus Companion, ``integrations/companion/``) or any other button box
shows one button per graphic the operator can fire, lit while that graphic is on air, and one
per automatic type it can arm or veto. It needs each graphic under a stable id with a label a
person reads and an example payload, and on-air booleans rather than a map to search. This
route gives exactly that, read-only, from the same state every client gets (no second truth):
``state.graphics``, ``held``, ``autofire``, ``feed`` and ``suggestions``.

The actions themselves stay on the operator routes of ``server.web.api`` (graphics, hold,
panic, override, suggestions): a control surface calls them with the operator token like the
console does. This route is a game's read route like ``state`` (``keyed``: with an overlay
key set it needs ``?key=`` or an operator token).
"""

from __future__ import annotations

from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.core import events as ev
from server.core.operator_requests import ARMABLE
from server.core.suggestions import AUTOFIRE_PREFIX
from server.live.following import Games
from server.web.api import ApiError, OrjsonResponse, keyed
from server.web.pages import OVERLAYS

# The graphics an operator fires by name (a `graphic` event an overlay reacts to), in the
# order a button page lists them, each with a label for a button and an example payload (what
# that overlay reads; see docs/overlays.md). The scorebug, shot chart and arena scoreboard are
# always-on pages: nothing fires them, so they are not here.
GRAPHICS: Final[tuple[tuple[str, str, dict[str, Any]], ...]] = (
    ("lowerthird", "Lower third", {"title": "", "subtitle": "", "team": None}),
    (
        "three",
        "Three splash",
        {"player": {"name": "", "number": ""}, "team": "home", "distanceFt": 24},
    ),
    ("period", "Period banner", {}),
    ("ticker", "Ticker line", {"text": ""}),
    ("playercard", "Player card", {"pid": ""}),
    ("zones", "Zones", {"team": "home"}),
    ("compare", "Compare", {"split": "fg"}),
)
GRAPHIC_IDS: Final = tuple(gid for gid, _, _ in GRAPHICS)


def armable_label(key: str) -> str:
    """``made_three`` -> "Made three"; ``suggestion:zone_streak`` -> "Suggest: zone streak"."""
    if key.startswith(AUTOFIRE_PREFIX):
        return "Suggest: " + key[len(AUTOFIRE_PREFIX) :].replace("_", " ")
    return key.replace("_", " ").capitalize()


def control_doc(state: dict[str, Any]) -> dict[str, Any]:
    """The control document of one game from its client state (``GET …/state``). Pure."""
    graphics: dict[str, Any] = state.get("graphics") or {}
    autofire: dict[str, Any] = state.get("autofire") or {}
    rows = [
        {
            "id": gid,
            "label": label,
            "about": OVERLAYS.get(gid, label),
            "onAir": gid in graphics,
            "payload": graphics.get(gid),
            "example": example,
        }
        for gid, label, example in GRAPHICS
    ]
    # A graphic fired by any other name (the console's "any graphic") is on air too: listed
    # after the known ones, under its own name, so a surface can still show and hide it.
    rows += [
        {
            "id": name,
            "label": name,
            "about": None,
            "onAir": True,
            "payload": payload,
            "example": {},
        }
        for name, payload in sorted(graphics.items())
        if name not in GRAPHIC_IDS
    ]
    suggestions: list[dict[str, Any]] = state.get("suggestions") or []
    top = suggestions[0] if suggestions else None
    return {
        "game": state.get("game"),
        "seq": state.get("seq"),
        "graphics": rows,
        "onAir": sorted(graphics),
        "held": bool(state.get("held")),
        "automatic": list(ev.AUTOMATIC_TYPES),
        "armable": [
            {
                "id": key,
                "label": armable_label(key),
                "kind": "suggestion" if key.startswith(AUTOFIRE_PREFIX) else "automatic",
                # automatic types are armed unless vetoed; suggestion rules only once armed
                "armed": bool(autofire.get(key, not key.startswith(AUTOFIRE_PREFIX))),
            }
            for key in ARMABLE
        ],
        "feed": state.get("feed"),
        "override": bool((state.get("override") or {}).get("active")),
        "suggestion": (
            None
            if top is None
            else {
                "id": top.get("id"),
                "text": top.get("text"),
                "graphic": top.get("graphic"),
                "rule": top.get("rule"),
                "expiresAt": top.get("expiresAt"),
            }
        ),
        "suggestions": len(suggestions),
    }


@keyed
async def game_control(request: Request) -> Response:
    games: Games = request.app.state.games
    game_id = str(request.path_params["event_id"])
    if game_id not in games.games:
        raise ApiError(404, "not_found", f"game {game_id!r} is not being followed")
    return OrjsonResponse(control_doc(games.state(game_id)))


ROUTES: Final[list[Route]] = [
    Route("/api/games/{event_id}/control", game_control, methods=["GET"]),
]
