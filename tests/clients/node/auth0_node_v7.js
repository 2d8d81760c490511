'use strict';
// Drives node-auth0 7.x (npm alias auth0-v7) against a Hookhaven server over https with a
// self-signed certificate trusted through NODE_EXTRA_CA_CERTS. The ManagementClient gets
// its own token from https://HH_DOMAIN/oauth/token (form-encoded client credentials).
// See common.js for the env.

const { SCRIPT, SCRIPT2, toolsRequire, toolsVersion, ok, env, fail, check, checkEq, checkMasked, expectError, run } = require('./common');

const { ManagementClient, ManagementError, Management } = toolsRequire()('auth0-v7');
const version = toolsVersion('auth0-v7');

async function collect(page) {
  const out = [];
  for await (const item of page) out.push(item);
  return out;
}

async function main() {
  const domain = env('HH_DOMAIN');
  const prefix = env('HH_PREFIX', 'hh');
  const [s1, s2, s3] = [env('HH_SECRET_1'), env('HH_SECRET_2'), env('HH_SECRET_3')];
  if (!process.env.NODE_EXTRA_CA_CERTS) fail('NODE_EXTRA_CA_CERTS is not set: the server cert would not be trusted');
  ok(`node-auth0 ${version} against https://${domain}`);

  // A wrong secret fails at the token endpoint, at once (no retries), with the OAuth error.
  const wrong = new ManagementClient({ domain, clientId: env('HH_CLIENT_ID'), clientSecret: 'wrong-secret' });
  const denied = await expectError(() => wrong.hooks.list(), 'list() with a wrong client secret');
  checkEq([denied.constructor.name, denied.statusCode, denied.body && denied.body.error], ['ManagementError', 401, 'access_denied'], 'wrong client secret error');

  const management = new ManagementClient({ domain, clientId: env('HH_CLIENT_ID'), clientSecret: env('HH_CLIENT_SECRET'), maxRetries: 0 });
  const hooks = management.hooks;

  // The first call makes the client fetch its own token (client credentials over https).
  const empty = await hooks.list();
  checkEq([empty.data, empty.response.total], [[], 0], 'list() on an empty server (token obtained by the client)');

  // create
  const name = `${prefix}-node7-hook`;
  const hook = await hooks.create({ name, script: SCRIPT, triggerId: 'credentials-exchange', enabled: true });
  checkEq({ ...hook, id: undefined }, { id: undefined, name, script: SCRIPT, dependencies: {}, triggerId: 'credentials-exchange', enabled: true }, 'created hook');
  const id = hook.id;
  const other = await hooks.create({ name: `${prefix}-node7-other`, script: SCRIPT, triggerId: 'post-user-registration' });
  checkEq(other.enabled, false, 'second hook defaults to enabled=false');

  // secrets
  const added = await hooks.secrets.create(id, { API_KEY: s1, OTHER_KEY: s2 }).withRawResponse();
  checkEq(added.rawResponse.status, 201, 'secrets.create status');
  checkMasked(await hooks.secrets.get(id), ['API_KEY', 'OTHER_KEY'], 'secrets.get after create');
  const updated = await hooks.secrets.update(id, { API_KEY: s3 }).withRawResponse();
  checkEq(updated.rawResponse.status, 201, 'secrets.update status');
  checkMasked(await hooks.secrets.get(id), ['API_KEY', 'OTHER_KEY'], 'secrets.get after update');
  const removed = await hooks.secrets.delete(id, ['OTHER_KEY']).withRawResponse();
  checkEq(removed.rawResponse.status, 204, 'secrets.delete status');
  checkMasked(await hooks.secrets.get(id), ['API_KEY'], 'secrets.get after deleting OTHER_KEY');

  // list: the envelope (the default, include_totals=true) and the bare array
  const page = await hooks.list();
  checkEq(page.response.total, 2, 'list() envelope total');
  checkEq(page.data.map((h) => h.id).sort(), [id, other.id].sort(), 'list() data ids');
  checkEq((await collect(await hooks.list({ per_page: 1 }))).map((h) => h.id).sort(), [id, other.id].sort(), 'async iteration with per_page=1 ids');
  const first = await hooks.list({ per_page: 1 });
  checkEq([first.data.length, first.response.start, first.response.limit, first.response.total, first.hasNextPage()], [1, 0, 1, 2, true], 'per_page=1 first page');
  const second = await first.getNextPage();
  checkEq([second.data.length, second.response.start, second.response.total], [1, 1, 2], 'per_page=1 second page');
  const bare = await hooks.list({ include_totals: false });
  check(Array.isArray(bare.response), 'list({include_totals: false}) response is a bare array');
  checkEq(bare.response.map((h) => h.id).sort(), [id, other.id].sort(), 'bare array ids');
  checkEq(bare.data, [], 'the v7 Page reads items only from .hooks, so .data is [] for the bare array');
  checkEq((await hooks.list({ enabled: true })).data.map((h) => h.id), [id], 'list({enabled: true}) ids');
  checkEq((await hooks.list({ triggerId: 'post-user-registration' })).data.map((h) => h.id), [other.id], 'list({triggerId}) ids');

  // get, update
  const got = await hooks.get(id);
  checkEq([got.id, got.name, got.script, got.enabled, got.triggerId], [id, name, SCRIPT, true, 'credentials-exchange'], 'get');
  checkEq(Object.keys(await hooks.get(id, { fields: 'id,script' })).sort(), ['id', 'script'], 'get({fields}) keys');
  const changed = await hooks.update(id, { name: `${prefix}-node7-renamed`, script: SCRIPT2, enabled: false, dependencies: { lodash: '4.17.21' } });
  checkEq([changed.name, changed.enabled, changed.dependencies], [`${prefix}-node7-renamed`, false, { lodash: '4.17.21' }], 'update result');
  const again = await hooks.get(id);
  checkEq([again.name, again.script, again.enabled, again.triggerId], [`${prefix}-node7-renamed`, SCRIPT2, false, 'credentials-exchange'], 'get after update');
  checkMasked(await hooks.secrets.get(id), ['API_KEY'], 'secrets survive a hook update');

  // delete, then 404
  const del = await hooks.delete(id).withRawResponse();
  checkEq(del.rawResponse.status, 204, 'delete status');
  for (const [what, call, typed] of [
    ['get', () => hooks.get(id), true],
    ['secrets.get', () => hooks.secrets.get(id), true],
    ['delete', () => hooks.delete(id), false],
  ]) {
    const e = await expectError(call, `${what} after delete`);
    check(e instanceof ManagementError, `${what} after delete throws a ManagementError (${e.constructor.name})`);
    if (typed) check(e instanceof Management.NotFoundError, `${what} after delete throws NotFoundError`);
    checkEq([e.statusCode, e.body && e.body.errorCode, e.body && e.body.statusCode], [404, 'HookDoesNotExist', 404], `${what} after delete error`);
  }
  await hooks.delete(other.id);
  checkEq((await hooks.list()).response.total, 0, 'total after deleting both hooks');
}

run(main);
