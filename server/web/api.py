"""HTTP API: game state (JSON and the flat forms vMix binds to), the event log, the shots,
and the operator's routes (follow/unfollow, graphics, hold, panic, config, roster import,
manual override with undo, the audit log, and who the token belongs to).

Every error is JSON ``{"error": code, "message": text for a person}`` with the right status.
Operator routes need ``Authorization: Bearer <token>``; without it: 401 and nothing changes.
Wrong tokens from one address are slowed (``server.core.limits.TokenThrottle``: 429 with
Retry-After once its tries are spent). With ``SHOTFEED_ALLOWED_ORIGINS`` set, a browser request
from another origin is refused 403 on the operator routes, and allowed origins get CORS
headers and their preflight answered. With ``SHOTFEED_OVERLAY_KEY`` set, the read routes of a
game (state and its flat forms, events, shots, config) need ``?key=`` or an operator token.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.core import events as ev
from server.core import roster_import
from server.core.events import Event
from server.core.limits import (
    MAX_SINCE,
    Refusal,
    TokenThrottle,
    origin_allowed,
    parse_bounded,
    parse_origins,
)
from server.core.operator_requests import (
    ARMABLE,
    SUGGESTION_ACTIONS,
    PayloadTooLarge,
    RequestError,
    parse_graphic,
    parse_hold,
)
from server.core.override import Override, OverrideError, parse_patch, upstream_of
from server.core.snapshot import flat_row, to_csv, to_xml
from server.core.stat_rows import RowsError, columns, stats_rows
from server.core.suggestions import RULES, SuggestionError
from server.core.tracker import shot_data
from server.core.vmix import SOURCES as VMIX_SOURCES
from server.errors import ConfigError
from server.live.following import Games, check_game_id
from server.live.ledger import Game
from server.live.store import AuditRow
from server.web.operators import authenticate
from server.web.pages import OVERLAYS

MAX_BODY = 256 * 1024
MAX_LIMIT = 1000

Handler = Callable[[Request], Awaitable[Response]]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class OrjsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(status: int, code: str, message: str) -> Response:
    headers = {"www-authenticate": "Bearer"} if status == 401 else None
    return OrjsonResponse({"error": code, "message": message}, status, headers=headers)


def refusal_response(refusal: Refusal) -> Response:
    response = error_response(refusal.status, refusal.code, refusal.message)
    if refusal.retry_after is not None:
        response.headers["retry-after"] = str(refusal.retry_after)
    return response


def key_ok(given: str | None, expected: str) -> bool:
    """Constant-time check of the overlay key (bytes: compare_digest refuses non-ASCII str)."""
    if not expected:
        return True
    return hmac.compare_digest((given or "").encode(), expected.encode())


# -- per-app state built on first use from the settings ------------------------------------------


def allowed_origins(state: Any) -> frozenset[str]:
    """``SHOTFEED_ALLOWED_ORIGINS`` parsed once per app (checked valid at start by Settings)."""
    allowed: frozenset[str] | None = getattr(state, "allowed_origins", None)
    if allowed is None:
        allowed = parse_origins(state.settings.allowed_origins)
        state.allowed_origins = allowed
    return allowed


def _throttle(request: Request) -> TokenThrottle:
    state = request.app.state
    throttle: TokenThrottle | None = getattr(state, "token_throttle", None)
    if throttle is None:
        s = state.settings
        throttle = TokenThrottle(s.auth_failures, s.auth_failures_per_min)
        state.token_throttle = throttle
    return throttle


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


def check_operator(request: Request) -> tuple[str | None, Response | None]:
    """The token's label, or the answer instead: 401 (no or wrong token), 429 (this address
    sent too many wrong ones: its token is not even looked at until Retry-After)."""
    header = request.headers.get("authorization")
    if not header:
        return None, error_response(
            401, "unauthorized", "operator routes need Authorization: Bearer <operator token>"
        )
    throttle, address, now = _throttle(request), _address(request), time.monotonic()
    blocked = throttle.blocked(address, now)
    if blocked is not None:
        return None, refusal_response(blocked)
    label = authenticate(header, request.app.state.tokens)
    if label is None:
        throttle.failed(address, now)
        return None, error_response(401, "unauthorized", "the operator token is not right")
    return label, None


def _cors(request: Request, response: Response) -> Response:
    """CORS headers for an allowed browser origin (only when there is an allow-list)."""
    origin = request.headers.get("origin")
    if origin is not None and allowed_origins(request.app.state):
        response.headers["access-control-allow-origin"] = origin
        response.headers["access-control-expose-headers"] = "retry-after"
        response.headers["vary"] = "Origin"
    return response


def _origin_refusal(request: Request) -> Response | None:
    origin, host = request.headers.get("origin"), request.headers.get("host")
    if origin_allowed(origin, allowed_origins(request.app.state), host):
        return None
    return error_response(403, "forbidden_origin", "this origin is not in SHOTFEED_ALLOWED_ORIGINS")


CORS_METHODS = "GET, POST, PUT, DELETE"
CORS_HEADERS = "authorization, content-type"


async def preflight(request: Request) -> Response:
    """``OPTIONS /api/...``: a browser's CORS preflight. Answered 204 for an origin in
    ``SHOTFEED_ALLOWED_ORIGINS``, 403 for another; with no list, 405 as before (no CORS)."""
    allowed = allowed_origins(request.app.state)
    if not allowed:
        return error_response(405, "method_not_allowed", "Method Not Allowed")
    refused = _origin_refusal(request)
    if refused is not None:
        return refused
    response = Response(status_code=204)
    if request.headers.get("origin") is not None:
        response.headers.update(
            {
                "access-control-allow-methods": CORS_METHODS,
                "access-control-allow-headers": CORS_HEADERS,
                "access-control-max-age": "600",
            }
        )
    return _cors(request, response)


def _games(request: Request) -> Games:
    games: Games = request.app.state.games
    return games


def _game_id(request: Request) -> str:
    game_id = str(request.path_params["event_id"])
    if game_id not in _games(request).games:
        raise ApiError(404, "not_found", f"game {game_id!r} is not being followed")
    return game_id


async def _body(request: Request) -> bytes:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ApiError(413, "too_large", f"request body over {MAX_BODY // 1024} KiB")
    return body


async def _json_body(request: Request) -> dict[str, Any]:
    body = await _body(request)
    if not body:
        raise ApiError(400, "bad_json", "a JSON object body is required")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "bad_json", f"body is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ApiError(400, "bad_json", "body must be a JSON object")
    return doc


def operator(handler: Handler) -> Handler:
    """Require an allowed origin (if a list is set) and a valid operator bearer token, with
    wrong tokens slowed per address; the label goes to ``request.state.operator``. Errors are
    answered here (not by the app's handlers) so an allowed origin gets its CORS headers on
    them too."""

    async def guarded(request: Request) -> Response:
        refused = _origin_refusal(request)
        if refused is not None:
            return refused
        label, refused = check_operator(request)
        if refused is not None:
            return _cors(request, refused)
        request.state.operator = label
        try:
            response = await handler(request)
        except ApiError as exc:
            response = error_response(exc.status, exc.code, exc.message)
        return _cors(request, response)

    guarded.__name__ = handler.__name__
    guarded.__doc__ = handler.__doc__
    return guarded


async def _audit(request: Request, game: str, action: str, before: Any, after: Any) -> None:
    """Record an action that makes no event (follow, unfollow) in the audit log."""
    await _games(request).broker.add_audit(
        game,
        int(time.time() * 1000),
        request.state.operator,
        action,
        before,
        after,
    )


def _audited(
    request: Request, action: str, before: Callable[[], Any], after: Callable[[Event], Any]
) -> Callable[[Event], AuditRow]:
    """The audit row of an action that makes an event: written in the event's transaction.

    ``before`` and ``after`` are read under the game's lock, when the event is made, so the
    row says what the action changed even when two operators act at once.
    """
    who = request.state.operator

    def row(event: Event) -> AuditRow:
        return AuditRow(event.at, who, action, before(), after(event))

    return row


def keyed(handler: Handler) -> Handler:
    """A game's read route: with ``SHOTFEED_OVERLAY_KEY`` set it needs ``?key=`` (vMix and
    CasparCG data sources can only give a URL) or an operator's bearer token (the console);
    without either, 401. The key is compared in constant time."""

    async def guarded(request: Request) -> Response:
        expected = request.app.state.settings.overlay_key
        if expected and not key_ok(request.query_params.get("key"), expected):
            if request.headers.get("authorization"):
                _, refused = check_operator(request)
                if refused is not None:
                    return refused
            else:
                return error_response(
                    401, "unauthorized", "this feed needs ?key=<overlay key> (or an operator token)"
                )
        return await handler(request)

    guarded.__name__ = handler.__name__
    guarded.__doc__ = handler.__doc__
    return guarded


# -- read routes -------------------------------------------------------------------------------


async def list_games(request: Request) -> Response:
    games = _games(request)
    out = []
    for game_id in games.games:
        state = games.state(game_id)
        out.append(
            {
                "id": game_id,
                "status": state["status"],
                "feed": state["feed"],
                "home": state["home"],
                "away": state["away"],
            }
        )
    return OrjsonResponse({"games": out})


@keyed
async def game_state(request: Request) -> Response:
    return OrjsonResponse(_games(request).state(_game_id(request)))


def _flat(request: Request) -> dict[str, str]:
    return flat_row(_games(request).state(_game_id(request)))


@keyed
async def game_state_xml(request: Request) -> Response:
    return Response(to_xml([_flat(request)]), media_type="application/xml")


@keyed
async def game_state_csv(request: Request) -> Response:
    return Response(to_csv([_flat(request)]), media_type="text/csv; charset=utf-8")


@keyed
async def game_state_flat(request: Request) -> Response:
    return OrjsonResponse([_flat(request)])


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    """One integer query parameter, read as the WebSocket reads ``since`` (one function)."""
    try:
        value = parse_bounded(name, request.query_params.get(name), lo, hi)
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc)) from exc
    return default if value is None else value


@keyed
async def game_events(request: Request) -> Response:
    game_id = _game_id(request)
    since = _int_param(request, "since", 0, 0, MAX_SINCE)
    limit = _int_param(request, "limit", 100, 1, MAX_LIMIT)
    bodies = await _games(request).broker.events_since(game_id, since, limit)
    return Response(b'{"events":[' + b",".join(bodies) + b"]}", media_type="application/json")


@keyed
async def game_config(request: Request) -> Response:
    """Teams and roster as set with PUT .../config (what the operator console edits)."""
    game = _games(request).games[_game_id(request)]
    return OrjsonResponse(game.config.to_data())


def _stats_query(request: Request) -> dict[str, str | None]:
    q = request.query_params
    return {"rows": q.get("rows"), "team": q.get("team"), "pid": q.get("pid")}


def _stats_rows(request: Request) -> tuple[list[dict[str, str]], list[str]]:
    game = _games(request).games[_game_id(request)]
    query = _stats_query(request)
    try:
        rows = stats_rows(game.splits, **query)
    except RowsError as exc:
        raise ApiError(400, "bad_request", str(exc)) from exc
    return rows, columns(game.splits, query["rows"])


@keyed
async def game_stats(request: Request) -> Response:
    """The tracking splits (docs/stats.md), kept computed by the game: no recount per request."""
    return OrjsonResponse(_games(request).games[_game_id(request)].splits)


@keyed
async def game_stats_xml(request: Request) -> Response:
    rows, _ = _stats_rows(request)
    tag = "team" if request.query_params.get("rows") == "teams" else "player"
    return Response(to_xml(rows, tag), media_type="application/xml")


@keyed
async def game_stats_csv(request: Request) -> Response:
    rows, header = _stats_rows(request)
    return Response(to_csv(rows, header), media_type="text/csv; charset=utf-8")


@keyed
async def game_stats_flat(request: Request) -> Response:
    rows, _ = _stats_rows(request)
    return OrjsonResponse(rows)


@keyed
async def game_shots(request: Request) -> Response:
    game = _games(request).games[_game_id(request)]
    state = game.state
    shots = sorted((k for k in state.shots.values() if k.present), key=lambda k: k.shot.t)
    return OrjsonResponse({"shots": [shot_data(k, game.config, state) for k in shots]})


# -- operator routes ---------------------------------------------------------------------------


@operator
async def follow_game(request: Request) -> Response:
    body = await _json_body(request)
    try:
        game_id = check_game_id(body.get("id"))
    except ConfigError as exc:
        raise ApiError(422, "invalid", str(exc)) from exc
    games = _games(request)
    already = game_id in games.games
    await games.follow(game_id)
    if not already:
        await _audit(request, game_id, "follow", None, {"following": True})
    return OrjsonResponse({"id": game_id, "following": True}, 200 if already else 201)


@operator
async def unfollow_game(request: Request) -> Response:
    game_id = _game_id(request)
    await _games(request).unfollow(game_id)
    await _audit(request, game_id, "unfollow", {"following": True}, {"following": False})
    return OrjsonResponse({"id": game_id, "following": False})


@operator
async def fire_graphic(request: Request) -> Response:
    game_id = _game_id(request)
    try:
        req = parse_graphic(await _json_body(request))
    except PayloadTooLarge as exc:
        raise ApiError(413, "too_large", str(exc)) from exc
    except RequestError as exc:
        raise ApiError(422, "invalid", str(exc)) from exc
    game = _games(request).games[game_id]
    after = req.payload if req.action == "show" else None
    event = await game.append(
        ev.GRAPHIC,
        req.event_data(),
        audit=_audited(
            request,
            f"graphic {req.action} {req.name}",
            lambda: game.onair.graphics.get(req.name),
            lambda _: after,
        ),
    )
    return OrjsonResponse({"event": event.to_message()})


@operator
async def panic(request: Request) -> Response:
    game_id = _game_id(request)
    game = _games(request).games[game_id]
    event = await game.append(
        ev.GRAPHIC,
        {"action": "clear", "name": None, "payload": {}},
        audit=_audited(request, "panic", lambda: dict(game.onair.graphics), lambda _: {}),
    )
    return OrjsonResponse({"event": event.to_message()})


@operator
async def hold(request: Request) -> Response:
    game_id = _game_id(request)
    try:
        req = parse_hold(await _json_body(request))
    except RequestError as exc:
        raise ApiError(422, "invalid", str(exc)) from exc
    game = _games(request).games[game_id]
    before: dict[str, Any] = {}

    def build() -> tuple[str, dict[str, Any]]:
        # Under the game's lock: two operators arming different types at once both count.
        before.update(held=game.onair.held, autofire=dict(game.onair.autofire))
        return ev.HOLD, req.event_data(game.onair.held, game.onair.autofire)

    event = await game.append_with(
        build, audit=_audited(request, "hold", lambda: before, lambda e: e.data)
    )
    assert event is not None
    return OrjsonResponse({"event": event.to_message()})


@operator
async def decide_suggestion(request: Request) -> Response:
    """Accept (its graphic goes on air, as from the graphics route) or dismiss a suggestion."""
    game_id = _game_id(request)
    action = str(request.path_params["action"])
    if action not in SUGGESTION_ACTIONS:
        raise ApiError(404, "not_found", "POST …/suggestions/{id}/accept or …/dismiss")
    sid = str(request.path_params["sid"])
    game = _games(request).games[game_id]

    def before() -> Any:
        # under the game's lock, before the commit: the suggestion as it was still open
        return next((dict(s) for s in game.book.slots.values() if s["id"] == sid), None)

    def after(event: ev.Event) -> Any:
        shown = event.data.get("graphic") if action == "accept" else None
        return {"status": event.data.get("status"), "graphic": shown}

    try:
        events = await game.decide(
            sid,
            "accept" if action == "accept" else "dismiss",
            audit=_audited(request, f"suggestion {action} {sid}", before, after),
        )
    except SuggestionError as exc:
        status = 404 if exc.code == "unknown_suggestion" else 409
        raise ApiError(status, exc.code, str(exc)) from exc
    return OrjsonResponse({"events": [e.to_message() for e in events]})


@operator
async def put_config(request: Request) -> Response:
    game_id = _game_id(request)
    body = await _json_body(request)
    game = _games(request).games[game_id]
    try:
        config = game.config.merged(body)
    except ConfigError as exc:
        raise ApiError(422, "invalid", str(exc)) from exc
    before = game.config.to_data()
    event = await game.set_config(
        config, audit=_audited(request, "config", lambda: before, lambda _: config.to_data())
    )
    return OrjsonResponse({"event": event.to_message()})


def _vmix_view(request: Request, game_id: str) -> dict[str, Any]:
    games = _games(request)
    cfg = games.games[game_id].config.vmix
    output = games.vmix.get(game_id)
    return {
        "config": cfg.to_data() if cfg is not None else None,
        "health": output.health().to_data() if output is not None else None,
        "sources": list(VMIX_SOURCES),
    }


@operator
async def get_vmix(request: Request) -> Response:
    """The game's vMix output: its map, its health, and the fields that can be mapped."""
    return OrjsonResponse(_vmix_view(request, _game_id(request)))


