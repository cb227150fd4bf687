/**
 * The module's copies of the server's display rules (clock, running clock, period label and
 * short form) give what the Python reference gives, on the server's own table of cases
 * (tests/test_contract.py), computed by the server's Python.
 */

import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { test } from 'node:test'
import { displayClock, parseClock, periodLabel, periodShort, runningClock } from '../src/state.js'
import { PYTHON, REPO_DIR } from './helpers.js'

const SCRIPT = `
import json
from server.core.clock import display_clock, parse_clock, running_clock
from server.core.periods import period_label, period_short
from tests.test_contract import DISPLAY, PARSE, PERIODS, RUNNING
print(json.dumps({
    "display": [[c, display_clock(c)] for c, _ in DISPLAY],
    "parse": [[c, parse_clock(c)] for c, _ in PARSE],
    "running": [[s, like, running_clock(s, like)] for s, like, _ in RUNNING],
    "periods": [[p, period_label(p), period_short(p)] for p in PERIODS],
}))
`

test('clock and period rules match the server on its own cases', () => {
	const ref = JSON.parse(execFileSync(PYTHON, ['-c', SCRIPT], { cwd: REPO_DIR, timeout: 20000 }).toString())
	for (const [c, want] of ref.display) assert.equal(displayClock(c), want, `displayClock(${JSON.stringify(c)})`)
	for (const [c, want] of ref.parse) assert.equal(parseClock(c), want, `parseClock(${JSON.stringify(c)})`)
	for (const [s, like, want] of ref.running) assert.equal(runningClock(s, like), want, `runningClock(${s}, ${JSON.stringify(like)})`)
	for (const [p, label, short] of ref.periods) {
		assert.equal(periodLabel(p), label, `periodLabel(${JSON.stringify(p)})`)
		assert.equal(periodShort(p), short, `periodShort(${JSON.stringify(p)})`)
	}
	assert.ok(ref.running.length > 10 && ref.periods.length > 10)
})
