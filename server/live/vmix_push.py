"""The vMix output of one game: sends ``SetText`` calls for every mapped field that changed.

Never in the poll's way: the game's publish only pokes this task (a flag, no await), and the
task does the HTTP calls on its own time. A burst (a poll's shot, score and clock events, or a
run of polls while vMix is slow) is coalesced: after a poke the task waits ``COALESCE_S`` and
sends what the newest state says, one call per field that differs from what vMix was last
sent, never a queue of stale values. A failed call (vMix down, slow, answering an error) marks
the output failing, backs off (full jitter, capped), and forgets what vMix holds, so the first
success after it sends every mapped field again (a restarted vMix has lost them).

Health is kept for the console (``GET …/vmix``) and ``/metrics`` (``shotfeed_vmix_ok``,
``shotfeed_vmix_requests{outcome}``).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import anyio
import httpx

from server.core.vmix import Call, VmixConfig, plan

log = logging.getLogger("shotfeed.vmix")

COALESCE_S: Final = 0.05
TIMEOUT_S: Final = 2.0
BACKOFF_BASE_S: Final = 0.5
BACKOFF_CAP_S: Final = 10.0


class Counts(Protocol):
    """Where the outcomes are counted (``server.web.metrics.Metrics``), or nothing."""

    def vmix_request(self, game: str, outcome: str) -> None: ...

    def vmix_health(self, game: str, ok: bool | None) -> None: ...


@dataclass(frozen=True, slots=True)
class Health:
    """What the console shows of the output."""

    active: bool
    ok: bool | None  # None: nothing sent yet
    error: str | None
    message: str | None
    since: int | None
    last_success_at: int | None
    requests: int
    failures: int
    pending: int

    def to_data(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "ok": self.ok,
            "error": self.error,
            "message": self.message,
            "since": self.since,
            "lastSuccessAt": self.last_success_at,
            "requests": self.requests,
            "failures": self.failures,
            "pending": self.pending,
        }


def _error_of(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout", f"vMix did not answer within {TIMEOUT_S:g} s"
    if isinstance(exc, httpx.HTTPStatusError):
        body = exc.response.text.strip().replace("\n", " ")[:160]
        return "vmix_error", f"vMix answered HTTP {exc.response.status_code}: {body or '(empty)'}"
    if isinstance(exc, httpx.HTTPError):
        return "unreachable", f"vMix is not reachable: {type(exc).__name__}: {str(exc)[:160]}"
    return "error", f"{type(exc).__name__}: {str(exc)[:160]}"


class VmixOutput:
    """One game's vMix pusher; :meth:`run` is its task, :meth:`poke` its doorbell."""

    def __init__(
        self,
        game: str,
        http: httpx.AsyncClient,
        config: Callable[[], VmixConfig | None],
        row: Callable[[], Mapping[str, str]],
        *,
        counts: Counts | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.game = game
        self._http = http
        self._config = config
        self._row = row
        self._counts = counts
        self._rng = rng or random.Random()
        self._clock = clock
        self._doorbell = anyio.Event()
        self._sent: dict[str, str] = {}  # title field -> value vMix holds, as far as we know
        self._sent_for: VmixConfig | None = None
        self._ok: bool | None = None
        self._error: tuple[str, str] | None = None
        self._since: int | None = None
        self._last_success: int | None = None
        self._requests = 0
        self._failures = 0
        self._pending = 0

    def poke(self) -> None:
        """Something changed: look again soon. Synchronous and cheap (called from publish)."""
        self._doorbell.set()

    def health(self) -> Health:
        cfg = self._config()
        err = self._error
        return Health(
            active=cfg is not None and cfg.active,
            ok=self._ok,
            error=err[0] if err else None,
            message=err[1] if err else None,
            since=self._since,
            last_success_at=self._last_success,
            requests=self._requests,
            failures=self._failures,
            pending=self._pending,
        )

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _mark(self, ok: bool, error: tuple[str, str] | None) -> None:
        if ok != self._ok:
            self._since = self._now_ms()
            if ok and self._ok is False:
                log.info("game %s: vMix output is back", self.game)
            elif not ok:
                log.warning("game %s: vMix output failing: %s", self.game, error and error[1])
        self._ok, self._error = ok, error
        if self._counts is not None:
            self._counts.vmix_health(self.game, ok)

    async def _send(self, cfg: VmixConfig, call: Call) -> None:
        self._requests += 1
        response = await self._http.get(cfg.url + call.query(cfg), timeout=TIMEOUT_S)
        response.raise_for_status()

    async def run(self) -> None:
        """Until cancelled: wait for a poke, coalesce, send what differs; back off on failure."""
        failures = 0
        while True:
            await self._doorbell.wait()
            await anyio.sleep(COALESCE_S)
            self._doorbell = anyio.Event()
            cfg = self._config()
            if cfg is None or not cfg.active:
                self._pending = 0
                continue
            if cfg != self._sent_for:
                self._sent, self._sent_for = {}, cfg  # a new map or a new vMix: send it all
            try:
                while True:
                    # Re-planned after every call: a value that changed meanwhile goes out
                    # as it is now, and one that changed back is not sent at all.
                    calls = plan(cfg, self._sent, self._row())
                    self._pending = len(calls)
                    if not calls:
                        break
                    call = calls[0]
                    await self._send(cfg, call)
                    self._sent[call.selected] = call.value
                    self._last_success = self._now_ms()
                    if self._counts is not None:
                        self._counts.vmix_request(self.game, "ok")
                    if self._ok is not True:
                        self._mark(True, None)
                    failures = 0
                    if self._config() != cfg:
                        self.poke()  # remapped mid-burst: start over with the new map
                        break
            except (httpx.HTTPError, OSError) as exc:
                failures += 1
                self._failures += 1
                if self._counts is not None:
                    self._counts.vmix_request(self.game, "failed")
                self._mark(False, _error_of(exc))
                self._sent = {}  # vMix may have restarted: everything again once it answers
                delay = self._rng.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**failures))
                await anyio.sleep(max(COALESCE_S, delay))
                self.poke()  # retry, with whatever the state is by then
