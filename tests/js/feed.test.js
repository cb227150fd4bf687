// Unit tests for feed.js's pure parts: the state reducer (how events fold into state), the
// override fold. Run by `node --test tests/js/` (tests/test_js.py runs that from pytest).
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { contract, loadFeed } = require("./_load.js");

function shot(key, team, made, three, extra) {
  return Object.assign({ key, team, made, three, points: made ? (three ? 3 : 2) : 0 }, extra || {});
}

test("AUTOMATIC, EVENT_TYPES and the period helpers are the contract's", async () => {
  const f = await loadFeed();
  assert.deepEqual([...f.AUTOMATIC], contract.automaticTypes);
  assert.deepEqual([...f.EVENT_TYPES], contract.eventTypes);
  assert.equal(f.periodLabel, contract.periodLabel);
  assert.equal(f.periodShort, contract.periodShort);
  assert.equal(f.displayClock, contract.displayClock);
  assert.equal(f.parseClock, contract.parseClock);
});

test("emptyState / normalizeState fill every object a page reads", async () => {
  const f = await loadFeed();
  const s = f.normalizeState({ home: { score: 3 }, clock: "00:00:09.5", period: "H2" });
  assert.equal(s.home.score, 3);
  assert.equal(s.away.score, null);
  assert.deepEqual(s.stats.unknown, { fgm: 0, fga: 0, fg3m: 0, fg3a: 0 });
  assert.deepEqual(s.recent, []);
  assert.equal(s.periodShort, "2H");
  assert.equal(s.clockDisplay, "0:09.5");
  assert.equal(s.clockRunning, false);
  assert.equal(s.held, false);
  assert.equal(f.emptyState("g").game, "g");
});

test("score_update sets scores and the leader", async () => {
  const f = await loadFeed();
  const s = f.emptyState("g1");
  f.applyEvent(s, { type: "score_update", at: 1, data: { home: 10, away: 7 } });
  assert.deepEqual([s.home.score, s.away.score, s.leader], [10, 7, "home"]);
  f.applyEvent(s, { type: "score_update", at: 2, data: { home: 10, away: 10, leader: "tie" } });
  assert.equal(s.leader, "tie");
  f.applyEvent(s, { type: "score_update", at: 3, data: { away: 12 } });
  assert.deepEqual([s.home.score, s.away.score, s.leader], [10, 12, "away"]);
});

test("a stats event replaces the splits, a malformed one is ignored", async () => {
  const f = await loadFeed();
  const s = f.emptyState("g1");
  const splits = { teams: { home: { fgm: 1, fga: 2 }, away: { fgm: 0, fga: 1 } }, players: [{ pid: "7", fgm: 1 }] };
  f.applyEvent(s, { type: "stats", at: 1, data: splits });
  assert.deepEqual(s.splits, splits);
  splits.players[0].fgm = 9; // a copy: the event's data is not shared
  assert.equal(s.splits.players[0].fgm, 1);
  f.applyEvent(s, { type: "stats", at: 2, data: { teams: "x" } });
  assert.equal(s.splits.players[0].fgm, 1);
});

test("period_change sets period, label (the server's, else the contract's) and totals", async () => {
  const f = await loadFeed();
  const s = f.emptyState("g1");
  const totals = [{ period: "Q1", home: 20, away: 18, extra: 1 }];
  f.applyEvent(s, { type: "period_change", at: 1, data: { from: "Q1", to: "Q2", label: "2nd Quarter", periodTotals: totals } });
  assert.deepEqual([s.period, s.periodLabel, s.periodShort], ["Q2", "2nd Quarter", "Q2"]);
  assert.deepEqual(s.periodTotals, [{ period: "Q1", home: 20, away: 18 }]);
  f.applyEvent(s, { type: "period_change", at: 2, data: { to: "OT7" } });
  assert.deepEqual([s.period, s.periodLabel, s.periodShort], ["OT7", "OT7", "7OT"]);
  assert.equal(f.periodLabel("OT7"), "7th Overtime");
});

