/**
 * The game's state as the module keeps it: the server's `hello.state` (or GET …/state), then
 * every WebSocket event folded in, the way the server's own pages do (static/feed.js,
 * `applyEvent`). Pure: no I/O, no timers; `now` is passed in where expiry matters.
 *
 * Only what a button needs is folded: scores, names, clock, period, status, feed health, what
 * is on air, hold and arming, the override, and the open suggestions.
 */

const TEST_PREFIX = 'test:'
const SUGGESTION_PREFIX = 'suggestion:'

function isObject(v) {
	return v !== null && typeof v === 'object' && !Array.isArray(v)
}

function clone(v) {
	return v === undefined ? undefined : JSON.parse(JSON.stringify(v))
}

/** Same as server.core.clock.display_clock: "00:15:00" -> "15:00", "00:05:07" -> "5:07". */
export function displayClock(clock) {
	if (clock === null || clock === undefined) return null
	let parts = String(clock).split(':')
	if (parts.length === 3 && (parts[0] === '00' || parts[0] === '0')) parts = parts.slice(1)
	if (parts.length === 2 && parts[0].length === 2 && parts[0].charAt(0) === '0') parts[0] = parts[0].slice(1)
	return parts.join(':')
}

/** The clock's parts when it is one (1 to 3 `:` parts of digits, a fraction only on the last), else null. */
function splitClock(clock) {
	if (typeof clock !== 'string') return null
	const parts = clock.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '').split(':')
	if (parts.length > 3) return null
	for (const p of parts.slice(0, -1)) if (!/^[0-9]+$/.test(p)) return null
	if (!/^[0-9]+(?:\.[0-9]+)?$/.test(parts[parts.length - 1])) return null
	return parts
}

/** Same as server.core.clock.parse_clock: "00:15:00" -> 900, "0:45" -> 45; null when not a clock. */
export function parseClock(clock) {
	const parts = splitClock(clock)
	if (!parts) return null
	return parts.reduce((total, p) => total * 60 + parseFloat(p), 0)
}

/**
 * Same as server.core.clock.running_clock: `seconds` left, written in the shape of the upstream
 * clock `like` (same parts, widths, decimals; rounded up, never below zero), then displayed.
 */
export function runningClock(seconds, like) {
	const parts = splitClock(like)
	if (!parts || !Number.isFinite(seconds)) return null
	const m = /^([0-9]+)(?:\.([0-9]+))?$/.exec(parts[parts.length - 1])
	const decimals = (m[2] || '').length
	const scale = 10 ** decimals
	const units = Math.max(0, Math.ceil(seconds * scale - 1e-6))
	const frac = units % scale
	let rest = Math.floor(units / scale)
	const fields = []
	for (let i = 0; i < parts.length - 1; i++) {
		fields.push(rest % 60)
		rest = Math.floor(rest / 60)
	}
	fields.push(rest)
	fields.reverse()
	const widths = [...parts.slice(0, -1).map((p) => p.length), m[1].length]
	const out = fields.map((v, i) => String(v).padStart(Math.max(widths[i], i > 0 ? 2 : 1), '0'))
	if (decimals) out[out.length - 1] += '.' + String(frac).padStart(decimals, '0')
	return displayClock(out.join(':'))
}

/** The clock as it reads at local time `now`: run on from when it was last read while it runs. */
export function liveClock(state, now = Date.now()) {
	if (!state) return null
	if (!state.clockRunning || typeof state.clockReadAt !== 'number') return state.clockDisplay
	const secs = parseClock(state.clock)
	if (secs === null) return state.clockDisplay
	return runningClock(secs - Math.max(0, now - state.clockReadAt) / 1000, state.clock)
}

const PERIOD = /^(Q|H|OT)(\d+)?$/

function ordinal(n) {
	if (n % 100 >= 10 && n % 100 <= 20) return n + 'th'
	return n + ({ 1: 'st', 2: 'nd', 3: 'rd' }[n % 10] || 'th')
}

