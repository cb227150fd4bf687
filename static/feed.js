// shotfeed overlay runtime: one small ES module, no build step. Its one dependency is
// static/contract.js (generated from server/core/contract.py), a classic script the page loads
// before this module: event types, period labels and the clock rules come from there.
//
// Written for the Chromium inside OBS (CEF), vMix and CasparCG (Chromium 80 or newer).
// A page does:
//
//   import { createOverlay, text } from "/static/feed.js";
//   const ov = createOverlay({ play() {}, next() {}, stop() {} });
//   ov.feed.on("restore", (state, info) => redraw(state));          // jump, never animate
//   ov.feed.on("score_update", (ev, animate, info) => { ... });      // animate only if told
//   ov.start();
//
// The wire protocol is docs/protocol.md; the rules this module keeps are in docs/overlays.md.

export const PROTOCOL = 1;

/** Event types that put a graphic on air by themselves; the operator may hold or veto them. */
/**
 * The shared contract (static/contract.js, generated from server/core/contract.py) is loaded as
 * a classic script before this module; event types, period labels and the clock display come
 * from it so the page can never disagree with the server.
 */
const CONTRACT = globalThis.ShotfeedContract;

export const AUTOMATIC = Object.freeze(CONTRACT.automaticTypes.slice());
export const EVENT_TYPES = Object.freeze(CONTRACT.eventTypes.slice());
/** What an on-air page subscribes to unless it asks for more (not `stats`, not `suggestion`). */
export const OVERLAY_TYPES = Object.freeze(CONTRACT.overlayTypes.slice());

/** Upstream clock string -> what goes on air, the server's clockDisplay rule (contract.js). */
export const displayClock = CONTRACT.displayClock;

/**
 * A `graphic` shown under the name "test:<type>" (type one of AUTOMATIC) is a rehearsal: pages
 * also get it as a `<type>` event with `test: true` (its payload as data), played by the same
 * rules as the real one (hold and veto included), and it never enters the state.
 */
export const TEST_PREFIX = "test:";

/** No message (heartbeats included) for this long: the connection is dead; reconnect. */
export const WATCHDOG_MS = 30000;
/** Reconnect backoff: full jitter, random(0, min(CAP, BASE * 2^attempt)). */
export const BACKOFF_BASE_MS = 500;
export const BACKOFF_CAP_MS = 10000;
/** An event released this much later than due (a throttled or stalled page) is not animated. */
export const LATE_MS = 3000;
/** The local clock runs at most this far past the last value the server reported. */
export const CLOCK_MAX_LEAD_MS = 1500;
/** A hello's clockAt older than this is taken as this old (a skewed or unknown clock). */
const CLOCK_MAX_AGE_MS = 3000;
const FINAL_STATUSES = new Set(["FINAL", "COMPLETE", "COMPLETED", "ENDED", "CLOSED"]);
const DEFAULT_COLORS = { home: "#2456c9", away: "#c0392b" };

// -- small helpers ----------------------------------------------------------------------------

/**
 * Set an element's text. Every upstream or operator string goes on screen through this (or
 * textContent): it is text, never HTML. null/undefined show as "".
 */
export function text(el, value) {
  if (!el) return;
  const s = value === null || value === undefined ? "" : String(value);
  if (el.textContent !== s) el.textContent = s;
}

/** The page's config: the JSON block the server rendered from the query string. */
export function readConfig(doc = document) {
  const el = doc.getElementById("config");
  let cfg = {};
  if (el) {
    try {
      cfg = JSON.parse(el.textContent || "{}") || {};
    } catch (err) {
      cfg = {};
    }
  }
  return {
    overlay: cfg.overlay || "",
    game: cfg.game || "",
    theme: cfg.theme || "default",
    homeColor: isColor(cfg.homeColor) ? cfg.homeColor : null,
    awayColor: isColor(cfg.awayColor) ? cfg.awayColor : null,
    holdMs: clampInt(cfg.holdMs, 1000, 30000, 4000),
    delayMs: clampInt(cfg.delayMs, 0, 120000, 0),
    autoplay: cfg.autoplay !== false,
    debug: cfg.debug === true,
    key: typeof cfg.key === "string" && cfg.key ? cfg.key : null,
    serverNow: typeof cfg.serverNow === "number" ? cfg.serverNow : null,
    width: cfg.width || 1920,
    height: cfg.height || 1080,
  };
}

export function isColor(value) {
  return typeof value === "string" && /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/.test(value);
}

function clampInt(value, lo, hi, dflt) {
  const n = typeof value === "number" ? value : parseInt(value, 10);
  if (!Number.isFinite(n)) return dflt;
  return Math.max(lo, Math.min(hi, Math.round(n)));
}

function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function clone(v) {
  return v === undefined ? undefined : JSON.parse(JSON.stringify(v));
}

/** "00:15:00" / "15:00" / "0:45" / "45.2" -> seconds, or null (contract.js, as the server). */
export const parseClock = CONTRACT.parseClock;

