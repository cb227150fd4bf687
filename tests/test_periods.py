"""server.core.periods: period codes as they read on air, unknown codes passed through unchanged."""

from __future__ import annotations

import pytest

from server.core.periods import ordinal, period_label, period_short

# code -> (label, short)
PERIODS: list[tuple[str, str, str]] = [
    ("Q1", "1st Quarter", "Q1"),
    ("Q2", "2nd Quarter", "Q2"),
    ("Q3", "3rd Quarter", "Q3"),
    ("Q4", "4th Quarter", "Q4"),
    ("H1", "1st Half", "1H"),
    ("H2", "2nd Half", "2H"),
    ("OT", "Overtime", "OT"),
    ("OT1", "Overtime", "OT"),
    ("OT2", "2nd Overtime", "2OT"),
    ("OT3", "3rd Overtime", "3OT"),
    ("OT4", "4th Overtime", "4OT"),
    ("OT11", "11th Overtime", "11OT"),
]


@pytest.mark.parametrize(("code", "label", "short"), PERIODS)
def test_period_label(code: str, label: str, short: str) -> None:
    """Every documented code (and OT, OT1, OT2...) has its on-air label."""
    assert period_label(code) == label


@pytest.mark.parametrize(("code", "label", "short"), PERIODS)
def test_period_short(code: str, label: str, short: str) -> None:
    """Every documented code has its compact scorebug form."""
    assert period_short(code) == short


@pytest.mark.parametrize(("code", "label", "short"), PERIODS)
def test_case_and_spaces_do_not_matter(code: str, label: str, short: str) -> None:
    """A lower-case or padded code reads the same as the canonical one."""
    assert period_label(f" {code.lower()} ") == label
    assert period_short(f" {code.lower()} ") == short


@pytest.mark.parametrize(
    "code", ["SHOOTOUT", "P1", "Q", "H", "HALFTIME", "1", "", "Q1X", "OTX", "Quarter 1", "🏀"]
)
def test_unknown_codes_pass_through(code: str) -> None:
    """A code that is not Q<n>, H<n> or OT[<n>] is shown as it came, never guessed."""
    assert period_label(code) == code
    assert period_short(code) == code


def test_none_stays_none() -> None:
    """No period yet: no label."""
    assert period_label(None) is None
    assert period_short(None) is None


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (1, "1st"),
        (2, "2nd"),
        (3, "3rd"),
        (4, "4th"),
        (10, "10th"),
        (11, "11th"),
        (12, "12th"),
        (13, "13th"),
        (20, "20th"),
        (21, "21st"),
        (22, "22nd"),
        (23, "23rd"),
        (101, "101st"),
        (111, "111th"),
        (112, "112th"),
    ],
)
def test_ordinal(n: int, text: str) -> None:
    """English ordinals, with the 11th-13th exceptions."""
    assert ordinal(n) == text
