// Unit tests for feed.js's pure parts (the state reducer, the override fold, the clock text),
// run by `node --test tests/js/` (tests/test_js.py). feed.js is an ES module that reads the
// generated contract from globalThis, as the page does after loading contract.js.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const { pathToFileURL } = require("node:url");

const STATIC = path.resolve(__dirname, "..", "..", "static");
globalThis.ShotfeedContract = require(path.join(STATIC, "contract.js"));
const load = () => import(pathToFileURL(path.join(STATIC, "feed.js")).href);

test("AUTOMATIC and EVENT_TYPES come from the contract", async () => {
  const f = await load();
  assert.deepEqual([...f.AUTOMATIC], globalThis.ShotfeedContract.automaticTypes);
  assert.ok(f.EVENT_TYPES.includes("override"));
});

test("a clock event shows the server's clock text", async () => {
  const f = await load();
  const s = f.emptyState("g1");
  f.applyEvent(s, { type: "clock", at: 1000, data: { clock: "00:00:09.5", running: true } });
  assert.equal(s.clockDisplay, "0:09.5");
  assert.equal(s.clockRunning, true);
  assert.equal(s.clockAt, 1000);
  f.applyEvent(s, { type: "clock", at: 2000, data: { clock: "01:02:03", running: false } });
  assert.equal(s.clockDisplay, "01:02:03");
  assert.equal(s.clockRunning, false);
});

test("score and period events fold into the state", async () => {
  const f = await load();
  const s = f.emptyState("g1");
  f.applyEvent(s, { type: "score_update", at: 1, data: { home: 10, away: 7 } });
  assert.equal(s.home.score, 10);
  assert.equal(s.away.score, 7);
  assert.equal(s.leader, "home");
  f.applyEvent(s, { type: "period_change", at: 2, data: { to: "OT7" } });
  assert.equal(s.period, "OT7");
  assert.equal(s.periodShort, "7OT");
});

test("period helpers and the running clock's format", async () => {
  const f = await load();
  assert.equal(f.periodLabel("OT7"), "7th Overtime");
  assert.equal(f.periodLabel("X9"), "X9");
  assert.equal(f.formatClock(3723), "01:02:03");
  assert.equal(f.formatClock(65), "1:05");
  assert.equal(f.parseClock("00:09.5"), 9.5);
  assert.equal(f.parseClock("nope"), null);
});

test("an override event lays its fields over upstream values, and its clock stands still", async () => {
  const f = await load();
  const s = f.emptyState("g1");
  f.applyEvent(s, { type: "score_update", at: 1, data: { home: 10, away: 7 } });
  f.applyEvent(s, {
    type: "override", at: 2,
    data: { active: true, fields: { home: 12, clock: "00:00:09.5" }, upstream: { home: 10, away: 7, period: "Q4", clock: "00:01:00", clockRunning: true } },
  });
  assert.equal(s.home.score, 12);
  assert.equal(s.away.score, 7);
  assert.equal(s.clockDisplay, "0:09.5");
  assert.equal(s.clockRunning, false);
  assert.deepEqual(f.overrideFields(s), { home: 12, clock: "00:00:09.5" });
  assert.equal(s.periodLabel, "4th Quarter");
});
