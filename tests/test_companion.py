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
    # Each node test gets 60 s (they take seconds), so one that hangs fails by name instead of
    # stalling the run. The suite starts and kills real servers; one run in CI hung once (not
    # reproduced in 8 runs since), so a failed run is repeated once, and its output is kept in
    # the failure message if the second fails too. A test that really fails fails twice.
    tails = []
    for _attempt in range(2):
        try:
            out = subprocess.run(
                ["node", "--test", "--test-timeout=60000", *tests],
                cwd=MODULE,
                env=env,
                capture_output=True,
                text=True,
                timeout=240,
            )
        except subprocess.TimeoutExpired as exc:
            tails.append(f"timed out:\n{_text(exc.stdout)[-4000:]}{_text(exc.stderr)[-2000:]}")
            continue
        if out.returncode == 0 and "# fail 0" in out.stdout:
            if tails:
                print(f"the Companion tests passed on a second run; first: {tails[0]}")
            return
        tails.append(out.stdout[-4000:] + out.stderr[-2000:])
    pytest.fail("\n----- second run -----\n".join(tails))


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode(errors="replace")
