// The page: tables, one table's rows (sort, filter, cursor paging), adding
// rows, writes with the token, the status bar, and live changes applied to the
// grid. View state lives in the hash (#/table?col=op.value&order=-col&limit=N).

import { h, fill, $ } from './dom.js';
import { request, explain, token, onNetwork, qs, tablePath, rowPath } from './api.js';
import { stringify } from './json.js';
import { affinity, compare, fromInput } from './values.js';
import { Grid, columnsOf } from './grid.js';
import { parseFilters, filterPairs, filterEditor } from './filters.js';
import { createFeed, MODES } from './live.js';

const LIMITS = [25, 50, 100, 200];
const DEFAULT_LIMIT = 50;
const HEALTH_MS = 10000;
const HEALTH_OFFLINE_MS = 2000;
const LIVE_KEY = 'rowcast.live';

const S = {
  tables: [],
  t: null,
  order: [],
  filters: [],
  limit: DEFAULT_LIMIT,
  stack: [], // the `after` cursor of each earlier page
  after: null,
  next: null,
  applied: 0, // seq the grid reflects: the snapshot's, then each change applied
  lastSeq: -1,
  loadId: 0,
  loading: false,
  queue: [],
  feed: null,
  online: null,
};

const grid = new Grid($('#grid'), {
  onSort: sortBy,
  onSave: (row, col, value) => write('PATCH', rowPath(S.t.name, grid.keyOf(row)), { [col.name]: value }),
  onDelete: (row) => write('DELETE', rowPath(S.t.name, grid.keyOf(row))),
  explain,
});

/* ---------- status bar ---------- */

function pill(sel, text, cls = '') {
  const el = $(sel);
  el.textContent = text;
  el.className = 'pill ' + cls;
}

function setOnline(up) {
  if (S.online === up) return;
  const was = S.online;
  S.online = up;
  pill('#conn', up ? 'online' : 'offline', up ? 'ok' : 'bad');
  if (up && was === false) {
    S.feed?.kick();
    if (!S.tables.length) loadTables();
  }
}

function noteSeq(seq) {
  if (typeof seq === 'number' && seq > S.lastSeq) {
    S.lastSeq = seq;
    $('#seq').textContent = 'seq ' + seq;
  }
}

function noteVersion(v) {
  if (v) $('#server').textContent = 'rowcast ' + String(v).replace(/^rowcast[/ ]/i, '');
}

let healthTimer = 0;
let healthBusy = false;

/** Checks /healthz now, then every HEALTH_MS (more often while offline). */
async function health() {
  if (healthBusy) return;
  healthBusy = true;
  clearTimeout(healthTimer);
  try {
    const { data } = await request('GET', '/healthz');
    noteSeq(data.last_seq);
    noteVersion(data.version);
    if (data.status !== 'ok' || data.db !== 'ok') pill('#conn', 'degraded', 'warn');
  } catch { /* setOnline(false) was called by request() */ }
  healthBusy = false;
  healthTimer = setTimeout(health, S.online === false ? HEALTH_OFFLINE_MS : HEALTH_MS);
}

/** Sets an element's text and hides it when the text is empty. */
function say(sel, text) {
  const el = $(sel);
  el.textContent = text;
  el.hidden = !text;
}

let noticeTimer = 0;
function notice(text) {
  say('#notice', text);
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => say('#notice', ''), 4000);
}

/* ---------- token ---------- */

let tokenResolve = null;

function syncTokenButton() {
  $('#token-btn').textContent = token.get() ? 'Token ✓' : 'Token';
}

/** Opens the token dialog; resolves true when the user saved a token. */
function askToken(why) {
  const dlg = $('#token-dialog');
  $('#token-why').textContent = why || 'Writes need the token rowcast was started with (--token). It is kept for this tab only.';
  $('#token-input').value = token.get();
  tokenResolve?.(false);
  if (!dlg.open) dlg.showModal();
  $('#token-input').focus();
  return new Promise((resolve) => { tokenResolve = resolve; });
}

function closeToken(saved) {
  const r = tokenResolve;
  tokenResolve = null;
  const dlg = $('#token-dialog');
  if (dlg.open) dlg.close();
  syncTokenButton();
  r?.(saved);
}

