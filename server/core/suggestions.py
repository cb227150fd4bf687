"""Graphic suggestions for the operator: which graphic is worth putting on air right now.

Why a module of its own: the splits say everything, but an operator in a live show cannot read
a table of 14 zones for 20 players. A few rules read the splits, the shots and this poll's
events, and propose one graphic each, with a sentence a commentator can read aloud ("Ulloa 4/5
from three tonight"). Nothing goes on air without the operator unless the rule is armed for
autofire (the hold route's ``suggestion:<rule>`` key) and nothing is held.

Pure: no I/O, no clock reads, no randomness. The shell gives it the facts of one poll (splits,
shots, events, its clock) and the :class:`Book` the game keeps; it answers with the new book and
the events to emit, in order. Every rule, threshold, score and text is in docs/stats.md
("Suggestions"); tests/test_suggestions.py plays them on scripted games.

What a book keeps, and why it can be rebuilt: one *slot* per rule and subject (a player's pid,
"home"/"away", or the whole game for the longest make), holding the latest suggestion made in
it and the last fact it suggested. Every change of the book is a ``suggestion`` event, so
:meth:`Book.from_events` over the log gives the very book that lived through it (a suggestion
that simply expired needs no event: its ``expiresAt`` says so to both).

The rules of a slot, each poll:

* an open suggestion whose fact is no longer true (a correction, a miss, the other team
  scoring) is ``withdrawn``; a stronger fact in the same slot ``replaced`` it instead, and the
  new suggestion names it in ``replaces``;
* the same fact is never suggested twice in a row: not after it was accepted, dismissed,
  withdrawn or let expire;
* a poll after an outage (``Facts.stale``) suggests nothing new, but still withdraws.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from server.core.zones import zone_map

SHOOTING_NIGHT: Final = "shooting_night"
GUARDED_SPLIT: Final = "guarded_split"
SCORING_RUN: Final = "scoring_run"
LONGEST_MAKE: Final = "longest_make"
ZONE_STREAK: Final = "zone_streak"
RULES: Final[tuple[str, ...]] = (
    SCORING_RUN,
    SHOOTING_NIGHT,
    ZONE_STREAK,
    LONGEST_MAKE,
    GUARDED_SPLIT,
)
"""Every rule name, in the order a poll's new suggestions are emitted."""

AUTOFIRE_PREFIX: Final = "suggestion:"
"""The hold route's autofire key of a rule is ``suggestion:<rule>``; absent or False: not armed."""

DEFAULT_TTL_MS: Final[int] = 90_000
RULE_TTL_MS: Final[Mapping[str, int]] = {SCORING_RUN: 60_000, LONGEST_MAKE: 60_000}
"""How long a suggestion stays open, per rule (others: DEFAULT_TTL_MS)."""

OPEN: Final = "open"
WITHDRAWN: Final = "withdrawn"
REPLACED: Final = "replaced"
ACCEPTED: Final = "accepted"
DISMISSED: Final = "dismissed"
EXPIRED: Final = "expired"
"""Only in a book: a suggestion that ran out without an event (never on the wire)."""
STATUSES: Final = (OPEN, WITHDRAWN, REPLACED, ACCEPTED, DISMISSED)

# -- thresholds and scores (docs/stats.md, "Suggestions") ---------------------------------------

# shooting_night: a player's threes tonight.
FG3_MIN_MAKES: Final = 3
FG3_MIN_PCT: Final = 0.6
FG3_SCORE_BASE: Final = 50
FG3_SCORE_PER_MAKE: Final = 8
FG3_SCORE_PCT: Final = 20
FG3_SCORE_MAX: Final = 90

# guarded_split: a team's shooting when guarded, very cold or very hot.
GUARDED_MIN_FGA: Final = 10
GUARDED_COLD_PCT: Final = 0.25
GUARDED_HOT_PCT: Final = 0.6
GUARDED_SCORE_BASE: Final = 40
GUARDED_SCORE_PER_STRENGTH: Final = 2
GUARDED_SCORE_MAX: Final = 75

# scoring_run: the detector's scoring_run events.
RUN_MIN_POINTS: Final = 8
RUN_SCORE_BASE: Final = 60
RUN_SCORE_PER_POINT: Final = 4
RUN_SCORE_MAX: Final = 95

