// shotfeed operator console (GET /operator): one page to run a live show.
//
// Reads the game over the WebSocket feed (the same Feed class the overlays use, so the state it
// shows is folded exactly as on air), acts through the operator REST API with the token from
// sessionStorage as a bearer header, and polls the game list (feed health) and the audit log.
// Every text from upstream or an operator goes on screen with textContent, never as HTML.
// No dependencies, no build step. See docs/operator.md.

const cfg = JSON.parse(document.getElementById("console-config").textContent || "{}");
const feedjs = await import(cfg.assets["feed.js"]);
const { Feed, text, teamShort, teamName, overrideFields, TEST_PREFIX } = feedjs;

const TOKEN_KEY = "shotfeed.operatorToken";
const GAME_KEY = "shotfeed.operatorGame";
const PRESETS_KEY = "shotfeed.lowerthirdPresets";
const PREVIEWS_KEY = "shotfeed.previews";
const LOWERTHIRD = "lowerthird";
const THREE = "three";
const LOG_MAX = 1000;
const LOG_SHOWN = 300;
const HISTORY = 200;
const GAMES_EVERY_MS = 2000;
const AUDIT_EVERY_MS = 4000;
const OVERRIDE_FIELDS = ["home", "away", "period", "clock"];
const EVENT_TYPES = [
  "shot", "made_three", "shot_update", "shot_removed", "score_update", "period_change",
  "game_status", "clock", "feed_status", "scoring_run", "hot_hand", "graphic", "hold", "config",
  "override", "stats", "suggestion",
];
// Suggestions (server/core/suggestions.py): its RULES (GET /api/operator's suggestionRules
// when the server sends them), and the hold route's autofire key of a rule. Unlike an automatic
// type, a rule absent from autofire is NOT armed.
const SUGGESTION_RULES = ["scoring_run", "shooting_night", "zone_streak", "longest_make", "guarded_split"];
const AUTOFIRE_PREFIX = "suggestion:";
const SUGGESTION_GONE = ["unknown_suggestion", "suggestion_closed", "suggestion_expired"];
const SUGGESTIONS_EVERY_MS = 500;
// What the compare graphic can show (overlays/compare.html), besides distance.<band>.
const COMPARE_SPLITS = {
  fg: "FG",
  fg3: "3PT",
  points: "points",
  guarded: "guarded",
  unguarded: "unguarded",
  offDribble: "off the dribble",
  catchShoot: "catch and shoot",
};
const FEED_WORDS = {
  forbidden:
    "ShotTracker refused the request (403): the request signature was rejected. Check " +
    "SHOTTRACKER_USERNAME / SHOTTRACKER_SECRET; a server clock more than 5 minutes off does this too.",
  unauthorized: "ShotTracker says we are not authorised (401): check the username and secret.",
  not_found: "ShotTracker does not know this event id (404): check the id, or the game is not set up yet.",
  rate_limited: "ShotTracker is rate-limiting us (429): polling slows down and resumes by itself.",
  upstream_error: "ShotTracker is failing or unreachable (server error, refused or dropped connection). Retrying.",
  timeout: "ShotTracker did not answer in time. Retrying.",
  bad_payload: "ShotTracker sent something that is not the expected data. Retrying; what we had is kept.",
  store_unwritable:
    "The server cannot write its store (disk full or read-only): nothing new is recorded or sent " +
    "to the overlays, and actions are refused. Free disk space or make the store writable; it " +
    "recovers by itself.",
  broker_unavailable:
    "This server cannot reach Redis: overlays stay connected and keep what they show, but " +
    "nothing new reaches them and actions are refused until Redis answers again (retried by " +
    "itself).",
};

