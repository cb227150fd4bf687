"""Runs the Companion module's tests (integrations/companion, `node --test`) against a real
shotfeed started by those tests with this interpreter, so pytest fails with node's output when
any of them fails. Its node_modules come from `npm ci`, which the README's test command runs
(the npm registry is an install step, never a test's network)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

MODULE = Path(__file__).resolve().parent.parent / "integrations" / "companion"


@pytest.mark.network
@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_companion_module_tests_pass() -> None:
    assert (MODULE / "package-lock.json").is_file()
    assert (MODULE / "node_modules" / "@companion-module" / "base").is_dir(), (
        "integrations/companion has no node_modules: run `npm ci` there "
        "(the README's test command does)"
    )
    tests = sorted(str(p.relative_to(MODULE)) for p in (MODULE / "test").glob("*.test.js"))
    assert tests, "no integrations/companion/test/*.test.js"
    env = {**os.environ, "SHOTFEED_PYTHON": sys.executable}
    out = subprocess.run(
        ["node", "--test", *tests],
        cwd=MODULE,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-3000:]
    assert "# fail 0" in out.stdout
