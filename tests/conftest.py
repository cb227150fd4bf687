from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.upstream_app import LiveServer, ScriptedUpstream

DATA = Path(__file__).parent / "data"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def seed_bytes() -> bytes:
    """The seed's example payload, exactly as ShotTracker documents it."""
    return (DATA / "seed_shots.json").read_bytes()


@pytest.fixture
def upstream() -> Iterator[tuple[ScriptedUpstream, LiveServer]]:
    app = ScriptedUpstream()
    with LiveServer(app) as live:
        yield app, live


@pytest.fixture(params=["sqlite", "redis"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Run a test once per broker: the embedded SQLite one and Redis (a real redis-server on
    loopback; .ci/run starts one). A suite opts in with ``pytestmark =
    pytest.mark.usefixtures("broker")``; ``running_feed`` then builds that broker, with keys
    under a prefix of this test's own (kept over its restarts, deleted after it)."""
    from tests import server_fixtures

    prefix = "test-" + hashlib.sha1(str(tmp_path).encode()).hexdigest()[:12]
    server_fixtures.BROKER_MODE = request.param
    server_fixtures.REDIS_PREFIX = prefix
    try:
        yield request.param
    finally:
        server_fixtures.BROKER_MODE = "sqlite"
        if request.param == "redis":
            server_fixtures.drop_prefix(prefix)
