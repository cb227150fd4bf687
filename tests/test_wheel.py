"""Installable anywhere: build the wheel, install it into a fresh venv, run ``shotfeed demo``.

The wheel is built from a copy of the working tree without ``build/``, ``*.egg-info`` and the
caches: an in-tree build reuses ``build/lib``, where files of an earlier build would hide a
template or a static file that the package-data globs no longer take in (and it would write
into a tree other people are working in). The wheel goes into a new venv under tmp_path with
its dependencies from the index (pip's cache makes repeats fast), never the system site
packages. Everything in that venv runs from an empty folder with PYTHON* and the project's
variables unset, so the checkout cannot be imported by accident. The demo must then serve the
real overlay, its script, a font, the console and the API over loopback, and stop cleanly on
SIGTERM.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.server_fixtures import free_port

pytestmark = pytest.mark.network

ROOT = Path(__file__).resolve().parent.parent
SKIP = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    "*.pyc",
    ".*cache",
    ".hypothesis",
    "node_modules",
    "*.db",
    "*.db-*",
)
FONT = "fonts/Roboto-Condensed-Bold.woff2"


def clean_env(venv: Path) -> dict[str, str]:
    """This environment without PYTHON*, VIRTUAL_ENV, the project's variables or the dev venv
    on PATH; the new venv's bin first. pip's own settings (index, certificates) stay."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "SHOTFEED_", "SHOTTRACKER_", "PYTEST_"))
        and k not in ("VIRTUAL_ENV", "CONDA_PREFIX", "__PYVENV_LAUNCHER__")
    }
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and not p.startswith(str(ROOT))]
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *path])
    env["PYTHONNOUSERSITE"] = "1"
    return env


def run(cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float):
    res = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert res.returncode == 0, f"{cmd} exited {res.returncode}\n{res.stdout}\n{res.stderr}"
    return res.stdout


def wait_until_served(http: httpx.Client, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, f"shotfeed demo exited {proc.returncode}\n{log.read_text()}"
        try:
            if http.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"not serving after 30 s\n{log.read_text()}"
        time.sleep(0.1)


def test_wheel_installs_and_serves_the_demo(tmp_path):
    src, dist, venv = tmp_path / "src", tmp_path / "dist", tmp_path / "venv"
    empty, data, tmp = tmp_path / "empty", tmp_path / "data", tmp_path / "tmp"
    for d in (empty, data, tmp):
        d.mkdir()
    shutil.copytree(ROOT, src, ignore=SKIP)

    run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(src)],
        cwd=tmp_path,
        timeout=300,
    )
    (wheel,) = dist.glob("shotfeed-*.whl")

    # Every file of overlays/ and static/ is served, so every one must be in the wheel.
    with zipfile.ZipFile(wheel) as zf:
        shipped = set(zf.namelist())
    for folder, package in (("overlays", "server/overlays"), ("static", "server/static")):
        files = [p.relative_to(src / folder).as_posix() for p in (src / folder).rglob("*")]
        missing = [f for f in files if (src / folder / f).is_file()]
        missing = [f for f in missing if f"{package}/{f}" not in shipped]
        assert not missing, f"{folder}/ files missing from {wheel.name}: {missing}"

    env = clean_env(venv)
    env["TMPDIR"] = str(tmp)
    py = str(venv / "bin" / "python")
    run([sys.executable, "-m", "venv", str(venv)], cwd=empty, env=env, timeout=120)
    run([py, "-m", "pip", "install", "-q", str(wheel)], cwd=empty, env=env, timeout=300)

    where = run(
        [
            py,
            "-c",
            "import server, server.web.assets as a; "
            "print(server.__file__); print(a.TEMPLATES_DIR); print(a.STATIC_DIR)",
        ],
        cwd=empty,
        env=env,
        timeout=60,
    ).split()
    assert len(where) == 3, where
    for p in map(Path, where):
        assert p.resolve().is_relative_to(venv.resolve() / "lib"), where
        assert "site-packages" in p.parts, where
        assert not p.resolve().is_relative_to(ROOT), where
    assert "demo" in run([py, "-m", "server", "--help"], cwd=empty, env=env, timeout=60)

    port = free_port()
    log = tmp_path / "demo.log"
    cmd = [str(venv / "bin" / "shotfeed"), "demo", "--port", str(port), "--speed", "50"]
    cmd += ["--db", str(data / "demo.db")]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=empty, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=5, trust_env=False) as http:
            wait_until_served(http, proc, log)

            r = http.get("/overlays/scorebug", params={"game": "DEMO"})
            assert r.status_code == 200, r.text
            assert r.headers["content-type"].startswith("text/html")
            assert 'id="bug"' in r.text, r.text[:500]  # the score bug, not a stand-in
            linked = re.search(r"/static/feed\.js(\?v=[0-9A-Za-z.]+)?", r.text)
            assert linked, r.text[:2000]

            for url in ("/static/feed.js", linked.group(0)):
                r = http.get(url)
                assert r.status_code == 200, (url, r.text[:200])
                assert "javascript" in r.headers["content-type"], r.headers
                assert r.content == (src / "static" / "feed.js").read_bytes()

            r = http.get(f"/static/{FONT}")
            assert r.status_code == 200, r.text[:200]
            assert r.headers["content-type"] == "font/woff2", r.headers
            assert r.content[:4] == b"wOF2"
            assert r.content == (src / "static" / FONT).read_bytes()

            r = http.get("/operator")
            assert r.status_code == 200, r.text[:200]
            assert r.headers["content-type"].startswith("text/html")
            assert "/static/operator.js" in r.text

            r = http.get("/api/games/DEMO/state")
            assert r.status_code == 200, r.text[:200]
            assert r.headers["content-type"].startswith("application/json")
            state = r.json()
            assert state["game"] == "DEMO" and "seq" in state, state

        assert proc.poll() is None, log.read_text()
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = proc.wait(timeout=10)
        took = time.monotonic() - started
        assert code == 0, f"exit {code}\n{log.read_text()}"
        assert took < 8, f"took {took:.1f} s to stop\n{log.read_text()}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert not list(empty.iterdir()), "the demo wrote into its working folder"
