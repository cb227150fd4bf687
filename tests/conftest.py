from __future__ import annotations

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