const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v == null ? "" : String(v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (v === true) node.setAttribute(k, "");
    else if (v !== false && v != null) node.setAttribute(k, String(v));
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

const S = {
  token: sessionStorage.getItem(TOKEN_KEY),
  operator: null,
  overlayKey: null,
  overlays: cfg.overlays || [],
  automatic: cfg.automatic || [],
  suggestionRules: SUGGESTION_RULES,
  games: [],
  store: null, // /healthz's store: {ok, error, message, since}; null until read
  game: null,
  feed: null,
  log: new Map(), // seq -> {ev, source}
  audit: [],
  clockOffset: typeof cfg.serverNow === "number" ? Date.now() - cfg.serverNow : 0,
  busy: new Set(),
  acted: [], // events the API answered with, until the feed has them too (see view())
  started: false,
  timers: [],
  config: null, // {home, away, roster} of the selected game (GET .../config, then config events)
  configSig: "",
  rosterSig: "",
  suggestions: new Map(), // id -> open suggestion (hello state.suggestions, then suggestion events)
  suggestionsSeq: 0, // the hello's seq: suggestion events up to it are in state.suggestions
  suggestionsClosed: new Set(), // ids closed (an answer can arrive before the feed's event)
  suggestionsPending: new Set(), // ids with an accept / dismiss in flight
  splits: null, // the game's tracking splits (hello state.splits, then stats events)
  playersSig: "",
};

// -- talking to the server --------------------------------------------------------------------

class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function request(method, path, { json, body, type, auth = true } = {}) {
  const headers = {};
  if (auth) {
    if (!S.token) {
      showLogin("Log in to act.");
      throw new HttpError(401, "unauthorized", "not logged in");
    }
    headers.authorization = `Bearer ${S.token}`;
  } else if (S.token) {
    // With SHOTFEED_OVERLAY_KEY a game's read routes (events, config) need the key or a token.
    headers.authorization = `Bearer ${S.token}`;
  }
  let payload;
  if (json !== undefined) {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(json);
  } else if (body !== undefined) {
    headers["content-type"] = type || "text/plain";
    payload = body;
  }
  let r;
  try {
    r = await fetch(path, { method, headers, body: payload, cache: "no-store", credentials: "omit" });
  } catch (err) {
    throw new HttpError(0, "network", "the server did not answer");
  }
  let data = null;
  try {
    data = await r.json();
  } catch (err) {
    data = null;
  }
  if (r.status === 401 && auth) {
    logout("The server refused the token. Enter it again.");
    throw new HttpError(401, "unauthorized", (data && data.message) || "unauthorized");
  }
  if (!r.ok) {
    throw new HttpError(r.status, data && data.error, (data && data.message) || `HTTP ${r.status}`);
  }
  return data;
}

const api = (method, path, opts) => request(method, path, opts);
const get = (path) => request("GET", path, { auth: false });
const gamePath = (suffix = "") => `/api/games/${encodeURIComponent(S.game)}${suffix}`;

function status(message, kind = "") {
  const box = $("status");
  box.className = `status ${kind}`;
  text(box, `${new Date().toLocaleTimeString([], { hour12: false })} · ${message}`);
}

/** Run one operator action: report it, refresh the audit, never throw. */
async function act(label, fn, { key = label } = {}) {
  if (S.busy.has(key)) {
    status(`… still sending the last “${label}”; pressed again, ignored`);
    return null;
  }
  S.busy.add(key);
  try {
    const out = await fn();
    remember(out);
    status(`✓ ${label}`, "ok");
    refreshAudit();
    return out;
  } catch (err) {
    if (err instanceof HttpError && err.status === 401) return null;
    status(`✗ ${label}: ${err.message}`, "bad");
    return null;
  } finally {
    S.busy.delete(key);
  }
}

/**
 * The API answers an action with the event it made, often before the same event arrives on the
 * WebSocket. Keep it until the feed has it, so a second key press (H H, L L) acts on what the
 * server already did, not on a state one event behind.
 */
function remember(out) {
  const list = out && Array.isArray(out.events) ? out.events : out && out.event ? [out.event] : [];
  for (const ev of list) {
    if (!ev || typeof ev.seq !== "number" || ev.game !== S.game) continue;
    S.acted.push({ ev, at: Date.now() });
    if (S.acted.length > 50) S.acted.shift();
  }
  if (list.length) scheduleRender();
}

/** The state as the server has it now: the feed's, plus the answered events it has not yet. */
function view() {
  const st = S.feed && S.feed.hasState ? S.feed.state : null;
  if (!st) return null;
  const now = Date.now();
  S.acted = S.acted.filter((a) => a.ev.seq > st.seq && now - a.at < 10000);
  if (!S.acted.length) return st;
  const v = JSON.parse(JSON.stringify(st));
  for (const a of [...S.acted].sort((x, y) => x.ev.seq - y.ev.seq)) feedjs.applyEvent(v, a.ev);
  return v;
}

// -- log in / out -----------------------------------------------------------------------------

function showLogin(message = "") {
  document.body.classList.remove("booting");
  $("login").hidden = false;
  text($("login-error"), message);
  const input = $("login-token");
  input.value = "";
  setTimeout(() => input.focus(), 0);
}

function logout(message = "") {
  S.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  text($("who"), "");
  showLogin(message);
}

async function login(token) {
  S.token = token;
  let me;
  try {
    me = await api("GET", "/api/operator");
  } catch (err) {
    if (!(err instanceof HttpError && err.status === 401)) {
      S.token = null;
      showLogin(`Could not check the token: ${err.message}`);
    }
    return false;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  S.operator = me.operator;
  S.overlayKey = me.overlayKey || null;
  if (Array.isArray(me.overlays)) S.overlays = me.overlays;
  if (Array.isArray(me.automatic)) S.automatic = me.automatic;
  if (Array.isArray(me.suggestionRules) && me.suggestionRules.every((r) => typeof r === "string")) {
    S.suggestionRules = me.suggestionRules;
    renderSuggestionArms();
  }
  $("login").hidden = true;
  text($("who"), `operator: ${me.operator}`);
  document.body.classList.remove("booting");
  start();
  return true;
}

$("login-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const token = $("login-token").value.trim();
  if (!token) {
    text($("login-error"), "Enter the token.");
    return;
  }
  text($("login-error"), "Checking…");
  login(token);
});

$("logout").addEventListener("click", () => {
  stopFeed();
  logout("Logged out.");
});

// -- games, feed health -----------------------------------------------------------------------

/** The server's clock now: the feed's estimate from the events' `at`, else the page's. */
function serverNow() {
  const off = S.feed ? S.feed.offset() : null;
  return Date.now() - (typeof off === "number" ? off : S.clockOffset);
}

function ago(ms) {
  if (typeof ms !== "number") return "never";
  const s = Math.max(0, Math.round((serverNow() - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s ago`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min ago`;
}

function feedWords(feed) {
  if (!feed) return "";
  if (feed.ok) return "polling normally";
  const words = FEED_WORDS[feed.error] || `failing (${feed.error || "unknown error"})`;
  return feed.message ? `${words} — ${feed.message}` : words;
}

/**
 * The store's health from /healthz (503 while it cannot be written, with the same JSON body).
 * A store that cannot be written concerns every game, also when none is followed, so it has its
 * own banner; a failing store cannot announce itself as a feed_status event (that needs a write).
 */
async function refreshStore() {
  let body = null;
  try {
    const r = await fetch("/healthz", { cache: "no-store", credentials: "omit" });
    body = await r.json();
  } catch (err) {
    return; // unreachable: refreshGames says so
  }
  S.store = body && typeof body.store === "object" ? body.store : null;
  const banner = $("store-banner");
  if (S.store && S.store.ok === false) {
    banner.hidden = false;
    const since = typeof S.store.since === "number" ? ` · since ${ago(S.store.since)}` : "";
    const redis = S.store.error === "broker_unavailable";
    const head = redis ? "REDIS UNREACHABLE" : "STORE CANNOT BE WRITTEN";
    const words = FEED_WORDS[redis ? "broker_unavailable" : "store_unwritable"];
    text(banner, `${head}${since} · ${words} ${S.store.message || ""}`.trim());
  } else {
    banner.hidden = true;
  }
}

async function refreshGames() {
  refreshStore();
  let data;
  try {
    data = await get("/api/games");
  } catch (err) {
    text($("conn"), "server unreachable");
    $("conn").className = "pill down";
    return;
  }
  S.games = Array.isArray(data.games) ? data.games : [];
  const ids = S.games.map((g) => g.id);
  if (!S.game || !ids.includes(S.game)) {
    const wanted = new URLSearchParams(location.hash.slice(1)).get("game") || sessionStorage.getItem(GAME_KEY);
    const next = ids.includes(wanted) ? wanted : ids[0] || null;
    if (next !== S.game) selectGame(next);
  }
  renderGames();
}

/** Keyed rows and tabs, updated in place: a rebuild every 2 s would eat clicks and confirms. */
const gameRows = new Map(); // id -> {tab, row, status, state, words, ago}

function gameRow(id) {
  let r = gameRows.get(id);
  if (r) return r;
  const tab = el("button", { type: "button", text: id, onclick: () => selectGame(id) });
  const status = el("span", { class: "words dim" });
  const state = el("b");
  const words = el("span", { class: "words" });
  const since = el("td", { class: "nowrap" });
  const stop = el("button", { type: "button", class: "warn", text: "Stop" });
  armTwoClick(stop, "Stop?", () =>
    act(`stop following ${id}`, () => api("DELETE", `/api/games/${encodeURIComponent(id)}`)).then(refreshGames),
  );
  const health = el("td", {}, state, words);
  const row = el(
    "tr",
    { dataset: { game: id } },
    el("th", { scope: "row" }, el("button", { type: "button", text: id, onclick: () => selectGame(id) }), status),
    health,
    since,
    el("td", {}, stop),
  );
  r = { tab, row, status, state, words, since, health };
  gameRows.set(id, r);
  return r;
}

function renderGames() {
  const ids = new Set(S.games.map((g) => g.id));
  for (const [id, r] of gameRows) {
    if (!ids.has(id)) {
      r.tab.remove();
      r.row.remove();
      gameRows.delete(id);
    }
  }
  const tabs = $("game-tabs");
  const body = $("games").tBodies[0];
  S.games.forEach((g, i) => {
    const r = gameRow(g.id);
    const feed = g.feed || {};
    const failing = feed.ok === false;
    r.tab.className = failing ? "failing" : "";
    r.tab.setAttribute("aria-current", g.id === S.game ? "true" : "false");
    r.row.setAttribute("aria-current", g.id === S.game ? "true" : "false");
    text(r.status, g.status || "no data yet");
    r.health.className = failing ? "bad" : "ok";
    text(r.state, failing ? "FAILING" : "OK");
    text(r.words, feedWords(feed));
    text(r.since, ago(feed.lastSuccessAt));
    // keep the server's order, moving a node only when it is out of place
    if (tabs.children[i] !== r.tab) tabs.insertBefore(r.tab, tabs.children[i] || null);
    if (body.children[i] !== r.row) body.insertBefore(r.row, body.children[i] || null);
  });
  let empty = tabs.querySelector(".empty");
  if (!S.games.length && !empty) {
    empty = el("span", { class: "dim empty", text: "no game followed: add one →" });
    tabs.append(empty);
  } else if (S.games.length && empty) {
    empty.remove();
  }
  const current = S.games.find((g) => g.id === S.game);
  const banner = $("feed-banner");
  // the store's own banner already says it (refreshStore)
  const storeSaysIt =
    current && current.feed && ["store_unwritable", "broker_unavailable"].includes(current.feed.error);
  if (current && current.feed && current.feed.ok === false && !storeSaysIt) {
    banner.hidden = false;
    text(banner, `FEED FAILING · ${feedWords(current.feed)}`);
  } else {
    banner.hidden = true;
  }
}

/** A button that needs a second click within 3 s (for stopping a game, removing a player). */
function armTwoClick(button, confirmText, fn) {
  let armed = null;
  const label = button.textContent;
  button.addEventListener("click", () => {
    if (armed) {
      clearTimeout(armed);
      armed = null;
      button.textContent = label;
      fn();
      return;
    }
    button.textContent = confirmText;
    armed = setTimeout(() => {
      armed = null;
      button.textContent = label;
    }, 3000);
  });
}

$("follow-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const id = $("follow-id").value.trim();
  if (!id) return;
  const out = await act(`follow ${id}`, () => api("POST", "/api/games", { json: { id } }));
  if (out) {
    $("follow-id").value = "";
    await refreshGames();
    selectGame(id);
  }
});

// -- the selected game: its feed, previews, log ---------------------------------------------

function stopFeed() {
  if (S.feed) S.feed.close();
  S.feed = null;
}

function selectGame(id) {
  if (id === S.game && S.feed) return;
  stopFeed();
  S.game = id;
  S.log.clear();
  S.audit = [];
  S.config = null;
  S.acted = [];
  S.configSig = "";
  S.rosterSig = "";
  S.suggestions.clear();
  S.suggestionsSeq = 0;
  S.suggestionsClosed.clear();
  S.suggestionsPending.clear();
  S.splits = null;
  S.playersSig = "";
  renderSuggestions();
  renderPlayers();
  renderLog();
  renderAudit();
  if (id) {
    sessionStorage.setItem(GAME_KEY, id);
    history.replaceState(null, "", `#game=${encodeURIComponent(id)}`);
  }
  renderGames();
  renderPreviews();
  if (!id) {
    render();
    return;
  }
  const feed = new Feed({ game: id, delayMs: 0, key: S.overlayKey, serverNow: cfg.serverNow });
  S.feed = feed;
  feed.on("*", (ev, animate, info) => {
    if (ev.test) return; // the rehearsal's own graphic event is logged already
    addLog(ev, info.source);
  });
  feed.on("config", (ev) => {
    if (feed === S.feed && ev.data && typeof ev.data === "object") setConfig(ev.data);
  });
  feed.on("restore", (state, info) => {
    if (info.reason === "hello") {
      loadHistory(feed, state.seq);
      loadConfig(feed);
      seedSuggestions(state);
      if (isObj(state.splits)) setSplits(state.splits);
    }
  });
  feed.on("suggestion", (ev) => {
    if (feed !== S.feed || typeof ev.seq !== "number" || ev.seq <= S.suggestionsSeq) return;
    applySuggestion(ev.data);
  });
  feed.on("stats", (ev) => {
    if (feed === S.feed && isObj(ev.data)) setSplits(ev.data);
  });
  feed.on("change", () => scheduleRender());
  feed.on("connection", (up) => {
    const conn = $("conn");
    conn.className = `pill ${up ? "up" : "down"}`;
    text(conn, up ? "● live" : "● reconnecting");
  });
  feed.start();
  refreshAudit();
  refreshVmix(true);
  render();
}

async function loadHistory(feed, seq) {
  if (feed !== S.feed) return;
  const since = Math.max(0, seq - HISTORY);
  let data;
  try {
    data = await get(`/api/games/${encodeURIComponent(feed.game)}/events?since=${since}&limit=${HISTORY}`);
  } catch (err) {
    return;
  }
  if (feed !== S.feed) return;
  for (const ev of data.events || []) if (!S.log.has(ev.seq)) S.log.set(ev.seq, { ev, source: "history" });
  renderLog();
}

async function loadConfig(feed) {
  let data;
  try {
    data = await get(`/api/games/${encodeURIComponent(feed.game)}/config`);
  } catch (err) {
    return;
  }
  if (feed === S.feed) setConfig(data);
}

function setConfig(config) {
  S.config = {
    home: config.home || {},
    away: config.away || {},
    roster: config.roster && typeof config.roster === "object" ? config.roster : {},
  };
  renderSetup();
}

function roster() {
  return (S.config && S.config.roster) || {};
}

function addLog(ev, source) {
  if (typeof ev.seq !== "number") return;
  S.log.set(ev.seq, { ev, source });
  if (S.log.size > LOG_MAX) {
    const oldest = [...S.log.keys()].sort((a, b) => a - b).slice(0, S.log.size - LOG_MAX);
    for (const k of oldest) S.log.delete(k);
  }
  scheduleLog();
}

let logPending = false;
function scheduleLog() {
  if (logPending) return;
  logPending = true;
  requestAnimationFrame(() => {
    logPending = false;
    renderLog();
  });
}

function who(player) {
  if (!player || typeof player !== "object") return "";
  const num = player.number != null && player.number !== "" ? `#${player.number} ` : "";
  return `${num}${player.name || player.id || ""}`.trim();
}

function shortJson(value, max = 90) {
  let s;
  try {
    s = JSON.stringify(value);
  } catch (err) {
    s = String(value);
  }
  if (s === undefined) s = "—";
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** One line for a person: what the event says. */
function summary(ev) {
  const d = ev.data || {};
  switch (ev.type) {
    case "shot":
    case "made_three": {
      const res = d.made ? "made" : "missed";
      return `${d.team || "?"} ${who(d.player) || `pid ${d.pid}`} ${res} ${d.three ? "three" : "two"}${typeof d.distanceFt === "number" ? `, ${d.distanceFt} ft` : ""}`;
    }
    case "shot_update": {
      const a = d.after || {};
      const b = d.before || {};
      const changed = Object.keys(a).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
      return `key ${d.key}: ${changed.join(", ") || "no visible change"}`;
    }
    case "shot_removed":
      return `key ${d.key} removed`;
    case "score_update": {
      const p = d.prev || {};
      return `${p.home ?? "–"}-${p.away ?? "–"} → ${d.home}-${d.away}${d.team ? ` (${d.team})` : ""}${d.leadChange ? " lead change" : ""}${d.correction ? " CORRECTION" : ""}`;
    }
    case "period_change":
      return `${d.from || "–"} → ${d.to} (${d.label || ""})`;
    case "game_status":
      return `${d.from || "–"} → ${d.to}`;
    case "clock":
      return `${d.clock}${d.running === false ? " stopped" : ""}`;
    case "feed_status":
      return d.ok ? "feed OK again" : `feed failing: ${d.error}${d.message ? ` — ${d.message}` : ""}`;
    case "scoring_run":
      return `${d.team} ${Array.isArray(d.run) ? d.run.join("-") : ""} run${d.extended ? " (extended)" : ""}`;
    case "hot_hand":
      return `${who(d.player) || `pid ${d.pid}`} ${d.streak} in a row`;
    case "graphic":
      if (d.action === "clear") return "PANIC: all graphics off";
      return `${d.action} ${d.name}${d.action === "show" ? ` ${shortJson(d.payload, 70)}` : ""}`;
    case "hold": {
      const vetoed = Object.entries(d.autofire || {}).filter(([, on]) => !on).map(([t]) => t);
      return `${d.held ? "HELD" : "released"}${vetoed.length ? ` · vetoed: ${vetoed.join(", ")}` : ""}`;
    }
    case "config":
      return `teams / roster (${Object.keys(d.roster || {}).length} players)`;
    case "override":
      return `${d.action}: ${d.active ? shortJson(d.fields) : "cleared — upstream on air"}`;
    case "suggestion":
      return `${d.status}${d.by ? ` by ${d.by}` : ""} ${d.rule}: ${d.text} → ${d.graphic}`;
    case "stats":
      return `splits: ${Array.isArray(d.players) ? d.players.length : 0} players`;
    default:
      return shortJson(d);
  }
}

function timeOf(ms) {
  if (typeof ms !== "number") return "";
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

function renderLog() {
  const filter = $("log-filter").value;
  const rows = [...S.log.values()]
    .filter(({ ev }) => !filter || ev.type === filter)
    .sort((a, b) => b.ev.seq - a.ev.seq)
    .slice(0, LOG_SHOWN);
  $("log").replaceChildren(
    ...rows.map(({ ev, source }) =>
      el(
        "li",
        { class: `${ev.stale ? "stale" : ""} ${source === "replay" ? "replay" : ""}`, dataset: { seq: ev.seq, type: ev.type } },
        el("span", { class: "t", text: timeOf(ev.at) }),
        el("span", { class: "seq", text: ev.seq }),
        el("span", { class: `ty ty-${ev.type}`, text: ev.type }),
        el("span", { class: "sum", text: summary(ev) }),
      ),
    ),
  );
}

$("log-filter").append(...EVENT_TYPES.map((t) => el("option", { value: t, text: t })));
$("log-filter").addEventListener("change", () => {
  renderLog();
  $("log-filter").blur();
});

// -- audit ------------------------------------------------------------------------------------

async function refreshAudit() {
  if (!S.game || !S.token) return;
  const game = S.game;
  let data;
  try {
    data = await api("GET", gamePath("/audit?limit=200"));
  } catch (err) {
    return;
  }
  if (game !== S.game) return;
  S.audit = data.entries || [];
  renderAudit();
}

function isObj(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** [path, before, after] for what differs, two levels deep ("home.name", "7301.number"). */
function diffs(before, after, path = "", depth = 0, out = []) {
  if (isObj(before) && isObj(after) && depth < 2) {
    for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
      if (JSON.stringify(before[k]) !== JSON.stringify(after[k])) diffs(before[k], after[k], path ? `${path}.${k}` : k, depth + 1, out);
    }
  } else {
    out.push([path, before, after]);
  }
  return out;
}

/** before → after, for a person: only what changed. */
function change(before, after) {
  const list = diffs(before, after);
  if (!list.length) return "(no change)";
  const shown = list.slice(0, 4).map(([path, b, a]) => `${path ? `${path}: ` : ""}${shortJson(b, 50)} → ${shortJson(a, 50)}`);
  if (list.length > 4) shown.push(`+${list.length - 4} more`);
  return shown.join(" · ");
}

function renderAudit() {
  const list = $("audit");
  if (!S.audit.length) {
    list.replaceChildren(el("li", { class: "empty" }, el("span", { text: "no operator action yet" })));
    return;
  }
  list.replaceChildren(
    ...S.audit.map((a) =>
      el(
        "li",
        { dataset: { action: a.action } },
        el("span", { class: "t", text: timeOf(a.at) }),
        el("span", { class: "who", text: a.who }),
        el("span", { class: "sum" }, el("b", { text: a.action }), ` ${change(a.before, a.after)}`),
      ),
    ),
  );
}

// -- previews -----------------------------------------------------------------------------------

function overlayUrl(name) {
  const q = new URLSearchParams({ game: S.game });
  if (S.overlayKey) q.set("key", S.overlayKey);
  return `/overlays/${encodeURIComponent(name)}?${q}`;
}

function renderPreviews() {
  const box = $("previews");
  const on = $("previews-on").checked;
  box.classList.toggle("off", !on);
  if (!on || !S.game) {
    box.replaceChildren();
    return;
  }
  box.replaceChildren(
    ...S.overlays.map((o) =>
      el(
        "figure",
        { dataset: { overlay: o.name } },
        el("div", { class: "frame" }, el("iframe", { src: overlayUrl(o.name), title: `${o.name} preview`, loading: "eager", tabindex: "-1" })),
        el(
          "figcaption",
          {},
          el("span", { text: o.name, title: o.about }),
          el("a", { href: overlayUrl(o.name), target: "_blank", rel: "noopener", text: "open ↗" }),
        ),
      ),
    ),
  );
}

$("previews-on").checked = localStorage.getItem(PREVIEWS_KEY) !== "off";
$("previews-on").addEventListener("change", () => {
  localStorage.setItem(PREVIEWS_KEY, $("previews-on").checked ? "on" : "off");
  renderPreviews();
  $("previews-on").blur();
});

// -- rendering the state ------------------------------------------------------------------------

let renderPending = false;
function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => {
    renderPending = false;
    render();
  });
}

function display(value) {
  return value === null || value === undefined || value === "" ? "–" : String(value);
}

function clockDisplay(raw) {
  if (typeof raw !== "string") return display(raw);
  return feedjs.displayClock(raw);
}

function setInput(input, value) {
  // never overwrite what the operator is typing
  if (document.activeElement === input || input.dataset.dirty === "1") return;
  input.value = value == null ? "" : String(value);
}

for (const input of document.querySelectorAll("input[type=text], textarea")) {
  input.addEventListener("input", () => {
    input.dataset.dirty = "1";
  });
}

function render() {
  const feed = S.feed;
  const st = view();
  const has = !!st;
  for (const side of ["home", "away"]) {
    text($(`${side}-name`), has ? teamShort(side, st) : "");
    $(`${side}-name`).title = has ? `${side}: ${teamName(side, st)}` : "";
    text($(`${side}-score`), has ? display(st[side].score) : "");
    $(`${side}-swatch`).style.background = has && st[side].color ? st[side].color : "";
  }
  text($("period"), has ? st.periodLabel || st.period || "" : "");
  text($("clock"), has ? feed.clockText() : "");
  text($("game-status"), has ? st.status || "" : "");

  // hold and arming
  const held = has && st.held;
  $("hold").setAttribute("aria-pressed", held ? "true" : "false");
  $("hold").firstChild.textContent = held ? "HELD · release " : "HOLD ";
  $("held-banner").hidden = !held;
  for (const type of S.automatic) {
    const b = $(`arm-${type}`);
    if (b) b.setAttribute("aria-pressed", has && st.autofire[type] === false ? "false" : "true");
  }
  for (const rule of S.suggestionRules) {
    const b = $(`sugg-arm-${rule}`);
    if (b) b.setAttribute("aria-pressed", has && st.autofire[AUTOFIRE_PREFIX + rule] === true ? "true" : "false");
  }

  renderOverride(has ? st : null);
  renderOnAir(has ? st : null);
}

function renderOverride(st) {
  const o = st && st.override && typeof st.override === "object" ? st.override : null;
  const fields = st ? overrideFields(st) : {};
  const up = (o && o.upstream) || {};
  const onAir = {
    home: st ? st.home.score : null,
    away: st ? st.away.score : null,
    period: st ? st.period : null,
    clock: st ? st.clock : null,
  };
  for (const f of OVERRIDE_FIELDS) {
    const isClock = f === "clock";
    text($(`up-${f}`), isClock ? clockDisplay(up[f]) : display(up[f]));
    text($(`air-${f}`), isClock ? clockDisplay(onAir[f]) : display(onAir[f]));
    const active = fields[f] !== undefined && fields[f] !== null;
    $(`air-${f}`).classList.toggle("overridden", active);
    $(`ov-clear-${f}`).disabled = !active;
  }
  for (const side of ["home", "away"]) $(`${side}-score`).classList.toggle("overridden", side in fields);
  $("ov-undo").disabled = !(o && o.canUndo);
  $("ov-clear-all").disabled = !Object.keys(fields).length;
  const banner = $("override-banner");
  const names = Object.keys(fields);
  banner.hidden = !names.length;
  if (names.length) {
    const parts = names.map((f) => `${f} ${f === "clock" ? clockDisplay(fields[f]) : fields[f]} (upstream ${f === "clock" ? clockDisplay(up[f]) : display(up[f])})`);
    text(banner, `OVERRIDE ON AIR · ${parts.join(" · ")}`);
  }
}

let onAirSig = null;
function renderOnAir(st) {
  const list = $("onair-list");
  const graphics = st ? Object.entries(st.graphics || {}) : [];
  // rebuilt only when it changes: the clock alone re-renders every second, and a list
  // replaced under the pointer would eat a click on its Hide buttons
  const sig = JSON.stringify(graphics);
  if (sig === onAirSig) return;
  onAirSig = sig;
  if (!graphics.length) {
    list.replaceChildren(el("li", { class: "empty" }, el("span", { text: "nothing on air" })));
    return;
  }
  list.replaceChildren(
    ...graphics.map(([name, payload]) =>
      el(
        "li",
        { dataset: { graphic: name } },
        el("b", { text: name }),
        el("span", { class: "what", text: shortJson(payload, 80) }),
        el("button", { type: "button", text: "Hide", onclick: () => hideGraphic(name) }),
      ),
    ),
  );
}

function renderSetup() {
  const cfgNow = S.config;
  if (!cfgNow) return;
  const sig = JSON.stringify([cfgNow.home, cfgNow.away].map((t) => [t.teamId, t.name, t.short, t.color]));
  if (sig !== S.configSig) {
    S.configSig = sig;
    for (const side of ["home", "away"]) {
      for (const k of ["teamId", "name", "short", "color"]) setInput($(`setup-${side}-${k}`), cfgNow[side][k]);
    }
  }
  const roster = cfgNow.roster;
  const rsig = JSON.stringify(roster);
  if (rsig === S.rosterSig) return;
  S.rosterSig = rsig;
  const pids = Object.keys(roster).sort((a, b) => {
    const na = Number(roster[a].number);
    const nb = Number(roster[b].number);
    return (Number.isFinite(na) ? na : 1e9) - (Number.isFinite(nb) ? nb : 1e9) || a.localeCompare(b);
  });
  $("roster").tBodies[0].replaceChildren(
    ...pids.map((pid) => {
      const p = roster[pid] || {};
      const number = el("input", { type: "text", class: "short", value: p.number ?? "", "aria-label": `number of ${pid}` });
      const name = el("input", { type: "text", value: p.name ?? "", "aria-label": `name of ${pid}` });
      const remove = el("button", { type: "button", class: "warn", text: "Remove" });
      armTwoClick(remove, "Remove?", () =>
        act(`remove player ${pid}`, () => api("PUT", gamePath("/config"), { json: { roster: { [pid]: null } } })),
      );
      const save = el("button", {
        type: "button",
        text: "Save",
        onclick: () =>
          act(`player ${pid}`, () =>
            api("PUT", gamePath("/config"), { json: { roster: { [pid]: { number: number.value, name: name.value } } } }),
          ),
      });
      return el("tr", { dataset: { pid } }, el("td", { class: "mono", text: pid }), el("td", {}, number), el("td", {}, name), el("td", { class: "nowrap" }, save, remove));
    }),
  );
  // the three-by-hand player list follows the roster
  const select = $("three-player");
  const chosen = select.value;
  select.replaceChildren(
    el("option", { value: "", text: "(no player)" }),
    ...pids.map((pid) => el("option", { value: pid, text: `${who({ ...roster[pid], id: pid })}` })),
  );
  if (pids.includes(chosen)) select.value = chosen;
  renderPlayers();
}

setInterval(() => {
  if (S.feed && S.feed.hasState) text($("clock"), S.feed.clockText());
}, 250);

// -- actions ----------------------------------------------------------------------------------

function state() {
  return view();
}

function needGame() {
  if (!S.game) throw new Error("no game selected");
}

function toggleHold() {
  const st = state();
  const held = !(st && st.held);
  return act(held ? "HOLD automatic graphics" : "release hold", () => {
    needGame();
    return api("POST", gamePath("/hold"), { json: { held } });
  }, { key: "hold" });
}

function toggleArm(type) {
  const st = state();
  const armed = !(st && st.autofire[type] === false);
  return act(`${armed ? "veto" : "arm"} ${type}`, () => {
    needGame();
    return api("POST", gamePath("/hold"), { json: { autofire: { [type]: !armed } } });
  }, { key: `arm-${type}` });
}

function panic() {
  // never blocked by a request in flight: a second press is harmless
  if (S.game) status("PANIC sent…", "bad");
  return act("PANIC: everything off air", () => {
    needGame();
    return api("POST", gamePath("/panic"));
  }, { key: `panic-${Date.now()}` });
}

function showGraphic(name, payload, label = `show ${name}`) {
  return act(label, () => {
    needGame();
    return api("POST", gamePath("/graphics"), { json: { action: "show", name, payload } });
  }, { key: `graphic-${name}` });
}

function hideGraphic(name) {
  return act(`hide ${name}`, () => {
    needGame();
    return api("POST", gamePath("/graphics"), { json: { action: "hide", name } });
  }, { key: `graphic-${name}` });
}

function lowerThirdPayload(title, subtitle, team) {
  const p = { title: title.trim(), subtitle: subtitle.trim() };
  if (team === "home" || team === "away") p.team = team;
  return p;
}

function showTypedLowerThird() {
  const p = lowerThirdPayload($("l3-title").value, $("l3-subtitle").value, $("l3-team").value);
  if (!p.title && !p.subtitle) {
    status("✗ lower third: type a title or a subtitle first", "bad");
    $("l3-title").focus();
    return null;
  }
  return showGraphic(LOWERTHIRD, p, `lower third “${p.title || p.subtitle}”`);
}

function lowerThirdOnAir() {
  const st = state();
  return st && st.graphics[LOWERTHIRD] ? st.graphics[LOWERTHIRD] : null;
}

function toggleLowerThird() {
  if (lowerThirdOnAir()) return hideGraphic(LOWERTHIRD);
  return showTypedLowerThird();
}

$("l3-show").addEventListener("click", () => showTypedLowerThird());
$("l3-hide").addEventListener("click", () => hideGraphic(LOWERTHIRD));

// presets 1-5, kept in this browser
function loadPresets() {
  try {
    const v = JSON.parse(localStorage.getItem(PRESETS_KEY) || "[]");
    if (Array.isArray(v)) return v;
  } catch (err) {
    /* start fresh */
  }
  return [];
}

const presets = loadPresets();
function savePresets() {
  localStorage.setItem(PRESETS_KEY, JSON.stringify(presets));
}

function firePreset(i) {
  const p = presets[i] || {};
  const payload = lowerThirdPayload(p.title || "", p.subtitle || "", p.team || "");
  if (!payload.title && !payload.subtitle) {
    status(`✗ preset ${i + 1} is empty`, "bad");
    return null;
  }
  const on = lowerThirdOnAir();
  if (on && on.title === payload.title && (on.subtitle || "") === payload.subtitle) return hideGraphic(LOWERTHIRD);
  return showGraphic(LOWERTHIRD, payload, `preset ${i + 1} “${payload.title || payload.subtitle}”`);
}

$("presets").tBodies[0].replaceChildren(
  ...[0, 1, 2, 3, 4].map((i) => {
    presets[i] = presets[i] || { title: "", subtitle: "" };
    const title = el("input", { type: "text", value: presets[i].title, placeholder: "title", "aria-label": `preset ${i + 1} title`, id: `preset-${i + 1}-title` });
    const subtitle = el("input", { type: "text", value: presets[i].subtitle, placeholder: "subtitle", "aria-label": `preset ${i + 1} subtitle`, id: `preset-${i + 1}-subtitle` });
    const sync = () => {
      presets[i] = { title: title.value, subtitle: subtitle.value };
      savePresets();
    };
    title.addEventListener("input", sync);
    subtitle.addEventListener("input", sync);
    return el(
      "tr",
      {},
      el("td", {}, el("kbd", { text: String(i + 1) })),
      el("td", {}, title),
      el("td", {}, subtitle),
      el("td", {}, el("button", { type: "button", text: "Show", id: `preset-${i + 1}-show`, onclick: () => firePreset(i) })),
    );
  }),
);

// three by hand
function threePayload() {
  const pid = $("three-player").value;
  const p = pid && roster()[pid] ? roster()[pid] : null;
  const dist = parseFloat($("three-dist").value);
  return {
    player: p ? { id: pid, name: p.name, number: p.number } : null,
    team: $("three-team").value === "away" ? "away" : "home",
    distanceFt: Number.isFinite(dist) && dist > 0 ? dist : null,
  };
}

function showThree() {
  return showGraphic(THREE, threePayload(), "three-pointer splash");
}

$("three-show").addEventListener("click", () => showThree());
$("three-hide").addEventListener("click", () => hideGraphic(THREE));
for (const id of ["three-player", "three-team", "l3-team"]) {
  // a select keeps the keyboard after a choice; give it back to the shortcuts
  $(id).addEventListener("change", () => $(id).blur());
}

// any graphic
function customPayload() {
  const raw = $("custom-payload").value.trim();
  if (!raw) return {};
  const v = JSON.parse(raw);
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error("the payload must be a JSON object");
  return v;
}

$("custom-show").addEventListener("click", () => {
  const name = $("custom-name").value.trim();
  if (!name) {
    status("✗ give the graphic a name", "bad");
    return;
  }
  let payload;
  try {
    payload = customPayload();
  } catch (err) {
    status(`✗ payload: ${err.message}`, "bad");
    return;
  }
  showGraphic(name, payload);
});
$("custom-hide").addEventListener("click", () => {
  const name = $("custom-name").value.trim();
  if (name) hideGraphic(name);
});

// rehearsal: "test:<type>" graphics carry a sample payload shaped like the real event's data
function samplePlayer() {
  const players = roster();
  const pid = $("three-player").value || Object.keys(players)[0];
  if (pid && players[pid]) return { id: pid, name: players[pid].name, number: players[pid].number };
  return { id: "test", name: "Test Player", number: "0" };
}

function testPayload(type) {
  const st = state() || feedjs.emptyState(S.game);
  const team = $("three-team").value === "away" ? "away" : "home";
  const player = samplePlayer();
  const key = `test-${Date.now()}`;
  const home = typeof st.home.score === "number" ? st.home.score : 0;
  const away = typeof st.away.score === "number" ? st.away.score : 0;
  switch (type) {
    case "made_three":
      return {
        key, t: serverNow(), sessionId: null, period: st.period, clock: st.clock, team, teamId: st[team].teamId,
        pid: player.id, player, made: true, three: true, points: 3, distanceFt: 24.0, x: 0, y: 24, attributes: [],
      };
    case "score_update": {
      const prev = { home, away };
      prev[team] = Math.max(0, prev[team] - 3);
      return { home, away, prev, team, leader: home > away ? "home" : away > home ? "away" : "tie", leadChange: false, correction: false };
    }
    case "period_change":
      return { from: st.period, to: st.period, label: st.periodLabel || st.period || "Period", periodTotals: st.periodTotals };
    case "scoring_run":
      return { team, run: [8, 0], sinceSeq: st.seq, extended: false };
    case "hot_hand":
      return { pid: player.id, player, team, streak: 3, key };
    default:
      return {};
  }
}

$("tests").replaceChildren(
  ...S.automatic.map((type) =>
    el("button", { type: "button", id: `test-${type}`, text: `test ${type}`, onclick: () => showGraphic(`${TEST_PREFIX}${type}`, testPayload(type), `rehearsal ${type}`) }),
  ),
);
$("autofire").replaceChildren(
  ...S.automatic.map((type) =>
    el("button", { type: "button", class: "arm", id: `arm-${type}`, "aria-pressed": "true", text: type, onclick: () => toggleArm(type) }),
  ),
);

// override
function overrideValue(field, raw) {
  const v = raw.trim();
  if (!v) return undefined;
  if (field === "home" || field === "away") {
    if (!/^\d{1,3}$/.test(v)) throw new Error(`${field} score must be a whole number`);
    return parseInt(v, 10);
  }
  return v;
}

function putOverride(patch, label) {
  return act(label, () => {
    needGame();
    return api("PUT", gamePath("/override"), { json: patch });
  }, { key: "override" }).then((out) => {
    if (out) {
      for (const f of Object.keys(patch)) {
        $(`ov-${f}`).value = "";
        delete $(`ov-${f}`).dataset.dirty;
      }
    }
    return out;
  });
}

function setOverride(fields) {
  const patch = {};
  try {
    for (const f of fields) {
      const v = overrideValue(f, $(`ov-${f}`).value);
      if (v !== undefined) patch[f] = v;
    }
  } catch (err) {
    status(`✗ override: ${err.message}`, "bad");
    return null;
  }
  if (!Object.keys(patch).length) {
    status("✗ override: type a value first", "bad");
    return null;
  }
  return putOverride(patch, `override ${Object.entries(patch).map(([k, v]) => `${k}=${v}`).join(", ")}`);
}

for (const b of document.querySelectorAll(".ov-set")) b.addEventListener("click", () => setOverride([b.dataset.field]));
for (const b of document.querySelectorAll(".ov-clear")) {
  b.addEventListener("click", () => putOverride({ [b.dataset.field]: null }, `clear ${b.dataset.field} override`));
}
for (const f of OVERRIDE_FIELDS) {
  $(`ov-${f}`).addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      setOverride([f]);
    }
  });
}
$("ov-apply").addEventListener("click", () => setOverride(OVERRIDE_FIELDS));
$("ov-undo").addEventListener("click", () => undoOverride());
$("ov-clear-all").addEventListener("click", () =>
  act("clear override: upstream on air", () => {
    needGame();
    return api("DELETE", gamePath("/override"));
  }, { key: "override" }),
);

