"""The court's shot zones as the server numbers them: ``z`` (14 zones) and ``az`` (23 advanced).

Why one module: ShotTracker sends a zone number with every shot but publishes no map of them.
The stats count shots by the number upstream sends; to draw those counts on a court, the
overlays need to know where each number is, and the simulator must number its shots the same
way. So the map is defined once here, as geometry, and everything else reads it: the
classifier (the simulator, and the test that the seed's example lands where it says), and the
SVG outlines that ``static/zones.js`` (generated with the contract) hands to the stats graphics.

Frame: the server's hoop-relative feet (:meth:`server.core.shots.Shot.hoop_relative_ft`): the
hoop at the origin, +y out toward half court, the baseline at y = -5.25. Drawn as the shot
chart draws it (hoop at the top, +x to the right), "right" and "left" below are the chart's.

Rings by distance from the hoop: the rim (under 4.75 ft), short (under 14 ft), mid-range (the
rest of the two-point area), three (beyond the line; ``is3`` decides, not the geometry) and,
for ``az`` only, deep three (26.25 ft and more, away from the corners). Sectors by the angle
from the court's axis, numbered from the right baseline round to the left one. That order is
the one under which the documented example (x -10.37, y 16.02, a 19.1 ft two) is zone 8 and
advanced zone 12, as its ``z`` and ``az`` say.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

RIM_FT: Final = 4.75
SHORT_FT: Final = 14.0
DEEP_FT: Final = 26.25

# The court as the overlays draw it (NCAA men's: 22 ft 1.75 in arc, corners 21 ft 8 in).
HALF_WIDTH_FT: Final = 25.0
BASELINE_FT: Final = -5.25
HALF_COURT_FT: Final = 41.75
ARC_FT: Final = 22.146
CORNER_FT: Final = 21.667


@dataclass(frozen=True, slots=True)
class Ring:
    """A band of distance split into sectors; ``bounds`` are the angles between sectors (deg,
    +x side first, descending), so sector 0 is the right-hand one."""

    name: str
    first: int
    bounds: tuple[float, ...]
    labels: tuple[str, ...]


# The angle between sectors, in degrees from the axis, positive toward +x (the chart's right).
def _even(n: int, half: float) -> tuple[float, ...]:
    step = 2 * half / n
    return tuple(half - step * i for i in range(1, n))


# A corner three is one below the break, where the straight corner line meets the arc (78 deg
# from the axis for the NCAA line, 68 for the NBA's): beyond 75 deg.
CORNER_DEG: Final = 75.0
_THREE_BOUNDS: Final = (CORNER_DEG, 25.0, -25.0, -CORNER_DEG)
_THREE_LABELS: Final = ("right corner", "right wing", "top of the key", "left wing", "left corner")
_FIVE: Final = ("right baseline", "right wing", "top of the key", "left wing", "left baseline")

ZONE_RINGS: Final = (
    Ring("rim", 1, (), ("at the rim",)),
    Ring("short", 2, _even(3, 100.0), ("short right", "short middle", "short left")),
    Ring("mid", 5, _even(5, 100.0), tuple(f"mid-range {s}" for s in _FIVE)),
    Ring("three", 10, _THREE_BOUNDS, tuple(f"three, {s}" for s in _THREE_LABELS)),
)
ADVANCED_RINGS: Final = (
    Ring("rim", 1, (), ("at the rim",)),
    Ring("short", 2, _even(5, 100.0), tuple(f"short {s}" for s in _FIVE)),
    Ring(
        "mid",
        7,
        _even(8, 100.0),
        tuple(
            f"mid-range {s}"
            for s in (
                "right baseline",
                "right low wing",
                "right wing",
                "right of the key",
                "left of the key",
                "left wing",
                "left low wing",
                "left baseline",
            )
        ),
    ),
    Ring("three", 15, _THREE_BOUNDS, tuple(f"three, {s}" for s in _THREE_LABELS)),
    Ring(
        "deep",
        20,
        _even(4, CORNER_DEG),
        (
            "deep three, right wing",
            "deep three, right of centre",
            "deep three, left of centre",
            "deep three, left wing",
        ),
    ),
)
ZONE_COUNT: Final = 14
ADVANCED_COUNT: Final = 23


def angle_of(x: float, y: float) -> float:
    """Degrees from the court's axis, + toward +x; behind the hoop is past +-90."""
    return math.degrees(math.atan2(x, y))


def _sector(ring: Ring, angle: float) -> int:
    for i, bound in enumerate(ring.bounds):
        if angle > bound:
            return ring.first + i
    return ring.first + len(ring.bounds)


def _ring_of(x: float, y: float, three: bool, deep_ring: bool) -> str:
    r = math.hypot(x, y)
    if three:
        # Deep threes only out front: a corner three is a corner three however deep.
        if deep_ring and r >= DEEP_FT and abs(angle_of(x, y)) <= CORNER_DEG:
            return "deep"
        return "three"
    if r < RIM_FT:
        return "rim"
    return "short" if r < SHORT_FT else "mid"


