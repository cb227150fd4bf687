"""server.core.shots: the payload -> validated values; one bad record never spoils the rest."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from server.core.shots import (
    GameTotals,
    PeriodTotal,
    ShotParser,
    TeamScore,
    decode_body,
    parse_payload,
    parse_shot,
    parse_totals,
)
from server.errors import PayloadError
from tests.payloads import doc, period_total, rec, totals

SEED_SID = "587af773-3aa2-11ed-a78a-0242e9e2912e"


# --- the seed example, exactly as ShotTracker documents it ------------------------------------


def test_seed_shot_fields(seed_bytes: bytes) -> None:
    """The seed's one record parses to the facts SPEC reads off it."""
    payload = parse_payload(seed_bytes)
    assert payload.skipped == ()
    assert payload.totals_problem is None
    [shot] = payload.shots
    assert shot.t == 1663870491879
    assert shot.pid == "7269"
    assert shot.tid == "552"
    assert shot.sid == SEED_SID
    assert shot.period == "Q1"
    assert shot.made is False
    assert shot.three is False
    assert shot.points == 0
    assert shot.counting is True
    assert shot.record_state == "RECORDED"
    assert shot.gc is None
    assert shot.attributes == ("OTD",)
    assert (shot.zone, shot.adv_zone, shot.dribbles) == (8, 12, 1)
    assert shot.distance_ft() == 19.1
    assert shot.hoop_relative_ft() == (-10.37, 16.02)


def test_seed_totals(seed_bytes: bytes) -> None:
    """gameTotals of the seed: home 11 (team 1), away 22 (team 2), H2, 00:15:00, ACTIVE."""
    totals_ = parse_payload(seed_bytes).totals
    assert totals_ == GameTotals(
        home=TeamScore("1", 11),
        away=TeamScore("2", 22),
        period="H2",
        clock="00:15:00",
        status="ACTIVE",
        period_totals=(
            PeriodTotal("H2", "37c2cf99-05fb-11f1-8a55-0211f60c14bb", 10, 2),
            PeriodTotal("H1", "37c2cf99-05fb-11f1-8a55-0211f60c14aa", 1, 20),
        ),
    )


def test_seed_hoop_vector_matches_upstream_hsx_hsy(seed_bytes: bytes) -> None:
    """The hoop-relative feet agree with upstream's own hsx/hsy (hoop minus shot, in mm)."""
    raw = orjson.loads(seed_bytes)["shots"][0]
    [shot] = parse_payload(seed_bytes).shots
    x, y = shot.hoop_relative_ft() or (0.0, 0.0)
    # The hoop is at +y, so the chart frame is the court frame turned 180 degrees.
    assert x == pytest.approx(raw["hsx"] / 304.8, abs=0.02)
    assert y == pytest.approx(raw["hsy"] / 304.8, abs=0.02)


# --- one record ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("made", "three", "points"),
    [(True, True, 3), (True, False, 2), (False, True, 0), (False, False, 0)],
)
def test_points(made: bool, three: bool, points: int) -> None:
    """points is 3 for a made three, 2 for a made two, 0 for any miss (never upstream's -1)."""
    assert parse_shot(rec(1, made=made, three=three)).points == points


@pytest.mark.parametrize(
    ("state", "counting"),
    [
        ("RECORDED", True),
        ("DELETED", False),
        ("PENDING", False),
        ("recorded", False),
        (None, False),
    ],
)
def test_only_recorded_counts(state: Any, counting: bool) -> None:
    """A record counts only in state RECORDED; any other state is kept but not counting."""
    shot = parse_shot(rec(1, s=state))
    assert shot.counting is counting
    assert shot.record_state == state


def test_missing_state_does_not_count() -> None:
    """A record with no ``s`` at all is not a counting shot."""
    raw = rec(1)
    del raw["s"]
    assert parse_shot(raw).counting is False


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        (["OTD"], ("OTD",)),
        (["CAS", "GUARDED", "SOMETHING_NEW"], ("CAS", "GUARDED", "SOMETHING_NEW")),
        (["DUNK", 7, None, "LAYUP"], ("DUNK", "LAYUP")),
        ([], ()),
        (None, ()),
        ("OTD", ()),
    ],
)
def test_attributes(attributes: Any, expected: tuple[str, ...]) -> None:
    """Attribute codes pass through (unknown ones too); non-strings and non-lists are dropped."""
    assert parse_shot(rec(1, attributes=attributes)).attributes == expected


