"""The Redis broker: many web and poll processes, one log per game, one poller per game.

Keys (``P`` is ``SHOTFEED_REDIS_PREFIX``, ``G`` a game id)::

    P:g:G:meta     hash    version, seq, state, config   (what a process loads)
    P:g:G:shots    hash    shot key -> record
    P:g:G:events   stream  one entry per event, id "<seq>-0", capped at SHOTFEED_RETAIN
    P:g:G:ops      list    every hold/graphic/override/suggestion event (folded on load)
    P:g:G:audit    list    the operator audit log, oldest first
    P:g:G:leader   string  the leading poller's token, with a TTL it renews while it polls
    P:games        set     the games followed (SHOTFEED_GAMES and POST /api/games of any process)
    P:live         hash    game -> when its leader last polled successfully (epoch ms)
    P:changes      stream  one entry per commit of any game, and per follow/unfollow

Why one script per commit: the events, the stream entries, the shots, the state, the audit row
and the change notice land together or not at all, and the script first checks the game's
version (compare-and-set) and, for a poller, its leadership token, in the same atomic step.
The seq of every event is thereby assigned with its append: the stream's id *is* the seq, and
a stream refuses an id that is not above its last one.

Web processes follow ``P:changes`` with ``XREAD BLOCK`` (one cursor for all games): each entry
carries the events' exact bytes and the new state, so a process applies another's commit
without a second round trip and fans the same bytes out to its own clients.

Every Redis failure is turned into :class:`~server.live.broker.BrokerUnavailable` here, and the
broker's :attr:`health` says so until a call succeeds again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import (
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TryAgainError,
)

from server.core.roster import GameConfig
from server.core.tracker import GameState, KnownShot
from server.live.broker import (
    BROKER_UNAVAILABLE,
    FOLDED_TYPES,
    BrokerUnavailable,
    Commit,
    Conflict,
    Loaded,
    NotLeader,
)
from server.live.store import AuditRow, LoadedGame, StoreHealth

log = logging.getLogger("shotfeed.redis")

# P:changes is only the notice board: a process that fell further behind than this reloads
# each game from its keys instead.
CHANGES_MAXLEN = 10_000
# How long one XREAD waits for news before the reader looks at the pollers' health.
BLOCK_MS = 1000

T = TypeVar("T")

_UNAVAILABLE_REPLIES = (OutOfMemoryError, ReadOnlyError, TryAgainError)

# The folded types (kept whole in P:g:G:ops, since the event stream keeps only the newest
# SHOTFEED_RETAIN), as the commit script tests an event's type: from the one list in Python.
_FOLDED_LUA = " or ".join(f"typ == '{t}'" for t in FOLDED_TYPES)

_COMMIT = """
local v = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if v ~= tonumber(ARGV[1]) then return {'conflict', v} end
if ARGV[2] ~= '' and redis.call('GET', KEYS[7]) ~= ARGV[2] then return {'not_leader', v} end
local nv = v + 1
local i = 12
local nshots = tonumber(ARGV[11])
for _ = 1, nshots do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  i = i + 2
end
local nevents = tonumber(ARGV[i])
i = i + 1
local note = {'XADD', KEYS[6], 'MAXLEN', '~', ARGV[8], '*', 'g', ARGV[9], 'v', nv,
              's', ARGV[3], 'st', ARGV[4], 'sh', ARGV[10]}
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[1], 'config', ARGV[5])
  table.insert(note, 'cf'); table.insert(note, ARGV[5])
end
for n = 1, nevents do
  local seq, typ, body = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[7], seq .. '-0', 'e', body)
  if FOLDED then
    redis.call('RPUSH', KEYS[4], body)
  end
  table.insert(note, 'e' .. n); table.insert(note, body)
  i = i + 3
