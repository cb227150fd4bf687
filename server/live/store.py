"""SQLite store: each game's state, its known shots, its config and its event log.

Why SQLite: one file, transactions, and WAL lets readers (the HTTP API) go on while the poller
writes. Every poll's outcome is written in one transaction (events + changed shots + state), so
after a crash, ``kill -9`` included, seq continues exactly where the last committed poll left it
and nothing already emitted is detected (or emitted) again. ``synchronous=NORMAL`` in WAL mode
survives a process crash; only an OS crash can lose the last transactions.

The methods are plain blocking calls behind one lock; async callers run them in a worker thread
(``anyio.to_thread.run_sync``) so the event loop never waits on the disk.

A store that cannot be written (disk full, a read-only file or mount, an I/O error) must not
freeze the show silently. Every write goes through one guard: a failure rolls back what was
begun, raises :class:`~server.errors.StoreError` (so no caller mistakes it for an upstream
failure) and turns :attr:`Store.health` bad; the next write that commits turns it good again.
``health`` is what ``/healthz``, ``/metrics``, the feed status and the console show. While it is
bad and nothing else needs writing, :meth:`Store.probe` is the write that finds out whether the
disk has room again.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from server.core.events import Event
from server.core.roster import GameConfig
from server.core.tracker import GameState, KnownShot
from server.errors import StoreError

log = logging.getLogger("shotfeed.store")

STORE_UNWRITABLE = StoreError.code
# The probe's write: bigger than the free room on any one page, so it needs pages the store does
# not have when it is full (rewriting a row in place can succeed on a full database).
PROBE_PAGES = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS games (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL DEFAULT 0,
    state BLOB,
    config BLOB,
    following INTEGER NOT NULL DEFAULT 1,
    updated_at INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS shots (
    game TEXT NOT NULL,
    key TEXT NOT NULL,
    record BLOB NOT NULL,
    PRIMARY KEY (game, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    game TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    at INTEGER NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (game, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    game TEXT NOT NULL,
    at INTEGER NOT NULL,
    who TEXT NOT NULL,
    action TEXT NOT NULL,
    before BLOB,
    after BLOB
);
CREATE INDEX IF NOT EXISTS audit_game ON audit (game, id);
"""


@dataclass(frozen=True, slots=True)
class LoadedGame:
    """What a restart gets back: the state (None if the game never had a good poll) and config."""

    state: GameState | None
    config: GameConfig
    following: bool
    seq: int


