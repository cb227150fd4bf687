/**
 * The module's logic, apart from Companion: follows the game (ShotfeedClient), turns its state
 * into variables and feedbacks, and carries out actions through the operator HTTP API.
 *
 * `host` is what Companion's InstanceBase offers (the InstanceBase itself in main.js, a fake in
 * the tests): setVariableDefinitions, setVariableValues, setFeedbackDefinitions,
 * setActionDefinitions, setPresetDefinitions, checkFeedbacks, updateStatus, log, label.
 */

import { ApiError, ShotfeedClient, baseUrl } from './client.js'
import {
	DEFAULT_ARMABLE,
	DEFAULT_GRAPHICS,
	DEFAULT_URL,
	actionDefinitions,
	feedbackDefinitions,
	presetDefinitions,
	variableDefinitions,
	variableValues,
} from './definitions.js'
import { isArmed, liveClock, openSuggestions } from './state.js'

/** InstanceStatus values of @companion-module/base (the same strings). */
export const Status = {
	Ok: 'ok',
	Connecting: 'connecting',
	Disconnected: 'disconnected',
	ConnectionFailure: 'connection_failure',
	BadConfig: 'bad_config',
	UnknownWarning: 'unknown_warning',
}

const FEEDBACKS = ['on_air', 'held', 'feed_failing', 'vetoed', 'suggestion_open', 'override_active']

function sameList(a, b) {
	return JSON.stringify(a) === JSON.stringify(b)
}

export class Controller {
	constructor(host) {
		this.host = host
		this.client = null
		this.config = null
		this.graphics = DEFAULT_GRAPHICS
		this.armable = DEFAULT_ARMABLE
		this.values = {}
		this._expiry = null
		this._ticker = null
	}

	// -- lifecycle -------------------------------------------------------------------------------

	/** (Re)start from a config and its secrets: what init and configUpdated call. */
	async configure(config = {}, secrets = {}) {
		this.stop()
		const url = String(config.url || DEFAULT_URL).trim()
		const game = String(config.game || '').trim()
		const token = String((secrets && secrets.token) || config.token || '').trim()
		const key = String((secrets && secrets.key) || config.key || '').trim()
		this.config = { url, game, token, key }
		this.values = {}
		this.define()
		this.publish()
		let problem = null
		try {
			baseUrl(url)
		} catch (e) {
			problem = e.message
		}
		if (!problem && !game) problem = 'set the game id (the event id the server follows)'
		if (problem) {
			this.host.updateStatus(Status.BadConfig, problem)
			this.host.log('error', `shotfeed: ${problem}`)
			return
		}
		if (!token) this.host.log('warn', 'shotfeed: no operator token set: variables and feedbacks work, actions will be refused')
		this.host.updateStatus(Status.Connecting, `connecting to ${url}`)
		const client = new ShotfeedClient({ url, game, token, key })
		this.client = client
		client.on('log', (level, text) => this.host.log(level, `shotfeed: ${text}`))
		client.on('status', (up, why) => {
			if (this.client !== client) return
			if (up) this._statusFromState()
			else this.host.updateStatus(Status.ConnectionFailure, `not connected: ${why}`)
			this.publish()
		})
		client.on('state', (_state, why) => {
			if (this.client !== client) return
			if (why === 'hello') {
				this._statusFromState()
				this.refreshControl().catch(() => {})
			} else if (why === 'feed_status') this._statusFromState()
			this.publish()
		})
		client.start()
	}

	stop() {
		if (this.client) {
			this.client.removeAllListeners()
			this.client.stop()
			this.client.on('error', () => {})
		}
		this.client = null
		clearTimeout(this._expiry)
		this._expiry = null
		clearInterval(this._ticker)
		this._ticker = null
	}

	get state() {
		return this.client ? this.client.state : null
	}

	get connected() {
		return !!(this.client && this.client.connected)
	}

	_statusFromState() {
		const s = this.state
		if (!this.connected || !s) return
		if (s.feed.ok) this.host.updateStatus(Status.Ok)
		else this.host.updateStatus(Status.UnknownWarning, `feed failing: ${s.feed.error || 'error'}${s.feed.message ? ` (${s.feed.message})` : ''}`)
	}

