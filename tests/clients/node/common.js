'use strict';
// Shared helpers for the node-auth0 client scripts. Connection info comes from the
// environment (set by crates/cli/tests/real_clients.rs):
//
//   HH_DOMAIN         127.0.0.1:PORT
//   HH_BASE           http://127.0.0.1:PORT (or https://...)
//   HH_TOKEN          an admin Management API token
//   HH_CLIENT_ID      admin client id      (for the client's own token mechanism)
//   HH_CLIENT_SECRET  admin client secret
//   HH_AUDIENCE       https://127.0.0.1:PORT/api/v2/
//   HH_SECRET_1..3    secret values to plant; never printed
//   HH_PREFIX         prefix for hook names (default "hh")
//   HH_NODE_DIR       where `npm ci` put the clients (default <repo>/.tools/node)
//   NODE_EXTRA_CA_CERTS  the server's self-signed cert, for https runs
//
// Each step prints "ok: ..."; the first mismatch exits 1 with "FAIL: ...".

const path = require('path');
const { createRequire } = require('module');
const { isDeepStrictEqual, inspect } = require('util');

const PLACEHOLDER = '_VALUE_NOT_SHOWN_';
const SCRIPT = 'module.exports = function (client, scope, audience, context, cb) { cb(null, {}); };';
const SCRIPT2 = "module.exports = function (client, scope, audience, context, cb) { cb(null, { scope: ['x'] }); };";

function toolsDir() {
  return process.env.HH_NODE_DIR || path.resolve(__dirname, '..', '..', '..', '.tools', 'node');
}

/** `require` rooted at the project-local install, so the scripts need no NODE_PATH. */
function toolsRequire() {
  return createRequire(path.join(toolsDir(), 'package.json'));
}

/** The installed version of an aliased package (its package.json is not in `exports`). */
function toolsVersion(name) {
  const file = path.join(toolsDir(), 'node_modules', name, 'package.json');
  return JSON.parse(require('fs').readFileSync(file, 'utf8')).version;
}

function fail(message) {
  console.log(`FAIL: ${message}`);
  process.exit(1);
}

function ok(message) {
  console.log(`ok: ${message}`);
}

function env(name, fallback) {
  const value = process.env[name] || fallback;
  if (!value) fail(`environment variable ${name} is not set`);
  return value;
}

function check(condition, message) {
  if (!condition) fail(message);
  ok(message);
}

function show(v) {
  return inspect(v, { depth: 4, breakLength: Infinity });
}

function checkEq(actual, expected, what) {
  if (!isDeepStrictEqual(actual, expected)) fail(`${what}: expected ${show(expected)}, got ${show(actual)}`);
  ok(`${what} == ${show(expected)}`);
}

/** `secrets` must be exactly {name: PLACEHOLDER for name in names}. Values are never printed. */
function checkMasked(secrets, names, what) {
  if (secrets === null || typeof secrets !== 'object' || Array.isArray(secrets)) {
    fail(`${what}: expected an object, got ${typeof secrets}`);
  }
  const keys = Object.keys(secrets).sort();
  if (!isDeepStrictEqual(keys, [...names].sort())) fail(`${what}: expected keys ${show([...names].sort())}, got ${show(keys)}`);
  for (const [k, v] of Object.entries(secrets)) {
    if (v !== PLACEHOLDER) fail(`${what}: value of ${k} is not exactly ${PLACEHOLDER} (length ${String(v).length})`);
  }
  ok(`${what}: keys ${show([...names].sort())}, every value is ${PLACEHOLDER}`);
}

/** Runs `fn`, expecting it to throw; returns the error. */
async function expectError(fn, what) {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  return fail(`${what} did not throw`);
}

function run(main) {
  main().then(
    () => console.log('PASS'),
    (e) => {
      // Print what the client surfaced (class, status, errorCode, message), not request bodies.
      console.log(`FAIL: unexpected error: ${e && e.name}: ${e && e.message}`);
      if (e && e.stack) console.log(e.stack);
      process.exit(1);
    },
  );
}

module.exports = { PLACEHOLDER, SCRIPT, SCRIPT2, toolsRequire, toolsVersion, fail, ok, env, check, checkEq, checkMasked, expectError, run };
