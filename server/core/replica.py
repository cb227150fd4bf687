"""How a process keeps its copy of a shared game in step, and how long a poller may lead it,
as plain decisions over numbers (no Redis, no clock): the shell (``server.live.ledger``,
``server.live.following``) only carries them out.

A game's *version* counts its commits. Every process holds a copy at some version and must
publish every commit's events exactly once, in order. What reaches it (a change feed that may
repeat, skip after an outage, or bring a commit this very process made) is judged by
:func:`on_change`; what the keys say after a reconnect by :func:`on_load`.

A poller leads a game through a lock with a TTL (:class:`Lease`): it renews every third of
the TTL and counts on only :data:`Lease.safe` of it after the renewal was *asked*, so the time
the answer takes and clock drift between hosts cannot make two processes poll at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Step = Literal["skip", "apply", "catch_up"]
LoadStep = Literal["same", "catch_up", "restore"]

SKIP: Final = "skip"
APPLY: Final = "apply"
CATCH_UP: Final = "catch_up"


def on_change(have: int, change: int, *, reload: bool = False) -> Step:
    """What to do with a commit notice of version ``change`` when this copy is at ``have``.

    * at or below ``have``: this process has it (it made it, or caught up past it): skip;
    * the next one: apply it as it came (its events, its state);
    * further ahead, or a notice that the game was put back (``reload``): something was
      missed, so catch up from the keys (publishing every missed event once).
    """
    if reload:
        return CATCH_UP if change > have else SKIP
    if change <= have:
        return SKIP
    return APPLY if change == have + 1 else CATCH_UP


def on_load(have: int, stored: int) -> LoadStep:
    """After loading the keys: the same version, behind them (catch up), or ahead of them (the
    broker lost commits this process saw: a Redis restarted without persistence), in which
    case this process puts its copy back, and the highest version any process had wins."""
    if stored == have:
        return "same"
    return "catch_up" if stored > have else "restore"


def complete(last_seq: int, stored_seq: int, seqs: list[int]) -> bool:
    """Whether the events read back to catch up from ``last_seq`` to ``stored_seq`` are all of
    them (a capped stream may have dropped the oldest): seq is gapless, so they must be exactly
    ``last_seq + 1 .. stored_seq``."""
    return seqs == list(range(last_seq + 1, stored_seq + 1))


@dataclass(frozen=True, slots=True)
class Lease:
    """A poller's lead of one game: the lock's TTL and the timings derived from it."""

    ttl_s: float

    safe: float = 0.75
    """The share of the TTL a leader counts on after it asked for a renewal."""

    @property
    def renew_every_s(self) -> float:
        return self.ttl_s / 3

    @property
    def retry_every_s(self) -> float:
        """How often a follower tries to take the lock: a killed leader is replaced at most
        this long after its lock lapsed."""
        return min(0.5, self.ttl_s / 10)

    @property
    def ttl_ms(self) -> int:
        return max(1, int(self.ttl_s * 1000))

    def valid_until(self, asked_at: float) -> float:
        """Until when the lead is surely this process's, for a renewal (or take) asked at
        ``asked_at`` that succeeded."""
        return asked_at + self.ttl_s * self.safe

    @staticmethod
    def may_poll(now: float, valid_until: float | None) -> bool:
        """Whether a poll may start now (None: not leading through a lock, the embedded mode)."""
        return valid_until is None or now < valid_until

    def worst_takeover_s(self) -> float:
        """How long after its last renewal a killed leader can go unreplaced."""
        return self.ttl_s + self.retry_every_s