@operator
async def put_vmix(request: Request) -> Response:
    """Set (merge) the vMix output; the same as ``PUT …/config {"vmix": …}``, audited "vmix"."""
    game_id = _game_id(request)
    body = await _json_body(request)
    game = _games(request).games[game_id]
    try:
        config = game.config.merged({"vmix": body})
    except ConfigError as exc:
        raise ApiError(422, "invalid", str(exc)) from exc
    before = game.config.vmix.to_data() if game.config.vmix else None
    after = config.vmix.to_data() if config.vmix else None
    await game.set_config(config, audit=_audited(request, "vmix", lambda: before, lambda _: after))
    return OrjsonResponse(_vmix_view(request, game_id))


@operator
async def delete_vmix(request: Request) -> Response:
    """No vMix output for this game any more (the map is forgotten)."""
    game_id = _game_id(request)
    game = _games(request).games[game_id]
    if game.config.vmix is not None:
        before = game.config.vmix.to_data()
        config = game.config.merged({"vmix": None})
        await game.set_config(
            config, audit=_audited(request, "vmix", lambda: before, lambda _: None)
        )
    return OrjsonResponse(_vmix_view(request, game_id))


@operator
async def import_roster(request: Request) -> Response:
    """The roster as CSV (pid,number,name) or JSON; ``?replace=1`` removes players left out."""
    game_id = _game_id(request)
    body = await _body(request)
    if not body.strip():
        raise ApiError(400, "bad_request", "send the roster as text/csv or application/json")
    replace = request.query_params.get("replace", "").lower() in ("1", "true", "yes", "on")
    game = _games(request).games[game_id]
    try:
        imported = roster_import.parse(body, request.headers.get("content-type", ""))
        patch = roster_import.replacing(game.config.roster, imported) if replace else imported
        config = game.config.merged({"roster": patch})
    except ConfigError as exc:
        raise ApiError(422, "invalid", str(exc)) from exc
    before = game.config.to_data()["roster"]
    event = await game.set_config(
        config,
        audit=_audited(
            request, "roster import", lambda: before, lambda _: config.to_data()["roster"]
        ),
    )
    removed = sorted(pid for pid, entry in patch.items() if entry is None)
    return OrjsonResponse(
        {"event": event.to_message(), "imported": len(imported), "removed": removed}
    )


