"""Runs the JavaScript unit tests (tests/js/*.test.js) under `node --test`, so pytest fails with
node's output when any of them fails."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

JS_TESTS = Path(__file__).resolve().parent / "js"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: JS tests not run")
def test_node_tests_pass() -> None:
    assert sorted(JS_TESTS.glob("*.test.js")), "no tests/js/*.test.js found"
    out = subprocess.run(
        ["node", "--test", str(JS_TESTS) + "/"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
