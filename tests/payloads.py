"""Builders for ShotTracker shots payloads and a tiny driver over the pure detector.

Records start from the seed example's record (every field ShotTracker sends) and override only
what a test cares about, so the payloads stay realistic. ``Game`` feeds payloads through
``parse_payload`` and ``detect`` exactly as the poller does, and keeps every emitted event.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from server.core.events import Event
from server.core.roster import GameConfig
from server.core.shots import parse_payload
from server.core.tracker import Detection, GameState, PollContext, detect

HOME_ID = "1"
AWAY_ID = "2"
T0 = 1_663_870_000_000

_SEED_RECORD: dict[str, Any] = {
    "label": None,
    "t": 1663870491879,
    "pid": "7269",
    "tid": "552",
    "sid": "587af773-3aa2-11ed-a78a-0242e9e2912e",
    "sst": "GAME_ROUND",
    "gid": "5806b1d1-3aa2-11ed-a78a-0242e9e2912e",
    "st": "MISS",
    "is3": False,
    "pts": -1,
    "z": 8,
    "az": 12,
    "px": 3117,
    "py": 7899,
    "pz": 444,
    "hx": -44,
    "hy": 12783,
    "hz": 2990,
    "hsx": -3160,
    "hsy": 4884,
    "s": "RECORDED",
    "drb": 1,
    "dd": None,
    "fid": "35f20157-ee24-11e9-bcab-06a15c73f3c3",
    "hid": "730724a2-ee25-11e9-bcab-06a15c73f3c3",
    "gc": None,
    "sc": None,
    "prd": "Q1",
    "attributes": ["OTD"],
    "players": ["7259"],
    "d": 581.7677973212337,
    "shotDefenders": [7092],
}


def rec(
    t: int,
    pid: str = "P1",
    *,
    tid: str | None = HOME_ID,
    made: bool = True,
    three: bool = False,
    **over: Any,
) -> dict[str, Any]:
    """One shot record: the seed's record with ``t``, player, team, result and value replaced."""
    r = copy.deepcopy(_SEED_RECORD)
    points = (3 if three else 2) if made else -1
    r.update(t=t, pid=pid, tid=tid, st="MAKE" if made else "MISS", is3=three, pts=points)
    r.update(over)
    return r


def totals(
    home: Any = 0,
    away: Any = 0,
    *,
    period: Any = "Q1",
    clock: Any = "10:00",
    status: Any = "ACTIVE",
    period_totals: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A ``gameTotals`` object in ShotTracker's shape."""
    return {
        "awayTeamScore": {"teamId": AWAY_ID, "value": away},
        "homeTeamScore": {"teamId": HOME_ID, "value": home},
        "period": period,
        "gameClock": clock,
        "status": status,
        "periodTotals": period_totals if period_totals is not None else [],
    }


def period_total(period: str, home: int, away: int, session: str) -> dict[str, Any]:
    """One ``periodTotals`` entry."""
    return {
        "awayTeamScore": {"teamId": AWAY_ID, "value": away},
        "homeTeamScore": {"teamId": HOME_ID, "value": home},
        "period": period,
        "sessionId": session,
    }


def doc(shots: Iterable[Any] = (), **totals_kw: Any) -> dict[str, Any]:
    """A whole response body (decoded): the shots list and ``gameTotals``."""
    return {"shots": list(shots), "gameTotals": totals(**totals_kw)}


def brief(events: Iterable[Event]) -> list[tuple[int, str]]:
    """(seq, type) of each event: the shape most scripted assertions compare."""
    return [(e.seq, e.type) for e in events]


@dataclass
class Game:
    """Drives the detector poll by poll, as the poller does, keeping every event it emitted."""

    game: str = "EVT"
    config: GameConfig = field(default_factory=GameConfig)
    now: int = T0
    step_ms: int = 1000
    state: GameState = field(init=False)
    log: list[Event] = field(default_factory=list)
    last: Detection | None = None

    def __post_init__(self) -> None:
        self.state = GameState(self.game)

    def poll(self, body: dict[str, Any] | bytes, **ctx: Any) -> list[Event]:
        """One successful poll of ``body``; returns the events it produced."""
        self.now += self.step_ms
        ctx.setdefault("config", self.config)
        det = detect(self.state, parse_payload(body), PollContext(now_ms=self.now, **ctx))
        self.state = det.state
        self.last = det
        self.log.extend(det.events)
        return det.events
