"""docs/events.md documents every event type with a real example, and is up to date."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from server.core.events import EVENT_TYPES, PROTOCOL_VERSION

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "events.md"
TOOL = ROOT / "tools" / "gen_event_examples.py"
ENVELOPE = ("seq", "type", "game", "at", "data")


def _load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_event_examples", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def sections(doc: str) -> dict[str, str]:
    """The text under each ``### `type``` heading, up to the next heading."""
    parts = re.split(r"^### ", doc, flags=re.MULTILINE)
    out: dict[str, str] = {}
    for part in parts[1:]:
        head, _, body = part.partition("\n")
        match = re.fullmatch(r"`([a-z_]+)`", head.strip())
        if match:
            out[match.group(1)] = body.split("\n## ", 1)[0]
    return out


def _json_blocks(text: str) -> list[str]:
    return re.findall(r"^```json\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("type_", EVENT_TYPES)
def test_every_type_has_a_section_with_an_example(type_: str, sections: dict[str, str]) -> None:
    """Each event type has its own section with a JSON example of that type."""
    assert type_ in sections, f"docs/events.md has no '### `{type_}`' section"
    blocks = _json_blocks(sections[type_])
    assert blocks, f"the {type_} section has no ```json example"
    for block in blocks:
        msg = json.loads(block)
        assert msg["type"] == type_


def test_every_example_is_a_full_envelope(doc: str) -> None:
    """Every JSON example in the doc parses and carries seq, type, game, at and data."""
    blocks = _json_blocks(doc)
    assert len(blocks) > len(EVENT_TYPES)
    for block in blocks:
        msg = json.loads(block)
        missing = [k for k in ENVELOPE if k not in msg]
        assert not missing, f"example lacks {missing}: {block[:200]}"
        assert msg["type"] in EVENT_TYPES
        assert isinstance(msg["seq"], int) and msg["seq"] >= 1
        assert isinstance(msg["at"], int)
        assert isinstance(msg["data"], dict)
        assert msg.get("stale", True) is True, "stale is either absent or true"


def test_doc_names_the_protocol_version(doc: str) -> None:
    """The doc states the protocol version the server speaks."""
    assert f"Protocol version: **{PROTOCOL_VERSION}**" in doc


def test_doc_is_what_the_generator_makes_now(doc: str) -> None:
    """docs/events.md equals tools/gen_event_examples.py's output (regenerate it if not)."""
    tool = _load_tool()
    wanted = tool.splice(doc, tool.render_examples())
    assert doc == wanted, "docs/events.md is out of date: run python tools/gen_event_examples.py"


def test_zone_map_pictures_are_current() -> None:
    """docs/zones.svg and docs/advanced-zones.svg are what tools/gen_zone_maps.py draws now."""
    spec = importlib.util.spec_from_file_location(
        "gen_zone_maps", ROOT / "tools" / "gen_zone_maps.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0, "stale: run python tools/gen_zone_maps.py"
    stats = (ROOT / "docs" / "stats.md").read_text(encoding="utf-8")
    assert "](zones.svg)" in stats and "](advanced-zones.svg)" in stats
