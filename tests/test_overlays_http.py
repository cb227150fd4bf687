"""Overlay pages over HTTP (no browser): every overlay renders with its config block, the
manifest describes the query parameters, bad input is refused or ignored (never injected),
the overlay key is enforced, and the page loads nothing from outside the server.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from server.web.assets import STATIC_DIR
from server.web.overlays import PAGE_PARAMS, PARAMS, parse_params
from server.web.pages import OVERLAYS
from tests.server_fixtures import GAME, running_feed

pytestmark = [pytest.mark.network, pytest.mark.anyio]

CONFIG_BLOCK = re.compile(r'<script type="application/json" id="config">(.*?)</script>', re.S)


def config_of(html: str) -> dict[str, Any]:
    match = CONFIG_BLOCK.search(html)
    assert match, "no config block"
    config: dict[str, Any] = orjson.loads(match.group(1))
    return config


async def test_every_overlay_renders_with_its_config_block(tmp_path: Path) -> None:
    async with running_feed(tmp_path) as feed:
        for name in OVERLAYS:
            r = await feed.http.get(f"/overlays/{name}", params={"game": GAME})
            assert r.status_code == 200, (name, r.text)
            assert r.headers["content-type"].startswith("text/html")
            assert r.headers["cache-control"] == "no-store"
            config = config_of(r.text)
            assert config["overlay"] == name
            assert config["game"] == GAME
            assert config["protocol"] == 1
            assert config["holdMs"] == 4000 and config["delayMs"] == 0
            assert config["theme"] == "default"
            assert config["homeColor"] is None and config["key"] is None
            assert config["autoplay"] is True and config["debug"] is False
            assert (config["width"], config["height"]) == (1920, 1080)


async def test_page_loads_nothing_from_outside_and_scripts_need_the_nonce(tmp_path: Path) -> None:
    async with running_feed(tmp_path) as feed:
        for name in OVERLAYS:
            r = await feed.http.get(f"/overlays/{name}", params={"game": GAME})
            html = r.text
            # every src/href is a path on this server (or data:)
            for url in re.findall(r'(?:src|href)="([^"]*)"', html):
                assert url.startswith(("/static/", "data:")), (name, url)
            assert "http://" not in html and "https://" not in html
            assert "//fonts." not in html and "cdn" not in html.lower()
            csp = r.headers["content-security-policy"]
            nonce = re.search(r"'nonce-([^']+)'", csp)
            assert nonce, csp
            assert "default-src 'none'" in csp and "script-src 'self'" in csp
            host = feed.url.split("//", 1)[1]
            assert f"connect-src 'self' ws://{host} wss://{host};" in csp
            scripts = re.findall(r"<script([^>]*)>", html)
            assert scripts
            for attrs in scripts:
                assert 'type="application/json"' in attrs or f'nonce="{nonce.group(1)}"' in attrs
        again = await feed.http.get("/overlays/scorebug", params={"game": GAME})
        assert again.headers["content-security-policy"] != r.headers["content-security-policy"]


async def test_shared_assets_and_font_are_served_with_a_license(tmp_path: Path) -> None:
    async with running_feed(tmp_path) as feed:
        html = (await feed.http.get("/overlays/three", params={"game": GAME})).text
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html) + re.findall(
            r'from "(/static/[^"]+)"', html
        ):
            r = await feed.http.get(asset)
            assert r.status_code == 200, asset
        assert "feed.js?v=" in html and "overlay.css?v=" in html
        css = (await feed.http.get("/static/overlay.css")).text
        fonts = re.findall(r'url\("(/static/fonts/[^"]+\.woff2)"\)', css)
        assert len(fonts) == 2
        for font in fonts:
            r = await feed.http.get(font)
            assert r.status_code == 200 and r.content[:4] == b"wOF2", font
    assert (STATIC_DIR / "fonts" / "LICENSE-Apache-2.0.txt").is_file()
    assert (STATIC_DIR / "fonts" / "README.md").is_file()


async def test_manifest_describes_the_page_and_its_parameters(tmp_path: Path) -> None:
    async with running_feed(tmp_path) as feed:
        for name in OVERLAYS:
            r = await feed.http.get(f"/overlays/{name}/manifest.json")
            assert r.status_code == 200, r.text
            assert r.headers["content-type"].startswith("application/json")
            m = orjson.loads(r.content)
            assert m["name"] == name and m["description"] == OVERLAYS[name]
            assert m["version"]
            assert m["url"] == f"{feed.url}/overlays/{name}"
            assert m["supportsRealTime"] is True
            assert set(m["casparcg"]["functions"]) == {"update", "play", "next", "stop"}
            params = m["parameters"]
            assert params["type"] == "object"
            assert params["required"] == ["game"]
            props = params["properties"]
            expected = {
                "game", "theme", "home_color", "away_color", "hold_ms", "delay_ms", "debug",
                "key", "autoplay",
            }  # fmt: skip
            own = {p.name for p in PAGE_PARAMS.get(name, ())}
            assert set(props) == expected | own
            for prop in props.values():
                assert prop["type"] in ("string", "integer", "boolean")
                assert prop["description"]
            assert props["hold_ms"] == {
                "type": "integer",
                "description": props["hold_ms"]["description"],
                "default": 4000,
                "minimum": 1000,
                "maximum": 30000,
            }
            assert props["delay_ms"]["default"] == 0 and props["debug"]["default"] is False
            assert re.match(props["home_color"]["pattern"], "#a1b2c3")
            assert not re.match(props["home_color"]["pattern"], "red")


async def test_unknown_overlay_and_missing_game_are_json_errors(tmp_path: Path) -> None:
    async with running_feed(tmp_path) as feed:
        for path in ("/overlays/nope", "/overlays/nope/manifest.json", "/overlays/_base"):
            r = await feed.http.get(path, params={"game": GAME})
            assert r.status_code == 404, path
            assert r.json()["error"] == "not_found"
            assert "scorebug" in r.json()["message"]
        r = await feed.http.get("/overlays/scorebug")
        assert r.status_code == 400
        assert r.json() == {
            "error": "bad_request",
            "message": "game=<ShotTracker event id> is required",
        }
        r = await feed.http.get("/overlays/scorebug", params={"game": "<script>x"})
        assert r.status_code == 400 and r.json()["error"] == "bad_request"
        assert "<script>" not in r.text
        # a game nobody follows is fine: the page waits for it (and CasparCG may drive it)
        r = await feed.http.get("/overlays/scorebug", params={"game": "NOT-FOLLOWED"})
        assert r.status_code == 200


async def test_bad_values_are_ignored_never_injected(tmp_path: Path) -> None:
    evil = '"></script><script>alert(1)</script>'
    async with running_feed(tmp_path) as feed:
        r = await feed.http.get(
            "/overlays/scorebug",
            params={
                "game": GAME,
                "home_color": "red",
                "away_color": evil,
                "theme": evil,
                "hold_ms": "99999999",
                "delay_ms": "-5",
                "debug": "maybe",
                "key": evil,
            },
        )
        assert r.status_code == 200
        config = config_of(r.text)
        assert config["homeColor"] is None and config["awayColor"] is None
        assert config["theme"] == "default"
        assert config["holdMs"] == 30000 and config["delayMs"] == 0
        assert config["debug"] is False
        assert config["key"] == evil  # kept as a value, for the WebSocket URL: JSON, not markup
        assert "<script>alert(1)" not in r.text
        assert r.text.count("</script>") == 3  # the config block, contract.js and the module

        r = await feed.http.get(
            "/overlays/three",
            params={
                "game": GAME,
                "home_color": "#ABC",
                "away_color": "#0a0B0c",
                "theme": "light",
                "hold_ms": "2500",
                "delay_ms": "7000",
                "debug": "1",
                "autoplay": "0",
            },
        )
        config = config_of(r.text)
        assert config["homeColor"] == "#abc" and config["awayColor"] == "#0a0b0c"
        assert config["theme"] == "light" and config["debug"] is True
        assert config["holdMs"] == 2500 and config["delayMs"] == 7000
        assert config["autoplay"] is False


def test_param_parsing_rules() -> None:
    base = {"game": "EVT"}
    assert parse_params({**base, "hold_ms": "abc"})["holdMs"] == 4000
    assert parse_params({**base, "hold_ms": "10"})["holdMs"] == 1000
    assert parse_params({**base, "delay_ms": "120001"})["delayMs"] == 120000
    assert parse_params({**base, "home_color": "#12345"})["homeColor"] is None
    assert parse_params({**base, "home_color": " #FFF "})["homeColor"] == "#fff"
    assert parse_params({**base, "debug": "true"})["debug"] is True
    assert parse_params({**base, "debug": "off"})["debug"] is False
    assert parse_params({**base, "theme": "Broadcast-2"})["theme"] == "broadcast-2"
    assert parse_params({**base, "theme": "a b"})["theme"] == "default"
    # the table that feeds parsing, the manifest and the docs names every parameter once
    assert len({p.name for p in PARAMS}) == len(PARAMS)


async def test_overlay_key_is_enforced_when_set(tmp_path: Path) -> None:
    key = "overlay-key-0123456789"
    async with running_feed(tmp_path, overlay_key=key) as feed:
        for params in ({"game": GAME}, {"game": GAME, "key": "wrong"}, {"game": GAME, "key": "é"}):
            r = await feed.http.get("/overlays/scorebug", params=params)
            assert r.status_code == 403, params
            assert r.json()["error"] == "forbidden"
            assert key not in r.text
        r = await feed.http.get("/overlays/scorebug", params={"game": GAME, "key": key})
        assert r.status_code == 200
        assert config_of(r.text)["key"] == key
        # the key is checked before anything else is said about the request
        r = await feed.http.get("/overlays/scorebug", params={"key": "wrong"})
        assert r.status_code == 403
    (tmp_path / "open").mkdir()
    async with running_feed(tmp_path / "open") as feed:
        r = await feed.http.get("/overlays/scorebug", params={"game": GAME})
        assert r.status_code == 200


def test_docs_list_every_parameter_and_feed_js_helper() -> None:
    root = Path(__file__).resolve().parent.parent
    doc = (root / "docs" / "overlays.md").read_text(encoding="utf-8")
    for p in PARAMS:
        assert f"`{p.name}`" in doc, p.name
    for name in OVERLAYS:
        assert f"`{name}`" in doc, name
    feed_js = (STATIC_DIR / "feed.js").read_text(encoding="utf-8")
    helpers = doc.split("Helpers: ", 1)[1].split("\n\n", 1)[0]
    names = re.findall(r"`([A-Za-z_]+)[(`]", helpers)
    assert len(names) > 10
    for name in names:
        assert re.search(rf"^export (?:function|const|class) {name}\b", feed_js, re.M), name