	/** The graphics and armable keys as the server lists them (GET …/control), then redefine. */
	async refreshControl() {
		const client = this.client
		if (!client) return
		let graphics = null
		let armable = null
		try {
			const doc = await client.fetchControl()
			if (doc && Array.isArray(doc.graphics)) {
				graphics = doc.graphics
					.filter((g) => g && typeof g.id === 'string')
					.map((g) => ({ id: g.id, label: String(g.label || g.id), example: g.example || {} }))
			}
			if (doc && Array.isArray(doc.armable)) {
				armable = doc.armable
					.filter((a) => a && typeof a.id === 'string')
					.map((a) => ({ id: a.id, label: String(a.label || a.id), kind: a.kind }))
			}
		} catch (e) {
			// A shotfeed without the control route: the operator route lists the armable keys.
			if (!(e instanceof ApiError) || e.status !== 404) {
				this.host.log('debug', `shotfeed: GET …/control: ${e.message}`)
			} else if (client.token) {
				try {
					const who = await client.request('GET', '/api/operator')
					if (who && Array.isArray(who.armable)) {
						armable = who.armable.map((id) => ({ id: String(id), label: String(id), kind: '' }))
					}
				} catch {
					// keep the defaults
				}
			}
		}
		if (this.client !== client) return
		// keep graphics fired by other names (from the state) in the list only while on air:
		// the control route lists them itself
		const changed = (graphics && !sameList(graphics, this.graphics)) || (armable && !sameList(armable, this.armable))
		if (graphics) this.graphics = graphics
		if (armable) this.armable = armable
		if (changed) {
			this.define()
			this.values = {}
			this.publish()
		}
	}

	// -- what Companion shows --------------------------------------------------------------------

	define() {
		this.host.setVariableDefinitions(variableDefinitions(this.graphics, this.armable))
		this.host.setFeedbackDefinitions(feedbackDefinitions(this, this.graphics, this.armable))
		this.host.setActionDefinitions(actionDefinitions(this, this.graphics, this.armable))
		if (typeof this.host.setPresetDefinitions === 'function') {
			this.host.setPresetDefinitions(presetDefinitions(this.host.label || 'shotfeed', this.graphics))
		}
	}

	/** Push the variables that changed, re-check every feedback, and plan the next expiry. */
	publish(now = Date.now()) {
		const all = variableValues(this.state, {
			game: this.config ? this.config.game : '',
			connected: this.connected,
			graphics: this.graphics,
			armable: this.armable,
			now,
		})
		const changed = {}
		for (const [k, v] of Object.entries(all)) if (this.values[k] !== v) changed[k] = v
		this.values = all
		if (Object.keys(changed).length) this.host.setVariableValues(changed)
		this.host.checkFeedbacks(...FEEDBACKS)
		this._planExpiry(now)
		this._planTicker()
	}

	/** While the clock runs, `clock_live` is re-read 4 times a second (sent only when it changes). */
	_planTicker() {
		const running = !!(this.state && this.state.clockRunning)
		if (running && !this._ticker) {
			this._ticker = setInterval(() => {
				try {
					this._tick()
				} catch (e) {
					this.host.log('warn', `shotfeed: clock_live: ${e && e.message}`)
				}
			}, 250)
			if (this._ticker.unref) this._ticker.unref()
		} else if (!running && this._ticker) {
			clearInterval(this._ticker)
			this._ticker = null
		}
	}

	_tick(now = Date.now()) {
		const s = this.state
		if (!s) return
		const live = liveClock(s, now) ?? ''
		if (this.values.clock_live !== live) {
			this.values.clock_live = live
			this.host.setVariableValues({ clock_live: live })
		}
	}

	/** A suggestion leaves state.suggestions at its expiresAt with no event: re-publish then. */
	_planExpiry(now) {
		clearTimeout(this._expiry)
		this._expiry = null
		const s = this.state
		if (!s) return
		const next = Math.min(...openSuggestions(s, now).map((x) => (typeof x.expiresAt === 'number' ? x.expiresAt : Infinity)))
		if (Number.isFinite(next)) {
			this._expiry = setTimeout(() => this.publish(), Math.max(50, next - now + 20))
			if (this._expiry.unref) this._expiry.unref()
		}
	}

	// -- feedback questions ----------------------------------------------------------------------

	isOnAir(name) {
		const s = this.state
		return !!(s && name in s.graphics)
	}

	isHeld() {
		return !!(this.state && this.state.held)
	}

	isFeedFailing(whenDisconnected = true) {
		if (!this.connected || !this.state) return whenDisconnected
		return !this.state.feed.ok
	}

	isVetoed(key) {
		const s = this.state
		return !!(s && !isArmed(s, key))
	}

	hasSuggestion(rule = 'any') {
		const s = this.state
		if (!s) return false
		return openSuggestions(s).some((x) => rule === 'any' || !rule || x.rule === rule)
	}

	isOverridden() {
		const s = this.state
		return !!(s && s.override && s.override.active)
	}

	// -- actions ---------------------------------------------------------------------------------

	/**
	 * One operator request. Resolves to `{ok: true, body}` or `{ok: false, status, error,
	 * message}`; a failure is logged with the server's own message. Never throws.
	 */
	async call(what, method, path, body) {
		if (!this.client) {
			const message = 'not configured'
			this.host.log('error', `shotfeed: ${what} failed: ${message}`)
			return { ok: false, status: 0, error: 'not_configured', message }
		}
		if (!this.client.token) {
			const message = 'no operator token set in the module config'
			this.host.log('error', `shotfeed: ${what} failed: ${message}`)
			return { ok: false, status: 0, error: 'no_token', message }
		}
		try {
			const res = await this.client.request(method, path, body)
			this.host.log('debug', `shotfeed: ${what}: ok`)
			return { ok: true, body: res }
		} catch (e) {
			const status = e instanceof ApiError ? e.status : 0
			const error = e instanceof ApiError ? e.code : 'error'
			const message = String(e && e.message)
			this.host.log('error', `shotfeed: ${what} failed: ${status ? `${status} ${error}: ` : ''}${message}`)
			return { ok: false, status, error, message }
		}
	}