/**
 * The clock running between polls: `seconds` left, written in the shape of the last upstream
 * clock `like` (same parts, same decimals, rounded up) and displayed as the server would
 * (contract.js): runningClock(599.2, "00:10:00") -> "10:00", runningClock(9.2, "00:00:09.5")
 * -> "0:09.2". null when `like` is not a clock.
 */
export const runningClock = CONTRACT.runningClock;

/** Period code -> scorebug form (contract.js, same as the server): Q3, 2H, OT, 2OT. */
export const periodShort = CONTRACT.periodShort;

export function isFinal(status) {
  return typeof status === "string" && FINAL_STATUSES.has(status.toUpperCase());
}

/** Period code -> label for a person (contract.js, same as the server): "2nd Half", "Overtime". */
export const periodLabel = CONTRACT.periodLabel;

function periodRank(code) {
  const m = new RegExp(CONTRACT.periodPattern).exec(String(code).trim().toUpperCase());
  if (!m) return null;
  const n = m[2] ? parseInt(m[2], 10) : 1;
  return m[1] === "OT" ? 100 + n : n;
}

/**
 * The line score: one column per period in playing order, the regulation periods of the
 * game's format always there (Q1-Q4 or H1-H2, unplayed ones with null points), overtimes and
 * unknown codes as they come. -> [{period, short, home, away, current}].
 */
export function linescore(state) {
  const totals = (state && Array.isArray(state.periodTotals) ? state.periodTotals : []).filter(
    (p) => p && typeof p.period === "string",
  );
  const byCode = new Map();
  for (const p of totals) if (!byCode.has(p.period)) byCode.set(p.period, p);
  const codes = [...byCode.keys()];
  const current = state && typeof state.period === "string" ? state.period : null;
  if (current && !byCode.has(current)) codes.push(current);
  const upper = codes.map((c) => c.trim().toUpperCase());
  const regulation = upper.some((c) => /^Q\d/.test(c)) ? ["Q1", "Q2", "Q3", "Q4"] : upper.some((c) => /^H\d/.test(c)) ? ["H1", "H2"] : [];
  for (const code of regulation) if (!upper.includes(code)) codes.push(code);
  const known = codes.filter((c) => periodRank(c) !== null).sort((a, b) => periodRank(a) - periodRank(b));
  const unknown = codes.filter((c) => periodRank(c) === null);
  return [...known, ...unknown].map((code) => {
    const p = byCode.get(code);
    const pts = (v) => (typeof v === "number" ? v : null);
    return { period: code, short: periodShort(code), home: p ? pts(p.home) : null, away: p ? pts(p.away) : null, current: code === current };
  });
}

/** A team's colour: ?home_color/?away_color, else the server's config, else a default. */
export function teamColor(side, state, config) {
  if (side !== "home" && side !== "away") return null;
  const fromQuery = config && (side === "home" ? config.homeColor : config.awayColor);
  if (isColor(fromQuery)) return fromQuery;
  const fromState = state && state[side] && state[side].color;
  return isColor(fromState) ? fromState : DEFAULT_COLORS[side];
}

