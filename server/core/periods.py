"""Period codes (``Q1``..``Q4``, ``H1``/``H2``, ``OT``/``OT1``/``OT2``...) and how they read on air.

ShotTracker documents quarters and halves but not overtime codes, so anything unknown is kept
as it came and labelled with the raw code rather than guessed.
"""

from __future__ import annotations

import re
from typing import Final

# Rules as data, also written into static/contract.js (server.core.contract) for the browser.
ORDINAL_SUFFIXES: Final = {1: "st", 2: "nd", 3: "rd"}
PERIOD_PATTERN: Final = r"^(Q|H|OT)(\d*)$"
PERIOD_KINDS: Final = {"Q": "Quarter", "H": "Half", "OT": "Overtime"}
# ASCII: the browser's \d is 0-9 only, so Python must not read other scripts' digits either.
_CODE = re.compile(PERIOD_PATTERN, re.ASCII)


def ordinal(n: int) -> str:
    """1 -> "1st", 11 -> "11th", 22 -> "22nd": English ordinals for period numbers."""
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}{ORDINAL_SUFFIXES.get(n % 10, 'th')}"


def _parse(code: str) -> tuple[str, int | None] | None:
    """("Q"|"H"|"OT", number or None) for a known code form, else None (kept as it came)."""
    match = _CODE.match(code.strip().upper())
    if match is None:
        return None
    return match.group(1), int(match.group(2)) if match.group(2) else None


def period_label(code: str | None) -> str | None:
    """Human label for a period code: "1st Quarter", "2nd Half", "Overtime", "2nd Overtime"."""
    parsed = _parse(code) if code is not None else None
    if parsed is None:
        return code
    kind, n = parsed
    if kind == "OT":
        name = PERIOD_KINDS["OT"]
        return name if (n or 1) <= 1 else f"{ordinal(n or 1)} {name}"
    if n is None:
        return code
    return f"{ordinal(n)} {PERIOD_KINDS[kind]}"


def period_short(code: str | None) -> str | None:
    """Compact form for a scorebug: "Q3" stays "Q3", "H2" -> "2H", "OT2" -> "2OT", "OT1" -> "OT"."""
    parsed = _parse(code) if code is not None else None
    if parsed is None:
        return code
    kind, n = parsed
    if kind == "OT":
        return "OT" if (n or 1) <= 1 else f"{n}OT"
    if n is None:
        return code
    return f"Q{n}" if kind == "Q" else f"{n}H"
