"""The games being followed: one Game per event id, and its poller, started and stopped at run
time (``POST``/``DELETE /api/games``) inside the app's task group.

Embedded (SQLite): this process polls every game it follows and is the only writer.

Shared (Redis, ``shotfeed web`` / ``shotfeed poll``): every process keeps every followed game
current from the change feed (:meth:`Games.follow_changes`) and fans its events out to its own
clients; a process with the poll role runs, per game, a leadership loop (:meth:`Games._lead`)
and polls only while it holds the game's lock. Follow and unfollow from any process reach all.
"""

from __future__ import annotations

import logging
import os
import random
import re
import socket
import time
import uuid
from collections.abc import Sequence
from typing import Any

import anyio
import httpx
import orjson
from anyio.abc import TaskGroup

from server.config import Settings
from server.core.events import Event
from server.core.replica import Lease
from server.core.snapshot import FeedInfo, build_state, flat_row
from server.errors import ConfigError, StoreError
from server.live.broker import Broker, NotLeader, as_broker
from server.live.ledger import Game
from server.live.poller import Poller
from server.live.redis_broker import Change, RedisBroker
from server.live.store import Store
from server.live.upstream import Credentials, UpstreamClient
from server.live.vmix_push import VmixOutput
from server.web.hub import Hub
from server.web.metrics import Metrics

log = logging.getLogger("shotfeed.games")

_GAME_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


OUTPUT_RESTART_S = 5.0
# The change feed's retry after Redis failed: full jitter from this, doubling, capped.
RETRY_BASE_S = 0.1
RETRY_CAP_S = 5.0
# How often a process reads when each game's poller last succeeded (lastSuccessAt).
POLLED_EVERY_S = 1.0


async def _supervised(output: VmixOutput, restart_s: float = OUTPUT_RESTART_S) -> None:
    """The vMix output's task, restarted after anything it did not expect: an output is an
    extra, and nothing in it may stop the game's poller (they share a task group)."""
    while True:
        try:
            await output.run()
        except Exception:
            log.exception("game %s: the vMix output failed; restarting it", output.game)
            await anyio.sleep(restart_s)
            output.poke()


