// The game clock a page runs between polls (Feed.clockSeconds / clockText), anchored on the
// state's clock, clockRunning and clockAt. Run by `node --test tests/js/`.
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { loadFeed } = require("./_load.js");

async function feedWith(state) {
  const f = await loadFeed();
  const feed = new f.Feed({ game: "g1", delayMs: 0 });
  feed.ingest({ type: "hello", game: "g1", seq: 1, state });
  return { f, feed };
}

test("a stopped clock shows the server's clockDisplay and does not move", async () => {
  const { feed } = await feedWith({ clock: "00:00:09.5", clockDisplay: "0:09.5", clockRunning: false, clockAt: Date.now() - 60000 });
  const t = performance.now();
  assert.equal(feed.clockSeconds(t), 9.5);
  assert.equal(feed.clockSeconds(t + 5000), 9.5);
  assert.equal(feed.clockText(t + 5000), "0:09.5");
});

test("a running clock counts down from clockAt, in the upstream's shape", async () => {
  const { feed } = await feedWith({ clock: "00:10:00", clockRunning: true, clockAt: Date.now() - 1000 });
  const s = feed.clockSeconds(performance.now());
  assert.ok(s > 598.5 && s <= 599.0, `expected about 599 s left, got ${s}`);
  assert.equal(feed.clockText(performance.now()), "9:59");
  // never more than CLOCK_MAX_LEAD_MS past what the server said
  assert.equal(feed.clockSeconds(performance.now() + 60000), 600 - 1.5);
});

test("a clockAt far in the past (skew) still runs at most 1.5 s", async () => {
  const { f, feed } = await feedWith({ clock: "00:10:00", clockRunning: true, clockAt: Date.now() - 3600000 });
  assert.equal(f.CLOCK_MAX_LEAD_MS, 1500);
  assert.equal(feed.clockSeconds(performance.now()), 598.5);
  assert.equal(feed.clockText(performance.now()), "9:59");
});

test("tenths run as tenths, rounded up, and read as the server at the moment of a poll", async () => {
  const { feed } = await feedWith({ clock: "00:00:20", clockRunning: false });
  feed.ingest({ type: "clock", data: { clock: "00:00:09.5", running: true } });
  const at = feed.clock.at;
  assert.equal(feed.clockText(at), "0:09.5");
  assert.equal(feed.clockText(at + 300), "0:09.2");
  assert.equal(feed.clockText(at + 250), "0:09.3");
  assert.equal(feed.clockText(at + 99999), "0:08.0");
  // a clock event with running: false stops it at the server's text
  feed.ingest({ type: "clock", data: { clock: "00:00:08.1", running: false } });
  assert.equal(feed.clockText(feed.clock.at + 5000), "0:08.1");
});

test("whole seconds round up; hours keep two digits until they are dropped", async () => {
  const { feed } = await feedWith({ clock: "01:00:00", clockRunning: false });
  feed.ingest({ type: "clock", data: { clock: "01:00:00", running: true } });
  assert.equal(feed.clockText(feed.clock.at), "01:00:00");
  assert.equal(feed.clockText(feed.clock.at + 400), "01:00:00");
  assert.equal(feed.clockText(feed.clock.at + 1400), "59:59");
});

test("a clock that is not a clock is shown as text and never runs", async () => {
  const { feed } = await feedWith({ clock: "HALFTIME", clockRunning: true, clockAt: Date.now() });
  assert.equal(feed.clockSeconds(), null);
  assert.equal(feed.clockText(performance.now() + 1000), "HALFTIME");
  const empty = await feedWith({ clock: null });
  assert.equal(empty.feed.clockText(), "");
});

test("an overridden clock stands still at the operator's value", async () => {
  const { feed } = await feedWith({ clock: "00:05:00", clockRunning: true, clockAt: Date.now() });
  feed.ingest({ type: "override", data: { active: true, fields: { clock: "00:02:00" }, upstream: { clock: "00:05:00", clockRunning: true, clockAt: Date.now() } } });
  assert.equal(feed.state.clockRunning, false);
  assert.equal(feed.clockText(performance.now() + 5000), "2:00");
});

test("a replayed event at or below the hello's seq is not folded in twice", async () => {
  const f = await loadFeed();
  const feed = new f.Feed({ game: "g1", delayMs: 0 });
  feed.ingest({ type: "hello", game: "g1", seq: 5, state: { seq: 5, home: { score: 10 }, away: { score: 8 } } });
  feed._event({ seq: 5, type: "score_update", replay: true, data: { home: 99, away: 8 } }, "replay", 0);
  assert.equal(feed.state.home.score, 10);
  feed._event({ seq: 6, type: "score_update", data: { home: 12, away: 8 } }, "live", 0);
  assert.deepEqual([feed.state.home.score, feed.state.seq], [12, 6]);
});