const sentence = (s) => (/[.!?]$/.test(s) ? s : s + '.');

/** A write; a 401 asks for the token and, once given, tries again. Resolves to the body. */
async function write(method, path, body) {
  for (;;) {
    try {
      return (await request(method, path, body)).data;
    } catch (err) {
      if (err.status === 401 && await askToken(sentence(explain(err)) + ' Enter the token to continue; what you typed is kept.')) continue;
      throw err;
    }
  }
}

/* ---------- tables and routing ---------- */

/** Loads the table list (the schema may have changed); keep stays on this page of an unchanged table. */
async function loadTables(keep) {
  try {
    S.tables = (await request('GET', '/api/tables')).data.tables || [];
  } catch (err) {
    showViewError('Could not load the tables. ' + explain(err));
    return;
  }
  const t = keep === true && S.t && S.tables.find((x) => x.name === S.t.name);
  if (t && stringify(t) === stringify(S.t)) {
    S.t = grid.table = t;
    renderNav();
    loadRows();
  } else {
    route(true);
  }
}

function renderNav() {
  const items = S.tables.map((t) => h('li', null,
    h('a', { href: '#/' + encodeURIComponent(t.name), 'aria-current': S.t?.name === t.name ? 'page' : null },
      h('span', { class: 'tname' }, t.name),
      typeof t.count === 'number' ? h('span', { class: 'count' }, String(t.count)) : null,
      t.writable ? null : h('span', { class: 'badge' }, 'read-only'))));
  fill($('#table-list'), items.length ? items : h('li', { class: 'muted' }, 'No tables.'));
}

function parseHash() {
  const m = /^#\/([^?]*)(?:\?(.*))?$/.exec(location.hash);
  if (!m) return { name: '', params: new URLSearchParams() };
  let name = m[1];
  try { name = decodeURIComponent(name); } catch { /* keep raw */ }
  return { name, params: new URLSearchParams(m[2] || '') };
}

const parseOrder = (s) => (s || '').split(',').filter(Boolean).map((p) => ({ col: p.replace(/^-/, ''), desc: p[0] === '-' }));
const orderText = (order) => order.map((o) => (o.desc ? '-' : '') + o.col).join(',');
const activeFilters = (fs) => fs.filter((f) => f.op === 'is' || f.value !== '');

function viewPairs() {
  const p = filterPairs(activeFilters(S.filters));
  if (S.order.length) p.push(['order', orderText(S.order)]);
  return p;
}

function go({ order = S.order, filters = S.filters, limit = S.limit } = {}) {
  S.order = order;
  S.filters = filters;
  S.limit = limit;
  const pairs = viewPairs();
  if (limit !== DEFAULT_LIMIT) pairs.push(['limit', limit]);
  const hash = '#/' + encodeURIComponent(S.t.name) + (pairs.length ? '?' + qs(pairs) : '');
  if (hash === location.hash) route(true);
  else location.hash = hash;
}

let filterKey = '';

function route(force) {
  if (!S.tables.length) return;
  const { name, params } = parseHash();
  const t = S.tables.find((x) => x.name === name);
  if (!t) {
    if (name) notice(`There is no table named "${name}".`);
    location.replace('#/' + encodeURIComponent(S.tables[0].name));
    return;
  }
  const changed = !S.t || S.t.name !== t.name || stringify(S.t) !== stringify(t);
  S.t = t;
  S.order = parseOrder(params.get('order'));
  S.filters = parseFilters(params);
  const lim = Number(params.get('limit'));
  S.limit = LIMITS.includes(lim) ? lim : DEFAULT_LIMIT;
  S.stack = [];
  S.after = null;
  renderNav();
  renderHead(changed);
  const fk = t.name + stringify(S.filters);
  if (changed || force || fk !== filterKey) {
    filterKey = fk;
    filterEditor($('#filter-panel'), columnsOf(t), S.filters, (filters) => go({ filters: activeFilters(filters) }));
  }
  syncFilterButton();
  loadRows();
}

