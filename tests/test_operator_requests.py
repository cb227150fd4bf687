"""parse_graphic / parse_hold: every rule of the operator's graphic and hold bodies, from tables."""

from __future__ import annotations

from typing import Any

import pytest

from server.core import events as ev
from server.core.operator_requests import (
    MAX_GRAPHIC_PAYLOAD,
    MAX_NAME,
    GraphicRequest,
    HoldRequest,
    PayloadTooLarge,
    RequestError,
    parse_graphic,
    parse_hold,
)

BIG = {"text": "x" * MAX_GRAPHIC_PAYLOAD}
JUST_FITS = {"t": "x" * (MAX_GRAPHIC_PAYLOAD - len('{"t":""}'))}

GOOD_GRAPHICS: list[tuple[Any, GraphicRequest]] = [
    ({"action": "show", "name": "lowerthird"}, GraphicRequest("show", "lowerthird", None)),
    (
        {"action": "show", "name": "lowerthird", "payload": {"text": "<b>x</b>"}},
        GraphicRequest("show", "lowerthird", {"text": "<b>x</b>"}),
    ),
    ({"action": "hide", "name": "  lower3 \n"}, GraphicRequest("hide", "lower3", None)),
    ({"action": "show", "name": "x", "payload": {}}, GraphicRequest("show", "x", {})),
    ({"action": "show", "name": "x", "payload": None}, GraphicRequest("show", "x", None)),
    ({"action": "show", "name": "n" * MAX_NAME}, GraphicRequest("show", "n" * MAX_NAME, None)),
    ({"action": "show", "name": "x", "extra": 1}, GraphicRequest("show", "x", None)),
    ({"action": "show", "name": "x", "payload": JUST_FITS}, GraphicRequest("show", "x", JUST_FITS)),
    *[
        ({"action": "show", "name": f"test:{t}"}, GraphicRequest("show", f"test:{t}", None))
        for t in ev.AUTOMATIC_TYPES
    ],
    ({"action": "hide", "name": " test:made_three"}, GraphicRequest("hide", "test:made_three")),
]

BAD_GRAPHICS: list[tuple[Any, str]] = [
    (None, "send"),
    ([], "send"),
    ("show", "send"),
    ({}, "action"),
    ({"name": "x"}, "action"),
    ({"action": "dance", "name": "x"}, "action"),
    ({"action": "clear", "name": "x"}, "panic"),
    ({"action": "SHOW", "name": "x"}, "action"),
    ({"action": True, "name": "x"}, "action"),
    ({"action": "show"}, "name"),
    ({"action": "show", "name": ""}, "name"),
    ({"action": "show", "name": "   "}, "name"),
    ({"action": "show", "name": 7}, "name"),
    ({"action": "show", "name": None}, "name"),
    ({"action": "show", "name": "x" * (MAX_NAME + 1)}, "at most 64"),
    ({"action": "show", "name": "x", "payload": [1]}, "payload"),
    ({"action": "show", "name": "x", "payload": "text"}, "payload"),
    ({"action": "show", "name": "x", "payload": 0}, "payload"),
    ({"action": "show", "name": "test:bogus"}, "rehearsal"),
    ({"action": "show", "name": "test:"}, "rehearsal"),
    ({"action": "show", "name": "test:shot"}, "rehearsal"),
]


@pytest.mark.parametrize(("body", "expected"), GOOD_GRAPHICS)
def test_a_good_graphic_body(body: Any, expected: GraphicRequest) -> None:
    assert parse_graphic(body) == expected


@pytest.mark.parametrize(("body", "says"), BAD_GRAPHICS)
def test_a_bad_graphic_body_is_refused_with_a_reason(body: Any, says: str) -> None:
    with pytest.raises(RequestError) as err:
        parse_graphic(body)
    assert not isinstance(err.value, PayloadTooLarge)
    assert says in str(err.value)


def test_a_payload_too_big_to_fan_out_is_its_own_error() -> None:
    with pytest.raises(PayloadTooLarge, match="16 KiB"):
        parse_graphic({"action": "show", "name": "x", "payload": BIG})


