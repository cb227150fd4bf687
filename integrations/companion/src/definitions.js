/**
 * What the module shows Companion: config fields, variables (and their values from a state),
 * feedbacks, actions and presets. Plain data and pure functions; `controller.js` wires them
 * to a host (the InstanceBase in Companion, a fake in the tests).
 */

import { isArmed, liveClock, openSuggestions } from './state.js'

export const DEFAULT_URL = 'http://127.0.0.1:8000'

/**
 * The graphics an operator fires by name, as `GET /api/games/{id}/control` lists them
 * (server/web/control.py). Used until the server has answered, or when it is a shotfeed
 * without that route.
 */
export const DEFAULT_GRAPHICS = [
	{ id: 'lowerthird', label: 'Lower third', example: { title: '', subtitle: '', team: null } },
	{ id: 'three', label: 'Three splash', example: { player: { name: '', number: '' }, team: 'home', distanceFt: 24 } },
	{ id: 'period', label: 'Period banner', example: {} },
	{ id: 'ticker', label: 'Ticker line', example: { text: '' } },
	{ id: 'playercard', label: 'Player card', example: { pid: '' } },
	{ id: 'zones', label: 'Zones', example: { team: 'home' } },
	{ id: 'compare', label: 'Compare', example: { split: 'fg' } },
]

const AUTOMATIC = ['made_three', 'score_update', 'period_change', 'scoring_run', 'hot_hand']
const RULES = ['scoring_run', 'shooting_night', 'zone_streak', 'longest_make', 'guarded_split']

export function armableLabel(key) {
	if (key.startsWith('suggestion:')) return 'Suggest: ' + key.slice('suggestion:'.length).replace(/_/g, ' ')
	const words = key.replace(/_/g, ' ')
	return words.charAt(0).toUpperCase() + words.slice(1)
}

/** The hold route's autofire keys (GET /api/operator "armable"). */
export const DEFAULT_ARMABLE = [...AUTOMATIC, ...RULES.map((r) => 'suggestion:' + r)].map((id) => ({
	id,
	label: armableLabel(id),
	kind: id.startsWith('suggestion:') ? 'suggestion' : 'automatic',
}))

/** A variable id from any key: "suggestion:zone_streak" -> "zone_streak" part kept, ':' -> '_'. */
export function varId(key) {
	return String(key).replace(/[^A-Za-z0-9_-]/g, '_')
}

// -- config ------------------------------------------------------------------------------------

export function configFields() {
	return [
		{
			type: 'static-text',
			id: 'info',
			width: 12,
			label: 'shotfeed',
			value:
				'Follows one game of a shotfeed server over its WebSocket, and runs the show through the operator API with your operator token (the same token the operator console asks for).',
		},
		{ type: 'textinput', id: 'url', label: 'Server URL', width: 8, default: DEFAULT_URL },
		{ type: 'textinput', id: 'game', label: 'Game id (event id)', width: 4, default: 'DEMO' },
		{ type: 'secret-text', id: 'token', label: 'Operator token', width: 8, default: '' },
		{
			type: 'secret-text',
			id: 'key',
			label: 'Overlay key (only if the server sets SHOTFEED_OVERLAY_KEY)',
			width: 8,
			default: '',
		},
	]
}

// -- variables ---------------------------------------------------------------------------------

export function variableDefinitions(graphics, armable) {
	const defs = [
		['connected', 'Connected to the server (true/false)'],
		['game', 'Game id'],
		['seq', 'Last event seq'],
		['status', 'Game status (ACTIVE, FINAL, …)'],
		['home_score', 'Home score'],
		['away_score', 'Away score'],
		['home_name', 'Home name'],
		['away_name', 'Away name'],
		['home_short', 'Home short name'],
		['away_short', 'Away short name'],
		['home_color', 'Home colour'],
		['away_color', 'Away colour'],
		['clock', 'Clock as the scorebug shows it (the server’s clockDisplay)'],
		['clock_live', 'Clock running on between polls, as an overlay runs it (the server’s clock while stopped)'],
		['clock_running', 'Clock running (true/false)'],
		['period', 'Period code (Q1, H2, OT, …)'],
		['period_label', 'Period label (2nd Quarter, …)'],
		['period_short', 'Period short (Q2, 1H, OT, …)'],
		['feed', 'Feed health: ok, or the error code (timeout, forbidden, …)'],
		['feed_ok', 'Feed ok (true/false)'],
		['feed_error', 'Feed error code (empty when ok)'],
		['feed_message', 'Feed error message (empty when ok)'],
		['on_air', 'Graphics on air (comma list)'],
		['on_air_count', 'Number of graphics on air'],
		['held', 'Automatic graphics held (true/false)'],
		['vetoed', 'Automatic types vetoed (comma list)'],
		['override', 'Manual override active (true/false)'],
		['suggestion_id', 'Top suggestion id (empty when none)'],
		['suggestion_text', 'Top suggestion text (what the commentator can say)'],
		['suggestion_graphic', 'Top suggestion graphic'],
		['suggestion_rule', 'Top suggestion rule'],
		['suggestion_count', 'Open suggestions'],
	].map(([variableId, name]) => ({ variableId, name }))
	for (const g of graphics) defs.push({ variableId: `on_air_${varId(g.id)}`, name: `On air: ${g.label} (true/false)` })
	for (const a of armable) defs.push({ variableId: `armed_${varId(a.id)}`, name: `Armed: ${a.label} (true/false)` })
	return defs
}

