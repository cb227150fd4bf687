"""The game's state as clients see it: the JSON ``state`` of hello and ``/state``, and one flat
row (XML, CSV, JSON array) for vMix Data Sources and arena scoreboard controllers.

Pure: builds plain data from the detector's state, the config, the on-air state and the
operator's override. The override is laid over the upstream's values here (scores, period,
clock), and ``state.override`` shows both, so a client sees what is on air and what upstream says.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from server.core.clock import display_clock
from server.core.onair import OnAir
from server.core.override import Override, upstream_of
from server.core.periods import period_label, period_short
from server.core.roster import GameConfig, TeamInfo
from server.core.tracker import AWAY, HOME, GameState, KnownShot, leader_of, shot_data, side_of

RECENT = 10
EMPTY_SPLITS: Mapping[str, Any] = {"teams": {}, "players": []}
# graphic names the console fires for rehearsal: "test:made_three" plays a preview made three
TEST_PREFIX = "test:"


@dataclass(frozen=True, slots=True)
class FeedInfo:
    ok: bool
    error: str | None
    message: str | None
    last_success_at: int | None


def _stats(shots: Mapping[str, KnownShot], config: GameConfig, state: GameState) -> dict[str, Any]:
    out: dict[str, dict[str, int]] = {
        side: {"fgm": 0, "fga": 0, "fg3m": 0, "fg3a": 0} for side in (HOME, AWAY, "unknown")
    }
    for k in shots.values():
        if not k.present:
            continue
        row = out[side_of(k.shot.tid, config, state) or "unknown"]
        row["fga"] += 1
        row["fgm"] += k.shot.made
        if k.shot.three:
            row["fg3a"] += 1
            row["fg3m"] += k.shot.made
    return out


def _team(info: TeamInfo, team_id: str | None, score: int | None) -> dict[str, Any]:
    return {
        "teamId": info.team_id or team_id,
        "score": score,
        "name": info.name,
        "short": info.short,
        "color": info.color,
    }


def build_state(
    state: GameState,
    config: GameConfig,
    onair: OnAir,
    feed: FeedInfo,
    override: Override | None = None,
    *,
    splits: Mapping[str, Any] | None = None,
    suggestions: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """SPEC's ``state`` object (plus a few fields overlays find handy, e.g. periodLabel).

    With an active ``override``, ``home.score``, ``away.score``, ``period`` and ``clock`` (and
    what derives from them: labels, ``leader``; an overridden clock does not run) show the
    operator's values; ``override.upstream`` keeps what the upstream says.
    """
    override = override or Override()
    fields = override.fields
    present = sorted(
        (k for k in state.shots.values() if k.present), key=lambda k: k.shot.t, reverse=True
    )
    home_score = fields.get("home", state.home_score)
    away_score = fields.get("away", state.away_score)
    period = fields.get("period", state.period)
    clock = fields.get("clock", state.clock)
    return {
        "game": state.game,
        "seq": state.seq,
        "status": state.status,
        "period": period,
        "periodLabel": period_label(period),
        "periodShort": period_short(period),
        "clock": clock,
        "clockDisplay": display_clock(clock),
        "clockRunning": state.clock_running and "clock" not in fields,
        "clockAt": state.clock_at,
        "home": _team(config.home, state.home_team_id, home_score),
        "away": _team(config.away, state.away_team_id, away_score),
        "leader": leader_of(home_score, away_score),
        "periodTotals": [
            {"period": p.period, "home": p.home, "away": p.away} for p in state.period_totals
        ],
        "stats": _stats(state.shots, config, state),
        # The tracking splits (server.core.splits), as GET /stats and the `stats` event carry
        # them; the shell keeps them computed, so a hello costs no recount.
        "splits": splits if splits is not None else EMPTY_SPLITS,
        # open suggestions for the operator, best first (server.core.suggestions)
        "suggestions": list(suggestions),
        "recent": [shot_data(k, config, state) for k in present[:RECENT]],
        "feed": {
            "ok": feed.ok,
            "error": feed.error,
            "message": feed.message,
            "lastSuccessAt": feed.last_success_at,
        },
        "held": onair.held,
        "autofire": dict(onair.autofire),
        # a rehearsal graphic ("test:made_three") is a moment, not something on air to restore
        "graphics": {k: v for k, v in onair.graphics.items() if not k.startswith(TEST_PREFIX)},
        "override": override.to_data(upstream_of(state)),
    }


def flat_text(value: Any) -> str:
    """A value as a flat row shows it: "" for null, true/false, else str()."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def flat_row(state: Mapping[str, Any]) -> dict[str, str]:
    """One row, a column per field, every value a string: what vMix Data Sources bind to."""
    row: dict[str, Any] = {
        "game": state["game"],
        "status": state["status"],
        "period": state["period"],
        "period_label": state["periodLabel"],
        "period_short": state["periodShort"],
        "clock": state["clockDisplay"],
        "clock_raw": state["clock"],
        "clock_running": state["clockRunning"],
    }
    for side in (HOME, AWAY):
        team = state[side]
        stats = state["stats"][side]
        row[f"{side}_name"] = team["name"]
        row[f"{side}_short"] = team["short"]
        row[f"{side}_score"] = team["score"]
        row[f"{side}_color"] = team["color"]
        row[f"{side}_team_id"] = team["teamId"]
        for key in ("fgm", "fga", "fg3m", "fg3a"):
            row[f"{side}_{key}"] = stats[key]
    row["leader"] = state["leader"]
    last = state["recent"][0] if state["recent"] else None
    player = (last or {}).get("player") or {}
    row["last_shot_player"] = player.get("name")
    row["last_shot_number"] = player.get("number")
    row["last_shot_pid"] = last["pid"] if last else None
    row["last_shot_team"] = last["team"] if last else None
    row["last_shot_result"] = (
        ("MADE" if last["made"] else "MISSED") + (" 3" if last["three"] else " 2") if last else None
    )
    row["last_shot_points"] = last["points"] if last else None
    row["last_shot_distance_ft"] = last["distanceFt"] if last else None
    row["feed_ok"] = state["feed"]["ok"]
    row["feed_error"] = state["feed"]["error"]
    row["held"] = state["held"]
    row["seq"] = state["seq"]
    return {k: flat_text(v) for k, v in row.items()}


def to_xml(rows: Sequence[Mapping[str, str]], tag: str = "game") -> bytes:
    """``<shotfeed><tag>…</tag>…</shotfeed>``, one element per row, one child per column."""
    root = ET.Element("shotfeed")
    for row in rows:
        item = ET.SubElement(root, tag)
        for key, value in row.items():
            ET.SubElement(item, key).text = value
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml


def to_csv(rows: Sequence[Mapping[str, str]], header: Sequence[str] | None = None) -> str:
    """A header line (the first row's columns unless given), then one line per row."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    if header is not None:
        writer.writerow(list(header))
    elif rows:
        writer.writerow(list(rows[0]))
    for row in rows:
        writer.writerow(list(row.values()))
    return buf.getvalue()