function undoOverride() {
  return act("undo last override change", () => {
    needGame();
    return api("POST", gamePath("/override/undo"));
  }, { key: "override" });
}

// setup
$("setup-save").addEventListener("click", async () => {
  const body = {};
  for (const side of ["home", "away"]) {
    body[side] = {};
    for (const k of ["teamId", "name", "short", "color"]) body[side][k] = $(`setup-${side}-${k}`).value.trim();
  }
  const out = await act("teams", () => {
    needGame();
    return api("PUT", gamePath("/config"), { json: body });
  });
  if (out) {
    for (const side of ["home", "away"]) for (const k of ["teamId", "name", "short", "color"]) delete $(`setup-${side}-${k}`).dataset.dirty;
    S.configSig = "";
    renderSetup();
  }
});

$("roster-add").addEventListener("click", async () => {
  const pid = $("roster-new-pid").value.trim();
  if (!pid) {
    status("✗ a player needs a pid (ShotTracker's player id)", "bad");
    return;
  }
  const entry = { number: $("roster-new-number").value.trim(), name: $("roster-new-name").value.trim() };
  const out = await act(`player ${pid}`, () => {
    needGame();
    return api("PUT", gamePath("/config"), { json: { roster: { [pid]: entry } } });
  });
  if (out) for (const id of ["roster-new-pid", "roster-new-number", "roster-new-name"]) $(id).value = "";
});

