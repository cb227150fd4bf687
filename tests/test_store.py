"""The SQLite store on a real file: round trips, the event log's order, WAL, and no idle writes."""

from __future__ import annotations

import copy
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from server.config import Settings
from server.core.events import Event
from server.core.roster import GameConfig
from server.core.shots import parse_payload
from server.core.tracker import GameState
from server.live.ledger import Game
from server.live.store import AuditRow, Store

DATA = Path(__file__).parent / "data"
GAME = "EVT"
T0 = 1663870491879


def seed_doc() -> dict[str, Any]:
    return orjson.loads((DATA / "seed_shots.json").read_bytes())


def with_shot(doc: dict[str, Any], t: int, *, three: bool = True, home: int) -> dict[str, Any]:
    """A copy of ``doc`` with one more made shot at ``t`` and the home score set."""
    new = copy.deepcopy(doc)
    shot = copy.deepcopy(doc["shots"][0])
    shot.update(t=t, st="MAKE", is3=three, pts=3 if three else 2)
    new["shots"].append(shot)
    new["gameTotals"]["homeTeamScore"]["value"] = home
    return new


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "dir" / "feed.db"


@pytest.fixture
def store(db: Path) -> Iterator[Store]:
    s = Store(db)
    yield s
    s.close()


def make_game(store: Store, now: list[float]) -> Game:
    return Game(GAME, store, Settings(), clock=lambda: now[0])


def ev(seq: int, type_: str = "graphic", game: str = GAME, **data: Any) -> Event:
    return Event(seq, type_, game, 1_700_000_000_000 + seq, dict(data))


def test_wal_mode_is_on(store: Store, db: Path) -> None:
    """The store runs in WAL mode (also as another connection sees it) with synchronous=NORMAL."""
    assert db.exists()  # parent folders were made
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 1
    other = sqlite3.connect(db)
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        other.close()


def test_unknown_game_loads_empty(store: Store) -> None:
    """A game never seen loads as no state, default config, seq 0, followed."""
    loaded = store.load_game("nope")
    assert loaded.state is None
    assert loaded.config == GameConfig()
    assert loaded.seq == 0
    assert loaded.following is True
    assert store.events_since("nope") == []


@pytest.mark.anyio
async def test_state_and_shots_round_trip(db: Path) -> None:
    """A game's state and known shots come back equal from a reopened file."""
    with anyio.fail_after(10):
        now = [1_800_000_000.0]
        store = Store(db)
        try:
            game = make_game(store, now)
            await game.load()
            doc = seed_doc()
            await game.apply_poll(parse_payload(doc))
            now[0] += 1
            doc = with_shot(doc, T0 + 5000, home=14)
            det = await game.apply_poll(parse_payload(doc))
            assert [e.type for e in det.events] == ["shot", "made_three", "score_update", "stats"]
            await game.apply_feed(False, "timeout", "no answer in time")
            state = game.state
        finally:
            store.close()
        again = Store(db)
        try:
            loaded = again.load_game(GAME)
            assert loaded.state == state
            assert loaded.seq == state.seq == 5
            assert loaded.state is not None
            three = loaded.state.shots[str(T0 + 5000)]
            assert three.three_fired and three.present and three.shot.made and three.shot.three
            assert loaded.state.feed.ok is False and loaded.state.feed.error == "timeout"
            assert loaded.state.to_record() == state.to_record()
        finally:
            again.close()


def test_config_round_trip_and_survives_state_saves(store: Store, db: Path) -> None:
    """save_config persists teams/roster; later state saves leave it alone."""
    cfg = GameConfig.from_data(
        {
            "home": {"teamId": "1", "name": "Home U", "short": "HOM", "color": "#112233"},
            "away": {"teamId": "2", "name": "Away State", "short": "AWY", "color": "#abc"},
            "roster": {"7269": {"name": "J. Doe", "number": "23"}},
        }
    )
    store.save_config(GAME, cfg)
    loaded = store.load_game(GAME)
    assert loaded.config == cfg
    assert loaded.state is None and loaded.seq == 0
    store.save(GameState(GAME, seq=1, baseline=True), [ev(1)])
    store.close()
    again = Store(db)
    try:
        loaded = again.load_game(GAME)
        assert loaded.config == cfg
        assert loaded.state is not None and loaded.state.seq == 1
    finally:
        again.close()


