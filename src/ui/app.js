// The reference setup page: a mailbox's contact sync over the public API only.
// The token lives in session storage (gone with the tab); the event stream is read with
// fetch, because EventSource cannot send an Authorization header.
'use strict';

const API = '/api/v1';
const TOKEN_KEY = 'contactsync.token';
const $ = (id) => document.getElementById(id);

let mailboxId = null;
let profile = null;
let profileEtag = null;

class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

async function api(method, path, body, headers = {}) {
  const init = { method, headers: { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}`, ...headers } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(API + path, init);
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw new ApiError(res.status, data || {});
  return { data, etag: res.headers.get('ETag'), status: res.status };
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k in node) node[k] = v;
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

function showError(err) {
  const p = err.problem || {};
  const fields = (p.errors || []).map((e) => `${e.field}: ${e.message}`);
  $('errors').textContent = [err.message, ...fields].join('\n');
}

// --- sign-in -------------------------------------------------------------------------

async function signIn() {
  try {
    const me = (await api('GET', '/me')).data;
    $('who').textContent = `Signed in as ${me.user_id}${me.is_admin ? ' (administrator)' : ''}`;
    $('app').hidden = false;
    await loadMailboxes();
  } catch (err) {
    $('who').textContent = err.status === 401 ? 'That token was refused: paste a fresh one.' : err.message;
    $('app').hidden = true;
  }
}

$('signin').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
  $('token').value = '';
  signIn();
});
$('signout').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  $('app').hidden = true;
  $('who').textContent = 'Signed out.';
});

// --- mailbox and profile -------------------------------------------------------------

async function loadMailboxes() {
  const { data } = await api('GET', '/mailboxes?limit=100');
  const select = $('mailbox');
  select.replaceChildren(...data.items.map((m) => el('option', { value: m.id }, `${m.display_name} <${m.email}>`)));
  select.dataset.status = JSON.stringify(Object.fromEntries(data.items.map((m) => [m.id, m.status])));
  if (data.items.length) await selectMailbox(data.items[0].id);
  else $('errors').textContent = 'No mailbox yet: connect one with POST /api/v1/mailboxes (see the README).';
}

$('mailbox').addEventListener('change', (e) => selectMailbox(e.target.value));

async function selectMailbox(id) {
  mailboxId = id;
  $('errors').textContent = '';
  const status = JSON.parse($('mailbox').dataset.status || '{}')[id] || '';
  $('mailbox-status').textContent = status;
  $('mailbox-status').className = `badge ${status}`;
  const [p, folders, crmFolders] = await Promise.all([
    api('GET', `/mailboxes/${id}/contact-sync`),
    api('GET', `/mailboxes/${id}/exchange-folders`).catch((err) => ({ error: err })),
    api('GET', '/contact-folders?limit=100'),
  ]);
  profile = p.data;
  profileEtag = p.etag;
  renderFolderTree(folders);
  renderCrmFolders(crmFolders.data.items);
  renderProfile();
}

function renderFolderTree(result) {
  const tree = $('folder-tree');
  if (result.error) {
    tree.replaceChildren(el('p', { class: 'error' }, `The folder tree could not be read: ${result.error.message}`));
    return;
  }
  const list = (folders) => el('ul', {}, ...folders.map((f) => el('li', {},
    el('label', {}, el('input', { type: 'checkbox', className: 'import-folder', value: f.id }),
      ` ${f.name}`, el('span', { class: 'muted' }, f.total_count != null ? ` (${f.total_count})` : '')),
    f.children.length ? list(f.children) : '')));
  tree.replaceChildren(list(result.data.items));
}

function renderCrmFolders(folders) {
  $('crm-folders').replaceChildren(...folders.map((f) => el('label', {},
    el('input', { type: 'checkbox', className: 'export-folder', value: f.id }), ` CRM folder “${f.name}”`)));
}

function renderProfile() {
  $('import-enabled').checked = profile.import.enabled;
  document.querySelector(`input[name=import-scope][value=${profile.import.scope}]`).checked = true;
  for (const box of document.querySelectorAll('.import-folder')) box.checked = profile.import.folder_ids.includes(box.value);
  $('export-enabled').checked = profile.export.enabled;
  document.querySelector(`input[name=export-scope][value=${profile.export.scope}]`).checked = true;
  for (const box of document.querySelectorAll('.export-type')) box.checked = profile.export.contact_type_ids.includes(box.value);
  for (const box of document.querySelectorAll('.export-folder')) box.checked = profile.export.folder_ids.includes(box.value);
  $('auto-enabled').checked = profile.auto_sync.enabled;
  $('interval').value = profile.auto_sync.interval_minutes;
}

const checked = (selector) => [...document.querySelectorAll(selector)].filter((b) => b.checked).map((b) => b.value);

function profileFromForm() {
  return {
    ...profile,
    import: {
      ...profile.import,
      enabled: $('import-enabled').checked,
      scope: document.querySelector('input[name=import-scope]:checked').value,
      folder_ids: checked('.import-folder'),
    },
    export: {
      ...profile.export,
      enabled: $('export-enabled').checked,
      scope: document.querySelector('input[name=export-scope]:checked').value,
      contact_type_ids: checked('.export-type'),
      folder_ids: checked('.export-folder'),
    },
    auto_sync: { enabled: $('auto-enabled').checked, interval_minutes: Number($('interval').value) },
  };
}

$('save').addEventListener('click', async () => {
  $('errors').textContent = '';
  try {
    const headers = profileEtag ? { 'If-Match': profileEtag } : {};
    const saved = await api('PUT', `/mailboxes/${mailboxId}/contact-sync`, profileFromForm(), headers);
    profile = saved.data;
    profileEtag = saved.etag;
    renderProfile();
    $('save-status').textContent = `Saved at ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    showError(err);
  }
});

