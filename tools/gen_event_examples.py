"""Regenerate the per-type reference and real examples in ``docs/events.md``.

The examples are not written by hand: a short scripted game, built from ShotTracker's own
example payload (``tests/data/seed_shots.json``), is driven through the real code paths the
server uses — ``decode_body`` + ``ShotParser`` + ``tracker.detect`` for polls,
``tracker.feed_status`` for upstream health and ``tracker.append`` for operator actions — with
a fixed server clock, so the output is deterministic. Every type in
``server.core.events.EVENT_TYPES`` must come out at least once, and the documented ``data``
fields of each type must be exactly the keys the detector produced; otherwise this fails loudly.

Only the text between ``<!-- examples:start -->`` and ``<!-- examples:end -->`` is replaced;
the prose around it is edited by hand.

    python tools/gen_event_examples.py          # rewrite docs/events.md
    python tools/gen_event_examples.py --check  # exit 1 if docs/events.md is out of date
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from server.core import events as ev
from server.core import tracker, zones
from server.core.derived import Deriver, after_step, suggest_step
from server.core.events import Event
from server.core.onair import OnAir
from server.core.override import Override, parse_patch, upstream_of
from server.core.roster import GameConfig
from server.core.shots import MM_PER_FT, ShotParser, decode_body
from server.core.suggestions import Book
from server.core.tracker import GameState, PollContext

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "tests" / "data" / "seed_shots.json"
DOC = ROOT / "docs" / "events.md"
START = "<!-- examples:start -->"
END = "<!-- examples:end -->"

GAME = "EVT"
NOW0 = 1663870492011  # fixed server clock (epoch ms) of the first poll, a moment after the seed
OT1_SESSION = "37c2cf99-05fb-11f1-8a55-0211f60c14cc"

CONFIG = {
    "home": {"teamId": "1", "name": "Northfield Hawks", "short": "NFH", "color": "#1d4ed8"},
    "away": {"teamId": "2", "name": "Riverside Otters", "short": "RIV", "color": "#b91c1c"},
    "roster": {
        "7301": {"name": "Maya Ortiz", "number": "3"},
        "7302": {"name": "Jordan Bell", "number": "21"},
        "7401": {"name": "Sam Okafor", "number": "11"},
    },
}

SHOT_FIELDS: tuple[tuple[str, str], ...] = (
    ("key", "the shot's identity for life (see *Shot identity*); kept across corrections"),
    ("t", "upstream `t`: the shot's time (epoch ms), the base of its identity"),
    ("sessionId", "upstream `sid`: the period's session id (= `periodTotals[].sessionId`)"),
    ("period", "upstream `prd`: `Q1`..`Q4`, `H1`/`H2`, `OT1`, … or null"),
    ("clock", "upstream `gc` when given, else the game clock of the poll that found the shot"),
    ("team", '`"home"`/`"away"` from the config or `gameTotals` team ids; null when unknown'),
    ("teamId", "upstream `tid` as sent (may match neither team)"),
    ("pid", "upstream player id"),
    ("player", "`{id, name, number}` from the configured roster, or null"),
    ("made", "true for `MAKE`, false for `MISS`"),
    ("three", "upstream `is3`: a three-point attempt"),
    ("points", "0 on a miss, 2 or 3 on a make (free throws are never shots)"),
    ("distanceFt", "shot distance in feet (upstream `d`, cm, / 30.48), one decimal"),
    ("x", "feet from the hoop across the court; both ends drawn on one half court"),
    ("y", "feet from the hoop toward half court"),
    ("attributes", "upstream codes as sent (`OTD`, `LAYUP`, …), unknown ones included"),
    ("zone", "upstream `z` (1 to 14 in the server's zone map, docs/stats.md), or null"),
    ("advancedZone", "upstream `az` (1 to 23), or null"),
)


@dataclass(frozen=True)
class TypeDoc:
    """What the reference says about one event type."""

    when: str
    fields: tuple[tuple[str, str], ...]


TYPE_DOCS: dict[str, TypeDoc] = {
    ev.SHOT: TypeDoc(
        "A counting shot (`s` = `RECORDED`) appears that was not known, or a removed shot comes "
        "back. Not sent by the first poll of a never-seen game (baseline).",
        SHOT_FIELDS,
    ),
    ev.MADE_THREE: TypeDoc(
        "Right after the `shot` of a new made three, with the same `data`. At most once per "
        "shot key, ever: not again when the shot is corrected, removed and restored, or "
        "re-credited; a miss later corrected to a make gives `shot_update`, not `made_three`.",
        (("…", "exactly the `data` of the `shot` it follows"),),
    ),
    ev.SHOT_UPDATE: TypeDoc(
        "A known shot's record changed while its `t` stayed: MAKE↔MISS, `is3` flip, player or "
        "team re-credited, moved, other period, `gc` or attributes changed.",
        (
            ("key", "the shot's key (unchanged by the correction)"),
            ("before", "the shot's `data` as it was last sent"),
            ("after", "the shot's `data` now"),
        ),
    ),
    ev.SHOT_REMOVED: TypeDoc(
        "A known shot is no longer in the payload, or its `s` is no longer `RECORDED`. Not sent "
        "when a record at that `t` was unreadable in this payload (the shot is kept).",
        (
            ("key", "the shot's key; if the shot comes back it gets this key again"),
            ("before", "the shot's `data` as it was last sent"),
        ),
    ),
    ev.SCORE_UPDATE: TypeDoc(
        "Either score in `gameTotals` changed (the only source of scores: free throws count "
        "here, not in `shot`).",
        (
            ("home", "home score now"),
            ("away", "away score now"),
            ("prev", "`{home, away}` before (null members when unknown before)"),
            (
                "team",
                '`"home"`/`"away"`: the side whose score rose; null when both moved or on '
                "a correction",
            ),
            ("leader", '`"home"`, `"away"` or `"tie"`'),
            (
                "leadChange",
                "true when the side now leading is not the last side that led (a tie "
                "alone is not a lead change)",
            ),
            ("correction", "true when a score went down"),
        ),
    ),
    ev.PERIOD_CHANGE: TypeDoc(
        "`gameTotals.period` changed.",
        (
            ("from", "previous period code, or null"),
            ("to", "new period code"),
            (
                "label",
                'for a person: "2nd Half", "4th Quarter", "Overtime", "2nd Overtime"; an '
                "unknown code as sent",
            ),
            ("periodTotals", "`[{period, sessionId, home, away}]` as upstream lists them"),
        ),
    ),
    ev.GAME_STATUS: TypeDoc(
        "`gameTotals.status` changed. An open set: `ACTIVE` is the only documented value; "
        "others (`SCHEDULED`, `FINAL`, `COMPLETE`, …) are passed through as sent. A final game "
        "may still get corrections.",
        (("from", "previous status, or null"), ("to", "new status")),
    ),
    ev.CLOCK: TypeDoc(
        "`gameTotals.gameClock` changed (`running: true`), or it stayed the same for 1.8 s "
        "after running (`running: false`, sent once). Upstream gives no running flag; it is "
        "inferred: a changed value reads as running, also when it is a reset to a new period's "
        "full time, until the next unchanged 1.8 s; but a value that changed across a feed "
        "outage or a restart reads as stopped (the clock may have stopped in the gap) until two "
        "polls in a row see it move.",
        (
            ("clock", "the game clock as upstream writes it"),
            ("period", "the period code it belongs to"),
            ("running", "*extension*: whether the clock is taken to be running"),
        ),
    ),
    ev.FEED_STATUS: TypeDoc(
        "Upstream health changed: `ok: false` on the first failed poll, again while failing "
        "when the error code changes, and `ok: true` on the next success. Never `stale`.",
        (
            ("ok", "whether polls succeed"),
            (
                "error",
                "`forbidden`, `unauthorized`, `not_found`, `rate_limited`, "
                "`upstream_error`, `timeout`, `bad_payload`, or null when ok",
            ),
            ("message", "for a person (never holds a secret), or null when ok"),
            ("since", "server time (epoch ms) of this change"),
        ),
    ),
    ev.SCORING_RUN: TypeDoc(
        "One side has scored `SHOTFEED_RUN_THRESHOLD` (default 8) or more unanswered points: "
        "sent when the run reaches the threshold, and again on each further score of the run "
        "(`extended: true`). Any score by the other side, both sides at once, or a correction "
        "ends the run.",
        (
            ("team", '`"home"`/`"away"`'),
            ("run", "`[for, against]`; against is 0 (the run is unanswered)"),
            ("sinceSeq", "`seq` of the `score_update` that started the run"),
            ("extended", "*extension*: false when the run reaches the threshold, true after"),
        ),
    ),
    ev.HOT_HAND: TypeDoc(
        "A new made shot makes its player's consecutive makes (in `t` order, over shots that "
        "count) reach `SHOTFEED_HOT_HAND` (default 3), and on each further make of the streak.",
        (
            ("pid", "upstream player id"),
            ("player", "`{id, name, number}` from the roster, or null"),
            ("team", '*extension*: `"home"`/`"away"` of that shot, or null'),
            ("streak", "consecutive makes so far"),
            ("key", "*extension*: key of the shot that made it"),
        ),
    ),
    ev.GRAPHIC: TypeDoc(
        "The operator shows or hides a graphic (`POST /api/games/{id}/graphics`), or takes "
        "everything off air (`POST /api/games/{id}/panic`, `action: clear`, `name: null`).",
        (
            ("action", '`"show"`, `"hide"` or `"clear"`'),
            ("name", "the graphic's name; null on clear"),
            ("payload", "the operator's object for the graphic (`{}` when none)"),
        ),
    ),
    ev.HOLD: TypeDoc(
        "The operator holds or releases all automatic graphics, or arms / vetoes one type "
        "(`POST /api/games/{id}/hold`). Carries the whole new setting, not the change.",
        (
            ("held", "true while every automatic graphic is held"),
            (
                "autofire",
                "`{type: bool}` for each automatic type (made_three, score_update, "
                "period_change, scoring_run, hot_hand)",
            ),
        ),
    ),
    ev.CONFIG: TypeDoc(
        "Teams, colours or roster changed (`PUT /api/games/{id}/config`), or the vMix output "
        "(`PUT`/`DELETE …/vmix`). Carries the whole new config, not the patch; with a vMix "
        "output set it also has `vmix`: `{url, input, fields, enabled}`.",
        (
            ("home", "`{teamId, name, short, color}`"),
            ("away", "`{teamId, name, short, color}`"),
            ("roster", '`{"<pid>": {name, number}}`'),
        ),
    ),
    ev.OVERRIDE: TypeDoc(
        "The operator sets, clears or undoes a manual override of the score, period or clock "
        "(`PUT`/`DELETE /api/games/{id}/override`, `POST …/override/undo`). Carries the whole "
        "new setting, not the change. While a field is overridden, `state` and the overlays "
        "show the override; `score_update`, `period_change` and `clock` events still carry the "
        "upstream's values, and an overlay does not animate a `score_update` / `period_change` "
        'whose value is overridden (`why: "override"`).',
        (
            ("action", '`"set"`, `"clear"` or `"undo"`'),
            ("active", "true while any field is overridden"),
            (
                "fields",
                "what is overridden now: any of `home`, `away` (scores), `period` (code), "
                '`clock` (`"HH:MM:SS"`); `{}` when none',
            ),
            (
                "upstream",
                "what the upstream says at this seq: `{home, away, period, clock, "
                "clockRunning, clockAt}`",
            ),
            ("canUndo", "whether `POST …/override/undo` has an earlier setting to go back to"),
        ),
    ),
    ev.STATS: TypeDoc(
        "A poll whose shots changed moved the tracking splits, or a config change moved their "
        "rows (names, numbers, which team id is home). Right after that step's own events, in "
        "the same commit. Not on first sight, not for a poll that changed no shot. Carries the "
        "whole document of `GET /api/games/{id}/stats` (docs/stats.md), also in hello's "
        "`state.splits`. On-air overlays do not subscribe to it (`OVERLAY_TYPES`).",
        (
            ("teams", "`{home, away}`: each team's line (FG, 3PT, zones, guarded, types, …)"),
            ("players", "every player's line, home then away then team unknown"),
        ),
    ),
    ev.SUGGESTION: TypeDoc(
        "A rule over the splits and the events found a fact worth a graphic, or a suggestion "
        "changed status (withdrawn when its fact is no longer true, replaced by a stronger "
        "one, accepted or dismissed by the operator: `POST /api/games/{id}/suggestions/{sid}/"
        "accept` or `…/dismiss`). For the console: nothing goes on air unless the operator "
        "accepts it, or its rule is armed (`suggestion:<rule>` in the hold route's autofire); "
        "then the `graphic` event follows, and the suggestion's `accepted` with `by: "
        '"autofire"`. The rules are in docs/stats.md (*Suggestions*).',
        (
            ("id", '`"s<n>"`, unique in the game for life'),
            ("rule", "which rule made it (`scoring_run`, `shooting_night`, …)"),
            ("graphic", "the graphic accepting it shows (`playercard`, `zones`, `compare`, …)"),
            ("payload", "that graphic's payload"),
            ("text", "a sentence a commentator can read aloud"),
            ("score", "priority 0 to 100; the console lists the highest first"),
            ("expiresAt", "server ms after which it is no longer offered"),
            ("status", '`"open"`, `"withdrawn"`, `"replaced"`, `"accepted"` or `"dismissed"`'),
            ("subject", 'the pid or `"home"`/`"away"` it is about'),
            (
                "fact",
                "what exactly it says, as a key: the same fact is never offered twice in a row",
            ),
            ("replaces", "the id of the weaker open suggestion it replaces, or null"),
            ("strength", "how strong the fact is, to compare with the next one of its rule"),
        ),
    ),
}


class Script:
    """A game driven through the server's real pure core, with a fixed clock."""

    def __init__(self) -> None:
        self.doc: dict[str, Any] = orjson.loads(SEED.read_bytes())
        self.template: dict[str, Any] = copy.deepcopy(self.doc["shots"][0])
        self.parser = ShotParser()
        self.state = GameState(GAME)
        self.config = GameConfig()
        self.now = NOW0
        self.after_outage = False
        self.events: list[Event] = []
        # what Game keeps beside the state (server.live.ledger), for the derived events
        self.deriver = Deriver()
        self.splits: dict[str, Any] = self.deriver.splits.compute((), self.config, self.state)
        self.book = Book()
        self.onair = OnAir()

    # -- upstream side ----------------------------------------------------------------------

    @property
    def totals(self) -> dict[str, Any]:
        totals: dict[str, Any] = self.doc["gameTotals"]
        return totals

    def add_shot(
        self,
        pid: str,
        tid: str,
        *,
        made: bool,
        three: bool,
        at: tuple[int, int],
        attributes: list[str],
        ago_ms: int = 1_200,
    ) -> dict[str, Any]:
        """Append a shot taken ``ago_ms`` before now, at ``at`` (mm) from the hoop."""
        t = self.now - ago_ms
        hx, hy = self.template["hx"], self.template["hy"]
        px, py = hx + at[0], hy - at[1]  # this end's hoop is at +y: the court is toward -y
        period = self.totals["period"]
        sid = next(p["sessionId"] for p in self.totals["periodTotals"] if p["period"] == period)
        rec = copy.deepcopy(self.template)
        # this hoop is at +y: hoop-relative feet flip both axes (Shot.hoop_relative_ft)
        z, az = zones.classify(-at[0] / MM_PER_FT, at[1] / MM_PER_FT, three)
        rec.update(
            z=z,
            az=az,
            t=t,
            pid=pid,
            tid=tid,
            sid=sid,
            prd=period,
            st="MAKE" if made else "MISS",
            is3=three,
            pts=(3 if three else 2) if made else -1,
            px=px,
            py=py,
            hsx=hx - px,
            hsy=hy - py,
            d=math.hypot(px - hx, py - hy) / 10,
            attributes=attributes,
            players=[],
        )
        self.doc["shots"].append(rec)
        if made:
            home = tid == self.totals["homeTeamScore"]["teamId"]
            side = "homeTeamScore" if home else "awayTeamScore"
            self.totals[side]["value"] += rec["pts"]
            for p in self.totals["periodTotals"]:
                if p["period"] == period:
                    p[side]["value"] += rec["pts"]
        return rec

    # -- the server side --------------------------------------------------------------------

    def wait(self, ms: int) -> None:
        self.now += ms

    def poll(self) -> list[Event]:
        """One successful poll of the current document, as the poller does it."""
        payload = self.parser.parse(decode_body(orjson.dumps(self.doc)))
        ctx = PollContext(now_ms=self.now, config=self.config, after_outage=self.after_outage)
        detection = tracker.detect(self.state, payload, ctx)
        if detection.warnings:
            raise RuntimeError(f"unexpected detector warnings: {detection.warnings}")
        derived = after_step(
            self.deriver,
            self.splits,
            detection.state,
            detection.events,
            self.config,
            self.now,
            shots_changed=bool(detection.changed_shots),
            announce=self.state.baseline,
            stale=self.after_outage,
        )
        seen = self.state.baseline
        self._take(derived.state, derived.events)
        self.splits = derived.splits or self.splits
        events = list(derived.events)
        if seen:  # as Game.apply_poll: the rules after the poll's commit
            sug = suggest_step(
                self.deriver,
                self.splits,
                self.state,
                derived.events,
                self.now,
                shots_changed=bool(detection.changed_shots),
                book=self.book,
                onair=self.onair,
                stale=self.after_outage,
            )
            self._take(sug.state, sug.events)
            self.book = sug.book or self.book
            events += sug.events
        self.after_outage = False
        # The poller reports success after applying the poll.
        self.feed(True, None, None, after_ms=0)
        self.now += 1_000
        return events

    def _take(self, state: GameState, events: list[Event]) -> None:
        self.state = state
        self.events += events
        for e in events:
            self.onair = self.onair.apply(e.type, e.data)

    def feed(self, ok: bool, error: str | None, message: str | None, after_ms: int = 1000) -> None:
        self.now += after_ms
        if not ok:
            self.after_outage = True
        self.state, event = tracker.feed_status(self.state, ok, error, message, self.now)
        if event is not None:
            self.events.append(event)

    def operator(self, type_: str, data: dict[str, Any], after_ms: int = 1000) -> None:
        self.now += after_ms
        state, event = tracker.append(self.state, type_, data, self.now)
        if type_ == ev.CONFIG:  # as Game.set_config: the splits' rows move with the names
            derived = after_step(
                self.deriver, self.splits, state, [event], self.config, self.now, shots_changed=True
            )
            self.splits = derived.splits or self.splits
            self._take(derived.state, derived.events)
        else:
            self._take(state, [event])


