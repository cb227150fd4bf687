"""``shotfeed serve`` says why it stops, whatever stops it: SIGTERM, SIGINT, SIGHUP, a port it
cannot bind, a crash in a thread. Each run is a real process on a loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.server_fixtures import free_port

pytestmark = [pytest.mark.network]

ROOT = Path(__file__).resolve().parent.parent


def start(tmp_path: Path, port: int) -> subprocess.Popen[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SHOTFEED_", "SHOTTRACKER_"))},
        "SHOTFEED_DB": str(tmp_path / "s.db"),
        "SHOTFEED_OPERATOR_TOKEN": "last-words-token-0123456789",
        "SHOTTRACKER_BASE_URL": "http://127.0.0.1:9",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_up(port: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code < 600:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("the server did not come up")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_is_named_in_the_last_line(tmp_path: Path, sig: signal.Signals) -> None:
    port = free_port()
    proc = start(tmp_path, port)
    try:
        wait_up(port, proc)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert f"shotfeed serve stopped: signal {sig.name}" in err, err[-2000:]
    assert "open-file limit" in err or "Uvicorn running" in err or "Application startup" in err


def test_a_port_in_use_is_named_as_the_reason(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = start(tmp_path, port)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode != 0
    assert "shotfeed serve stopped: exit status" in err, err[-2000:]


def test_faulthandler_and_the_hooks_are_installed() -> None:
    """In a process that ran install_last_words: a thread's uncaught exception is logged as
    CRITICAL with its traceback, and an uncaught one in the main thread too."""
    code = (
        "import logging, threading, faulthandler\n"
        "from server.cli import install_last_words\n"
        "install_last_words()\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "assert faulthandler.is_enabled()\n"
        "t = threading.Thread(target=lambda: 1 / 0, name='poller-x'); t.start(); t.join()\n"
        "raise RuntimeError('boom in main')\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 1
    assert "uncaught exception in thread poller-x" in r.stderr
    assert "ZeroDivisionError" in r.stderr
    assert "uncaught exception, the process ends" in r.stderr
    assert "RuntimeError: boom in main" in r.stderr
    assert "process exiting (no stop reason was logged before)" in r.stderr
