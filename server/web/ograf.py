"""OGraf v1 graphics: every overlay published as an EBU OGraf graphic (docs/overlays.md, "OGraf").

- ``GET /ograf/`` lists them, in the shape of the OGraf Server API's ``GET /graphics``
  (``{"graphics": [{"id", "name", "description"}]}``) plus vendor fields with the URLs.
- ``GET /ograf/{name}/{name}.ograf.json`` is the graphic's manifest (v1 graphics schema).
- ``GET /ograf/{name}/{name}.mjs`` is its ``main``: an ES module that default-exports the
  graphic's class (an ``HTMLElement``; the host registers it), built by ``graphic.mjs`` (the
  shared code, ``static/ograf/graphic.mjs``, served next to it).
- ``GET /ograf/{name}/frame.html`` is the bridge page the element puts in its shadow DOM: it
  frames the overlay page itself (``/overlays/{name}?…&autoplay=0``) and relays the element's
  postMessage calls to the overlay's CasparCG functions (``update/play/next/stop``), which a
  host page on another origin could not call across origins.
- ``GET /ograf/{name}.zip`` packages manifest, module and library in one folder for hosts that
  import a folder: what it holds is relative to itself, and the server's URL comes from the
  graphic's data (``serverUrl``, defaulting to the server that made the zip).

The overlay list is ``pages.OVERLAYS`` and the data schema is the overlay's own query
parameters (``overlays.manifest``), both read per request, so a new overlay is a new graphic.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.web import overlays
from server.web.api import OrjsonResponse, error_response, key_ok
from server.web.assets import STATIC_DIR, TEMPLATES_DIR, content_security_policy, package_version
from server.web.pages import OVERLAYS

SCHEMA_URL = "https://ograf.ebu.io/v1/specification/json-schemas/graphics/schema.json"
LIBRARY = "graphic.mjs"  # the shared element code, next to each graphic's module
FRAME = "frame.html"
# Query parameters of the overlay page that the graphic does not offer as data: the OGraf
# actions decide when it shows (the frame always asks for autoplay=0).
NOT_DATA = frozenset({"autoplay"})
# What a custom action "next" does on the overlays that have one (an overlay whose template
# hands createOverlay a next function gets the action; these say what it does there).
NEXT_ABOUT = {
    "three": "End the splash on air now; the next queued made three follows.",
    "period": "Take the period banner out now.",
}
_NEXT_IN_TEMPLATE = re.compile(r"createOverlay\(\s*\{[^}]*\bnext\b")
CORS = {"access-control-allow-origin": "*"}  # an OGraf host on another origin reads these


def _has_next(name: str) -> bool:
    try:
        source = (TEMPLATES_DIR / f"{name}.html").read_text(encoding="utf-8")
    except OSError:
        return False
    return bool(_NEXT_IN_TEMPLATE.search(source))


def _server_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _default_game(request: Request) -> str | None:
    games = getattr(request.app.state, "games", None)
    ids = list(games.games) if games is not None else []
    return str(ids[0]) if ids else None


def _property(param: dict[str, Any], name: str) -> dict[str, Any]:
    """An overlay parameter's JSON Schema as a GDD property (colour pickers, durations)."""
    prop = dict(param)
    if prop.get("pattern") == overlays.PARAM_BY_NAME["home_color"].pattern:
        # GDD's colour type wants #rrggbb, lower case; the overlay takes #rgb too
        prop.update(gddType="color-rrggbb", pattern="^#[0-9a-f]{6}$")
    elif prop.get("type") == "integer" and name.endswith("_ms"):
        prop["gddType"] = "duration-ms"
    if name in ("key", "debug"):
        prop["hidden"] = True
    return prop


