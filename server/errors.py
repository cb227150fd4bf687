"""Exceptions of shotfeed, under one root so a caller can catch "anything of ours".

    FeedError
    ├── ConfigError      a setting or operator input that cannot be used (names the variable)
    ├── UpstreamError    ShotTracker did not give a usable answer (carries the SPEC error code)
    ├── PayloadError     a body, or one record inside it, that is not the documented JSON
    └── StoreError       the store could not commit a write (disk full, read-only): nothing changed

Foreign exceptions (httpx, sqlite3, orjson) are translated once, at the boundary where they
happen, with ``raise ... from exc`` so the cause stays visible in logs.
"""

from __future__ import annotations


class FeedError(Exception):
    """Root of every error shotfeed raises on purpose."""


class ConfigError(FeedError):
    """A setting that cannot be used; the message names the variable and the bad value."""


class UpstreamError(FeedError):
    """ShotTracker failed to answer usefully; ``code`` is one of SPEC's feed error codes."""

    def __init__(self, code: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"UpstreamError(code={self.code!r}, message={self.message!r})"


class PayloadError(FeedError):
    """A body or a record that is not the documented JSON (missing field, wrong type)."""


class StoreError(FeedError):
    """A write the store could not commit (disk full, read-only file, I/O error).

    Nothing of that write happened: no event exists, no seq was used, nothing was published. It
    carries a feed error code like :class:`UpstreamError` so the poller and the web shell can
    report it beside upstream failures without a special case for its shape.
    """

    code = "store_unwritable"
    retry_after: float | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
