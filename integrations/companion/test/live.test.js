/**
 * The module's logic against a real shotfeed demo server (50x): variables after hello match
 * GET …/state; every kind of action really changes the server, through the operator API, and
 * the variables and feedbacks follow from the WebSocket; a wrong token changes nothing and the
 * server's message reaches the log. Loopback only; every wait is bounded.
 */

import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Controller } from '../src/controller.js'
import { variableValues } from '../src/definitions.js'
import { normalizeState } from '../src/state.js'
import { DemoServer, FakeHost, GAME, TOKEN, waitFor } from './helpers.js'

const server = new DemoServer({ speed: 50 })
const controllers = []

async function connected({ token = TOKEN } = {}) {
	const host = new FakeHost()
	const ctl = new Controller(host)
	controllers.push(ctl)
	await ctl.configure({ url: server.url, game: GAME }, { token })
	await waitFor(() => ctl.connected && host.values.connected === true, { what: 'the hello' })
	return { host, ctl }
}

function stop(ctl) {
	ctl.stop()
}

before(async () => {
	await server.start()
})

after(async () => {
	for (const c of controllers) c.stop()
	await server.cleanup()
})

// The variables that come from the game (not the module's own: connected, seq).
const GAME_VARS = [
	'status',
	'home_score',
	'away_score',
	'home_name',
	'away_name',
	'home_short',
	'away_short',
	'home_color',
	'away_color',
	'clock',
	'clock_running',
	'period',
	'period_label',
	'period_short',
	'feed',
	'feed_ok',
	'feed_error',
	'on_air',
	'held',
	'vetoed',
	'override',
	'suggestion_id',
	'suggestion_text',
	'suggestion_count',
]

describe('variables', () => {
	test('after hello they are what GET /state says at that seq', async () => {
		// The demo moves several times a second: retry until a GET lands on the hello's seq.
		let compared = false
		for (let i = 0; i < 40 && !compared; i++) {
			const host = new FakeHost()
			const ctl = new Controller(host)
			controllers.push(ctl)
			let atHello = null
			let helloSeq = null
			await ctl.configure({ url: server.url, game: GAME }, { token: TOKEN })
			ctl.client.on('state', (st, why) => {
				if (why === 'hello' && atHello === null) {
					atHello = { ...host.values }
					helloSeq = st.seq
				}
			})
			await waitFor(() => atHello !== null, { what: 'the hello' })
			const rest = await server.state()
			stop(ctl)
			if (rest.seq !== helloSeq) continue
			compared = true
			const expected = variableValues(normalizeState(rest), {
				game: GAME,
				connected: true,
				graphics: ctl.graphics,
				armable: ctl.armable,
			})
			for (const k of GAME_VARS) assert.deepEqual(atHello[k], expected[k], `variable ${k}`)
			// and straight from the JSON, for the ones a reader checks first
			assert.equal(atHello.home_score, rest.home.score)
			assert.equal(atHello.away_score, rest.away.score)
			assert.equal(atHello.clock, rest.clockDisplay)
			assert.equal(atHello.period_short, rest.periodShort)
			assert.equal(atHello.period_label, rest.periodLabel)
			assert.equal(atHello.held, rest.held)
			assert.equal(atHello.feed, rest.feed.ok ? 'ok' : rest.feed.error)
			assert.equal(atHello.game, GAME)
			assert.equal(atHello.seq, rest.seq)
		}
		assert.ok(compared, 'no GET /state landed on a hello seq in 40 tries')
	})

	test('followed live, they catch up with the server', async () => {
		const { host, ctl } = await connected()
		const keys = ['home_score', 'away_score', 'period', 'period_short', 'on_air', 'held', 'feed']
		await waitFor(
			async () => {
				const rest = variableValues(normalizeState(await server.state()), {
					game: GAME,
					connected: true,
					graphics: ctl.graphics,
					armable: ctl.armable,
				})
				return keys.every((k) => host.values[k] === rest[k])
			},
			{ ms: 8000, what: 'the folded variables to equal GET /state' }
		)
		const defs = new Set(host.variableDefinitions.map((d) => d.variableId))
		for (const k of [...GAME_VARS, 'on_air_lowerthird', 'armed_made_three', 'armed_suggestion_shooting_night']) {
			assert.ok(defs.has(k), `variable ${k} is defined`)
		}
		stop(ctl)
	})
})