const text = (v) => (v === null || v === undefined ? '' : String(v))

/** Every variable's value from a state (null: not connected yet). */
export function variableValues(state, { game, connected, graphics, armable, now = Date.now() }) {
	const s = state
	const on = s ? Object.keys(s.graphics).sort() : []
	const open = s ? openSuggestions(s, now) : []
	const top = open[0] || null
	const v = {
		connected: connected === true,
		game: text(game),
		seq: s ? s.seq : 0,
		status: text(s && s.status),
		home_score: s && typeof s.home.score === 'number' ? s.home.score : '',
		away_score: s && typeof s.away.score === 'number' ? s.away.score : '',
		home_name: text(s && s.home.name),
		away_name: text(s && s.away.name),
		home_short: text(s && s.home.short),
		away_short: text(s && s.away.short),
		home_color: text(s && s.home.color),
		away_color: text(s && s.away.color),
		clock: text(s && s.clockDisplay),
		clock_live: text(s && liveClock(s, now)),
		clock_running: !!(s && s.clockRunning),
		period: text(s && s.period),
		period_label: text(s && s.periodLabel),
		period_short: text(s && s.periodShort),
		feed: s ? (s.feed.ok ? 'ok' : text(s.feed.error) || 'error') : '',
		feed_ok: !!(s && s.feed.ok),
		feed_error: text(s && !s.feed.ok ? s.feed.error : ''),
		feed_message: text(s && !s.feed.ok ? s.feed.message : ''),
		on_air: on.join(','),
		on_air_count: on.length,
		held: !!(s && s.held),
		vetoed: s ? AUTOMATIC.filter((k) => !isArmed(s, k)).join(',') : '',
		override: !!(s && s.override && s.override.active),
		suggestion_id: text(top && top.id),
		suggestion_text: text(top && top.text),
		suggestion_graphic: text(top && top.graphic),
		suggestion_rule: text(top && top.rule),
		suggestion_count: open.length,
	}
	for (const g of graphics) v[`on_air_${varId(g.id)}`] = !!(s && g.id in s.graphics)
	for (const a of armable) v[`armed_${varId(a.id)}`] = !!(s && isArmed(s, a.id))
	return v
}

// -- feedbacks ---------------------------------------------------------------------------------

const RED = (255 << 16) | (0 << 8) | 0
const GREEN = (0 << 16) | (160 << 8) | 0
const AMBER = (230 << 16) | (140 << 8) | 0
const WHITE = 0xffffff
const BLACK = 0

function graphicChoices(graphics) {
	return graphics.map((g) => ({ id: g.id, label: g.label }))
}

/** Feedback definitions; `ctl` answers the questions from its current state. */
export function feedbackDefinitions(ctl, graphics, armable) {
	const graphic = {
		type: 'dropdown',
		id: 'graphic',
		label: 'Graphic',
		default: graphics[0] ? graphics[0].id : 'lowerthird',
		choices: graphicChoices(graphics),
		allowCustom: true,
	}
	return {
		on_air: {
			type: 'boolean',
			name: 'Graphic on air',
			description: 'True while this graphic is on air',
			defaultStyle: { bgcolor: RED, color: WHITE },
			showInvert: true,
			options: [graphic],
			callback: (fb) => ctl.isOnAir(String(fb.options.graphic || '')),
		},
		held: {
			type: 'boolean',
			name: 'Automatic graphics held',
			description: 'True while the operator holds every automatic graphic',
			defaultStyle: { bgcolor: AMBER, color: BLACK },
			showInvert: true,
			options: [],
			callback: () => ctl.isHeld(),
		},
		feed_failing: {
			type: 'boolean',
			name: 'Feed failing',
			description: 'True while the upstream feed (or the server’s store) fails, or the module is not connected',
			defaultStyle: { bgcolor: RED, color: WHITE },
			showInvert: true,
			options: [{ type: 'checkbox', id: 'disconnected', label: 'Also when the module is not connected', default: true }],
			callback: (fb) => ctl.isFeedFailing(fb.options.disconnected !== false),
		},
		vetoed: {
			type: 'boolean',
			name: 'Automatic type vetoed (not armed)',
			description: 'True while this automatic type (or suggestion rule) does not fire by itself',
			defaultStyle: { bgcolor: RED, color: WHITE },
			showInvert: true,
			options: [
				{
					type: 'dropdown',
					id: 'key',
					label: 'Type',
					default: armable[0] ? armable[0].id : 'made_three',
					choices: armable.map((a) => ({ id: a.id, label: a.label })),
					allowCustom: true,
				},
			],
			callback: (fb) => ctl.isVetoed(String(fb.options.key || '')),
		},
		suggestion_open: {
			type: 'boolean',
			name: 'Suggestion open',
			description: 'True while a suggestion is waiting for Accept / Dismiss',
			defaultStyle: { bgcolor: GREEN, color: WHITE },
			showInvert: true,
			options: [
				{
					type: 'dropdown',
					id: 'rule',
					label: 'Rule',
					default: 'any',
					choices: [{ id: 'any', label: 'Any rule' }, ...RULES.map((r) => ({ id: r, label: r.replace(/_/g, ' ') }))],
					allowCustom: true,
				},
			],
			callback: (fb) => ctl.hasSuggestion(String(fb.options.rule || 'any')),
		},
		override_active: {
			type: 'boolean',
			name: 'Manual override on air',
			description: 'True while the operator overrides score, period or clock',
			defaultStyle: { bgcolor: AMBER, color: BLACK },
			showInvert: true,
			options: [],
			callback: () => ctl.isOverridden(),
		},
	}
}