# longest_make: a new longest make of the night.
LONGEST_MIN_FT: Final = 25.0
LONGEST_SCORE_BASE: Final = 50
LONGEST_SCORE_PER_FT: Final = 4
LONGEST_SCORE_MAX: Final = 85

# zone_streak: a player's consecutive makes from one zone (z).
ZONE_STREAK_MIN: Final = 3
ZONE_SCORE_BASE: Final = 55
ZONE_SCORE_PER_MAKE: Final = 10
ZONE_SCORE_MAX: Final = 90

_ERROR_CODES: Final = ("unknown_suggestion", "suggestion_closed", "suggestion_expired")


class SuggestionError(ValueError):
    """An accept or dismiss that cannot be done; ``code`` for the route, str() for a person."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        assert code in _ERROR_CODES
        self.code = code


@dataclass(frozen=True, slots=True)
class Facts:
    """What one poll knows, handed in by the shell."""

    splits: Mapping[str, Any]
    """server.core.splits output: {"teams": {"home", "away"}, "players": [...]}."""
    shots: Sequence[Mapping[str, Any]]
    """Every counting shot's data in time order (tracker.shot_data, with zone/advancedZone)."""
    events: Sequence[Mapping[str, Any]]
    """This poll's event messages ({"seq", "type", "game", "at", "data", "stale"?})."""
    now_ms: int
    stale: bool = False
    """A poll after an outage: suggest nothing new, but withdraw what is no longer true."""