	_fail(what, message) {
		this.host.log('error', `shotfeed: ${what} failed: ${message}`)
		return { ok: false, status: 0, error: 'invalid', message }
	}

	_payload(text) {
		const t = String(text ?? '').trim()
		if (!t) return {}
		const doc = JSON.parse(t)
		if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new Error('the payload must be a JSON object')
		return doc
	}

	_gamePath(rest) {
		return `/api/games/${encodeURIComponent(this.config ? this.config.game : '')}${rest}`
	}

	async showGraphic(name, payloadText = '') {
		const n = String(name || '').trim()
		if (!n) return this._fail('show graphic', 'no graphic named')
		let payload
		try {
			payload = this._payload(payloadText)
		} catch (e) {
			return this._fail(`show ${n}`, `payload is not a JSON object: ${e.message}`)
		}
		return this.call(`show ${n}`, 'POST', this._gamePath('/graphics'), { action: 'show', name: n, payload })
	}

	async hideGraphic(name) {
		const n = String(name || '').trim()
		if (!n) return this._fail('hide graphic', 'no graphic named')
		return this.call(`hide ${n}`, 'POST', this._gamePath('/graphics'), { action: 'hide', name: n, payload: {} })
	}

	async toggleGraphic(name, payloadText = '') {
		return this.isOnAir(String(name || '').trim()) ? this.hideGraphic(name) : this.showGraphic(name, payloadText)
	}

	async hold(mode = 'toggle') {
		const held = mode === 'hold' ? true : mode === 'release' ? false : !this.isHeld()
		return this.call(held ? 'hold' : 'release', 'POST', this._gamePath('/hold'), { held })
	}

	async arm(key, mode = 'toggle') {
		const k = String(key || '').trim()
		if (!k) return this._fail('arm / veto', 'no type named')
		const armed = mode === 'arm' ? true : mode === 'veto' ? false : this.isVetoed(k)
		return this.call(`${armed ? 'arm' : 'veto'} ${k}`, 'POST', this._gamePath('/hold'), { autofire: { [k]: armed } })
	}

	async panic() {
		return this.call('panic', 'POST', this._gamePath('/panic'))
	}

	/** Override the fields given (empty ones stay as they are); scores as whole numbers. */
	async overrideSet(fields = {}) {
		const body = {}
		for (const f of ['home', 'away']) {
			const t = String(fields[f] ?? '').trim()
			if (!t) continue
			if (!/^\d{1,3}$/.test(t)) return this._fail('override', `${f} score must be a whole number 0-999, not ${JSON.stringify(t)}`)
			body[f] = Number(t)
		}
		for (const f of ['period', 'clock']) {
			const t = String(fields[f] ?? '').trim()
			if (t) body[f] = t
		}
		if (!Object.keys(body).length) return this._fail('override', 'no field to set')
		return this.call('override', 'PUT', this._gamePath('/override'), body)
	}

	async overrideAdjust(side, delta) {
		const s = this.state
		const f = side === 'away' ? 'away' : 'home'
		if (!s || typeof s[f].score !== 'number') return this._fail(`${f} score ${delta}`, 'no score known yet')
		const score = Math.max(0, Math.min(999, s[f].score + (Number(delta) || 0)))
		return this.call(`override ${f} ${score}`, 'PUT', this._gamePath('/override'), { [f]: score })
	}

	async overrideRelease(field) {
		const f = ['home', 'away', 'period', 'clock'].includes(field) ? field : null
		if (!f) return this._fail('override release', `unknown field ${JSON.stringify(field)}`)
		return this.call(`override release ${f}`, 'PUT', this._gamePath('/override'), { [f]: null })
	}

	async overrideClear() {
		return this.call('override clear', 'DELETE', this._gamePath('/override'))
	}

	async overrideUndo() {
		return this.call('override undo', 'POST', this._gamePath('/override/undo'))
	}

	/** Accept or dismiss a suggestion: an id, or the top open one ("top" / empty). */
	async decideSuggestion(action, target = 'top') {
		const verb = action === 'dismiss' ? 'dismiss' : 'accept'
		let sid = String(target ?? '').trim()
		if (!sid || sid === 'top') {
			const top = this.state ? openSuggestions(this.state)[0] : null
			if (!top) return this._fail(`${verb} suggestion`, 'no suggestion is open')
			sid = top.id
		}
		return this.call(`${verb} suggestion ${sid}`, 'POST', this._gamePath(`/suggestions/${encodeURIComponent(sid)}/${verb}`))
	}
}
