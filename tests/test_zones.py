"""The server's zone map: the seed lands where its z/az say, outlines and classifier agree, and
the simulator numbers its shots by the same map."""

from __future__ import annotations

import math
import re

import orjson
import pytest

from server.core import zones
from server.core.shots import parse_payload
from server.sim.simgame import simulate_game


def test_the_seed_example_is_zone_8_and_advanced_zone_12(seed_bytes: bytes) -> None:
    """The documented example (x -10.37, y 16.02 ft, a two) is where its own z and az say."""
    shot = parse_payload(seed_bytes).shots[0]
    rel = shot.hoop_relative_ft()
    assert rel == (-10.37, 16.02)
    assert zones.classify(*rel, shot.three) == (shot.zone, shot.adv_zone) == (8, 12)
    assert zones.zone_map(False)["8"]["name"] == "mid-range left wing"


@pytest.mark.parametrize(
    ("x", "y", "three", "z", "az"),
    [
        (0.0, 1.0, False, 1, 1),  # at the rim
        (0.0, -2.0, False, 1, 1),  # under it, behind the hoop
        (0.0, 10.0, False, 3, 4),  # short, straight out
        (9.0, 1.0, False, 2, 2),  # short, right baseline
        (-9.0, 1.0, False, 4, 6),  # short, left baseline
        (0.01, 18.0, False, 7, 10),  # mid-range top: right of centre in az by a hair
        (0.0, 18.0, False, 7, 11),  # on a boundary: the sector to its left
        (18.0, 1.0, False, 5, 7),  # mid-range right baseline
        (-18.0, 1.0, False, 9, 14),  # mid-range left baseline
        (23.0, 2.0, True, 10, 15),  # right corner three
        (-23.0, 2.0, True, 14, 19),  # left corner three
        (-23.0, 12.0, True, 13, 18),  # left wing three (above the break)
        (0.0, 24.0, True, 12, 17),  # top of the key three
        (3.0, 30.0, True, 12, 21),  # deep three, right of centre
        (0.0, 30.0, True, 12, 22),  # deep three, on the axis: left of centre
        (-20.0, 20.0, True, 13, 23),  # deep left wing (28.3 ft)
        (24.5, 12.0, True, 11, 20),  # 27.3 ft at 64 deg: deep right wing
        (24.9, 4.0, True, 10, 15),  # deep but in the corner: a corner three, not deep
    ],
)
def test_classify(x: float, y: float, three: bool, z: int, az: int) -> None:
    assert zones.classify(x, y, three) == (z, az)


def test_left_and_right_mirror() -> None:
    """Every zone has its mirror image across the court's axis (the numbering runs right to
    left, so zone n in a ring of k sectors mirrors zone first + k - 1 - (n - first))."""
    for rings in (zones.ZONE_RINGS, zones.ADVANCED_RINGS):
        by_number = {r.first + i: (r, i) for r in rings for i in range(len(r.labels))}
        for x, y, three in [(7.0, 3.0, False), (12.0, 11.0, False), (22.0, 9.0, True)]:
            for deep in (False, True):
                if deep and rings is zones.ZONE_RINGS:
                    continue
                pick = 1 if rings is zones.ADVANCED_RINGS else 0
                n = zones.classify(x, y, three)[pick]
                m = zones.classify(-x, y, three)[pick]
                ring, i = by_number[n]
                assert m == ring.first + len(ring.labels) - 1 - i


def test_numbering_is_complete() -> None:
    z = zones.zone_map(False)
    az = zones.zone_map(True)
    assert list(z) == [str(n) for n in range(1, zones.ZONE_COUNT + 1)]
    assert list(az) == [str(n) for n in range(1, zones.ADVANCED_COUNT + 1)]
    assert len({v["name"] for v in z.values()}) == zones.ZONE_COUNT
    assert len({v["name"] for v in az.values()}) == zones.ADVANCED_COUNT


_POINT = re.compile(r"(-?\d+(?:\.\d+)?) (-?\d+(?:\.\d+)?)")


def _inside(px: float, py: float, poly: list[tuple[float, float]]) -> bool:
    """Even-odd rule point-in-polygon."""
    inside = False
    for (x0, y0), (x1, y1) in zip(poly, poly[1:] + poly[:1], strict=True):
        if (y0 > py) != (y1 > py) and px < (x1 - x0) * (py - y0) / (y1 - y0) + x0:
            inside = not inside
    return inside


@pytest.mark.parametrize("advanced", [False, True])
def test_outlines_and_classifier_agree(advanced: bool) -> None:
    """Points of the half court fall in the outline of the zone the classifier gives them,
    and each label is printed inside its own zone: the overlays draw what the server counts."""
    pick = 1 if advanced else 0
    outlines = {
        int(k): [(float(a), float(b)) for a, b in _POINT.findall(v["path"])]
        for k, v in zones.zone_map(advanced).items()
    }
    rings = {int(k): v["ring"] for k, v in zones.zone_map(advanced).items()}
    for number, poly in outlines.items():
        assert len(poly) >= 3
        lx, ly = zones.zone_map(advanced)[str(number)]["label"]
        three = rings[number] in ("three", "deep")
        assert zones.classify(lx, ly, three)[pick] == number, (number, lx, ly)
    checked = 0
    for gx in range(-24, 25, 2):
        for gy in range(-4, 41, 2):
            x, y = gx + 0.37, gy + 0.41  # off every boundary
            r = math.hypot(x, y)
            beyond = r > zones.ARC_FT + 0.3 if abs(x) < zones.CORNER_FT else True
            inside_line = (r < zones.ARC_FT - 0.3) and abs(x) < zones.CORNER_FT - 0.3
            if not (beyond or inside_line):
                continue  # too near the three-point line to call from geometry alone
            number = zones.classify(x, y, beyond)[pick]
            near = {
                zones.classify(x + dx, y + dy, beyond)[pick]
                for dx in (-0.15, 0.15)
                for dy in (-0.15, 0.15)
            }
            if near != {number}:
                continue  # within a hair of a boundary the outline's rounding decides
            hits = [n for n, poly in outlines.items() if _inside(x, y, poly)]
            assert hits == [number], (x, y, number, hits)
            checked += 1
    assert checked > 400


def test_the_simulator_numbers_shots_by_the_server_map() -> None:
    """Every simulated shot's z/az is the zone of where it is, and a three is in a three ring."""
    game = simulate_game(3)
    assert len(game.shots) > 100
    for sim in game.shots:
        shot = parse_payload(orjson.dumps({"shots": [sim.record], "gameTotals": {}})).shots[0]
        rel = shot.hoop_relative_ft()
        assert rel is not None
        assert zones.classify(*rel, shot.three) == (shot.zone, shot.adv_zone)
        ring = zones.zone_map(False)[str(shot.zone)]["ring"]
        assert (ring == "three") == shot.three
        if "DUNK" in shot.attributes:
            assert shot.zone == 1