def play() -> list[Event]:
    """The scripted game; returns every event it produced, in seq order."""
    g = Script()
    home, away = "1", "2"

    # Baseline: the seed payload as documented (H2, 11-22, one old miss of an unknown team).
    if g.poll():
        raise RuntimeError("the first poll of a never-seen game must emit nothing")

    g.config = GameConfig.from_data(CONFIG)
    g.operator(ev.CONFIG, g.config.to_data(), after_ms=4000)
    autofire = dict.fromkeys(ev.AUTOMATIC_TYPES, True)
    autofire[ev.HOT_HAND] = False
    g.operator(ev.HOLD, {"held": False, "autofire": autofire})
    g.operator(
        ev.GRAPHIC,
        {"action": "show", "name": "lower_third", "payload": {"text": "Live from Northfield"}},
    )

    # H2 goes on: a corner three, then two more makes by the same player, then a miss.
    g.wait(15_000)
    g.totals["gameClock"] = "00:14:41"
    g.add_shot("7301", home, made=True, three=True, at=(6700, 1200), attributes=["UNGUARDED"])
    g.poll()
    g.wait(21_000)
    g.totals["gameClock"] = "00:14:20"
    g.add_shot("7301", home, made=True, three=False, at=(-300, 900), attributes=["LAYUP"])
    g.poll()
    g.wait(22_000)
    g.totals["gameClock"] = "00:13:58"
    g.add_shot("7301", home, made=True, three=False, at=(2500, 3900), attributes=["OTD"])
    g.poll()
    g.wait(27_000)
    g.totals["gameClock"] = "00:13:31"
    g.add_shot("7401", away, made=False, three=True, at=(-3000, 6500), attributes=["GUARDED"])
    g.poll()
    g.wait(26_000)
    g.totals["gameClock"] = "00:13:05"
    g.add_shot("7302", home, made=True, three=False, at=(800, 4200), attributes=["JUMPSHOT"])
    g.poll()

    # Review: the clock stops; the corner three is re-credited and the away miss withdrawn.
    g.wait(2_000)
    g.poll()
    g.wait(30_000)
    g.doc["shots"][1]["pid"] = "7302"
    del g.doc["shots"][4]
    g.poll()

    # Play resumes: a home three takes the lead and extends the run.
    g.wait(5_000)
    g.totals["gameClock"] = "00:12:30"
    g.add_shot("7302", home, made=True, three=True, at=(-5200, 4800), attributes=["CLEAN"])
    g.poll()

    # A feed outage; the first poll after it finds an away three: true, but stale.
    g.feed(False, "timeout", "no answer from ShotTracker within 5.0 s", after_ms=1_000)
    g.wait(40_000)
    g.totals["gameClock"] = "00:11:49"
    g.add_shot("7401", away, made=True, three=True, at=(100, 7300), attributes=["OTD"])
    g.poll()

    # Tied at the end of regulation, on to overtime, and final.
    g.wait(60_000)
    g.totals["gameClock"] = "00:00:00"
    g.add_shot("7302", home, made=True, three=False, at=(200, 500), attributes=["DUNK"])
    g.poll()
    g.wait(90_000)
    g.totals["period"] = "OT1"
    g.totals["gameClock"] = "00:05:00"
    g.totals["periodTotals"].insert(
        0,
        {
            "awayTeamScore": {"teamId": away, "value": 0},
            "homeTeamScore": {"teamId": home, "value": 0},
            "period": "OT1",
            "sessionId": OT1_SESSION,
        },
    )
    g.poll()
    g.wait(600_000)
    g.totals["status"] = "FINAL"
    g.poll()

    # The arena's book has the home side one point up on ShotTracker: the operator overrides
    # the score by hand, and clears the override when the upstream is corrected.
    home_score = g.state.home_score or 0
    override = Override()
    for change in ("set", "clear"):
        if change == "set":
            data = override.set(parse_patch({"home": home_score + 1}))
        else:
            data = override.clear()
        data["upstream"] = upstream_of(g.state)
        g.operator(ev.OVERRIDE, data)
        override = override.apply(ev.OVERRIDE, data)
    g.operator(ev.GRAPHIC, {"action": "clear", "name": None, "payload": {}})
    return g.events


