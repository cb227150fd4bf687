/**
 * Talking to one shotfeed server: the operator HTTP API (bearer token) and the game's
 * WebSocket (`/ws/games/{game}`, docs/protocol.md), followed for as long as the module runs.
 *
 * The follower connects, takes `hello.state` as the whole truth, then folds every live event;
 * when the socket drops it reconnects with `since` = the last seq it has, with a backoff
 * (0.5 s doubling to 10 s, a little jitter), and starts over from the new hello. A frame it
 * cannot read is logged and skipped: nothing a server sends can throw out of here.
 */

import WebSocket from 'ws'
import { EventEmitter } from 'node:events'
import { applyEvent, normalizeState } from './state.js'

/** The event types the module folds (hello then carries no splits: it is asked for no `stats`). */
export const TYPES = [
	'score_update',
	'period_change',
	'game_status',
	'clock',
	'feed_status',
	'graphic',
	'hold',
	'config',
	'override',
	'suggestion',
]

export const BACKOFF_MIN_MS = 500
export const BACKOFF_MAX_MS = 10_000
/** No frame at all (the server sends a heartbeat every 15 s of silence) for this long: reconnect. */
export const SILENCE_MS = 40_000
const HTTP_TIMEOUT_MS = 5000

/** "http://h:8000/" -> "http://h:8000"; throws on what is not an http(s) URL. */
export function baseUrl(url) {
	const u = new URL(String(url || '').trim())
	if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`server URL must be http:// or https://, not ${u.protocol}`)
	return u.origin + u.pathname.replace(/\/+$/, '')
}

/** The WebSocket URL of a game, with `since` when the client has a seq and `key` when given. */
export function wsUrl(base, game, { since = null, key = '' } = {}) {
	const u = new URL(`${baseUrl(base)}/ws/games/${encodeURIComponent(game)}`)
	u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:'
	u.searchParams.set('types', TYPES.join(','))
	if (since !== null && since !== undefined) u.searchParams.set('since', String(since))
	if (key) u.searchParams.set('key', key)
	return u.toString()
}

/** An HTTP answer that is not 2xx, with the server's `{error, message}` when it sent one. */
export class ApiError extends Error {
	constructor(status, code, message) {
		super(message)
		this.status = status
		this.code = code
	}
}

export class ShotfeedClient extends EventEmitter {
	/**
	 * @param {{url: string, game: string, token?: string, key?: string}} options
	 * Events: 'state' (state, why), 'status' (connected: bool, message), 'log' (level, text).
	 */
	constructor({ url, game, token = '', key = '' }) {
		super()
		this.base = baseUrl(url)
		this.game = String(game || '').trim()
		this.token = token || ''
		this.key = key || ''
		this.state = null
		this.seq = null // the last seq this client has (what a reconnect sends as `since`)
		this.connected = false
		this.lastHello = null
		this._ws = null
		this._stopped = true
		this._retry = null
		this._silence = null
		this._backoff = BACKOFF_MIN_MS
		this._connects = 0
	}

	// -- HTTP ------------------------------------------------------------------------------------

	/** One request; resolves to the parsed JSON body, rejects with ApiError (status 0: no answer). */
	async request(method, path, body = undefined, { auth = true } = {}) {
		const headers = { accept: 'application/json' }
		if (auth && this.token) headers.authorization = `Bearer ${this.token}`
		if (body !== undefined) headers['content-type'] = 'application/json'
		let res
		try {
			res = await fetch(this.base + path, {
				method,
				headers,
				body: body === undefined ? undefined : JSON.stringify(body),
				signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
			})
		} catch (e) {
			const why = e && e.name === 'TimeoutError' ? 'no answer in time' : (e && e.cause && e.cause.code) || String(e && e.message)
			throw new ApiError(0, 'unreachable', `${method} ${path}: the server did not answer (${why})`)
		}
		const text = await res.text()
		let doc = null
		try {
			doc = text ? JSON.parse(text) : null
		} catch {
			doc = null
		}
		if (!res.ok) {
			const code = doc && typeof doc.error === 'string' ? doc.error : `http_${res.status}`
			const msg = doc && typeof doc.message === 'string' ? doc.message : text.slice(0, 200) || res.statusText
			const err = new ApiError(res.status, code, msg)
			const retry = res.headers.get('retry-after')
			if (retry) err.retryAfter = Number(retry)
			throw err
		}
		return doc
	}

	gamePath(rest = '') {
		return `/api/games/${encodeURIComponent(this.game)}${rest}`
	}

	/** A game's read route: `?key=` when the module has the overlay key, else the token (both work on a keyed server). */
	readPath(rest) {
		return this.gamePath(rest) + (this.key ? `?key=${encodeURIComponent(this.key)}` : '')
	}

