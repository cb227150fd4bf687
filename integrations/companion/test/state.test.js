/**
 * The fold (pure) and a client fed hostile frames by a small loopback WebSocket server: it
 * never throws, skips what it cannot read, and keeps following.
 */

import assert from 'node:assert/strict'
import { once } from 'node:events'
import http from 'node:http'
import { test } from 'node:test'
import { WebSocketServer } from 'ws'
import { ShotfeedClient, wsUrl } from '../src/client.js'
import { Controller } from '../src/controller.js'
import { presetDefinitions, variableValues } from '../src/definitions.js'
import { applyEvent, displayClock, isArmed, liveClock, normalizeState, openSuggestions, periodLabel, periodShort } from '../src/state.js'
import { FakeHost, waitFor } from './helpers.js'

test('clock and period read as the server writes them', () => {
	assert.equal(displayClock('00:15:00'), '15:00')
	assert.equal(displayClock('00:05:07'), '5:07')
	assert.equal(displayClock('01:02:03'), '01:02:03')
	assert.equal(displayClock('00:00:09.5'), '0:09.5')
	assert.equal(displayClock(null), null)
	assert.equal(periodShort('Q3'), 'Q3')
	assert.equal(periodShort('H2'), '2H')
	assert.equal(periodShort('OT'), 'OT')
	assert.equal(periodShort('OT2'), '2OT')
	assert.equal(periodLabel('H2'), '2nd Half')
	assert.equal(periodLabel('Q1'), '1st Quarter')
	assert.equal(periodLabel('OT1'), 'Overtime')
	assert.equal(periodLabel('OT3'), '3rd Overtime')
	assert.equal(periodLabel('weird'), 'weird')
})

test('clock_live runs on from when the clock was read, and stands while stopped', () => {
	const s = normalizeState({ clock: '00:10:00', clockRunning: true })
	s.clockReadAt = 1_000_000
	assert.equal(liveClock(s, 1_000_000), '10:00')
	assert.equal(liveClock(s, 1_001_500), '9:59')
	assert.equal(liveClock(s, 1_000_000 + 700_000), '0:00')
	s.clockRunning = false
	assert.equal(liveClock(s, 1_001_500), '10:00')
	const v = variableValues(s, { game: 'G', connected: true, graphics: [], armable: [], now: 1_001_500 })
	assert.equal(v.clock_live, '10:00')
})

test('events fold into the state', () => {
	const s = normalizeState({ seq: 10, home: { score: 1 }, away: { score: 2 }, period: 'Q1', clock: '00:10:00' })
	applyEvent(s, { seq: 11, type: 'score_update', data: { home: 3, away: 2 } })
	applyEvent(s, { seq: 12, type: 'clock', at: 5, data: { clock: '00:09:59', running: true } })
	applyEvent(s, { seq: 13, type: 'period_change', data: { from: 'Q1', to: 'Q2', label: '2nd Quarter' } })
	applyEvent(s, { seq: 14, type: 'graphic', data: { action: 'show', name: 'lowerthird', payload: { title: 'x' } } })
	applyEvent(s, { seq: 15, type: 'graphic', data: { action: 'show', name: 'test:made_three', payload: {} } })
	applyEvent(s, { seq: 16, type: 'hold', data: { held: true, autofire: { made_three: false } } })
	applyEvent(s, { seq: 17, type: 'feed_status', at: 9, data: { ok: false, error: 'timeout', message: 'slow' } })
	applyEvent(s, { seq: 18, type: 'config', data: { home: { name: 'Hawks', short: 'HAW' } } })
	assert.equal(s.home.score, 3)
	assert.equal(s.clockDisplay, '9:59')
	assert.equal(s.period, 'Q2')
	assert.equal(s.periodShort, 'Q2')
	assert.deepEqual(Object.keys(s.graphics), ['lowerthird'])
	assert.equal(s.held, true)
	assert.equal(isArmed(s, 'made_three'), false)
	assert.equal(isArmed(s, 'hot_hand'), true)
	assert.equal(isArmed(s, 'suggestion:zone_streak'), false)
	assert.equal(s.feed.ok, false)
	assert.equal(s.home.name, 'Hawks')
	assert.equal(s.seq, 18)
	const v = variableValues(s, { game: 'G', connected: true, graphics: [{ id: 'lowerthird', label: 'LT' }], armable: [] })
	assert.equal(v.feed, 'timeout')
	assert.equal(v.on_air, 'lowerthird')
	assert.equal(v.on_air_lowerthird, true)
	assert.equal(v.vetoed, 'made_three')
	applyEvent(s, { seq: 19, type: 'graphic', data: { action: 'clear', name: null, payload: {} } })
	assert.deepEqual(s.graphics, {})
})