# -- manual override ---------------------------------------------------------------------------


def _game(request: Request) -> Game:
    return _games(request).games[_game_id(request)]


OverrideChange = Callable[[Override], dict[str, Any] | None]


async def _override_change(
    request: Request, game: Game, action: str, make: OverrideChange
) -> Response:
    """Emit the ``override`` event ``make(override)`` describes (under the game's lock), audit it.

    ``make`` returns the event data without ``upstream`` (added here, as it is at that seq), or
    None when nothing would change: then nothing is written and the answer has ``event: null``.
    """
    before: dict[str, Any] = {}

    def build() -> tuple[str, dict[str, Any]] | None:
        before.update(game.override.fields)
        try:
            data = make(game.override)
        except OverrideError as exc:
            raise ApiError(409, "conflict", str(exc)) from exc
        if data is None:
            return None
        data["upstream"] = upstream_of(game.state)
        return ev.OVERRIDE, data

    event = await game.append_with(
        build,
        audit=_audited(request, f"override {action}", lambda: before, lambda e: e.data["fields"]),
    )
    return OrjsonResponse(
        {
            "event": event.to_message() if event is not None else None,
            "override": _games(request).state(game.id)["override"],
        }
    )


@operator
async def put_override(request: Request) -> Response:
    """Set (merge) any of home, away, period, clock; null stops overriding that one."""
    game = _game(request)
    body = await _json_body(request)
    try:
        patch = parse_patch(body)
    except OverrideError as exc:
        raise ApiError(422, "invalid", str(exc)) from exc

    def make(current: Override) -> dict[str, Any] | None:
        data = current.set(patch)
        return None if data["fields"] == dict(current.fields) else data

    return await _override_change(request, game, "set", make)


