"""Where the server's templates and static files are, how pages link them, and their CSP.

``overlays/`` and ``static/`` stay at the top of the repository (the project's fixed layout)
and travel in the wheel as the data packages ``server.overlays`` and ``server.static``
(``pyproject.toml`` maps them). Both an installed wheel and an editable checkout resolve them
through the import system, so there is one way to find them and no path arithmetic on
``__file__`` that only holds in a checkout.

Every page links its static files through ``asset_urls`` and sends ``content_security_policy``,
so a fix to cache busting or to the policy reaches the overlays and the console alike.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from collections.abc import Iterable
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from server.errors import ConfigError


def package_dir(package: str) -> Path:
    """The directory of a data package, or ConfigError saying how to install shotfeed."""
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ConfigError(
            f"{package} is missing: install shotfeed (pip install . or pip install -e .) "
            "rather than running it from an uninstalled checkout"
        )
    return Path(locations[0])


TEMPLATES_DIR = package_dir("server.overlays")
STATIC_DIR = package_dir("server.static")


@lru_cache(maxsize=1)
def package_version() -> str:
    """shotfeed's installed version; "0.0.0" when run without installing (then no metadata)."""
    try:
        return metadata.version("shotfeed")
    except metadata.PackageNotFoundError:
        return "0.0.0"


@lru_cache(maxsize=64)
def _content_hash(name: str, mtime_ns: int) -> str:
    # keyed on mtime too, so an edited file (a dev checkout, a hot upgrade) gets a new hash
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]


def asset_urls(names: Iterable[str]) -> dict[str, str]:
    """``{"feed.js": "/static/feed.js?v=<hash>", ...}`` for the static files a page loads.

    The content hash in the URL makes a browser source or a console left open over an upgrade
    load the new file, never a cached old one. A file that cannot be read still gets the
    package version, which changes with every release.
    """
    out = {}
    for name in names:
        try:
            version = _content_hash(name, (STATIC_DIR / name).stat().st_mtime_ns)
        except OSError:
            version = package_version()
        out[name] = f"/static/{name}?v={version}"
    return out


_HOST = re.compile(r"^[A-Za-z0-9.\[\]:-]{1,255}$")  # a Host header fit to go into the CSP


def content_security_policy(
    host: str,
    *,
    nonce: str | None = None,
    inline_styles: bool = False,
    frames: bool = False,
    framable: bool = True,
) -> str:
    """The Content-Security-Policy of a page: everything from this server, nothing else.

    What differs between pages is a parameter: ``nonce`` lets the page's own inline module
    script run (the overlays); ``inline_styles`` is for OBS, which injects a browser source's
    "Custom CSS" as a <style> element; ``frames`` allows frames from this server (the console's
    overlay previews); ``framable=False`` forbids framing the page itself (the console, whose
    buttons put things on air, must not be clickjacked).
    """
    # 'self' covers ws(s): to the same host in current Chromium; older CEF needs it spelled out
    connect = "'self'"
    if _HOST.match(host):
        connect += f" ws://{host} wss://{host}"
    directives = [
        "default-src 'none'",
        f"script-src 'self' 'nonce-{nonce}'" if nonce else "script-src 'self'",
        "style-src 'self' 'unsafe-inline'" if inline_styles else "style-src 'self'",
        "font-src 'self'",
        "img-src 'self' data:",
        f"connect-src {connect}",
    ]
    if frames:
        directives.append("frame-src 'self'")
    directives += ["base-uri 'none'", "form-action 'none'"]
    if not framable:
        directives.append("frame-ancestors 'none'")
    return "; ".join(directives)