@pytest.mark.parametrize(
    ("hx", "hy", "px", "py", "expected"),
    [
        (0, 12800, 0, 12800 - 3048, (0.0, 10.0)),  # hoop at +y: toward half court is -y
        (0, -12800, 0, -12800 + 3048, (0.0, 10.0)),  # hoop at -y: no turn needed
        (0, 12800, 3048, 12800, (-10.0, 0.0)),  # turned 180 degrees at the +y end
        (0, -12800, 3048, -12800, (10.0, 0.0)),
    ],
)
def test_hoop_relative_both_ends(
    hx: int, hy: int, px: int, py: int, expected: tuple[float, float]
) -> None:
    """Both ends map onto one half-court chart: +y points from the hoop out toward half court."""
    assert parse_shot(rec(1, hx=hx, hy=hy, px=px, py=py)).hoop_relative_ft() == expected


@pytest.mark.parametrize("missing", ["px", "py", "hx", "hy"])
def test_no_position_no_coordinates(missing: str) -> None:
    """Without a full shot and hoop position there are no x/y (and no made-up distance)."""
    raw = rec(1, d=None)
    raw[missing] = None
    shot = parse_shot(raw)
    assert shot.hoop_relative_ft() is None
    assert shot.distance_ft() is None


def test_distance_from_positions_when_d_missing() -> None:
    """Without ``d`` the distance is the length of the hoop-relative vector, in feet."""
    shot = parse_shot(rec(1, hx=0, hy=-12800, px=3048 * 3, py=-12800 + 3048 * 4, d=None))
    assert shot.distance_ft() == 50.0  # 30 ft across, 40 ft out


def test_distance_prefers_upstream_d() -> None:
    """``d`` is centimetres and wins over the positions: 762 cm is 25 ft."""
    assert parse_shot(rec(1, d=762)).distance_ft() == 25.0


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("pid", 7269, "7269"),
        ("tid", 552, "552"),
        ("t", 1663870491879.0, 1663870491879),
        ("tid", None, None),
        ("tid", ["552"], None),
        ("sid", None, None),
        ("prd", None, None),
        ("gc", "09:12", "09:12"),
        ("z", "8", None),
        ("drb", True, None),
        ("px", "3117", None),
        ("d", float("nan"), None),
    ],
)
def test_lenient_fields(field: str, value: Any, expected: Any) -> None:
    """Ids given as numbers become strings; optional fields of a wrong type read as unknown."""
    attr = {
        "prd": "period",
        "z": "zone",
        "drb": "dribbles",
        "d": "distance_cm",
    }.get(field, field)
    raw = rec(1)
    raw[field] = value
    assert getattr(parse_shot(raw), attr) == expected


MALFORMED: list[tuple[str, Any]] = [
    ("t", None),
    ("t", "1663870491879"),
    ("t", 1.5),
    ("t", True),
    ("t", [1]),
    ("pid", None),
    ("pid", ["7269"]),
    ("pid", True),
    ("pid", {"id": "7269"}),
    ("st", None),
    ("st", "made"),
    ("st", "make"),
    ("st", 1),
    ("st", True),
    ("is3", None),
    ("is3", "true"),
    ("is3", 1),
    ("is3", 0),
]
DELETE = object()


def _malformed(field: str, value: Any) -> dict[str, Any]:
    raw = rec(2000, "P2", made=True, three=True)
    if value is DELETE:
        del raw[field]
    else:
        raw[field] = value
    return raw


MALFORMED_CASES = [*MALFORMED, *((f, DELETE) for f in ("t", "pid", "st", "is3"))]


@pytest.mark.parametrize(("field", "value"), MALFORMED_CASES)
def test_parse_shot_rejects(field: str, value: Any) -> None:
    """A required field missing or of the wrong type raises PayloadError naming that field."""
    with pytest.raises(PayloadError, match=repr(field)):
        parse_shot(_malformed(field, value))