test('the override wins over upstream events until cleared', () => {
	const s = normalizeState({ home: { score: 10 }, away: { score: 8 }, period: 'Q3', clock: '00:05:00' })
	const upstream = { home: 10, away: 8, period: 'Q3', clock: '00:05:00', clockRunning: true, clockAt: 1 }
	applyEvent(s, { seq: 1, type: 'override', data: { action: 'set', active: true, fields: { home: 50, clock: '00:02:00' }, upstream } })
	assert.equal(s.home.score, 50)
	assert.equal(s.clockDisplay, '2:00')
	assert.equal(s.clockRunning, false)
	applyEvent(s, { seq: 2, type: 'score_update', data: { home: 12, away: 9 } })
	applyEvent(s, { seq: 3, type: 'clock', at: 2, data: { clock: '00:04:59' } })
	assert.equal(s.home.score, 50)
	assert.equal(s.away.score, 9)
	assert.equal(s.clockDisplay, '2:00')
	applyEvent(s, { seq: 4, type: 'override', data: { action: 'clear', active: false, fields: {}, upstream: undefined } })
	assert.equal(s.home.score, 12)
	assert.equal(s.clockDisplay, '4:59')
})

test('suggestions: open ones best first, closed and replaced ones gone, expired ones hidden', () => {
	const s = normalizeState({})
	applyEvent(s, { seq: 1, type: 'suggestion', data: { id: 's1', status: 'open', score: 50, text: 'a', expiresAt: 1000 } })
	applyEvent(s, { seq: 2, type: 'suggestion', data: { id: 's2', status: 'open', score: 70, text: 'b', expiresAt: 5000 } })
	assert.deepEqual(openSuggestions(s, 0).map((x) => x.id), ['s2', 's1'])
	assert.deepEqual(openSuggestions(s, 2000).map((x) => x.id), ['s2'])
	applyEvent(s, { seq: 3, type: 'suggestion', data: { id: 's3', status: 'open', score: 60, replaces: 's2', expiresAt: 5000 } })
	assert.deepEqual(openSuggestions(s, 0).map((x) => x.id), ['s3', 's1'])
	applyEvent(s, { seq: 4, type: 'suggestion', data: { id: 's3', status: 'accepted' } })
	applyEvent(s, { seq: 5, type: 'suggestion', data: { id: 's1', status: 'withdrawn' } })
	assert.deepEqual(openSuggestions(s, 0), [])
})

test('junk events leave the state as it was', () => {
	const s = normalizeState({ seq: 1, home: { score: 4 } })
	for (const ev of [null, 7, 'x', [], { type: 'score_update', data: 'no' }, { type: 'graphic', data: { action: 'show', name: 5 } }, { type: 'suggestion', data: { id: 9 } }, { type: 'nope', seq: 2 }]) {
		applyEvent(s, ev)
	}
	assert.equal(s.home.score, 4)
	assert.deepEqual(s.graphics, {})
	assert.deepEqual(s.suggestions, [])
})

test('wsUrl: types, since and key', () => {
	const u = new URL(wsUrl('https://h.example:8443/', 'EV 1', { since: 42, key: 'k&y' }))
	assert.equal(u.protocol, 'wss:')
	assert.equal(u.pathname, '/ws/games/EV%201')
	assert.equal(u.searchParams.get('since'), '42')
	assert.equal(u.searchParams.get('key'), 'k&y')
	assert.ok(u.searchParams.get('types').split(',').includes('suggestion'))
	assert.ok(!u.searchParams.get('types').split(',').includes('stats'))
	assert.throws(() => wsUrl('ftp://x', 'G'))
})

test('presets name the connection and only the known actions and feedbacks', () => {
	const host = new FakeHost('deck')
	const ctl = new Controller(host)
	ctl.define()
	const presets = presetDefinitions('deck', ctl.graphics)
	assert.match(presets.accept.style.text, /\$\(deck:suggestion_text\)/)
	for (const p of Object.values(presets)) {
		for (const step of p.steps) for (const a of step.down) assert.ok(a.actionId in host.actionDefinitions, a.actionId)
		for (const f of p.feedbacks) assert.ok(f.feedbackId in host.feedbackDefinitions, f.feedbackId)
	}
})