function renderHead(changed) {
  const t = S.t;
  const key = Array.isArray(t.key) ? `composite key (${t.key.join(', ')}), read-only` : `key: ${t.key}`;
  $('#table-title').textContent = t.name;
  fill($('#table-meta'), h('span', null, key),
    typeof t.count === 'number' ? h('span', null, ` · ${t.count} rows`) : null,
    t.writable ? null : h('span', { class: 'badge' }, 'read-only'));
  $('#add-btn').hidden = !t.writable || Array.isArray(t.key);
  $('#limit').value = String(S.limit);
  if (changed) {
    toggleAdd(false);
    buildAddForm();
    document.title = t.name + ' · rowcast';
  }
  showViewError('');
}

function syncFilterButton() {
  const n = activeFilters(S.filters).length;
  $('#filter-btn').textContent = n ? `Filter (${n})` : 'Filter';
  if (n) togglePanel('#filter-btn', '#filter-panel', true);
}

function togglePanel(btnSel, panelSel, show) {
  const panel = $(panelSel);
  const open = show ?? panel.hidden;
  panel.hidden = !open;
  $(btnSel).setAttribute('aria-expanded', String(open));
  return open;
}

const showViewError = (text) => say('#view-error', text);

/* ---------- rows ---------- */

async function loadRows() {
  const id = ++S.loadId;
  const t = S.t;
  S.loading = true;
  S.queue = [];
  $('#grid').setAttribute('aria-busy', 'true');
  const pairs = viewPairs();
  pairs.push(['limit', S.limit]);
  if (S.after !== null) pairs.push(['after', S.after]);
  try {
    const { data } = await request('GET', tablePath(t.name) + '/rows?' + qs(pairs));
    if (id !== S.loadId) return;
    S.next = data.next ?? null;
    S.applied = typeof data.seq === 'number' ? data.seq : 0;
    noteSeq(data.seq);
    grid.setTable(t, S.order);
    grid.render(data.rows || [], activeFilters(S.filters).length ? 'No rows match these filters.' : S.stack.length ? 'No more rows.' : 'This table is empty.');
    showViewError('');
    S.stale = false;
    if (S.focusSort) [...$('#grid').querySelectorAll('th button.sort')].find((b) => b.title === 'Sort by ' + S.focusSort)?.focus();
    S.focusSort = null;
  } catch (err) {
    if (id !== S.loadId) return;
    showViewError(explain(err));
    if (!grid.table || grid.table !== t) {
      grid.setTable(t, S.order);
      grid.render([], 'Rows could not be loaded.');
    }
  } finally {
    if (id === S.loadId) {
      S.loading = false;
      $('#grid').removeAttribute('aria-busy');
      renderPager();
    }
  }
  if (id !== S.loadId) return;
  const queued = S.queue;
  S.queue = [];
  queued.forEach(applyChange);
  S.feed?.watch(t.name, S.applied, qs(filterPairs(activeFilters(S.filters))));
}

function renderPager() {
  const n = grid.list.length;
  const page = S.stack.length + 1;
  $('#page-info').textContent = `Page ${page} · ${n} row${n === 1 ? '' : 's'}`;
  $('#first').disabled = S.stack.length === 0;
  $('#prev').disabled = S.stack.length === 0;
  $('#next').disabled = S.next === null;
}

function sortBy(col) {
  const cur = S.order.length === 1 && S.order[0].col === col ? S.order[0] : null;
  const order = !cur ? [{ col, desc: false }] : !cur.desc ? [{ col, desc: true }] : [];
  S.focusSort = col;
  go({ order });
}

/* ---------- add row ---------- */

function toggleAdd(show) {
  const open = togglePanel('#add-btn', '#add-panel', show);
  if (open) $('#add-form input, #add-form textarea')?.focus();
}

