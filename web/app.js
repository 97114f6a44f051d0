// The page: tables with row counts, one table's rows (sort, filter, cursor
// paging), adding and deleting rows, signing in with a pasted token (who is
// signed in, and only the actions GET /api/me allows), the status bar, live
// changes applied to the grid, and the comparison view (compare.js).
// View state lives in the hash: #/table?col=op.value&order=-col&limit=N, or
// #/compare/table.

import { h, fill, $ } from './dom.js';
import { request, explain, token, TOKEN_KEY, authHeaders, onNetwork, onTokenRefused, qs, tablePath, rowPath } from './api.js';
import { stringify } from './json.js';
import { affinity, compare, defaultHint, fromInput, toInput } from './values.js';
import { Grid, columnsOf } from './grid.js';
import { parseFilters, filterPairs, filterEditor } from './filters.js';
import { createFeed, MODES } from './live.js';
import { nowMs } from './wire.js';
import { Compare } from './compare.js';

const LIMITS = [25, 50, 100, 200];
const DEFAULT_LIMIT = 50;
const STATUS_MS = 5000;
const STATUS_OFFLINE_MS = 1000;
const COUNTS_EVERY = 6; // recount every table every 6th status check (30 s)
const LIVE_KEY = 'rowcast.live';
const ADD_KEY = 'rowcast.addHidden';
const ACTIONS = ['read', 'insert', 'update', 'delete'];
const ME_RECHECK_MS = 300; // a burst of refused requests checks the token once

const S = {
  allTables: [], // every table the server lists
  tables: [], // those the user may read
  me: null, // GET /api/me's {claims, tables}; null: an older server without it (everything is offered)
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
  counts: new Map(), // table name -> row count
  nextStale: false, // rows were dropped from the end of the page: S.next must be fetched again
  view: 'browse',
  browseHash: '#/',
};

const enc = encodeURIComponent;
const filtered = () => activeFilters(S.filters).length > 0;

const grid = new Grid($('#grid'), {
  onSort: sortBy,
  onSave: (row, col, value) => write('PATCH', rowPath(S.t.name, grid.keyOf(row)), { [col.name]: value }),
  onDelete: deleteRow,
  explain,
});

let compareView = null;

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
  if (up && was === false) {
    S.feed?.kick();
    if (!S.allTables.length) loadMe().then(() => loadTables());
    else loadCounts();
  }
  if (!up) status();
  showLive();
}

function noteSeq(seq) {
  if (typeof seq === 'number' && seq > S.lastSeq) {
    S.lastSeq = seq;
    $('#seq').textContent = String(seq);
  }
}

function noteVersion(v) {
  if (v) $('#server').textContent = String(v).replace(/^rowcast[/ ]/i, '');
}

let statusTimer = 0;
let statusBusy = false;
let statusTicks = 0;

/** The number of open WebSockets from /metrics (Prometheus text), or null. */
async function openSockets() {
  try {
    const res = await fetch('/metrics', { cache: 'no-store' });
    if (!res.ok) return null;
    const m = /^rowcast_websockets_open(?:\{[^}]*\})?\s+([0-9.eE+-]+)\s*$/m.exec(await res.text());
    return m ? Math.round(Number(m[1])) : null;
  } catch {
    return null;
  }
}

/** Checks /healthz and /metrics now, then every STATUS_MS (more often while offline). */
async function status() {
  if (statusBusy) return;
  statusBusy = true;
  clearTimeout(statusTimer);
  if (!document.hidden || S.online === false) {
    const hz = await request('GET', '/healthz').catch(() => null);
    const n = hz ? await openSockets() : null;
    if (hz) {
      noteSeq(hz.data.last_seq);
      noteVersion(hz.data.version);
      $('#server').title = hz.data.status !== 'ok' || hz.data.db !== 'ok' ? `status ${hz.data.status}, database ${hz.data.db}` : '';
    }
    $('#sockets').textContent = n === null ? (hz ? '?' : '–') : String(n);
    if (hz && ++statusTicks % COUNTS_EVERY === 0) loadCounts();
  }
  statusBusy = false;
  statusTimer = setTimeout(status, S.online === false ? STATUS_OFFLINE_MS : STATUS_MS);
}

/** Sets an element's text and hides it when the text is empty. */
function say(sel, text) {
  const el = $(sel);
  el.textContent = text;
  el.hidden = !text;
}