$("roster-import-file").addEventListener("change", async () => {
  const file = $("roster-import-file").files[0];
  if (!file) return;
  $("roster-import-text").value = await file.text();
  $("roster-import-file").blur();
});

$("roster-import").addEventListener("click", async () => {
  const raw = $("roster-import-text").value;
  if (!raw.trim()) {
    status("✗ paste a roster or pick a file first", "bad");
    return;
  }
  const json = /^[\s\ufeff]*[[{]/.test(raw);
  const replace = $("roster-import-replace").checked ? "?replace=1" : "";
  const out = await act("roster import", () => {
    needGame();
    return api("POST", gamePath(`/roster${replace}`), { body: raw, type: json ? "application/json" : "text/csv" });
  });
  if (out) {
    status(`✓ roster import: ${out.imported} player(s)${out.removed && out.removed.length ? `, ${out.removed.length} removed` : ""}`, "ok");
    $("roster-import-text").value = "";
  }
});

$("hold").addEventListener("click", () => toggleHold());
$("panic").addEventListener("click", () => panic());

// -- suggestions ----------------------------------------------------------------------------------
//
// The open suggestions come with the hello (state.suggestions) and change with `suggestion`
// events: "open" adds one, any other status (withdrawn, replaced, accepted, dismissed) takes it
// away. One past its expiresAt (server clock) is hidden. Texts are set as text, never as HTML.

function idNumber(id) {
  const m = /^s(\d+)$/.exec(String(id));
  return m ? parseInt(m[1], 10) : 0;
}

function applySuggestion(d) {
  if (!isObj(d) || typeof d.id !== "string") return;
  if (d.status === "open" && !S.suggestionsClosed.has(d.id)) {
    S.suggestions.set(d.id, d);
  } else if (d.status !== "open") {
    S.suggestions.delete(d.id);
    S.suggestionsClosed.add(d.id);
  }
  scheduleSuggestions();
}

function seedSuggestions(state) {
  // the hello's list is the whole truth up to its seq (also after a server on a new store)
  S.suggestions.clear();
  S.suggestionsClosed.clear();
  S.suggestionsSeq = typeof state.seq === "number" ? state.seq : 0;
  for (const d of Array.isArray(state.suggestions) ? state.suggestions : []) {
    if (isObj(d) && typeof d.id === "string" && d.status === "open") S.suggestions.set(d.id, d);
  }
  scheduleSuggestions();
}

/** Open, unexpired suggestions, best score first (newest first among equals), as the server. */
function openSuggestions() {
  const now = serverNow();
  const out = [];
  for (const [id, d] of S.suggestions) {
    if (typeof d.expiresAt === "number" && d.expiresAt <= now) S.suggestions.delete(id);
    else out.push(d);
  }
  return out.sort((a, b) => (Number(b.score) || 0) - (Number(a.score) || 0) || idNumber(b.id) - idNumber(a.id));
}

let suggestionsPending = false;
function scheduleSuggestions() {
  if (suggestionsPending) return;
  suggestionsPending = true;
  requestAnimationFrame(() => {
    suggestionsPending = false;
    renderSuggestions();
  });
}

function secondsLeft(d) {
  if (typeof d.expiresAt !== "number") return "";
  return `${Math.max(0, Math.ceil((d.expiresAt - serverNow()) / 1000))} s`;
}

/** Rows keyed by id and updated in place: a list rebuilt every half second would eat clicks. */
const suggestionRows = new Map(); // id -> {li, left}

function suggestionRow(d) {
  let r = suggestionRows.get(d.id);
  if (r) return r;
  const left = el("span", { class: "left mono" });
  const accept = el("button", { type: "button", class: "primary accept", text: "Accept", onclick: () => decideSuggestion(d.id, "accept") });
  const dismiss = el("button", { type: "button", class: "dismiss", text: "Dismiss", onclick: () => decideSuggestion(d.id, "dismiss") });
  const li = el(
    "li",
    { dataset: { sid: d.id, rule: d.rule } },
    el("b", { class: "score mono", text: d.score, title: "score: higher first" }),
    el(
      "span",
      { class: "what" },
      el("span", { class: "say", text: d.text }),
      el("span", { class: "graphic dim", text: `${d.graphic} ${shortJson(d.payload, 60)} · ${d.rule}` }),
    ),
    left,
    el("span", { class: "keys" }),
    accept,
    dismiss,
  );
  r = { li, left, keys: li.querySelector(".keys") };
  suggestionRows.set(d.id, r);
  return r;
}

function renderSuggestions() {
  const list = $("suggestions");
  const shown = openSuggestions();
  const ids = new Set(shown.map((d) => d.id));
  for (const [id, r] of suggestionRows) {
    if (!ids.has(id)) {
      r.li.remove();
      suggestionRows.delete(id);
    }
  }
  let empty = list.querySelector(".empty");
  if (!shown.length) {
    if (!empty) list.append(el("li", { class: "empty" }, el("span", { text: "no suggestion now" })));
    return;
  }
  if (empty) empty.remove();
  const top = topSuggestion(shown);
  shown.forEach((d, i) => {
    const r = suggestionRow(d);
    text(r.left, secondsLeft(d));
    r.li.classList.toggle("top", top === d);
    r.li.classList.toggle("pending", S.suggestionsPending.has(d.id));
    if (top === d && !r.keys.childNodes.length) r.keys.replaceChildren(el("kbd", { text: "A" }), el("kbd", { text: "D" }));
    else if (top !== d && r.keys.childNodes.length) r.keys.replaceChildren();
    if (list.children[i] !== r.li) list.insertBefore(r.li, list.children[i] || null);
  });
}

/** The one the A / D keys act on: the best not already being accepted or dismissed. */
function topSuggestion(shown = openSuggestions()) {
  return shown.find((d) => !S.suggestionsPending.has(d.id)) || null;
}

function decideSuggestion(sid, action) {
  const d = S.suggestions.get(sid);
  const label = `${action} suggestion “${d ? d.text : sid}”`;
  S.suggestionsPending.add(sid);
  scheduleSuggestions();
  return act(
    label,
    async () => {
      needGame();
      try {
        return await api("POST", gamePath(`/suggestions/${encodeURIComponent(sid)}/${action}`));
      } catch (err) {
        // gone on the server (closed, expired, unknown): gone here too; the message says why
        if (err instanceof HttpError && SUGGESTION_GONE.includes(err.code)) applySuggestion({ id: sid, status: "closed" });
        throw err;
      }
    },
    { key: `suggestion-${sid}` },
  ).then((out) => {
    S.suggestionsPending.delete(sid);
    for (const ev of (out && Array.isArray(out.events) ? out.events : [])) {
      if (ev && ev.type === "suggestion" && ev.game === S.game) applySuggestion(ev.data);
    }
    scheduleSuggestions();
    return out;
  });
}

function decideTop(action) {
  const top = topSuggestion();
  if (!top) {
    status(`✗ no suggestion to ${action}`, "bad");
    return null;
  }
  return decideSuggestion(top.id, action);
}

function toggleSuggestionArm(rule) {
  const st = state();
  const key = AUTOFIRE_PREFIX + rule;
  const armed = !!(st && st.autofire[key] === true);
  return act(`${armed ? "disarm" : "arm"} autofire of ${rule} suggestions`, () => {
    needGame();
    return api("POST", gamePath("/hold"), { json: { autofire: { [key]: !armed } } });
  }, { key: `arm-${key}` });
}

function renderSuggestionArms() {
  $("sugg-autofire").replaceChildren(
    ...S.suggestionRules.map((rule) =>
      el("button", { type: "button", class: "sugg-arm", id: `sugg-arm-${rule}`, "aria-pressed": "false", text: rule, title: `autofire ${rule} suggestions`, onclick: () => toggleSuggestionArm(rule) }),
    ),
  );
  scheduleRender();
}
renderSuggestionArms();

// -- stats graphics by hand: playercard, zones, compare ------------------------------------------

function setSplits(splits) {
  S.splits = splits;
  renderPlayers();
}

/** pid -> label, from the roster and the splits' players (a player with shots and no roster). */
function players() {
  const out = new Map();
  const rows = S.splits && Array.isArray(S.splits.players) ? S.splits.players : [];
  for (const p of rows) if (isObj(p) && typeof p.pid === "string") out.set(p.pid, who({ id: p.pid, name: p.name, number: p.number }));
  for (const [pid, p] of Object.entries(roster())) out.set(pid, who({ ...p, id: pid }));
  return [...out.entries()].sort((a, b) => a[1].localeCompare(b[1]) || a[0].localeCompare(b[0]));
}

function renderPlayers() {
  const list = players();
  const sig = JSON.stringify(list);
  if (sig === S.playersSig) return;
  S.playersSig = sig;
  const pc = $("pc-player");
  const zs = $("zones-subject");
  const pcWas = pc.value;
  const zsWas = zs.value;
  pc.replaceChildren(el("option", { value: "", text: "(pick a player)" }), ...list.map(([pid, label]) => el("option", { value: pid, text: label })));
  zs.replaceChildren(
    el("option", { value: "team:home", text: "home team" }),
    el("option", { value: "team:away", text: "away team" }),
    ...list.map(([pid, label]) => el("option", { value: `pid:${pid}`, text: label })),
  );
  if ([...pc.options].some((o) => o.value === pcWas)) pc.value = pcWas;
  if ([...zs.options].some((o) => o.value === zsWas)) zs.value = zsWas;
}

function showPlayerCard() {
  const pid = $("pc-player").value;
  if (!pid) {
    status("✗ player card: pick a player first", "bad");
    return null;
  }
  return showGraphic("playercard", { pid }, `player card ${$("pc-player").selectedOptions[0].textContent}`);
}

function zonesPayload() {
  const [kind, id] = $("zones-subject").value.split(/:(.*)/s);
  const payload = kind === "pid" ? { pid: id } : { team: id === "away" ? "away" : "home" };
  payload.map = $("zones-map").value === "advancedZones" ? "advancedZones" : "zones";
  return payload;
}

$("compare-split").replaceChildren(
  ...Object.entries(COMPARE_SPLITS).map(([value, label]) => el("option", { value, text: label })),
  ...(globalThis.ShotfeedContract.distanceBands || []).map((band) => el("option", { value: `distance.${band}`, text: `${band} ft` })),
);

$("pc-show").addEventListener("click", () => showPlayerCard());
$("pc-hide").addEventListener("click", () => hideGraphic("playercard"));
$("zones-show").addEventListener("click", () => showGraphic("zones", zonesPayload(), `zones ${$("zones-subject").selectedOptions[0].textContent}`));
$("zones-hide").addEventListener("click", () => hideGraphic("zones"));
$("compare-show").addEventListener("click", () => showGraphic("compare", { split: $("compare-split").value }, `compare ${$("compare-split").value}`));
$("compare-hide").addEventListener("click", () => hideGraphic("compare"));
for (const id of ["pc-player", "zones-subject", "zones-map", "compare-split"]) {
  $(id).addEventListener("change", () => $(id).blur());
}

// -- keyboard -----------------------------------------------------------------------------------

const TEXT_INPUTS = new Set(["text", "password", "search", "number", "email", "url", "tel", ""]);

function typing(target) {
  if (!target || !target.tagName) return false;
  if (target.isContentEditable) return true;
  if (target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
  return target.tagName === "INPUT" && TEXT_INPUTS.has((target.getAttribute("type") || "").toLowerCase());
}

document.addEventListener("keydown", (e) => {
  if (!$("login").hidden || !S.started) return;
  // the bindings are the contract's (server/core/contract.py), the same table the page lists
  const action = globalThis.ShotfeedContract.actionFor(e.key, e.shiftKey);
  if (e.key === "Escape" && action === "panic") {
    e.preventDefault();
    if (typing(e.target)) e.target.blur(); // leave the field; a second Esc panics
    else panic();
    return;
  }
  if (typing(e.target) || e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
  const k = e.key;
  let done = true;
  if (action === "hold") toggleHold();
  else if (action === "panic") panic();
  else if (action === "lowerThird") toggleLowerThird();
  else if (action === "three") showThree();
  else if (action === "undo") undoOverride();
  else if (action === "preset") firePreset(parseInt(k, 10) - 1);
  else if (action === "acceptSuggestion") decideTop("accept");
  else if (action === "dismissSuggestion") decideTop("dismiss");
  else done = false;
  if (done) e.preventDefault();
});

// -- vMix output --------------------------------------------------------------------------------

const VMIX_EVERY_MS = 2000;

/** The map being edited ({source: target}); filled from the server, edited in place. */
S.vmixFields = {};
S.vmixGame = null;

function renderVmixFields() {
  const body = $("vmix-fields").tBodies[0];
  body.replaceChildren(
    ...Object.entries(S.vmixFields).map(([source, target]) =>
      el(
        "tr",
        { dataset: { source } },
        el("td", { text: source }),
        el("td", { text: target }),
        el("td", {}, el("button", { type: "button", text: "×", "aria-label": `unmap ${source}`, onclick: () => {
          delete S.vmixFields[source];
          renderVmixFields();
        } })),
      ),
    ),
  );
}

function renderVmixHealth(view) {
  const box = $("vmix-health");
  const health = view && view.health;
  const cfg = view && view.config;
  if (!cfg) {
    box.className = "dim";
    text(box, "not set up: give vMix's address, the title input and a field map");
    return;
  }
  if (!health || !health.active) {
    box.className = "dim";
    text(box, cfg.enabled ? "idle: needs an input and at least one field" : "paused (send is off)");
    return;
  }
  const last = health.lastSuccessAt ? `${Math.max(0, Math.round((Date.now() - health.lastSuccessAt) / 1000))} s ago` : "never";
  if (health.ok === false) {
    box.className = "bad";
    text(box, `● failing (${health.error}): ${health.message} · last good call ${last} · retrying`);
  } else {
    box.className = health.ok ? "ok" : "dim";
    text(box, `${health.ok ? "● sending" : "● waiting"} · ${health.requests} calls, ${health.failures} failed · last good call ${last}${health.pending ? ` · ${health.pending} to send` : ""}`);
  }
}

async function refreshVmix(loadForm = false) {
  if (!S.game || !S.token || document.visibilityState === "hidden") return;
  const game = S.game;
  let view;
  try {
    view = await api("GET", gamePath("/vmix"));
  } catch (err) {
    return;
  }
  if (game !== S.game) return;
  const select = $("vmix-new-source");
  if (select.options.length !== (view.sources || []).length) {
    select.replaceChildren(...(view.sources || []).map((s) => el("option", { value: s, text: s })));
  }
  if (loadForm || S.vmixGame !== game) {
    S.vmixGame = game;
    const cfg = view.config || {};
    $("vmix-url").value = cfg.url || "";
    $("vmix-input").value = cfg.input || "";
    $("vmix-enabled").checked = cfg.enabled !== false;
    S.vmixFields = Object.assign({}, cfg.fields || {});
    renderVmixFields();
  }
  renderVmixHealth(view);
}

$("vmix-add").addEventListener("click", () => {
  const source = $("vmix-new-source").value;
  const target = $("vmix-new-target").value.trim();
  if (!source || !target) return;
  S.vmixFields[source] = target;
  $("vmix-new-target").value = "";
  renderVmixFields();
});

$("vmix-save").addEventListener("click", () => {
  const body = { input: $("vmix-input").value.trim() || null, fields: S.vmixFields, enabled: $("vmix-enabled").checked };
  let url = $("vmix-url").value.trim();
  if (url && !/^[a-z]+:\/\//i.test(url)) url = `http://${url}`; // "192.168.1.20:8088" is enough
  if (url) body.url = url;
  act("save vMix output", async () => {
    const view = await api("PUT", gamePath("/vmix"), { json: body });
    renderVmixHealth(view);
    return view;
  });
});

$("vmix-remove").addEventListener("click", () => {
  act("remove vMix output", async () => {
    const view = await api("DELETE", gamePath("/vmix"));
    await refreshVmix(true);
    return view;
  });
});

// -- start --------------------------------------------------------------------------------------

function start() {
  if (S.started) return;
  S.started = true;
  refreshGames();
  S.timers.push(setInterval(refreshGames, GAMES_EVERY_MS));
  S.timers.push(setInterval(() => {
    if (document.visibilityState !== "hidden") refreshAudit();
  }, AUDIT_EVERY_MS));
  S.timers.push(setInterval(renderSuggestions, SUGGESTIONS_EVERY_MS)); // countdowns, expiry
  S.timers.push(setInterval(() => refreshVmix(), VMIX_EVERY_MS));
}

window.shotfeedConsole = S; // for tests and a curious operator's devtools

if (S.token) {
  login(S.token);
} else {
  document.body.classList.remove("booting");
  showLogin();
}
