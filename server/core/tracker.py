"""The detector: previous game state + one parsed poll -> new state + broadcast events.

Pure and deterministic: no I/O, no clock reads (the poll's server time comes in as
``PollContext.now_ms``), no randomness. Everything that makes a graphic fire once and only once
lives here, so it can be tested exhaustively without a network:

* A shot is identified by its time ``t``; ``pid`` only breaks a tie between two shots at the
  same ``t``. A known shot whose player, team, result or value changes is a correction
  (``shot_update``), never a new shot.
* ``made_three`` fires at most once per shot key, ever: the key remembers it, also after the
  shot is removed and comes back.
* The first successful poll of a game never seen before is a baseline: it builds the state and
  emits nothing, so a restart or a late join does not put the backlog on air.
* A record that could not be parsed never makes a known shot disappear.
* The first poll after an outage (``PollContext.after_outage``) marks every event it emits
  ``stale``, and reads no motion into a clock value that changed across the gap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from server.core import events as ev
from server.core.events import Event
from server.core.periods import period_label
from server.core.roster import GameConfig
from server.core.shots import Payload, PeriodTotal, Shot

HOME = "home"
AWAY = "away"
TIE = "tie"

# A clock value unchanged for this long means the clock is stopped (polls are ~1 s apart and the
# clock ticks in whole seconds, so one unchanged poll alone proves nothing).
CLOCK_STOPPED_AFTER_MS = 1800


@dataclass(frozen=True, slots=True)
class KnownShot:
    """A shot the game has seen, under the key it keeps for life (also across corrections)."""

    key: str
    shot: Shot
    present: bool
    three_fired: bool
    clock: str | None

    def to_record(self) -> dict[str, Any]:
        s = self.shot
        return {
            "key": self.key,
            "present": self.present,
            "threeFired": self.three_fired,
            "clock": self.clock,
            "shot": {
                "t": s.t,
                "pid": s.pid,
                "tid": s.tid,
                "sid": s.sid,
                "period": s.period,
                "made": s.made,
                "three": s.three,
                "counting": s.counting,
                "recordState": s.record_state,
                "px": s.px,
                "py": s.py,
                "hx": s.hx,
                "hy": s.hy,
                "distanceCm": s.distance_cm,
                "gc": s.gc,
                "attributes": list(s.attributes),
                "zone": s.zone,
                "advZone": s.adv_zone,
                "dribbles": s.dribbles,
            },
        }

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> KnownShot:
        s = rec["shot"]
        shot = Shot(
            t=s["t"],
            pid=s["pid"],
            tid=s["tid"],
            sid=s["sid"],
            period=s["period"],
            made=s["made"],
            three=s["three"],
            counting=s["counting"],
            record_state=s["recordState"],
            px=s["px"],
            py=s["py"],
            hx=s["hx"],
            hy=s["hy"],
            distance_cm=s["distanceCm"],
            gc=s["gc"],
            attributes=tuple(s["attributes"]),
            zone=s["zone"],
            adv_zone=s["advZone"],
            dribbles=s["dribbles"],
        )
        return cls(rec["key"], shot, rec["present"], rec["threeFired"], rec["clock"])


@dataclass(frozen=True, slots=True)
class Run:
    """The current unanswered run: which side, how many points, from which score_update."""

    team: str | None = None
    points: int = 0
    since_seq: int | None = None


@dataclass(frozen=True, slots=True)
class FeedHealth:
    ok: bool = True
    error: str | None = None
    message: str | None = None
    since: int | None = None


@dataclass(frozen=True, slots=True)
class GameState:
    """Everything the detector knows about one game. Shots are kept separately by key."""

    game: str
    seq: int = 0
    baseline: bool = False
    status: str | None = None
    period: str | None = None
    clock: str | None = None
    clock_at: int | None = None
    clock_running: bool = False
    home_team_id: str | None = None
    away_team_id: str | None = None
    home_score: int | None = None
    away_score: int | None = None
    period_totals: tuple[PeriodTotal, ...] = ()
    last_leader: str | None = None
    run: Run = field(default_factory=Run)
    newest_t: int | None = None
    feed: FeedHealth = field(default_factory=FeedHealth)
    shots: Mapping[str, KnownShot] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        """The state without its shots (those are stored one row per shot)."""
        return {
            "game": self.game,
            "seq": self.seq,
            "baseline": self.baseline,
            "status": self.status,
            "period": self.period,
            "clock": self.clock,
            "clockAt": self.clock_at,
            "clockRunning": self.clock_running,
            "homeTeamId": self.home_team_id,
            "awayTeamId": self.away_team_id,
            "homeScore": self.home_score,
            "awayScore": self.away_score,
            "periodTotals": [p.to_data() for p in self.period_totals],
            "lastLeader": self.last_leader,
            "run": {"team": self.run.team, "points": self.run.points, "since": self.run.since_seq},
            "newestT": self.newest_t,
            "feed": {
                "ok": self.feed.ok,
                "error": self.feed.error,
                "message": self.feed.message,
                "since": self.feed.since,
            },
        }

    @classmethod
    def from_record(cls, rec: Mapping[str, Any], shots: Iterable[KnownShot] = ()) -> GameState:
        run = rec.get("run") or {}
        feed = rec.get("feed") or {}
        return cls(
            game=rec["game"],
            seq=int(rec["seq"]),
            baseline=bool(rec["baseline"]),
            status=rec.get("status"),
            period=rec.get("period"),
            clock=rec.get("clock"),
            clock_at=rec.get("clockAt"),
            clock_running=bool(rec.get("clockRunning")),
            home_team_id=rec.get("homeTeamId"),
            away_team_id=rec.get("awayTeamId"),
            home_score=rec.get("homeScore"),
            away_score=rec.get("awayScore"),
            period_totals=tuple(
                PeriodTotal(p["period"], p["sessionId"], p["home"], p["away"])
                for p in rec.get("periodTotals") or ()
            ),
            last_leader=rec.get("lastLeader"),
            run=Run(run.get("team"), int(run.get("points") or 0), run.get("since")),
            newest_t=rec.get("newestT"),
            feed=FeedHealth(
                bool(feed.get("ok", True)),
                feed.get("error"),
                feed.get("message"),
                feed.get("since"),
            ),
            shots={k.key: k for k in shots},
        )


@dataclass(frozen=True, slots=True)
class PollContext:
    """What the detector needs besides state and payload; all of it comes from the shell."""

    now_ms: int
    config: GameConfig = field(default_factory=GameConfig)
    after_outage: bool = False
    stale_ms: int = 20_000
    run_threshold: int = 8
    hot_hand: int = 3


@dataclass(frozen=True, slots=True)
class Detection:
    """The result of one poll: what to keep, what to send, what to write, what to log."""

    state: GameState
    events: list[Event]
    changed_shots: list[KnownShot]
    state_changed: bool
    warnings: list[str]


class _Emitter:
    """Hands out gapless seq numbers for one step and collects the events."""

    def __init__(self, game: str, seq: int, now_ms: int, stale_all: bool) -> None:
        self.game = game
        self.seq = seq
        self.now_ms = now_ms
        self.stale_all = stale_all
        self.events: list[Event] = []

    def emit(self, type_: str, data: dict[str, Any], *, stale: bool = False) -> Event:
        self.seq += 1
        event = Event(self.seq, type_, self.game, self.now_ms, data, stale or self.stale_all)
        self.events.append(event)
        return event


def side_of(team_id: str | None, config: GameConfig, state: GameState) -> str | None:
    """ "home"/"away" for a shot's ``tid``: the operator's config first, then gameTotals ids."""
    side = config.side_of(team_id)
    if side is not None or team_id is None:
        return side
    if team_id == state.home_team_id:
        return HOME
    if team_id == state.away_team_id:
        return AWAY
    return None


def shot_data(known: KnownShot, config: GameConfig, state: GameState) -> dict[str, Any]:
    """The enriched shot as it goes on the wire (``shot``, ``made_three``, ``/shots``)."""
    s = known.shot
    player = config.player(s.pid)
    rel = s.hoop_relative_ft()
    return {
        "key": known.key,
        "t": s.t,
        "sessionId": s.sid,
        "period": s.period,
        "clock": known.clock,
        "team": side_of(s.tid, config, state),
        "teamId": s.tid,
        "pid": s.pid,
        "player": player.to_data() if player is not None else None,
        "made": s.made,
        "three": s.three,
        "points": s.points,
        "distanceFt": s.distance_ft(),
        "x": rel[0] if rel is not None else None,
        "y": rel[1] if rel is not None else None,
        "attributes": list(s.attributes),
        "zone": s.zone,
        "advancedZone": s.adv_zone,
    }


def leader_of(home: int | None, away: int | None) -> str | None:
    if home is None or away is None:
        return None
    if home > away:
        return HOME
    if away > home:
        return AWAY
    return TIE


def _new_key(t: int, pid: str, taken: Mapping[str, KnownShot]) -> str:
    """The first shot at ``t`` is keyed by ``t`` alone; a second one at the same ``t`` adds pid."""
    key = str(t)
    if key not in taken:
        return key
    key = f"{t}-{pid}"
    n = 2
    base = key
    while key in taken:
        key = f"{base}-{n}"
        n += 1
    return key


def _material(s: Shot) -> tuple[Any, ...]:
    """What makes a shot *different* for broadcast: result, value, player, team, place, period."""
    return (
        s.pid,
        s.tid,
        s.made,
        s.three,
        s.counting,
        s.px,
        s.py,
        s.hx,
        s.hy,
        s.distance_cm,
        s.period,
        s.sid,
        s.attributes,
        s.gc,
    )


def _match(
    known: list[KnownShot], incoming: list[Shot], hold: bool = False
) -> tuple[list[tuple[KnownShot, Shot]], list[Shot], list[KnownShot]]:
    """Pair the shots seen at one ``t`` with the known ones: same player first, then the rest.

    Present shots are paired before removed ones, so a re-credit updates the live shot and a
    shot coming back reclaims its old key (and with it the memory of its made_three).

    ``hold``: a record that may be at this ``t`` was unreadable, so an unpaired known shot may
    be that record rather than re-credited. Shots without a same-player match are then held
    back (neither paired nor new) until the payload reads cleanly, so that a known three never
    comes back under a second key and splashes twice.
    """
    known_sorted = sorted(known, key=lambda k: (not k.present, k.key))
    pairs: list[tuple[KnownShot, Shot]] = []
    rest_in: list[Shot] = []
    free = list(known_sorted)
    for shot in incoming:
        hit = next((k for k in free if k.shot.pid == shot.pid), None)
        if hit is None:
            rest_in.append(shot)
        else:
            free.remove(hit)
            pairs.append((hit, shot))
    new: list[Shot] = []
    if hold and free and rest_in:
        return pairs, new, free
    for shot in rest_in:
        if free:
            pairs.append((free.pop(0), shot))
        else:
            new.append(shot)
    return pairs, new, free


def _dedupe(shots: Iterable[Shot]) -> tuple[dict[int, list[Shot]], int]:
    """Counting shots by ``t``; the same (t, pid) twice in one payload is one shot (last wins)."""
    by_t: dict[int, dict[str, Shot]] = {}
    dupes = 0
    for s in shots:
        if not s.counting:
            continue
        slot = by_t.setdefault(s.t, {})
        if s.pid in slot:
            dupes += 1
        slot[s.pid] = s
    return {t: list(v.values()) for t, v in by_t.items()}, dupes


def detect(state: GameState, payload: Payload, ctx: PollContext) -> Detection:
    """Apply one successful poll. See the module docstring for the rules it keeps."""
    warnings: list[str] = [f"skipped shot record: {s.reason}" for s in payload.skipped]
    if payload.totals_problem:
        warnings.append(f"gameTotals unusable, scores kept: {payload.totals_problem}")
    # Only the times where something differs from the last poll need matching: an unchanged
    # record comes back from the parser's memo as the very object the known shot holds, so a
    # poll costs what changed in it, not the size of the game.
    present_ids = {id(k.shot) for k in state.shots.values() if k.present}
    seen_ids = {id(s) for s in payload.shots}
    dirty_ts = {s.t for s in payload.shots if id(s) not in present_ids}
    dirty_ts.update(
        k.shot.t for k in state.shots.values() if k.present and id(k.shot) not in seen_ids
    )
    by_t, dupes = _dedupe(s for s in payload.shots if s.t in dirty_ts)
    if dupes:
        warnings.append(f"{dupes} duplicate shot record(s) in one payload counted once")
    totals = payload.totals
    newest_t = max(by_t, default=None)
    if state.newest_t is not None and (newest_t is None or state.newest_t > newest_t):
        newest_t = state.newest_t

    # Score, period, status and clock: a field upstream left out keeps its previous value.
    home_score = state.home_score
    away_score = state.away_score
    status, period, clock = state.status, state.period, state.clock
    home_tid, away_tid = state.home_team_id, state.away_team_id
    period_totals = state.period_totals
    if totals is not None:
        home_score = totals.home.score if totals.home.score is not None else home_score
        away_score = totals.away.score if totals.away.score is not None else away_score
        status = totals.status or status
        period = totals.period or period
        clock = totals.clock or clock
        home_tid = totals.home.team_id or home_tid
        away_tid = totals.away.team_id or away_tid
        if totals.period_totals:
            period_totals = totals.period_totals

    if not state.baseline:
        return _baseline(
            state,
            by_t,
            ctx,
            warnings,
            newest_t,
            home_score,
            away_score,
            status,
            period,
            clock,
            home_tid,
            away_tid,
            period_totals,
        )

    out = _Emitter(state.game, state.seq, ctx.now_ms, ctx.after_outage)
    shots: dict[str, KnownShot] = dict(state.shots)
    changed: dict[str, KnownShot] = {}
    base = replace(state, home_team_id=home_tid, away_team_id=away_tid)

    if status != state.status:
        out.emit(ev.GAME_STATUS, {"from": state.status, "to": status})
    if period != state.period:
        out.emit(
            ev.PERIOD_CHANGE,
            {
                "from": state.period,
                "to": period,
                "label": period_label(period),
                "periodTotals": [p.to_data() for p in period_totals],
            },
        )

    # --- shots -------------------------------------------------------------------------------
    protected = {s.t for s in payload.skipped if s.t is not None}
    unidentified = any(s.t is None for s in payload.skipped)
    known_by_t: dict[int, list[KnownShot]] = {}
    for k in shots.values():
        if k.shot.t in dirty_ts:
            known_by_t.setdefault(k.shot.t, []).append(k)
    new_made: list[KnownShot] = []
    for t in sorted(dirty_ts):
        incoming = by_t.get(t, [])
        known = known_by_t.get(t, [])
        if len(incoming) == 1 and len(known) == 1 and known[0].shot is incoming[0]:
            continue  # the common case: the same record as last poll
        pairs, new, gone = _match(known, incoming, unidentified or t in protected)
        if len(pairs) + len(new) < len(incoming):
            warnings.append(f"shot(s) at t={t} held back: a record at that time was unreadable")
        stale = newest_t is not None and newest_t - t > ctx.stale_ms
        for old, shot in pairs:
            if old.present and _material(old.shot) == _material(shot):
                if old.shot is not shot:
                    shots[old.key] = replace(old, shot=shot)  # same facts, fresh object
                continue
            clock_now = shot.gc or (old.clock if old.present else clock)
            upd = replace(old, shot=shot, present=True, clock=clock_now)
            if old.present:
                before = shot_data(old, ctx.config, base)
                after = shot_data(upd, ctx.config, base)
                # A change nobody can see (a millimetre that rounds away, a gc dropped while the
                # shot keeps its clock) is stored but not put on air as a correction.
                if before != after:
                    out.emit(ev.SHOT_UPDATE, {"key": old.key, "before": before, "after": after})
            else:
                upd = _appear(upd, out, ctx, base, stale)
                if shot.made:
                    new_made.append(upd)
            shots[old.key] = changed[old.key] = upd
        # There is one ball: two real shots never share a millisecond. A second shot at a ``t``
        # whose shot already splashed is an echo of a correction (A re-credited to C, then A
        # back beside C), so it may be shown as a shot but never splash again.
        splashed = any(k.three_fired for k in known)
        for shot in new:
            key = _new_key(t, shot.pid, shots)
            k = KnownShot(key, shot, True, splashed, shot.gc or clock)
            k = _appear(k, out, ctx, base, stale)
            if shot.made:
                new_made.append(k)
            shots[key] = changed[key] = k
        for old in gone:
            if not old.present:
                continue
            if unidentified or t in protected:
                warnings.append(f"shot {old.key} kept: its record in this payload was unreadable")
                continue
            out.emit(ev.SHOT_REMOVED, {"key": old.key, "before": shot_data(old, ctx.config, base)})
            shots[old.key] = changed[old.key] = replace(old, present=False)

    for k in new_made:
        _hot_hand(k, shots, out, ctx, base, newest_t)

    # --- score -------------------------------------------------------------------------------
    last_leader = state.last_leader
    run = state.run
    if (home_score, away_score) != (state.home_score, state.away_score):
        h0 = state.home_score if state.home_score is not None else 0
        a0 = state.away_score if state.away_score is not None else 0
        h1 = home_score if home_score is not None else h0
        a1 = away_score if away_score is not None else a0
        dh, da = h1 - h0, a1 - a0
        correction = dh < 0 or da < 0
        team: str | None = None
        if not correction:
            if dh > 0 and da == 0:
                team = HOME
            elif da > 0 and dh == 0:
                team = AWAY
        leader = leader_of(h1, a1)
        lead_change = leader in (HOME, AWAY) and last_leader is not None and leader != last_leader
        score_event = out.emit(
            ev.SCORE_UPDATE,
            {
                "home": h1,
                "away": a1,
                "prev": {"home": state.home_score, "away": state.away_score},
                "team": team,
                "leader": leader,
                "leadChange": lead_change,
                "correction": correction,
            },
        )
        if leader in (HOME, AWAY):
            last_leader = leader
        if team is None:
            run = Run()
        else:
            gained = dh if team == HOME else da
            if run.team == team:
                run = replace(run, points=run.points + gained)
            else:
                run = Run(team, gained, score_event.seq)
            if run.points >= ctx.run_threshold:
                out.emit(
                    ev.SCORING_RUN,
                    {
                        "team": team,
                        "run": [run.points, 0],
                        "sinceSeq": run.since_seq,
                        "extended": run.points - gained >= ctx.run_threshold,
                    },
                )

    # --- clock -------------------------------------------------------------------------------
    clock_at, running = state.clock_at, state.clock_running
    if clock != state.clock:
        # A change from the last poll shows the clock running. A change across an outage (or a
        # restart) does not: the clock may have stopped anywhere in the gap, and calling it
        # running would let pages run it on, then pull it back with a later, live "stopped".
        # So it is stopped until two polls in a row see it move.
        clock_at, running = ctx.now_ms, state.clock is not None and not ctx.after_outage
        out.emit(ev.CLOCK, {"clock": clock, "period": period, "running": running})
    elif running and clock_at is not None and ctx.now_ms - clock_at >= CLOCK_STOPPED_AFTER_MS:
        running = False
        out.emit(ev.CLOCK, {"clock": clock, "period": period, "running": False})

    new_state = replace(
        state,
        seq=out.seq,
        status=status,
        period=period,
        clock=clock,
        clock_at=clock_at,
        clock_running=running,
        home_team_id=home_tid,
        away_team_id=away_tid,
        home_score=home_score,
        away_score=away_score,
        period_totals=period_totals,
        last_leader=last_leader,
        run=run,
        newest_t=newest_t,
        shots=shots,
    )
    state_changed = (
        bool(out.events) or bool(changed) or (new_state.to_record() != state.to_record())
    )
    return Detection(new_state, out.events, list(changed.values()), state_changed, warnings)


def _appear(
    k: KnownShot, out: _Emitter, ctx: PollContext, base: GameState, stale: bool
) -> KnownShot:
    """Emit ``shot`` for a shot that (re)appears, and its one-and-only ``made_three``."""
    data = shot_data(k, ctx.config, base)
    out.emit(ev.SHOT, data, stale=stale)
    if k.shot.made and k.shot.three and not k.three_fired:
        out.emit(ev.MADE_THREE, data, stale=stale)
        return replace(k, three_fired=True)
    return k


def _hot_hand(
    k: KnownShot,
    shots: Mapping[str, KnownShot],
    out: _Emitter,
    ctx: PollContext,
    base: GameState,
    newest_t: int | None,
) -> None:
    """``hot_hand`` when this make extends the player's run of consecutive makes to >= N."""
    mine = sorted(
        (
            o.shot
            for o in shots.values()
            if o.present and o.shot.pid == k.shot.pid and o.shot.t <= k.shot.t
        ),
        key=lambda s: s.t,
    )
    streak = 0
    for s in reversed(mine):
        if not s.made:
            break
        streak += 1
    if streak < ctx.hot_hand:
        return
    player = ctx.config.player(k.shot.pid)
    stale = newest_t is not None and newest_t - k.shot.t > ctx.stale_ms
    out.emit(
        ev.HOT_HAND,
        {
            "pid": k.shot.pid,
            "player": player.to_data() if player is not None else None,
            "team": side_of(k.shot.tid, ctx.config, base),
            "streak": streak,
            "key": k.key,
        },
        stale=stale,
    )