test('bad config: says so, does not connect', async () => {
	const host = new FakeHost()
	const ctl = new Controller(host)
	await ctl.configure({ url: 'not a url', game: 'G' }, { token: 'x' })
	assert.equal(host.status, 'bad_config')
	await ctl.configure({ url: 'http://127.0.0.1:1', game: '' }, {})
	assert.equal(host.status, 'bad_config')
	assert.equal(ctl.client, null)
	assert.equal((await ctl.panic()).ok, false)
})

test('hostile frames are skipped and the client keeps following', async () => {
	const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
	await once(wss, 'listening')
	const { port } = wss.address()
	const queries = []
	wss.on('connection', (ws, req) => {
		queries.push(new URL(req.url, 'http://x').searchParams.get('since'))
		if (queries.length > 1) {
			ws.send(JSON.stringify({ type: 'hello', protocol: 1, game: 'G', seq: 30, gap: false, state: { seq: 30, home: { score: 9 } } }))
			return
		}
		ws.send('not json {')
		ws.send(Buffer.from([0, 1, 2]), { binary: true })
		ws.send('[1,2,3]')
		ws.send('null')
		ws.send(JSON.stringify({ type: 'score_update', seq: 3, data: { home: 1 } })) // before hello: ignored
		ws.send(JSON.stringify({ type: 'hello', protocol: 1, game: 'G', seq: 5, gap: false, state: 'garbage' }))
		ws.send(JSON.stringify({ type: 'score_update', seq: 4, data: { home: 99 } })) // replayed, in hello already
		ws.send(JSON.stringify({ type: 'score_update', seq: 6, data: { home: 'x', away: 3 } }))
		ws.send(JSON.stringify({ type: 'graphic', seq: 7, data: null }))
		ws.send(JSON.stringify({ type: 'error', message: 'bad op' }))
		ws.send(JSON.stringify({ type: 'heartbeat', seq: 7 }))
		ws.send(JSON.stringify({ type: 'score_update', seq: 8, data: { home: 2, away: 4 } }))
		setTimeout(() => ws.close(1013, 'too slow'), 100)
	})
	const client = new ShotfeedClient({ url: `http://127.0.0.1:${port}`, game: 'G' })
	const logs = []
	client.on('log', (level, text) => logs.push(`${level} ${text}`))
	try {
		client.start()
		await waitFor(() => client.state && client.state.seq === 8, { what: 'the good event after the junk' })
		assert.equal(client.state.home.score, 2)
		assert.equal(client.state.away.score, 4)
		await waitFor(() => client.state.seq === 30, { ms: 5000, what: 'the reconnect' })
		assert.deepEqual(queries, [null, '8'])
		assert.equal(client.state.home.score, 9)
		assert.ok(logs.some((l) => l.includes('not JSON')), logs.join('\n'))
		assert.ok(logs.some((l) => l.includes('too slow')), logs.join('\n'))
	} finally {
		client.stop()
		await new Promise((r) => wss.close(r))
	}
})

test('a refused upgrade (503 busy, then 1008) is retried with backoff until a hello comes', async () => {
	const wss = new WebSocketServer({ noServer: true })
	let tries = 0
	const srv = http.createServer((_req, res) => res.end())
	srv.on('upgrade', (req, socket, head) => {
		tries += 1
		if (tries === 1) {
			socket.end('HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}')
			return
		}
		wss.handleUpgrade(req, socket, head, (ws) => {
			if (tries === 2) {
				ws.send(JSON.stringify({ type: 'error', message: 'unknown game' }))
				ws.close(1008, 'unknown game')
				return
			}
			ws.send(JSON.stringify({ type: 'hello', protocol: 1, game: 'G', seq: 3, gap: false, state: { seq: 3 } }))
		})
	})
	srv.listen(0, '127.0.0.1')
	await once(srv, 'listening')
	const host = new FakeHost()
	const ctl = new Controller(host)
	try {
		await ctl.configure({ url: `http://127.0.0.1:${srv.address().port}`, game: 'G' }, { token: 't' })
		await waitFor(() => ctl.connected, { ms: 5000, what: 'the third try' })
		assert.equal(tries, 3)
		const failures = host.statuses.filter((x) => x.status === 'connection_failure').map((x) => x.message)
		assert.ok(failures.some((m) => m.includes('503')), failures.join('; '))
		assert.ok(failures.some((m) => m.includes('unknown game')), failures.join('; '))
		assert.equal(host.status, 'ok')
		assert.equal(host.values.connected, true)
	} finally {
		ctl.stop()
		await new Promise((r) => srv.close(r))
		srv.closeAllConnections()
	}
})
