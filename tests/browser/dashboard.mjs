// Drives Debian's Chromium through the Hookhaven Dashboard with playwright-core.
// Started by crates/cli/tests/dashboard_browser.rs, which prepares the server and its data
// and afterwards checks the outcome through the Management API. This script walks the
// pages as a person would, checks what they show, runs axe-core on each main page, and
// writes what it saw to $HH_RESULT as JSON. Any failed check throws, and the process
// exits non-zero with the step that failed.
//
// Environment: HH_BASE, HH_EMAIL, HH_PASSWORD, HH_CANARY, HH_NEW_VALUE, HH_RESULT,
// HH_SCREENSHOTS (a directory), HH_NODE_MODULES (where playwright-core and axe-core are),
// HH_CHROMIUM (default /usr/bin/chromium).

import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`missing environment variable ${name}`);
  return v;
};
const BASE = env('HH_BASE');
const EMAIL = env('HH_EMAIL');
const PASSWORD = env('HH_PASSWORD');
const CANARY = env('HH_CANARY');
const NEW_VALUE = env('HH_NEW_VALUE');
const SHOTS = env('HH_SCREENSHOTS');
const MODULES = env('HH_NODE_MODULES');
const require = createRequire(join(MODULES, 'noop.js'));
const { chromium } = require('playwright-core');
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

mkdirSync(SHOTS, { recursive: true });
const result = { steps: [], axe: {}, bodies_checked: 0 };
let step = 'start';
const log = (msg) => console.log(`[browser] ${msg}`);

function check(cond, message) {
  if (!cond) throw new Error(`${step}: ${message}`);
}

async function begin(name) {
  step = name;
  result.steps.push(name);
  log(name);
}

const browser = await chromium.launch({
  executablePath: process.env.HH_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--no-first-run',
    '--disable-sync',
    '--disable-quic',
  ],
});

// Everything the browser received, to look for the canary, and every CSP report.
const bodies = [];
const consoleErrors = [];
function watch(page) {
  page.on('response', async (response) => {
    const type = response.headers()['content-type'] || '';
    if (!/html|javascript|json|css|text/.test(type)) return;
    try {
      bodies.push({ url: response.url(), text: await response.text() });
    } catch {
      // Redirects have no body.
    }
  });
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(String(err)));
}

async function newPage(context) {
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  watch(page);
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function axe(page, name) {
  await page.evaluate(AXE_SOURCE);
  const found = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
    });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
    }));
  });
  result.axe[name] = found.length;
  check(found.length === 0, `axe found accessibility problems on ${name}: ${JSON.stringify(found, null, 1)}`);
}

async function notice(page) {
  return (await page.locator('.notice').allInnerTexts()).join(' | ');
}

async function signIn(page) {
  await page.goto(`${BASE}/login`);
  await page.getByLabel('Email').fill(EMAIL);
  await page.getByLabel('Password').fill(PASSWORD);
  await Promise.all([page.waitForURL(`${BASE}/hooks`), page.getByRole('button', { name: 'Sign in' }).click()]);
}

function hookRow(page, name) {
  return page.locator('tbody tr').filter({ has: page.getByRole('link', { name, exact: true }) });
}

