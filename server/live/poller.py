"""The poll loop of one game: fetch, hand to the game, decide when to ask again.

It never stops on an error and never drops the last good state: a failure only changes the
feed health (``feed_status`` on transitions) and the delay before the next try. The delay
policy is a pure function (:func:`next_delay`) so its rules are tested without waiting:

* healthy: the poll interval while the game is ACTIVE, a slower one otherwise;
* failing: exponential backoff with full jitter, capped (30 s by default);
* 401/403 with a key that has worked for this game in this run: the same backoff, also capped
  by the auth retry. A refusal in the middle of a game is most likely passing (a signing hiccup,
  an upstream deploy), and a 30 s wait would blind the show;
* 401/403 with a key that has not worked yet for this game: a slow fixed retry, so a wrong key,
  a wrong clock or missing privileges for this game do not hammer ShotTracker;
* 429: at least what Retry-After asks;
* the store cannot be written (``store_unwritable``): the ordinary backoff. Each retry polls,
  detects what is still there upstream and tries the commit again (or :meth:`Store.probe`
  when nothing is waiting to be written), so a freed disk is noticed within the backoff.

"Worked for this game" and not "for any game": one key serves every game, but a 403 on a game
whose polls never succeeded, while other games poll fine, is most likely the key's privileges
for that game, which do not pass by themselves.
"""

from __future__ import annotations

import contextlib
import logging
import random
import sqlite3
import time
from dataclasses import dataclass

import anyio

from server.config import Settings
from server.core.replica import Lease
from server.errors import StoreError, UpstreamError
from server.live.broker import NotLeader
from server.live.ledger import Game
from server.live.upstream import (
    FORBIDDEN,
    RATE_LIMITED,
    UNAUTHORIZED,
    NotModified,
    Shots,
    UpstreamClient,
)
from server.web.metrics import Metrics

log = logging.getLogger("shotfeed.poller")

ACTIVE = "ACTIVE"
MIN_DELAY_S = 0.05


AUTH_CODES = (FORBIDDEN, UNAUTHORIZED)


def next_delay(
    *,
    settings: Settings,
    status: str | None,
    failures: int,
    error: UpstreamError | StoreError | None,
    key_worked: bool,
    rng: random.Random,
) -> float:
    """Seconds to wait before the next poll (pure: randomness comes in as ``rng``).

    ``key_worked``: a poll of this game has succeeded since its poller started (see the module
    docstring); it only matters for 401/403.
    """
    if error is None:
        return settings.poll_interval if status in (ACTIVE, None) else settings.idle_interval
    cap = settings.backoff_cap
    if error.code in AUTH_CODES:
        if not key_worked:
            return settings.auth_retry
        cap = min(cap, settings.auth_retry)
    ceiling = min(cap, settings.poll_interval * (2 ** min(failures, 30)))
    delay = max(MIN_DELAY_S, rng.uniform(0, ceiling))
    if error.code == RATE_LIMITED and error.retry_after is not None:
        delay = max(delay, error.retry_after)
    return delay


def auth_message(message: str, *, key_worked: bool, auth_retry: float) -> str:
    """A 401/403's feed_status message, saying which retry rule applies and why.

    It must not change from one refusal to the next (a changed message is a new state to
    report): no countdown, no attempt number.
    """
    if key_worked:
        return f"{message}; the key worked earlier in this run; retrying with backoff"
    return f"{message}; the key has not worked yet; retrying every {auth_retry:g} s"


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """What one poll did: ``ok``, ``not_modified`` or ``failed``, and when to poll again."""

    outcome: str
    delay: float
    events: int = 0
    error: UpstreamError | StoreError | None = None


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
        self.last_error: UpstreamError | StoreError | None = None
        # Has a request for this game been answered (200 or 304) since this poller started?
        self.key_worked = False

    async def poll_once(self) -> PollOutcome:
        """One fetch and its consequences; raises nothing but cancellation."""
        started = time.perf_counter()
        if not Lease.may_poll(time.monotonic(), self.game.lease_until):
            # Redis: this process cannot prove it still leads the game (it was paused, or
            # could not renew): not one more request, another poller may lead it now.
            raise NotLeader(f"game {self.game.id}: the lead was not renewed in time")
        try:
            result = await self.client.fetch_shots(
                self.game.id, etag=self.etag, parser=self.game.parser
            )
            self.key_worked = True  # answered: the signature was accepted
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
            await self.game.apply_feed(True, None, None)
            if not self.game.broker.health.ok:
                # Nothing of this poll needed writing, so nothing proved the store is back.
                await self.game.probe_store()
            self.failures = 0
            self.last_error = None
            self.last_success_at = self.game.now_ms()
            if self.game.broker.shared:
                # what the web processes show as lastSuccessAt; a miss only ages that figure
                with contextlib.suppress(StoreError):
                    await self.game.broker.mark_polled(self.game.id, self.last_success_at)
        except UpstreamError as exc:
            if exc.code in AUTH_CODES:
                message = auth_message(
                    exc.message, key_worked=self.key_worked, auth_retry=self.settings.auth_retry
                )
                exc = UpstreamError(exc.code, message, retry_after=exc.retry_after)
            return await self._failed(exc, started)
        except StoreError as exc:
            # Already logged by the store, once per outage. The state did not advance: the next
            # poll finds the same changes upstream and commits them (stale) once it can.
            return await self._failed(exc, started, report=False)
        except (OSError, sqlite3.Error) as exc:  # a store read that failed: keep polling
            log.exception("game %s: store error in a poll", self.game.id)
            return await self._failed(StoreError(f"store error: {exc}"), started, report=False)
        self._observe(outcome, started)
        delay = next_delay(
            settings=self.settings,
            status=self.game.state.status,
            failures=0,
            error=None,
            key_worked=self.key_worked,
            rng=self.rng,
        )
        return PollOutcome(outcome, delay, events)

    async def _failed(
        self, exc: UpstreamError | StoreError, started: float, *, report: bool = True
    ) -> PollOutcome:
        """A failed poll: backoff, and (``report``) a feed_status on a health transition.

        A store failure is not reported as a ``feed_status`` event: committing one needs the
        store. Clients see it through :meth:`Game.feed` instead.
        """
        self.failures += 1
        self.last_error = exc
        if report and (self.failures == 1 or self.failures % 30 == 0):
            log.warning(
                "game %s: poll failed (%s, %d in a row): %s",
                self.game.id,
                exc.code,
                self.failures,
                exc.message,
            )
        if report:
            # A store that fails says so itself; the transition is tried again next poll.
            with contextlib.suppress(StoreError):
                await self.game.apply_feed(False, exc.code, exc.message)
        self._observe(exc.code, started)
        delay = next_delay(
            settings=self.settings,
            status=self.game.state.status,
            failures=self.failures,
            error=exc,
            key_worked=self.key_worked,
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
            except (anyio.get_cancelled_exc_class(), NotLeader):
                raise  # cancelled, or another poller leads this game now (server.live.following)
            except Exception:
                log.exception("game %s: unexpected error in a poll; retrying", self.game.id)
                self.failures += 1
                self.game.after_outage = True  # what the next poll finds is late
                delay = min(self.settings.backoff_cap, self.settings.poll_interval * 5)
            await anyio.sleep(delay)