// -- actions -----------------------------------------------------------------------------------

export function actionDefinitions(ctl, graphics, armable) {
	const graphic = {
		type: 'dropdown',
		id: 'graphic',
		label: 'Graphic',
		default: graphics[0] ? graphics[0].id : 'lowerthird',
		choices: graphicChoices(graphics),
		allowCustom: true,
	}
	const payload = {
		type: 'textinput',
		id: 'payload',
		label: 'Payload (JSON object; empty = {})',
		default: '',
		useVariables: true,
		tooltip:
			'lowerthird {"title","subtitle","team"}, three {"player":{"name","number"},"team","distanceFt"}, ticker {"text"}, playercard {"pid"}, zones {"team"} or {"pid"}, compare {"split"}',
	}
	const key = {
		type: 'dropdown',
		id: 'key',
		label: 'Automatic type / suggestion rule',
		default: armable[0] ? armable[0].id : 'made_three',
		choices: armable.map((a) => ({ id: a.id, label: a.label })),
		allowCustom: true,
	}
	const target = {
		type: 'textinput',
		id: 'target',
		label: 'Suggestion id (empty or "top" = the top suggestion)',
		default: 'top',
		useVariables: true,
	}
	const field = (id, label) => ({ type: 'textinput', id, label, default: '', useVariables: true })
	// the result ({ok, …}) is for the tests; Companion ignores what an action returns
	const run = (fn) => async (ev) => fn(ev.options || {})
	return {
		graphic_show: {
			name: 'Graphic: show',
			options: [graphic, payload],
			callback: run((o) => ctl.showGraphic(o.graphic, o.payload)),
		},
		graphic_hide: {
			name: 'Graphic: hide',
			options: [graphic],
			callback: run((o) => ctl.hideGraphic(o.graphic)),
		},
		graphic_toggle: {
			name: 'Graphic: toggle (show, or hide when on air)',
			options: [graphic, payload],
			callback: run((o) => ctl.toggleGraphic(o.graphic, o.payload)),
		},
		hold: {
			name: 'Hold / release automatic graphics',
			options: [
				{
					type: 'dropdown',
					id: 'mode',
					label: 'Mode',
					default: 'toggle',
					choices: [
						{ id: 'hold', label: 'Hold' },
						{ id: 'release', label: 'Release' },
						{ id: 'toggle', label: 'Toggle' },
					],
				},
			],
			callback: run((o) => ctl.hold(o.mode || 'toggle')),
		},
		autofire: {
			name: 'Arm / veto an automatic type',
			options: [
				key,
				{
					type: 'dropdown',
					id: 'mode',
					label: 'Mode',
					default: 'toggle',
					choices: [
						{ id: 'arm', label: 'Arm' },
						{ id: 'veto', label: 'Veto' },
						{ id: 'toggle', label: 'Toggle' },
					],
				},
			],
			callback: run((o) => ctl.arm(o.key, o.mode || 'toggle')),
		},
		panic: {
			name: 'PANIC: every graphic off air',
			options: [],
			callback: run(() => ctl.panic()),
		},
		override_set: {
			name: 'Override: set score / period / clock',
			description: 'Fields left empty stay as they are',
			options: [
				field('home', 'Home score'),
				field('away', 'Away score'),
				field('period', 'Period (Q4, H2, OT, …)'),
				field('clock', 'Clock (2:00, 12:00)'),
			],
			callback: run((o) => ctl.overrideSet(o)),
		},
		override_adjust: {
			name: 'Override: adjust a score (+1 / -1 …)',
			options: [
				{
					type: 'dropdown',
					id: 'side',
					label: 'Team',
					default: 'home',
					choices: [
						{ id: 'home', label: 'Home' },
						{ id: 'away', label: 'Away' },
					],
				},
				{ type: 'number', id: 'delta', label: 'Points', default: 1, min: -99, max: 99 },
			],
			callback: run((o) => ctl.overrideAdjust(o.side, o.delta)),
		},
		override_release: {
			name: 'Override: give one field back to the upstream',
			options: [
				{
					type: 'dropdown',
					id: 'field',
					label: 'Field',
					default: 'clock',
					choices: ['home', 'away', 'period', 'clock'].map((id) => ({ id, label: id })),
				},
			],
			callback: run((o) => ctl.overrideRelease(o.field)),
		},
		override_clear: {
			name: 'Override: clear all',
			options: [],
			callback: run(() => ctl.overrideClear()),
		},
		override_undo: {
			name: 'Override: undo the last change',
			options: [],
			callback: run(() => ctl.overrideUndo()),
		},
		suggestion_accept: {
			name: 'Suggestion: accept (its graphic goes on air)',
			options: [target],
			callback: run((o) => ctl.decideSuggestion('accept', o.target)),
		},
		suggestion_dismiss: {
			name: 'Suggestion: dismiss',
			options: [target],
			callback: run((o) => ctl.decideSuggestion('dismiss', o.target)),
		},
	}
}