function secretRow(page, name) {
  return page
    .locator('tbody tr:not(.confirm-row):not(.editing)')
    .filter({ has: page.locator('code', { hasText: new RegExp(`^${name}$`) }) });
}

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await newPage(context);

  // ---- a wrong password ----
  await begin('wrong password is refused');
  await page.goto(`${BASE}/`);
  check(page.url() === `${BASE}/login`, `/ without a session should lead to /login, got ${page.url()}`);
  await axe(page, 'login');
  await shot(page, 'login');
  await page.getByLabel('Email').fill(EMAIL);
  await page.getByLabel('Password').fill('not the password at all');
  const [wrong] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${BASE}/login` && r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  check(wrong.status() === 401, `wrong password answered ${wrong.status()}`);
  check((await notice(page)).includes('Wrong email or password.'), 'no wrong-password message');
  check((await context.cookies()).every((c) => !c.name.endsWith('hh_session')), 'a session cookie was set');

  // ---- sign in ----
  await begin('sign in');
  await signIn(page);
  const session = (await context.cookies()).find((c) => c.name.endsWith('hh_session'));
  check(session && session.httpOnly && session.sameSite === 'Strict', `session cookie flags: ${JSON.stringify(session)}`);

  // ---- the documented flow ----
  await begin('hooks list');
  await page.getByRole('heading', { name: 'Hooks', level: 1 }).waitFor();
  check(await hookRow(page, 'Claims').isVisible(), 'hook Claims is not listed');
  check((await hookRow(page, 'Claims').innerText()).includes('credentials-exchange'), 'trigger not shown');
  check((await hookRow(page, 'Claims').innerText()).includes('Enabled'), 'enabled state not shown');
  await axe(page, 'hooks list');
  await shot(page, 'hooks-list');

  await begin('pencil opens the hook editor');
  await hookRow(page, 'Claims').getByRole('link', { name: 'Edit hook' }).click();
  await page.getByRole('heading', { name: 'Claims', level: 1 }).waitFor();
  check(await page.locator('.code-editor.enhanced .gutter span').count() > 3, 'the editor has no line numbers');
  check(await page.locator('.code-editor .highlight .tok-kw').count() > 0, 'the editor highlights no keywords');
  await axe(page, 'hook editor');
  await shot(page, 'hook-editor');

  await begin('wrench opens the menu with Secrets');
  const wrench = page.getByRole('button', { name: 'Hook settings' });
  check((await wrench.getAttribute('aria-expanded')) === 'false', 'menu starts open');
  await wrench.click();
  check((await wrench.getAttribute('aria-expanded')) === 'true', 'menu did not open');
  await page.locator('#hook-menu').getByRole('link', { name: 'Secrets' }).click();
  await page.getByRole('heading', { name: 'Secrets', level: 2 }).waitFor();
  const panel = await page.content();
  check(panel.includes('API_KEY') && panel.includes('OTHER'), 'secret names are not listed');
  check(await secretRow(page, 'UNSET').locator('.badge', { hasText: 'not set' }).isVisible(), 'an unset secret is not flagged');
  check((await page.locator('#secret-limit').innerText()).includes('of 20 secrets'), 'the 20-secret limit is not shown');
  await shot(page, 'secrets-panel');

  await begin('pencil-and-paper edits the name and the value; Save');
  await secretRow(page, 'API_KEY').getByRole('link', { name: 'Edit secret' }).click();
  const nameField = page.getByLabel('Name', { exact: true }).first();
  await page.locator('#edit-secret-name').waitFor();
  check((await page.locator('#edit-secret-name').inputValue()) === 'API_KEY', 'the edit form does not hold the name');
  check((await page.locator('#edit-secret-value').inputValue()) === '', 'the value field is not empty');
  await axe(page, 'secrets panel (editing)');
  await shot(page, 'secret-edit');
  await page.locator('#edit-secret-name').fill('API_TOKEN');
  await page.locator('#edit-secret-value').fill(NEW_VALUE);
  await page.locator('#edit-secret').getByRole('button', { name: 'Save' }).click();
  await page.locator('.notice.success').waitFor();
  check((await notice(page)).includes('Renamed secret API_KEY to API_TOKEN and saved its new value.'), `notice: ${await notice(page)}`);
  check(await secretRow(page, 'API_TOKEN').isVisible(), 'the new name is not listed');
  check((await secretRow(page, 'API_KEY').count()) === 0, 'the old name is still listed');
  void nameField;

  await begin('rename onto an existing name is refused and changes nothing');
  await secretRow(page, 'API_TOKEN').getByRole('link', { name: 'Edit secret' }).click();
  await page.locator('#edit-secret-name').fill('OTHER');
  await page.locator('#edit-secret-value').fill('must-not-be-stored');
  await page.locator('#edit-secret').getByRole('button', { name: 'Save' }).click();
  await page.locator('#edit-error').waitFor();
  check((await page.locator('#edit-error').innerText()).includes('Secret with the same name already exists.'), 'no conflict message');
  check(!(await page.content()).includes('must-not-be-stored'), 'the typed value was sent back');
  await page.getByRole('link', { name: 'Cancel' }).click();

  await begin('add a secret');
  await page.getByLabel('Name', { exact: true }).fill('ADDED');
  await page.getByLabel('Value', { exact: true }).fill('added-value-1');
  await page.getByRole('button', { name: 'Add secret' }).click();
  await page.locator('.notice.success').waitFor();
  check((await notice(page)).includes('Added secret ADDED.'), `notice: ${await notice(page)}`);

  await begin('delete a secret, after confirming');
  await secretRow(page, 'ADDED').getByRole('link', { name: 'Delete secret' }).click();
  await page.locator('#confirm-delete').waitFor();
  check((await secretRow(page, 'ADDED').count()) === 1, 'deleted before confirming');
  await page.locator('#confirm-delete').getByRole('button', { name: 'Delete secret' }).click();
  await page.locator('.notice.success').waitFor();
  check((await notice(page)).includes('Deleted secret ADDED.'), `notice: ${await notice(page)}`);
  check((await secretRow(page, 'ADDED').count()) === 0, 'still listed');

  await begin('a form posted without its CSRF token is refused');
  await page.locator('form[action$="/secrets"] input[name="_csrf"]').evaluate((el) => el.remove());
  await page.getByLabel('Name', { exact: true }).fill('NO_CSRF');
  await page.getByLabel('Value', { exact: true }).fill('no-csrf-value');
  const [refused] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Add secret' }).click(),
  ]);
  check(refused.status() === 403, `a form without CSRF token answered ${refused.status()}`);
  await page.getByRole('heading', { name: 'Form refused' }).waitFor();

  await begin('run the hook in the Runner');
  await page.goto(`${BASE}/hooks`);
  await hookRow(page, 'Claims').getByRole('link', { name: 'Edit hook' }).click();
  await page.getByRole('navigation', { name: 'Hook' }).getByRole('link', { name: 'Runner' }).click();
  const payload = await page.locator('#runner-payload').inputValue();
  check(payload.includes('"audience"') && payload.includes('client-name'), 'the sample payload is not pre-filled');
  await page.getByRole('button', { name: 'Run' }).click();
  await page.locator('#runner-result').waitFor();
  const runResult = await page.locator('#runner-result').innerText();
  check(runResult.includes('"https://example.com/has_token": true'), `result: ${runResult}`);
  const logs = await page.locator('#runner-logs').innerText();
  check(logs.includes('token is [REDACTED]'), `logs: ${logs}`);
  check(!logs.includes(NEW_VALUE), 'the Runner showed a secret value');
  check((await page.locator('.duration').innerText()).endsWith('ms'), 'no duration');
  await axe(page, 'runner');
  await shot(page, 'runner');

  await begin('create a hook');
  await page.goto(`${BASE}/hooks`);
  await page.getByLabel('Name', { exact: true }).fill('Signup Gate');
  await page.getByLabel('Trigger').selectOption('pre-user-registration');
  check((await page.locator('#new-script').inputValue()).includes('PreUserRegistrationError'), 'the starter did not follow the trigger');
  await page.getByRole('button', { name: 'Create hook' }).click();
  await page.getByRole('heading', { name: 'Signup Gate', level: 1 }).waitFor();
  check((await notice(page)).includes('Created hook Signup Gate.'), `notice: ${await notice(page)}`);

  await begin('a compile error is shown with its line and column');
  await page.locator('#hook-script').fill('module.exports = function (user, context, cb) {\n  cb(null, {;\n};\n');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.locator('#script-error').waitFor();
  const compileError = await page.locator('#script-error').innerText();
  check(/^Line 2, column \d+: /.test(compileError), `compile error: ${compileError}`);
  check(await page.locator('.gutter .error-line').count() === 1, 'the error line is not marked');

  await begin('enable a hook on a trigger that has an enabled one');
  await page.goto(`${BASE}/hooks`);
  check((await hookRow(page, 'Claims v2').innerText()).includes('Disabled'), 'Claims v2 starts enabled');
  await hookRow(page, 'Claims v2').getByRole('button', { name: 'Enable' }).click();
  await page.locator('.notice.success').waitFor();
  const toggled = await notice(page);
  check(toggled.includes('Enabled hook Claims v2.') && toggled.includes('Hook Claims was disabled'), `notice: ${toggled}`);
  check((await hookRow(page, 'Claims').innerText()).includes('Disabled'), 'Claims is still enabled');

  await begin('the 20-secret limit');
  await hookRow(page, 'Full').getByRole('link', { name: 'Edit hook' }).click();
  await page.getByRole('button', { name: 'Hook settings' }).click();
  await page.locator('#hook-menu').getByRole('link', { name: 'Secrets' }).click();
  check((await page.locator('#secret-limit').innerText()).replace(/\s+/g, ' ').includes('20 of 20 secrets'), 'the count is not shown');
  check(await page.locator('#limit-reached').isVisible(), 'the limit message is not shown');
  check((await page.getByRole('button', { name: 'Add secret' }).count()) === 0, 'adding is still offered');
  await shot(page, 'secrets-limit');

  await begin('create a client and use its secret');
  await page.goto(`${BASE}/clients`);
  await page.getByLabel('Name', { exact: true }).fill('browser-app');
  await page.getByLabel('read:hooks').check();
  await page.getByLabel('update:hooks').check();
  await page.getByRole('button', { name: 'Create application' }).click();
  await page.locator('#new-client-secret').waitFor();
  const clientId = (await page.locator('#new-client-id').innerText()).trim();
  const clientSecret = await page.locator('#new-client-secret').inputValue();
  check(clientSecret.length > 40, 'no client secret shown');
  await page.getByRole('button', { name: 'Copy' }).click();
  await axe(page, 'applications');
  await shot(page, 'applications');
  const tokenResponse = await fetch(`${BASE}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      grant_type: 'client_credentials',
      client_id: clientId,
      client_secret: clientSecret,
      audience: `https://${new URL(BASE).host}/api/v2/`,
    }),
  });
  const tokenBody = await tokenResponse.json();
  check(tokenResponse.status === 200 && tokenBody.access_token, `token: ${tokenResponse.status} ${JSON.stringify(tokenBody)}`);
  // The token's scopes are what the enabled credentials-exchange hook returns; the
  // grant itself is checked through the API afterwards.
  await page.goto(`${BASE}/clients`);
  check(!(await page.content()).includes(clientSecret), 'the client secret is shown a second time');
  result.client = { client_id: clientId };

  await begin('rotate a client secret');
  await page.locator('tbody tr').filter({ hasText: 'browser-app' }).getByRole('link', { name: 'Rotate secret' }).click();
  await page.locator('#confirm').getByRole('button', { name: 'Rotate secret' }).click();
  await page.locator('#new-client-secret').waitFor();
  const rotated = await page.locator('#new-client-secret').inputValue();
  check(rotated !== clientSecret, 'the secret did not change');
  const oldAgain = await fetch(`${BASE}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret, audience: `https://${new URL(BASE).host}/api/v2/` }),
  });
  check(oldAgain.status === 401, `the old secret still works: ${oldAgain.status}`);

  await begin('logs, filtered by hook and by actor');
  await page.goto(`${BASE}/logs`);
  await page.getByLabel('Hook').selectOption({ label: 'Claims' });
  await page.getByRole('button', { name: 'Filter' }).click();
  const byHook = await page.locator('table.log').innerText();
  check(byHook.includes('secrets.rename') && byHook.includes('hook.run'), 'the hook filter lost events');
  check(!byHook.includes('client.create'), 'the hook filter let other events through');
  await page.getByLabel('Actor').fill(`admin:${EMAIL.toLowerCase()}`);
  await page.getByRole('button', { name: 'Filter' }).click();
  check((await page.locator('table.log tbody tr').count()) > 0, 'no events for the admin');
  await axe(page, 'logs');
  await shot(page, 'logs');

  // ---- keyboard only ----
  await begin('keyboard only: Hooks list → pencil → wrench → Secrets → pencil-and-paper → Save');
  const kpage = await newPage(context);
  await kpage.goto(`${BASE}/hooks`);
  const focused = () =>
    kpage.evaluate(() => {
      const el = document.activeElement;
      return {
        label: el.getAttribute('aria-label') || '',
        text: (el.innerText || el.value || '').trim(),
        describedBy: el.getAttribute('aria-describedby')
          ? (document.getElementById(el.getAttribute('aria-describedby')) || {}).textContent || ''
          : '',
        id: el.id,
        tag: el.tagName,
      };
    });
  async function tabTo(pred, what) {
    for (let i = 0; i < 80; i++) {
      await kpage.keyboard.press('Tab');
      const f = await focused();
      if (pred(f)) return f;
    }
    throw new Error(`${step}: Tab never reached ${what}`);
  }
  await tabTo((f) => f.label === 'Edit hook' && f.describedBy === 'Full', 'Edit hook (Full)');
  await Promise.all([kpage.waitForURL(/\/hooks\/[^/]+$/), kpage.keyboard.press('Enter')]);
  await tabTo((f) => f.label === 'Hook settings', 'the wrench');
  await kpage.keyboard.press('Enter');
  let f = await focused();
  check(f.text === 'Secrets', `Enter on the wrench should focus Secrets, focus is on ${JSON.stringify(f)}`);
  await kpage.keyboard.press('Escape');
  f = await focused();
  check(f.label === 'Hook settings', 'Escape did not return focus to the wrench');
  await kpage.keyboard.press('Enter');
  await Promise.all([kpage.waitForURL(/\/secrets$/), kpage.keyboard.press('Enter')]);
  await tabTo((f2) => f2.label === 'Edit secret' && f2.describedBy === 'S01', 'Edit secret (S01)');
  await Promise.all([kpage.waitForURL(/edit=S01/), kpage.keyboard.press('Enter')]);
  f = await focused();
  check(f.id === 'edit-secret-name', `the edit form does not take focus: ${JSON.stringify(f)}`);
  await kpage.keyboard.press('End');
  await kpage.keyboard.type('_RENAMED');
  await kpage.keyboard.press('Tab');
  await kpage.keyboard.type('keyboard-value');
  await tabTo((f2) => f2.tag === 'BUTTON' && f2.text === 'Save', 'Save');
  await Promise.all([kpage.waitForURL(/\/secrets$/), kpage.keyboard.press('Enter')]);
  check((await kpage.locator('.notice').innerText()).includes('Renamed secret S01 to S01_RENAMED'), 'keyboard rename failed');
  await axe(kpage, 'secrets panel');
  await kpage.close();

  // ---- sign out ----
  await begin('sign out');
  await page.goto(`${BASE}/hooks`);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${BASE}/login`);
  check((await notice(page)).includes('You have signed out.'), 'no sign-out message');
  await page.goto(`${BASE}/hooks`);
  check(page.url() === `${BASE}/login`, 'the Dashboard is still open after signing out');

  // ---- what the browser holds and received ----
  await begin('no secret value in any page, script, cookie or storage');
  const storage = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
  check(!storage.includes(CANARY), 'browser storage holds the canary');
  for (const c of await context.cookies()) {
    check(!c.value.includes(CANARY) && !decodeURIComponent(c.value).includes(CANARY), `cookie ${c.name} holds the canary`);
  }
  for (const b of bodies) {
    check(!b.text.includes(CANARY), `${b.url} contained the canary value`);
    check(!b.text.includes(NEW_VALUE), `${b.url} contained a secret value set in the browser`);
  }
  result.bodies_checked = bodies.length;
  const csp = consoleErrors.filter((e) => /Content Security Policy|Refused to/.test(e));
  check(csp.length === 0, `CSP violations: ${csp.join('\n')}`);
  result.console_errors = consoleErrors;
  result.ok = true;
} catch (e) {
  result.ok = false;
  result.failed_step = step;
  result.error = String(e && e.stack ? e.stack : e);
  console.error(`[browser] FAILED at "${step}": ${result.error}`);
} finally {
  writeFileSync(env('HH_RESULT'), JSON.stringify(result, null, 2));
  await browser.close();
}
process.exit(result.ok ? 0 : 1);