def _baseline(
    state: GameState,
    by_t: dict[int, list[Shot]],
    ctx: PollContext,
    warnings: list[str],
    newest_t: int | None,
    home_score: int | None,
    away_score: int | None,
    status: str | None,
    period: str | None,
    clock: str | None,
    home_tid: str | None,
    away_tid: str | None,
    period_totals: tuple[PeriodTotal, ...],
) -> Detection:
    """First sight of a game: take it all in silently, remembering threes as already fired."""
    shots: dict[str, KnownShot] = {}
    for t in sorted(by_t):
        for shot in by_t[t]:
            key = _new_key(t, shot.pid, shots)
            shots[key] = KnownShot(key, shot, True, shot.made and shot.three, shot.gc or clock)
    leader = leader_of(home_score, away_score)
    new_state = replace(
        state,
        baseline=True,
        status=status,
        period=period,
        clock=clock,
        clock_at=ctx.now_ms if clock is not None else None,
        clock_running=False,
        home_team_id=home_tid,
        away_team_id=away_tid,
        home_score=home_score,
        away_score=away_score,
        period_totals=period_totals,
        last_leader=leader if leader in (HOME, AWAY) else None,
        newest_t=newest_t,
        shots=shots,
    )
    return Detection(new_state, [], list(shots.values()), True, warnings)


def append(
    state: GameState, type_: str, data: dict[str, Any], now_ms: int, *, stale: bool = False
) -> tuple[GameState, Event]:
    """An event the detector does not make (operator actions, config, the splits derived from a
    poll's shots): next seq, same log."""
    out = _Emitter(state.game, state.seq, now_ms, stale)
    event = out.emit(type_, data)
    return replace(state, seq=out.seq), event


def feed_status(
    state: GameState, ok: bool, error: str | None, message: str | None, now_ms: int
) -> tuple[GameState, Event | None]:
    """``feed_status`` only on a health transition: ok -> failing, failing -> ok, or a new code."""
    cur = state.feed
    if ok and cur.ok:
        return state, None
    if not ok and not cur.ok and cur.error == error:
        if cur.message != message:
            return replace(state, feed=replace(cur, message=message)), None
        return state, None
    health = FeedHealth(ok, None if ok else error, None if ok else message, now_ms)
    out = _Emitter(state.game, state.seq, now_ms, False)
    event = out.emit(
        ev.FEED_STATUS,
        {
            "ok": ok,
            "error": health.error,
            "message": health.message,
            "since": now_ms,
        },
    )
    return replace(state, seq=out.seq, feed=health), event