def test_events_since_is_in_seq_order(store: Store) -> None:
    """events_since returns exactly the stored bytes with seq > since, oldest first, per game."""
    for seq in range(1, 8):
        store.save(GameState(GAME, seq=seq, baseline=True), [ev(seq, n=seq)])
        store.save(GameState("OTHER", seq=seq, baseline=True), [ev(seq, game="OTHER")])
    state = GameState(GAME, seq=10, baseline=True)
    batch = [ev(8, "shot"), ev(9, "made_three"), ev(10, "score_update")]
    store.save(state, batch)
    got = [orjson.loads(b) for b in store.events_since(GAME)]
    assert [e["seq"] for e in got] == list(range(1, 11))
    assert {e["game"] for e in got} == {GAME}
    assert store.events_since(GAME)[7:] == [e.encode() for e in batch]
    assert [orjson.loads(b)["seq"] for b in store.events_since(GAME, 6)] == [7, 8, 9, 10]
    assert [orjson.loads(b)["seq"] for b in store.events_since(GAME, 2, limit=3)] == [3, 4, 5]
    assert store.events_since(GAME, 10) == []
    assert [orjson.loads(b)["seq"] for b in store.events_tail(GAME, 3)] == [8, 9, 10]
    assert store.event_count(GAME) == 10
    assert store.event_count("OTHER") == 7


def test_failed_save_changes_nothing(store: Store) -> None:
    """A save that cannot commit (a reused seq) rolls back its events, shots and state."""
    store.save(GameState(GAME, seq=2, baseline=True), [ev(1), ev(2)])
    before = store._db.total_changes
    with pytest.raises(sqlite3.IntegrityError):
        store.save(GameState(GAME, seq=4, baseline=True), [ev(3), ev(2)])
    assert store.event_count(GAME) == 2
    loaded = store.load_game(GAME)
    assert loaded.seq == 2
    assert loaded.state is not None and loaded.state.seq == 2
    store.save(GameState(GAME, seq=3, baseline=True), [ev(3)])  # the store is still usable
    assert store.event_count(GAME) == 3
    assert store._db.total_changes > before


@pytest.mark.anyio
async def test_poll_with_nothing_new_writes_nothing(store: Store, db: Path) -> None:
    """Game.apply_poll with an unchanged payload commits nothing to the file."""
    with anyio.fail_after(10):
        now = [1_800_000_000.0]
        game = make_game(store, now)
        await game.load()
        doc = with_shot(seed_doc(), T0 + 5000, home=14)
        await game.apply_poll(parse_payload(doc))
        now[0] += 1
        doc = with_shot(doc, T0 + 9000, three=False, home=16)
        await game.apply_poll(parse_payload(doc))
        watcher = sqlite3.connect(db)
        try:
            version = watcher.execute("PRAGMA data_version").fetchone()[0]
            changes = store._db.total_changes
            rows = store.event_count(GAME)
            for _ in range(3):
                now[0] += 1
                det = await game.apply_poll(parse_payload(doc))
                assert det.events == [] and not det.state_changed
            assert store._db.total_changes == changes
            assert store.event_count(GAME) == rows
            assert watcher.execute("PRAGMA data_version").fetchone()[0] == version
            # a feed "ok" while already ok writes nothing either
            assert await game.apply_feed(True, None, None) is None
            assert store._db.total_changes == changes
        finally:
            watcher.close()


def test_following_and_audit(store: Store) -> None:
    """Followed games and the audit trail persist; the audit comes back newest first."""
    store.set_following("A", True)
    store.set_following("B", True)
    store.set_following("A", False)
    assert store.followed_games() == ["B"]
    assert store.load_game("A").following is False
    store.add_audit(GAME, 1, "alice", "hold", {"held": False}, {"held": True})
    store.add_audit(GAME, 2, "bob", "panic", None, {"cleared": True})
    entries = store.audit(GAME)
    assert [e["who"] for e in entries] == ["bob", "alice"]
    assert entries[1] == {
        "at": 1,
        "who": "alice",
        "action": "hold",
        "before": {"held": False},
        "after": {"held": True},
    }


