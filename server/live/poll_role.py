"""``shotfeed poll``: the pollers alone, no web server (Redis only).

It follows ``SHOTFEED_GAMES`` and every game any web process follows, keeps each current from
the change feed (so a takeover starts from what the last leader committed), and polls a game
only while it leads it (``server.live.following.Games._lead``). On SIGTERM, SIGINT or SIGHUP
it stops polling and gives its leads back at once, so another poll process takes over without
waiting out the lock's TTL.
"""

from __future__ import annotations

import logging
import signal

import anyio
import httpx

from server.config import Settings
from server.errors import ConfigError
from server.live.following import Games
from server.live.redis_broker import RedisBroker
from server.web.hub import Hub
from server.web.metrics import Metrics

log = logging.getLogger("shotfeed.poll")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


async def run_pollers(settings: Settings) -> str:
    """Poll until a stop signal; returns why it stopped."""
    if not settings.redis_url:
        raise ConfigError("shotfeed poll needs REDIS_URL (the web processes read through it)")
    broker = RedisBroker(
        settings.redis_url,
        prefix=settings.redis_prefix,
        retain=settings.retain,
        timeout=settings.timeout,
    )
    metrics = Metrics()
    # No client ever connects here; the hub only keeps the games' replay buffers, bounded.
    hub = Hub(retain=settings.retain, metrics=metrics)
    http = httpx.AsyncClient(
        timeout=settings.timeout, limits=httpx.Limits(max_keepalive_connections=20)
    )
    outputs_http = httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=10))
    games = Games(settings, broker, hub, metrics, http, outputs_http=outputs_http, poll=True)
    reason = "normal end"
    try:
        with anyio.open_signal_receiver(*STOP_SIGNALS) as signals:
            async with anyio.create_task_group() as tg:
                await games.start(tg, settings.games)
                log.info("shotfeed poll: following the games in Redis (prefix %s)", broker.prefix)
                async for sig in signals:
                    reason = f"signal {signal.Signals(sig).name}"
                    break
                games.shutdown()
                tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await broker.aclose()
            await http.aclose()
            await outputs_http.aclose()
    return reason
