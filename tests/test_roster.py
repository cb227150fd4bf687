"""server.core.roster: the operator's teams and roster, partial updates and their validation."""

from __future__ import annotations

from typing import Any

import pytest

from server.core.roster import GameConfig, Player, TeamInfo
from server.errors import ConfigError

FULL = {
    "home": {"teamId": "1", "name": "Hawks", "short": "HAW", "color": "#c8102e"},
    "away": {"teamId": "2", "name": "Owls", "short": "OWL", "color": "#00F"},
    "roster": {"7269": {"name": "Jane Doe", "number": "23"}, "7259": {"name": "Kim Ray"}},
}


@pytest.fixture
def full() -> GameConfig:
    """A fully configured game."""
    return GameConfig.from_data(FULL)


def test_empty_config_knows_nothing() -> None:
    """Without configuration no team or player is known."""
    config = GameConfig.from_data(None)
    assert config == GameConfig()
    assert config.side_of("1") is None
    assert config.player("7269") is None
    assert config.to_data() == {
        "home": {"teamId": None, "name": None, "short": None, "color": None},
        "away": {"teamId": None, "name": None, "short": None, "color": None},
        "roster": {},
    }


def test_from_data(full: GameConfig) -> None:
    """A full config reads into typed values."""
    assert full.home == TeamInfo("1", "Hawks", "HAW", "#c8102e")
    assert full.away == TeamInfo("2", "Owls", "OWL", "#00F")
    assert full.roster == {
        "7269": Player("7269", "Jane Doe", "23"),
        "7259": Player("7259", "Kim Ray", None),
    }


def test_to_data_round_trip(full: GameConfig) -> None:
    """to_data is what the config event and the PUT body carry; it reads back the same."""
    assert GameConfig.from_data(full.to_data()) == full
    assert full.to_data()["roster"]["7269"] == {"name": "Jane Doe", "number": "23"}


@pytest.mark.parametrize(
    ("tid", "side"), [("1", "home"), ("2", "away"), ("552", None), (None, None), ("", None)]
)
def test_side_of(full: GameConfig, tid: str | None, side: str | None) -> None:
    """side_of maps a configured team id to home/away, anything else to None."""
    assert full.side_of(tid) == side


def test_player(full: GameConfig) -> None:
    """player looks a pid up in the roster; unknown or None pid gives None."""
    assert full.player("7269") == Player("7269", "Jane Doe", "23")
    assert full.player("0") is None
    assert full.player(None) is None
    assert Player("7269", "Jane Doe", "23").to_data() == {
        "id": "7269",
        "name": "Jane Doe",
        "number": "23",
    }


# patch -> what must hold afterwards (attribute path -> value)
MERGES: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({}, {"home.name": "Hawks", "away.name": "Owls"}),
    ({"home": {"color": "#000000"}}, {"home.color": "#000000", "home.name": "Hawks"}),
    ({"home": {"name": "  Hawks II "}}, {"home.name": "Hawks II", "home.teamId": "1"}),
    ({"home": {"name": ""}}, {"home.name": None, "home.short": "HAW"}),
    ({"home": {"color": None}}, {"home.color": None}),
    ({"away": {"teamId": 552}}, {"away.teamId": "552", "home.teamId": "1"}),
    ({"home": {}}, {"home.name": "Hawks"}),
    ({"roster": {}}, {"roster.7269.name": "Jane Doe"}),
    (
        {"roster": {"7269": {"number": 32}}},
        {"roster.7269.number": "32", "roster.7269.name": "Jane Doe"},
    ),
    (
        {"roster": {"7269": {"name": "J. Doe"}}},
        {"roster.7269.name": "J. Doe", "roster.7269.number": "23"},
    ),
    ({"roster": {"7269": None}}, {"roster.7269": None, "roster.7259.name": "Kim Ray"}),
    ({"roster": {"1": {"name": "New"}}}, {"roster.1.name": "New", "roster.7269.name": "Jane Doe"}),
    ({"roster": {9: {"number": "0"}}}, {"roster.9.number": "0", "roster.9.name": None}),
    ({"roster": {"404": None}}, {"roster.404": None, "roster.7269.name": "Jane Doe"}),
]


def _get(config: GameConfig, path: str) -> Any:
    data: Any = config.to_data()
    for part in path.split("."):
        if data is None:
            return None
        data = data.get(part)
    return data


@pytest.mark.parametrize(("patch", "expect"), MERGES)
def test_merged_partial_update(
    full: GameConfig, patch: dict[str, Any], expect: dict[str, Any]
) -> None:
    """Fields left out of an update stay as they were; the ones given replace them."""
    merged = full.merged(patch)
    for path, value in expect.items():
        assert _get(merged, path) == value, path
    assert full == GameConfig.from_data(FULL)  # the original is untouched


BAD: list[tuple[Any, str]] = [
    ([], "object"),
    ("home", "object"),
    (None, "object"),
    ({"teams": {}}, "teams"),
    ({"home": {}, "colour": "#fff"}, "colour"),
    ({"home": None}, "home"),
    ({"home": "Hawks"}, "home"),
    ({"away": ["2"]}, "away"),
    ({"home": {"colour": "#ffffff"}}, "colour"),
    ({"home": {"logo": "x.png"}}, "logo"),
    ({"home": {"color": "red"}}, "color"),
    ({"home": {"color": "#12"}}, "color"),
    ({"home": {"color": "#1234"}}, "color"),
    ({"home": {"color": "#gggggg"}}, "color"),
    ({"home": {"color": "123456"}}, "color"),
    ({"home": {"color": 123456}}, "color"),
    ({"away": {"color": "#12345678"}}, "color"),
    ({"home": {"color": "#fff;background:url(x)"}}, "color"),
    ({"home": {"name": ["Hawks"]}}, "home.name"),
    ({"home": {"name": {"en": "Hawks"}}}, "home.name"),
    ({"home": {"name": True}}, "home.name"),
    ({"home": {"teamId": False}}, "home.teamId"),
    ({"away": {"short": "x" * 81}}, "away.short"),
    ({"roster": []}, "roster"),
    ({"roster": "7269"}, "roster"),
    ({"roster": {"7269": "Jane Doe"}}, "roster[7269]"),
    ({"roster": {"7269": 23}}, "roster[7269]"),
    ({"roster": {"7269": {"name": ["Jane"]}}}, "roster[7269].name"),
    ({"roster": {"7269": {"number": True}}}, "roster[7269].number"),
    ({"roster": {"7269": {"nmae": "Jane"}}}, "nmae"),
    ({"roster": {"7269": {"name": "Jane", "position": "G"}}}, "position"),
]


@pytest.mark.parametrize(("patch", "names"), BAD)
def test_merged_rejects(full: GameConfig, patch: Any, names: str) -> None:
    """A malformed update raises ConfigError naming what is wrong, and changes nothing."""
    with pytest.raises(ConfigError) as err:
        full.merged(patch)
    assert names in str(err.value)
    assert full == GameConfig.from_data(FULL)


@pytest.mark.parametrize("color", ["#fff", "#FFF", "#a1B2c3", " #a1b2c3 "])
def test_good_colors(color: str) -> None:
    """#rgb and #rrggbb in any case are colours (surrounding spaces trimmed)."""
    assert GameConfig().merged({"home": {"color": color}}).home.color == color.strip()


def test_long_text_limit() -> None:
    """80 characters are fine; 81 are not."""
    assert GameConfig().merged({"home": {"name": "x" * 80}}).home.name == "x" * 80
    with pytest.raises(ConfigError):
        GameConfig().merged({"home": {"name": "x" * 81}})
