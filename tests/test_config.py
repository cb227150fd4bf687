"""Settings: every variable read, bad values refused by name, docs/config.md up to date."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from server.config import SETTINGS, Settings, render_markdown
from server.errors import ConfigError
from server.web.operators import parse_tokens

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "config.md"

# A usable value for every variable, different from its default, and what it parses to.
GOOD: dict[str, tuple[str, Any]] = {
    "SHOTTRACKER_USERNAME": ("alice", "alice"),
    "SHOTTRACKER_SECRET": ("s3cret", "s3cret"),
    "SHOTTRACKER_BASE_URL": ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
    "SHOTFEED_GAMES": (" 1, 2,,3 ", ("1", "2", "3")),
    "SHOTFEED_DB": ("/tmp/x.db", "/tmp/x.db"),
    "SHOTFEED_POLL_INTERVAL": ("0.5", 0.5),
    "SHOTFEED_IDLE_INTERVAL": ("7", 7.0),
    "SHOTFEED_BACKOFF_CAP": ("12.5", 12.5),
    "SHOTFEED_AUTH_RETRY": ("60", 60.0),
    "SHOTFEED_TIMEOUT": ("2.5", 2.5),
    "SHOTFEED_STALE_S": ("30", 30.0),
    "SHOTFEED_RUN_THRESHOLD": ("10", 10),
    "SHOTFEED_HOT_HAND": ("4", 4),
    "SHOTFEED_OPERATOR_TOKEN": ("x" * 16, "x" * 16),
    "SHOTFEED_OPERATOR_TOKENS": ("a:" + "y" * 16, "a:" + "y" * 16),
    "SHOTFEED_OVERLAY_KEY": ("k", "k"),
    "SHOTFEED_HEARTBEAT_S": ("0.1", 0.1),
    "SHOTFEED_RETAIN": ("1", 1),
    "SHOTFEED_QUEUE": ("1", 1),
    "SHOTFEED_ALLOWED_ORIGINS": ("https://gfx.example.org", "https://gfx.example.org"),
    "SHOTFEED_HANDSHAKE_TIMEOUT_S": ("2.5", 2.5),
    "SHOTFEED_MAX_CLIENTS": ("500", 500),
    "SHOTFEED_MAX_CONNECTIONS": ("4000", 4000),
    "SHOTFEED_CONNECT_RATE": ("5", 5.0),
    "SHOTFEED_CONNECT_BURST": ("20", 20),
    "SHOTFEED_LIMIT_EXEMPT": ("10.0.0.0/8", "10.0.0.0/8"),
    "SHOTFEED_MAX_HEADER_BYTES": ("8192", 8192),
    "SHOTFEED_MAX_HEADERS": ("50", 50),
    "SHOTFEED_AUTH_FAILURES": ("3", 3),
    "SHOTFEED_AUTH_FAILURES_PER_MIN": ("2", 2.0),
    "REDIS_URL": ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    "SHOTFEED_REDIS_PREFIX": ("rehearsal", "rehearsal"),
    "SHOTFEED_LEADER_TTL_S": ("2.5", 2.5),
    "HOST": ("0.0.0.0", "0.0.0.0"),
    "PORT": ("65535", 65535),
}

BAD: list[tuple[str, str]] = [
    *[
        (env, raw)
        for env in (
            "SHOTFEED_POLL_INTERVAL",
            "SHOTFEED_IDLE_INTERVAL",
            "SHOTFEED_BACKOFF_CAP",
            "SHOTFEED_AUTH_RETRY",
            "SHOTFEED_TIMEOUT",
            "SHOTFEED_STALE_S",
            "SHOTFEED_HEARTBEAT_S",
            "SHOTFEED_HANDSHAKE_TIMEOUT_S",
            "SHOTFEED_CONNECT_RATE",
            "SHOTFEED_AUTH_FAILURES_PER_MIN",
        )
        for raw in ("nan", "NaN", "inf", "-inf", "1e400", "0", "-1", "abc", "1s")
    ],
    ("SHOTFEED_HEARTBEAT_S", "0.05"),
    *[
        (env, raw)
        for env in (
            "SHOTFEED_RUN_THRESHOLD",
            "SHOTFEED_HOT_HAND",
            "SHOTFEED_RETAIN",
            "SHOTFEED_QUEUE",
            "SHOTFEED_MAX_CLIENTS",
            "SHOTFEED_CONNECT_BURST",
            "SHOTFEED_AUTH_FAILURES",
        )
        for raw in ("0", "-3", "1.5", "8.0", "nan", "inf", "eight")
    ],
    *[("SHOTFEED_MAX_CONNECTIONS", raw) for raw in ("-1", "1.5", "nan", "many")],
    *[("SHOTFEED_MAX_HEADER_BYTES", raw) for raw in ("0", "100", "2000000", "nan")],
    *[("SHOTFEED_MAX_HEADERS", raw) for raw in ("0", "7", "10001", "x")],
    ("SHOTFEED_HANDSHAKE_TIMEOUT_S", "0.05"),
    ("SHOTFEED_HANDSHAKE_TIMEOUT_S", "3601"),
    ("SHOTFEED_ALLOWED_ORIGINS", "example.org"),
    ("SHOTFEED_ALLOWED_ORIGINS", "https://a.example/path"),
    ("SHOTFEED_ALLOWED_ORIGINS", "ftp://a.example"),
    ("SHOTFEED_LIMIT_EXEMPT", "localhost"),
    ("SHOTFEED_LIMIT_EXEMPT", "10.0.0.0/33"),
    *[("PORT", raw) for raw in ("0", "-1", "65536", "80.5", "http", "nan")],
    ("SHOTTRACKER_BASE_URL", "api.shottracker.com"),
    ("SHOTTRACKER_BASE_URL", "ftp://api.shottracker.com"),
    ("SHOTTRACKER_BASE_URL", "https://"),
    ("REDIS_URL", "localhost:6379"),
    ("REDIS_URL", "http://localhost:6379"),
    ("SHOTFEED_LEADER_TTL_S", "0.1"),
    ("SHOTFEED_LEADER_TTL_S", "nan"),
    ("SHOTFEED_OPERATOR_TOKEN", "short"),
    ("SHOTFEED_OPERATOR_TOKEN", "x" * 15),
]


def test_the_table_covers_every_field_once() -> None:
    """The table and the dataclass name the same settings, so no default is written twice."""
    attrs = [s.attr for s in SETTINGS]
    envs = [s.env for s in SETTINGS]
    assert sorted(attrs) == sorted(f.name for f in dataclasses.fields(Settings))
    assert len(set(envs)) == len(envs) == len(attrs)
    assert set(GOOD) == set(envs), "GOOD must hold a value for every variable"


def test_defaults_come_from_the_table() -> None:
    settings = Settings()
    for s in SETTINGS:
        assert getattr(settings, s.attr) == s.default, s.env
    assert Settings.from_environ({}) == settings


@pytest.mark.parametrize("env", sorted(GOOD))
def test_every_variable_is_read(env: str) -> None:
    raw, expected = GOOD[env]
    attr = next(s.attr for s in SETTINGS if s.env == env)
    value = getattr(Settings.from_environ({env: raw}), attr)
    assert value == expected
    assert type(value) is type(expected)


def test_all_variables_at_once() -> None:
    settings = Settings.from_environ({env: raw for env, (raw, _) in GOOD.items()})
    for s in SETTINGS:
        assert getattr(settings, s.attr) == GOOD[s.env][1], s.env


@pytest.mark.parametrize("env", sorted(GOOD))
@pytest.mark.parametrize("raw", ["", "   "])
def test_empty_means_default(env: str, raw: str) -> None:
    assert Settings.from_environ({env: raw}) == Settings()


def test_values_are_stripped() -> None:
    settings = Settings.from_environ({"PORT": " 9000\n", "SHOTTRACKER_SECRET": "abc\n"})
    assert settings.port == 9000 and settings.secret == "abc"


def test_overrides_win_over_the_environment_and_none_is_not_given() -> None:
    env = {"PORT": "9000", "SHOTFEED_POLL_INTERVAL": "2", "HOST": "0.0.0.0"}
    settings = Settings.from_environ(env, port=9100, poll_interval=0.25, host=None)
    assert settings.port == 9100 and settings.poll_interval == 0.25
    assert settings.host == "0.0.0.0"


def test_an_unknown_override_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        Settings.from_environ({}, poll_intervall=1.0)


@pytest.mark.parametrize(("env", "raw"), BAD)
def test_a_bad_value_is_refused_naming_the_variable(env: str, raw: str) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_environ({env: raw})
    message = str(err.value)
    assert message.startswith(f"{env}="), message
    assert "must be" in message
    help_text = next(s.help for s in SETTINGS if s.env == env)
    assert f"({help_text})" in message


def test_the_message_reads_as_documented() -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_environ({"SHOTFEED_POLL_INTERVAL": "nan"})
    assert str(err.value) == (
        "SHOTFEED_POLL_INTERVAL=nan: must be a finite number > 0 "
        "(Seconds between polls of an ACTIVE game.)"
    )


def test_a_secret_is_never_echoed() -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_environ({"SHOTFEED_OPERATOR_TOKEN": "hunter2-short"})
    assert "hunter2" not in str(err.value)
    assert "SHOTFEED_OPERATOR_TOKEN=<hidden>" in str(err.value)


@pytest.mark.parametrize(
    ("attr", "value", "env"),
    [
        ("port", 0, "PORT"),
        ("port", 65536, "PORT"),
        ("port", True, "PORT"),
        ("port", 80.0, "PORT"),
        ("poll_interval", float("nan"), "SHOTFEED_POLL_INTERVAL"),
        ("poll_interval", float("inf"), "SHOTFEED_POLL_INTERVAL"),
        ("poll_interval", 0.0, "SHOTFEED_POLL_INTERVAL"),
        ("poll_interval", "1", "SHOTFEED_POLL_INTERVAL"),
        ("timeout", -1.0, "SHOTFEED_TIMEOUT"),
        ("base_url", "localhost", "SHOTTRACKER_BASE_URL"),
        ("games", ("1", ""), "SHOTFEED_GAMES"),
        ("games", "1,2", "SHOTFEED_GAMES"),
        ("db_path", "", "SHOTFEED_DB"),
        ("host", " ", "HOST"),
    ],
)
def test_overrides_and_direct_construction_are_checked_the_same(
    attr: str, value: Any, env: str
) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_environ({}, **{attr: value})
    assert str(err.value).startswith(f"{env}=")
    assert "(given on the command line)" in str(err.value)
    with pytest.raises(ConfigError) as err:
        Settings(**{attr: value})
    assert str(err.value).startswith(f"{env}=")


def test_ints_are_fine_where_seconds_are_wanted() -> None:
    assert Settings(poll_interval=2, heartbeat_s=1).poll_interval == 2


def test_secrets_stay_out_of_repr() -> None:
    text = repr(Settings(secret="S" * 20, operator_token="T" * 20, overlay_key="K" * 20))
    assert "SSSS" not in text and "TTTT" not in text and "KKKK" not in text


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SHOTFEED_OPERATOR_TOKENS": "desk:short"}, "SHOTFEED_OPERATOR_TOKENS (label 'desk')"),
        ({"SHOTFEED_OPERATOR_TOKENS": "desk"}, "SHOTFEED_OPERATOR_TOKENS"),
    ],
)
def test_operator_token_messages_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_tokens(Settings.from_environ(env))
    assert str(err.value).startswith(named)
    assert "short" not in str(err.value), "the token itself is never echoed"


def test_a_short_token_built_past_from_environ_is_still_caught_by_name() -> None:
    """parse_tokens checks again: Settings may be replaced without the table's check."""
    settings = Settings()
    object.__setattr__(settings, "operator_token", "short")
    with pytest.raises(ConfigError) as err:
        parse_tokens(settings)
    assert str(err.value).startswith("SHOTFEED_OPERATOR_TOKEN:")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["serve", "--game", "X", "--port", "0"], "PORT=0"),
        (["serve", "--game", "X", "--poll-interval", "nan"], "SHOTFEED_POLL_INTERVAL=nan"),
        (["serve", "--game", "X", "--upstream", "api.example"], "SHOTTRACKER_BASE_URL="),
        (["demo", "--port", "70000"], "PORT=70000"),
    ],
)
def test_the_command_line_exits_2_with_the_same_message(args: list[str], named: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "server", *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"shotfeed: {named}"), proc.stderr
    assert "must be" in proc.stderr and "Traceback" not in proc.stderr


def test_a_bad_environment_stops_the_command_line_too() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "server", "serve", "--game", "X"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "SHOTFEED_HEARTBEAT_S": "0"},
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("shotfeed: SHOTFEED_HEARTBEAT_S=0: must be"), proc.stderr


def test_docs_config_md_is_what_the_table_renders() -> None:
    """docs/config.md equals render_markdown(); regenerate with python -m server.config."""
    assert DOC.read_text(encoding="utf-8") == render_markdown(), (
        "docs/config.md is out of date: run python -m server.config > docs/config.md"
    )


def test_docs_name_every_variable_with_its_default() -> None:
    doc = render_markdown()
    for s in SETTINGS:
        row = next(line for line in doc.splitlines() if line.startswith(f"| `{s.env}` |"))
        assert s.help.replace("|", "\\|") in row
        assert s.kind.describe() in row