/** Same as server.core.periods.period_label: "Q2" -> "2nd Quarter", "H1" -> "1st Half", "OT2" -> "2nd Overtime". */
export function periodLabel(code) {
	if (code === null || code === undefined) return null
	const m = PERIOD.exec(String(code).trim().toUpperCase())
	if (!m) return code
	const n = m[2] ? parseInt(m[2], 10) : null
	if (m[1] === 'OT') return (n || 1) <= 1 ? 'Overtime' : ordinal(n) + ' Overtime'
	if (n === null) return code
	return ordinal(n) + (m[1] === 'Q' ? ' Quarter' : ' Half')
}

/** Same as server.core.periods.period_short: "Q2" -> "Q2", "H1" -> "1H", "OT2" -> "2OT". */
export function periodShort(code) {
	if (code === null || code === undefined) return null
	const m = PERIOD.exec(String(code).trim().toUpperCase())
	if (!m) return code
	const n = m[2] ? parseInt(m[2], 10) : null
	if (m[1] === 'OT') return (n || 1) <= 1 ? 'OT' : n + 'OT'
	if (n === null) return code
	return m[1] === 'Q' ? 'Q' + n : n + 'H'
}

function emptyTeam() {
	return { teamId: null, score: null, name: null, short: null, color: null }
}

/** A state from the server's (whatever it lacks filled in, so nothing below tests for holes). */
export function normalizeState(st) {
	const s = isObject(st) ? clone(st) : {}
	for (const side of ['home', 'away']) s[side] = Object.assign(emptyTeam(), isObject(s[side]) ? s[side] : {})
	if (!isObject(s.graphics)) s.graphics = {}
	if (!isObject(s.autofire)) s.autofire = {}
	if (!isObject(s.feed)) s.feed = { ok: true, error: null, message: null, lastSuccessAt: null }
	if (!Array.isArray(s.suggestions)) s.suggestions = []
	if (!isObject(s.override)) s.override = null
	s.held = s.held === true
	s.clockRunning = s.clockRunning === true
	if (typeof s.seq !== 'number') s.seq = 0
	for (const k of ['game', 'status', 'period', 'periodLabel', 'periodShort', 'clock', 'clockDisplay', 'clockAt']) {
		if (s[k] === undefined) s[k] = null
	}
	if (s.periodShort === null && s.period) s.periodShort = periodShort(s.period)
	if (s.periodLabel === null && s.period) s.periodLabel = periodLabel(s.period)
	if (s.clockDisplay === null && typeof s.clock === 'string') s.clockDisplay = displayClock(s.clock)
	delete s.splits // big, and nothing here reads it
	return s
}

function overrideFields(state) {
	const o = state.override
	return isObject(o) && o.active === true && isObject(o.fields) ? o.fields : {}
}

function trackUpstream(state, patch) {
	if (!isObject(state.override)) return
	if (!isObject(state.override.upstream)) state.override.upstream = {}
	Object.assign(state.override.upstream, patch)
}

/** Show the operator's override where there is one and the upstream's values elsewhere. */
function imposeOverride(state) {
	const o = state.override
	if (!isObject(o)) return
	const f = overrideFields(state)
	const up = isObject(o.upstream) ? o.upstream : {}
	const pick = (k) => (f[k] !== undefined && f[k] !== null ? f[k] : up[k] === undefined ? null : up[k])
	state.home.score = pick('home')
	state.away.score = pick('away')
	state.period = pick('period')
	state.periodShort = periodShort(state.period)
	state.periodLabel = periodLabel(state.period)
	state.clock = pick('clock')
	state.clockDisplay = state.clock === null ? null : displayClock(state.clock)
	if (f.clock !== undefined && f.clock !== null) state.clockRunning = false
	else {
		state.clockRunning = up.clockRunning === true
		if (typeof up.clockAt === 'number') state.clockAt = up.clockAt
	}
}

function sortSuggestions(list) {
	return list.sort((a, b) => (Number(b.score) || 0) - (Number(a.score) || 0))
}

const OVERRIDABLE = ['score_update', 'period_change', 'clock']

