"""Prometheus metrics, on a registry per app instance (so tests can build many apps)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    """The figures an operator watches: polls, events, clients, fan-out, poll latency, store."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.polls = Counter("shotfeed_polls", "Upstream polls by outcome", ["outcome"], registry=r)
        self.poll_seconds = Histogram(
            "shotfeed_poll_seconds",
            "Upstream request + parse + detect + persist time",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.events = Counter("shotfeed_events", "Events emitted by type", ["type"], registry=r)
        self.clients = Gauge("shotfeed_clients", "WebSocket clients connected", registry=r)
        # Which fan-out path each open connection took: "direct" (pre-built frames written by
        # the hub, as `shotfeed serve` runs) or "queued" (ASGI send, any other server). A
        # production server showing queued connections has lost its fast path.
        self.ws_connections = Gauge(
            "shotfeed_ws_connections",
            "Open WebSocket feed connections by fan-out path",
            ["path"],
            registry=r,
        )
        for path in ("direct", "queued"):
            self.ws_connections.labels(path)
        self.dropped = Counter(
            "shotfeed_clients_dropped", "WebSocket clients closed as too slow (1013)", registry=r
        )
        self.deliveries = Counter(
            "shotfeed_deliveries",
            "Events handed to WebSocket clients (one per client per event)",
            registry=r,
        )
        # 0 while the store cannot be written (disk full, read-only): nothing new reaches the
        # log or the clients. Alert on it; /healthz answers 503 meanwhile.
        self.store_ok = Gauge(
            "shotfeed_store_ok", "1 if the last write to the store committed, else 0", registry=r
        )
        self.store_ok.set(1)
        # Redis mode: which games this process's pollers lead (one process per game shows 1).
        self.leading = Gauge(
            "shotfeed_leading",
            "1 while this process leads the polling of the game (Redis mode)",
            ["game"],
            registry=r,
        )
        self.fanout_seconds = Histogram(
            "shotfeed_fanout_seconds",
            "Time to hand one event to every subscriber",
            buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5),
            registry=r,
        )

        # The vMix outputs (server.live.vmix_push): one call per changed title field.
        self.vmix_requests = Counter(
            "shotfeed_vmix_requests",
            "SetText calls to vMix by outcome (ok, failed)",
            ["game", "outcome"],
            registry=r,
        )
        self.vmix_ok = Gauge(
            "shotfeed_vmix_ok",
            "1 if the game's vMix output's last call succeeded, 0 if it failed",
            ["game"],
            registry=r,
        )

    def vmix_request(self, game: str, outcome: str) -> None:
        self.vmix_requests.labels(game, outcome).inc()

    def vmix_health(self, game: str, ok: bool | None) -> None:
        if ok is not None:
            self.vmix_ok.labels(game).set(1.0 if ok else 0.0)

    def watch_store(self, store_ok: Callable[[], bool]) -> None:
        """``shotfeed_store_ok`` reads the store's health when scraped, so it is never stale."""
        self.store_ok.set_function(lambda: 1.0 if store_ok() else 0.0)

    def watch_redis(self, redis_ok: Callable[[], bool]) -> None:
        """``shotfeed_redis_ok``, only where there is a Redis (REDIS_URL set)."""
        gauge = Gauge(
            "shotfeed_redis_ok",
            "1 if the last call to Redis succeeded, 0 while it cannot be reached",
            registry=self.registry,
        )
        gauge.set_function(lambda: 1.0 if redis_ok() else 0.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