// -- presets -----------------------------------------------------------------------------------

export function presetDefinitions(label, graphics) {
	const v = (name) => `$(${label}:${name})`
	const button = (category, name, text, down, feedbacks = [], style = {}) => ({
		type: 'button',
		category,
		name,
		style: Object.assign({ text, size: 'auto', color: WHITE, bgcolor: BLACK }, style),
		steps: [{ down, up: [] }],
		feedbacks,
	})
	const presets = {
		panic: button('Show', 'PANIC', 'PANIC', [{ actionId: 'panic', options: {} }], [], { bgcolor: (120 << 16) | 0, size: '24' }),
		hold: button(
			'Show',
			'Hold toggle',
			'HOLD',
			[{ actionId: 'hold', options: { mode: 'toggle' } }],
			[{ feedbackId: 'held', options: {}, style: { bgcolor: AMBER, color: BLACK } }]
		),
		accept: button(
			'Suggestions',
			'Accept the top suggestion',
			`ACCEPT\\n${v('suggestion_text')}`,
			[{ actionId: 'suggestion_accept', options: { target: 'top' } }],
			[{ feedbackId: 'suggestion_open', options: { rule: 'any' }, style: { bgcolor: GREEN, color: WHITE } }],
			{ size: '7' }
		),
		dismiss: button(
			'Suggestions',
			'Dismiss the top suggestion',
			'DISMISS',
			[{ actionId: 'suggestion_dismiss', options: { target: 'top' } }],
			[{ feedbackId: 'suggestion_open', options: { rule: 'any' }, style: { bgcolor: (90 << 16) | (90 << 8) | 90 } }]
		),
		score: button('Game', 'Score', `${v('home_short')} ${v('home_score')}\\n${v('away_short')} ${v('away_score')}`, [], [
			{ feedbackId: 'feed_failing', options: { disconnected: true }, style: { bgcolor: RED, color: WHITE } },
		]),
		clock: button('Game', 'Clock and period', `${v('period_short')}\\n${v('clock')}`, []),
		home_plus: button('Game', 'Home +1 (override)', `${v('home_short')}\\n+1`, [
			{ actionId: 'override_adjust', options: { side: 'home', delta: 1 } },
		]),
		away_plus: button('Game', 'Away +1 (override)', `${v('away_short')}\\n+1`, [
			{ actionId: 'override_adjust', options: { side: 'away', delta: 1 } },
		]),
		override_clear: button(
			'Game',
			'Clear the override',
			'CLEAR\\nOVERRIDE',
			[{ actionId: 'override_clear', options: {} }],
			[{ feedbackId: 'override_active', options: {}, style: { bgcolor: AMBER, color: BLACK } }]
		),
	}
	for (const g of graphics) {
		presets[`toggle_${varId(g.id)}`] = button(
			'Graphics',
			`${g.label}: show / hide`,
			g.label.toUpperCase(),
			[{ actionId: 'graphic_toggle', options: { graphic: g.id, payload: JSON.stringify(g.example || {}) } }],
			[{ feedbackId: 'on_air', options: { graphic: g.id }, style: { bgcolor: RED, color: WHITE } }]
		)
	}
	return presets
}
