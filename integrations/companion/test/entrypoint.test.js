/**
 * src/main.js as Companion runs it: a child process started with an IPC channel and the
 * environment Companion gives a module (MODULE_MANIFEST, CONNECTION_ID, VERIFICATION_TOKEN),
 * speaking @companion-module/base's own protocol to a small fake of Companion's side. It
 * registers, takes `init` with a config and secrets, defines its variables, feedbacks, actions
 * and presets, follows a real demo server, and a button press (`executeAction`) reaches the
 * server; a subscribed feedback's value comes back.
 */

import assert from 'node:assert/strict'
import { fork } from 'node:child_process'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { DemoServer, GAME, PACKAGE_DIR, TOKEN, waitFor } from './helpers.js'

const server = new DemoServer({ speed: 50 })

/** Companion's end of the module's IPC channel (host-api/ipc-wrapper.js of the base). */
class FakeCompanion {
	constructor(child) {
		this.child = child
		this.calls = [] // {name, payload}
		this.pending = new Map()
		this.nextId = 1
		child.on('message', (msg) => this._receive(msg))
	}

	_receive(msg) {
		if (msg.direction === 'response') {
			const cb = this.pending.get(msg.callbackId)
			this.pending.delete(msg.callbackId)
			if (!cb) return
			const data = msg.payload ? JSON.parse(msg.payload) : undefined
			if (msg.success) cb.resolve(data)
			else cb.reject(new Error((data && data.message) || 'call failed'))
			return
		}
		const payload = msg.payload ? JSON.parse(msg.payload) : undefined
		this.calls.push({ name: msg.name, payload })
		if (msg.callbackId) {
			// register (and anything else that wants an answer) is accepted
			this.child.send({ direction: 'response', callbackId: msg.callbackId, success: true, payload: JSON.stringify({}) })
		}
	}

	call(name, payload) {
		const callbackId = this.nextId++
		return new Promise((resolve, reject) => {
			this.pending.set(callbackId, { resolve, reject })
			this.child.send({ direction: 'call', name, payload: JSON.stringify(payload), callbackId })
		})
	}

	last(name) {
		for (let i = this.calls.length - 1; i >= 0; i--) if (this.calls[i].name === name) return this.calls[i].payload
		return undefined
	}

	/** The latest value of a variable as Companion would hold it. */
	variable(id) {
		let value
		for (const c of this.calls) {
			const list = c.name === 'setVariableValues' || c.name === 'setVariableDefinitions' ? c.payload.newValues || [] : []
			for (const v of list) if (v.id === id) value = v.value
		}
		return value
	}
}

let child = null

before(async () => {
	await server.start()
})

after(async () => {
	if (child && child.exitCode === null) child.kill('SIGKILL')
	await server.cleanup()
})

test('main.js under a fake Companion: init, variables, a button press, a feedback', async () => {
	let output = ''
	child = fork(path.join(PACKAGE_DIR, 'src', 'main.js'), [], {
		cwd: PACKAGE_DIR,
		env: {
			...process.env,
			MODULE_MANIFEST: path.join(PACKAGE_DIR, 'companion', 'manifest.json'),
			CONNECTION_ID: 'shotfeed-test',
			VERIFICATION_TOKEN: 'verify-me',
		},
		stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
	})
	child.stdout.on('data', (b) => (output += b))
	child.stderr.on('data', (b) => (output += b))
	const companion = new FakeCompanion(child)
	const register = await waitFor(() => companion.last('register'), { what: `register (output: ${output})` })
	assert.equal(register.connectionId, 'shotfeed-test')
	assert.equal(register.verificationToken, 'verify-me')

	const init = await companion.call('init', {
		label: 'shotfeed',
		isFirstInit: false,
		config: { url: server.url, game: GAME },
		secrets: { token: TOKEN, key: '' },
		lastUpgradeIndex: -1,
		feedbacks: {},
		actions: {},
	})
	assert.equal(init.newUpgradeIndex, -1)

	// the config form Companion draws, with the token as a secret field
	const fields = await companion.call('getConfigFields', {})
	const byId = Object.fromEntries(fields.fields.map((f) => [f.id, f]))
	assert.equal(byId.url.default, 'http://127.0.0.1:8000')
	assert.equal(byId.token.type, 'secret-text')
	assert.ok(byId.game && byId.key)

	await waitFor(() => companion.variable('connected') === true, { ms: 8000, what: `connected (output: ${output})` })
	const status = companion.calls.filter((c) => c.name === 'set-status').map((c) => c.payload.status)
	assert.ok(status.includes('ok'), status.join(','))
	const actions = companion.last('setActionDefinitions').actions.map((a) => a.id)
	for (const id of ['graphic_show', 'graphic_hide', 'hold', 'autofire', 'panic', 'override_set', 'suggestion_accept', 'suggestion_dismiss']) {
		assert.ok(actions.includes(id), `action ${id}`)
	}
	const feedbacks = companion.last('setFeedbackDefinitions').feedbacks.map((f) => f.id)
	for (const id of ['on_air', 'held', 'feed_failing', 'vetoed', 'suggestion_open']) assert.ok(feedbacks.includes(id), `feedback ${id}`)
	assert.ok(Object.keys(companion.last('setPresetDefinitions').presets).length >= 5)
	const rest = await server.state()
	assert.equal(typeof companion.variable('home_score'), 'number')
	assert.equal(companion.variable('game'), GAME)
	assert.equal(companion.variable('held'), rest.held)

	// a button with the on-air feedback for the lower third
	await companion.call('updateFeedbacks', {
		feedbacks: {
			fb1: { id: 'fb1', controlId: 'bank:1', feedbackId: 'on_air', options: { graphic: 'lowerthird' }, isInverted: false, upgradeIndex: -1, disabled: false },
		},
	})
	// a button press
	await companion.call('executeAction', {
		action: {
			id: 'act1',
			controlId: 'bank:1',
			actionId: 'graphic_show',
			options: { graphic: 'lowerthird', payload: '{"title":"from the deck"}' },
			upgradeIndex: -1,
			disabled: false,
		},
		surfaceId: 'streamdeck:1',
	})
	await waitFor(async () => (await server.state()).graphics.lowerthird?.title === 'from the deck', { what: 'the graphic on air' })
	await waitFor(() => companion.variable('on_air_lowerthird') === true, { what: 'on_air_lowerthird' })
	await waitFor(
		() =>
			companion.calls.some((c) => c.name === 'updateFeedbackValues' && c.payload.values.some((v) => v.id === 'fb1' && v.value === true)),
		{ what: 'the on_air feedback to turn true' }
	)

	await companion.call('destroy', {})
	child.kill('SIGTERM')
})