@pytest.mark.parametrize(("field", "value"), MALFORMED_CASES)
def test_one_malformed_record_is_skipped_rest_counts(field: str, value: Any) -> None:
    """A malformed record lands in Payload.skipped; the other records and the totals still count."""
    body = doc([rec(1000, "P1"), _malformed(field, value), rec(3000, "P3")], home=7, away=4)
    payload = parse_payload(body)
    assert [s.t for s in payload.shots] == [1000, 3000]
    [skipped] = payload.skipped
    assert field in skipped.reason
    # The record's t is kept when it could be read: the detector protects that shot.
    assert skipped.t == (2000 if field != "t" else None)
    assert payload.totals is not None
    assert (payload.totals.home.score, payload.totals.away.score) == (7, 4)


@pytest.mark.parametrize("record", ["shot", 5, None, [], ["t", 1], True])
def test_record_not_an_object_is_skipped(record: Any) -> None:
    """A shots entry that is not an object is skipped with no t; the rest still counts."""
    payload = parse_payload(doc([rec(1000), record, rec(3000, "P3")]))
    assert [s.t for s in payload.shots] == [1000, 3000]
    [skipped] = payload.skipped
    assert skipped.t is None
    assert "not an object" in skipped.reason


@pytest.mark.parametrize("shots", [None, {}, "[]", 3, {"t": 1}])
def test_shots_not_a_list_raises(shots: Any) -> None:
    """``shots`` that is not a list makes the whole body unusable."""
    with pytest.raises(PayloadError, match="'shots'"):
        parse_payload({"shots": shots, "gameTotals": totals()})


def test_shots_missing_raises() -> None:
    """A body without ``shots`` is not the documented payload."""
    with pytest.raises(PayloadError, match="'shots'"):
        parse_payload({"gameTotals": totals()})


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"<html>502 Bad Gateway</html>",
        b'{"shots": [',
        b"[]",
        b'"shots"',
        b"null",
        b"42",
        b"\xff\xfe",
    ],
)
def test_bad_body_raises(body: bytes) -> None:
    """A body that is not a JSON object raises PayloadError (never a bare decode error)."""
    with pytest.raises(PayloadError):
        parse_payload(body)


@pytest.mark.parametrize("cut", [1, 10, 100, 500, -2])
def test_truncated_seed_raises(seed_bytes: bytes, cut: int) -> None:
    """The seed body cut anywhere is a PayloadError."""
    with pytest.raises(PayloadError):
        parse_payload(seed_bytes[:cut])


def test_decode_body_accepts_bytearray(seed_bytes: bytes) -> None:
    """parse_payload takes bytes, bytearray or an already decoded dict alike."""
    from_bytes = parse_payload(seed_bytes)
    assert parse_payload(bytearray(seed_bytes)) == from_bytes
    assert parse_payload(decode_body(seed_bytes)) == from_bytes


# --- gameTotals ------------------------------------------------------------------------------


@pytest.mark.parametrize("game_totals", [None, [], "ACTIVE", 11, True])
def test_game_totals_wrong_type_is_a_problem_not_an_error(game_totals: Any) -> None:
    """gameTotals missing or not an object: shots still count, totals None, the problem named."""
    payload = parse_payload({"shots": [rec(1000)], "gameTotals": game_totals})
    assert len(payload.shots) == 1
    assert payload.totals is None
    assert payload.totals_problem is not None
    assert "gameTotals" in payload.totals_problem


def test_game_totals_absent() -> None:
    """No gameTotals key at all is reported the same way."""
    payload = parse_payload({"shots": []})
    assert payload.totals is None
    assert payload.totals_problem is not None