_INSERT_AUDIT = "INSERT INTO audit (game, at, who, action, before, after) VALUES (?, ?, ?, ?, ?, ?)"
_UPSERT_CONFIG = (
    "INSERT INTO games (id, config) VALUES (?, ?) "
    "ON CONFLICT(id) DO UPDATE SET config = excluded.config"
)


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One operator action as the audit log keeps it: who (token label), what, before -> after."""

    at: int
    who: str
    action: str
    before: Any
    after: Any

    def row(self, game: str) -> tuple[str, int, str, str, bytes, bytes]:
        return (
            game,
            self.at,
            self.who,
            self.action,
            orjson.dumps(self.before),
            orjson.dumps(self.after),
        )


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """Whether the last write committed; ``since`` (epoch ms) is when that last changed."""

    ok: bool = True
    message: str | None = None
    since: int | None = None

    def after(self, ok: bool, message: str | None, now: int) -> StoreHealth:
        """The health once a write (or a call to Redis) came out ``ok`` or not: ``since`` moves
        only when ``ok`` changes; a new message while failing keeps the outage's start. The
        caller logs the transitions (``ok`` differs from before)."""
        if ok and self.ok:
            return self
        if not ok and not self.ok:
            return self if self.message == message else StoreHealth(False, message, self.since)
        return StoreHealth(ok, message, now)


# SQLite's primary result codes that mean "the file cannot take this write now".
_UNWRITABLE_CODES = frozenset(
    {
        sqlite3.SQLITE_PERM,
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_NOTADB,
    }
)


def _unwritable(exc: BaseException) -> bool:
    """A disk/file condition (full, read-only, I/O, locked) rather than a bug in the write."""
    if isinstance(exc, OSError):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return (code & 0xFF) in _UNWRITABLE_CODES
    return type(exc) is sqlite3.OperationalError


def _now_ms() -> int:
    return int(time.time() * 1000)


class Store:
    """One SQLite connection shared by a process, guarded by a lock."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)
        # Replaced whole (never mutated), so the event loop reads it without the lock.
        self.health = StoreHealth()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def checkpoint(self) -> None:
        """Fold the WAL into the main file (on shutdown, so a copied .db file is complete).

        On a full or read-only disk this cannot be done; shutdown goes on (what was committed
        is in the WAL and is read back from it on the next start).
        """
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                log.warning("store %s: could not checkpoint the WAL: %s", self.path, exc)

    # -- writes and the store's health ---------------------------------------------------------

    @contextmanager
    def _writing(self, what: str) -> Iterator[sqlite3.Connection]:
        """Every write runs in here, under the lock: its failure is a StoreError and bad health.

        SQLite rolls a transaction back by itself on some failures ("database or disk is full")
        and not on others (busy): roll back only what is still open, so the ROLLBACK cannot fail
        in turn, hide the real cause, or leave the connection inside a transaction that would make
        every later BEGIN fail.
        """
        with self._lock:
            db = self._db
            try:
                if db.in_transaction:  # left open by an earlier failure: start clean
                    db.execute("ROLLBACK")
                yield db
            except (sqlite3.Error, OSError) as exc:
                try:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                if not _unwritable(exc):
                    raise  # a bug (a reused seq, bad SQL), not the disk: keep it as it is
                # No path in it: the message is public (state.feed, /healthz); the log has it.
                message = f"cannot write the store ({what}): {exc}"
                self._set_health(False, message)
                raise StoreError(message) from exc
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            self._set_health(True, None)

    def _set_health(self, ok: bool, message: str | None) -> None:
        cur = self.health
        self.health = new = cur.after(ok, message, _now_ms())
        if new.ok == cur.ok:
            return
        if ok:
            down_s = (new.since - (cur.since or new.since)) / 1000 if new.since else 0.0
            log.warning("store %s: writable again after %.1f s", self.path, down_s)
        else:
            log.error(
                "store %s: %s; nothing is published until it can be written again",
                self.path,
                message,
            )

    def probe(self) -> None:
        """One real write that needs new room, committed with no trace (insert, delete, commit).

        Raises StoreError while the store still cannot take data; on success health is good.
        Runs only while health is bad and a poll had nothing else to write, so a store that came
        back turns green by itself, even when the write that failed was an operator's.
        """
        with self._writing("probe") as db:
            page_size = int(db.execute("PRAGMA page_size").fetchone()[0])
            db.execute("BEGIN IMMEDIATE")
            # game "" is no game (ids are 1-128 characters); the row never outlives the step.
            db.execute(
                "INSERT INTO events (game, seq, type, at, body) VALUES ('', 0, 'probe', ?, "
                "zeroblob(?))",
                (_now_ms(), page_size * PROBE_PAGES),
            )
            db.execute("DELETE FROM events WHERE game = ''")
            db.execute("COMMIT")

    # -- games -------------------------------------------------------------------------------

    def load_game(self, game: str) -> LoadedGame:
        with self._lock:
            row = self._db.execute(
                "SELECT seq, state, config, following FROM games WHERE id = ?", (game,)
            ).fetchone()
            max_seq = self._db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM events WHERE game = ?", (game,)
            ).fetchone()[0]
            shot_rows = self._db.execute(
                "SELECT record FROM shots WHERE game = ?", (game,)
            ).fetchall()
        if row is None:
            return LoadedGame(None, GameConfig(), True, int(max_seq))
        seq, state_blob, config_blob, following = row
        seq = max(int(seq), int(max_seq))
        config = GameConfig.from_data(orjson.loads(config_blob)) if config_blob else GameConfig()
        state = None
        if state_blob:
            rec = orjson.loads(state_blob)
            rec["seq"] = seq
            shots = [KnownShot.from_record(orjson.loads(r[0])) for r in shot_rows]
            state = GameState.from_record(rec, shots)
        return LoadedGame(state, config, bool(following), seq)

    def save(
        self,
        state: GameState,
        events: Sequence[Event],
        changed_shots: Iterable[KnownShot] = (),
        *,
        encoded: Sequence[bytes] | None = None,
        audit: AuditRow | None = None,
        config: GameConfig | None = None,
    ) -> None:
        """Commit one step of a game: its events, the shots it changed, and the new state.

        ``audit`` (an operator action's row) and ``config`` (new teams/roster, with its
        ``config`` event) go in the same transaction, so an event on air always has its audit
        entry, and a config is never stored without the event that tells the overlays. Raises
        StoreError when it cannot commit; then none of it was written.
        """
        bodies = encoded if encoded is not None else [e.encode() for e in events]
        now = _now_ms()
        with self._writing(f"game {state.game}, seq {state.seq}") as db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT INTO events (game, seq, type, at, body) VALUES (?, ?, ?, ?, ?)",
                [(e.game, e.seq, e.type, e.at, b) for e, b in zip(events, bodies, strict=True)],
            )
            db.executemany(
                "INSERT OR REPLACE INTO shots (game, key, record) VALUES (?, ?, ?)",
                [(state.game, k.key, orjson.dumps(k.to_record())) for k in changed_shots],
            )
            if audit is not None:
                db.execute(_INSERT_AUDIT, audit.row(state.game))
            if config is not None:
                db.execute(_UPSERT_CONFIG, (state.game, orjson.dumps(config.to_data())))
            db.execute(
                "INSERT INTO games (id, seq, state, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, state = excluded.state, "
                "updated_at = excluded.updated_at",
                (state.game, state.seq, orjson.dumps(state.to_record()), now),
            )
            db.execute("COMMIT")

    def save_config(self, game: str, config: GameConfig) -> None:
        with self._writing(f"config of game {game}") as db:
            db.execute(_UPSERT_CONFIG, (game, orjson.dumps(config.to_data())))

    def set_following(self, game: str, following: bool) -> None:
        with self._writing(f"following of game {game}") as db:
            db.execute(
                "INSERT INTO games (id, following) VALUES (?, ?) "
                "ON CONFLICT(id) DO UPDATE SET following = excluded.following",
                (game, int(following)),
            )

    def followed_games(self) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM games WHERE following = 1 ORDER BY id"
            ).fetchall()
        return [r[0] for r in rows]

    # -- event log ---------------------------------------------------------------------------

    def events_since(self, game: str, since: int = 0, limit: int = 1000) -> list[bytes]:
        """Encoded events with seq > since, oldest first: the exact bytes that were sent."""
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM events WHERE game = ? AND seq > ? ORDER BY seq LIMIT ?",
                (game, since, limit),
            ).fetchall()
        return [r[0] for r in rows]

    def events_of_types(self, game: str, types: Sequence[str]) -> list[bytes]:
        """Every logged event of these types, oldest first (to fold operator state on load)."""
        marks = ",".join("?" * len(types))
        with self._lock:
            rows = self._db.execute(
                f"SELECT body FROM events WHERE game = ? AND type IN ({marks}) ORDER BY seq",
                (game, *types),
            ).fetchall()
        return [r[0] for r in rows]

    def events_tail(self, game: str, limit: int) -> list[bytes]:
        """The newest ``limit`` events, oldest first (to warm the replay buffer on start)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM events WHERE game = ? ORDER BY seq DESC LIMIT ?", (game, limit)
            ).fetchall()
        return [r[0] for r in reversed(rows)]

    def event_count(self, game: str) -> int:
        with self._lock:
            return int(
                self._db.execute("SELECT COUNT(*) FROM events WHERE game = ?", (game,)).fetchone()[
                    0
                ]
            )

    # -- audit -------------------------------------------------------------------------------

    def add_audit(self, game: str, at: int, who: str, action: str, before: Any, after: Any) -> None:
        """An operator action with no event of its own (follow, unfollow)."""
        with self._writing(f"audit of game {game}") as db:
            db.execute(_INSERT_AUDIT, AuditRow(at, who, action, before, after).row(game))

    def audit(self, game: str, limit: int = 500) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT at, who, action, before, after FROM audit WHERE game = ? "
                "ORDER BY id DESC LIMIT ?",
                (game, limit),
            ).fetchall()
        return [
            {
                "at": at,
                "who": who,
                "action": action,
                "before": orjson.loads(b),
                "after": orjson.loads(a),
            }
            for at, who, action, b, a in rows
        ]