/** Black or white, whichever reads better on this #hex colour. */
export function inkFor(color) {
  if (!isColor(color)) return "#ffffff";
  let hex = color.slice(1);
  if (hex.length === 3) hex = hex.replace(/./g, "$&$&");
  const [r, g, b] = [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
  const lin = (c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
  const lum = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  return lum > 0.45 ? "#000000" : "#ffffff";
}

/** Short name for a side: short, else the first word of the name, else HOME/AWAY. */
export function teamShort(side, state) {
  const t = state && state[side];
  if (t && t.short) return t.short;
  if (t && t.name) return String(t.name).split(/\s+/)[0].slice(0, 12).toUpperCase();
  return side === "home" ? "HOME" : side === "away" ? "AWAY" : "";
}

export function teamName(side, state) {
  const t = state && state[side];
  return (t && (t.name || t.short)) || (side === "home" ? "Home" : side === "away" ? "Away" : "");
}

/**
 * The score flash of the scorebug and the arena board: on a live score_update, the side(s)
 * whose score rose flash once (a correction never does). `cellOf(side)` is the element that
 * gets the `flash` class for `ms`. Returns `{ onScore, clear }`: hand `onScore` to
 * `feed.on("score_update", …)`, call `clear` when the page jumps to a restored state.
 */
export function scoreFlash(ov, cellOf, ms) {
  const timers = {};
  function flash(side) {
    const cell = cellOf(side);
    cell.classList.remove("flash");
    void cell.offsetWidth; // restart the animation
    cell.classList.add("flash");
    clearTimeout(timers[side]);
    timers[side] = setTimeout(() => cell.classList.remove("flash"), ms);
  }
  function clear() {
    for (const side of ["home", "away"]) {
      clearTimeout(timers[side]);
      cellOf(side).classList.remove("flash");
    }
  }
  function onScore(ev, animate) {
    const d = ev.data || {};
    if (!animate || !ov.playing || d.correction) return;
    const prev = d.prev || {};
    let rose = false;
    for (const side of ["home", "away"]) {
      if (typeof d[side] === "number" && typeof prev[side] === "number" && d[side] > prev[side]) {
        flash(side);
        rose = true;
      }
    }
    if (rose) ov.markPlayed("score_update", ev.seq);
  }
  return { onScore, clear };
}

// -- state: the hello state, kept current by applying events ----------------------------------

function emptyTeam() {
  return { teamId: null, score: null, name: null, short: null, color: null };
}

function emptyStats() {
  return { fgm: 0, fga: 0, fg3m: 0, fg3a: 0 };
}

export function emptyState(game = null) {
  return normalizeState({ game });
}

/** Fill in what a partial state lacks, so pages never test for missing objects. */
export function normalizeState(st) {
  const s = isObject(st) ? st : {};
  for (const side of ["home", "away"]) s[side] = Object.assign(emptyTeam(), isObject(s[side]) ? s[side] : {});
  if (!isObject(s.stats)) s.stats = {};
  for (const k of ["home", "away", "unknown"]) s.stats[k] = Object.assign(emptyStats(), s.stats[k] || {});
  if (!Array.isArray(s.recent)) s.recent = [];
  if (!Array.isArray(s.periodTotals)) s.periodTotals = [];
  if (!isObject(s.autofire)) s.autofire = {};
  if (!isObject(s.graphics)) s.graphics = {};
  if (!isObject(s.feed)) s.feed = { ok: true, error: null, message: null, lastSuccessAt: null };
  if (!isObject(s.roster)) s.roster = {};
  s.held = s.held === true;
  if (!isObject(s.override)) s.override = null;
  if (typeof s.seq !== "number") s.seq = 0;
  for (const k of ["game", "status", "period", "periodLabel", "periodShort", "clock", "clockDisplay", "clockAt", "leader"]) {
    if (s[k] === undefined) s[k] = null;
  }
  if (s.periodShort === null && s.period) s.periodShort = periodShort(s.period);
  if (s.clockDisplay === null && typeof s.clock === "string") s.clockDisplay = displayClock(s.clock);
  s.clockRunning = s.clockRunning === true;
  return s;
}

function leaderOf(home, away) {
  if (typeof home !== "number" || typeof away !== "number") return null;
  return home > away ? "home" : away > home ? "away" : "tie";
}

function countShot(state, shot, sign) {
  if (!isObject(shot)) return;
  const row = state.stats[shot.team === "home" || shot.team === "away" ? shot.team : "unknown"];
  row.fga += sign;
  if (shot.made) row.fgm += sign;
  if (shot.three) {
    row.fg3a += sign;
    if (shot.made) row.fg3m += sign;
  }
}

/**
 * Fold one event into a state (in place), as the server's own state moves. Types a page does
 * not know leave it as it is.
 */
export function applyEvent(state, ev) {
  const d = isObject(ev.data) ? ev.data : {};
  switch (ev.type) {
    case "score_update":
      if (typeof d.home === "number") state.home.score = d.home;
      if (typeof d.away === "number") state.away.score = d.away;
      state.leader = d.leader || leaderOf(state.home.score, state.away.score);
      if (typeof d.home === "number") trackUpstream(state, { home: d.home });
      if (typeof d.away === "number") trackUpstream(state, { away: d.away });
      break;
    case "period_change":
      if (d.to !== undefined) trackUpstream(state, { period: d.to });
      state.period = d.to === undefined ? state.period : d.to;
      state.periodLabel = d.label || d.to || null;
      state.periodShort = periodShort(d.to);
      if (Array.isArray(d.periodTotals)) {
        state.periodTotals = d.periodTotals.map((p) => ({ period: p.period, home: p.home, away: p.away }));
      }
      break;
    case "clock":
      state.clock = d.clock === undefined ? state.clock : d.clock;
      state.clockDisplay = state.clock === null ? null : displayClock(state.clock);
      state.clockRunning = d.running !== false;
      state.clockAt = typeof ev.at === "number" ? ev.at : Date.now();
      if (d.period) state.period = d.period;
      trackUpstream(state, Object.assign(
        { clock: state.clock, clockRunning: state.clockRunning, clockAt: state.clockAt },
        d.period ? { period: d.period } : {},
      ));
      break;
    case "game_status":
      state.status = d.to === undefined ? state.status : d.to;
      break;
    case "feed_status":
      state.feed = {
        ok: d.ok !== false,
        error: d.error || null,
        message: d.message || null,
        lastSuccessAt: d.ok !== false ? ev.at || state.feed.lastSuccessAt : state.feed.lastSuccessAt,
      };
      break;
    case "config":
      for (const side of ["home", "away"]) {
        if (isObject(d[side])) {
          for (const k of ["teamId", "name", "short", "color"]) {
            if (k in d[side]) state[side][k] = d[side][k];
          }
        }
      }
      if (isObject(d.roster)) state.roster = clone(d.roster);
      break;
    case "stats":
      // the whole splits document, as GET …/stats and hello's state.splits carry it
      if (isObject(d.teams) && Array.isArray(d.players)) state.splits = clone(d);
      break;
    case "hold":
      state.held = d.held === true;
      if (isObject(d.autofire)) state.autofire = Object.assign({}, d.autofire);
      break;
    case "graphic":
      if (typeof d.name === "string" && d.name.startsWith(TEST_PREFIX)) break; // a rehearsal moment
      if (d.action === "clear") state.graphics = {};
      else if (d.action === "show" && d.name != null) state.graphics[d.name] = d.payload || {};
      else if (d.action === "hide" && d.name != null) delete state.graphics[d.name];
      break;
    case "shot":
      if (d.key != null) {
        state.recent = [clone(d), ...state.recent.filter((s) => s.key !== d.key)].slice(0, 10);
        countShot(state, d, +1);
      }
      break;
    case "shot_update":
      if (d.key != null) {
        state.recent = state.recent.map((s) => (s.key === d.key ? clone(d.after) : s));
        countShot(state, d.before, -1);
        countShot(state, d.after, +1);
      }
      break;
    case "shot_removed":
      if (d.key != null) {
        state.recent = state.recent.filter((s) => s.key !== d.key);
        countShot(state, d.before, -1);
      }
      break;
    case "override":
      state.override = {
        active: d.active === true,
        fields: isObject(d.fields) ? clone(d.fields) : {},
        upstream: isObject(d.upstream)
          ? clone(d.upstream)
          : isObject(state.override) && isObject(state.override.upstream) ? state.override.upstream : {},
        canUndo: d.canUndo === true,
      };
      imposeOverride(state);
      break;
    default:
      break; // made_three (its shot came first), scoring_run, hot_hand: no state of their own
  }
  // the operator's override wins over what upstream just said (kept in override.upstream)
  if (OVERRIDABLE.includes(ev.type) && Object.keys(overrideFields(state)).length) imposeOverride(state);
  return state;
}

// -- the operator's manual override (see docs/protocol.md, "Manual override") -----------------

/** Event types whose values an override covers: score_update, period_change, clock. */
const OVERRIDABLE = ["score_update", "period_change", "clock"];

/** What the operator overrides now: a subset of {home, away, period, clock}; {} when none. */
export function overrideFields(state) {
  const o = state && state.override;
  return isObject(o) && o.active === true && isObject(o.fields) ? o.fields : {};
}

/** Is any of these fields overridden now? */
export function overridden(state, ...names) {
  const f = overrideFields(state);
  return names.some((n) => f[n] !== undefined && f[n] !== null);
}

function trackUpstream(state, patch) {
  if (!isObject(state.override)) return;
  if (!isObject(state.override.upstream)) state.override.upstream = {};
  Object.assign(state.override.upstream, patch);
}

/** Show the override where there is one and the upstream's values elsewhere. */
function imposeOverride(state) {
  const o = state.override;
  if (!isObject(o)) return;
  const f = overrideFields(state);
  const up = isObject(o.upstream) ? o.upstream : {};
  const pick = (k) => (f[k] !== undefined && f[k] !== null ? f[k] : up[k] === undefined ? null : up[k]);
  state.home.score = pick("home");
  state.away.score = pick("away");
  state.leader = leaderOf(state.home.score, state.away.score);
  const period = pick("period");
  state.period = period;
  state.periodShort = periodShort(period);
  state.periodLabel = periodLabel(period);
  state.clock = pick("clock");
  state.clockDisplay = state.clock === null ? null : displayClock(state.clock);
  if (f.clock !== undefined && f.clock !== null) {
    state.clockRunning = false; // an overridden clock stands still until it is cleared
  } else {
    state.clockRunning = up.clockRunning === true;
    if (typeof up.clockAt === "number") state.clockAt = up.clockAt;
  }
}

/** The rehearsal event a "test:<type>" graphic stands for, or null. */
export function testEvent(msg) {
  if (!msg || msg.type !== "graphic") return null;
  const d = isObject(msg.data) ? msg.data : {};
  if (d.action !== "show" || typeof d.name !== "string" || !d.name.startsWith(TEST_PREFIX)) return null;
  const type = d.name.slice(TEST_PREFIX.length);
  if (!AUTOMATIC.includes(type)) return null;
  const data = isObject(d.payload) ? clone(d.payload) : {};
  return { seq: msg.seq, type, game: msg.game, at: msg.at, data, test: true };
}

/** Merge a partial state (CasparCG update()) into a state: team objects field by field. */
function mergeState(state, patch) {
  for (const [k, v] of Object.entries(patch)) {
    if (["home", "away", "autofire", "graphics", "feed", "stats"].includes(k) && isObject(v) && isObject(state[k])) {
      Object.assign(state[k], clone(v));
    } else {
      state[k] = clone(v);
    }
  }
  if ("period" in patch && !("periodShort" in patch)) state.periodShort = periodShort(state.period);
  if ("clock" in patch && !("clockDisplay" in patch)) {
    state.clockDisplay = state.clock == null ? null : displayClock(state.clock);
  }
  return normalizeState(state);
}

// -- the feed ---------------------------------------------------------------------------------

/**
 * One game's live state over the WebSocket. Listeners:
 *   on("<event type>", fn(event, animate, info))   each event, once, in seq order
 *   on("*", fn(event, animate, info))              every event
 *   on("restore", fn(state, info))                  jump to this state without animating
 *                                                    (info.reason: hello | visible | update)
 *   on("change", fn(state, eventOrNull))            after every change of state
 *   on("connection", fn(connected, why))            for debug displays only, never on air
 * info: {source: "live" | "replay" | "stale" | "update", why: "live" | "replay" | "stale" |
 *        "late" | "hidden" | "held" | "vetoed" | "override" | "update", test?: true}.
 * "override": a score_update / period_change whose value the operator overrides (not on air).
 * A rehearsal graphic "test:<type>" also reaches the <type> and "*" listeners as an event with
 * `test: true` (same seq as its graphic); it is never folded into the state.
 */
export class Feed {
  constructor(config, options = {}) {
    this.config = config;
    this.game = config.game;
    this.delayMs = clampInt(config.delayMs, 0, 120000, 0);
    this.state = emptyState(config.game);
    this.hasState = false;
    this.connected = false;
    this.lastSeq = 0; // highest event seq received: no event is handled twice
    this.helloSeq = null; // seq of the last hello received
    this.listeners = new Map();
    this.queue = []; // messages waiting out delay_ms
    this.timer = null;
    this.ws = null;
    this.attempt = 0;
    this.retryTimer = null;
    this.watchdog = null;
    this.closed = false;
    this.started = false;
    this.hidden = typeof document !== "undefined" && document.visibilityState === "hidden";
    this.obsVisible = true;
    this.obsActive = true;
    this.offsets = []; // samples of (browser clock - server clock), ms
    this.clock = { seconds: null, at: 0, running: false };
    // counters for the debug panel and tests; live/replay/stale/update count handled events
    this.stats = { connects: 0, messages: 0, lastMessageAt: null, lastClose: null, live: 0, replay: 0, stale: 0, update: 0 };
    this.log = [];
    this.WebSocket = options.WebSocket || globalThis.WebSocket;
    // The event types to subscribe to (the `types` query); null: every type.
    this.types = Array.isArray(options.types) ? options.types.slice() : null;
    if (typeof config.serverNow === "number") this._offset(Date.now() - config.serverNow);
  }

  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return () => this.listeners.get(type).delete(fn);
  }

  _emit(type, ...args) {
    const set = this.listeners.get(type);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(...args);
      } catch (err) {
        // one broken listener must not stop the feed (and it shows up in the console)
        console.error(`shotfeed: ${type} listener failed`, err);
      }
    }
  }

  note(line) {
    this.log.push(`${new Date().toISOString().slice(11, 19)} ${line}`);
    if (this.log.length > 8) this.log.shift();
  }

  /** Whether an animation now would be seen: the page and the OBS source are visible. */
  onAir() {
    return !this.hidden && this.obsVisible !== false;
  }

  // -- connection -----------------------------------------------------------------------------

  start() {
    if (this.started || this.closed) return;
    this.started = true;
    if (!this.game) {
      this.note("no game: waiting for update()");
      return;
    }
    this._connect();
  }

  close() {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.watchdog);
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close();
    this._setConnected(false, "closed");
  }

  /** The `since` to resume from: everything up to it is in hand (received, maybe delayed). */
  since() {
    return this.helloSeq === null ? null : Math.max(this.lastSeq, this.helloSeq);
  }

  url() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const q = new URLSearchParams();
    const since = this.since();
    if (since !== null) q.set("since", String(since));
    if (this.types) q.set("types", this.types.join(","));
    if (this.config.key) q.set("key", this.config.key);
    const qs = q.toString();
    return `${proto}//${location.host}/ws/games/${encodeURIComponent(this.game)}${qs ? `?${qs}` : ""}`;
  }

  _connect() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.closed) return;
    let ws;
    try {
      ws = new this.WebSocket(this.url());
    } catch (err) {
      this.note(`connect failed: ${err && err.message}`);
      this._retry();
      return;
    }
    this.ws = ws;
    ws.onmessage = (e) => {
      if (ws === this.ws) this._receive(e.data);
    };
    ws.onclose = (e) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.stats.lastClose = e.code;
      this._setConnected(false, `closed ${e.code}${e.reason ? ` ${e.reason}` : ""}`);
      this._retry();
    };
    ws.onerror = () => {}; // a close follows
    this._kick(); // the watchdog also covers a connect that hangs
  }

  _kick() {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => this._stalled(), WATCHDOG_MS);
  }

  _stalled() {
    const ws = this.ws;
    this.ws = null;
    this._setConnected(false, `no message for ${WATCHDOG_MS / 1000} s`);
    if (ws) {
      try {
        ws.close();
      } catch (err) {
        /* already gone */
      }
    }
    this._retry();
  }

  _retry() {
    clearTimeout(this.watchdog);
    if (this.closed || this.retryTimer) return;
    const cap = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(this.attempt, 20));
    const wait = Math.random() * cap; // full jitter
    this.attempt += 1;
    this.retryTimer = setTimeout(() => this._connect(), wait);
  }

  _setConnected(up, why) {
    if (this.connected === up) return;
    this.connected = up;
    this.note(up ? "connected" : `disconnected: ${why}`);
    this._emit("connection", up, why);
  }

  _offset(sample) {
    this.offsets.push(sample);
    if (this.offsets.length > 16) this.offsets.shift();
  }

  /** Best estimate of (browser clock - server clock), ms; null when unknown. */
  offset() {
    return this.offsets.length ? Math.min(...this.offsets) : null;
  }

  // -- receiving: every message waits out delay_ms, then is handled in order -------------------

  _receive(raw) {
    this._kick();
    this.stats.messages += 1;
    this.stats.lastMessageAt = Date.now();
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch (err) {
      return;
    }
    if (!isObject(msg) || typeof msg.type !== "string") return;
    if (msg.type === "heartbeat" || msg.type === "pong" || msg.type === "subscribed") return;
    if (msg.type === "error") {
      this.note(`server: ${String(msg.message).slice(0, 120)}`);
      return;
    }
    if (msg.type === "hello") {
      this.helloSeq = typeof msg.seq === "number" ? msg.seq : 0;
      if (this.helloSeq < this.lastSeq) {
        // the server's log is behind what this page saw (a new store): start over from it,
        // or every event it sends from now on would look like one already handled
        this.note(`server log restarted at seq ${this.helloSeq}`);
        this.lastSeq = this.helloSeq;
      }
      this.attempt = 0;
      this.stats.connects += 1;
      this._setConnected(true, "hello");
      if (msg.protocol !== PROTOCOL) this.note(`protocol ${msg.protocol}, this page speaks ${PROTOCOL}`);
    } else {
      if (typeof msg.seq !== "number") return;
      if (msg.seq <= this.lastSeq) return; // never the same event twice
      this.lastSeq = msg.seq;
      if (!msg.replay && !msg.stale && typeof msg.at === "number") this._offset(Date.now() - msg.at);
    }
    const item = { msg, recvAt: Date.now(), due: performance.now() + this.delayMs };
    if (this.delayMs <= 0 && this.queue.length === 0) {
      this._handle(item, 0);
    } else {
      this.queue.push(item);
      this._pump();
    }
  }

  _pump() {
    clearTimeout(this.timer);
    this.timer = null;
    while (this.queue.length && this.queue[0].due <= performance.now()) {
      const item = this.queue.shift();
      this._handle(item, performance.now() - item.due);
    }
    if (this.queue.length) {
      this.timer = setTimeout(() => this._pump(), Math.max(0, this.queue[0].due - performance.now()));
    }
  }

  _handle(item, lateMs) {
    const { msg } = item;
    if (msg.type === "hello") {
      this._hello(msg, item.recvAt);
      return;
    }
    const source = msg.replay ? "replay" : msg.stale ? "stale" : "live";
    this._event(msg, source, lateMs);
  }

  _hello(msg, recvAt) {
    const st = normalizeState(isObject(msg.state) ? clone(msg.state) : { game: this.game });
    st.seq = Math.max(st.seq || 0, typeof msg.seq === "number" ? msg.seq : 0);
    this.state = st;
    this.hasState = true;
    this._anchorFromState(recvAt);
    this.restore("hello", { gap: msg.gap === true });
  }

  _event(msg, source, lateMs) {
    const seq = typeof msg.seq === "number" ? msg.seq : null;
    // hello.state already holds everything up to its seq: a replayed event at or below it
    // is told to listeners (silently) but not folded in again.
    if (seq === null || seq > this.state.seq) {
      applyEvent(this.state, msg);
      if (seq !== null) this.state.seq = seq;
      if (msg.type === "clock") this._anchorClock(parseClock(this.state.clock), this.state.clockRunning, 0);
      else if (msg.type === "override") this._anchorFromState(Date.now());
      this.hasState = true;
    }
    this.stats[source] += 1;
    const why = this._why(msg, source, lateMs);
    const animate = why === "live";
    const info = { source, why };
    this._emit(msg.type, msg, animate, info);
    this._emit("*", msg, animate, info);
    const test = testEvent(msg);
    if (test) {
      const tWhy = this._why(test, source, lateMs);
      const tInfo = { source, why: tWhy, test: true };
      this._emit(test.type, test, tWhy === "live", tInfo);
      this._emit("*", test, tWhy === "live", tInfo);
    }
    this._emit("change", this.state, msg);
  }

  _why(msg, source, lateMs) {
    if (source !== "live") return source;
    if (lateMs > LATE_MS) return "late";
    if (!this.onAir()) return "hidden";
    if (AUTOMATIC.includes(msg.type)) {
      if (this.state.held) return "held";
      if (this.state.autofire[msg.type] === false) return "vetoed";
      // an upstream score or period the override hides from air must not flash or play a banner
      if (msg.type === "score_update" && overridden(this.state, "home", "away")) return "override";
      if (msg.type === "period_change" && overridden(this.state, "period")) return "override";
    }
    return "live";
  }

  /** Would an automatic graphic of this type play now (not held, not vetoed)? */
  armed(type) {
    return !this.state.held && this.state.autofire[type] !== false;
  }

  // -- restore ------------------------------------------------------------------------------

  /** Tell pages to jump to the current state without animating. */
  restore(reason, extra = {}) {
    if (!this.hasState) return;
    this._emit("restore", this.state, Object.assign({ reason }, extra));
    this._emit("change", this.state, null);
  }

  setHidden(hidden) {
    const was = this.onAir();
    this.hidden = hidden;
    if (!was && this.onAir()) this.restore("visible");
  }

  setObsVisible(visible) {
    const was = this.onAir();
    this.obsVisible = visible;
    if (!was && this.onAir()) this.restore("visible");
  }

  setObsActive(active) {
    const was = this.obsActive;
    this.obsActive = active;
    if (!was && active) this.restore("visible");
  }

  // -- the game clock, run locally between polls ---------------------------------------------

  _anchorFromState(recvAt) {
    const st = this.state;
    let age = 0;
    const off = this.offset();
    if (st.clockRunning && typeof st.clockAt === "number") {
      const serverNow = off === null ? recvAt : recvAt - off;
      age = Math.max(0, Math.min(CLOCK_MAX_AGE_MS, serverNow - st.clockAt));
    }
    this._anchorClock(parseClock(st.clock), st.clockRunning, age);
  }

  _anchorClock(seconds, running, ageMs) {
    this.clock = { seconds, at: performance.now() - ageMs, running: running && seconds !== null };
  }

  /** The game clock now, in seconds (fractional), or null when unknown. */
  clockSeconds(now = performance.now()) {
    const c = this.clock;
    if (c.seconds === null) return null;
    if (!c.running) return c.seconds;
    const lead = Math.min(Math.max(now - c.at, 0), CLOCK_MAX_LEAD_MS) / 1000;
    return Math.max(0, c.seconds - lead);
  }

  /**
   * The game clock as a scorebug shows it. Stopped (or not a clock): the server's clockDisplay,
   * exactly. Running: runningClock() of the locally run seconds, so "9:58" between polls and,
   * at the moment of a poll, the same text as clockDisplay.
   */
  clockText(now = performance.now()) {
    const s = this.clockSeconds(now);
    if (s === null || !this.clock.running) return this.state.clockDisplay || this.state.clock || "";
    return runningClock(s, this.state.clock) || this.state.clockDisplay || this.state.clock || "";
  }

  // -- CasparCG update() and tests: feed a message or state in directly -----------------------

  /**
   * Take a hello message, one event ({type, data}) or a (partial) state object, at once and
   * without the WebSocket. Never animates by itself: listeners get animate=false and
   * info.source "update".
   */
  ingest(input) {
    if (!isObject(input)) return false;
    if (input.type === "hello") {
      this._hello(input, Date.now());
      return true;
    }
    if (typeof input.type === "string" && "data" in input) {
      const ev = Object.assign({}, input);
      if (typeof ev.seq === "number" && ev.seq <= this.state.seq) delete ev.seq;
      this._event(ev, "update", 0);
      return true;
    }
    const patch = isObject(input.state) ? input.state : input;
    mergeState(this.state, patch);
    this.hasState = true;
    if ("clock" in patch || "clockRunning" in patch || "clockAt" in patch) this._anchorFromState(Date.now());
    this.restore("update");
    return true;
  }
}

