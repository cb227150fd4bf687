"""server.core.limits: the guard's, the token throttle's and the query parser's decisions,
tried over data (no socket, no clock: time is a number the test passes)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.core.limits import (
    MAX_SINCE,
    Buckets,
    Exempt,
    Refusal,
    TokenThrottle,
    auto_max_connections,
    connection_refusal,
    head_refusal,
    origin_allowed,
    parse_bounded,
    parse_origins,
    parse_since,
    rate_refusal,
    retry_after,
    upgrade_refusal,
)

# -- token buckets ---------------------------------------------------------------------------


def test_a_burst_then_exactly_the_rate() -> None:
    b = Buckets(rate=2, burst=5)
    assert [b.take("a", 0.0) for _ in range(5)] == [0.0] * 5
    assert b.take("a", 0.0) == pytest.approx(0.5)  # one more in 1/rate s
    assert b.take("a", 0.25) == pytest.approx(0.25)
    assert b.take("a", 0.5) == 0.0
    assert b.take("a", 0.5) > 0
    # another key is not affected
    assert b.take("b", 0.5) == 0.0


def test_a_refused_take_takes_nothing() -> None:
    b = Buckets(rate=1, burst=1)
    assert b.take("a", 0.0) == 0.0
    for _ in range(100):  # hammering while empty does not push the next one further away
        assert b.take("a", 0.5) == pytest.approx(0.5)
    assert b.take("a", 1.0) == 0.0


def test_wait_does_not_take() -> None:
    b = Buckets(rate=1, burst=2)
    assert b.wait("a", 0.0) == 0.0
    b.take("a", 0.0)
    b.take("a", 0.0)
    assert b.wait("a", 0.0) == pytest.approx(1.0)
    assert b.wait("a", 0.0) == pytest.approx(1.0)
    assert b.wait("a", 1.0) == 0.0


def test_a_clock_that_goes_back_gives_nothing_back() -> None:
    b = Buckets(rate=1, burst=1)
    b.take("a", 100.0)
    assert b.take("a", 50.0) > 0
    assert b.take("a", 100.5) == pytest.approx(0.5)
    assert b.take("a", 101.0) == 0.0


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(0.1, 100),
    burst=st.integers(1, 50),
    gaps=st.lists(st.floats(0, 2), min_size=1, max_size=200),
)
def test_never_more_than_burst_plus_rate_times_elapsed(
    rate: float, burst: int, gaps: list[float]
) -> None:
    """Whatever the timing, what is let through in [0, t] is at most burst + rate * t, and a
    refused take always says a positive wait that, waited, lets the next one through."""
    b = Buckets(rate, burst)
    now = 0.0
    allowed = 0
    for gap in gaps:
        now += gap
        wait = b.take("k", now)
        if wait == 0:
            allowed += 1
        else:
            assert wait > 0 and wait <= 1 / rate + 1e-9
            assert b.take("k", now + wait + 1e-9) == 0.0
            allowed += 1
            now += wait + 1e-9
        assert allowed <= burst + rate * now + 1e-6


def test_memory_is_bounded_and_full_buckets_go_first() -> None:
    b = Buckets(rate=1, burst=3, max_keys=100)
    b.take("busy", 0.0)
    b.take("busy", 0.0)
    b.take("busy", 0.0)
    for i in range(10_000):
        b.take(f"10.0.{i // 256}.{i % 256}", float(i) * 1e-6)
    assert len(b) <= 100
    # by t = 100 every other bucket has refilled and is forgotten before the LRU ones
    for i in range(200):
        b.take(f"new{i}", 100.0 + i * 1e-6)
    assert len(b) <= 100


def test_the_least_recently_used_is_forgotten_when_none_is_full() -> None:
    b = Buckets(rate=0.001, burst=1, max_keys=3)
    for k in "abcd":
        b.take(k, 0.0)
    assert len(b) == 3
    assert b.wait("a", 0.0) == 0.0  # forgotten: a new key starts full
    assert b.wait("d", 0.0) > 0


@pytest.mark.parametrize(
    "rate, burst, keys",
    [
        (0, 1, 1),
        (-1, 1, 1),
        (math.nan, 1, 1),
        (math.inf, 1, 1),
        (1, 0, 1),
        (1, math.inf, 1),
        (1, 1, 0),
    ],
)
def test_nonsense_parameters_are_refused(rate: float, burst: float, keys: int) -> None:
    with pytest.raises(ValueError):
        Buckets(rate, burst, keys)


@pytest.mark.parametrize(
    "wait, expected", [(1e-9, 1), (0.5, 1), (1.0, 1), (1.01, 2), (59.2, 60), (0.0, 1)]
)
def test_retry_after_is_whole_seconds_never_zero(wait: float, expected: int) -> None:
    assert retry_after(wait) == expected


# -- exemptions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address, exempt",
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("127.255.255.254", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("128.0.0.1", False),
        ("10.0.0.1", False),
        ("::2", False),
        ("fe80::1%eth0", False),
        ("", False),
        ("not an address", False),
        (None, False),
    ],
)
def test_loopback_is_exempt_by_default(address: str | None, exempt: bool) -> None:
    assert (address in Exempt.parse("127.0.0.0/8,::1")) is exempt


def test_exempt_lists() -> None:
    assert "10.1.2.3" in Exempt.parse(" 10.0.0.0/8 , 192.168.1.5")
    assert "192.168.1.5" in Exempt.parse("10.0.0.0/8,192.168.1.5")
    assert "192.168.1.6" not in Exempt.parse("10.0.0.0/8,192.168.1.5")
    assert "127.0.0.1" not in Exempt.parse("none")
    assert "127.0.0.1" not in Exempt.parse("")
    assert "fe80::1%eth0" in Exempt.parse("fe80::/10")
    for bad in ("localhost", "10.0.0.0/33", "1.2.3", "::g"):
        with pytest.raises(ValueError, match="not an address or network"):
            Exempt.parse(f"127.0.0.1,{bad}")


# -- the guard's answers -----------------------------------------------------------------------


def test_connection_cap() -> None:
    assert connection_refusal(99, 100) is None
    refusal = connection_refusal(100, 100)
    assert refusal is not None and refusal.status == 503 and refusal.retry_after
    assert connection_refusal(10**6, 0) is None  # 0: no cap


@pytest.mark.parametrize(
    "limit, expected", [(1024, 960), (1_048_576, 1_048_512), (50, 16), (None, 0), (0, 0)]
)
def test_the_automatic_connection_cap_keeps_descriptors(limit: int | None, expected: int) -> None:
    assert auto_max_connections(limit) == expected


def test_head_limits() -> None:
    assert head_refusal(100, 32768, 100, 32768) is None
    too_many = head_refusal(101, 10, 100, 32768)
    too_big = head_refusal(3, 32769, 100, 32768)
    for r in (too_many, too_big):
        assert r is not None and r.status == 431 and r.code == "headers_too_large"
    assert too_many is not None and "100 header fields" in too_many.message
    assert too_big is not None and "32 KiB" in too_big.message


def test_rate_and_upgrade_refusals() -> None:
    assert rate_refusal(0.0) is None
    r = rate_refusal(0.3)
    assert r == Refusal(429, "rate_limited", "too many connections from this address", 1)
    assert upgrade_refusal(19_999, 20_000) is None
    u = upgrade_refusal(20_000, 20_000)
    assert u is not None and u.status == 503 and u.retry_after == 5 and "20000" in u.message


# -- wrong tokens ------------------------------------------------------------------------------


def test_wrong_tokens_are_slowed_per_address() -> None:
    t = TokenThrottle(burst=3, per_minute=6)  # then one try every 10 s
    for _ in range(3):
        assert t.blocked("1.2.3.4", 0.0) is None
        t.failed("1.2.3.4", 0.0)
    blocked = t.blocked("1.2.3.4", 0.0)
    assert blocked is not None and blocked.status == 429 and blocked.retry_after == 10
    assert t.blocked("5.6.7.8", 0.0) is None  # per address
    assert t.blocked("1.2.3.4", 9.9) is not None
    assert t.blocked("1.2.3.4", 10.0) is None  # one try back
    t.failed("1.2.3.4", 10.0)
    again = t.blocked("1.2.3.4", 10.0)
    assert again is not None and again.retry_after == 10


def test_being_blocked_does_not_push_the_next_try_further() -> None:
    """Requests refused with 429 are not failures (their token is never looked at)."""
    t = TokenThrottle(burst=1, per_minute=60)
    t.failed("a", 0.0)
    for i in range(1000):
        assert t.blocked("a", i / 1001) is not None
    assert t.blocked("a", 1.0) is None


def test_an_exempt_address_is_never_slowed() -> None:
    t = TokenThrottle(burst=1, per_minute=1, exempt=Exempt.parse("10.0.0.0/8"))
    for _ in range(50):
        t.failed("10.0.0.9", 0.0)
    assert t.blocked("10.0.0.9", 0.0) is None
    assert len(t) == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.floats(0, 5)), max_size=300))
def test_a_guesser_gets_at_most_burst_plus_rate_tries(steps: list[tuple[str, float]]) -> None:
    """Checked tries per address over [0, t] <= burst + per_minute/60 * t, whatever the mix."""
    t = TokenThrottle(burst=5, per_minute=12)
    now = 0.0
    tries = {k: 0 for k in "abc"}
    for who, gap in steps:
        now += gap
        if t.blocked(who, now) is None:
            tries[who] += 1
            t.failed(who, now)
        assert tries[who] <= 5 + 12 / 60 * now + 1e-6


# -- origins -----------------------------------------------------------------------------------


def test_origins() -> None:
    allowed = parse_origins(" https://gfx.example.org , http://10.0.0.5:8000/ ")
    assert allowed == {"https://gfx.example.org", "http://10.0.0.5:8000"}
    assert origin_allowed("https://gfx.example.org", allowed)
    assert origin_allowed("HTTPS://GFX.example.org", allowed)
    assert origin_allowed("http://10.0.0.5:8000", allowed)
    assert not origin_allowed("http://10.0.0.5:8001", allowed)
    assert not origin_allowed("https://gfx.example.org.evil.test", allowed)
    assert not origin_allowed("null", allowed)
    assert origin_allowed(None, allowed)  # OBS, vMix, curl: no Origin
    assert origin_allowed("https://anything", frozenset())  # no list: as before
    assert origin_allowed("null", parse_origins("*"))
    assert parse_origins("") == frozenset()
    # the server's own pages (an overlay in OBS, the console): Origin's host is the Host
    assert origin_allowed("http://gfx-pc:8000", allowed, "gfx-pc:8000")
    assert origin_allowed("https://GFX-PC:8000", allowed, "gfx-pc:8000")
    assert not origin_allowed("http://gfx-pc:8000", allowed, "gfx-pc:8001")
    assert not origin_allowed("http://evil.test", allowed, None)
    assert not origin_allowed("null", allowed, "null")


@pytest.mark.parametrize("bad", ["example.org", "ftp://x", "https://", "https://a/b", "//a"])
def test_a_bad_origin_is_named(bad: str) -> None:
    with pytest.raises(ValueError, match="not an origin"):
        parse_origins(f"https://ok.example,{bad}")


# -- since -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [(None, None), ("", None), ("0", 0), ("17", 17), ("+5", 5), (str(MAX_SINCE), MAX_SINCE)],
)
def test_since_values(raw: str | None, expected: int | None) -> None:
    assert parse_since(raw) == expected


@pytest.mark.parametrize(
    "raw, message",
    [
        ("abc", "since must be an integer, not 'abc'"),
        ("1.5", "since must be an integer"),
        ("1_000", "since must be an integer"),
        (" 5", "since must be an integer"),
        ("٣", "since must be an integer"),
        ("9" * 4400, "since must be an integer"),
        ("-1", f"since must be between 0 and {MAX_SINCE}"),
        ("99999999999999999999", f"since must be between 0 and {MAX_SINCE}"),
        (str(MAX_SINCE + 1), f"since must be between 0 and {MAX_SINCE}"),
    ],
)
def test_since_errors_read_as_the_http_routes(raw: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_since(raw)
    assert str(info.value).startswith(message)
    assert len(str(info.value)) < 120


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=40), st.integers(-(2**70), 2**70).map(str)))
def test_any_text_is_a_number_in_range_or_a_clear_error(raw: str) -> None:
    try:
        value = parse_bounded("limit", raw, 1, 1000)
    except ValueError as exc:
        assert str(exc).startswith("limit must be ")
        assert "invalid literal" not in str(exc)
        return
    assert value is None or 1 <= value <= 1000
    if value is not None:
        assert value == int(raw)
