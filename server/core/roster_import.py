"""Roster import for the operator console: CSV (``pid,number,name``) or JSON -> roster patch.

Pure: text in, ``{"<pid>": {"name", "number"}}`` out, or a ``ConfigError`` that says which line
is wrong. The result goes through ``GameConfig.merged`` like any other config change, so the same
limits apply (text length, no unknown fields).

CSV: one player per line, ``pid,number,name``; a first line naming the columns (``pid``,
``number``, ``name`` in any order) is read as a header. Quoted fields work as in any spreadsheet
export (``7301,3,"Ortiz, Maya"``). A jersey number stays text: "00" and "0" are two players.

JSON: ``{"<pid>": {"name", "number"}}``, the same under ``"roster"``, or a list of
``{"pid", "number", "name"}``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

import orjson

from server.errors import ConfigError

COLUMNS = ("pid", "number", "name")
MAX_PLAYERS = 500


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _add(out: dict[str, dict[str, Any]], pid: Any, number: Any, name: Any, where: str) -> None:
    if isinstance(pid, bool) or not isinstance(pid, str | int):
        raise ConfigError(f"{where}: pid must be text or a number")
    key = str(pid).strip()
    if not key:
        raise ConfigError(f"{where}: pid is empty")
    if key in out:
        raise ConfigError(f"{where}: pid {key!r} appears twice")
    if len(out) >= MAX_PLAYERS:
        raise ConfigError(f"a roster holds at most {MAX_PLAYERS} players")
    out[key] = {"name": name, "number": number}


def parse_csv(text: str) -> dict[str, dict[str, Any]]:
    """``pid,number,name`` lines (an optional header names the columns) -> roster patch."""
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    out: dict[str, dict[str, Any]] = {}
    order = list(COLUMNS)
    start = 0
    first = next((i for i, r in enumerate(rows) if any(c.strip() for c in r)), None)
    if first is not None:
        head = [c.strip().lower() for c in rows[first]]
        if "pid" in head:
            missing = [c for c in COLUMNS if c not in head]
            if missing:
                raise ConfigError(f"line {first + 1}: the header lacks {', '.join(missing)}")
            order = head
            start = first + 1
    for i, row in enumerate(rows[start:], start=start + 1):
        if not any(c.strip() for c in row):
            continue
        if len(row) < len(COLUMNS) and order == list(COLUMNS):
            raise ConfigError(f"line {i}: expected pid,number,name; got {len(row)} field(s)")
        if order == list(COLUMNS) and len(row) > len(COLUMNS):
            # 7301,3,Ortiz, Maya: an unquoted comma belongs to the name, the last column
            row = [*row[:2], ",".join(row[2:])]
        cells = dict(zip(order, row, strict=False))
        number, name = _cell(cells.get("number")), _cell(cells.get("name"))
        _add(out, cells.get("pid", ""), number, name, f"line {i}")
    if not out:
        raise ConfigError("no players found: one per line, pid,number,name")
    return out


def parse_json(raw: bytes | str) -> dict[str, dict[str, Any]]:
    """``{pid: {name, number}}``, ``{"roster": {...}}`` or ``[{pid, number, name}]``."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON: {exc}") from exc
    if isinstance(doc, Mapping) and isinstance(doc.get("roster"), Mapping | list):
        doc = doc["roster"]
    out: dict[str, dict[str, Any]] = {}
    if isinstance(doc, Mapping):
        for pid, entry in doc.items():
            if not isinstance(entry, Mapping):
                raise ConfigError(f"player {pid!s:.20}: expected an object with name and number")
            _add(out, pid, entry.get("number"), entry.get("name"), f"player {pid!s:.20}")
    elif isinstance(doc, list):
        for i, entry in enumerate(doc, start=1):
            if not isinstance(entry, Mapping):
                raise ConfigError(f"item {i}: expected an object with pid, number and name")
            _add(out, entry.get("pid"), entry.get("number"), entry.get("name"), f"item {i}")
    else:
        raise ConfigError("expected an object of pid -> {name, number} or a list of players")
    if not out:
        raise ConfigError("no players found")
    return out


def parse(raw: bytes, content_type: str) -> dict[str, dict[str, Any]]:
    """By the request's content type; plain text that looks like JSON is read as JSON."""
    kind = content_type.split(";")[0].strip().lower()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError("the roster must be UTF-8 text") from exc
    if kind == "application/json" or (kind != "text/csv" and text.lstrip()[:1] in ("{", "[")):
        return parse_json(raw)
    return parse_csv(text)


def replacing(current: Mapping[str, Any], imported: Mapping[str, Any]) -> dict[str, Any]:
    """The patch that makes the roster exactly ``imported``: players left out are removed."""
    patch: dict[str, Any] = {pid: None for pid in current if pid not in imported}
    patch.update(imported)
    return patch
