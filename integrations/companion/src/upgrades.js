/**
 * Upgrade scripts (Companion runs the ones a saved connection has not seen yet, in order).
 * Version 0.1.0 is the first: nothing to upgrade yet. A later version that renames an option
 * or an action adds a function here (never edits or removes one): see
 * https://companion.free/for-developers/module-development/api-changes/upgrade-scripts
 */
export const UpgradeScripts = []
