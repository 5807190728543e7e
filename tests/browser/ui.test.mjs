// End-to-end test of /ui in headless Chromium, plus the API driven from a page on another
// origin (CORS). Expects a running `contactsync demo` (see run.sh): BASE, TOKEN,
// CORS_ORIGIN_PORT (an origin the service allows), SCREENSHOT (where to save the page).
import assert from 'node:assert/strict';
import http from 'node:http';
import { chromium } from 'playwright-core';

const BASE = process.env.BASE;
const TOKEN = process.env.TOKEN;
const ALLOWED_PORT = Number(process.env.CORS_ORIGIN_PORT);
const SCREENSHOT = process.env.SCREENSHOT || 'ui.png';
assert.ok(BASE && TOKEN && ALLOWED_PORT, 'BASE, TOKEN and CORS_ORIGIN_PORT are required');

const api = async (method, path, body) => {
  const res = await fetch(`${BASE}/api/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: body && JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
};

let passed = 0;
async function step(name, fn) {
  const started = Date.now();
  await fn();
  passed += 1;
  console.log(`ok ${passed} - ${name} (${Date.now() - started} ms)`);
}

// A plain page on another origin, like a CRM frontend.
function serveFrontend(port) {
  const server = http.createServer((_, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end('<!doctype html><title>CRM frontend</title><h1>CRM</h1>');
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
const frontends = [];
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
  page.on('pageerror', (err) => { throw err; });

  await step('the page loads without a token and signs in with a pasted one', async () => {
    await page.goto(`${BASE}/ui`);
    assert.equal(await page.isVisible('#app'), false);
    await page.fill('#token', TOKEN);
    await page.click('#signin button[type=submit]');
    await page.waitForSelector('#app', { state: 'visible' });
    assert.match(await page.textContent('#who'), /Signed in as demo/);
    const stored = await page.evaluate(() => [sessionStorage.getItem('contactsync.token'), localStorage.length]);
    assert.deepEqual(stored, [TOKEN, 0], 'the token is kept in session storage only');
  });

  await step('the folder tree shows the nested Outlook folders', async () => {
    await page.waitForSelector('.import-folder');
    const names = await page.$$eval('#folder-tree label', (ls) => ls.map((l) => l.textContent.trim()));
    for (const name of ['Contacts', 'Clients', 'VIP', 'Suppliers', 'Logistics']) {
      assert.ok(names.some((n) => n.startsWith(name)), `${name} in ${names}`);
    }
    assert.equal(await page.$$eval('#folder-tree ul ul ul label', (ls) => ls.length) >= 2, true, 'nested levels');
  });

  await step('Save stores the profile chosen on the page', async () => {
    await page.check('input[name=import-scope][value=folders]');
    for (const folder of ['Contacts', 'Clients', 'VIP']) {
      await page.locator('#folder-tree label', { hasText: new RegExp(`^ ?${folder}\\b`) }).first().locator('input').check();
    }
    await page.check('input[name=export-scope][value=specific]');
    await page.check('.export-type[value="00000000-0000-7000-8000-000000000001"]');
    await page.check('.export-type[value="00000000-0000-7000-8000-000000000002"]');
    await page.check('.export-folder');
    await page.check('#auto-enabled');
    await page.fill('#interval', '30');
    await page.click('#save');
    await page.waitForFunction(() => document.getElementById('save-status').textContent.startsWith('Saved'));
    const mailboxes = await api('GET', '/mailboxes');
    const saved = (await api('GET', `/mailboxes/${mailboxes.body.items[0].id}/contact-sync`)).body;
    assert.equal(saved.import.scope, 'folders');
    assert.equal(saved.import.folder_ids.length, 3);
    assert.equal(saved.export.scope, 'specific');
    assert.equal(saved.export.contact_type_ids.length, 2);
    assert.equal(saved.export.folder_ids.length, 1);
    assert.deepEqual(saved.auto_sync, { enabled: true, interval_minutes: 30 });
  });

  await step('a bad value is refused with the field named', async () => {
    await page.fill('#interval', '2');
    await page.click('#save');
    await page.waitForFunction(() => document.getElementById('errors').textContent.includes('interval_minutes'));
    await page.fill('#interval', '30');
    await page.click('#save');
    await page.waitForFunction(() => document.getElementById('errors').textContent === '');
  });

  await step('Synchronize now follows the run live to its end', async () => {
    // Something for the run to do: a new employee to export.
    const created = await api('POST', '/contacts', {
      given_name: 'Browser', surname: 'Tester', email1: 'browser.tester@crm.example',
      type_id: '00000000-0000-7000-8000-000000000001',
    });
    assert.equal(created.status, 201);
    await page.click('#sync-now');
    await page.waitForSelector('#run', { state: 'visible' });
    await page.waitForFunction(
      () => ['succeeded', 'partially_failed', 'failed'].includes(document.getElementById('run-status').textContent),
      null, { timeout: 60000 });
    assert.equal(await page.textContent('#run-status'), 'succeeded');
    assert.match(await page.textContent('#run-counts'), /\d+ imported · 1 exported/);
    assert.match(await page.textContent('#run-items'), /exchange_create — applied/);
    assert.equal(await page.textContent('#run-failures'), 'none');
    const runId = await page.$eval('#run', (r) => r.dataset.runId);
    const run = (await api('GET', `/contact-sync/runs/${runId}`)).body;
    assert.equal(run.status, 'succeeded');
    assert.equal(run.trigger, 'manual');
  });

  await step('the connection test lists every step', async () => {
    await page.click('.tab[data-tab=connection]');
    await page.click('#test');
    await page.waitForFunction(() => document.querySelectorAll('#steps li.ok').length >= 3);
    const steps = await page.$$eval('#steps li', (ls) => ls.map((l) => l.textContent));
    assert.ok(steps.some((s) => s.startsWith('auth: ok')), steps.join('\n'));
    assert.ok(steps.some((s) => s.startsWith('contacts_folder: ok')), steps.join('\n'));
    await page.click('.tab[data-tab=contacts]');
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  await step('a frontend on an allowed origin drives the API (preflight, ETag, Location, SSE)', async () => {
    frontends.push(await serveFrontend(ALLOWED_PORT));
    const other = await browser.newPage();
    await other.goto(`http://127.0.0.1:${ALLOWED_PORT}/`);
    const result = await other.evaluate(async ({ base, token }) => {
      const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
      const created = await fetch(`${base}/api/v1/accounts`, {
        method: 'POST', headers, body: JSON.stringify({ name: 'Made in the browser' }),
      });
      const etag = created.headers.get('ETag');
      const location = created.headers.get('Location');
      const patched = await fetch(location.startsWith('http') ? location : base + location, {
        method: 'PATCH', headers: { ...headers, 'If-Match': etag }, body: JSON.stringify({ name: 'Renamed' }),
      });
      const runs = await (await fetch(`${base}/api/v1/contact-sync/runs?limit=1`, { headers })).json();
      const events = await fetch(`${base}/api/v1/contact-sync/runs/${runs.items[0].id}/events`, { headers });
      const reader = events.body.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      await reader.cancel();
      return { status: created.status, etag, location, patched: patched.status, sse: events.status, first };
    }, { base: BASE, token: TOKEN });
    assert.equal(result.status, 201);
    assert.ok(result.etag, 'ETag readable');
    assert.match(result.location, /\/api\/v1\/accounts\//);
    assert.equal(result.patched, 200);
    assert.equal(result.sse, 200);
    assert.match(result.first, /event: ?state/);
  });

  await step('a page on an origin not allowed cannot read the API', async () => {
    frontends.push(await serveFrontend(ALLOWED_PORT + 1));
    const other = await browser.newPage();
    await other.goto(`http://127.0.0.1:${ALLOWED_PORT + 1}/`);
    const outcome = await other.evaluate(async ({ base, token }) => {
      try {
        await fetch(`${base}/api/v1/me`, { headers: { Authorization: `Bearer ${token}` } });
        return 'read';
      } catch (err) {
        return err.name;
      }
    }, { base: BASE, token: TOKEN });
    assert.equal(outcome, 'TypeError');
  });
} finally {
  await browser.close();
  for (const server of frontends) server.close();
}
console.log(`browser tests: ${passed} passed, 0 failed; screenshot at ${SCREENSHOT}`);
