"""Installed as users install packages: the wheel, in a fresh venv outside the checkout.

An editable install finds ``overlays/`` and ``static/`` in the checkout; a wheel must carry them.
This builds the wheel, installs it (dependencies from the package index, as a user gets them)
into a new virtual environment, starts ``shotfeed demo`` from an empty folder with a clean
environment (nothing of the checkout importable), and loads what an operator loads first: an
overlay, ``feed.js``, a font, the console and the state.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.network


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, resp.headers.get("content-type", ""), resp.read()


def _clean_env(home: Path) -> dict[str, str]:
    """PATH and HOME only (plus pip's own settings): no PYTHONPATH, no SHOTFEED_* of ours."""
    keep = {k: v for k, v in os.environ.items() if k.startswith("PIP_") or k in ("PATH", "LANG")}
    return {**keep, "HOME": str(home)}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel of this checkout installed; returns its bin/ folder."""
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)],
        check=True,
        timeout=300,
        cwd=base,
    )
    wheels = list(dist.glob("shotfeed-*.whl"))
    assert len(wheels) == 1, wheels
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    bin_ = venv / "bin"
    subprocess.run(
        [str(bin_ / "pip"), "install", "-q", str(wheels[0])],
        check=True,
        timeout=600,
        cwd=base,
        env=_clean_env(base),
    )
    return bin_


def test_wheel_carries_templates_static_and_fonts(installed: Path, tmp_path: Path) -> None:
    """The installed package is the wheel's (in site-packages), with its data packages inside."""
    probe = (
        "import json, server\n"
        "from server.web.assets import STATIC_DIR, TEMPLATES_DIR\n"
        "print(json.dumps([server.__file__, str(STATIC_DIR), str(TEMPLATES_DIR)]))\n"
    )
    out = subprocess.run(
        [str(installed / "python"), "-c", probe],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=_clean_env(tmp_path),
    ).stdout
    module, static, templates = (Path(p) for p in json.loads(out))
    venv = installed.parent
    for path in (module, static, templates):
        assert venv in path.parents, f"{path} is not inside the fresh venv {venv}"
        assert ROOT not in path.parents, f"{path} comes from the checkout"
    assert (static / "feed.js").is_file()
    assert (static / "fonts" / "Roboto-Condensed-Bold.woff2").is_file()
    assert (templates / "scorebug.html").is_file()
    assert (templates / "operator.html").is_file()


def test_demo_from_an_empty_folder_serves_overlay_js_font_console(
    installed: Path, tmp_path: Path
) -> None:
    """``shotfeed demo`` run where there is nothing of ours serves everything a user loads."""
    empty = tmp_path / "empty"
    empty.mkdir()
    port = _free_port()
    log = (tmp_path / "demo.log").open("wb")
    proc = subprocess.Popen(
        [str(installed / "shotfeed"), "demo", "--port", str(port), "--speed", "50"],
        cwd=empty,
        env=_clean_env(tmp_path),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _get(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None, (tmp_path / "demo.log").read_text()
            assert time.monotonic() < deadline, "demo did not start in 30 s"
            time.sleep(0.2)

        status, ctype, body = _get(f"{base}/overlays/scorebug?game=DEMO")
        assert status == 200 and ctype.startswith("text/html")
        page = body.decode()
        assert "/static/feed.js?v=" in page and 'id="' in page

        status, ctype, body = _get(f"{base}/static/feed.js")
        assert status == 200 and "javascript" in ctype and len(body) > 10_000

        status, ctype, body = _get(f"{base}/static/fonts/Roboto-Condensed-Bold.woff2")
        assert status == 200 and ctype == "font/woff2" and body[:4] == b"wOF2"

        status, ctype, body = _get(f"{base}/operator")
        assert status == 200 and "/static/operator.js?v=" in body.decode()

        status, _, body = _get(f"{base}/api/games/DEMO/state")
        state = json.loads(body)
        assert status == 200 and state["home"]["score"] >= 0 and "seq" in state

        assert list(empty.iterdir()) == [], "the demo wrote into the folder it was started in"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()
    assert code == 0, (tmp_path / "demo.log").read_text()
