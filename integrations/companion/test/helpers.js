/**
 * Test helpers: a real shotfeed demo server on a free loopback port, and a fake of the
 * Companion host side (what InstanceBase offers the module), which records what it is given.
 *
 * The server is `python -m server demo --port P --speed 50 --db FILE` with
 * SHOTFEED_OPERATOR_TOKEN set; the Python is SHOTFEED_PYTHON, else ../../.venv/bin/python
 * relative to this package (the checkout's venv).
 */

import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const HERE = path.dirname(fileURLToPath(import.meta.url))
export const PACKAGE_DIR = path.resolve(HERE, '..')
export const REPO_DIR = path.resolve(PACKAGE_DIR, '..', '..')
export const PYTHON = process.env.SHOTFEED_PYTHON || path.join(REPO_DIR, '.venv', 'bin', 'python')
export const TOKEN = 'companion-test-token-0123456789abcdef'
export const GAME = 'DEMO'

export function sleep(ms) {
	return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Resolve with fn()'s first truthy value, polling; reject after `ms` with `what`. */
export async function waitFor(fn, { ms = 5000, every = 25, what = 'condition' } = {}) {
	const end = Date.now() + ms
	let last
	for (;;) {
		try {
			last = await fn()
			if (last) return last
		} catch (e) {
			last = e
		}
		if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${last && (last.message || JSON.stringify(last))})`)
		await sleep(every)
	}
}

export async function freePort() {
	const srv = net.createServer()
	srv.listen(0, '127.0.0.1')
	await once(srv, 'listening')
	const { port } = srv.address()
	await new Promise((resolve) => srv.close(resolve))
	return port
}

/**
 * A demo server: `start()` (again after `kill()`, on the same port and store, for restarts),
 * `kill()`, `url`, `output()` (what it printed, for failure messages), `cleanup()`.
 */
export class DemoServer {
	constructor({ speed = 50, port = null } = {}) {
		this.speed = speed
		this.port = port
		this.dir = mkdtempSync(path.join(tmpdir(), 'shotfeed-companion-'))
		this.db = path.join(this.dir, 'shotfeed.db')
		this.proc = null
		this.out = ''
	}

	get url() {
		return `http://127.0.0.1:${this.port}`
	}

	output() {
		return this.out.slice(-4000)
	}

	async start({ ms = 20000 } = {}) {
		if (this.port === null) this.port = await freePort()
		const args = ['-m', 'server', 'demo', '--port', String(this.port), '--speed', String(this.speed), '--db', this.db]
		const env = { ...process.env, SHOTFEED_OPERATOR_TOKEN: TOKEN }
		delete env.SHOTFEED_OPERATOR_TOKENS
		delete env.SHOTFEED_OVERLAY_KEY
		delete env.SHOTFEED_ALLOWED_ORIGINS
		delete env.SHOTFEED_GAMES
		const proc = spawn(PYTHON, args, { cwd: REPO_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] })
		this.proc = proc
		proc.stdout.on('data', (b) => (this.out += b.toString()))
		proc.stderr.on('data', (b) => (this.out += b.toString()))
		let exited = false
		proc.once('exit', () => (exited = true))
		await waitFor(
			async () => {
				if (exited) throw new Error(`the demo server exited:\n${this.output()}`)
				const r = await fetch(`${this.url}/api/games/${GAME}/state`, { signal: AbortSignal.timeout(1000) })
				if (!r.ok) return false
				const s = await r.json()
				return s.feed && s.feed.lastSuccessAt !== null
			},
			{ ms, every: 100, what: `the demo server on ${this.url}` }
		)
		if (exited) throw new Error(`the demo server exited:\n${this.output()}`)
	}

	/** SIGKILL (a crash, or a pulled cable): the store keeps what was committed. */
	async kill(signal = 'SIGKILL') {
		const proc = this.proc
		this.proc = null
		if (!proc || proc.exitCode !== null || proc.signalCode !== null) return
		const gone = once(proc, 'exit')
		proc.kill(signal)
		await gone
	}

	async cleanup() {
		await this.kill('SIGTERM')
		rmSync(this.dir, { recursive: true, force: true })
	}

	async get(pathname) {
		const r = await fetch(this.url + pathname, {
			headers: { authorization: `Bearer ${TOKEN}` },
			signal: AbortSignal.timeout(5000),
		})
		if (!r.ok) throw new Error(`GET ${pathname}: ${r.status} ${await r.text()}`)
		return r.json()
	}

	state() {
		return this.get(`/api/games/${GAME}/state`)
	}
}

/** What Companion's InstanceBase gives a module, recorded. */
export class FakeHost {
	constructor(label = 'shotfeed') {
		this.label = label
		this.variableDefinitions = []
		this.values = {}
		this.feedbackDefinitions = {}
		this.actionDefinitions = {}
		this.presetDefinitions = {}
		this.logs = []
		this.statuses = []
		this.checked = 0
	}

	setVariableDefinitions(defs) {
		this.variableDefinitions = defs
	}

	setVariableValues(values) {
		Object.assign(this.values, values)
	}

	getVariableValue(id) {
		return this.values[id]
	}

	setFeedbackDefinitions(defs) {
		this.feedbackDefinitions = defs
	}

	setActionDefinitions(defs) {
		this.actionDefinitions = defs
	}

	setPresetDefinitions(defs) {
		this.presetDefinitions = defs
	}

	checkFeedbacks() {
		this.checked += 1
	}

	updateStatus(status, message = null) {
		this.statuses.push({ status, message })
	}

	log(level, message) {
		this.logs.push({ level, message })
	}

	get status() {
		return this.statuses.length ? this.statuses[this.statuses.length - 1].status : null
	}

	/** Evaluate a boolean feedback as Companion would, with these options. */
	feedback(id, options = {}) {
		const def = this.feedbackDefinitions[id]
		if (!def) throw new Error(`no feedback ${id}`)
		return def.callback({ id: 'fb1', controlId: 'c1', feedbackId: id, options })
	}

	/** Run an action as Companion would (a button press). */
	async action(id, options = {}) {
		const def = this.actionDefinitions[id]
		if (!def) throw new Error(`no action ${id}`)
		return def.callback({ id: 'a1', controlId: 'c1', actionId: id, options, surfaceId: undefined })
	}

	errors() {
		return this.logs.filter((l) => l.level === 'error').map((l) => l.message)
	}
}