describe('actions', () => {
	let host
	let ctl
	before(async () => {
		;({ host, ctl } = await connected())
		// the graphics list comes from GET …/control once connected
		await waitFor(() => ctl.graphics.some((g) => g.id === 'compare'), { what: 'the control list' })
	})
	after(() => stop(ctl))

	test('show, toggle and hide a graphic with its payload', async () => {
		const payload = { title: 'Companion', subtitle: 'from a Stream Deck' }
		const r = await host.action('graphic_show', { graphic: 'lowerthird', payload: JSON.stringify(payload) })
		assert.equal(r.ok, true, JSON.stringify(r))
		assert.deepEqual((await server.state()).graphics.lowerthird, payload)
		await waitFor(() => host.values.on_air_lowerthird === true, { what: 'on_air_lowerthird' })
		assert.equal(host.feedback('on_air', { graphic: 'lowerthird' }), true)
		assert.match(String(host.values.on_air), /lowerthird/)

		// toggle on air -> hide
		assert.equal((await host.action('graphic_toggle', { graphic: 'lowerthird', payload: '' })).ok, true)
		assert.equal('lowerthird' in (await server.state()).graphics, false)
		await waitFor(() => host.values.on_air_lowerthird === false, { what: 'off air' })
		assert.equal(host.feedback('on_air', { graphic: 'lowerthird' }), false)

		// toggle off air -> show; then hide
		assert.equal((await host.action('graphic_toggle', { graphic: 'ticker', payload: '{"text":"hi"}' })).ok, true)
		assert.deepEqual((await server.state()).graphics.ticker, { text: 'hi' })
		assert.equal((await host.action('graphic_hide', { graphic: 'ticker' })).ok, true)
		assert.equal('ticker' in (await server.state()).graphics, false)
	})

	test('a payload that is not JSON sends nothing and says why', async () => {
		const before = (await server.state()).seq
		const r = await host.action('graphic_show', { graphic: 'lowerthird', payload: '{title: nope' })
		assert.equal(r.ok, false)
		assert.ok(host.errors().some((m) => /payload is not a JSON object/.test(m)), host.errors().join('\n'))
		const audit = await server.get(`/api/games/${GAME}/audit?limit=5`)
		assert.ok(!audit.entries.some((e) => e.at > Date.now() - 500 && e.action === 'graphic show lowerthird' && e.after && e.after.title === 'nope'))
		assert.ok((await server.state()).seq >= before)
	})

	test('hold, release and toggle', async () => {
		assert.equal((await host.action('hold', { mode: 'hold' })).ok, true)
		assert.equal((await server.state()).held, true)
		await waitFor(() => host.values.held === true && host.feedback('held') === true, { what: 'held' })
		assert.equal((await host.action('hold', { mode: 'toggle' })).ok, true)
		assert.equal((await server.state()).held, false)
		await waitFor(() => host.values.held === false && host.feedback('held') === false, { what: 'released' })
	})

	test('veto and arm a type', async () => {
		assert.equal((await host.action('autofire', { key: 'made_three', mode: 'veto' })).ok, true)
		assert.equal((await server.state()).autofire.made_three, false)
		await waitFor(() => host.feedback('vetoed', { key: 'made_three' }) === true, { what: 'vetoed' })
		assert.equal(host.values.armed_made_three, false)
		assert.match(String(host.values.vetoed), /made_three/)
		assert.equal((await host.action('autofire', { key: 'made_three', mode: 'toggle' })).ok, true)
		assert.equal((await server.state()).autofire.made_three, true)
		await waitFor(() => host.feedback('vetoed', { key: 'made_three' }) === false, { what: 'armed' })
		// a suggestion rule is not armed until set
		assert.equal(host.feedback('vetoed', { key: 'suggestion:zone_streak' }), true)
	})

	test('panic takes everything off air', async () => {
		await host.action('graphic_show', { graphic: 'lowerthird', payload: '{"title":"a"}' })
		await host.action('graphic_show', { graphic: 'compare', payload: '{"split":"fg"}' })
		assert.deepEqual(Object.keys((await server.state()).graphics).sort(), ['compare', 'lowerthird'])
		assert.equal((await host.action('panic')).ok, true)
		assert.deepEqual((await server.state()).graphics, {})
		await waitFor(() => host.values.on_air === '' && host.values.on_air_count === 0, { what: 'nothing on air' })
	})

	test('override score and clock, adjust, give back, clear', async () => {
		let r = await host.action('override_set', { home: '99', away: '', period: 'Q4', clock: '2:00' })
		assert.equal(r.ok, true, JSON.stringify(r))
		let st = await server.state()
		assert.equal(st.override.active, true)
		assert.equal(st.home.score, 99)
		assert.equal(st.clockDisplay, '2:00')
		await waitFor(() => host.values.home_score === 99 && host.values.clock === '2:00' && host.values.period === 'Q4', {
			what: 'the override in the variables',
		})
		assert.equal(host.feedback('override_active'), true)
		r = await host.action('override_adjust', { side: 'home', delta: 1 })
		assert.equal(r.ok, true, JSON.stringify(r))
		assert.equal((await server.state()).home.score, 100)
		await waitFor(() => host.values.home_score === 100, { what: 'home 100' })
		r = await host.action('override_release', { field: 'clock' })
		assert.equal(r.ok, true)
		assert.equal((await server.state()).override.fields.clock, undefined)
		r = await host.action('override_clear')
		assert.equal(r.ok, true)
		st = await server.state()
		assert.equal(st.override.active, false)
		await waitFor(() => host.values.override === false && host.feedback('override_active') === false, { what: 'override off' })
		// undo the clear: the override is back; clear it again
		assert.equal((await host.action('override_undo')).ok, true)
		assert.equal((await server.state()).override.active, true)
		await waitFor(() => host.values.override === true, { what: 'override back after undo' })
		assert.equal((await host.action('override_clear')).ok, true)
		await waitFor(() => host.values.override === false, { what: 'override off again' })
		await waitFor(async () => host.values.home_score === (await server.state()).home.score, { what: 'upstream score back' })
		// a bad value: the server's own message reaches the log, nothing changes
		r = await host.action('override_set', { period: 'Q99x' })
		assert.equal(r.ok, false)
		assert.equal(r.status, 422)
		assert.ok(host.errors().some((m) => m.includes('422 invalid')), host.errors().join('\n'))
		assert.equal((await server.state()).override.active, false)
	})

	test('accept the top suggestion, dismiss the next', async () => {
		// The demo game (seed 16) suggests within seconds at 50x.
		for (const verb of ['accept', 'dismiss']) {
			let done = null
			await waitFor(
				async () => {
					if (!host.feedback('suggestion_open', { rule: 'any' })) return false
					const sid = host.values.suggestion_id
					assert.ok(sid, 'suggestion_id is set while one is open')
					const r = await host.action(verb === 'accept' ? 'suggestion_accept' : 'suggestion_dismiss', { target: 'top' })
					// 409: it was replaced or withdrawn just then; the next one will do
					if (!r.ok && r.status === 409) return false
					assert.equal(r.ok, true, JSON.stringify(r))
					done = { sid, events: r.body.events }
					return true
				},
				{ ms: 20000, every: 50, what: `a suggestion to ${verb}` }
			)
			const last = done.events[done.events.length - 1]
			assert.equal(last.type, 'suggestion')
			assert.equal(last.data.id, done.sid)
			assert.equal(last.data.status, verb === 'accept' ? 'accepted' : 'dismissed')
			const st = await server.state()
			assert.ok(!st.suggestions.some((s) => s.id === done.sid), 'no longer open on the server')
			if (verb === 'accept') {
				const shown = done.events.find((e) => e.type === 'graphic')
				assert.ok(shown, 'accepting put its graphic on air')
				await waitFor(() => host.feedback('on_air', { graphic: shown.data.name }), { what: 'the accepted graphic on air' })
			}
			await waitFor(() => host.values.suggestion_id !== done.sid, { what: 'the suggestion gone from the variables' })
			const audit = await server.get(`/api/games/${GAME}/audit?limit=20`)
			assert.ok(audit.entries.some((e) => e.action === `suggestion ${verb} ${done.sid}` && e.who === 'operator'))
		}
	})
})

