"""server.core.signing: ShotTracker's HMAC-SHA1 signing, checked against an independent one."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import pytest

from server.core import signing

USERNAME = "shotfeed-test"
SECRET = "not-a-real-secret"
DATE = "Thu, 26 Nov 2026 09:19:39 GMT"
EPOCH = 1795684779  # DATE as epoch seconds
HOST = "api.shottracker.com"
PATH = "/v1/data/stats/games/EVT/shots"
# Worked out once by hand (see test_signature_computed_independently) and pinned, so a change in
# how the string is built cannot go unnoticed even if both sides changed the same way.
PINNED_SIGNATURE = "IEYFCBQ6PPCjU2Rqch8Nj0HbsQs="
HEADER = re.compile(
    r'^hmac username="([^"]*)",algorithm="hmac-sha1",'
    r'headers="date host request-line",signature="([A-Za-z0-9+/=]+)"$'
)


def _independent(secret: str, date: str, host: str, request_line: str) -> str:
    """The signature exactly as shottracker-auth.md describes it, without server code."""
    message = f"date: {date}\nhost: {host}\n{request_line}"
    digest = hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def test_string_to_sign_is_the_documented_three_lines() -> None:
    """date, host and request line, joined by a single newline, nothing else."""
    assert signing.string_to_sign("GET", PATH, HOST, DATE) == (
        "date: Thu, 26 Nov 2026 09:19:39 GMT\n"
        "host: api.shottracker.com\n"
        "GET /v1/data/stats/games/EVT/shots HTTP/1.1"
    )


def test_signature_computed_independently() -> None:
    """A fixed date and secret give the independently computed, pinned signature."""
    expected = _independent(SECRET, DATE, HOST, f"GET {PATH} HTTP/1.1")
    assert expected == PINNED_SIGNATURE
    assert signing.signature(SECRET, signing.string_to_sign("GET", PATH, HOST, DATE)) == expected


def test_authorization_header_exact() -> None:
    """The Authorization value is exactly the documented format."""
    assert signing.authorization(USERNAME, SECRET, "GET", PATH, HOST, DATE) == (
        f'hmac username="{USERNAME}",algorithm="hmac-sha1",'
        f'headers="date host request-line",signature="{PINNED_SIGNATURE}"'
    )


@pytest.mark.parametrize("query", ["?since=5", "?a=1&b=2", "?"])
def test_query_string_is_not_signed(query: str) -> None:
    """The path is signed without its query string."""
    assert signing.authorization(USERNAME, SECRET, "GET", PATH + query, HOST, DATE) == (
        signing.authorization(USERNAME, SECRET, "GET", PATH, HOST, DATE)
    )
    assert "?" not in signing.string_to_sign("GET", PATH + query, HOST, DATE)


def test_method_is_upper_case() -> None:
    """The request line uses the method in upper case."""
    assert signing.string_to_sign("get", PATH, HOST, DATE).endswith(f"GET {PATH} HTTP/1.1")


@pytest.mark.parametrize(
    ("epoch", "date"),
    [
        (EPOCH, DATE),
        (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
        (1663870491.879, "Thu, 22 Sep 2022 18:14:51 GMT"),
    ],
)
def test_http_date_rfc1123_gmt(epoch: float, date: str) -> None:
    """The date header is RFC 1123 in GMT, as the docs' example."""
    assert signing.http_date(epoch) == date


def test_signed_headers_from_url() -> None:
    """signed_headers: date, host from the URL, and a signature over the path without query."""
    url = f"https://{HOST}{PATH}?cache=no"
    headers = signing.signed_headers(USERNAME, SECRET, "GET", url, EPOCH)
    assert headers == {
        "date": DATE,
        "host": HOST,
        "authorization": signing.authorization(USERNAME, SECRET, "GET", PATH, HOST, DATE),
    }
    match = HEADER.match(headers["authorization"])
    assert match is not None
    assert match.groups() == (USERNAME, PINNED_SIGNATURE)


def test_signed_headers_host_keeps_port_drops_userinfo() -> None:
    """The signed host is the Host header: port kept, any user:password@ left out."""
    headers = signing.signed_headers(
        USERNAME, SECRET, "GET", f"http://u:p@127.0.0.1:8123{PATH}", EPOCH
    )
    assert headers["host"] == "127.0.0.1:8123"
    expected = _independent(SECRET, DATE, "127.0.0.1:8123", f"GET {PATH} HTTP/1.1")
    assert headers["authorization"].endswith(f'signature="{expected}"')


def test_secret_never_in_headers() -> None:
    """The secret itself appears in none of the headers sent."""
    headers = signing.signed_headers(USERNAME, SECRET, "GET", f"https://{HOST}{PATH}", EPOCH)
    assert all(SECRET not in value for value in headers.values())


# --- verify (the simulated upstream's side) ----------------------------------------------------


def _headers(**over: str) -> dict[str, str]:
    headers = signing.signed_headers(USERNAME, SECRET, "GET", f"https://{HOST}{PATH}", EPOCH)
    headers.update(over)
    return headers


def test_verify_accepts_a_good_signature() -> None:
    """A correctly signed request verifies to its username (query string or not)."""
    assert signing.verify(_headers(), "GET", PATH, {USERNAME: SECRET}) == USERNAME
    assert signing.verify(_headers(), "GET", PATH + "?x=1", {USERNAME: SECRET}) == USERNAME


@pytest.mark.parametrize(
    ("headers", "method", "path", "secrets"),
    [
        (_headers(), "GET", PATH, {USERNAME: "wrong-secret"}),
        (_headers(), "GET", PATH, {"someone-else": SECRET}),
        (_headers(), "GET", PATH, {}),
        (_headers(), "GET", "/v1/data/stats/games/OTHER/shots", {USERNAME: SECRET}),
        (_headers(), "POST", PATH, {USERNAME: SECRET}),
        (_headers(date="Thu, 26 Nov 2026 09:19:40 GMT"), "GET", PATH, {USERNAME: SECRET}),
        (_headers(host="api.example.com"), "GET", PATH, {USERNAME: SECRET}),
        (_headers(authorization=""), "GET", PATH, {USERNAME: SECRET}),
        (
            _headers(authorization=f"Bearer {PINNED_SIGNATURE}"),
            "GET",
            PATH,
            {USERNAME: SECRET},
        ),
        (
            _headers(authorization=_headers()["authorization"].replace("hmac-sha1", "hmac-sha256")),
            "GET",
            PATH,
            {USERNAME: SECRET},
        ),
        (
            _headers(authorization=_headers()["authorization"].replace(PINNED_SIGNATURE, "AAAA")),
            "GET",
            PATH,
            {USERNAME: SECRET},
        ),
        ({}, "GET", PATH, {USERNAME: SECRET}),
    ],
    ids=[
        "wrong-secret",
        "unknown-user",
        "no-users",
        "tampered-path",
        "other-method",
        "tampered-date",
        "other-host",
        "empty-auth",
        "not-hmac",
        "other-algorithm",
        "tampered-signature",
        "no-headers",
    ],
)
def test_verify_rejects(
    headers: dict[str, str], method: str, path: str, secrets: dict[str, str]
) -> None:
    """Any wrong secret, user, path, method, date, host or signature is rejected."""
    assert signing.verify(headers, method, path, secrets) is None