end
if ARGV[6] ~= '' then redis.call('RPUSH', KEYS[5], ARGV[6]) end
redis.call('HSET', KEYS[1], 'version', nv, 'seq', ARGV[3], 'state', ARGV[4])
redis.call(unpack(note))
return {'ok', nv}
""".replace("FOLDED", _FOLDED_LUA)

# Put a process's own copy of a game back when Redis has less of it (a restart without
# persistence): only ever forward, so the process that saw the most wins.
_RESTORE = """
local v = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if v >= tonumber(ARGV[1]) then return v end
redis.call('DEL', KEYS[2])
local i = 8
for _ = 1, tonumber(ARGV[7]) do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  i = i + 2
end
local nops = tonumber(ARGV[i])
i = i + 1
if nops > 0 then
  redis.call('DEL', KEYS[5])
  for _ = 1, nops do
    redis.call('RPUSH', KEYS[5], ARGV[i])
    i = i + 1
  end
end
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'seq', ARGV[2], 'state', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'config', ARGV[4]) end
redis.call('SADD', KEYS[4], ARGV[5])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'g', ARGV[5], 'v', ARGV[1],
           's', ARGV[2], 'r', '1')
return tonumber(ARGV[1])
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of ``P:changes``: a commit (events, state, shots), a restore, or a follow.

    ``follow`` is True/False for follow/unfollow notices (nothing else is set then);
    ``restored`` marks a game put back after Redis lost it (reload it from its keys).
    """

    game: str
    version: int = 0
    seq: int = 0
    state: bytes | None = None
    shots: bytes = b"[]"
    config: bytes | None = None
    events: tuple[bytes, ...] = ()
    follow: bool | None = None
    restored: bool = False

    @classmethod
    def parse(cls, fields: dict[bytes, bytes]) -> Change:
        game = fields[b"g"].decode()
        if b"f" in fields:
            return cls(game, follow=fields[b"f"] == b"1")
        events = []
        n = 1
        while (body := fields.get(b"e%d" % n)) is not None:
            events.append(body)
            n += 1
        return cls(
            game,
            version=int(fields[b"v"]),
            seq=int(fields[b"s"]),
            state=fields.get(b"st"),
            shots=fields.get(b"sh", b"[]"),
            config=fields.get(b"cf"),
            events=tuple(events),
            restored=b"r" in fields,
        )


def _shots_json(records: Sequence[bytes]) -> bytes:
    return b"[" + b",".join(records) + b"]"


class RedisBroker:
    """The shared broker of ``shotfeed web`` / ``shotfeed poll`` (and ``serve`` with REDIS_URL)."""

    shared = True

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "shotfeed",
        retain: int = 1000,
        timeout: float = 2.0,
        client: Redis | None = None,
    ) -> None:
        # No retries inside redis-py: a call that fails fails now, and the caller's own backoff
        # (the poller's, the reader's) decides when to try again. The timeouts bound how long
        # an operator's request or a poll can hang on a Redis that stopped answering.
        # Any: redis-py types every reply as bytes-or-str (it depends on decode_responses);
        # this client never decodes, so every reply here is bytes.
        self.redis: Any = client or Redis.from_url(
            url,
            socket_timeout=timeout + BLOCK_MS / 1000,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
        self.url = url
        self.prefix = prefix
        self.retain = retain
        self._health = StoreHealth()
        self._commit = self.redis.register_script(_COMMIT)
        self._restore = self.redis.register_script(_RESTORE)
        self._renew = self.redis.register_script(_RENEW)
        self._release = self.redis.register_script(_RELEASE)

    # -- keys and health ---------------------------------------------------------------------

    def key(self, game: str, what: str) -> str:
        return f"{self.prefix}:g:{game}:{what}"

    @property
    def games_key(self) -> str:
        return f"{self.prefix}:games"

    @property
    def changes_key(self) -> str:
        return f"{self.prefix}:changes"

    @property
    def live_key(self) -> str:
        return f"{self.prefix}:live"

    @property
    def health(self) -> StoreHealth:
        return self._health

    @property
    def error_code(self) -> str:
        return BROKER_UNAVAILABLE

    def _set_health(self, ok: bool, message: str | None) -> None:
        cur = self._health
        self._health = new = cur.after(ok, message, int(time.time() * 1000))
        if new.ok == cur.ok:
            return
        if ok:
            down_s = (new.since - (cur.since or new.since)) / 1000 if new.since else 0.0
            log.warning("Redis reachable again after %.1f s", down_s)
        else:
            log.error("Redis unavailable: %s; retrying with backoff", message)

    async def _call(self, what: str, make: Callable[[], Awaitable[T]]) -> T:
        """One Redis round trip; a failure of Redis (not of our script) is BrokerUnavailable."""
        try:
            out = await make()
        except _UNAVAILABLE_REPLIES as exc:
            # Redis answers but cannot take writes now: full (maxmemory with noeviction), a
            # replica (a primary demoted by a failover), or busy: an outage like any other
            message = f"Redis refuses writes ({what}): {type(exc).__name__}: {exc}"[:300]
            self._set_health(False, message)
            raise BrokerUnavailable(message) from exc
        except ResponseError:
            raise  # a bug in a script or a wrong type: not an outage
        except (RedisError, OSError) as exc:
            # No URL in it: the message is public (state.feed, /healthz); a password could
            # be part of the URL.
            message = f"cannot reach Redis ({what}): {type(exc).__name__}: {exc}"[:300]
            self._set_health(False, message)
            raise BrokerUnavailable(message) from exc
        self._set_health(True, None)
        return out

    async def ping(self) -> None:
        await self._call("ping", self.redis.ping)

    # -- games -------------------------------------------------------------------------------

    async def load_game(self, game: str) -> Loaded:
        async def load() -> tuple[dict[bytes, bytes], dict[bytes, bytes], bool]:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hgetall(self.key(game, "meta"))
                pipe.hgetall(self.key(game, "shots"))
                pipe.sismember(self.games_key, game)
                meta, shots, following = await pipe.execute()
            return meta, shots, bool(following)

        meta, shot_rows, following = await self._call(f"load game {game}", load)
        version = int(meta.get(b"version", 0))
        seq = int(meta.get(b"seq", 0))
        config_blob = meta.get(b"config")
        config = GameConfig.from_data(orjson.loads(config_blob)) if config_blob else GameConfig()
        state = None
        state_blob = meta.get(b"state")
        if state_blob:
            rec = orjson.loads(state_blob)
            rec["seq"] = seq
            shots = [KnownShot.from_record(orjson.loads(r)) for r in shot_rows.values()]
            state = GameState.from_record(rec, shots)
        return Loaded(LoadedGame(state, config, following, seq), version)

    async def commit(self, game: str, commit: Commit) -> None:
        state = commit.state
        records = [orjson.dumps(k.to_record()) for k in commit.shots]
        args: list[Any] = [
            commit.version,
            commit.fence or "",
            state.seq,
            orjson.dumps(state.to_record()),
            orjson.dumps(commit.config.to_data()) if commit.config is not None else "",
            orjson.dumps(_audit_doc(commit.audit)) if commit.audit is not None else "",
            self.retain,
            CHANGES_MAXLEN,
            game,
            _shots_json(records),
            len(records),
        ]
        for shot, record in zip(commit.shots, records, strict=True):
            args += [shot.key, record]
        args.append(len(commit.events))
        for event, body in zip(commit.events, commit.encoded, strict=True):
            args += [event.seq, event.type, body]
        keys = [
            self.key(game, "meta"),
            self.key(game, "shots"),
            self.key(game, "events"),
            self.key(game, "ops"),
            self.key(game, "audit"),
            self.changes_key,
            self.key(game, "leader"),
        ]
        out = await self._call(f"commit to game {game}", lambda: self._commit(keys=keys, args=args))
        verdict = out[0].decode() if isinstance(out[0], bytes) else str(out[0])
        if verdict == "conflict":
            raise Conflict(int(out[1]))
        if verdict == "not_leader":
            raise NotLeader(f"game {game}: this poller no longer leads it")

    async def restore(
        self,
        game: str,
        version: int,
        state: GameState,
        config: GameConfig,
        ops: Sequence[bytes] = (),
    ) -> int:
        """Put this process's copy of a game back if Redis has an older one (or none): its
        state, shots, config and operator log (what every process folds on load); the
        version Redis has afterwards."""
        shots = list(state.shots.values())
        args: list[Any] = [
            version,
            state.seq,
            orjson.dumps(state.to_record()),
            orjson.dumps(config.to_data()),
            game,
            CHANGES_MAXLEN,
            len(shots),
        ]
        for shot in shots:
            args += [shot.key, orjson.dumps(shot.to_record())]
        args.append(len(ops))
        args += list(ops)
        keys = [
            self.key(game, "meta"),
            self.key(game, "shots"),
            self.changes_key,
            self.games_key,
            self.key(game, "ops"),
        ]
        out = await self._call(f"restore game {game}", lambda: self._restore(keys=keys, args=args))
        return int(out)

    async def probe(self) -> None:
        await self.ping()

    # -- the event log -----------------------------------------------------------------------

    async def events_since(self, game: str, since: int, limit: int) -> list[bytes]:
        rows = await self._call(
            f"events of {game}",
            lambda: self.redis.xrange(self.key(game, "events"), f"{since + 1}-0", "+", count=limit),
        )
        return [fields[b"e"] for _, fields in rows]

    async def events_tail(self, game: str, limit: int) -> list[bytes]:
        rows = await self._call(
            f"events of {game}",
            lambda: self.redis.xrevrange(self.key(game, "events"), "+", "-", count=limit),
        )
        return [fields[b"e"] for _, fields in reversed(rows)]

    async def operator_events(self, game: str, types: Sequence[str]) -> list[bytes]:
        bodies: list[bytes] = await self._call(
            f"operator log of {game}", lambda: self.redis.lrange(self.key(game, "ops"), 0, -1)
        )
        if set(types) >= set(FOLDED_TYPES):
            return bodies
        wanted = set(types)
        return [b for b in bodies if orjson.loads(b).get("type") in wanted]

    # -- following ---------------------------------------------------------------------------

    async def followed_games(self) -> list[str]:
        members = await self._call("followed games", lambda: self.redis.smembers(self.games_key))
        return sorted(m.decode() for m in members)

    async def set_following(self, game: str, following: bool) -> None:
        async def write() -> None:
            async with self.redis.pipeline(transaction=True) as pipe:
                if following:
                    pipe.sadd(self.games_key, game)
                else:
                    pipe.srem(self.games_key, game)
                pipe.xadd(
                    self.changes_key,
                    {"g": game, "f": "1" if following else "0"},
                    maxlen=CHANGES_MAXLEN,
                    approximate=True,
                )
                await pipe.execute()

        await self._call(f"following of {game}", write)

    async def add_following(self, games: Sequence[str]) -> None:
        """SHOTFEED_GAMES of a starting process: followed by all, announced only if new."""

        async def add(game: str) -> None:
            if await self.redis.sadd(self.games_key, game):
                await self.redis.xadd(
                    self.changes_key,
                    {"g": game, "f": "1"},
                    maxlen=CHANGES_MAXLEN,
                    approximate=True,
                )

        for game in games:
            await self._call("followed games", lambda g=game: add(g))  # type: ignore[misc]

    # -- audit -------------------------------------------------------------------------------

    async def add_audit(
        self, game: str, at: int, who: str, action: str, before: Any, after: Any
    ) -> None:
        doc = _audit_doc(AuditRow(at, who, action, before, after))
        await self._call(
            f"audit of {game}", lambda: self.redis.rpush(self.key(game, "audit"), orjson.dumps(doc))
        )

    async def audit(self, game: str, limit: int) -> list[dict[str, Any]]:
        rows = await self._call(
            f"audit of {game}", lambda: self.redis.lrange(self.key(game, "audit"), -limit, -1)
        )
        return [orjson.loads(r) for r in reversed(rows)]

    # -- pollers' health ---------------------------------------------------------------------

    async def mark_polled(self, game: str, at: int) -> None:
        await self._call("poll health", lambda: self.redis.hset(self.live_key, game, at))

    async def pollers(self, games: Sequence[str]) -> dict[str, tuple[int | None, str | None]]:
        """Per game: when its leader last polled successfully, and who leads it now (the
        token ``host:pid:…``, None while nobody does). One round trip."""

        async def read() -> tuple[dict[bytes, bytes], list[bytes | None]]:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hgetall(self.live_key)
                for game in games:
                    pipe.get(self.key(game, "leader"))
                live, *leaders = await pipe.execute()
            return live, leaders

        live, leaders = await self._call("poll health", read)
        out: dict[str, tuple[int | None, str | None]] = {}
        for game, leader in zip(games, leaders, strict=True):
            at = live.get(game.encode())
            out[game] = (int(at) if at else None, leader.decode() if leader else None)
        return out

    # -- the change feed ---------------------------------------------------------------------

    async def changes_cursor(self) -> bytes:
        """Where a process starts reading ``P:changes``: after its newest entry (taken before
        the games are loaded, so nothing committed between the two is missed)."""
        rows = await self._call(
            "change feed", lambda: self.redis.xrevrange(self.changes_key, "+", "-", count=1)
        )
        return bytes(rows[0][0]) if rows else b"0-0"

    async def read_changes(
        self, cursor: bytes, block_ms: int = BLOCK_MS
    ) -> list[tuple[bytes, Change]]:
        """The next changes after ``cursor`` (waits up to ``block_ms`` for one)."""
        reply = await self._call(
            "change feed",
            lambda: self.redis.xread({self.changes_key: cursor}, count=500, block=block_ms),
        )
        out: list[tuple[bytes, Change]] = []
        for _stream, entries in reply or ():
            for entry_id, fields in entries:
                out.append((bytes(entry_id), Change.parse(fields)))
        return out

    async def changes_from(self, cursor: bytes) -> bool:
        """Whether ``P:changes`` still holds what follows ``cursor`` (False after a trim past
        it, or when Redis came back empty): otherwise a reader must reload every game."""
        if cursor == b"0-0":
            return True
        rows = await self._call(
            "change feed", lambda: self.redis.xrange(self.changes_key, "-", "+", count=1)
        )
        if not rows:
            return False
        first = bytes(rows[0][0])
        return _id_key(first) <= _id_key(cursor)

    # -- poller leadership -------------------------------------------------------------------

    async def try_lead(self, game: str, token: str, ttl_ms: int) -> bool:
        got = await self._call(
            f"leader of {game}",
            lambda: self.redis.set(self.key(game, "leader"), token, nx=True, px=ttl_ms),
        )
        return bool(got)

    async def renew(self, game: str, token: str, ttl_ms: int) -> bool:
        out = await self._call(
            f"leader of {game}",
            lambda: self._renew(keys=[self.key(game, "leader")], args=[token, ttl_ms]),
        )
        return bool(out)

    async def release(self, game: str, token: str) -> None:
        await self._call(
            f"leader of {game}",
            lambda: self._release(keys=[self.key(game, "leader")], args=[token]),
        )

    async def leader(self, game: str) -> str | None:
        got = await self._call(
            f"leader of {game}", lambda: self.redis.get(self.key(game, "leader"))
        )
        return got.decode() if got else None

    async def aclose(self) -> None:
        try:
            await self.redis.aclose()
        except (RedisError, OSError) as exc:
            log.debug("closing the Redis client: %r", exc)


def _audit_doc(row: AuditRow) -> dict[str, Any]:
    return {
        "at": row.at,
        "who": row.who,
        "action": row.action,
        "before": row.before,
        "after": row.after,
    }


def _id_key(entry_id: bytes) -> tuple[int, int]:
    ms, _, n = entry_id.partition(b"-")
    return int(ms), int(n or 0)