def _first(events: list[Event], type_: str, *, stale: bool = False) -> Event:
    for e in events:
        if e.type == type_ and e.stale == stale:
            return e
    raise RuntimeError(f"the scripted game produced no {'stale ' if stale else ''}{type_}")


def _json(event: Event) -> str:
    return orjson.dumps(event.to_message(), option=orjson.OPT_INDENT_2).decode()


def _check_fields(type_: str, doc: TypeDoc, example: Event) -> None:
    documented = [name for name, _ in doc.fields]
    if documented == ["…"]:
        return
    if set(documented) != set(example.data):
        raise RuntimeError(
            f"{type_}: documented fields {sorted(documented)} but the detector sent "
            f"{sorted(example.data)}; update TYPE_DOCS in tools/gen_event_examples.py"
        )


def render_examples() -> str:
    """The generated part of docs/events.md (without the markers)."""
    events = play()
    missing = [t for t in ev.EVENT_TYPES if t not in TYPE_DOCS]
    extra = [t for t in TYPE_DOCS if t not in ev.EVENT_TYPES]
    if missing or extra:
        raise RuntimeError(
            f"TYPE_DOCS out of step with EVENT_TYPES: missing {missing}, extra {extra}"
        )
    seqs = [e.seq for e in events]
    if seqs != list(range(1, len(events) + 1)):
        raise RuntimeError(f"seq is not gapless from 1: {seqs}")
    out: list[str] = [
        "<!-- Generated by tools/gen_event_examples.py from a scripted game run through the",
        "     real detector; edit that script, not this block. -->",
        "",
        f"Protocol version: **{ev.PROTOCOL_VERSION}** (`hello.protocol`).",
        "",
        "Types, in the order the server defines them: "
        + ", ".join(f"[`{t}`](#{t})" for t in ev.EVENT_TYPES)
        + ". Those that put a graphic on air by themselves, and that the operator can hold or "
        "veto: " + ", ".join(f"`{t}`" for t in ev.AUTOMATIC_TYPES) + ".",
        "",
    ]
    for type_ in ev.EVENT_TYPES:
        doc = TYPE_DOCS[type_]
        example = _first(events, type_)
        _check_fields(type_, doc, example)
        out += [
            f"### `{type_}`",
            "",
            f"**When:** {doc.when}",
            "",
            "| data field | meaning |",
            "| --- | --- |",
        ]
        out += [
            f"| `{name}` | {meaning} |" if name != "…" else f"| … | {meaning} |"
            for name, meaning in doc.fields
        ]
        out += ["", "Example:", "", "```json", _json(example), "```", ""]
    stale = _first(events, ev.MADE_THREE, stale=True)
    out += [
        "### A stale event",
        "",
        "The first poll after the feed came back found a made three. It is sent, with "
        '`"stale": true`, so overlays update their state without playing the splash:',
        "",
        "```json",
        _json(stale),
        "```",
        "",
        "### The whole scripted game",
        "",
        "Every event of the script above, one line each (`seq type` and a summary), to show "
        "the order events come in within one poll and across polls:",
        "",
        "```text",
    ]
    for e in events:
        out.append(f"{e.seq:>3} {e.type:<13} {_summary(e)}")
    out += ["```", ""]
    return "\n".join(out)


