"""The games being followed: one Game and one Poller task per event id, started and stopped
at run time (``POST``/``DELETE /api/games``) inside the app's task group.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.to_thread
import httpx
import orjson
from anyio.abc import TaskGroup

from server.config import Settings
from server.core.events import GRAPHIC, HOLD, OVERRIDE, SUGGESTION, Event
from server.core.onair import fold
from server.core.override import fold as fold_override
from server.core.snapshot import FeedInfo, build_state, flat_row
from server.core.suggestions import Book
from server.errors import ConfigError, StoreError
from server.live.ledger import Game
from server.live.poller import Poller
from server.live.store import Store
from server.live.upstream import Credentials, UpstreamClient
from server.live.vmix_push import VmixOutput
from server.web.hub import Hub
from server.web.metrics import Metrics

log = logging.getLogger("shotfeed.games")

_GAME_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


OUTPUT_RESTART_S = 5.0


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


def check_game_id(game_id: Any) -> str:
    """An event id is used in URLs and file paths: keep it to a safe alphabet."""
    if not isinstance(game_id, str) or not _GAME_ID.match(game_id):
        raise ConfigError(
            "a game id is 1-128 characters of letters, digits and . _ : - "
            f"(got {str(game_id)[:40]!r})"
        )
    return game_id


class Games:
    """Registry of followed games; owns their pollers' cancel scopes."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        hub: Hub,
        metrics: Metrics,
        http: httpx.AsyncClient,
        *,
        outputs_http: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.hub = hub
        self.metrics = metrics
        creds = Credentials(settings.username, settings.secret) if settings.signing else None
        if creds is None:
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
        self._limiter = anyio.CapacityLimiter(1)

    def _publish(self, game: str, events: Sequence[Event], encoded: Sequence[bytes]) -> None:
        g = self.games.get(game)
        if g is not None:
            for e in events:
                g.onair = g.onair.apply(e.type, e.data)
                g.override = g.override.apply(e.type, e.data)
        self.hub.publish(game, events, encoded)
        output = self.vmix.get(game)
        if output is not None:
            output.poke()  # never waits: the output's own task does the calls

    async def start(self, tg: TaskGroup, game_ids: Sequence[str]) -> None:
        self._tg = tg
        stored = await anyio.to_thread.run_sync(self.store.followed_games)
        for game_id in dict.fromkeys([*game_ids, *stored]):
            await self.follow(game_id, starting=True)

    async def follow(self, game_id: str, *, starting: bool = False) -> Game:
        """Start following (idempotent): load the game from the store, start its poller.

        ``starting``: a store that cannot be written must not keep the server from coming up
        (a restart on a full disk would otherwise be down until someone frees it). The game is
        followed anyway, from the settings or the stored list; the store's health says what is
        wrong. At run time (``POST /api/games``) the StoreError propagates: nothing changed.
        """
        check_game_id(game_id)
        if game_id in self.games:
            return self.games[game_id]
        game = Game(
            game_id, self.store, self.settings, publish=self._publish, limiter=self._limiter
        )
        await game.load()
        tail = await anyio.to_thread.run_sync(self.store.events_tail, game_id, self.settings.retain)
        self.hub.warm(game_id, tail)
        operator_log = await anyio.to_thread.run_sync(self._operator_events, game_id)
        game.onair = fold(operator_log)
        game.override = fold_override(operator_log)
        game.book = Book.from_events(operator_log)
        try:
            await anyio.to_thread.run_sync(self.store.set_following, game_id, True)
        except StoreError:
            if not starting:
                raise
        poller = Poller(game, self.client, self.settings, metrics=self.metrics)
        output = VmixOutput(
            game_id,
            self.outputs_http,
            lambda: game.config.vmix,
            lambda: flat_row(self.state(game_id)),
            counts=self.metrics,
        )
        self.games[game_id] = game
        self.pollers[game_id] = poller
        self.vmix[game_id] = output
        if self._tg is not None:
            scope = anyio.CancelScope()
            self._scopes[game_id] = scope
            self._tg.start_soon(self._run, poller, output, scope)
        output.poke()  # a stored vMix map takes effect at once
        return game

    def _operator_events(self, game_id: str) -> list[dict[str, Any]]:
        bodies = self.store.events_of_types(game_id, (HOLD, GRAPHIC, OVERRIDE, SUGGESTION))
        return [orjson.loads(b) for b in bodies]

    @staticmethod
    async def _run(poller: Poller, output: VmixOutput, scope: anyio.CancelScope) -> None:
        with scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_supervised, output)
                await poller.run()

    async def unfollow(self, game_id: str) -> bool:
        """Stop polling a game; its log and state stay in the store."""
        if game_id not in self.games:
            return False
        scope = self._scopes.pop(game_id, None)
        if scope is not None:
            scope.cancel()
        self.games.pop(game_id)
        self.pollers.pop(game_id, None)
        self.vmix.pop(game_id, None)
        await anyio.to_thread.run_sync(self.store.set_following, game_id, False)
        return True

    def feed_info(self, game_id: str) -> FeedInfo:
        game = self.games[game_id]
        poller = self.pollers.get(game_id)
        feed = game.feed()  # the upstream's health, or the store's when it cannot be written
        return FeedInfo(
            feed.ok, feed.error, feed.message, poller.last_success_at if poller else None
        )

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
