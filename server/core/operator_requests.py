"""The operator's graphic and hold requests: what a body must say before it may reach air.

``POST /api/games/{id}/graphics`` and ``POST /api/games/{id}/hold`` take JSON from a person at
a console (or a script of theirs). Checking it here, apart from the route, lets every rule be
tested from a table without a server, and keeps the messages, which the console shows as they
are, in one place. The routes map RequestError to 422 ``invalid`` and PayloadTooLarge to 413
``too_large``, as ``server.core.override.parse_patch`` is mapped for the override.

Pure: no I/O, no clock, no game state (the hold's merge with the current state is a function
of both, given by the caller under the game's lock).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import orjson

from server.core import events as ev
from server.core.snapshot import TEST_PREFIX
from server.core.suggestions import AUTOFIRE_PREFIX, RULES

MAX_NAME: Final = 64
MAX_GRAPHIC_PAYLOAD: Final = 16 * 1024
"""Bytes of a graphic's payload as compact JSON: every client gets it on every show."""

GRAPHIC_ACTIONS: Final = ("show", "hide")
# What the hold route can arm or veto: the automatic event types, and each suggestion rule
# (``suggestion:<rule>``: armed, its suggestions go on air without the operator).
ARMABLE: Final = (*ev.AUTOMATIC_TYPES, *(AUTOFIRE_PREFIX + rule for rule in RULES))
SUGGESTION_ACTIONS: Final = ("accept", "dismiss")
HOLD_FIELDS: Final = ("held", "autofire")


class RequestError(ValueError):
    """An operator request that cannot be carried out (the message is for a person)."""


class PayloadTooLarge(RequestError):
    """A graphic payload too big to fan out to every overlay."""


@dataclass(frozen=True, slots=True)
class GraphicRequest:
    action: Literal["show", "hide"]
    name: str
    payload: dict[str, Any] | None = None
    """As sent: None when the body had none (the audit records it so)."""

    @property
    def rehearsal(self) -> bool:
        return self.name.startswith(TEST_PREFIX)

    def event_data(self) -> dict[str, Any]:
        """The ``graphic`` event's data (an absent payload is an empty object on the wire)."""
        return {"action": self.action, "name": self.name, "payload": self.payload or {}}


@dataclass(frozen=True, slots=True)
class HoldRequest:
    held: bool | None = None
    """None: leave the hold as it is."""
    autofire: Mapping[str, bool] = field(default_factory=dict)
    """Only the types named; the others keep their current arming."""

    def event_data(self, held: bool, autofire: Mapping[str, bool]) -> dict[str, Any]:
        """The ``hold`` event's data laid over the current ``held`` and ``autofire``."""
        return {
            "held": held if self.held is None else self.held,
            "autofire": {**autofire, **self.autofire},
        }


def parse_graphic(body: Any) -> GraphicRequest:
    """A graphics body -> GraphicRequest; RequestError (PayloadTooLarge) when it is not one."""
    if not isinstance(body, Mapping):
        raise RequestError('send {"action": "show" or "hide", "name": …, "payload": {…}}')
    action = body.get("action")
    name = body.get("name")
    payload = body.get("payload")
    if action not in GRAPHIC_ACTIONS:
        raise RequestError('action must be "show" or "hide" (panic clears all)')
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise RequestError(f"name must be a non-empty string of at most {MAX_NAME} characters")
    if payload is not None and not isinstance(payload, dict):
        raise RequestError("payload must be a JSON object")
    name = name.strip()
    if name.startswith(TEST_PREFIX) and name[len(TEST_PREFIX) :] not in ev.AUTOMATIC_TYPES:
        raise RequestError(
            f"a rehearsal graphic is test:<type> with one of {', '.join(ev.AUTOMATIC_TYPES)}"
        )
    if len(orjson.dumps(payload)) > MAX_GRAPHIC_PAYLOAD:
        raise PayloadTooLarge(f"payload over {MAX_GRAPHIC_PAYLOAD // 1024} KiB")
    return GraphicRequest("show" if action == "show" else "hide", name, payload)


def parse_hold(body: Any) -> HoldRequest:
    """A hold body -> HoldRequest; RequestError when it is not one."""
    if not isinstance(body, Mapping) or not body or set(body) - set(HOLD_FIELDS):
        raise RequestError('send {"held": bool} and/or {"autofire": {type: bool}}')
    held = body.get("held")
    if "held" in body and not isinstance(held, bool):
        raise RequestError("held must be true or false")
    arms = body.get("autofire", {})
    if not isinstance(arms, dict) or not all(isinstance(v, bool) for v in arms.values()):
        raise RequestError("autofire must be an object of type -> bool")
    bad = sorted(str(k) for k in set(arms) - set(ARMABLE))
    if bad:
        raise RequestError(
            f"not automatic graphic types: {', '.join(bad)}; known: {', '.join(ARMABLE)}"
        )
    return HoldRequest(held, dict(arms))