def _summary(e: Event) -> str:
    d = e.data
    flag = "  [stale]" if e.stale else ""
    if e.type in (ev.SHOT, ev.MADE_THREE):
        result = "made" if d["made"] else "missed"
        kind = "three" if d["three"] else "two"
        text = f"key={d['key']} {d['team']} pid={d['pid']} {result} {kind}, {d['distanceFt']} ft"
    elif e.type == ev.SHOT_UPDATE:
        changes = [k for k in d["after"] if d["after"][k] != d["before"][k]]
        text = f"key={d['key']} changed: {', '.join(changes)}"
    elif e.type == ev.SHOT_REMOVED:
        text = f"key={d['key']}"
    elif e.type == ev.SCORE_UPDATE:
        text = (
            f"{d['prev']['home']}-{d['prev']['away']} -> {d['home']}-{d['away']} "
            f"team={d['team']} leader={d['leader']} leadChange={d['leadChange']}"
        )
    elif e.type == ev.SCORING_RUN:
        text = f"{d['team']} {d['run'][0]}-{d['run'][1]} extended={d['extended']}"
    elif e.type == ev.HOT_HAND:
        text = f"pid={d['pid']} streak={d['streak']}"
    elif e.type == ev.CLOCK:
        text = f"{d['clock']} running={d['running']}"
    elif e.type in (ev.PERIOD_CHANGE, ev.GAME_STATUS):
        text = f"{d['from']} -> {d['to']}"
    elif e.type == ev.FEED_STATUS:
        text = f"ok={d['ok']} error={d['error']}"
    elif e.type == ev.GRAPHIC:
        text = f"{d['action']} {d['name']}"
    elif e.type == ev.OVERRIDE:
        text = f"{d['action']} fields={d['fields']} upstream home={d['upstream']['home']}"
    elif e.type == ev.HOLD:
        vetoed = [t for t, on in d["autofire"].items() if not on]
        text = f"held={d['held']} vetoed={vetoed}"
    elif e.type == ev.STATS:
        h, a = d["teams"]["home"], d["teams"]["away"]
        text = (
            f"home {h['fgm']}/{h['fga']} FG, away {a['fgm']}/{a['fga']} FG, "
            f"{len(d['players'])} players"
        )
    elif e.type == ev.SUGGESTION:
        text = f"{d['id']} {d['status']} {d['rule']}: {d['text']}"
    else:
        text = ", ".join(sorted(d))
    return text + flag


def splice(doc: str, block: str) -> str:
    """``doc`` with the text between the markers replaced by ``block``."""
    start, end = doc.find(START), doc.find(END)
    if start < 0 or end < start:
        raise RuntimeError(f"docs/events.md needs the markers {START} ... {END}")
    return doc[: start + len(START)] + "\n" + block + "\n" + doc[end:]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--check", action="store_true", help="exit 1 if the doc is out of date")
    args = ap.parse_args(argv)
    current = DOC.read_text(encoding="utf-8")
    wanted = splice(current, render_examples())
    if args.check:
        if wanted != current:
            print("docs/events.md is out of date: run python tools/gen_event_examples.py")
            return 1
        return 0
    if wanted != current:
        DOC.write_text(wanted, encoding="utf-8")
        print("docs/events.md updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