// --- synchronize now: live progress from the event stream -----------------------------

$('sync-now').addEventListener('click', async () => {
  $('errors').textContent = '';
  try {
    const { data } = await api('POST', `/mailboxes/${mailboxId}/contact-sync/runs`, { mode: 'two_way' },
      { 'Idempotency-Key': crypto.randomUUID() });
    await follow(data.id);
  } catch (err) {
    if (err.status === 409 && err.problem.active_run_id) await follow(err.problem.active_run_id);
    else showError(err);
  }
});

function showRun(run) {
  $('run-status').textContent = run.status;
  $('run-status').className = `badge ${run.status}`;
  showCounts(run.counts);
}

function showCounts(c) {
  $('run-counts').textContent =
    `${c.crm_created} imported · ${c.exchange_created} exported · ${c.crm_updated + c.exchange_updated} updated · ` +
    `${c.linked} linked · ${c.crm_deleted + c.exchange_deleted} deleted · ${c.unchanged} unchanged · ${c.failed} failed${c.deferred ? ` · ${c.deferred} waiting for a later run` : ""}`;
}

// Reads `text/event-stream` from a fetch body, calling `onEvent(name, data)` per event.
async function readEvents(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) name = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
      }
      if (data.length && onEvent(name, JSON.parse(data.join('\n'))) === false) {
        await reader.cancel();
        return;
      }
    }
  }
}

async function follow(runId) {
  $('run').hidden = false;
  $('run').dataset.runId = runId;
  $('run-items').replaceChildren();
  $('run-progress').removeAttribute('value');
  const response = await fetch(`${API}/contact-sync/runs/${runId}/events`, {
    headers: { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}`, Accept: 'text/event-stream' },
  });
  if (!response.ok) throw new ApiError(response.status, await response.json());
  await readEvents(response, (name, data) => {
    if (name === 'state') showRun(data);
    else if (name === 'progress') showCounts(data);
    else if (name === 'item' && $('run-items').children.length < 200) {
      $('run-items').append(el('li', { class: data.outcome },
        `${data.op} — ${data.outcome}${data.code ? ` (${data.code})` : ''}`));
    } else if (name === 'end') {
      showRun(data);
      $('run-progress').value = 1;
      return false;
    }
    return true;
  });
  const failed = (await api('GET', `/contact-sync/runs/${runId}/items?outcome=failed&limit=100`)).data.items;
  $('run-failures').replaceChildren(...(failed.length
    ? failed.map((i) => el('li', {}, `${i.op}: ${i.code || ''} ${i.message || ''}`))
    : [el('li', { class: 'muted' }, 'none')]));
}

// --- connection test -------------------------------------------------------------------

$('test').addEventListener('click', async () => {
  $('steps').replaceChildren(el('li', { class: 'muted' }, 'testing…'));
  try {
    const { data } = await api('POST', `/mailboxes/${mailboxId}/test`);
    $('steps').replaceChildren(...data.steps.map((s) => el('li', { class: s.status },
      `${s.step}: ${s.status} (${s.duration_ms} ms) — ${s.detail}${s.code ? ` [${s.code}]` : ''}`)));
  } catch (err) {
    $('steps').replaceChildren(el('li', { class: 'failed' }, err.message));
  }
});

// --- tabs ------------------------------------------------------------------------------

for (const tab of document.querySelectorAll('.tab')) {
  tab.addEventListener('click', () => {
    for (const t of document.querySelectorAll('.tab')) t.classList.toggle('active', t === tab);
    for (const panel of document.querySelectorAll('.tabpanel')) panel.hidden = panel.id !== `tab-${tab.dataset.tab}`;
  });
}

if (sessionStorage.getItem(TOKEN_KEY)) signIn();
