"""Server-rendered pages: the index (games, feed health, overlay URLs ready to paste).

Templates live in ``overlays/`` (Jinja2, autoescaped: every upstream or operator text is shown
as text, never as HTML). Names starting with ``_`` are pages or partials, not overlays.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from server.web.assets import TEMPLATES_DIR

# name -> what it is; the overlay pages themselves arrive with the overlays work.
OVERLAYS: dict[str, str] = {
    "scorebug": "Score bug: teams, score, period and running clock",
    "three": "Made-three splash with player and distance",
    "period": "Period change banner with period totals",
    "ticker": "Ticker of recent events",
    "shotchart": "Half-court shot chart, makes and misses",
    "scoreboard": "Full-screen arena scoreboard",
    "lowerthird": "Lower third with free text, fired from the operator console",
    "playercard": "Player card: a player's line tonight with a zone map and guarded/unguarded",
    "zones": "Half court coloured by FG% per zone, for a team or a player",
    "compare": "Home vs away on any tracking split",
}


def templates() -> Jinja2Templates:
    return Jinja2Templates(directory=str(TEMPLATES_DIR))


async def index(request: Request) -> Response:
    games = request.app.state.games
    settings = request.app.state.settings
    base = str(request.base_url).rstrip("/")
    rows = []
    for game_id in games.games:
        state = games.state(game_id)
        key = "&key=YOUR_OVERLAY_KEY" if settings.overlay_key else ""
        flat_key = "?key=YOUR_OVERLAY_KEY" if settings.overlay_key else ""
        rows.append(
            {
                "id": game_id,
                "state": state,
                "overlays": [
                    {
                        "name": name,
                        "about": about,
                        "url": f"{base}/overlays/{name}?game={game_id}{key}",
                        # a live preview; not on a keyed server (the index would give the key away)
                        "thumb": None if key else f"/overlays/{name}?game={game_id}",
                    }
                    for name, about in OVERLAYS.items()
                ],
                "ws": f"{base.replace('http', 'ws', 1)}/ws/games/{game_id}",
                # vMix data sources: a keyed server wants the key on these too (a URL is all
                # such a source can carry); the placeholder, never the key itself
                "flat": [
                    f"{base}/api/games/{game_id}/state.{ext}{flat_key}"
                    for ext in ("xml", "csv", "flat.json")
                ],
            }
        )
    tpl: Jinja2Templates = request.app.state.templates
    return tpl.TemplateResponse(request, "_index.html", {"games": rows})