def data_schema(name: str, request: Request, server_url: str | None = None) -> dict[str, Any]:
    """The schema of the graphic's data (load/updateAction): the server, the game, the
    overlay's own query parameters, and an optional state to hand to the overlay's update()."""
    page = str(request.url_for("overlay", name=name))
    params: dict[str, Any] = overlays.manifest(name, page)["parameters"]
    props: dict[str, Any] = {
        "serverUrl": {
            "type": "string",
            "title": "Server URL",
            "description": "The shotfeed server the graphic follows the game on "
            "(http://HOST:PORT).",
            "default": server_url or _server_url(request),
            "gddType": "single-line",
            "hidden": True,
            "order": 0,
        },
    }
    order = 1
    for pname, param in params.get("properties", {}).items():
        if pname in NOT_DATA:
            continue
        prop = _property(param, pname)
        prop.setdefault("title", pname)
        prop["order"] = order
        order += 1
        if pname == "game":
            game = _default_game(request)
            if game is not None:
                prop["default"] = game
        props[pname] = prop
    props["state"] = {
        "type": "object",
        "title": "State",
        "description": "Optional: a partial state, a hello or one event, handed to the overlay's "
        "update() whenever load() or updateAction() carries it (a score or clock set by hand; "
        'e.g. {"home": {"score": 54}, "away": {"score": 50}}). It never animates.',
        "properties": {},
        "hidden": True,
        "order": order,
    }
    required = [r for r in params.get("required", []) if r in props]
    return {
        "type": "object",
        "title": f"{name} data",
        "properties": props,
        "required": required,
    }


def graphic_manifest(name: str, request: Request, server_url: str | None = None) -> dict[str, Any]:
    """The OGraf v1 manifest of one overlay's graphic."""
    out: dict[str, Any] = {
        "$schema": SCHEMA_URL,
        "id": f"shotfeed-{name}",
        "version": package_version(),
        "name": f"shotfeed {name}",
        "description": OVERLAYS[name],
        "author": {"name": "shotfeed"},
        "main": f"{name}.mjs",
        "supportsRealTime": True,
        "supportsNonRealTime": False,
        "stepCount": 1,
        "schema": data_schema(name, request, server_url),
        "renderRequirements": [
            {
                # the overlay scales its 1920x1080 stage to any size; 1920x1080 is sharpest
                "resolution": {"width": {"ideal": 1920}, "height": {"ideal": 1080}},
                "accessToPublicInternet": {"ideal": False},
            }
        ],
        "v_shotfeed": {
            "overlay": name,
            "page": str(request.url_for("overlay", name=name)),
            "transparent": name != "scoreboard",
            "frame": FRAME,
        },
    }
    if _has_next(name):
        out["customActions"] = [
            {
                "id": "next",
                "name": "Next",
                "description": NEXT_ABOUT.get(name, "The overlay's next(): end what is on now."),
                "schema": None,
            }
        ]
    return out


def entry_module(name: str, server_url: str | None) -> str:
    """The graphic's ``main``: the shared element class, made for this overlay."""
    options = {
        "overlay": name,
        "serverUrl": server_url,
        "customActions": ["next"] if _has_next(name) else [],
    }
    return (
        f"// shotfeed OGraf graphic {name!r}: made by the server (docs/overlays.md, OGraf).\n"
        "// The default export is the graphic's class; the host registers it "
        "(customElements.define).\n"
        f'import {{ graphicClass }} from "./{LIBRARY}";\n\n'
        f"export default graphicClass({orjson.dumps(options).decode()});\n"
    )


def _library() -> bytes | None:
    try:
        return (STATIC_DIR / "ograf" / LIBRARY).read_bytes()
    except OSError:
        return None


def _unknown(name: str) -> Response:
    return error_response(
        404, "not_found", f"no graphic {name[:40]!r}; graphics: {', '.join(OVERLAYS)}"
    )


def _missing_library() -> Response:
    return error_response(
        500, "internal", f"static/ograf/{LIBRARY} is missing from this installation"
    )


def _js(body: str | bytes) -> Response:
    return Response(
        body,
        media_type="text/javascript; charset=utf-8",
        headers={**CORS, "cache-control": "no-cache", "x-content-type-options": "nosniff"},
    )


def _json(body: Any) -> Response:
    return OrjsonResponse(body, headers={**CORS, "cache-control": "no-cache"})


async def listing(request: Request) -> Response:
    base = _server_url(request)
    graphics = [
        {
            "id": f"shotfeed-{name}",
            "name": f"shotfeed {name}",
            "description": about,
            "version": package_version(),
            "v_overlay": name,
            "v_manifestUrl": f"{base}/ograf/{name}/{name}.ograf.json",
            "v_zipUrl": f"{base}/ograf/{name}.zip",
        }
        for name, about in OVERLAYS.items()
    ]
    return _json({"graphics": graphics})


