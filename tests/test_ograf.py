"""OGraf v1 graphics over HTTP (no browser): the list, every manifest valid against the v1
graphics schema (the copy in tests/ograf_schema/, resolved offline), the module and its
library, the bridge page, and the zip a host imports as a folder.

The overlays come from ``pages.OVERLAYS`` and their parameters from the overlay manifest at run
time, so a new overlay is checked as a graphic without touching this file.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

from server.web.assets import STATIC_DIR
from server.web.ograf import SCHEMA_URL
from server.web.overlays import manifest as overlay_manifest
from server.web.pages import OVERLAYS
from tests.server_fixtures import GAME, running_feed

pytestmark = [pytest.mark.network, pytest.mark.anyio]

SCHEMAS = Path(__file__).parent / "ograf_schema"
KEY = "ograf-test-overlay-key"
BRIDGE_BLOCK = re.compile(r'<script type="application/json" id="bridge">(.*?)</script>', re.S)


def _offline(uri: str) -> Resource[Any]:
    raise NoSuchResource(ref=uri)  # never fetch a schema from the network


def validator() -> jsonschema.protocols.Validator:
    """The v1 graphics schema with every $ref resolved to the copies in tests/ograf_schema/."""
    resources = []
    for path in sorted(SCHEMAS.rglob("*.json")):
        doc = json.loads(path.read_text())
        resources.append((doc["$id"], Resource.from_contents(doc)))
    registry: Registry[Any] = Registry(retrieve=_offline).with_resources(resources)
    schema = json.loads((SCHEMAS / "graphics" / "schema.json").read_text())
    assert schema["$id"] == SCHEMA_URL
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, registry=registry)  # type: ignore[call-arg]


def errors(manifest: dict[str, Any]) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator().iter_errors(manifest)]


def test_the_validator_refuses_what_the_spec_refuses() -> None:
    good = {
        "$schema": SCHEMA_URL,
        "id": "x",
        "name": "x",
        "main": "x.mjs",
        "supportsRealTime": True,
        "supportsNonRealTime": False,
        "schema": {"type": "object", "properties": {"a": {"type": "string"}}},
    }
    assert errors(good) == []
    assert errors({k: v for k, v in good.items() if k != "main"})  # required field
    assert errors({**good, "vendor": 1})  # a vendor field without v_
    assert errors({**good, "v_vendor": 1}) == []
    # the GDD rules are checked too: a property without a type, a bad colour pattern
    assert errors({**good, "schema": {"type": "object", "properties": {"a": {}}}})
    bad_colour = {"type": "string", "gddType": "color-rrggbb", "pattern": "^#[0-9a-f]{3}$"}
    assert errors({**good, "schema": {"type": "object", "properties": {"c": bad_colour}}})


async def test_the_list_has_every_overlay_with_its_urls(tmp_path: Path) -> None:
    async with running_feed(tmp_path) as feed:
        r = await feed.http.get("/ograf/")
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "*"
        graphics = r.json()["graphics"]
        assert [g["v_overlay"] for g in graphics] == list(OVERLAYS)
        for g in graphics:
            name = g["v_overlay"]
            assert g["id"] == f"shotfeed-{name}" and g["name"] and g["description"]
            assert g["v_manifestUrl"] == f"{feed.url}/ograf/{name}/{name}.ograf.json"
            assert g["v_zipUrl"] == f"{feed.url}/ograf/{name}.zip"
            assert set(g) <= {"id", "name", "description", "version"} | {
                k for k in g if k.startswith("v_")
            }
            for url in (g["v_manifestUrl"], g["v_zipUrl"]):
                assert (await feed.http.get(url)).status_code == 200, url
        assert (await feed.http.get("/ograf", follow_redirects=True)).json() == r.json()


async def test_every_manifest_is_valid_v1_and_describes_the_overlay(tmp_path: Path) -> None:
    async with running_feed(tmp_path) as feed:
        for name in OVERLAYS:
            r = await feed.http.get(f"/ograf/{name}/{name}.ograf.json")
            assert r.status_code == 200, (name, r.text)
            assert r.headers["content-type"].startswith("application/json")
            assert r.headers["access-control-allow-origin"] == "*"
            m = r.json()
            assert errors(m) == [], name
            assert m["$schema"] == SCHEMA_URL
            assert m["id"] == f"shotfeed-{name}" and "/" not in m["id"]
            assert m["description"] == OVERLAYS[name]
            assert m["supportsRealTime"] is True and m["supportsNonRealTime"] is False
            assert m["stepCount"] == 1
            assert m["renderRequirements"][0]["resolution"] == {
                "width": {"ideal": 1920},
                "height": {"ideal": 1080},
            }
            assert m["v_shotfeed"]["overlay"] == name
            # main is a module next to the manifest
            assert m["main"] == f"{name}.mjs"
            main = await feed.http.get(f"/ograf/{name}/{m['main']}")
            assert main.status_code == 200
            assert main.headers["content-type"].startswith("text/javascript")
            assert main.headers["access-control-allow-origin"] == "*"  # hosts import it CORS
            # the data: the server, the game, the overlay's own query parameters
            schema = m["schema"]
            props = schema["properties"]
            params = overlay_manifest(name, "x")["parameters"]["properties"]
            assert set(props) == {"serverUrl", "state"} | (set(params) - {"autoplay"})
            assert props["serverUrl"]["default"] == feed.url
            assert props["game"]["default"] == GAME  # the game the server follows
            assert schema["required"] == ["game"]
            assert props["home_color"]["gddType"] == "color-rrggbb"
            assert props["hold_ms"]["gddType"] == "duration-ms"
            assert props["key"]["hidden"] is True and "default" not in props["key"]
            assert re.fullmatch(props["game"]["pattern"], GAME)
            # custom actions: "next" on the overlays that have a next() of their own
            actions = [a["id"] for a in m.get("customActions", [])]
            assert actions == (["next"] if name in ("three", "period") else []), name
            assert ('"customActions":["next"]' in main.text) == bool(actions)


async def test_module_and_library(tmp_path: Path) -> None:
    library = (STATIC_DIR / "ograf" / "graphic.mjs").read_text()
    # the module never registers its element: the host does
    assert "customElements.define(" not in library
    assert "export function graphicClass" in library
    async with running_feed(tmp_path) as feed:
        for name in OVERLAYS:
            main = (await feed.http.get(f"/ograf/{name}/{name}.mjs")).text
            assert 'import { graphicClass } from "./graphic.mjs";' in main
            assert re.search(r"^export default graphicClass\(\{.*\}\);$", main, re.M)
            assert f'"overlay":"{name}"' in main and '"serverUrl":null' in main
            assert "customElements.define(" not in main
            lib = await feed.http.get(f"/ograf/{name}/graphic.mjs")
            assert lib.status_code == 200 and lib.text == library
            assert lib.headers["access-control-allow-origin"] == "*"
        assert (await feed.http.get("/static/ograf/bridge.js")).status_code == 200


async def test_unknown_graphics_and_files_are_404_json(tmp_path: Path) -> None:
    async with running_feed(tmp_path) as feed:
        for path in (
            "/ograf/nope/nope.ograf.json",
            "/ograf/nope.zip",
            "/ograf/nope/frame.html",
            "/ograf/scorebug/three.ograf.json",
            "/ograf/scorebug/other.js",
            "/ograf/scorebug/..%2F..%2Fserver%2Fweb%2Fograf.py",
        ):
            r = await feed.http.get(path)
            assert r.status_code == 404, path
            assert r.json()["error"] == "not_found"


def bridge_info(html: str) -> dict[str, Any]:
    match = BRIDGE_BLOCK.search(html)
    assert match, "no bridge block"
    info: dict[str, Any] = orjson.loads(match.group(1))
    return info


async def test_frame_page_frames_the_overlay_without_autoplay(tmp_path: Path) -> None:
    async with running_feed(tmp_path) as feed:
        r = await feed.http.get(
            "/ograf/scorebug/frame.html",
            params={"game": GAME, "home_color": "#00ff00", "autoplay": "1"},
        )
        assert r.status_code == 200
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-src 'self'" in csp
        assert "'unsafe-inline'" not in csp and "frame-ancestors" not in csp  # hosts frame it
        info = bridge_info(r.text)
        assert info["error"] is None
        assert info["src"] == "/overlays/scorebug?game=EVT&home_color=%2300ff00&autoplay=0"
        assert (await feed.http.get(info["src"])).status_code == 200
        # a value cannot break out of the JSON block
        r = await feed.http.get(
            "/ograf/scorebug/frame.html", params={"game": GAME, "theme": "</script><b>x"}
        )
        assert "</script><b>" not in r.text
        assert "\\u003c/script>" in bridge_info(r.text)["src"] or "%3C" in r.text
        # no usable game: the bridge tells the element (the frame shows nothing)
        r = await feed.http.get("/ograf/scorebug/frame.html", params={"game": "bad id!"})
        info = bridge_info(r.text)
        assert info["src"] is None and info["error"]["statusCode"] == 400


async def test_keyed_server_the_frame_wants_the_key(tmp_path: Path) -> None:
    async with running_feed(tmp_path, overlay_key=KEY) as feed:
        r = await feed.http.get("/ograf/scorebug/frame.html", params={"game": GAME})
        info = bridge_info(r.text)
        assert info["src"] is None and info["error"]["statusCode"] == 403
        assert KEY not in r.text
        r = await feed.http.get("/ograf/scorebug/frame.html", params={"game": GAME, "key": KEY})
        src = bridge_info(r.text)["src"]
        assert src and f"key={KEY}" in src
        assert (await feed.http.get(src)).status_code == 200
        # the list, manifests and zips are public and never carry the key
        for path in ("/ograf/", "/ograf/scorebug/scorebug.ograf.json", "/ograf/scorebug.zip"):
            r = await feed.http.get(path)
            assert r.status_code == 200 and KEY.encode() not in r.content


async def test_zip_is_one_folder_a_host_can_serve(tmp_path: Path) -> None:
    library = (STATIC_DIR / "ograf" / "graphic.mjs").read_bytes()
    async with running_feed(tmp_path) as feed:
        for name in OVERLAYS:
            r = await feed.http.get(f"/ograf/{name}.zip")
            assert r.status_code == 200
            assert r.headers["content-type"] == "application/zip"
            assert f'filename="shotfeed-{name}.zip"' in r.headers["content-disposition"]
            zf = zipfile.ZipFile(io.BytesIO(r.content))
            assert zf.testzip() is None
            folder = f"shotfeed-{name}"
            assert sorted(zf.namelist()) == sorted(
                f"{folder}/{f}"
                for f in (f"{name}.ograf.json", f"{name}.mjs", "graphic.mjs", "README.txt")
            )
            m = orjson.loads(zf.read(f"{folder}/{name}.ograf.json"))
            assert errors(m) == [], name
            assert m["main"] == f"{name}.mjs"  # relative: the host serves the folder
            served = (await feed.http.get(f"/ograf/{name}/{name}.ograf.json")).json()
            assert m == served
            # the server's URL is in the data's default and in the module (the host's origin
            # is not the server)
            assert m["schema"]["properties"]["serverUrl"]["default"] == feed.url
            main = zf.read(f"{folder}/{name}.mjs").decode()
            assert f'"serverUrl":"{feed.url}"' in main
            assert zf.read(f"{folder}/graphic.mjs") == library
            for member in zf.namelist():  # nothing points outside the folder
                assert not member.startswith("/") and ".." not in member
