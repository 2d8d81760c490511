'use strict';
// Drives node-auth0 4.x (npm alias auth0-v4) against a Hookhaven server over plain http:
// the v4 ManagementClient only builds https URLs, but accepts a custom `fetch`, which
// rewrites the scheme. See common.js for the env.

const { SCRIPT, SCRIPT2, toolsRequire, toolsVersion, ok, env, check, checkEq, checkMasked, expectError, run } = require('./common');

const { ManagementClient, AuthenticationClient, ManagementApiError } = toolsRequire()('auth0-v4');
const version = toolsVersion('auth0-v4');

const httpFetch = (url, init) => fetch(String(url).replace(/^https:/, 'http:'), init);

async function main() {
  const domain = env('HH_DOMAIN');
  const prefix = env('HH_PREFIX', 'hh');
  const [s1, s2, s3] = [env('HH_SECRET_1'), env('HH_SECRET_2'), env('HH_SECRET_3')];
  ok(`node-auth0 ${version} against http://${domain}`);

  // The client's own token mechanism, over http through the same fetch override.
  const auth = new AuthenticationClient({ domain, clientId: env('HH_CLIENT_ID'), clientSecret: env('HH_CLIENT_SECRET'), fetch: httpFetch });
  const grant = await auth.oauth.clientCredentialsGrant({ audience: env('HH_AUDIENCE') });
  check(typeof grant.data.access_token === 'string' && grant.data.access_token.length > 0, 'clientCredentialsGrant returned an access_token');
  check(typeof grant.data.expires_in === 'number', 'expires_in is a number');
  checkEq(grant.data.token_type, 'Bearer', 'token_type');
  // ManagementClient with client credentials fetches its own token the same way.
  const viaCredentials = new ManagementClient({ domain, clientId: env('HH_CLIENT_ID'), clientSecret: env('HH_CLIENT_SECRET'), fetch: httpFetch });
  checkEq((await viaCredentials.hooks.getAll()).data, [], 'ManagementClient({clientId, clientSecret}).hooks.getAll() on an empty server');

  const management = new ManagementClient({ domain, token: env('HH_TOKEN'), fetch: httpFetch });
  const hooks = management.hooks;

  // create
  const name = `${prefix}-node4-hook`;
  const created = await hooks.create({ name, script: SCRIPT, triggerId: 'credentials-exchange', enabled: true });
  checkEq(created.status, 201, 'create status');
  const hook = created.data;
  checkEq({ ...hook, id: undefined }, { id: undefined, name, script: SCRIPT, dependencies: {}, triggerId: 'credentials-exchange', enabled: true }, 'created hook');
  const id = hook.id;
  const other = (await hooks.create({ name: `${prefix}-node4-other`, script: SCRIPT, triggerId: 'post-user-registration' })).data;
  checkEq(other.enabled, false, 'second hook defaults to enabled=false');

  // secrets
  checkEq((await hooks.addSecrets({ id }, { API_KEY: s1, OTHER_KEY: s2 })).status, 201, 'addSecrets status');
  checkMasked((await hooks.getSecrets({ id })).data, ['API_KEY', 'OTHER_KEY'], 'getSecrets after add');
  checkEq((await hooks.updateSecrets({ id }, { API_KEY: s3 })).status, 201, 'updateSecrets status');
  checkMasked((await hooks.getSecrets({ id })).data, ['API_KEY', 'OTHER_KEY'], 'getSecrets after update');
  checkEq((await hooks.deleteSecrets({ id }, ['OTHER_KEY'])).status, 204, 'deleteSecrets status');
  checkMasked((await hooks.getSecrets({ id })).data, ['API_KEY'], 'getSecrets after deleting OTHER_KEY');

  // list in both shapes
  const bare = (await hooks.getAll()).data;
  check(Array.isArray(bare), 'getAll() returns a bare array');
  checkEq(bare.map((h) => h.id).sort(), [id, other.id].sort(), 'getAll() ids');
  const envelope = (await hooks.getAll({ include_totals: true })).data;
  check(!Array.isArray(envelope) && Array.isArray(envelope.hooks), 'getAll({include_totals: true}) returns {hooks, ...}');
  checkEq(envelope.total, 2, 'include_totals total');
  checkEq(envelope.hooks.map((h) => h.id).sort(), [id, other.id].sort(), 'include_totals hooks');
  const pages = [];
  for (let page = 0; page < 3; page++) pages.push((await hooks.getAll({ include_totals: true, page, per_page: 1 })).data);
  checkEq(pages.map((p) => [p.start, p.limit, p.total, p.hooks.length]), [[0, 1, 2, 1], [1, 1, 2, 1], [2, 1, 2, 0]], 'paged [start, limit, total, count]');
  checkEq((await hooks.getAll({ enabled: true })).data.map((h) => h.id), [id], 'getAll({enabled: true}) ids');
  checkEq((await hooks.getAll({ triggerId: 'post-user-registration' })).data.map((h) => h.id), [other.id], 'getAll({triggerId}) ids');
  checkEq((await hooks.getAll({ fields: 'id,name', include_fields: true })).data.map((h) => Object.keys(h).sort()), [['id', 'name'], ['id', 'name']], 'getAll({fields}) keys');

  // get, update
  const got = (await hooks.get({ id })).data;
  checkEq([got.id, got.name, got.script, got.enabled, got.triggerId], [id, name, SCRIPT, true, 'credentials-exchange'], 'get');
  const updated = await hooks.update({ id }, { name: `${prefix}-node4-renamed`, script: SCRIPT2, enabled: false, dependencies: { lodash: '4.17.21' } });
  checkEq(updated.status, 200, 'update status');
  checkEq([updated.data.name, updated.data.enabled, updated.data.dependencies], [`${prefix}-node4-renamed`, false, { lodash: '4.17.21' }], 'update result');
  const again = (await hooks.get({ id })).data;
  checkEq([again.name, again.script, again.enabled, again.triggerId], [`${prefix}-node4-renamed`, SCRIPT2, false, 'credentials-exchange'], 'get after update');
  checkMasked((await hooks.getSecrets({ id })).data, ['API_KEY'], 'secrets survive a hook update');

  // delete, then 404
  checkEq((await hooks.delete({ id })).status, 204, 'delete status');
  for (const [what, call] of [
    ['get', () => hooks.get({ id })],
    ['getSecrets', () => hooks.getSecrets({ id })],
    ['delete', () => hooks.delete({ id })],
  ]) {
    const e = await expectError(call, `${what} after delete`);
    check(e instanceof ManagementApiError, `${what} after delete throws ManagementApiError (${e.name})`);
    checkEq([e.statusCode, e.errorCode, e.error], [404, 'HookDoesNotExist', 'Not Found'], `${what} after delete error`);
  }
  await hooks.delete({ id: other.id });
  checkEq((await hooks.getAll({ include_totals: true })).data.total, 0, 'total after deleting both hooks');
}

run(main);