let noticeTimer = 0;
/** Shows a short message at the bottom; action {label, run} adds a button (e.g. Undo). */
function notice(text, action) {
  const el = $('#notice');
  $('#notice-text').textContent = text;
  el.querySelector('button')?.remove();
  const hide = () => { el.hidden = true; el.querySelector('button')?.remove(); };
  if (action) el.append(h('button', { type: 'button', class: 'small', onclick: () => { hide(); action.run(); } }, action.label));
  el.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(hide, action ? 10000 : 4000);
}

/* ---------- signing in ---------- */

let tokenResolve = null;

/** The actions /api/me allows on table name (every action when the server has no /api/me). */
function allowed(name) {
  if (!S.me) return ACTIONS;
  const a = S.me.tables?.[name];
  return Array.isArray(a) ? a : [];
}
const may = (name, action) => allowed(name).includes(action);

/** Who is signed in, in words: the token's name (or sub, or email) and its role. */
function whoText() {
  const c = S.me?.claims || {};
  const str = (v) => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');
  const name = str(c.name) || str(c.sub) || str(c.email);
  const role = str(c.role);
  if (name) return role ? `${name} (${role})` : name;
  return role && role !== 'anon' ? role : 'signed in';
}

function renderWho() {
  const signed = !!token.get();
  $('#auth-who').textContent = signed ? whoText() : '';
  $('#auth-who').hidden = !signed;
  $('#auth-who').title = signed && S.me ? JSON.stringify(S.me.claims) : '';
  $('#sign-in').hidden = signed;
  $('#sign-out').hidden = !signed;
}

/** Says text next to the sign-in control ('' hides it). */
const authNote = (text) => say('#auth-note', text);

let meId = 0;
/**
 * Asks GET /api/me who the token is and what it may do. A token the server
 * refuses (401: invalid or expired) signs out, saying why; 404 (an older
 * server) offers everything, as before. Resolves to false when it signed out.
 */
async function loadMe() {
  const id = ++meId;
  const sent = token.get();
  try {
    const { data } = await request('GET', '/api/me');
    if (id !== meId) return true;
    S.me = { claims: data?.claims && typeof data.claims === 'object' ? data.claims : {}, tables: data?.tables || {} };
  } catch (err) {
    if (id !== meId) return true;
    if (err.status === 404) S.me = null;
    else if (err.status === 401 && sent && sent === token.get()) {
      token.set('');
      authNote(`${err.message || 'token refused'}: signed out`);
      renderWho();
      await loadMe();
      return false;
    }
    // otherwise (server unreachable, a fault): keep what was known
  }
  renderWho();
  return true;
}

/** After the token changed: who this is, the tables it may read, their rows, and (unless keepFeed) the live feed again. */
async function refreshAuth(keepFeed) {
  await loadMe();
  // The comparison's feeds follow with the new token once the view is shown again (by loadTables' route).
  if (S.view === 'compare') compareView?.hide();
  await loadTables();
  if (!keepFeed) startLive($('#live-mode').value);
}

function signIn(t) {
  token.set(t);
  authNote('');
  return refreshAuth();
}

function signOut(note, keepFeed) {
  token.set('');
  authNote(note || '');
  return refreshAuth(keepFeed);
}

let recheckTimer = 0;
/** A request with the token was refused (401) or a feed keeps failing: check the token soon, once for a burst. */
function recheckToken() {
  if (recheckTimer || !token.get()) return;
  recheckTimer = setTimeout(async () => {
    recheckTimer = 0;
    if (!token.get()) return;
    if (!(await loadMe())) {
      await loadTables();
      startLive($('#live-mode').value);
    }
  }, ME_RECHECK_MS);
}

/** Opens the sign-in dialog; resolves true when the user signed in. */
function askToken(why) {
  const dlg = $('#token-dialog');
  $('#token-why').textContent = why || 'Paste your access token: a JSON Web Token, or the token rowcast was started with (--token).';
  $('#token-input').value = '';
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
  r?.(saved);
}

const sentence = (s) => (/[.!?]$/.test(s) ? s : s + '.');

/** A write; a 401 asks for the token and, once given, tries again. Resolves to the body. */
async function write(method, path, body, quiet) {
  for (;;) {
    try {
      const data = (await request(method, path, body)).data;
      if (!S.feed && S.t && method !== 'PATCH') recountSoon(S.t.name);
      return data;
    } catch (err) {
      if (quiet) throw err;
      if (err.status === 401 && await askToken(sentence(explain(err)) + ' Paste your token to continue; what you typed is kept.')) continue;
      throw err;
    }
  }
}

/* ---------- tables and routing ---------- */