def test_an_operator_event_and_its_audit_row_commit_together(store: Store) -> None:
    """The audit row rides in the event's transaction: both are kept, or neither is."""
    row = AuditRow(7, "alice", "graphic show x", None, {"a": 1})
    store.save(GameState(GAME, seq=1, baseline=True), [ev(1)], audit=row)
    assert store.event_count(GAME) == 1
    assert store.audit(GAME) == [
        {"at": 7, "who": "alice", "action": "graphic show x", "before": None, "after": {"a": 1}}
    ]
    # seq 1 again violates the log's key: the whole step rolls back, the audit row with it
    with pytest.raises(sqlite3.IntegrityError):
        store.save(GameState(GAME, seq=1, baseline=True), [ev(1)], audit=row)
    assert store.event_count(GAME) == 1
    assert len(store.audit(GAME)) == 1


def test_checkpoint_folds_the_wal(store: Store, db: Path) -> None:
    """checkpoint() empties the -wal file so the .db alone is complete."""
    store.save(GameState(GAME, seq=1, baseline=True), [ev(1)])
    wal = Path(str(db) + "-wal")
    assert wal.stat().st_size > 0
    store.checkpoint()
    assert wal.stat().st_size == 0
    copy_db = sqlite3.connect(db)
    try:
        assert copy_db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 1
    finally:
        copy_db.close()


def test_seq_never_goes_back_behind_the_log(store: Store) -> None:
    """load_game's seq is at least the newest logged event's, whatever the games row says."""
    store.save(GameState(GAME, seq=3, baseline=True), [ev(1), ev(2), ev(3)])
    store._db.execute("UPDATE games SET seq = 1 WHERE id = ?", (GAME,))
    loaded = store.load_game(GAME)
    assert loaded.seq == 3
    assert loaded.state is not None and loaded.state.seq == 3


class SuggestionsRefused(Store):
    """A real store that cannot take a commit holding a suggestion (while ``refuse``)."""

    refuse = True

    def save(self, state: GameState, events: Any, shots: Any = (), **kw: Any) -> None:
        if self.refuse and any(e.type == "suggestion" for e in events):
            from server.errors import StoreError

            raise StoreError("disk full (test)")
        super().save(state, events, shots, **kw)


@pytest.mark.anyio
async def test_the_poll_stands_when_its_suggestions_cannot_be_stored(db: Path) -> None:
    """The poll's events are committed and published first; a store that then refuses the
    suggestions' commit costs those suggestions only, and the next poll makes them."""
    published: list[Event] = []
    store = SuggestionsRefused(db)
    try:
        now = [1_800_000_000.0]
        game = Game(
            GAME, store, Settings(), clock=lambda: now[0],
            publish=lambda g, events, enc: published.extend(events),
        )  # fmt: skip
        await game.load()
        doc = seed_doc()
        await game.apply_poll(parse_payload(doc))
        for i, home in enumerate((14, 17, 20)):  # three straight threes: a 9-0 run and more
            doc = with_shot(doc, T0 + 4000 * (i + 1), home=home)
        now[0] += 1
        det = await game.apply_poll(parse_payload(doc))
        types = [e.type for e in det.events]
        assert "suggestion" not in types and "scoring_run" in types and types[-1] == "stats"
        assert [e.seq for e in published] == list(range(1, len(published) + 1))
        assert [e.type for e in published] == types
        assert game.book.open_list(int(now[0] * 1000)) == []
        assert store.events_since(GAME)[-1] == det.events[-1].encode()
        # the store takes them again: the next poll's rules see the same facts and suggest
        store.refuse = False
        miss = copy.deepcopy(doc["shots"][0])
        miss.update(t=T0 + 30_000, pid="9000", tid="2", st="MISS", pts=-1)
        doc["shots"].append(miss)
        now[0] += 1
        det = await game.apply_poll(parse_payload(doc))
        made = [e.data["rule"] for e in det.events if e.type == "suggestion"]
        assert "shooting_night" in made
        assert [e.seq for e in published] == list(range(1, len(published) + 1))
        assert store.events_since(GAME)[-1] == det.events[-1].encode()
    finally:
        store.close()