@pytest.mark.parametrize(
    ("side", "value", "expected"),
    [
        ({"teamId": "1", "value": 11}, None, TeamScore("1", 11)),
        ({"teamId": 1, "value": 11.0}, None, TeamScore("1", 11)),
        ({"teamId": "1", "value": "11"}, None, TeamScore("1", None)),
        ({"teamId": "1", "value": None}, None, TeamScore("1", None)),
        ({"teamId": "1", "value": True}, None, TeamScore("1", None)),
        ({"teamId": "1", "value": 10.5}, None, TeamScore("1", None)),
        ({"teamId": "1"}, None, TeamScore("1", None)),
        ({"value": 11}, None, TeamScore(None, 11)),
        ("11", None, TeamScore(None, None)),
        (None, None, TeamScore(None, None)),
    ],
)
def test_team_score_unknown_never_zero(side: Any, value: Any, expected: TeamScore) -> None:
    """A missing or mistyped score reads as None (unknown), never as 0."""
    raw = totals()
    raw["homeTeamScore"] = side
    assert parse_totals(raw).home == expected


def test_totals_all_fields_missing() -> None:
    """An empty gameTotals object is all unknown."""
    assert parse_totals({}) == GameTotals(
        TeamScore(None, None), TeamScore(None, None), None, None, None, ()
    )


@pytest.mark.parametrize(("field", "value"), [("period", 2), ("gameClock", None), ("status", [])])
def test_totals_field_wrong_type(field: str, value: Any) -> None:
    """A mistyped period/clock/status reads as unknown (an int becomes its string)."""
    raw = totals()
    raw[field] = value
    parsed = parse_totals(raw)
    got = {"period": parsed.period, "gameClock": parsed.clock, "status": parsed.status}[field]
    assert got == (str(value) if isinstance(value, int) else None)


def test_period_totals_skip_bad_entries() -> None:
    """Entries of periodTotals that are not objects are left out; the rest are kept in order."""
    raw = totals(period_totals=[period_total("Q1", 5, 3, "s1"), "junk", None])
    raw["periodTotals"].append(period_total("Q2", 9, 8, "s2"))
    assert parse_totals(raw).period_totals == (
        PeriodTotal("Q1", "s1", 5, 3),
        PeriodTotal("Q2", "s2", 9, 8),
    )


def test_period_totals_not_a_list() -> None:
    """periodTotals of a wrong type reads as none at all."""
    raw = totals()
    raw["periodTotals"] = {"Q1": 3}
    assert parse_totals(raw).period_totals == ()


def test_period_total_to_data() -> None:
    """PeriodTotal goes on the wire with the sessionId that links it to the shots' sid."""
    assert PeriodTotal("H1", "abc", 1, 20).to_data() == {
        "period": "H1",
        "sessionId": "abc",
        "home": 1,
        "away": 20,
    }


# --- the parser's memo -----------------------------------------------------------------------


def test_memo_reuses_unchanged_records() -> None:
    """An identical record on the next poll gives the very same Shot object."""
    parser = ShotParser()
    first = parser.parse(doc([rec(1000), rec(2000, "P2")]))
    second = parser.parse(doc([rec(1000), rec(2000, "P2")]))
    assert all(a is b for a, b in zip(first.shots, second.shots, strict=True))


def test_memo_sees_changes() -> None:
    """A record that changed is parsed again; its old value is not reused."""
    parser = ShotParser()
    parser.parse(doc([rec(1000, made=True)]))
    [shot] = parser.parse(doc([rec(1000, made=False)])).shots
    assert shot.made is False


def test_memo_does_not_hide_a_malformed_record() -> None:
    """A record that turns malformed is skipped, even though the same t parsed before."""
    parser = ShotParser()
    parser.parse(doc([rec(1000)]))
    payload = parser.parse(doc([rec(1000, st="GOOD")]))
    assert payload.shots == ()
    assert [s.t for s in payload.skipped] == [1000]


def test_memo_result_equals_fresh_parse() -> None:
    """Across polls the memo gives the same Payload as parsing each body from scratch."""
    bodies = [
        doc([rec(1000), rec(2000, "P2")]),
        doc([rec(1000), rec(2000, "P3"), rec(2000, "P2")]),
        doc([rec(1000, made=False), {"t": 5}, rec(3000)]),
        doc([rec(3000), rec(1000, made=False)]),
    ]
    parser = ShotParser()
    for body in bodies:
        assert parser.parse(body) == parse_payload(body)