Event = tuple[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Book:
    """What a game remembers about its suggestions (treat as immutable: step returns a new one).

    ``slots``: per slot, the latest suggestion made in it while it has not been closed by an
    event (it may have expired). ``last``: per slot, the last fact suggested in it (the
    cooldown). ``ended``: how every other suggestion ended (``expired`` when it ran out and a
    newer one took its slot). ``next_id``: the number of the next id, ``s<n>``.
    """

    slots: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    last: Mapping[str, str] = field(default_factory=dict)
    ended: Mapping[str, str] = field(default_factory=dict)
    next_id: int = 1

    def open_list(self, now_ms: int) -> list[dict[str, Any]]:
        """Open, unexpired suggestions, best score first (newest first among equals)."""
        live = [dict(s) for s in self.slots.values() if now_ms < s["expiresAt"]]
        live.sort(key=lambda s: (-s["score"], -_id_number(s["id"])))
        return live

    @classmethod
    def from_events(cls, messages: Iterable[Mapping[str, Any]]) -> Book:
        """The book that lived through these messages (oldest first; non-suggestion ones are
        skipped), after a restart."""
        return cls().fold(messages)

    def fold(self, messages: Iterable[Mapping[str, Any]]) -> Book:
        """This book after these messages too: how a process that did not make them (another
        web or poll process, through Redis) keeps the same book as the one that did."""
        slots: dict[str, Mapping[str, Any]] = dict(self.slots)
        last: dict[str, str] = dict(self.last)
        ended: dict[str, str] = dict(self.ended)
        next_id = self.next_id
        for msg in messages:
            if msg.get("type") != "suggestion":
                continue
            data = msg.get("data")
            if not isinstance(data, Mapping):
                continue
            sid = data.get("id")
            rule = data.get("rule")
            if not isinstance(sid, str) or not isinstance(rule, str):
                continue
            slot = _slot(rule, str(data.get("subject")))
            next_id = max(next_id, _id_number(sid) + 1)
            status = data.get("status")
            if status == OPEN:
                _open_in(slots, ended, slot, dict(data))
                last[slot] = str(data.get("fact"))
            elif status in STATUSES:
                held = slots.get(slot)
                if held is not None and held["id"] == sid:
                    del slots[slot]
                ended[sid] = str(status)
        return Book(slots, last, ended, next_id)


def _open_in(
    slots: dict[str, Mapping[str, Any]], ended: dict[str, str], slot: str, data: dict[str, Any]
) -> None:
    """Put a new open suggestion in its slot; one still there had expired (else it would have
    been replaced or withdrawn by an event first)."""
    old = slots.get(slot)
    if old is not None:
        ended[old["id"]] = EXPIRED
    slots[slot] = data


def _id_number(sid: str) -> int:
    digits = sid[1:] if sid.startswith("s") else ""
    return int(digits) if digits.isdigit() else 0


def _slot(rule: str, subject: str) -> str:
    """One slot per rule and subject; the longest make of the night is one per game."""
    if rule == LONGEST_MAKE:
        return f"{rule}:game"
    return f"{rule}:{subject}"


# -- what the rules read -------------------------------------------------------------------------

_ZONE_NAMES: Final[Mapping[str, str]] = {k: v["name"] for k, v in zone_map(False).items()}


def zone_phrase(zone: int | str) -> str:
    """How a zone (``z``) reads after "3 straight makes": "from the left corner", "at the rim"."""
    name = _ZONE_NAMES.get(str(zone))
    if name is None:
        return f"from zone {zone}"
    if name == "at the rim":
        return name

    def where(place: str) -> str:
        return f"at the {place}" if place == "top of the key" else f"on the {place}"

    if name.startswith("three, "):
        place = name[len("three, ") :]
        return f"from the {place}" if place.endswith("corner") else f"from three {where(place)}"
    if name.startswith("mid-range "):
        return f"from mid-range {where(name[len('mid-range ') :])}"
    if name.startswith("short "):
        side = name[len("short ") :]
        if side == "middle":
            return "from close range in the middle"
        return f"from close range on the {side}"
    return f"from {name}"


def player_name(row: Mapping[str, Any] | None, pid: str) -> str:
    """A player as a commentator says it: the roster name, else "#<number>", else "Player <pid>"."""
    if row is not None:
        name = row.get("name")
        if isinstance(name, str) and name.strip():
            return name.strip()
        number = row.get("number")
        if isinstance(number, str) and number.strip():
            return f"#{number.strip()}"
    return f"Player {pid}"


def team_name(line: Mapping[str, Any] | None, side: str) -> str:
    """A team's name, else its short name, else "Home"/"Away"."""
    if line is not None:
        for key in ("name", "short"):
            value = line.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return "Home" if side == "home" else "Away"


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _clamp(score: float, top: int) -> int:
    return max(0, min(top, 100, round(score)))


@dataclass(frozen=True, slots=True)
class _Candidate:
    rule: str
    subject: str
    fact: str
    strength: float
    score: int
    text: str
    graphic: str
    payload: dict[str, Any]

    @property
    def slot(self) -> str:
        return _slot(self.rule, self.subject)


class _View:
    """One poll's facts, read once for every rule."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        splits = facts.splits if isinstance(facts.splits, Mapping) else {}
        teams = splits.get("teams")
        self.teams: Mapping[str, Any] = teams if isinstance(teams, Mapping) else {}
        players = splits.get("players")
        self.players: list[Mapping[str, Any]] = [
            p
            for p in (players if isinstance(players, Sequence) else ())
            if isinstance(p, Mapping) and isinstance(p.get("pid"), str)
        ]
        self.rows = {p["pid"]: p for p in self.players}
        self.by_pid: defaultdict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for s in facts.shots:
            pid = s.get("pid")
            if isinstance(pid, str):
                self.by_pid[pid].append(s)
        # Keys of the shots this poll put on air (or corrected), not as stale news.
        self.fresh_keys: set[str] = set()
        for msg in facts.events:
            if msg.get("stale") or msg.get("type") not in ("shot", "shot_update"):
                continue
            data = msg.get("data")
            if not isinstance(data, Mapping):
                continue
            shot = data.get("after") if msg.get("type") == "shot_update" else data
            if isinstance(shot, Mapping) and isinstance(shot.get("key"), str):
                self.fresh_keys.add(shot["key"])

    def name(self, pid: str) -> str:
        return player_name(self.rows.get(pid), pid)

    def team(self, side: str) -> str:
        return team_name(self.teams.get(side), side)


def _split(line: Mapping[str, Any], key: str) -> tuple[int, int]:
    cell = line.get(key)
    if not isinstance(cell, Mapping):
        return 0, 0
    return _int(cell.get("fgm")), _int(cell.get("fga"))


# -- the rules: each gives its candidates and says whether an open fact still holds -------------


def _shooting_night(view: _View) -> tuple[list[_Candidate], set[str]]:
    out: list[_Candidate] = []
    true: set[str] = set()
    for p in view.players:
        pid = p["pid"]
        made, tried = _int(p.get("fg3m")), _int(p.get("fg3a"))
        fact = f"{SHOOTING_NIGHT}:{pid}:{made}/{tried}"
        true.add(fact)
        if tried == 0 or made < FG3_MIN_MAKES or made / tried < FG3_MIN_PCT:
            continue
        pct = made / tried
        score = (
            FG3_SCORE_BASE
            + FG3_SCORE_PER_MAKE * (made - FG3_MIN_MAKES)
            + FG3_SCORE_PCT * (pct - FG3_MIN_PCT) / (1 - FG3_MIN_PCT)
        )
        out.append(
            _Candidate(
                SHOOTING_NIGHT,
                pid,
                fact,
                made * pct,
                _clamp(score, FG3_SCORE_MAX),
                f"{view.name(pid)} {made}/{tried} from three tonight",
                "playercard",
                {"pid": pid},
            )
        )
    return out, true


def _guarded_split(view: _View) -> tuple[list[_Candidate], set[str]]:
    out: list[_Candidate] = []
    true: set[str] = set()
    for side in ("home", "away"):
        line = view.teams.get(side)
        if not isinstance(line, Mapping):
            continue
        made, tried = _split(line, "guarded")
        fact = f"{GUARDED_SPLIT}:{side}:{made}/{tried}"
        true.add(fact)
        if tried < GUARDED_MIN_FGA:
            continue
        pct = made / tried
        if pct <= GUARDED_COLD_PCT:
            strength = (tried - made) * (1 - pct)
        elif pct >= GUARDED_HOT_PCT:
            strength = made * pct
        else:
            continue
        out.append(
            _Candidate(
                GUARDED_SPLIT,
                side,
                fact,
                strength,
                _clamp(
                    GUARDED_SCORE_BASE + GUARDED_SCORE_PER_STRENGTH * strength, GUARDED_SCORE_MAX
                ),
                f"{view.team(side)} {made}/{tried} when guarded",
                "compare",
                {"split": "guarded"},
            )
        )
    return out, true


def _article(n: int) -> str:
    """ "an 8-0 run", "an 11-0 run", "a 9-0 run"."""
    return "an" if str(n).startswith("8") or n in (11, 18) else "a"


def _run_fact(side: str, since: Any, points: int) -> str:
    return f"{SCORING_RUN}:{side}:{since}:{points}"


def _scoring_run(view: _View) -> tuple[list[_Candidate], Callable[[Mapping[str, Any]], bool]]:
    latest: dict[str, _Candidate] = {}
    for msg in view.facts.events:
        if msg.get("type") != "scoring_run" or msg.get("stale"):
            continue
        data = msg.get("data")
        if not isinstance(data, Mapping):
            continue
        side = data.get("team")
        run = data.get("run")
        if side not in ("home", "away") or not isinstance(run, Sequence) or not run:
            continue
        points = _int(run[0])
        if points < RUN_MIN_POINTS:
            continue
        text = f"{view.team(side)} on {_article(points)} {points}-0 run"
        latest[side] = _Candidate(
            SCORING_RUN,
            side,
            _run_fact(side, data.get("sinceSeq"), points),
            points,
            _clamp(RUN_SCORE_BASE + RUN_SCORE_PER_POINT * (points - RUN_MIN_POINTS), RUN_SCORE_MAX),
            text,
            "lowerthird",
            {"title": text, "team": side},
        )

    def holds(open_: Mapping[str, Any]) -> bool:
        # Runs are known from events only: no news keeps the run; the other side scoring, a
        # score correction, or the run moving on (another length, another start) ends it.
        side = str(open_.get("subject"))
        for msg in view.facts.events:
            data = msg.get("data")
            if not isinstance(data, Mapping):
                continue
            if msg.get("type") == "score_update" and data.get("team") != side:
                return False
            if msg.get("type") == "scoring_run" and data.get("team") == side:
                run = data.get("run")
                points = _int(run[0]) if isinstance(run, Sequence) and run else 0
                if _run_fact(side, data.get("sinceSeq"), points) != open_.get("fact"):
                    return False
        return True

    return list(latest.values()), holds


def _made_ft(shot: Mapping[str, Any]) -> float | None:
    ft = shot.get("distanceFt")
    if not shot.get("made") or not isinstance(ft, int | float) or isinstance(ft, bool):
        return None
    return float(ft)


def _longest_make(view: _View) -> tuple[list[_Candidate], set[str]]:
    best: Mapping[str, Any] | None = None
    best_ft = -1.0
    for s in view.facts.shots:
        ft = _made_ft(s)
        if ft is not None and ft > best_ft:  # the first to reach the distance keeps it
            best, best_ft = s, ft
    if best is None:
        return [], set()
    pid, key = str(best.get("pid")), str(best.get("key"))
    fact = f"{LONGEST_MAKE}:{key}:{pid}:{best_ft:.1f}"
    if best_ft < LONGEST_MIN_FT or key not in view.fresh_keys:
        return [], {fact}
    feet = int(best_ft + 0.5)
    return [
        _Candidate(
            LONGEST_MAKE,
            pid,
            fact,
            best_ft,
            _clamp(
                LONGEST_SCORE_BASE + LONGEST_SCORE_PER_FT * (best_ft - LONGEST_MIN_FT),
                LONGEST_SCORE_MAX,
            ),
            f"{view.name(pid)}: longest make of the night, {feet} ft",
            "playercard",
            {"pid": pid},
        )
    ], {fact}


def _zone_streak(view: _View) -> tuple[list[_Candidate], set[str]]:
    out: list[_Candidate] = []
    true: set[str] = set()
    for p in view.players:
        pid = p["pid"]
        # Per zone: the first key and length of the current run of makes, and its last shot.
        runs: dict[int, tuple[str, int, int]] = {}
        for i, s in enumerate(view.by_pid.get(pid, ())):
            zone = s.get("zone")
            if not isinstance(zone, int) or isinstance(zone, bool):
                continue
            if not s.get("made"):
                runs.pop(zone, None)
                continue
            first, n, _ = runs.get(zone, (str(s.get("key")), 0, i))
            runs[zone] = (first, n + 1, i)
        best: tuple[int, int, int, str] | None = None
        for zone, (first, n, last) in runs.items():
            true.add(f"{ZONE_STREAK}:{pid}:{zone}:{first}:{n}")
            if n >= ZONE_STREAK_MIN and (best is None or (n, last) > (best[1], best[2])):
                best = (zone, n, last, first)
        if best is None:
            continue
        zone, n, _, first = best
        out.append(
            _Candidate(
                ZONE_STREAK,
                pid,
                f"{ZONE_STREAK}:{pid}:{zone}:{first}:{n}",
                n,
                _clamp(
                    ZONE_SCORE_BASE + ZONE_SCORE_PER_MAKE * (n - ZONE_STREAK_MIN), ZONE_SCORE_MAX
                ),
                f"{view.name(pid)}: {n} straight makes {zone_phrase(zone)}",
                "zones",
                {"pid": pid, "highlight": str(zone)},
            )
        )
    return out, true


_STATE_RULES: Final = {
    SHOOTING_NIGHT: _shooting_night,
    ZONE_STREAK: _zone_streak,
    LONGEST_MAKE: _longest_make,
    GUARDED_SPLIT: _guarded_split,
}


@dataclass(frozen=True, slots=True)
class _Reading:
    candidates: dict[str, _Candidate]
    holds: Callable[[Mapping[str, Any]], bool]


def _read(facts: Facts) -> _Reading:
    view = _View(facts)
    candidates: dict[str, _Candidate] = {}
    true: set[str] = set()
    run_candidates, run_holds = _scoring_run(view)
    for rule in RULES:
        if rule == SCORING_RUN:
            found = run_candidates
        else:
            found, facts_true = _STATE_RULES[rule](view)
            true |= facts_true
        for c in found:
            candidates[c.slot] = c

    def holds(open_: Mapping[str, Any]) -> bool:
        if open_.get("rule") == SCORING_RUN:
            return run_holds(open_)
        return open_.get("fact") in true

    return _Reading(candidates, holds)


def holds(suggestion: Mapping[str, Any], facts: Facts) -> bool:
    """Whether a suggestion's fact is still true under these facts (a scoring run, known from
    events only, holds unless this poll's events end it). For tests and tools."""
    return _read(facts).holds(suggestion)


# -- the step --------------------------------------------------------------------------------------


def _with(data: Mapping[str, Any], status: str, **extra: Any) -> dict[str, Any]:
    """A copy of a suggestion with its status (and its own payload: the shell may touch it)."""
    return {**data, "payload": dict(data["payload"]), "status": status, **extra}


def _show(data: Mapping[str, Any]) -> Event:
    payload = dict(data["payload"])
    return ("graphic", {"action": "show", "name": data["graphic"], "payload": payload})


def step(
    book: Book, facts: Facts, *, armed: Mapping[str, bool], held: bool
) -> tuple[Book, list[Event]]:
    """One poll: withdraw what is no longer true, replace what a stronger fact beats, suggest
    what is new, and autofire what is armed (while not held). Returns the new book and the
    events to emit, in order."""
    reading = _read(facts)
    now = facts.now_ms
    slots = dict(book.slots)
    last = dict(book.last)
    ended = dict(book.ended)
    next_id = book.next_id
    out: list[Event] = []
    replacing: dict[str, str] = {}  # slot -> id of the open suggestion a candidate replaces

    # Open suggestions first, oldest first: still true, beaten, or withdrawn.
    for slot, data in sorted(slots.items(), key=lambda kv: _id_number(kv[1]["id"])):
        if now >= data["expiresAt"]:
            continue  # ran out: no event; a new suggestion in the slot marks it expired
        c = reading.candidates.get(slot)
        if (
            c is not None
            and not facts.stale
            and c.fact != data["fact"]
            and c.strength > data["strength"]
        ):
            replacing[slot] = data["id"]
            continue
        if not reading.holds(data):
            out.append(("suggestion", _with(data, WITHDRAWN)))
            ended[data["id"]] = WITHDRAWN
            del slots[slot]

    if not facts.stale:
        for slot, c in reading.candidates.items():
            current = slots.get(slot)
            if current is not None and now < current["expiresAt"] and slot not in replacing:
                continue  # the slot's open suggestion stays (still true, and not beaten)
            if slot not in replacing and last.get(slot) == c.fact:
                continue  # never the same fact twice in a row
            old = replacing.get(slot)
            if old is not None and current is not None:
                out.append(("suggestion", _with(current, REPLACED)))
                ended[old] = REPLACED
                del slots[slot]
            sid = f"s{next_id}"
            next_id += 1
            data = {
                "id": sid,
                "rule": c.rule,
                "graphic": c.graphic,
                "payload": c.payload,
                "text": c.text,
                "score": c.score,
                "expiresAt": now + RULE_TTL_MS.get(c.rule, DEFAULT_TTL_MS),
                "status": OPEN,
                "subject": c.subject,
                "fact": c.fact,
                "replaces": old,
                "strength": c.strength,
            }
            out.append(("suggestion", _with(data, OPEN)))
            _open_in(slots, ended, slot, data)
            last[slot] = c.fact
            if armed.get(AUTOFIRE_PREFIX + c.rule) is True and not held:
                out.append(_show(data))
                out.append(("suggestion", _with(data, ACCEPTED, by="autofire")))
                ended[sid] = ACCEPTED
                del slots[slot]

    return Book(slots, last, ended, next_id), out


def decide(
    book: Book, sid: str, action: Literal["accept", "dismiss"], now_ms: int
) -> tuple[Book, list[Event]]:
    """The operator accepts (the graphic goes on air) or dismisses an open suggestion."""
    if action not in ("accept", "dismiss"):
        raise ValueError(f"action must be accept or dismiss, not {action!r}")
    slot = next((k for k, v in book.slots.items() if v["id"] == sid), None)
    if slot is None:
        status = book.ended.get(sid)
        if status is None:
            raise SuggestionError("unknown_suggestion", f"no suggestion {sid} in this game")
        if status == EXPIRED:
            raise SuggestionError("suggestion_expired", f"suggestion {sid} has expired")
        raise SuggestionError("suggestion_closed", f"suggestion {sid} is already {status}")
    data = book.slots[slot]
    if now_ms >= data["expiresAt"]:
        raise SuggestionError("suggestion_expired", f"suggestion {sid} has expired")
    slots = dict(book.slots)
    del slots[slot]
    status = ACCEPTED if action == "accept" else DISMISSED
    events: list[Event] = []
    if action == "accept":
        events.append(_show(data))
    events.append(("suggestion", _with(data, status)))
    return Book(slots, book.last, {**book.ended, sid: status}, book.next_id), events
