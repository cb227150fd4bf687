"""What the operator has put on (or held off) air, folded from the game's own event log.

The ``graphic`` and ``hold`` events are the truth: after a restart, folding them again gives
back exactly what was on air and what was held, with no second table to keep in step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from server.core import events as ev


@dataclass(frozen=True, slots=True)
class OnAir:
    """Held flag, per-type arming of automatic graphics, and the graphics shown by name."""

    held: bool = False
    autofire: Mapping[str, bool] = field(
        default_factory=lambda: dict.fromkeys(ev.AUTOMATIC_TYPES, True)
    )
    graphics: Mapping[str, Any] = field(default_factory=dict)

    def to_data(self) -> dict[str, Any]:
        return {"held": self.held, "autofire": dict(self.autofire), "graphics": dict(self.graphics)}

    def apply(self, type_: str, data: Mapping[str, Any]) -> OnAir:
        """Fold one event; anything but ``hold``/``graphic`` leaves it as it is."""
        if type_ == ev.HOLD:
            return replace(self, held=bool(data.get("held")), autofire=dict(data["autofire"]))
        if type_ == ev.GRAPHIC:
            action = data.get("action")
            if action == "clear":
                return replace(self, graphics={})
            graphics = dict(self.graphics)
            name = str(data.get("name"))
            if action == "show":
                graphics[name] = data.get("payload")
            else:
                graphics.pop(name, None)
            return replace(self, graphics=graphics)
        return self


def fold(messages: Iterable[Mapping[str, Any]]) -> OnAir:
    """OnAir from a sequence of event messages (oldest first)."""
    state = OnAir()
    for msg in messages:
        state = state.apply(str(msg.get("type")), msg.get("data") or {})
    return state
