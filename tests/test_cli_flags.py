"""Command-line values that cannot work are refused at once, naming the flag (exit 2).

The environment's settings have their own table and tests (tests/test_config.py); these are
the flags that never reach Settings: a NaN speed or interval would break every sleep it
reaches, an infinite one park the loop for ever, a zero count record nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from server.cli import build_parser


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["demo", "--speed", "nan"], "--speed"),
        (["demo", "--speed", "inf"], "--speed"),
        (["demo", "--speed", "0"], "--speed"),
        (["demo", "--speed", "-2"], "--speed"),
        (["demo", "--speed", "fast"], "--speed"),
        (["record", "--game", "G", "--out", "f", "--interval", "nan"], "--interval"),
        (["record", "--game", "G", "--out", "f", "--interval", "0"], "--interval"),
        (["record", "--game", "G", "--out", "f", "--count", "0"], "--count"),
        (["record", "--game", "G", "--out", "f", "--count", "1.5"], "--count"),
        (["replay", "file", "--speed", "-inf"], "--speed"),
    ],
)
def test_a_flag_that_cannot_work_exits_2_naming_it(
    argv: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2
    assert f"argument {flag}:" in capsys.readouterr().err


def test_sensible_values_are_taken() -> None:
    args = build_parser().parse_args(["demo", "--speed", "0.5"])
    assert args.speed == 0.5
    args = build_parser().parse_args(["record", "--game", "G", "--out", "f", "--count", "3"])
    assert args.count == 3 and args.interval == 1.0


def test_a_refused_setting_is_the_only_word_at_exit(tmp_path: Path) -> None:
    """The refusal names the variable; no misleading "no stop reason" line follows it."""
    env = dict(os.environ, SHOTFEED_HEARTBEAT_S="0")
    done = subprocess.run(
        [sys.executable, "-m", "server", "serve", "--game", "X"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "SHOTFEED_HEARTBEAT_S" in done.stderr
    assert "no stop reason" not in done.stderr, done.stderr
