"""The demo's simulated ShotTracker: a consistent, realistic game, served like the real API.

The game checks recompute everything from the records themselves (distance from positions,
three-or-two from the rules' line, scores from makes and free throws) with formulas written
here, independently of ``server.sim.simgame``. The HTTP checks run the app under a real uvicorn
and sign requests with the same code the poller uses, so the demo's end-to-end path is tested.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest

from server.core import signing
from server.core.roster import GameConfig
from server.core.shots import parse_payload
from server.errors import UpstreamError
from server.live.upstream import (
    BAD_PAYLOAD,
    TIMEOUT,
    UPSTREAM_ERROR,
    Credentials,
    NotModified,
    Shots,
    UpstreamClient,
)
from server.sim.simgame import SimGame, simulate_game
from server.sim.simulator import (
    DEMO_SECRET,
    DEMO_USERNAME,
    FAULT_HEADER,
    FAULT_KINDS,
    create_simulator_app,
)
from tests.upstream_app import LiveServer

DATA = Path(__file__).parent / "data"
FT = 304.8
# (arc radius, corner distance) in mm, straight from the rule books, not from the module.
LINES = {"ncaa": (6750.0, 6600.0), "nba": (23.75 * FT, 22 * FT), "fiba": (6750.0, 6600.0)}
HALF_COURT = {"ncaa": (47 * FT, 25 * FT), "nba": (47 * FT, 25 * FT), "fiba": (14000.0, 7500.0)}
ATTRIBUTES = {
    "OTD",
    "CAS",
    "GUARDED",
    "UNGUARDED",
    "CLEAN",
    "DUNK",
    "LAYUP",
    "JUMPSHOT",
    "FADEAWAY",
}
CASES = [
    (0, "quarters", "ncaa"),
    (1, "halves", "ncaa"),
    (2, "quarters", "nba"),
    (3, "halves", "fiba"),
    (11, "quarters", "fiba"),
    (42, "halves", "nba"),
]
_GAMES: dict[tuple[int, str, str], SimGame] = {}


def game_for(seed: int, fmt: str, rules: str) -> SimGame:
    """Simulated games are pure, so each is built once per test session."""
    key = (seed, fmt, rules)
    if key not in _GAMES:
        _GAMES[key] = simulate_game(seed, fmt, rules)  # type: ignore[arg-type]
    return _GAMES[key]


def final(game: SimGame) -> dict[str, Any]:
    """The payload well after the end (late corrections included)."""
    return game.payload_at(game.duration_s + 3600)


def seed_record_keys() -> set[str]:
    return set(orjson.loads((DATA / "seed_shots.json").read_bytes())["shots"][0])


def hoop_relative(shot: dict[str, Any]) -> tuple[float, float]:
    """(lateral, toward half court) in mm from the hoop the shot was aimed at."""
    dx, dy = shot["px"] - shot["hx"], shot["py"] - shot["hy"]
    return (-dx, -dy) if shot["hy"] > 0 else (dx, dy)


def expected_three(rules: str, x: float, y: float) -> bool:
    """Beyond the line: past the straight corner line below the break, past the arc above."""
    arc, corner = LINES[rules]
    if y <= math.sqrt(arc**2 - corner**2):
        return abs(x) > corner
    return math.hypot(x, y) > arc


def distance_to_line(rules: str, x: float, y: float, baseline: float) -> float:
    """Euclidean distance (mm) from (x, y) to the three-point line (arc + corner segments)."""
    arc, corner = LINES[rules]
    brk = math.sqrt(arc**2 - corner**2)

    def to_segment(sx: float) -> float:
        cy = min(max(y, -baseline), brk)
        return math.hypot(x - sx, y - cy)

    r = math.hypot(x, y)
    if r > 0 and y / r >= brk / arc:
        to_arc = abs(r - arc)
    else:
        to_arc = min(math.hypot(x - corner, y - brk), math.hypot(x + corner, y - brk))
    return min(to_arc, to_segment(corner), to_segment(-corner))


# -- the simulated game ---------------------------------------------------------------------


@pytest.mark.parametrize(("seed", "fmt", "rules"), CASES)
def test_scores_add_up(seed: int, fmt: str, rules: str) -> None:
    """Made field goals plus free throws are the final score, per team and per period."""
    game = game_for(seed, fmt, rules)
    doc = final(game)
    totals = doc["gameTotals"]
    assert totals["status"] == "FINAL"
    ids = {"home": game.home.team_id, "away": game.away.team_id}
    by_team = {ids["home"]: "home", ids["away"]: "away"}
    fg = Counter[str]()
    fg_by_period = Counter[tuple[str, str]]()
    for s in doc["shots"]:
        pts = s["pts"] if s["st"] == "MAKE" else 0
        assert s["pts"] == ((3 if s["is3"] else 2) if s["st"] == "MAKE" else -1)
        fg[by_team[s["tid"]]] += pts
        fg_by_period[(by_team[s["tid"]], s["prd"])] += pts
    ft = Counter[str]()
    ft_by_period = Counter[tuple[str, str]]()
    for f in game.free_throws:
        ft[f.side] += f.made
        ft_by_period[(f.side, f.period)] += f.made
    home = totals["homeTeamScore"]
    away = totals["awayTeamScore"]
    assert home["teamId"] == ids["home"] and away["teamId"] == ids["away"]
    assert home["value"] == fg["home"] + ft["home"]
    assert away["value"] == fg["away"] + ft["away"]
    assert (home["value"], away["value"]) == game.final_score
    assert home["value"] != away["value"], "a basketball game does not end tied"

    periods = totals["periodTotals"]
    assert [p["period"] for p in periods] == list(reversed(game.period_codes))
    assert sum(p["homeTeamScore"]["value"] for p in periods) == home["value"]
    assert sum(p["awayTeamScore"]["value"] for p in periods) == away["value"]
    for p in periods:
        for side, key in (("home", "homeTeamScore"), ("away", "awayTeamScore")):
            expected = fg_by_period[(side, p["period"])] + ft_by_period[(side, p["period"])]
            assert p[key]["value"] == expected
            assert p[key]["teamId"] == ids[side]


@pytest.mark.parametrize(("seed", "fmt", "rules"), CASES)
def test_shot_records_are_consistent(seed: int, fmt: str, rules: str) -> None:
    """Positions, distance, is3, attributes and ids agree with each other and with the rules."""
    game = game_for(seed, fmt, rules)
    doc = final(game)
    keys = seed_record_keys()
    sessions = {p["period"]: p["sessionId"] for p in doc["gameTotals"]["periodTotals"]}
    half_length, half_width = HALF_COURT[rules]
    assert len(set(sessions.values())) == len(sessions)
    ends: dict[tuple[str, str], set[int]] = {}
    ts = [s["t"] for s in doc["shots"]]
    assert ts == sorted(ts) and len(set(ts)) == len(ts), "t identifies a shot: unique, in order"
    for s in doc["shots"]:
        assert set(s) == keys, "every field of the documented record, nothing else"
        assert s["label"] is None and s["dd"] is None and s["sc"] is None
        assert s["s"] == "RECORDED" and s["sst"] == "GAME_ROUND"
        assert s["sid"] == sessions[s["prd"]]
        assert s["players"] == [s["pid"]] and s["pid"] in game.roster
        assert all(isinstance(d, int) for d in s["shotDefenders"])
        assert isinstance(s["pid"], str) and isinstance(s["tid"], str)
        assert 1 <= s["z"] <= 14 and 1 <= s["az"] <= 23
        assert re.fullmatch(r"\d\d:[0-5]\d", s["gc"])
        # geometry
        assert s["hsx"] == s["hx"] - s["px"] and s["hsy"] == s["hy"] - s["py"]
        assert s["d"] == pytest.approx(math.hypot(s["hsx"], s["hsy"]) / 10, abs=0.01)
        assert abs(abs(s["hy"]) - (half_length - (1575 if rules == "fiba" else 1600))) < 100
        assert abs(s["hx"]) < 100 and s["hz"] == 3048
        assert abs(s["px"]) <= half_width and abs(s["py"]) <= half_length
        x, y = hoop_relative(s)
        assert s["is3"] == expected_three(rules, x, y), s
        baseline = half_length - abs(s["hy"])
        assert distance_to_line(rules, x, y, baseline) >= 300, "rounding must not flip is3"
        attrs = set(s["attributes"])
        assert attrs <= ATTRIBUTES
        assert len(attrs & {"OTD", "CAS"}) == 1 and len(attrs & {"GUARDED", "UNGUARDED"}) == 1
        assert ("OTD" in attrs) == (s["drb"] > 0)
        if attrs & {"DUNK", "LAYUP"}:
            assert s["d"] < 160 and not s["is3"]
        if "DUNK" in attrs:
            assert s["d"] < 80
        if "CLEAN" in attrs:
            assert s["st"] == "MAKE"
        ends.setdefault((s["tid"], s["prd"]), set()).add(1 if s["hy"] > 0 else -1)
    # One hoop per team per period; the teams swap ends at half-time.
    assert all(len(v) == 1 for v in ends.values())
    first, last = game.period_codes[0], game.period_codes[-1]
    for tid in (game.home.team_id, game.away.team_id):
        assert ends[(tid, first)] != ends[(tid, last)]
    assert ends[(game.home.team_id, first)] != ends[(game.away.team_id, first)]


@pytest.mark.parametrize(("seed", "fmt", "rules"), CASES)
def test_box_score_is_realistic(seed: int, fmt: str, rules: str) -> None:
    """About 55-65 attempts a team (plus overtime), ~35 % threes, ~45 % made."""
    game = game_for(seed, fmt, rules)
    shots = final(game)["shots"]
    overtimes = sum(code.startswith("OT") for code in game.period_codes)
    everyone = []
    for team_id in (game.home.team_id, game.away.team_id):
        team = [s for s in shots if s["tid"] == team_id]
        everyone += team
        threes = [s for s in team if s["is3"]]
        twos = [s for s in team if not s["is3"]]
        assert 55 <= len(team) <= 65 + 9 * overtimes
        assert 0.28 <= len(threes) / len(team) <= 0.42
        assert 0.38 <= sum(s["st"] == "MAKE" for s in team) / len(team) <= 0.52
        assert 0.25 <= sum(s["st"] == "MAKE" for s in threes) / len(threes) <= 0.45
        assert 0.42 <= sum(s["st"] == "MAKE" for s in twos) / len(twos) <= 0.58
    made = sum(s["st"] == "MAKE" for s in everyone)
    assert 0.30 <= sum(s["is3"] for s in everyone) / len(everyone) <= 0.40
    assert 0.40 <= made / len(everyone) <= 0.50
    ft = [f for f in game.free_throws]
    assert 10 <= len(ft) / 2 <= 30 and 0.55 <= sum(f.made for f in ft) / len(ft) <= 0.9


@pytest.mark.parametrize(("seed", "fmt", "rules"), CASES[:3])
def test_game_over_time(seed: int, fmt: str, rules: str) -> None:
    """SCHEDULED -> ACTIVE -> FINAL; the clock runs down within a period (and sometimes
    stops); shots only ever get added; scores never go down; every poll parses cleanly."""
    game = game_for(seed, fmt, rules)
    step = 3.0
    samples = [i * step for i in range(int((game.duration_s + 60) / step) + 1)]
    statuses: list[str] = []
    prev: dict[str, Any] | None = None
    stopped = 0
    order = game.period_codes
    for n, elapsed in enumerate(samples):
        doc = game.payload_at(elapsed)
        totals = doc["gameTotals"]
        assert re.fullmatch(r"\d\d:[0-5]\d:[0-5]\d", totals["gameClock"])
        if not statuses or statuses[-1] != totals["status"]:
            statuses.append(totals["status"])
        if n % 25 == 0:
            parsed = parse_payload(orjson.dumps(doc))
            assert parsed.skipped == () and parsed.totals_problem is None
            assert len(parsed.shots) == len(doc["shots"])
        started = [p["period"] for p in totals["periodTotals"]]
        assert started == list(reversed(order[: len(started)]))
        if totals["status"] == "SCHEDULED":
            assert doc["shots"] == [] and started == []
            assert totals["gameClock"] == f"00:{game.periods[0].length_s // 60:02d}:00"
        if prev is not None:
            before = prev["gameTotals"]
            assert [s["t"] for s in doc["shots"][: len(prev["shots"])]] == [
                s["t"] for s in prev["shots"]
            ]
            for key in ("homeTeamScore", "awayTeamScore"):
                assert totals[key]["value"] >= before[key]["value"]
            assert order.index(totals["period"]) >= order.index(before["period"])
            if totals["period"] == before["period"]:
                assert totals["gameClock"] <= before["gameClock"], (elapsed, totals, before)
                if (
                    totals["status"] == before["status"] == "ACTIVE"
                    and totals["gameClock"] == before["gameClock"] != "00:00:00"
                ):
                    stopped += 1
        prev = doc
    assert statuses == ["SCHEDULED", "ACTIVE", "FINAL"]
    assert stopped > 0, "the clock stops for free throws and timeouts"
    # A shot's gc is the clock the feed showed when it appeared.
    for shot in game.shots:
        doc = game.payload_at(shot.offset_s)
        assert doc["gameTotals"]["gameClock"] == "00:" + shot.record["gc"]
        assert doc["gameTotals"]["period"] == shot.period


def test_deterministic_for_a_seed() -> None:
    """Same seed, same game, byte for byte; another seed, another game."""
    a, b = simulate_game(5), simulate_game(5)
    for elapsed in (0.0, 400.0, 1500.0, a.duration_s + 10):
        assert orjson.dumps(a.payload_at(elapsed)) == orjson.dumps(b.payload_at(elapsed))
    assert a.config_data() == b.config_data()
    assert final(simulate_game(6))["shots"] != final(a)["shots"]


def test_t_follows_the_wall_clock_of_the_demo() -> None:
    """``t`` is wall-clock ms: a game played at 10x from t0 gives shots t0 + offset/10."""
    game = game_for(0, "quarters", "ncaa")
    doc = game.payload_at(game.duration_s, t0_ms=1_000_000, speed=10)
    first = game.shots[0]
    assert doc["shots"][0]["t"] == 1_000_000 + int(first.offset_s * 100)
    assert doc["shots"][-1]["t"] < 1_000_000 + game.duration_s * 100 + len(game.shots)


def test_overtime_when_tied_and_tiebreak_without() -> None:
    """A tie after regulation goes to OT1 (OT periods in the feed); without overtime a late
    free throw decides it."""
    seed = next(s for s in range(300) if "OT1" in simulate_game(s, "halves").period_codes)
    game = simulate_game(seed, "halves")
    assert game.period_codes[:3] == ("H1", "H2", "OT1")
    doc = final(game)
    periods = [p["period"] for p in doc["gameTotals"]["periodTotals"]]
    assert periods == list(reversed(game.period_codes))
    home, away = game.final_score
    assert home != away
    assert {s["prd"] for s in doc["shots"]} >= {"OT1"}
    regulation = game.payload_at(game.periods[2].start_s - 1)["gameTotals"]
    assert regulation["homeTeamScore"]["value"] == regulation["awayTeamScore"]["value"]
    assert parse_payload(doc).skipped == ()

    no_ot = simulate_game(seed, "halves", overtime=False)
    assert no_ot.period_codes == ("H1", "H2")
    assert no_ot.final_score[0] != no_ot.final_score[1]
    assert abs(no_ot.final_score[0] - no_ot.final_score[1]) == 1


def test_config_data_configures_the_server() -> None:
    """config_data() is accepted by GameConfig and names every shooter and both teams."""
    game = game_for(0, "quarters", "ncaa")
    config = GameConfig.from_data(game.config_data())
    assert config.home.team_id == "1001" and config.away.team_id == "1002"
    assert config.home.name == game.home.name and config.home.color == game.home.color
    assert len(config.roster) == 20
    for s in final(game)["shots"]:
        player = config.player(s["pid"])
        assert player is not None and player.name and player.number
        assert config.side_of(s["tid"]) is not None


def test_corrections_keep_t_and_recredit_the_shot() -> None:
    """Some shots are first credited to one player, then to a team-mate, under the same t."""
    corrected = [
        (g, s)
        for g in (game_for(*case) for case in CASES)  # type: ignore[arg-type]
        for s in g.shots
        if s.first_pid is not None
    ]
    assert corrected
    game, shot = corrected[0]
    assert shot.corrected_at_s is not None
    early = {s["t"]: s for s in game.payload_at(shot.offset_s)["shots"]}
    late = {s["t"]: s for s in game.payload_at(shot.corrected_at_s)["shots"]}
    t = game.shot_t(shot)
    assert early[t]["pid"] == shot.first_pid != late[t]["pid"] == shot.record["pid"]
    players = game.roster
    assert players[early[t]["pid"]].side == players[late[t]["pid"]].side == shot.side


# -- the HTTP side --------------------------------------------------------------------------


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def signed(url: str, *, secret: str = DEMO_SECRET, user: str = DEMO_USERNAME, skew: float = 0):
    return signing.signed_headers(user, secret, "GET", url, time.time() + skew)


def shots_url(live: LiveServer, event_id: str = "DEMO") -> str:
    return f"{live.url}/v1/data/stats/games/{event_id}/shots"


def assert_error_body(response: httpx.Response, status: int) -> None:
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"status", "message", "shottrackerRequestId"}
    assert body["status"] == status and body["message"]


@pytest.mark.network
def test_signed_request_gets_the_game_and_errors_look_like_shottracker() -> None:
    game = game_for(0, "quarters", "ncaa")
    clock = FakeClock()
    app = create_simulator_app(game, speed=10, seed=1, clock=clock, t0_ms=5_000)
    clock.now += 100  # 1000 s of game
    with LiveServer(app) as live, httpx.Client(timeout=5) as http:
        url = shots_url(live)
        ok = http.get(url + "?ignored=1", headers=signed(url))
        assert ok.status_code == 200
        assert ok.headers["content-type"] == "application/json"
        assert ok.json() == game.payload_at(1000.0, t0_ms=5_000, speed=10)
        assert ok.json()["gameTotals"]["status"] == "ACTIVE"
        assert app.state.simulator.elapsed_s() == pytest.approx(1000.0)

        etag = ok.headers["etag"]
        same = http.get(url, headers={**signed(url), "if-none-match": etag})
        assert same.status_code == 304 and same.headers["etag"] == etag and same.content == b""
        clock.now += 1
        changed = http.get(url, headers={**signed(url), "if-none-match": etag})
        assert changed.status_code == 200 and changed.headers["etag"] != etag

        assert_error_body(http.get(url), 401)
        assert_error_body(http.get(url, headers=signed(url, secret="wrong")), 403)
        assert_error_body(http.get(url, headers=signed(url, user="nobody")), 403)
        assert_error_body(http.get(url, headers=signed(url, skew=-600)), 401)
        assert "5 minutes" in http.get(url, headers=signed(url, skew=400)).json()["message"]
        other = shots_url(live, "OTHER")
        missing = http.get(other, headers=signed(other))
        assert_error_body(missing, 404)
        assert missing.json()["message"] == "Invalid id"
        assert_error_body(http.get(live.url + "/nope"), 404)
        wrong_path = http.get(url, headers=signed(shots_url(live, "ELSE")))
        assert_error_body(wrong_path, 403)

        clock.now += game.duration_s / 10
        assert http.get(url, headers=signed(url)).json()["gameTotals"]["status"] == "FINAL"


@pytest.mark.network
def test_faults_are_every_kind_and_reproducible() -> None:
    game = game_for(1, "halves", "ncaa")
    clock = FakeClock()
    seen: list[list[str | None]] = []
    for _ in range(2):
        app = create_simulator_app(
            game, speed=5, faults=1.0, seed=3, clock=clock, fault_delay_s=0.05
        )
        kinds: list[str | None] = []
        with LiveServer(app) as live, httpx.Client(timeout=5) as http:
            url = shots_url(live)
            for _ in range(15):
                started = time.monotonic()
                r = http.get(url, headers=signed(url))
                kind = r.headers.get(FAULT_HEADER)
                kinds.append(kind)
                assert kind in FAULT_KINDS
                if kind == "error":
                    assert_error_body(r, 500)
                elif kind == "truncated":
                    assert r.status_code == 200
                    with pytest.raises(orjson.JSONDecodeError):
                        orjson.loads(r.content)
                else:
                    assert r.status_code == 200 and time.monotonic() - started >= 0.05
                    assert parse_payload(r.content).skipped == ()
        seen.append(kinds)
    assert seen[0] == seen[1], "the same seed gives the same faults"
    assert set(seen[0]) == set(FAULT_KINDS)

    app = create_simulator_app(game, faults=0.3, seed=3, clock=clock, fault_delay_s=0.01)
    with LiveServer(app) as live, httpx.Client(timeout=5) as http:
        url = shots_url(live)
        codes = Counter(http.get(url, headers=signed(url)).status_code for _ in range(30))
    assert codes[200] > 15 and sum(app.state.simulator.faults_served.values()) > 0


@pytest.mark.network
@pytest.mark.anyio
async def test_the_servers_own_client_follows_the_simulator() -> None:
    """The poller's UpstreamClient with the demo credentials: 200, 304, and each fault maps
    to the feed error code SPEC names."""
    game = game_for(0, "quarters", "ncaa")
    clock = FakeClock()
    app = create_simulator_app(game, speed=10, clock=clock)
    clock.now += 50
    with LiveServer(app) as live:
        async with httpx.AsyncClient(timeout=2) as http:
            client = UpstreamClient(live.url, Credentials(DEMO_USERNAME, DEMO_SECRET), http=http)
            with anyio.fail_after(10):
                first = await client.fetch_shots("DEMO")
                assert isinstance(first, Shots) and first.payload.skipped == ()
                assert first.payload.totals is not None
                assert first.payload.totals.home.team_id == game.home.team_id
                again = await client.fetch_shots("DEMO", etag=first.etag)
                assert isinstance(again, NotModified)

    faulty = create_simulator_app(game, faults=1.0, seed=7, clock=clock, fault_delay_s=0.5)
    with LiveServer(faulty) as live:
        async with httpx.AsyncClient(timeout=0.25) as http:
            client = UpstreamClient(live.url, Credentials(DEMO_USERNAME, DEMO_SECRET), http=http)
            codes = set()
            with anyio.fail_after(15):
                for _ in range(40):
                    with pytest.raises(UpstreamError) as info:
                        await client.fetch_shots("DEMO")
                    codes.add(info.value.code)
                    if len(codes) == 3:
                        break
    assert codes == {UPSTREAM_ERROR, TIMEOUT, BAD_PAYLOAD}
