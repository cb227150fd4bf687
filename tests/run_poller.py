"""Follow one game until killed: the child process of the kill -9 restart test.

Usage: ``python tests/run_poller.py UPSTREAM_URL DB_PATH GAME_ID``. Builds the real Store, Game,
UpstreamClient and Poller and runs the poll loop fast (10 ms between polls), so a SIGKILL from
the test lands while polls are being fetched, detected and committed.
"""

from __future__ import annotations

import sys

import anyio
import httpx

from server.config import Settings
from server.live.ledger import Game
from server.live.poller import Poller
from server.live.store import Store
from server.live.upstream import Credentials, UpstreamClient


async def main(url: str, db: str, game_id: str) -> None:
    settings = Settings(
        base_url=url, poll_interval=0.01, idle_interval=0.01, backoff_cap=0.05, timeout=2.0
    )
    store = Store(db)
    game = Game(game_id, store, settings)
    await game.load()
    async with httpx.AsyncClient(timeout=settings.timeout) as http:
        client = UpstreamClient(url, Credentials("kill-test", "kill-test-secret"), http=http)
        await Poller(game, client, settings).run()


if __name__ == "__main__":
    anyio.run(main, *sys.argv[1:4])
