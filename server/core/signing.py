"""ShotTracker's HMAC-SHA1 request signing, as its Authentication page documents it.

String to sign, three lines joined by ``\\n``::

    date: <RFC 1123 date>
    host: <api host>
    <METHOD> <path without query> HTTP/1.1

The path is signed without its query string (ShotTracker calls including it a common mistake).
Pure: the date is an argument, so a fixed date and secret give a fixed signature in tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from email.utils import formatdate
from urllib.parse import urlsplit


def http_date(epoch_s: float) -> str:
    """RFC 1123 date in GMT, e.g. ``Thu, 26 Nov 2026 09:19:39 GMT``."""
    return formatdate(epoch_s, usegmt=True)


def string_to_sign(method: str, path: str, host: str, date: str) -> str:
    path = path.split("?", 1)[0] or "/"
    return f"date: {date}\nhost: {host}\n{method.upper()} {path} HTTP/1.1"


def signature(secret: str, message: str) -> str:
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def authorization(username: str, secret: str, method: str, path: str, host: str, date: str) -> str:
    """The ``Authorization`` header value for one request."""
    sig = signature(secret, string_to_sign(method, path, host, date))
    return (
        f'hmac username="{username}",algorithm="hmac-sha1",'
        f'headers="date host request-line",signature="{sig}"'
    )


def signed_headers(
    username: str, secret: str, method: str, url: str, epoch_s: float
) -> dict[str, str]:
    """The three headers ShotTracker wants (date, host, Authorization) for ``url``."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    date = http_date(epoch_s)
    return {
        "date": date,
        "host": host,
        "authorization": authorization(username, secret, method, parts.path, host, date),
    }


def verify(headers: dict[str, str], method: str, path: str, secrets: dict[str, str]) -> str | None:
    """Check a signed request (the simulator's side). Returns the username, or None if invalid.

    ``headers`` must have lower-case keys. Used by the demo upstream so the demo exercises the
    real signing path end to end.
    """
    auth = headers.get("authorization", "")
    date = headers.get("date", "")
    host = headers.get("host", "")
    if not auth.startswith("hmac "):
        return None
    fields: dict[str, str] = {}
    for item in auth[5:].split(","):
        name, _, value = item.strip().partition("=")
        fields[name] = value.strip('"')
    username = fields.get("username", "")
    secret = secrets.get(username)
    if secret is None or fields.get("algorithm") != "hmac-sha1":
        return None
    expected = signature(secret, string_to_sign(method, path, host, date))
    if not hmac.compare_digest(expected, fields.get("signature", "")):
        return None
    return username