/** Loads the table list (the schema may have changed); keep stays on this page of an unchanged table. */
async function loadTables(keep) {
  try {
    S.allTables = (await request('GET', '/api/tables')).data.tables || [];
  } catch (err) {
    showViewError('Could not load the tables. ' + explain(err));
    return;
  }
  S.tables = S.allTables.filter((t) => may(t.name, 'read'));
  loadCounts();
  const t = keep === true && S.t && S.tables.find((x) => x.name === S.t.name);
  if (t && stringify(t) === stringify(S.t)) {
    S.t = grid.table = t;
    renderNav();
    loadRows();
  } else {
    route(true);
  }
}

const tableHash = (name) => '#/' + enc(name) + (name === 'compare' ? '?' : '');

function countText(name) {
  const n = S.counts.get(name);
  return typeof n === 'number' ? String(n) : '…';
}

function renderNav() {
  const items = S.tables.map((t) => h('li', null,
    h('a', { href: tableHash(t.name), 'data-testid': 'table-link', 'data-table': t.name,
      'aria-current': S.view === 'browse' && S.t?.name === t.name ? 'page' : null },
      h('span', { class: 'tname' }, t.name),
      t.writable ? null : h('span', { class: 'badge' }, 'read-only'),
      h('span', { class: 'count' }, h('span', { 'data-testid': 'table-count' }, countText(t.name)),
        h('span', { class: 'sr' }, ' rows')))));
  fill($('#table-list'), items.length ? items : h('li', { class: 'muted' }, 'No tables.'));
}

/** Shows table name's count wherever it appears. */
function showCount(name) {
  for (const a of document.querySelectorAll('#table-list a[data-table]')) {
    if (a.dataset.table === name) a.querySelector('[data-testid="table-count"]').textContent = countText(name);
  }
  if (S.t?.name === name) renderMeta();
}

/** Fetches the row count of the given tables (all by default), a few at a time. */
async function loadCounts(names = S.tables.map((t) => t.name)) {
  const todo = [...names];
  const one = async () => {
    for (let name; (name = todo.shift()) !== undefined;) {
      try {
        const { data } = await request('GET', tablePath(name) + '/rows?limit=0', undefined, { Prefer: 'count=exact' });
        if (typeof data.count === 'number') {
          S.counts.set(name, data.count);
          showCount(name);
        }
      } catch { /* keep the old count */ }
    }
  };
  await Promise.all([one(), one(), one()]);
}

const recountTimers = new Map();
/** Recounts a table soon (once for a burst of changes). */
function recountSoon(name) {
  if (recountTimers.has(name)) return;
  recountTimers.set(name, setTimeout(() => { recountTimers.delete(name); loadCounts([name]); }, 1000));
}

/** A live insert or delete in table name: adjust the count (exact when the feed sees every change). */
function countChange(name, ch) {
  const d = ch.op === 'insert' ? 1 : ch.op === 'delete' ? -1 : 0;
  if (!d) return;
  if (ch.view || !S.counts.has(name)) recountSoon(name);
  else {
    S.counts.set(name, Math.max(0, S.counts.get(name) + d));
    showCount(name);
  }
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
  const hash = pairs.length ? '#/' + enc(S.t.name) + '?' + qs(pairs) : tableHash(S.t.name);
  if (hash === location.hash) route(true);
  else location.hash = hash;
}

let filterKey = '';

/** Shows the browse or the compare view. */
function showView(view) {
  const was = S.view;
  S.view = view;
  $('#browse-view').hidden = view !== 'browse';
  $('#compare-view').hidden = view !== 'compare';
  $('#tab-browse').setAttribute('aria-current', view === 'browse' ? 'page' : 'false');
  $('#tab-compare').setAttribute('aria-current', view === 'compare' ? 'page' : 'false');
  if (was !== view && was === 'compare') compareView?.hide();
}

function routeCompare(name) {
  const t = S.tables.find((x) => x.name === name) ||
    S.tables.find((x) => x.name === compareView?.table) ||
    S.tables.find((x) => x.name === 'readings') || S.tables.find((x) => x.name === S.t?.name) || S.tables[0];
  if (t.name !== name) {
    if (name) notice(`There is no table named "${name}".`);
    location.replace('#/compare/' + enc(t.name));
    return;
  }
  const entering = S.view !== 'compare';
  showView('compare');
  $('#tab-compare').href = '#/compare/' + enc(t.name);
  document.title = 'Polling vs push · ' + t.name + ' · rowcast';
  compareView ||= new Compare($('#compare-view'), {
    tables: () => S.tables, write, notice, explain, seq: noteSeq,
    pick: (n) => { location.hash = '#/compare/' + enc(n); },
  });
  compareView.show(t);
  if (entering) $('#compare-view h2')?.focus();
}