async def _poll_with_output(poller: Poller, output: VmixOutput) -> None:
    """A game's poller, with its vMix output supervised beside it in one task group."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(_supervised, output)
        await poller.run()


def check_game_id(game_id: Any) -> str:
    """An event id is used in URLs and file paths: keep it to a safe alphabet."""
    if not isinstance(game_id, str) or not _GAME_ID.match(game_id):
        raise ConfigError(
            "a game id is 1-128 characters of letters, digits and . _ : - "
            f"(got {str(game_id)[:40]!r})"
        )
    return game_id


class Games:
    """Registry of followed games; owns their pollers' cancel scopes.

    ``poll``: this process polls (embedded: always; Redis: the poll role, under leadership).
    """

    def __init__(
        self,
        settings: Settings,
        store: Store | Broker,
        hub: Hub,
        metrics: Metrics,
        http: httpx.AsyncClient,
        *,
        outputs_http: httpx.AsyncClient | None = None,
        poll: bool = True,
    ) -> None:
        self.settings = settings
        self.store = store
        self._limiter = anyio.CapacityLimiter(1)
        self.broker = as_broker(store, self._limiter)
        self.hub = hub
        self.metrics = metrics
        self.poll = poll
        creds = Credentials(settings.username, settings.secret) if settings.signing else None
        if creds is None and poll:
            log.warning("SHOTTRACKER_USERNAME/SHOTTRACKER_SECRET not set: requests go unsigned")
        self.client = UpstreamClient(settings.base_url, creds, http=http)
        self.games: dict[str, Game] = {}
        self.pollers: dict[str, Poller] = {}
        # vMix outputs: their own client, so a slow vMix never holds a connection the
        # upstream's polls need (and tests that fake the upstream do not fake vMix)
        self.outputs_http = outputs_http or http
        self.vmix: dict[str, VmixOutput] = {}
        self._scopes: dict[str, anyio.CancelScope] = {}
        self._tg: TaskGroup | None = None
        # this process's name in a game's leader lock (who leads shows in the logs)
        self.token_prefix = f"{socket.gethostname()}:{os.getpid()}"
        self.leading: set[str] = set()

    @property
    def shared(self) -> bool:
        return self.broker.shared

    def _publish(self, game: str, events: Sequence[Event], encoded: Sequence[bytes]) -> None:
        self.hub.publish(game, events, encoded)
        output = self.vmix.get(game)
        if output is not None:
            output.poke()  # never waits: the output's own task does the calls

    async def start(self, tg: TaskGroup, game_ids: Sequence[str]) -> None:
        self._tg = tg
        if self.shared:
            # Redis: the change feed's first (re)sync follows SHOTFEED_GAMES and every game
            # another process follows; a Redis that is down now is retried there.
            tg.start_soon(self.follow_changes, tuple(game_ids))
            return
        stored = await self.broker.followed_games()
        for game_id in dict.fromkeys([*game_ids, *stored]):
            await self.follow(game_id, starting=True)

    async def follow(self, game_id: str, *, starting: bool = False) -> Game:
        """Start following (idempotent): load the game from the store, start its poller.

        ``starting``: a store that cannot be written must not keep the server from coming up
        (a restart on a full disk would otherwise be down until someone frees it). The game is
        followed anyway, from the settings or the stored list; the store's health says what is
        wrong. At run time (``POST /api/games``) the StoreError propagates: nothing changed.
        With Redis the follow is announced to every process (which then follow it too).
        """
        check_game_id(game_id)
        if game_id in self.games:
            return self.games[game_id]
        try:
            await self.broker.set_following(game_id, True)
        except StoreError:
            if not starting:
                raise
        return await self._follow_here(game_id)

    async def _follow_here(self, game_id: str) -> Game:
        """This process's copy of the game: loaded, folded, its replay buffer warmed; and its
        poller (embedded) or its leadership loop (Redis, poll role)."""
        if game_id in self.games:
            return self.games[game_id]
        game = Game(game_id, self.broker, self.settings, publish=self._publish)
        await game.load()
        await game.fold_log()
        tail = await self.broker.events_tail(game_id, self.settings.retain)
        if self.shared:
            # another process may have committed between the load and the tail: those events
            # reach this process through the change feed, after the state they follow
            tail = [b for b in tail if int(orjson.loads(b)["seq"]) <= game.state.seq]
        if game_id in self.games:  # followed meanwhile (the change feed and a request raced)
            return self.games[game_id]
        self.hub.warm(game_id, tail)
        self.games[game_id] = game
        if self.shared:
            if self.poll and self._tg is not None:
                scope = anyio.CancelScope()
                self._scopes[game_id] = scope
                self._tg.start_soon(self._lead, game, scope)
            return game
        poller, output = self._poller(game)
        if self._tg is not None:
            scope = anyio.CancelScope()
            self._scopes[game_id] = scope
            self._tg.start_soon(self._run, poller, output, scope)
        output.poke()  # a stored vMix map takes effect at once
        return game

    def _poller(self, game: Game) -> tuple[Poller, VmixOutput]:
        poller = Poller(game, self.client, self.settings, metrics=self.metrics)
        output = VmixOutput(
            game.id,
            self.outputs_http,
            lambda: game.config.vmix,
            lambda: flat_row(self.state(game.id)),
            counts=self.metrics,
        )
        self.pollers[game.id] = poller
        self.vmix[game.id] = output
        return poller, output

    @staticmethod
    async def _run(poller: Poller, output: VmixOutput, scope: anyio.CancelScope) -> None:
        with scope:
            await _poll_with_output(poller, output)

    async def unfollow(self, game_id: str) -> bool:
        """Stop polling a game; its log and state stay in the store."""
        if game_id not in self.games:
            return False
        if self.shared:
            await self.broker.set_following(game_id, False)
            self._unfollow_here(game_id)
            return True
        self._unfollow_here(game_id)
        await self.broker.set_following(game_id, False)
        return True

    def _unfollow_here(self, game_id: str) -> None:
        scope = self._scopes.pop(game_id, None)
        if scope is not None:
            scope.cancel()
        self.games.pop(game_id, None)
        self.pollers.pop(game_id, None)
        self.vmix.pop(game_id, None)

    # -- Redis: the change feed ----------------------------------------------------------------

    async def follow_changes(self, announce: Sequence[str] = ()) -> None:
        """Keep every followed game current from the change feed, for ever.

        Redis down: clients stay connected (nothing here touches them), the broker's health
        says so (``/healthz``, ``/metrics``, every ``state.feed``), and this retries with full
        jitter backoff. Back up: it reads on from where it was if the feed still holds that,
        else (trimmed, or a Redis that restarted empty) it brings every game up to date from
        its keys, or puts this process's copy back where Redis lost it.
        """
        assert isinstance(self.broker, RedisBroker)
        broker = self.broker
        rng = random.Random()
        cursor: bytes | None = None
        failures = 0
        announced = False
        polled_at = 0.0
        while True:
            try:
                if failures and cursor is not None and not await broker.changes_from(cursor):
                    cursor = None
                if cursor is None:
                    if not announced:
                        await broker.add_following(announce)
                        announced = True
                    cursor = await self._resync(broker)
                elif failures:
                    for game in list(self.games.values()):
                        await game.sync()  # a Redis restarted with its data, or a missed note
                failures = 0
                batch = await broker.read_changes(cursor)
                for entry_id, change in batch:
                    await self._apply(change)
                    cursor = entry_id
                if time.monotonic() - polled_at >= POLLED_EVERY_S:
                    polled_at = time.monotonic()
                    polled = await broker.pollers(list(self.games))
                    for game_id, (at, leader) in polled.items():
                        seen = self.games.get(game_id)
                        if seen is not None:
                            seen.leader = leader
                            if at is not None:
                                seen.last_success_at = at
            except StoreError as exc:
                failures += 1
                if failures == 1:
                    log.warning("change feed: %s; retrying", exc.message)
            except Exception:
                # a bug, not an outage: logged, and everything reloaded from the keys after
                # the backoff rather than a process that stops following its games
                failures += 1
                cursor = None
                log.exception("change feed: unexpected error; reloading every game")
            else:
                continue
            delay = rng.uniform(0, min(RETRY_CAP_S, RETRY_BASE_S * 2 ** min(failures, 10)))
            await anyio.sleep(max(0.02, delay))

    async def _resync(self, broker: RedisBroker) -> bytes:
        """Everything from the keys: where the feed is now, what is followed, each game."""
        cursor = await broker.changes_cursor()
        for game in list(self.games.values()):
            await game.sync()  # restores what Redis lost (and follows it again)
        followed = await broker.followed_games()
        for game_id in followed:
            if game_id not in self.games:
                await self._follow_here(game_id)
        for game_id in set(self.games) - set(followed):
            self._unfollow_here(game_id)
        return cursor

    async def _apply(self, change: Change) -> None:
        if change.follow is True:
            await self._follow_here(change.game)
            return
        if change.follow is False:
            self._unfollow_here(change.game)
            return
        game = self.games.get(change.game)
        if game is None:
            return
        await game.apply_change(
            change.version,
            change.state,
            change.shots,
            change.config,
            change.events,
            reload=change.restored,
        )

    # -- Redis: one poller per game -------------------------------------------------------------

    async def _lead(self, game: Game, scope: anyio.CancelScope) -> None:
        """Poll this game while (and only while) this process holds its leader lock.

        The lock has a TTL the leader renews every third of it; a leader that cannot renew
        (lost, or Redis unreachable until a quarter of the TTL is left) stops polling before
        the lock can lapse, so two processes never poll one game at once. Its commits carry its
        token too: a paused ex-leader's late commit is refused (``NotLeader``). A follower
        tries to take the lock every tenth of the TTL (at most every half second), so a killed
        leader is replaced about one TTL after its last renewal, and the new one first catches
        up with what the old one committed.
        """
        assert isinstance(self.broker, RedisBroker)
        broker = self.broker
        lease = Lease(self.settings.leader_ttl_s)
        with scope:
            while True:
                token = f"{self.token_prefix}:{uuid.uuid4().hex[:8]}"
                asked = time.monotonic()
                try:
                    got = await broker.try_lead(game.id, token, lease.ttl_ms)
                except StoreError:
                    got = False
                except Exception:
                    log.exception("game %s: taking its lead failed; trying again", game.id)
                    got = False
                if not got:
                    await anyio.sleep(lease.retry_every_s)
                    continue
                try:
                    await self._poll_while_leading(game, token, lease, asked)
                except StoreError as exc:  # Redis failed while taking over: said by its health
                    log.warning("game %s: gave up its lead: %s", game.id, exc.message)
                except Exception:
                    # a bug, not an outage (those are handled inside): never stop following
                    log.exception("game %s: leading its polling failed; trying again", game.id)
                finally:
                    with anyio.CancelScope(shield=True):
                        self._stop_leading(game)
                        try:
                            with anyio.move_on_after(1):
                                await broker.release(game.id, token)
                        except StoreError:
                            pass  # it lapses by itself
                await anyio.sleep(lease.retry_every_s)

    async def _poll_while_leading(self, game: Game, token: str, lease: Lease, taken: float) -> None:
        """``taken``: when the lock was asked for (the lease counts from then)."""
        log.info("game %s: this process leads its polling (%s)", game.id, token)
        await game.sync()  # the state the previous leader committed
        # Not "after an outage" when the last leader polled just now (a takeover, not a feed
        # outage: its shots are still worth animating); it is when the last success is old, or
        # Redis itself failed since (what was held back then is late, as after a store outage).
        last = game.last_success_at
        health = self.broker.health
        fresh = (
            last is not None
            and game.now_ms() - last < self.settings.stale_s * 1000
            and health.ok
            and (health.since is None or health.since < last)
        )
        game.after_outage = game.state.baseline and not fresh
        game.fence = token
        game.lease_until = lease.valid_until(taken)
        self.leading.add(game.id)
        self.metrics.leading.labels(game.id).set(1)
        poller, output = self._poller(game)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._poll_until_refused, poller, output, tg.cancel_scope)
            await self._renew(game, token, lease)
            tg.cancel_scope.cancel()
        log.warning("game %s: no longer leading its polling (%s)", game.id, token)

    @staticmethod
    async def _poll_until_refused(
        poller: Poller, output: VmixOutput, scope: anyio.CancelScope
    ) -> None:
        try:
            await _poll_with_output(poller, output)
        except* NotLeader:
            log.warning(
                "game %s: a commit was refused: its lead lapsed (another poller leads, "
                "or Redis lost the lock)",
                poller.game.id,
            )
            scope.cancel()

    async def _renew(self, game: Game, token: str, lease: Lease) -> None:
        """Returns once this process may no longer be the leader. Meanwhile the game's
        ``lease_until`` says until when it surely is (the poller checks it before each poll:
        a process that was paused past it polls no more, even before this loop wakes)."""
        assert isinstance(self.broker, RedisBroker)
        while True:
            await anyio.sleep(lease.renew_every_s)
            asked = time.monotonic()
            try:
                if not await self.broker.renew(game.id, token, lease.ttl_ms):
                    return  # lost (expired and taken, or Redis restarted empty)
                game.lease_until = lease.valid_until(asked)
            except StoreError:
                if not Lease.may_poll(time.monotonic(), game.lease_until):
                    return  # cannot prove it still leads: stop before it could lapse

    def _stop_leading(self, game: Game) -> None:
        game.fence = None
        game.lease_until = None
        self.leading.discard(game.id)
        self.metrics.leading.labels(game.id).set(0)
        self.pollers.pop(game.id, None)
        self.vmix.pop(game.id, None)

    # -- what the web shell reads ----------------------------------------------------------------

    def feed_info(self, game_id: str) -> FeedInfo:
        game = self.games[game_id]
        poller = self.pollers.get(game_id)
        feed = game.feed()  # the upstream's health, or the store's when it cannot be written
        last = poller.last_success_at if poller is not None else game.last_success_at
        return FeedInfo(feed.ok, feed.error, feed.message, last)

    def state(self, game_id: str) -> dict[str, Any]:
        game = self.games[game_id]
        return build_state(
            game.state,
            game.config,
            game.onair,
            self.feed_info(game_id),
            game.override,
            splits=game.splits,
            suggestions=game.book.open_list(game.now_ms()),
        )

    def shutdown(self) -> None:
        for scope in self._scopes.values():
            scope.cancel()
