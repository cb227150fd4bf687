"""The operator console: ``GET /operator``, one page to run a live show.

The page itself is public (it holds nothing secret) and asks for an operator token, which it
keeps in ``sessionStorage`` and sends as ``Authorization: Bearer`` to the operator API; there is
no cookie, so there is nothing for a cross-site request to ride on. Everything it shows comes
from the API and the WebSocket feed (``static/operator.js``), and every text from upstream or an
operator goes on screen as text (``textContent``), never as HTML.

The page is a Jinja2 template (``overlays/operator.html``, autoescaped) plus ``static/
operator.js`` and ``static/operator.css``: no build step, nothing from outside the server. Its
Content-Security-Policy allows scripts and styles only from this server, connections only back
to it, frames (the overlay previews) only from it, and nobody may frame the console itself.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from server.core.contract import SHORTCUTS
from server.core.events import AUTOMATIC_TYPES, PROTOCOL_VERSION
from server.web.assets import asset_urls, content_security_policy
from server.web.pages import OVERLAYS, templates

TEMPLATE = "operator.html"
ASSETS = ("contract.js", "operator.js", "operator.css", "feed.js")


async def operator_page(request: Request) -> Response:
    tpl: Jinja2Templates = getattr(request.app.state, "templates", None) or templates()
    assets = asset_urls(ASSETS)
    config = {
        "protocol": PROTOCOL_VERSION,
        "serverNow": int(time.time() * 1000),
        "assets": assets,
        "overlays": [{"name": n, "about": a} for n, a in OVERLAYS.items()],
        "automatic": list(AUTOMATIC_TYPES),
    }
    response = tpl.TemplateResponse(
        request,
        TEMPLATE,
        {"config": config, "assets": assets, "shortcuts": SHORTCUTS},
    )
    response.headers["content-security-policy"] = content_security_policy(
        request.headers.get("host", ""), frames=True, framable=False
    )
    response.headers["cache-control"] = "no-store"
    response.headers["referrer-policy"] = "no-referrer"
    response.headers["x-content-type-options"] = "nosniff"
    response.headers["x-frame-options"] = "DENY"
    return response


ROUTES = [Route("/operator", operator_page, methods=["GET"], name="operator")]