/** No table the user may read: an empty view that says so. */
function showNoTables() {
  S.loadId++;
  S.t = null;
  grid.table = null;
  showView('browse');
  renderNav();
  $('#table-title').textContent = 'No tables';
  fill($('#table-meta'), token.get() ? 'Nothing here is readable with this sign-in.' : 'Sign in to see tables.');
  $('#add-btn').hidden = true;
  $('#add-panel').hidden = true;
  fill($('#grid'));
  $('#page-info').textContent = '';
}

function route(force) {
  if (!S.tables.length) {
    if (S.allTables.length) showNoTables();
    return;
  }
  const raw = /^#\/(compare)(?:\/(.*))?$/.exec(location.hash);
  if (raw) {
    let name = raw[2] || '';
    try { name = decodeURIComponent(name); } catch { /* keep raw */ }
    routeCompare(name);
    return;
  }
  const { name, params } = parseHash();
  const t = S.tables.find((x) => x.name === name);
  if (!t) {
    if (name) notice(`There is no table named "${name}".`);
    // (the table shown until now may be one the user can no longer read)
    location.replace(tableHash((S.tables.find((x) => x.name === S.t?.name) || S.tables[0]).name));
    return;
  }
  showView('browse');
  S.browseHash = location.hash;
  $('#tab-browse').href = location.hash;
  $('#tab-compare').href = '#/compare/' + enc(t.name);
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

function renderMeta() {
  const t = S.t;
  const key = Array.isArray(t.key) ? `composite key (${t.key.join(', ')})` : `key: ${t.key}`;
  const n = S.counts.get(t.name);
  fill($('#table-meta'), h('span', null, key),
    typeof n === 'number' ? h('span', null, ` · ${n} row${n === 1 ? '' : 's'}`) : null,
    t.writable ? null : h('span', { class: 'badge' }, 'read-only'));
}

function renderHead(changed) {
  const t = S.t;
  $('#table-title').textContent = t.name;
  renderMeta();
  const canAdd = t.writable && !Array.isArray(t.key) && may(t.name, 'insert');
  $('#add-btn').hidden = !canAdd;
  if (!canAdd) togglePanel('#add-btn', '#add-panel', false);
  $('#limit').value = String(S.limit);
  if (changed) {
    buildAddForm();
    // closed until asked for (and open again after a reload if it was left open)
    togglePanel('#add-btn', '#add-panel', canAdd && sessionStorage.getItem(ADD_KEY) === '0');
  }
  document.title = t.name + ' · rowcast';
  showViewError('');
}

function syncFilterButton() {
  const n = activeFilters(S.filters).length;
  // the export of what the view selects (a link cannot set Accept: the format goes in the URL)
  $('#csv-link').href = tablePath(S.t.name) + '/rows?' + qs([...viewPairs(), ['format', 'csv']]);
  $('#filter-btn').textContent = n ? `Filter (${n})` : 'Filter';
  if (n) togglePanel('#filter-btn', '#filter-panel', true);
}

/**
 * Download CSV while signed in: a link cannot send the token, so the export is
 * fetched with it and handed to the browser as a file (signed out, the link
 * downloads by itself).
 */
async function downloadCsv(e) {
  if (!token.get()) return;
  e.preventDefault();
  const link = e.currentTarget;
  const name = (S.t?.name || 'rows') + '.csv';
  try {
    const res = await fetch(link.getAttribute('href'), { headers: { Accept: 'text/csv', ...authHeaders() }, cache: 'no-store' });
    if (!res.ok) {
      let msg = res.statusText;
      try { msg = JSON.parse(await res.text()).error?.message || msg; } catch { /* not JSON */ }
      notice(`The export was refused (${res.status}): ${msg}`);
      return;
    }
    const url = URL.createObjectURL(await res.blob());
    const a = h('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch {
    notice('Could not reach the server for the export.');
  }
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
    S.nextStale = false;
    S.applied = typeof data.seq === 'number' ? data.seq : 0;
    noteSeq(data.seq);
    grid.setTable(t, S.order, { update: may(t.name, 'update'), delete: may(t.name, 'delete') });
    grid.render(data.rows || [], activeFilters(S.filters).length ? 'No rows match these filters.' : S.stack.length ? 'No more rows.' : 'This table is empty.');
    showViewError('');
    S.stale = false;
    if (S.focusSort) [...$('#grid').querySelectorAll('th button.sort')].find((b) => b.title === 'Sort by ' + S.focusSort)?.focus();
    S.focusSort = null;
  } catch (err) {
    if (id !== S.loadId) return;
    showViewError(explain(err));
    if (!grid.table || grid.table !== t) {
      grid.setTable(t, S.order, { update: may(t.name, 'update'), delete: may(t.name, 'delete') });
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
  $('#next').disabled = S.next === null && !S.nextStale;
}

async function nextPage() {
  // Live inserts pushed rows off this page: its cursor is out of date, so read the page again first.
  if (S.nextStale) await loadRows();
  if (S.next === null) return;
  S.stack.push(S.after);
  S.after = S.next;
  loadRows();
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
  sessionStorage.setItem(ADD_KEY, open ? '0' : '1');
  if (open) $('#add-form input, #add-form textarea')?.focus();
}

function buildAddForm() {
  const form = $('#add-form');
  const t = S.t;
  const fields = t.columns.map((c) => {
    const id = 'f-' + c.name.replace(/[^\w-]/g, '_');
    const blob = /BLOB/i.test(c.type || '');
    const auto = c.key && affinity(c.type) === 'INTEGER';
    const dflt = c.default !== null && c.default !== undefined ? defaultHint(c.default) : null;
    const hint = auto ? 'automatic when empty' : dflt ? dflt.text : c.notnull ? 'required' : 'empty = NULL';
    const input = blob
      ? h('input', { id, type: 'file', name: c.name })
      : h('input', { id, type: 'text', name: c.name, spellcheck: 'false', autocomplete: 'off' });
    return h('div', { class: 'field' },
      h('label', { for: id }, h('span', { class: 'cname' }, c.name), ' ', h('span', { class: 'ctype' }, c.type || 'any type')),
      input, h('span', { class: 'hint', title: dflt && !auto ? dflt.title : null }, hint));
  });
  const errBox = h('div', { class: 'form-error-box', 'aria-live': 'assertive' });
  fill(form, h('div', { class: 'fields' }, fields), errBox,
    h('div', { class: 'form-actions' },
      h('button', { type: 'submit', class: 'primary', 'data-testid': 'add-row-submit' }, 'Add row'),
      h('button', { type: 'button', onclick: () => form.reset() }, 'Clear'),
      h('button', { type: 'button', onclick: () => { toggleAdd(false); $('#add-btn').focus(); } }, 'Hide')));
  form.onsubmit = (e) => { e.preventDefault(); addRow(form, errBox); };
}

const readBlob = (file) => new Promise((resolve, reject) => {
  const r = new FileReader();
  r.onload = () => resolve({ $base64: String(r.result).replace(/^[^,]*,/, '') });
  r.onerror = () => reject(r.error);
  r.readAsDataURL(file);
});

async function addRow(form, errBox) {
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
  errBox.replaceChildren();
  try {
    const row = await write('POST', tablePath(t.name) + '/rows', body);
    form.reset();
    const key = stringify(grid.keyOf(row));
    if (S.t === t && !grid.has(row) && !filtered() && !placeRow(row)) {
      notice(`Added row ${key}; it sorts onto another page.`);
    } else {
      notice(`Added row ${key}.`);
    }
    form.querySelector('input')?.focus();
  } catch (e) {
    fill(errBox, h('p', { class: 'form-error', role: 'alert', 'data-testid': 'row-error' },
      e.status === 401 ? explain(e) : sentence(explain(e)) + ' What you typed is kept; correct it and add again.'));
  } finally {
    form.classList.remove('busy');
  }
}

/* ---------- delete ---------- */

async function deleteRow(row) {
  const t = S.t;
  const key = grid.keyOf(row);
  await write('DELETE', rowPath(t.name, key));
  // Undo puts the row back (PUT creates it): only for a user who may insert.
  notice(`Deleted row ${toInput(key)}.`, may(t.name, 'insert') ? { label: 'Undo', run: () => undoDelete(t, key, row) } : undefined);
}

async function undoDelete(t, key, row) {
  const body = { ...row };
  if (t.key === 'rowid' && !t.columns.some((c) => c.name === 'rowid')) delete body.rowid;
  try {
    await write('PUT', rowPath(t.name, key), body);
    notice(`Row ${toInput(key)} is back.`);
  } catch (e) {
    notice('Could not bring the row back. ' + explain(e));
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
  if (i === rows.length && (S.next !== null || S.nextStale)) return false;
  grid.insert(row, i, true);
  // Only a page of rows stays in the DOM: the last one moves on to the next page.
  while (grid.list.length > S.limit) {
    grid.remove(grid.list[grid.list.length - 1].key, false);
    S.nextStale = true;
  }
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
  countChange(ch.table, ch);
  if (filtered() && !ch.view) {
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
    requestAnimationFrame(() => stats.delay(nowMs() - ch.ts));
  }
}

function liveText(s, d) {
  if (s === 'off') return 'off';
  if (s === 'expired') return 'session expired: sign in again';
  if (s === 'live') return 'live';
  if (!navigator.onLine) return 'offline';
  if (s === 'reconnecting') return d ? `reconnecting in ${d} s…` : S.online === false ? 'reconnecting… (server unreachable)' : 'reconnecting…';
  if (s === 'connecting') return 'connecting…';
  return 'unavailable';
}

function showLive() {
  const s = S.feed ? S.feed.state : 'off';
  pill('#live', liveText(s, S.liveDetail), s === 'live' ? 'ok' : s === 'off' ? '' : s === 'unavailable' || s === 'expired' ? 'bad' : 'warn');
  $('#live').title = s === 'unavailable' ? 'The live feed could not be reached; the page retries when the server answers again.'
    : s === 'expired' ? 'The server closed the live feed: the token expired. Sign in with a fresh one.' : '';
  $('#live-retry').hidden = s !== 'unavailable' && s !== 'reconnecting' && s !== 'expired';
}

function startLive(mode) {
  S.feed?.stop();
  S.feed = createFeed(mode, {
    onState: (s, d) => {
      S.liveDetail = d;
      showLive();
      if (s === 'live' && S.stale) loadRows();
      if (s === 'live') setTimeout(status, 300); // the open-sockets figure now includes this one
      if (s === 'reconnecting' || s === 'unavailable') {
        status();
        recheckToken(); // a handshake refused for the token looks like any other failure
      }
      if (s === 'expired') {
        // The socket's token expired (close code 4001): sign out, and stay off until the user signs in again.
        signOut('session expired: sign in again', true);
      }
    },
    onHello: (m) => { noteSeq(m.last_seq); noteVersion(m.server); },
    serverDown: () => S.online === false,
    onChange: applyChange,
    onResync: () => reloadSoon('The live feed asked for a fresh copy.'),
    onError: (e) => notice('Live updates for this view were refused: ' + (e.message || e.code || 'unknown reason')),
  });
  if (!S.feed) {
    showLive();
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
  $('#live-retry').addEventListener('click', () => (S.feed?.state === 'expired' ? startLive(mode.value) : S.feed?.kick()));
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
  $('#skip').addEventListener('click', (e) => {
    e.preventDefault();
    $(S.view === 'compare' ? '#compare-view' : '#main').focus();
  });
  window.addEventListener('online', showLive);
  window.addEventListener('offline', showLive);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) status(); });
  $('#first').addEventListener('click', () => { S.stack = []; S.after = null; loadRows(); });
  $('#prev').addEventListener('click', () => { S.after = S.stack.pop() ?? null; loadRows(); });
  $('#next').addEventListener('click', nextPage);
  $('#sign-in').addEventListener('click', () => askToken());
  $('#sign-out').addEventListener('click', () => { signOut(); notice('Signed out.'); });
  $('#token-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    // A pasted token may carry "Bearer " and line breaks.
    const v = $('#token-input').value.replace(/^\s*Bearer\s+/i, '').replace(/\s+/g, '');
    if (!v) return;
    const signing = signIn(v);
    closeToken(true);
    await signing;
  });
  $('#token-cancel').addEventListener('click', () => closeToken(false));
  // A close event is queued: by the time it runs the dialog may be open again.
  $('#token-dialog').addEventListener('close', () => { if (!$('#token-dialog').open) closeToken(false); });
  $('#csv-link').addEventListener('click', downloadCsv);
  renderWho();
  onNetwork(setOnline);
  onTokenRefused(recheckToken);
  // Signing in or out in another tab of this page (the token is shared through localStorage).
  window.addEventListener('storage', (e) => { if (e.key === TOKEN_KEY || e.key === null) refreshAuth(); });
  window.addEventListener('hashchange', () => route());
}

wire();
status();
// Who the kept token is first: one that expired meanwhile signs out before the feed would carry it.
loadMe().then(() => {
  startLive($('#live-mode').value);
  loadTables();
});