describe('a wrong token', () => {
	test('shows the server message and changes nothing', async () => {
		const good = await connected()
		assert.equal((await good.host.action('graphic_show', { graphic: 'lowerthird', payload: '{"title":"stays"}' })).ok, true)
		const auditBefore = (await server.get(`/api/games/${GAME}/audit?limit=1000`)).entries.length
		const { host, ctl } = await connected({ token: 'not-the-token-0123456789abcdef' })
		// reading works without the right token (variables follow the game)
		assert.equal(host.values.on_air_lowerthird, true)
		for (const [id, options] of [
			['panic', {}],
			['hold', { mode: 'hold' }],
			['graphic_hide', { graphic: 'lowerthird' }],
			['override_set', { home: '1' }],
		]) {
			const r = await host.action(id, options)
			assert.equal(r.ok, false, id)
			assert.equal(r.status, 401, id)
		}
		assert.ok(
			host.errors().some((m) => m.includes('panic failed: 401 unauthorized: the operator token is not right')),
			host.errors().join('\n')
		)
		const st = await server.state()
		assert.deepEqual(st.graphics.lowerthird, { title: 'stays' })
		assert.equal(st.held, false)
		assert.equal(st.override.active, false)
		assert.equal((await server.get(`/api/games/${GAME}/audit?limit=1000`)).entries.length, auditBefore)
		await good.host.action('panic')
		stop(ctl)
		stop(good.ctl)
	})

	test('no token at all: actions say so and send nothing', async () => {
		const { host, ctl } = await connected({ token: '' })
		const r = await host.action('panic')
		assert.equal(r.ok, false)
		assert.equal(r.error, 'no_token')
		assert.ok(host.logs.some((l) => l.level === 'warn' && /no operator token/.test(l.message)))
		stop(ctl)
	})
})
