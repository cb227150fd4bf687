"""The one asset-URL helper and the one CSP builder that the overlay pages and the console share."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from server.web import assets, console, overlays
from server.web.assets import asset_urls, content_security_policy, package_version

HOST = "127.0.0.1:8000"
CONNECT = f"connect-src 'self' ws://{HOST} wss://{HOST}"

OVERLAY_CSP = (
    "default-src 'none'; script-src 'self' 'nonce-N0nce'; style-src 'self' 'unsafe-inline'; "
    f"font-src 'self'; img-src 'self' data:; {CONNECT}; base-uri 'none'; form-action 'none'"
)
CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; font-src 'self'; "
    f"img-src 'self' data:; {CONNECT}; frame-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


def test_the_overlay_policy() -> None:
    csp = content_security_policy(HOST, nonce="N0nce", inline_styles=True)
    assert csp == OVERLAY_CSP


def test_the_console_policy() -> None:
    assert content_security_policy(HOST, frames=True, framable=False) == CONSOLE_CSP


@pytest.mark.parametrize(
    "host", ["", "evil.example; script-src *", "a b", "x" * 256, "host'", "ho\nst"]
)
def test_a_host_unfit_for_the_header_is_left_out(host: str) -> None:
    csp = content_security_policy(host)
    assert "connect-src 'self';" in csp
    assert "ws://" not in csp and "\n" not in csp


@pytest.mark.parametrize("host", ["localhost", "[::1]:8000", "obs-pc.local:8000", "10.0.0.2"])
def test_a_plain_host_is_spelled_out_for_old_cef(host: str) -> None:
    assert f"connect-src 'self' ws://{host} wss://{host};" in content_security_policy(host)


def test_without_options_nothing_extra_is_allowed() -> None:
    csp = content_security_policy(HOST)
    assert "nonce" not in csp and "unsafe-inline" not in csp
    assert "frame-src" not in csp and "frame-ancestors" not in csp


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def test_asset_urls_carry_the_content_hash() -> None:
    urls = asset_urls(("feed.js", "overlay.css"))
    assert list(urls) == ["feed.js", "overlay.css"]
    for name, url in urls.items():
        assert url == f"/static/{name}?v={_sha(assets.STATIC_DIR / name)}"


def test_a_changed_file_gets_a_new_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(assets, "STATIC_DIR", tmp_path)
    f = tmp_path / "x.js"
    f.write_text("one")
    first = asset_urls(["x.js"])["x.js"]
    f.write_text("two!")
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 1_000_000_000))
    second = asset_urls(["x.js"])["x.js"]
    assert first != second
    assert second == f"/static/x.js?v={_sha(f)}"


def test_a_missing_file_still_busts_on_upgrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(assets, "STATIC_DIR", tmp_path)
    assert asset_urls(["gone.js"]) == {"gone.js": f"/static/gone.js?v={package_version()}"}


@pytest.mark.parametrize("module", [overlays, console])
def test_no_page_keeps_its_own_helpers(module: object) -> None:
    for name in ("asset_urls", "_asset_hash", "_hash", "_csp", "csp", "_version"):
        assert not hasattr(module, name) or getattr(module, name) in (
            asset_urls,
            content_security_policy,
        ), f"{module} has its own {name}"