// -- the page around a feed -------------------------------------------------------------------

/** Parse what CasparCG (or anyone) hands update(): a JSON string or an object. */
export function parseUpdate(data) {
  if (isObject(data)) return data;
  if (typeof data !== "string" || !data.trim()) return null;
  try {
    const v = JSON.parse(data);
    return isObject(v) ? v : null;
  } catch (err) {
    console.warn("shotfeed: update() takes JSON; got something else");
    return null;
  }
}

function fitStage(stage, config) {
  const w = window.innerWidth || config.width;
  const h = window.innerHeight || config.height;
  const scale = Math.min(w / config.width, h / config.height);
  stage.style.transform = Math.abs(scale - 1) < 0.001 ? "" : `scale(${scale})`;
}

/**
 * Wire a page up: theme, team colours, stage scaling, the CasparCG functions, OBS source
 * events, page visibility, the debug panel, and a Feed. `spec` may give play/next/stop (the
 * page's part of the CasparCG calls; `overlay.playing` is already set when they run), and
 * `feedOptions.types`: the event types to subscribe to (default OVERLAY_TYPES).
 * Register feed listeners, then call overlay.start().
 */
export function createOverlay(spec = {}) {
  const config = spec.config || readConfig();
  const root = document.documentElement;
  root.classList.add("sf-loading", `theme-${config.theme || "default"}`);
  const stage = document.getElementById("stage") || document.body;
  // An overlay gets the on-air types unless its spec asks for others (e.g. "stats" too).
  const feed = new Feed(config, Object.assign({ types: OVERLAY_TYPES }, spec.feedOptions || {}));

  const overlay = {
    config,
    feed,
    /** false after CasparCG stop() (or with ?autoplay=0 until play()): nothing plays. */
    playing: config.autoplay !== false,
    /** Every animation the page started: {type, id, at}. For the debug panel and tests. */
    played: [],
    markPlayed(type, id) {
      overlay.played.push({ type, id: id === undefined ? null : id, at: Date.now() });
      if (overlay.played.length > 200) overlay.played.shift();
      feed.note(`played ${type} ${id === undefined ? "" : id}`);
    },
    /** Run fn with every transition and animation off: the page jumps, nothing moves. */
    jump(fn) {
      root.classList.add("sf-instant");
      try {
        fn();
      } finally {
        void stage.offsetWidth; // commit the new styles while transitions are off
        root.classList.remove("sf-instant");
      }
    },
    color(side) {
      return teamColor(side, feed.state, config);
    },
    start() {
      feed.start();
    },
  };

  const applyColors = () => {
    for (const side of ["home", "away"]) {
      const c = teamColor(side, feed.state, config);
      root.style.setProperty(`--${side}-color`, c);
      root.style.setProperty(`--${side}-ink`, inkFor(c));
    }
  };
  applyColors();
  feed.on("change", applyColors);

  // CasparCG template functions (also handy from a vMix script or a console).
  window.update = (data) => {
    const msg = parseUpdate(data);
    if (msg) feed.ingest(msg);
  };
  window.play = () => {
    overlay.playing = true;
    if (spec.play) spec.play(overlay);
  };
  window.next = () => {
    if (spec.next) spec.next(overlay);
  };
  window.stop = () => {
    overlay.playing = false;
    if (spec.stop) spec.stop(overlay);
  };
  window.remove = window.stop; // CasparCG's CG REMOVE: an HTML layer stays loaded, so: stop

  // OBS browser source: back on screen -> jump to the current state, play no backlog.
  window.addEventListener("obsSourceVisibleChanged", (e) => feed.setObsVisible(!!(e.detail && e.detail.visible)));
  window.addEventListener("obsSourceActiveChanged", (e) => feed.setObsActive(!!(e.detail && e.detail.active)));
  document.addEventListener("visibilitychange", () => feed.setHidden(document.visibilityState === "hidden"));

  const fit = () => fitStage(stage, config);
  fit();
  window.addEventListener("resize", fit);

  // Show nothing until the fonts are in, but never wait more than 2 s for them.
  let revealed = false;
  const reveal = () => {
    root.classList.remove("sf-loading");
    revealed = true;
    markPainted();
  };
  const fonts = document.fonts && document.fonts.ready ? document.fonts.ready : Promise.resolve();
  Promise.race([fonts, new Promise((r) => setTimeout(r, 2000))]).then(reveal, reveal);

  // performance.mark("shotfeed:painted") once the first state is on screen (revealed, drawn,
  // and a frame later): what bench/overlays.py reads as "time to state".
  let painted = false;
  function markPainted() {
    if (painted || !revealed || !feed.hasState) return;
    painted = true;
    requestAnimationFrame(() => setTimeout(() => performance.mark("shotfeed:painted"), 0));
  }
  feed.on("restore", markPainted);

  if (config.debug) debugPanel(overlay);
  window.shotfeed = overlay;
  return overlay;
}

function debugPanel(overlay) {
  const { feed, config } = overlay;
  const panel = document.createElement("div");
  panel.id = "sf-debug";
  const status = document.createElement("div");
  const body = document.createElement("div");
  panel.append(status, body);
  document.body.appendChild(panel);
  const draw = () => {
    status.className = feed.connected ? "sf-up" : "sf-down";
    text(status, feed.connected ? "● connected" : "● disconnected");
    const age = feed.stats.lastMessageAt ? ((Date.now() - feed.stats.lastMessageAt) / 1000).toFixed(1) : "–";
    const last = overlay.played[overlay.played.length - 1];
    text(
      body,
      [
        `${config.overlay} · game ${config.game}`,
        `seq ${feed.state.seq} · received ${feed.since() ?? "–"} · last msg ${age} s ago`,
        `delay ${config.delayMs} ms · queued ${feed.queue.length} · connects ${feed.stats.connects}`,
        `held ${feed.state.held} · playing ${overlay.playing} · on air ${feed.onAir()}`,
        `played ${overlay.played.length}${last ? ` · last ${last.type} ${last.id ?? ""}` : ""}`,
        ...feed.log,
      ].join("\n"),
    );
  };
  draw();
  setInterval(draw, 500);
}
