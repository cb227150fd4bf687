"""The broker seam: where a game's commits go and where every process learns of them.

Two implementations, chosen by ``REDIS_URL``:

* :class:`LocalBroker` (the embedded default): the SQLite :class:`~server.live.store.Store` of
  one process, nothing to install. That process is the only writer, so a commit can never
  conflict and nobody else needs telling.
* :class:`~server.live.redis_broker.RedisBroker`: many web and poll processes share one Redis.
  Every commit checks the game's *version* (the number of commits so far) it was built on, so
  two writers can never both extend one version: the loser gets :class:`Conflict`, catches up
  and builds its step again. A poller's commits also carry its leadership token
  (:class:`NotLeader` when it was lost), so a paused ex-leader can never write over its
  successor.

Everything a game's shell (:class:`~server.live.ledger.Game`) writes goes through
:meth:`Broker.commit` as one :class:`Commit`, all of it or nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import anyio
import anyio.to_thread

from server.core.events import GRAPHIC, HOLD, OVERRIDE, SUGGESTION, Event
from server.core.roster import GameConfig
from server.core.tracker import GameState, KnownShot
from server.errors import FeedError, StoreError
from server.live.store import STORE_UNWRITABLE, AuditRow, LoadedGame, Store, StoreHealth

BROKER_UNAVAILABLE = "broker_unavailable"
# The operator's event types every process folds on load (what is on air, the override, the
# suggestions): the broker keeps all of them, however many events it keeps otherwise.
FOLDED_TYPES = (HOLD, GRAPHIC, OVERRIDE, SUGGESTION)


class BrokerUnavailable(StoreError):
    """Redis could not be reached (down, restarting, a timeout): nothing was written."""

    code = BROKER_UNAVAILABLE


class Conflict(FeedError):
    """Another process committed to this game since this one last caught up (the version moved).

    Nothing was written; the caller catches up and builds its step again on the new state.
    """

    def __init__(self, version: int) -> None:
        super().__init__(f"the game is at version {version}")
        self.version = version


class NotLeader(FeedError):
    """A poller's commit refused: its leadership of the game lapsed (another poller may lead)."""


@dataclass(frozen=True, slots=True)
class Commit:
    """One step of a game, written whole or not at all.

    ``version`` is the game's version the step was built on (the commit makes it
    ``version + 1``); ``fence`` the poller's leadership token, or None for an operator's step.
    """

    version: int
    state: GameState
    events: Sequence[Event]
    encoded: Sequence[bytes]
    shots: Sequence[KnownShot] = ()
    audit: AuditRow | None = None
    config: GameConfig | None = None
    fence: str | None = None


@dataclass(frozen=True, slots=True)
class Loaded:
    """What a process gets back for one game: the stored game and its version."""

    game: LoadedGame
    version: int


class Broker(Protocol):
    """What the live shell needs of the place where games are kept."""

    shared: bool
    """True when other processes write the same games (a commit may conflict)."""

    @property
    def health(self) -> StoreHealth: ...

    @property
    def error_code(self) -> str:
        """The feed error code shown while ``health`` is bad."""
        ...

    async def load_game(self, game: str) -> Loaded: ...

    async def commit(self, game: str, commit: Commit) -> None:
        """Raises StoreError (nothing written), Conflict or NotLeader."""
        ...

    async def restore(
        self, game: str, version: int, state: GameState, config: GameConfig, ops: Sequence[bytes]
    ) -> int:
        """Put a process's copy of a game back where the broker has less of it; the version
        the broker has afterwards."""
        ...

    async def probe(self) -> None: ...

    async def events_since(self, game: str, since: int, limit: int) -> list[bytes]: ...

    async def events_tail(self, game: str, limit: int) -> list[bytes]: ...

    async def operator_events(self, game: str, types: Sequence[str]) -> list[bytes]:
        """Every logged event of these types, oldest first (folded on load)."""
        ...

    async def followed_games(self) -> list[str]: ...

    async def set_following(self, game: str, following: bool) -> None: ...

    async def add_audit(
        self, game: str, at: int, who: str, action: str, before: Any, after: Any
    ) -> None: ...

    async def audit(self, game: str, limit: int) -> list[dict[str, Any]]: ...

    async def mark_polled(self, game: str, at: int) -> None:
        """A poll of this game succeeded at ``at`` (what other processes show as lastSuccessAt)."""
        ...

    async def aclose(self) -> None: ...


class LocalBroker:
    """The embedded default: one process's SQLite store, its blocking calls in a worker thread.

    One capacity limiter for every game's writes (SQLite has one writer anyway), as before the
    seam existed. The version is counted in memory: nobody else writes, so it cannot conflict.
    """

    shared = False

    def __init__(self, store: Store, limiter: anyio.CapacityLimiter | None = None) -> None:
        self.store = store
        self._limiter = limiter or anyio.CapacityLimiter(1)

    @property
    def health(self) -> StoreHealth:
        return self.store.health

    @property
    def error_code(self) -> str:
        return STORE_UNWRITABLE

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await anyio.to_thread.run_sync(partial(fn, *args), limiter=self._limiter)

    async def load_game(self, game: str) -> Loaded:
        loaded: LoadedGame = await self._run(self.store.load_game, game)
        return Loaded(loaded, 0)

    async def commit(self, game: str, commit: Commit) -> None:
        await anyio.to_thread.run_sync(
            partial(
                self.store.save,
                commit.state,
                commit.events,
                commit.shots,
                encoded=commit.encoded,
                audit=commit.audit,
                config=commit.config,
            ),
            limiter=self._limiter,
        )

    async def restore(
        self, game: str, version: int, state: GameState, config: GameConfig, ops: Sequence[bytes]
    ) -> int:
        return version  # the one writer: the store never has less than this process

    async def probe(self) -> None:
        await self._run(self.store.probe)

    async def events_since(self, game: str, since: int, limit: int) -> list[bytes]:
        out: list[bytes] = await self._run(self.store.events_since, game, since, limit)
        return out

    async def events_tail(self, game: str, limit: int) -> list[bytes]:
        out: list[bytes] = await self._run(self.store.events_tail, game, limit)
        return out

    async def operator_events(self, game: str, types: Sequence[str]) -> list[bytes]:
        out: list[bytes] = await self._run(self.store.events_of_types, game, types)
        return out

    async def followed_games(self) -> list[str]:
        out: list[str] = await self._run(self.store.followed_games)
        return out

    async def set_following(self, game: str, following: bool) -> None:
        await self._run(self.store.set_following, game, following)

    async def add_audit(
        self, game: str, at: int, who: str, action: str, before: Any, after: Any
    ) -> None:
        await self._run(self.store.add_audit, game, at, who, action, before, after)

    async def audit(self, game: str, limit: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = await self._run(self.store.audit, game, limit)
        return out

    async def mark_polled(self, game: str, at: int) -> None:
        return None  # the one process's poller holds it

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            self.store.checkpoint()
            self.store.close()


def as_broker(store: Store | Broker, limiter: anyio.CapacityLimiter | None = None) -> Broker:
    """A Store given where a Broker is wanted (tests, tools) is the embedded broker."""
    if isinstance(store, Store):
        return LocalBroker(store, limiter)
    return store
