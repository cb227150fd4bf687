/**
 * The server dies (SIGKILL) and comes back on the same port with the same store: the module
 * says it is not connected (status, `connected`, the feed-failing feedback), reconnects by
 * itself with `since` = the last seq it had, and its variables follow the game again.
 */

import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { Controller } from '../src/controller.js'
import { DemoServer, FakeHost, GAME, TOKEN, waitFor } from './helpers.js'

const server = new DemoServer({ speed: 50 })
let ctl = null

after(async () => {
	if (ctl) ctl.stop()
	await server.cleanup()
})

test('a restarted server: reconnect with since, then follow again', async () => {
	await server.start()
	const host = new FakeHost()
	ctl = new Controller(host)
	await ctl.configure({ url: server.url, game: GAME }, { token: TOKEN })
	await waitFor(() => ctl.connected, { what: 'the first hello' })
	assert.equal(host.status, 'ok')
	// something of ours in the store, to see it again after the restart
	assert.equal((await host.action('graphic_show', { graphic: 'lowerthird', payload: '{"title":"before"}' })).ok, true)
	await waitFor(() => host.values.on_air_lowerthird === true, { what: 'on air' })
	const firstHello = ctl.client.lastHello
	assert.equal(firstHello.since, null, 'the first connect has no since')

	await server.kill()
	await waitFor(() => !ctl.connected && host.values.connected === false, { what: 'the drop to be seen' })
	const seqAtDrop = ctl.client.seq
	assert.ok(seqAtDrop > 0)
	assert.equal(host.status, 'connection_failure')
	assert.equal(host.feedback('feed_failing', { disconnected: true }), true)
	assert.equal(host.feedback('feed_failing', { disconnected: false }), false)

	// a refused connect or two, with backoff, then the server is back
	await new Promise((r) => setTimeout(r, 700))
	await server.start()
	await waitFor(() => ctl.connected, { ms: 15000, what: 'the reconnect' })
	const hello = ctl.client.lastHello
	assert.equal(hello.since, seqAtDrop, 'reconnected with since = the last seq it had')
	assert.ok(hello.seq >= seqAtDrop, 'seq continues across the restart')
	assert.equal(host.status === 'ok' || host.status === 'unknown_warning', true, host.status)
	assert.equal(host.values.connected, true)
	assert.equal(host.values.on_air_lowerthird, true, 'the on-air state came back from the store')
	assert.ok(
		host.logs.some((l) => /reconnecting in .* with since=\d+/.test(l.message)),
		host.logs.map((l) => l.message).join('\n')
	)

	// and it follows live events again
	assert.equal((await host.action('graphic_hide', { graphic: 'lowerthird' })).ok, true)
	await waitFor(() => host.values.on_air_lowerthird === false, { what: 'a live event after the reconnect' })
})
