// Loads static/contract.js and static/feed.js for the node tests, as a page does: contract.js
// first (it sets the global the module reads), then feed.js as an ES module. feed.js is copied
// to a temporary .mjs so any Node (no package.json "type") reads it as a module.
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { pathToFileURL } = require("node:url");

const STATIC = path.resolve(__dirname, "..", "..", "static");
const contract = require(path.join(STATIC, "contract.js"));
globalThis.ShotfeedContract = contract;

let loaded = null;
function loadFeed() {
  if (!loaded) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shotfeed-js-"));
    const file = path.join(dir, "feed.mjs");
    fs.copyFileSync(path.join(STATIC, "feed.js"), file);
    loaded = import(pathToFileURL(file).href).finally(() => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return loaded;
}

module.exports = { contract, loadFeed };
