"""Where a held connection's memory goes: tracemalloc in the server, two snapshots, a diff.

Run inside the server process through fanout.py's ``--prelude`` (nothing in server/ changes):

    MEMPROBE_CONNS=2000 .venv/bin/python bench/fanout.py --peer shotfeed --hold 2000 \\
        --hold-events 0 --idle 10 --settle 30 --prelude "exec(open('bench/memprobe.py').read())"

With ``MEMPROBE_CONNS`` set, a thread takes the first snapshot 4 s after the server listens
(in the bench's idle phase, before any client) and the second once that many sockets have been
open for 3 s (while they are held); without it, ``kill -USR1 <server pid>`` twice does the
same by hand. The second snapshot writes ``$MEMPROBE_OUT``
(default /tmp/memprobe.txt): VmRSS and traced bytes before/after, the top allocation sites
(``MEMPROBE_FRAMES`` deep, 8) in bytes per connection, and a census of the gc-tracked objects
that appeared, by type, with their shallow sizes (``sys.getsizeof``, plus instance ``__dict__``).
tracemalloc slows the server and adds its own memory: read its bytes, not this run's RSS.
"""

import contextlib
import gc
import os
import signal
import sys
import tracemalloc
from collections import Counter
from types import FrameType
from typing import Any

_FRAMES = int(os.environ.get("MEMPROBE_FRAMES", "8"))
_OUT = os.environ.get("MEMPROBE_OUT", "/tmp/memprobe.txt")
_state: dict[str, Any] = {}
tracemalloc.start(_FRAMES)


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _census() -> tuple[Counter[str], Counter[str]]:
    counts: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    for o in gc.get_objects():
        t = type(o)
        name = f"{t.__module__}.{t.__qualname__}"
        counts[name] += 1
        size = sys.getsizeof(o)
        d = getattr(o, "__dict__", None) if not isinstance(o, type) else None
        if isinstance(d, dict):
            size += sys.getsizeof(d)
        sizes[name] += size
    return counts, sizes


def _connections() -> int:
    return sum(1 for o in gc.get_objects() if type(o).__name__ == "WebSocketsSansIOProtocol")


def _probe(signum: int, frame: FrameType | None) -> None:
    gc.collect()
    snap = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    if "before" not in _state:
        _state["before"] = (snap, _rss_kib(), tracemalloc.get_traced_memory()[0], *_census())
        return
    snap0, rss0, traced0, counts0, sizes0 = _state.pop("before")
    rss1, traced1 = _rss_kib(), tracemalloc.get_traced_memory()[0]
    counts1, sizes1 = _census()
    n = max(1, _connections())
    lines = [
        f"connections {n}; VmRSS {rss0} -> {rss1} KiB = {(rss1 - rss0) / n * 1024:.0f} B/conn "
        f"(with tracemalloc's own overhead); traced {traced0} -> {traced1} B = "
        f"{(traced1 - traced0) / n:.0f} B/conn",
        "",
        "== top allocation sites, B per connection (traceback, innermost first) ==",
    ]
    stats = snap.compare_to(snap0, "traceback")
    for st in stats[:40]:
        if st.size_diff <= 0:
            continue
        lines.append(
            f"{st.size_diff / n:8.0f} B/conn {st.count_diff / n:6.2f} blocks/conn  "
            + " <- ".join(
                f"{os.path.basename(fr.filename)}:{fr.lineno}" for fr in st.traceback[:_FRAMES]
            )
        )
    lines += ["", "== by file:line (innermost) =="]
    for st in snap.compare_to(snap0, "lineno")[:25]:
        fr = st.traceback[0]
        lines.append(f"{st.size_diff / n:8.0f} B/conn  {fr.filename}:{fr.lineno}")
    lines += ["", "== gc-tracked objects that appeared, per connection (shallow + __dict__) =="]
    grew = sorted(sizes1, key=lambda k: sizes1[k] - sizes0.get(k, 0), reverse=True)
    for name in grew[:30]:
        dc = counts1[name] - counts0.get(name, 0)
        ds = sizes1[name] - sizes0.get(name, 0)
        if ds <= 0:
            break
        lines.append(f"{ds / n:8.0f} B/conn {dc / n:6.2f} objs/conn  {name}")
    with open(_OUT, "w") as f:
        f.write("\n".join(lines) + "\n")


def _sockets() -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            n += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return n


def _watch(want: int) -> None:
    try:
        _watch_for(want)
    except BaseException:
        import traceback

        with open(_OUT + ".err", "w") as f:
            traceback.print_exc(file=f)


def _watch_for(want: int) -> None:
    import time

    while _sockets() < 1:  # not listening yet
        time.sleep(0.5)
    time.sleep(4)
    _probe(0, None)
    held_since = None
    while True:
        time.sleep(0.5)
        if _sockets() < want:
            held_since = None
        elif held_since is None:
            held_since = time.monotonic()
        elif time.monotonic() - held_since >= 3:
            _probe(0, None)
            return


signal.signal(signal.SIGUSR1, _probe)
if os.environ.get("MEMPROBE_CONNS"):
    import threading

    threading.Thread(target=_watch, args=(int(os.environ["MEMPROBE_CONNS"]),), daemon=True).start()
