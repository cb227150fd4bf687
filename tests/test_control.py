"""GET /api/games/{id}/control: every fireable graphic under a stable id with a label and an
on-air boolean, the armable keys with their arming, held, feed and the top suggestion — what a
control surface (the Companion module in integrations/companion/) draws its buttons from.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import Settings
from server.core.operator_requests import ARMABLE
from server.web.app import create_app
from server.web.control import GRAPHIC_IDS, armable_label, control_doc
from tests.server_fixtures import AUTH, GAME, running_feed

pytestmark = [pytest.mark.network, pytest.mark.anyio, pytest.mark.usefixtures("broker")]

CONTROL = f"/api/games/{GAME}/control"


def test_doc_from_a_bare_state() -> None:
    doc = control_doc({"game": "G", "seq": 3})
    assert [g["id"] for g in doc["graphics"]] == list(GRAPHIC_IDS)
    assert not any(g["onAir"] for g in doc["graphics"])
    assert doc["onAir"] == [] and doc["held"] is False and doc["suggestion"] is None
    arm = {a["id"]: a for a in doc["armable"]}
    assert list(arm) == list(ARMABLE)
    # automatic types are armed unless vetoed, suggestion rules only once armed
    assert arm["made_three"]["armed"] is True and arm["made_three"]["kind"] == "automatic"
    sug = next(k for k in ARMABLE if k.startswith("suggestion:"))
    assert arm[sug]["armed"] is False and arm[sug]["kind"] == "suggestion"


def test_doc_lists_an_unknown_graphic_on_air_after_the_known_ones() -> None:
    state = {
        "graphics": {"lowerthird": {"title": "Hi"}, "custom": {"x": 1}},
        "autofire": {"made_three": False},
        "held": True,
        "suggestions": [{"id": "s2", "text": "Ulloa 4/5", "graphic": "playercard", "rule": "r"}],
    }
    doc = control_doc(state)
    rows = {g["id"]: g for g in doc["graphics"]}
    assert rows["lowerthird"]["onAir"] is True
    assert rows["lowerthird"]["payload"] == {"title": "Hi"}
    assert rows["three"]["onAir"] is False and rows["three"]["payload"] is None
    assert doc["graphics"][-1]["id"] == "custom" and rows["custom"]["onAir"] is True
    assert doc["onAir"] == ["custom", "lowerthird"]
    assert doc["held"] is True
    assert {a["id"]: a["armed"] for a in doc["armable"]}["made_three"] is False
    assert doc["suggestion"] is not None and doc["suggestion"]["id"] == "s2"
    assert doc["suggestions"] == 1


def test_labels() -> None:
    assert armable_label("made_three") == "Made three"
    assert armable_label("suggestion:shooting_night") == "Suggest: shooting night"


def test_the_app_mounts_the_route(tmp_path: Path) -> None:
    app = create_app(Settings(db_path=str(tmp_path / "x.db"), operator_token="t" * 20))
    paths = [getattr(route, "path", None) for route in app.routes]
    assert "/api/games/{event_id}/control" in paths, (
        "mount server.web.control.ROUTES in server/web/app.py: *CONTROL_ROUTES after *API_ROUTES"
    )


async def test_route_follows_the_operator_actions(tmp_path: Path) -> None:
    async with running_feed(tmp_path) as feed:
        r = await feed.http.get(CONTROL)
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["game"] == GAME and not doc["onAir"]
        assert doc["seq"] == (await feed.state())["seq"]
        await feed.fire("lowerthird", {"title": "Tonight"})
        r = await feed.http.post(
            f"/api/games/{GAME}/hold",
            json={"held": True, "autofire": {"hot_hand": False}},
            headers=AUTH,
        )
        assert r.status_code == 200, r.text
        doc = (await feed.http.get(CONTROL)).json()
        rows = {g["id"]: g for g in doc["graphics"]}
        assert rows["lowerthird"]["onAir"] is True
        assert rows["lowerthird"]["payload"] == {"title": "Tonight"}
        assert doc["held"] is True
        assert {a["id"]: a["armed"] for a in doc["armable"]}["hot_hand"] is False
        assert (await feed.http.get("/api/games/NOPE/control")).status_code == 404


async def test_route_is_keyed_like_state(tmp_path: Path) -> None:
    async with running_feed(tmp_path, overlay_key="overlay-key-0123456789") as feed:
        r = await feed.http.get(CONTROL)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        assert (await feed.http.get(CONTROL, params={"key": "overlay-key-0123456789"})).is_success
        assert (await feed.http.get(CONTROL, headers=AUTH)).is_success
