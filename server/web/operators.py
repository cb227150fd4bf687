"""Operator tokens: who may change what goes on air, and under which label they are audited.

``SHOTFEED_OPERATOR_TOKEN`` (label "operator") and ``SHOTFEED_OPERATOR_TOKENS``
("label:token,label:token"). With neither set, the server makes one token at start and prints
it once, so the operator routes are never open by accident.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping

from server.config import MIN_TOKEN, Settings
from server.errors import ConfigError


def parse_tokens(settings: Settings) -> dict[str, str]:
    """token -> label. Raises ConfigError on a malformed or too-short token.

    The message names the variable the bad token came from (and its label), never the token:
    an operator fixing the environment needs to know where to look, a log must not hold it.
    """
    tokens: dict[str, str] = {}
    if settings.operator_token:
        _check_length(settings.operator_token, "SHOTFEED_OPERATOR_TOKEN")
        tokens[settings.operator_token] = "operator"
    for item in settings.operator_tokens.split(","):
        item = item.strip()
        if not item:
            continue
        label, sep, token = item.partition(":")
        if not sep or not label.strip() or not token.strip():
            raise ConfigError("SHOTFEED_OPERATOR_TOKENS must be label:token,label:token")
        _check_length(token.strip(), f"SHOTFEED_OPERATOR_TOKENS (label {label.strip()!r})")
        tokens[token.strip()] = label.strip()
    return tokens


def _check_length(token: str, where: str) -> None:
    if len(token) < MIN_TOKEN:
        raise ConfigError(
            f"{where}: an operator token must be at least {MIN_TOKEN} characters "
            f"(this one has {len(token)})"
        )


def generate_token() -> str:
    return secrets.token_urlsafe(24)


def authenticate(header: str | None, tokens: Mapping[str, str]) -> str | None:
    """The label of the bearer token in an Authorization header, or None (constant time)."""
    if not header:
        return None
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        return None
    label = None
    for token, name in tokens.items():
        if hmac.compare_digest(token.encode(), given.strip().encode()):
            label = name
    return label