function buildAddForm() {
  const form = $('#add-form');
  const t = S.t;
  const fields = t.columns.map((c) => {
    const id = 'f-' + c.name.replace(/[^\w-]/g, '_');
    const blob = /BLOB/i.test(c.type || '');
    const auto = c.key && affinity(c.type) === 'INTEGER';
    const hint = auto ? 'automatic when empty' : c.default !== null && c.default !== undefined ? 'default ' + c.default
      : c.notnull ? 'required' : 'empty = NULL';
    const input = blob
      ? h('input', { id, type: 'file', name: c.name })
      : h('input', { id, type: 'text', name: c.name, spellcheck: 'false', autocomplete: 'off' });
    return h('div', { class: 'field' },
      h('label', { for: id }, h('span', { class: 'cname' }, c.name), ' ', h('span', { class: 'ctype' }, c.type || 'any type')),
      input, h('span', { class: 'hint' }, hint));
  });
  const err = h('p', { class: 'form-error', role: 'alert', hidden: true });
  fill(form, h('div', { class: 'fields' }, fields), err,
    h('div', { class: 'form-actions' },
      h('button', { type: 'submit', class: 'primary' }, 'Add row'),
      h('button', { type: 'button', onclick: () => { toggleAdd(false); $('#add-btn').focus(); } }, 'Close')));
  form.onsubmit = (e) => { e.preventDefault(); addRow(form, err); };
}

const readBlob = (file) => new Promise((resolve, reject) => {
  const r = new FileReader();
  r.onload = () => resolve({ $base64: String(r.result).replace(/^[^,]*,/, '') });
  r.onerror = () => reject(r.error);
  r.readAsDataURL(file);
});

async function addRow(form, err) {
  if (form.classList.contains('busy')) return;
  const t = S.t;
  const body = {};
  for (const c of t.columns) {
    const el = form.elements.namedItem(c.name);
    if (!el) continue;
    if (el.type === 'file') {
      if (el.files.length) body[c.name] = await readBlob(el.files[0]);
    } else if (el.value !== '') {
      body[c.name] = fromInput(el.value, c);
    }
  }
  form.classList.add('busy');
  err.hidden = true;
  try {
    const row = await write('POST', tablePath(t.name) + '/rows', body);
    form.reset();
    const key = stringify(grid.keyOf(row));
    if (S.t === t && !grid.has(row) && !activeFilters(S.filters).length && !placeRow(row)) {
      notice(`Added row ${key}; it sorts onto another page.`);
    } else {
      notice(`Added row ${key}.`);
    }
    form.querySelector('input')?.focus();
  } catch (e) {
    err.textContent = explain(e);
    err.hidden = false;
  } finally {
    form.classList.remove('busy');
  }
}

/* ---------- live changes ---------- */

function rowCompare(a, b) {
  for (const o of S.order) {
    const c = compare(a[o.col], b[o.col]);
    if (c) return o.desc ? -c : c;
  }
  const ka = grid.keyOf(a), kb = grid.keyOf(b);
  if (!Array.isArray(ka)) return compare(ka, kb);
  for (let i = 0; i < ka.length; i++) {
    const c = compare(ka[i], kb[i]);
    if (c) return c;
  }
  return 0;
}

/** Shows row where it sorts within this page; false when it belongs on another page. */
function placeRow(row) {
  const rows = grid.rows();
  let i = rows.findIndex((r) => rowCompare(row, r) < 0);
  if (i === -1) i = rows.length;
  if (rows.length && i === 0 && S.stack.length) return false;
  if (i === rows.length && S.next !== null) return false;
  grid.insert(row, i, true);
  renderPager();
  return true;
}

let reloadTimer = 0;
/** Reloads the page of rows soon, unless the user is editing (then says so instead). */
function reloadSoon(why) {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => {
    if (document.querySelector('#grid .editing, #grid .confirm')) {
      S.stale = true;
      notice(why + ' Refresh to see them.');
    } else {
      loadRows();
    }
  }, 250);
}

function changeKey(ch) {
  const r = ch.old || ch.row;
  return r ? grid.keyStr(r) : stringify(ch.key);
}