@operator
async def delete_override(request: Request) -> Response:
    """Clear every override: overlays go back to what the upstream says."""
    game = _game(request)

    def make(current: Override) -> dict[str, Any] | None:
        return current.clear() if current.active else None

    return await _override_change(request, game, "clear", make)


@operator
async def undo_override(request: Request) -> Response:
    """Go back to the override setting before the last change (409 when there is none)."""
    game = _game(request)
    return await _override_change(request, game, "undo", lambda current: current.undo())


# -- audit and the console's own needs ----------------------------------------------------------


@operator
async def game_audit(request: Request) -> Response:
    """Every operator action on this game, newest first: who, what, when, before -> after."""
    game_id = str(request.path_params["event_id"])
    try:
        check_game_id(game_id)
    except ConfigError as exc:
        raise ApiError(404, "not_found", str(exc)) from exc
    limit = _int_param(request, "limit", 200, 1, MAX_LIMIT)
    entries = await _games(request).broker.audit(game_id, limit)
    if not entries and game_id not in _games(request).games:
        raise ApiError(404, "not_found", f"game {game_id!r} is not followed and has no audit")
    return OrjsonResponse({"entries": entries})


@operator
async def whoami(request: Request) -> Response:
    """For the console: the token's label, and what it needs to show the overlays."""
    settings = request.app.state.settings
    return OrjsonResponse(
        {
            "operator": request.state.operator,
            "protocol": ev.PROTOCOL_VERSION,
            "overlayKey": settings.overlay_key or None,
            "overlays": [{"name": n, "about": a} for n, a in OVERLAYS.items()],
            "automatic": list(ev.AUTOMATIC_TYPES),
            # what the hold route arms: the automatic types and "suggestion:<rule>" per rule
            "armable": list(ARMABLE),
            "suggestionRules": list(RULES),
        }
    )