def _frame_page(name: str, request: Request) -> Response:
    """The bridge: the overlay page in a frame, and bridge.js relaying the element's calls."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k not in NOT_DATA]
    error: dict[str, Any] | None = None
    settings = request.app.state.settings
    if not key_ok(request.query_params.get("key"), settings.overlay_key):
        error = {"statusCode": 403, "statusMessage": "this graphic needs the overlay key (key)"}
    else:
        try:
            overlays.parse_params(request.query_params)
        except overlays.ParamError as exc:
            error = {"statusCode": 400, "statusMessage": str(exc)}
    src = f"/overlays/{name}?{urlencode([*query, ('autoplay', '0')])}"
    # one JSON block, read by bridge.js; "<" escaped so no value can end the script element
    info = orjson.dumps({"overlay": name, "src": None if error else src, "error": error})
    info_text = info.decode().replace("<", "\\u003c")
    body = (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="referrer" content="no-referrer">'
        '<link rel="icon" href="data:,">'
        f"<title>shotfeed · OGraf · {name}</title>"
        '<link rel="stylesheet" href="/static/ograf/bridge.css">'
        f'<script type="application/json" id="bridge">{info_text}</script>'
        "</head><body>"
        '<script src="/static/ograf/bridge.js"></script>'
        "</body></html>\n"
    )
    headers = {
        "content-security-policy": content_security_policy(
            request.headers.get("host", ""), frames=True
        ),
        "cache-control": "no-store",
        "referrer-policy": "no-referrer",
        "x-content-type-options": "nosniff",
    }
    return Response(body, media_type="text/html; charset=utf-8", headers=headers)


async def graphic_file(request: Request) -> Response:
    name = str(request.path_params["name"])
    file = str(request.path_params["file"])
    if name not in OVERLAYS:
        return _unknown(name)
    if file == f"{name}.ograf.json":
        return _json(graphic_manifest(name, request))
    if file == f"{name}.mjs":
        return _js(entry_module(name, None))
    if file == LIBRARY:
        library = _library()
        return _js(library) if library is not None else _missing_library()
    if file == FRAME:
        return _frame_page(name, request)
    return error_response(404, "not_found", f"graphic {name!r} has no file {file[:60]!r}")


def package(name: str, request: Request) -> bytes | None:
    """The zip of one graphic: one folder with the manifest, its module and the library."""
    library = _library()
    if library is None:
        return None
    server = _server_url(request)
    folder = f"shotfeed-{name}"
    manifest = graphic_manifest(name, request, server)
    readme = (
        f"shotfeed {name} - an OGraf v1 graphic ({SCHEMA_URL}).\n\n"
        f"{OVERLAYS[name]}.\n\n"
        f"Import this folder into an OGraf host. The graphic shows the overlay from the shotfeed\n"
        f"server given in its data as serverUrl (default {server}): that server must be\n"
        f"reachable from the renderer. Data fields, actions: docs/overlays.md, section OGraf.\n"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            f"{folder}/{name}.ograf.json", orjson.dumps(manifest, option=orjson.OPT_INDENT_2)
        )
        zf.writestr(f"{folder}/{name}.mjs", entry_module(name, server))
        zf.writestr(f"{folder}/{LIBRARY}", library)
        zf.writestr(f"{folder}/README.txt", readme)
    return buf.getvalue()


async def graphic_zip(request: Request) -> Response:
    name = str(request.path_params["name"])
    if name not in OVERLAYS:
        return _unknown(name)
    body = package(name, request)
    if body is None:
        return _missing_library()
    headers = {
        **CORS,
        "cache-control": "no-cache",
        "content-disposition": f'attachment; filename="shotfeed-{name}.zip"',
    }
    return Response(body, media_type="application/zip", headers=headers)


ROUTES: list[Route] = [
    Route("/ograf/", listing, methods=["GET"]),
    Route("/ograf/{name}.zip", graphic_zip, methods=["GET"]),
    Route("/ograf/{name}/{file}", graphic_file, methods=["GET"]),
]
