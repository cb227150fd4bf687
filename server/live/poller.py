"""The poll loop of one game: fetch, hand to the game, decide when to ask again.

It never stops on an error and never drops the last good state: a failure only changes the
feed health (``feed_status`` on transitions) and the delay before the next try. The delay
policy is a pure function (:func:`next_delay`) so its rules are tested without waiting:

* healthy: the poll interval while the game is ACTIVE, a slower one otherwise;
* failing: exponential backoff with full jitter, capped (30 s by default);
* 401/403: a slow fixed retry, so a bad key does not hammer ShotTracker;
* 429: at least what Retry-After asks.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from dataclasses import dataclass

import anyio

from server.config import Settings
from server.errors import UpstreamError
from server.live.ledger import Game
from server.live.upstream import (
    FORBIDDEN,
    RATE_LIMITED,
    UNAUTHORIZED,
    UPSTREAM_ERROR,
    NotModified,
    Shots,
    UpstreamClient,
)
from server.web.metrics import Metrics

log = logging.getLogger("shotfeed.poller")

ACTIVE = "ACTIVE"
MIN_DELAY_S = 0.05


def next_delay(
    *,
    settings: Settings,
    status: str | None,
    failures: int,
    error: UpstreamError | None,
    rng: random.Random,
) -> float:
    """Seconds to wait before the next poll (pure: randomness comes in as ``rng``)."""
    if error is None:
        return settings.poll_interval if status in (ACTIVE, None) else settings.idle_interval
    if error.code in (FORBIDDEN, UNAUTHORIZED):
        return settings.auth_retry
    ceiling = min(settings.backoff_cap, settings.poll_interval * (2 ** min(failures, 30)))
    delay = max(MIN_DELAY_S, rng.uniform(0, ceiling))
    if error.code == RATE_LIMITED and error.retry_after is not None:
        delay = max(delay, error.retry_after)
    return delay


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """What one poll did: ``ok``, ``not_modified`` or ``failed``, and when to poll again."""

    outcome: str
    delay: float
    events: int = 0
    error: UpstreamError | None = None


class Poller:
    """Polls one game until cancelled."""

    def __init__(
        self,
        game: Game,
        client: UpstreamClient,
        settings: Settings,
        *,
        metrics: Metrics | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.game = game
        self.client = client
        self.settings = settings
        self.metrics = metrics
        self.rng = rng or random.Random()
        self.failures = 0
        self.etag: str | None = None
        self.last_success_at: int | None = None
        self.last_error: UpstreamError | None = None

    async def poll_once(self) -> PollOutcome:
        """One fetch and its consequences; raises nothing but cancellation."""
        started = time.perf_counter()
        try:
            result = await self.client.fetch_shots(
                self.game.id, etag=self.etag, parser=self.game.parser
            )
            if isinstance(result, Shots):
                detection = await self.game.apply_poll(result.payload)
                events = len(detection.events)
                outcome = "ok"
                self.etag = result.etag
            else:
                assert isinstance(result, NotModified)
                # Nothing new upstream, but time moved on: the detector still has to see the
                # poll (a clock that stopped is only noticed by its value not changing).
                events = 0
                outcome = "not_modified"
                last = self.game.parser.last_payload
                if last is not None:
                    events = len((await self.game.apply_poll(last)).events)
            self.failures = 0
            self.last_error = None
            self.last_success_at = self.game.now_ms()
            await self.game.apply_feed(True, None, None)
        except UpstreamError as exc:
            return await self._failed(exc, started)
        except (OSError, sqlite3.Error) as exc:  # the store: keep polling, state not advanced
            log.exception("game %s: could not persist a poll", self.game.id)
            return await self._failed(
                UpstreamError(UPSTREAM_ERROR, f"store error: {exc}"), started, report=False
            )
        self._observe(outcome, started)
        delay = next_delay(
            settings=self.settings,
            status=self.game.state.status,
            failures=0,
            error=None,
            rng=self.rng,
        )
        return PollOutcome(outcome, delay, events)

    async def _failed(
        self, exc: UpstreamError, started: float, *, report: bool = True
    ) -> PollOutcome:
        self.failures += 1
        self.last_error = exc
        if self.failures == 1 or self.failures % 30 == 0:
            log.warning(
                "game %s: poll failed (%s, %d in a row): %s",
                self.game.id,
                exc.code,
                self.failures,
                exc.message,
            )
        if report:
            await self.game.apply_feed(False, exc.code, exc.message)
        self._observe(exc.code, started)
        delay = next_delay(
            settings=self.settings,
            status=self.game.state.status,
            failures=self.failures,
            error=exc,
            rng=self.rng,
        )
        return PollOutcome("failed", delay, 0, exc)

    def _observe(self, outcome: str, started: float) -> None:
        if self.metrics is not None:
            self.metrics.polls.labels(outcome).inc()
            self.metrics.poll_seconds.observe(time.perf_counter() - started)

    async def run(self) -> None:
        """Poll until cancelled. An unexpected bug in one poll is logged, never fatal."""
        log.info("following game %s at %s", self.game.id, self.client.shots_url(self.game.id))
        while True:
            try:
                outcome = await self.poll_once()
                delay = outcome.delay
            except anyio.get_cancelled_exc_class():
                raise
            except Exception:
                log.exception("game %s: unexpected error in a poll; retrying", self.game.id)
                self.failures += 1
                delay = min(self.settings.backoff_cap, self.settings.poll_interval * 5)
            await anyio.sleep(delay)