def classify(x: float, y: float, three: bool) -> tuple[int, int]:
    """(z, az) of a shot at hoop-relative (x, y) feet; ``three`` is the shot's ``is3``."""
    angle = angle_of(x, y)
    out = []
    for rings, deep in ((ZONE_RINGS, False), (ADVANCED_RINGS, True)):
        name = _ring_of(x, y, three, deep)
        ring = next(r for r in rings if r.name == name)
        out.append(_sector(ring, angle))
    return out[0], out[1]


# -- outlines for drawing ---------------------------------------------------------------------


def _box(sx: float, cy: float) -> float:
    """How far a ray from the hoop runs before it leaves the half court."""
    limits = []
    if sx > 1e-9:
        limits.append(HALF_WIDTH_FT / sx)
    elif sx < -1e-9:
        limits.append(-HALF_WIDTH_FT / sx)
    if cy > 1e-9:
        limits.append(HALF_COURT_FT / cy)
    elif cy < -1e-9:
        limits.append(BASELINE_FT / cy)
    return min(limits)


def _line(sx: float, cy: float) -> float:
    """How far a ray from the hoop runs to the three-point line (arc or straight corner)."""
    if abs(ARC_FT * sx) <= CORNER_FT and cy >= 0:
        return ARC_FT
    return CORNER_FT / abs(sx) if abs(sx) > 1e-9 else ARC_FT


def _radii(ring: str, sx: float, cy: float) -> tuple[float, float]:
    box = _box(sx, cy)
    inner, outer = {
        "rim": (0.0, RIM_FT),
        "short": (RIM_FT, SHORT_FT),
        "mid": (SHORT_FT, _line(sx, cy)),
        "three": (_line(sx, cy), box),
        "deep": (DEEP_FT, box),
    }[ring]
    return min(inner, box), min(outer, box)


def _corner_angles() -> tuple[float, ...]:
    out = []
    for x, y in (
        (HALF_WIDTH_FT, HALF_COURT_FT),  # the half-court corners
        (HALF_WIDTH_FT, BASELINE_FT),  # the baseline corners
        (CORNER_FT, math.sqrt(ARC_FT**2 - CORNER_FT**2)),  # the line's break
        (CORNER_FT, BASELINE_FT),  # the corner line meets the baseline
    ):
        out += [angle_of(x, y), angle_of(-x, y)]
    return tuple(out)


_CORNERS: Final = _corner_angles()


def _outline(ring: Ring, index: int, advanced: bool) -> tuple[str, tuple[float, float]]:
    """SVG path data (feet, chart frame) and a label point for one sector of ``ring``."""
    edges = (180.0, *ring.bounds, -180.0)
    hi, lo = edges[index], edges[index + 1]
    if ring.name == "deep":
        hi, lo = min(hi, CORNER_DEG), max(lo, -CORNER_DEG)
    steps = max(2, int((hi - lo) / 5.0))  # 5 deg chords: under half a pixel off on air
    angles = [hi - (hi - lo) * i / steps for i in range(steps + 1)]
    # where an edge turns a corner (the court's, the line's break): a vertex of its own
    angles = sorted({*angles, *(c for c in _CORNERS if lo < c < hi)}, reverse=True)
    outer_pts: list[tuple[float, float]] = []
    inner_pts: list[tuple[float, float]] = []
    for a in angles:
        rad = math.radians(a)
        sx, cy = math.sin(rad), math.cos(rad)
        inner, outer = _radii(ring.name, sx, cy)
        if ring.name == "three" and advanced and abs(a) <= CORNER_DEG:
            outer = min(outer, DEEP_FT)
        outer_pts.append((outer * sx, outer * cy))
        inner_pts.append((inner * sx, inner * cy))
    pts: list[tuple[float, float]] = []
    for x, y in outer_pts + inner_pts[::-1]:
        point = (round(x, 1), round(y, 1))  # 0.1 ft: about a pixel and a half on air
        if not pts or pts[-1] != point:
            pts.append(point)
    path = "M" + "L".join(f"{x:g} {y:g}" for x, y in pts) + "Z"
    return path, _centroid(pts)


def _centroid(pts: list[tuple[float, float]]) -> tuple[float, float]:
    """Where a sector's number is printed: the centre of its area (shoelace formula)."""
    area = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(pts, pts[1:] + pts[:1], strict=True):
        cross = x0 * y1 - x1 * y0
        area += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    if abs(area) < 1e-9:
        return pts[0]
    return round(cx / (3 * area), 2), round(cy / (3 * area), 2)


def zone_map(advanced: bool) -> dict[str, dict[str, Any]]:
    """Number (as a string, as JSON keys are) -> name, ring, SVG path and label point."""
    out: dict[str, dict[str, Any]] = {}
    for ring in ADVANCED_RINGS if advanced else ZONE_RINGS:
        for i, label in enumerate(ring.labels):
            path, point = _outline(ring, i, advanced)
            out[str(ring.first + i)] = {
                "name": label,
                "ring": ring.name,
                "path": path,
                "label": list(point),
            }
    return out
