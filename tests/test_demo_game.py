"""The demo's default game plays every split and every suggestion rule within a few minutes.

Pure: the simulated game's payloads go through the detector and the derived step exactly as
the server takes them, polled every 3 s of the game's timeline, with no server or clock.
"""

from __future__ import annotations

from typing import Any

from server.cli import build_parser
from server.core import tracker
from server.core.derived import Deriver, after_step, suggest_step
from server.core.onair import OnAir
from server.core.roster import GameConfig
from server.core.shots import ShotParser
from server.core.suggestions import RULES, Book
from server.core.tracker import GameState, PollContext
from server.sim.simgame import simulate_game

STEP_S = 3.0
WITHIN_S = 40 * 60  # timeline seconds: about 4 minutes at the demo's default 10x


def _play(seed: int, until_s: float) -> tuple[dict[str, Any], dict[str, float]]:
    game = simulate_game(seed)
    config = GameConfig.from_data(game.config_data())
    parser, state, deriver, book = ShotParser(), GameState("DEMO"), Deriver(), Book()
    splits = deriver.splits.compute((), config, state)
    first: dict[str, float] = {}
    elapsed, now = 0.0, 1_700_000_000_000
    while elapsed <= until_s:
        seen = state.baseline  # first sight is silent, as in Game.apply_poll
        det = tracker.detect(
            state, parser.parse(game.payload_at(elapsed)), PollContext(now, config)
        )
        state = det.state
        if det.state_changed:
            changed = bool(det.changed_shots)
            out = after_step(
                deriver, splits, det.state, det.events, config, now,
                shots_changed=changed, announce=seen,
            )  # fmt: skip
            state, splits = out.state, out.splits or splits
            if seen:
                sug = suggest_step(
                    deriver, splits, state, out.events, now,
                    shots_changed=changed, book=book, onair=OnAir(),
                )  # fmt: skip
                state, book = sug.state, sug.book or book
                for e in sug.events:
                    if e.type == "suggestion" and e.data["status"] == "open":
                        first.setdefault(e.data["rule"], elapsed)
        elapsed += STEP_S
        now += int(STEP_S * 1000)
    return splits, first


def test_the_demo_default_game_shows_every_suggestion_rule_early() -> None:
    seed = build_parser().parse_args(["demo"]).seed
    splits, first = _play(seed, WITHIN_S)
    assert set(first) == set(RULES), f"rules never suggested: {set(RULES) - set(first)}"
    # and every split has something in it by then, for the overlays to draw
    home = splits["teams"]["home"]
    assert len(home["zones"]) >= 10 and len(home["advancedZones"]) >= 12
    for split in ("guarded", "unguarded", "offDribble", "catchShoot"):
        assert home[split]["fga"] > 0, split
    away = splits["teams"]["away"]
    assert {"DUNK", "LAYUP", "JUMPSHOT", "FADEAWAY"} <= set(home["types"]) | set(away["types"])
    assert all(c["fga"] > 0 for c in home["distance"].values())
    assert home["longestMakeFt"] is not None and home["longestMakeFt"] >= 24