function applyChange(ch) {
  noteSeq(ch.seq);
  if (!S.t || ch.table !== S.t.name) return;
  if (S.loading) { S.queue.push(ch); return; }
  if (grid.table !== S.t || !(ch.seq > S.applied)) return;
  S.applied = ch.seq;
  if (activeFilters(S.filters).length && !ch.view) {
    reloadSoon('Rows changed.');
    return;
  }
  let shown = true;
  if (ch.op === 'delete' || ch.view === 'removed') shown = grid.remove(changeKey(ch), true);
  else if (ch.row && grid.has(ch.row)) grid.update(ch.row, true);
  else if (ch.row && (ch.op === 'insert' || ch.view === 'added')) shown = placeRow(ch.row);
  else shown = false;
  renderPager();
  if (shown && typeof ch.ts === 'number' && S.feed) {
    const stats = S.feed.stats;
    requestAnimationFrame(() => stats.delay(Date.now() - ch.ts));
  }
}

const liveText = (s, d) => 'live: ' + (s === 'live' ? 'on' : s === 'reconnecting' && d ? `reconnecting in ${d} s` : s);

function startLive(mode) {
  S.feed?.stop();
  S.feed = createFeed(mode, {
    onState: (s, d) => {
      pill('#live', liveText(s, d), s === 'live' ? 'ok' : s === 'off' ? '' : s === 'unavailable' ? 'muted' : 'warn');
      $('#live-retry').hidden = s !== 'unavailable' && s !== 'reconnecting';
      if (s === 'live' && S.stale) loadRows();
      if (s === 'reconnecting') health();
    },
    onHello: (m) => { noteSeq(m.last_seq); noteVersion(m.server); },
    onChange: applyChange,
    onResync: () => reloadSoon('The live feed asked for a fresh copy.'),
    onError: (e) => notice('Live updates for this view were refused: ' + (e.message || e.code || 'unknown reason')),
  });
  if (!S.feed) {
    pill('#live', liveText('off'));
    $('#live-retry').hidden = true;
    return;
  }
  if (S.t && grid.table === S.t) S.feed.watch(S.t.name, S.applied, qs(filterPairs(activeFilters(S.filters))));
  S.feed.start();
}

/* ---------- wiring ---------- */

function wire() {
  const mode = $('#live-mode');
  fill(mode, MODES.map(([v, label]) => h('option', { value: v }, label)));
  mode.value = MODES.some(([v]) => v === sessionStorage.getItem(LIVE_KEY)) ? sessionStorage.getItem(LIVE_KEY) : 'ws';
  mode.addEventListener('change', () => {
    sessionStorage.setItem(LIVE_KEY, mode.value);
    startLive(mode.value);
  });
  $('#live-retry').addEventListener('click', () => S.feed?.kick());
  fill($('#limit'), LIMITS.map((n) => h('option', { value: String(n) }, String(n))));
  $('#limit').addEventListener('change', (e) => go({ limit: Number(e.target.value) }));
  $('#add-btn').addEventListener('click', () => toggleAdd());
  $('#add-panel').addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { toggleAdd(false); $('#add-btn').focus(); }
  });
  $('#filter-btn').addEventListener('click', () => {
    if (togglePanel('#filter-btn', '#filter-panel')) $('#filter-panel select')?.focus();
  });
  $('#refresh-btn').addEventListener('click', () => loadTables(true));
  $('#first').addEventListener('click', () => { S.stack = []; S.after = null; loadRows(); });
  $('#prev').addEventListener('click', () => { S.after = S.stack.pop() ?? null; loadRows(); });
  $('#next').addEventListener('click', () => {
    if (S.next === null) return;
    S.stack.push(S.after);
    S.after = S.next;
    loadRows();
  });
  $('#token-btn').addEventListener('click', () => askToken());
  $('#token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const v = $('#token-input').value.trim();
    token.set(v);
    closeToken(!!v);
  });
  $('#token-clear').addEventListener('click', () => { token.set(''); closeToken(false); notice('Token forgotten.'); });
  $('#token-cancel').addEventListener('click', () => closeToken(false));
  // A close event is queued: by the time it runs the dialog may be open again.
  $('#token-dialog').addEventListener('close', () => { if (!$('#token-dialog').open) closeToken(false); });
  syncTokenButton();
  onNetwork(setOnline);
  window.addEventListener('hashchange', () => route());
}

wire();
loadTables();
health();
startLive($('#live-mode').value);