test("a clock event shows the server's clock text, exactly", async () => {
  const f = await loadFeed();
  const s = f.emptyState("g1");
  f.applyEvent(s, { type: "clock", at: 1000, data: { clock: "00:00:09.5", period: "Q4", running: true } });
  assert.deepEqual([s.clock, s.clockDisplay, s.clockRunning, s.clockAt, s.period], ["00:00:09.5", "0:09.5", true, 1000, "Q4"]);
  f.applyEvent(s, { type: "clock", at: 2000, data: { clock: "01:02:03", running: false } });
  assert.deepEqual([s.clockDisplay, s.clockRunning], ["01:02:03", false]);
  f.applyEvent(s, { type: "clock", at: 3000, data: { clock: "--" } });
  assert.equal(s.clockDisplay, "--");
});

test("shots, corrections and removals keep recent and the FG stats", async () => {
  const f = await loadFeed();
  const s = f.emptyState("g1");
  f.applyEvent(s, { type: "shot", data: shot("a", "home", true, true) });
  f.applyEvent(s, { type: "shot", data: shot("b", "away", false, false) });
  f.applyEvent(s, { type: "shot", data: shot("c", null, true, false) });
  assert.deepEqual(s.recent.map((x) => x.key), ["c", "b", "a"]);
  assert.deepEqual(s.stats.home, { fgm: 1, fga: 1, fg3m: 1, fg3a: 1 });
  assert.deepEqual(s.stats.away, { fgm: 0, fga: 1, fg3m: 0, fg3a: 0 });
  assert.deepEqual(s.stats.unknown, { fgm: 1, fga: 1, fg3m: 0, fg3a: 0 });
  // the three is re-credited as a missed two
  f.applyEvent(s, { type: "shot_update", data: { key: "a", before: shot("a", "home", true, true), after: shot("a", "home", false, false) } });
  assert.deepEqual(s.stats.home, { fgm: 0, fga: 1, fg3m: 0, fg3a: 0 });
  assert.equal(s.recent.find((x) => x.key === "a").made, false);
  f.applyEvent(s, { type: "shot_removed", data: { key: "b", before: shot("b", "away", false, false) } });
  assert.deepEqual(s.recent.map((x) => x.key), ["c", "a"]);
  assert.equal(s.stats.away.fga, 0);
  // the same shot again replaces, never duplicates; recent keeps 10
  for (let i = 0; i < 12; i++) f.applyEvent(s, { type: "shot", data: shot(`k${i}`, "home", false, false) });
  f.applyEvent(s, { type: "shot", data: shot("k11", "home", false, false) });
  assert.equal(s.recent.length, 10);
  assert.equal(s.recent.filter((x) => x.key === "k11").length, 1);
});

test("config, hold, feed_status, game_status and graphic fold in; a rehearsal graphic does not", async () => {
  const f = await loadFeed();
  const s = f.emptyState("g1");
  f.applyEvent(s, { type: "config", data: { home: { name: "North <b>", short: "NOR", color: "#123456" }, roster: { 7: { name: "A" } } } });
  assert.deepEqual([s.home.name, s.home.short, s.home.color, s.away.name], ["North <b>", "NOR", "#123456", null]);
  assert.deepEqual(s.roster, { 7: { name: "A" } });
  f.applyEvent(s, { type: "hold", data: { held: true, autofire: { made_three: false } } });
  assert.equal(s.held, true);
  assert.deepEqual(s.autofire, { made_three: false });
  f.applyEvent(s, { type: "feed_status", at: 5, data: { ok: false, error: "timeout", message: "slow" } });
  assert.deepEqual([s.feed.ok, s.feed.error], [false, "timeout"]);
  f.applyEvent(s, { type: "feed_status", at: 9, data: { ok: true } });
  assert.deepEqual([s.feed.ok, s.feed.lastSuccessAt], [true, 9]);
  f.applyEvent(s, { type: "game_status", data: { from: "ACTIVE", to: "FINAL" } });
  assert.equal(s.status, "FINAL");
  assert.equal(f.isFinal(s.status), true);
  f.applyEvent(s, { type: "graphic", data: { action: "show", name: "lowerthird", payload: { title: "x" } } });
  f.applyEvent(s, { type: "graphic", data: { action: "show", name: "test:made_three", payload: {} } });
  assert.deepEqual(Object.keys(s.graphics), ["lowerthird"]);
  f.applyEvent(s, { type: "graphic", data: { action: "hide", name: "lowerthird" } });
  assert.deepEqual(s.graphics, {});
  f.applyEvent(s, { type: "graphic", data: { action: "show", name: "a", payload: {} } });
  f.applyEvent(s, { type: "graphic", data: { action: "clear" } });
  assert.deepEqual(s.graphics, {});
  const before = JSON.stringify(s);
  f.applyEvent(s, { type: "made_three", data: shot("z", "home", true, true) });
  f.applyEvent(s, { type: "no_such_type", data: { home: 99 } });
  assert.equal(JSON.stringify(s), before);
});