	fetchState() {
		return this.request('GET', this.readPath('/state'), undefined, { auth: !this.key })
	}

	fetchControl() {
		return this.request('GET', this.readPath('/control'), undefined, { auth: !this.key })
	}

	// -- the WebSocket ---------------------------------------------------------------------------

	start() {
		if (!this._stopped) return
		this._stopped = false
		this._connect()
	}

	stop() {
		this._stopped = true
		clearTimeout(this._retry)
		clearTimeout(this._silence)
		this._retry = this._silence = null
		const ws = this._ws
		this._ws = null
		if (ws) {
			ws.removeAllListeners()
			ws.on('error', () => {})
			try {
				ws.terminate()
			} catch {
				// already closed
			}
		}
		if (this.connected) {
			this.connected = false
			this.emit('status', false, 'stopped')
		}
	}

	_log(level, text) {
		this.emit('log', level, text)
	}

	_armSilence() {
		clearTimeout(this._silence)
		this._silence = setTimeout(() => {
			this._log('warn', `no frame from the server for ${SILENCE_MS / 1000} s: reconnecting`)
			if (this._ws) this._ws.terminate()
		}, SILENCE_MS)
	}

	_connect() {
		if (this._stopped) return
		let url
		try {
			url = wsUrl(this.base, this.game, { since: this.seq, key: this.key })
		} catch (e) {
			this._log('error', String(e.message))
			return
		}
		this._connects += 1
		let ws
		try {
			ws = new WebSocket(url, { handshakeTimeout: HTTP_TIMEOUT_MS, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 })
		} catch (e) {
			this.emit('status', false, String(e && e.message))
			return this._schedule(String(e && e.message))
		}
		this._ws = ws
		let closeReason = ''
		ws.on('open', () => this._armSilence())
		ws.on('message', (raw, isBinary) => {
			this._armSilence()
			if (isBinary) return this._log('debug', 'ignored a binary frame')
			let msg
			try {
				msg = JSON.parse(raw.toString('utf8'))
			} catch {
				return this._log('warn', `ignored a frame that is not JSON: ${String(raw).slice(0, 80)}`)
			}
			try {
				this._message(msg)
			} catch (e) {
				this._log('warn', `ignored a frame it could not fold (${e && e.message})`)
			}
		})
		ws.on('unexpected-response', (_req, res) => {
			closeReason = `HTTP ${res.statusCode}`
			res.resume()
			ws.terminate()
		})
		ws.on('error', (e) => {
			closeReason = closeReason || (e && (e.code || e.message)) || 'error'
		})
		ws.on('close', (code, reason) => {
			clearTimeout(this._silence)
			if (this._ws !== ws) return
			this._ws = null
			const why = String(reason || '') || closeReason || `close ${code}`
			this.connected = false
			this.emit('status', false, why)
			this._schedule(why)
		})
	}

	_schedule(why) {
		if (this._stopped) return
		const delay = Math.min(this._backoff, BACKOFF_MAX_MS)
		const jitter = Math.round(delay * 0.2 * Math.random())
		this._log('info', `connection lost (${why}); reconnecting in ${((delay + jitter) / 1000).toFixed(1)} s with since=${this.seq ?? '-'}`)
		this._backoff = Math.min(this._backoff * 2, BACKOFF_MAX_MS)
		this._retry = setTimeout(() => this._connect(), delay + jitter)
	}

	_message(msg) {
		if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) return this._log('warn', 'ignored a frame that is not an object')
		switch (msg.type) {
			case 'hello': {
				this.lastHello = { seq: msg.seq, gap: msg.gap === true, since: this.seq }
				this.state = normalizeState(msg.state)
				if (typeof msg.seq === 'number') this.state.seq = msg.seq
				// local time the clock value was read (the server's clockAt, if our clocks agree within 2 s)
				const now = Date.now()
				const age = typeof this.state.clockAt === 'number' ? now - this.state.clockAt : 0
				this.state.clockReadAt = now - (age > 0 && age < 2000 ? age : 0)
				this.seq = this.state.seq
				this._backoff = BACKOFF_MIN_MS
				this.connected = true
				this.emit('status', true, 'connected')
				this.emit('state', this.state, 'hello')
				return
			}
			case 'heartbeat':
			case 'pong':
			case 'subscribed':
				return
			case 'error':
				return this._log('warn', `server: ${msg.message}`)
			default:
				break
		}
		if (!this.state || typeof msg.seq !== 'number') return
		// A replayed event at or below the hello's seq is already in hello.state.
		if (msg.seq <= this.state.seq) return
		applyEvent(this.state, msg)
		if (msg.type === 'clock' || msg.type === 'override') this.state.clockReadAt = Date.now()
		this.seq = this.state.seq
		this.emit('state', this.state, msg.type)
	}
}