ROUTES = [
    Route("/api/games", list_games, methods=["GET"]),
    Route("/api/games", follow_game, methods=["POST"]),
    Route("/api/games/{event_id}", unfollow_game, methods=["DELETE"]),
    Route("/api/games/{event_id}/state", game_state, methods=["GET"]),
    Route("/api/games/{event_id}/state.xml", game_state_xml, methods=["GET"]),
    Route("/api/games/{event_id}/state.csv", game_state_csv, methods=["GET"]),
    Route("/api/games/{event_id}/state.flat.json", game_state_flat, methods=["GET"]),
    Route("/api/games/{event_id}/events", game_events, methods=["GET"]),
    Route("/api/games/{event_id}/shots", game_shots, methods=["GET"]),
    Route("/api/games/{event_id}/stats", game_stats, methods=["GET"]),
    Route("/api/games/{event_id}/stats.xml", game_stats_xml, methods=["GET"]),
    Route("/api/games/{event_id}/stats.csv", game_stats_csv, methods=["GET"]),
    Route("/api/games/{event_id}/stats.flat.json", game_stats_flat, methods=["GET"]),
    Route("/api/games/{event_id}/graphics", fire_graphic, methods=["POST"]),
    Route("/api/games/{event_id}/hold", hold, methods=["POST"]),
    Route("/api/games/{event_id}/panic", panic, methods=["POST"]),
    Route("/api/games/{event_id}/suggestions/{sid}/{action}", decide_suggestion, methods=["POST"]),
    Route("/api/games/{event_id}/config", game_config, methods=["GET"]),
    Route("/api/games/{event_id}/config", put_config, methods=["PUT"]),
    Route("/api/games/{event_id}/roster", import_roster, methods=["POST"]),
    Route("/api/games/{event_id}/override", put_override, methods=["PUT"]),
    Route("/api/games/{event_id}/override", delete_override, methods=["DELETE"]),
    Route("/api/games/{event_id}/override/undo", undo_override, methods=["POST"]),
    Route("/api/games/{event_id}/audit", game_audit, methods=["GET"]),
    Route("/api/games/{event_id}/vmix", get_vmix, methods=["GET"]),
    Route("/api/games/{event_id}/vmix", put_vmix, methods=["PUT"]),
    Route("/api/games/{event_id}/vmix", delete_vmix, methods=["DELETE"]),
    Route("/api/operator", whoami, methods=["GET"]),
]
# A CORS preflight for each API path (not a catch-all: an unknown path stays a 404).
ROUTES += [
    Route(path, preflight, methods=["OPTIONS"]) for path in dict.fromkeys(r.path for r in ROUTES)
]
