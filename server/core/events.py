"""The wire contract: every broadcast event is one JSON object of this shape.

``{"seq", "type", "game", "at", "data"}`` plus ``"stale": true`` when the event is true but too
old to animate on air. The same shape goes to WebSocket clients and into the event log, so an
event is encoded once (orjson) and those bytes are reused for every client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import orjson

PROTOCOL_VERSION: Final = 1

SHOT: Final = "shot"
MADE_THREE: Final = "made_three"
SHOT_UPDATE: Final = "shot_update"
SHOT_REMOVED: Final = "shot_removed"
SCORE_UPDATE: Final = "score_update"
PERIOD_CHANGE: Final = "period_change"
GAME_STATUS: Final = "game_status"
CLOCK: Final = "clock"
FEED_STATUS: Final = "feed_status"
SCORING_RUN: Final = "scoring_run"
HOT_HAND: Final = "hot_hand"
GRAPHIC: Final = "graphic"
HOLD: Final = "hold"
CONFIG: Final = "config"
OVERRIDE: Final = "override"
STATS: Final = "stats"
SUGGESTION: Final = "suggestion"

EVENT_TYPES: Final = (
    SHOT,
    MADE_THREE,
    SHOT_UPDATE,
    SHOT_REMOVED,
    SCORE_UPDATE,
    PERIOD_CHANGE,
    GAME_STATUS,
    CLOCK,
    FEED_STATUS,
    SCORING_RUN,
    HOT_HAND,
    GRAPHIC,
    HOLD,
    CONFIG,
    OVERRIDE,
    STATS,
    SUGGESTION,
)

# What an on-air page subscribes to by default: not the tracking splits (a full document per
# changed poll, wanted only by the pages that draw them) nor the operator's suggestions.
OVERLAY_TYPES: Final = tuple(t for t in EVENT_TYPES if t not in (STATS, SUGGESTION))

# Types that put a graphic on air by themselves; the operator can hold all or veto each.
AUTOMATIC_TYPES: Final = (MADE_THREE, SCORE_UPDATE, PERIOD_CHANGE, SCORING_RUN, HOT_HAND)


@dataclass(frozen=True, slots=True)
class Event:
    """One broadcast event. ``seq`` is per game, gapless, and never reused (also over restarts)."""

    seq: int
    type: str
    game: str
    at: int
    data: dict[str, Any] = field(default_factory=dict)
    stale: bool = False

    def to_message(self) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "seq": self.seq,
            "type": self.type,
            "game": self.game,
            "at": self.at,
            "data": self.data,
        }
        if self.stale:
            msg["stale"] = True
        return msg

    def encode(self) -> bytes:
        return orjson.dumps(self.to_message())

    @classmethod
    def from_message(cls, msg: dict[str, Any]) -> Event:
        return cls(
            seq=int(msg["seq"]),
            type=str(msg["type"]),
            game=str(msg["game"]),
            at=int(msg["at"]),
            data=dict(msg.get("data") or {}),
            stale=bool(msg.get("stale", False)),
        )