/**
 * Fold one event message into the state, in place; returns the state. A type it does not know,
 * or a data object of the wrong shape, leaves it as it was (never throws on what a server sends).
 */
export function applyEvent(state, ev) {
	if (!isObject(ev)) return state
	const d = isObject(ev.data) ? ev.data : {}
	switch (ev.type) {
		case 'score_update':
			if (typeof d.home === 'number') {
				state.home.score = d.home
				trackUpstream(state, { home: d.home })
			}
			if (typeof d.away === 'number') {
				state.away.score = d.away
				trackUpstream(state, { away: d.away })
			}
			break
		case 'period_change':
			if (d.to !== undefined) {
				trackUpstream(state, { period: d.to })
				state.period = d.to
			}
			state.periodLabel = typeof d.label === 'string' ? d.label : periodLabel(state.period)
			state.periodShort = periodShort(state.period)
			break
		case 'clock':
			if (d.clock !== undefined) state.clock = d.clock
			state.clockDisplay = state.clock === null ? null : displayClock(state.clock)
			state.clockRunning = d.running !== false
			state.clockAt = typeof ev.at === 'number' ? ev.at : state.clockAt
			if (d.period) state.period = d.period
			trackUpstream(
				state,
				Object.assign(
					{ clock: state.clock, clockRunning: state.clockRunning, clockAt: state.clockAt },
					d.period ? { period: d.period } : {}
				)
			)
			break
		case 'game_status':
			if (d.to !== undefined) state.status = d.to
			break
		case 'feed_status':
			state.feed = {
				ok: d.ok !== false,
				error: d.error || null,
				message: d.message || null,
				lastSuccessAt: d.ok !== false ? ev.at || state.feed.lastSuccessAt : state.feed.lastSuccessAt,
			}
			break
		case 'config':
			for (const side of ['home', 'away']) {
				if (!isObject(d[side])) continue
				for (const k of ['teamId', 'name', 'short', 'color']) if (k in d[side]) state[side][k] = d[side][k]
			}
			break
		case 'hold':
			state.held = d.held === true
			if (isObject(d.autofire)) state.autofire = Object.assign({}, d.autofire)
			break
		case 'graphic':
			if (typeof d.name === 'string' && d.name.startsWith(TEST_PREFIX)) break // rehearsal: not on air
			if (d.action === 'clear') state.graphics = {}
			else if (d.action === 'show' && typeof d.name === 'string') state.graphics[d.name] = isObject(d.payload) ? d.payload : {}
			else if (d.action === 'hide' && typeof d.name === 'string') delete state.graphics[d.name]
			break
		case 'override':
			state.override = {
				active: d.active === true,
				fields: isObject(d.fields) ? clone(d.fields) : {},
				upstream: isObject(d.upstream)
					? clone(d.upstream)
					: isObject(state.override) && isObject(state.override.upstream)
						? state.override.upstream
						: {},
				canUndo: d.canUndo === true,
			}
			imposeOverride(state)
			break
		case 'suggestion': {
			if (typeof d.id !== 'string') break
			const rest = state.suggestions.filter((s) => s.id !== d.id && s.id !== d.replaces)
			state.suggestions = sortSuggestions(d.status === 'open' ? [...rest, clone(d)] : rest)
			break
		}
		default:
			break
	}
	if (OVERRIDABLE.includes(ev.type) && Object.keys(overrideFields(state)).length) imposeOverride(state)
	if (typeof ev.seq === 'number' && ev.seq > state.seq) state.seq = ev.seq
	return state
}

/** The open suggestions not yet expired at `now` (server ms), best first. */
export function openSuggestions(state, now = Date.now()) {
	return state.suggestions.filter(
		(s) => s.status === 'open' || s.status === undefined ? !(typeof s.expiresAt === 'number' && s.expiresAt <= now) : false
	)
}

/** Is this autofire key armed now? Automatic types are armed unless vetoed; suggestion rules only once armed. */
export function isArmed(state, key) {
	const v = state.autofire[key]
	if (typeof v === 'boolean') return v
	return !String(key).startsWith(SUGGESTION_PREFIX)
}
