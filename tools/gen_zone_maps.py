"""Draw the server's zone maps for docs/stats.md: docs/zones.svg and docs/advanced-zones.svg.

The pictures are made from ``server.core.zones.zone_map``, the very outlines the overlays draw,
so the docs cannot show a map the server does not count by. tests/test_docs.py fails when they
are stale.

    python tools/gen_zone_maps.py          # rewrite both files
    python tools/gen_zone_maps.py --check  # exit 1 if either is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

from server.core import zones

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {False: ROOT / "docs" / "zones.svg", True: ROOT / "docs" / "advanced-zones.svg"}
FILL = {
    "rim": "#fde68a",
    "short": "#fcd34d",
    "mid": "#93c5fd",
    "three": "#86efac",
    "deep": "#4ade80",
}


def render(advanced: bool) -> str:
    """One SVG: the half court as the shot chart draws it (hoop at the top), every zone outlined
    and numbered."""
    w = 2 * zones.HALF_WIDTH_FT
    top = zones.BASELINE_FT
    h = zones.HALF_COURT_FT - top
    title = "advanced zones (az)" if advanced else "zones (z)"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{-zones.HALF_WIDTH_FT - 0.5} '
        f'{top - 0.5} {w + 1} {h + 1}" width="{round((w + 1) * 12)}" '
        f'height="{round((h + 1) * 12)}" font-family="sans-serif">',
        f"<title>shotfeed {title}: numbered as the server counts them</title>",
        f'<rect x="{-zones.HALF_WIDTH_FT}" y="{top}" width="{w}" height="{h}" fill="#f8fafc" '
        'stroke="#334155" stroke-width="0.15"/>',
    ]
    mapping = zones.zone_map(advanced)
    for number, zone in mapping.items():
        out.append(
            f'<path d="{zone["path"]}" fill="{FILL[zone["ring"]]}" stroke="#1e293b" '
            f'stroke-width="0.12"><title>{number}: {zone["name"]}</title></path>'
        )
    for number, zone in mapping.items():
        x, y = zone["label"]
        out.append(
            f'<text x="{x}" y="{y}" font-size="1.6" text-anchor="middle" '
            f'dominant-baseline="central" fill="#0f172a">{number}</text>'
        )
    out.append('<circle cx="0" cy="0" r="0.75" fill="none" stroke="#ea580c" stroke-width="0.2"/>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    stale = False
    for advanced, path in TARGETS.items():
        text = render(advanced)
        if "--check" in argv:
            stale |= not path.exists() or path.read_text(encoding="utf-8") != text
        else:
            path.write_text(text, encoding="utf-8")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