test("testEvent: a test:<type> graphic stands for that event, only for automatic types", async () => {
  const f = await loadFeed();
  const ev = f.testEvent({ seq: 4, type: "graphic", game: "g", at: 1, data: { action: "show", name: "test:made_three", payload: { pid: "7" } } });
  assert.deepEqual(ev, { seq: 4, type: "made_three", game: "g", at: 1, data: { pid: "7" }, test: true });
  assert.equal(f.testEvent({ type: "graphic", data: { action: "show", name: "test:shot" } }), null);
  assert.equal(f.testEvent({ type: "graphic", data: { action: "hide", name: "test:made_three" } }), null);
});

test("override: its fields lie over the upstream values; its clock stands still", async () => {
  const f = await loadFeed();
  const s = f.emptyState("g1");
  f.applyEvent(s, { type: "score_update", at: 1, data: { home: 10, away: 7 } });
  f.applyEvent(s, {
    type: "override", at: 2,
    data: {
      active: true,
      fields: { home: 12, clock: "00:00:09.5" },
      upstream: { home: 10, away: 7, period: "Q4", clock: "00:01:00", clockRunning: true, clockAt: 2 },
    },
  });
  assert.deepEqual([s.home.score, s.away.score, s.leader], [12, 7, "home"]);
  assert.deepEqual([s.clock, s.clockDisplay, s.clockRunning], ["00:00:09.5", "0:09.5", false]);
  assert.deepEqual([s.period, s.periodLabel, s.periodShort], ["Q4", "4th Quarter", "Q4"]);
  assert.deepEqual(f.overrideFields(s), { home: 12, clock: "00:00:09.5" });
  assert.equal(f.overridden(s, "home"), true);
  assert.equal(f.overridden(s, "away", "period"), false);
});

test("override: upstream events under an override are tracked, not shown; clearing shows them", async () => {
  const f = await loadFeed();
  const s = f.emptyState("g1");
  f.applyEvent(s, { type: "override", at: 1, data: { active: true, fields: { home: 50, period: "Q4" }, upstream: { home: 40, away: 41, period: "Q3", clock: "00:05:00", clockRunning: false } } });
  f.applyEvent(s, { type: "score_update", at: 2, data: { home: 42, away: 43 } });
  f.applyEvent(s, { type: "period_change", at: 3, data: { from: "Q3", to: "Q4", label: "4th Quarter" } });
  f.applyEvent(s, { type: "clock", at: 4, data: { clock: "00:04:59", running: true } });
  assert.deepEqual([s.home.score, s.away.score], [50, 43]); // away is not overridden
  assert.equal(s.period, "Q4");
  assert.deepEqual([s.clockDisplay, s.clockRunning], ["4:59", true]); // clock not overridden: runs
  assert.deepEqual(s.override.upstream.home, 42);
  // cleared: every field is upstream's again
  f.applyEvent(s, { type: "override", at: 5, data: { active: false, fields: {} } });
  assert.deepEqual([s.home.score, s.away.score, s.period, s.clock], [42, 43, "Q4", "00:04:59"]);
  assert.equal(s.override.active, false);
});