def test_shape_errors_are_reported_before_size() -> None:
    """A wrong action with a huge payload says what is wrong, not that it is big."""
    with pytest.raises(RequestError) as err:
        parse_graphic({"action": "dance", "name": "x", "payload": BIG})
    assert not isinstance(err.value, PayloadTooLarge)


@pytest.mark.parametrize(
    ("req", "data"),
    [
        (GraphicRequest("show", "x", None), {"action": "show", "name": "x", "payload": {}}),
        (
            GraphicRequest("show", "x", {"a": 1}),
            {"action": "show", "name": "x", "payload": {"a": 1}},
        ),
        (GraphicRequest("hide", "x", None), {"action": "hide", "name": "x", "payload": {}}),
    ],
)
def test_graphic_event_data(req: GraphicRequest, data: dict[str, Any]) -> None:
    assert req.event_data() == data


def test_rehearsal_is_told_by_the_name() -> None:
    assert parse_graphic({"action": "show", "name": "test:hot_hand"}).rehearsal
    assert not parse_graphic({"action": "show", "name": "hot_hand"}).rehearsal


GOOD_HOLDS: list[tuple[Any, HoldRequest]] = [
    ({"held": True}, HoldRequest(True, {})),
    ({"held": False}, HoldRequest(False, {})),
    ({"autofire": {}}, HoldRequest(None, {})),
    ({"autofire": {"made_three": False}}, HoldRequest(None, {"made_three": False})),
    (
        {"held": True, "autofire": {t: True for t in ev.AUTOMATIC_TYPES}},
        HoldRequest(True, {t: True for t in ev.AUTOMATIC_TYPES}),
    ),
]

BAD_HOLDS: list[tuple[Any, str]] = [
    (None, "send"),
    ([], "send"),
    ({}, "send"),
    ({"hold": True}, "send"),
    ({"held": True, "extra": 1}, "send"),
    ({"held": "yes"}, "held must be true or false"),
    ({"held": 1}, "held must be true or false"),
    ({"held": None}, "held must be true or false"),
    ({"autofire": []}, "autofire must be an object"),
    ({"autofire": None}, "autofire must be an object"),
    ({"autofire": {"made_three": 1}}, "autofire must be an object"),
    ({"autofire": {"made_three": "off"}}, "autofire must be an object"),
    ({"autofire": {"shot": True}}, "not automatic graphic types: shot"),
    ({"autofire": {"zz": True, "aa": False}}, "not automatic graphic types: aa, zz; known:"),
    ({"held": True, "autofire": {"graphic": True}}, "graphic"),
]


@pytest.mark.parametrize(("body", "expected"), GOOD_HOLDS)
def test_a_good_hold_body(body: Any, expected: HoldRequest) -> None:
    assert parse_hold(body) == expected


@pytest.mark.parametrize(("body", "says"), BAD_HOLDS)
def test_a_bad_hold_body_is_refused_with_a_reason(body: Any, says: str) -> None:
    with pytest.raises(RequestError) as err:
        parse_hold(body)
    assert says in str(err.value)


@pytest.mark.parametrize(
    ("req", "held", "autofire", "data"),
    [
        (HoldRequest(True), False, {}, {"held": True, "autofire": {}}),
        (
            HoldRequest(None),
            True,
            {"hot_hand": False},
            {"held": True, "autofire": {"hot_hand": False}},
        ),
        (
            HoldRequest(None, {"made_three": False}),
            False,
            {"hot_hand": False, "made_three": True},
            {"held": False, "autofire": {"hot_hand": False, "made_three": False}},
        ),
        (
            HoldRequest(False, {"hot_hand": True}),
            True,
            {},
            {"held": False, "autofire": {"hot_hand": True}},
        ),
    ],
)
def test_hold_event_data_lays_the_request_over_the_current_state(
    req: HoldRequest, held: bool, autofire: dict[str, bool], data: dict[str, Any]
) -> None:
    assert req.event_data(held, autofire) == data


def test_the_parsed_hold_does_not_alias_the_body() -> None:
    """The request is built under the game's lock later; a body mutated meanwhile must not leak."""
    arms = {"made_three": False}
    req = parse_hold({"autofire": arms})
    arms["made_three"] = True
    assert req.autofire == {"made_three": False}
