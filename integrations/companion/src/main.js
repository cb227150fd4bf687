/**
 * The Companion module: an InstanceBase whose work is done by Controller (src/controller.js),
 * so that the same logic runs under `node --test` against a real shotfeed server.
 */

import { InstanceBase, runEntrypoint } from '@companion-module/base'
import { Controller } from './controller.js'
import { configFields } from './definitions.js'
import { UpgradeScripts } from './upgrades.js'

export class ShotfeedInstance extends InstanceBase {
	constructor(internal) {
		super(internal)
		this.controller = new Controller(this)
	}

	async init(config, _isFirstInit, secrets) {
		await this.controller.configure(config, secrets)
	}

	async configUpdated(config, secrets) {
		await this.controller.configure(config, secrets)
	}

	async destroy() {
		this.controller.stop()
	}

	getConfigFields() {
		return configFields()
	}
}

runEntrypoint(ShotfeedInstance, UpgradeScripts)
