// End-to-end tests of the live page (issue 4): the real rowcast binary, the
// page built into it, Debian's chromium (headless) through playwright-core,
// outside writes with the sqlite3 shell and fetch. Only 127.0.0.1 is used.
// Every test starts its own server on a fresh database and fails on any
// console error, uncaught error, CSP violation or request to another host.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  Rig, launchBrowser, tid, rowSel, cellSel, num, firstInt, sleep, until, textOf, waitText, waitVisible, waitGone,
  waitLive, pageLiveState, setControl, SHOTS, DESKTOP, PHONE, WAIT,
} from './lib.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

/** A test with its own Rig; page problems fail it, failures leave screenshots in results/. */
function e2e(name, fn, timeout = 6 * WAIT) {
  test(name, { timeout }, async (t) => {
    const rig = new Rig(browser, name);
    let err = null;
    try {
      await fn(rig, t);
    } catch (e) {
      err = e;
      const shots = await rig.failShots();
      if (shots.length) t.diagnostic('screenshots: ' + shots.join(', '));
      const log = rig.srv?.stderr().trim();
      if (log) t.diagnostic('server stderr (tail): ' + log.slice(-1500));
    }
    for (const note of await rig.close()) t.diagnostic(note);
    const problems = rig.problems();
    if (err) {
      if (problems.length) err.message += '\nalso:\n  ' + problems.join('\n  ');
      throw err;
    }
    assert.deepEqual(problems, [], 'the page must run without console errors, uncaught errors, CSP violations or requests to another host');
  });
}

const DEMO = { readings: 3, sensors: 3, tasks: 4 };

const link = (name) => tid('table-link', `[data-table=${JSON.stringify(name)}]`);

/** Opens the page and then table name from the table list (as a user would); waits until live. */
async function openTable(rig, page, name) {
  await page.goto(rig.base);
  await waitVisible(page, link(name), WAIT, `the table-link of "${name}"`);
  await page.click(link(name));
  await waitLive(page, 'live', WAIT);
}

/** Waits until the grid shows the rows of tasks (the demo's four). */
async function waitTasks(page) {
  await waitText(page, cellSel(1, 'title'), 'Unpack the rack servers', WAIT, 'the grid to show task 1');
  for (const k of [2, 3, 4]) await waitVisible(page, rowSel(k), WAIT, `the grid to show task ${k}`);
}

/** Marks the document; stillSameDocument() proves there was no navigation since. */
const markDocument = (page) => page.evaluate(() => { window.__rowcastE2eMark = 'kept'; });
const stillSameDocument = async (page) => assert.equal(await page.evaluate(() => window.__rowcastE2eMark), 'kept',
  'the page was reloaded or navigated away');

/** Waits until the focused element is an editor (input/textarea/select/contenteditable) inside sel. */
function waitEditorIn(page, sel, what) {
  return until(what, async () => {
    const s = await page.evaluate((q) => {
      const a = document.activeElement;
      const box = document.querySelector(q);
      if (!box) return 'cell not present';
      if (!a || !box.contains(a)) return 'focus is on ' + (a ? a.tagName + (a.className ? '.' + a.className : '') : 'nothing');
      return a.matches('input, textarea, select') || a.isContentEditable ? 'editor' : 'focus in cell but on ' + a.tagName;
    }, sel);
    return [s === 'editor', s];
  }, WAIT);
}

const focusedValue = (page) => page.evaluate(() => document.activeElement?.value ?? document.activeElement?.textContent ?? null);

async function horizontalOverflow(page) {
  return page.evaluate(() => {
    const d = document.documentElement;
    return { scrollWidth: Math.max(d.scrollWidth, document.body.scrollWidth), clientWidth: d.clientWidth };
  });
}

/* ---------------------------------------------------------------------- */

e2e('the page loads cleanly, lists the demo tables with counts and shows the status', async (rig, t) => {
  const srv = await rig.start();
  const page = await rig.page(DESKTOP);
  const res = await page.goto(rig.base);
  assert.equal(res.status(), 200);
  const csp = res.headers()['content-security-policy'] || '';
  assert.match(csp, /script-src 'self'/, 'the page is served with a strict Content-Security-Policy');
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, 'the CSP allows no inline script');

  for (const [name, count] of Object.entries(DEMO)) {
    await waitVisible(page, link(name), WAIT, `the table-link of "${name}"`);
    await waitText(page, `${link(name)} ${tid('table-count')}`, { test: (s) => firstInt(s) === count }, WAIT,
      `the table-count of "${name}" to read ${count}`);
  }

  await waitLive(page, 'live', WAIT);
  await waitText(page, tid('server-version'), srv.version, WAIT, `server-version to show ${srv.version}`);
  const { json: health } = await rig.api('GET', '/healthz');
  await waitText(page, tid('last-seq'), { test: (s) => firstInt(s) === health.last_seq }, WAIT, `last-seq to show ${health.last_seq}`);
  // The page holds one socket itself; the count may be refreshed only every few seconds.
  await waitText(page, tid('open-sockets'), { test: (s) => firstInt(s) >= 1 }, WAIT, 'open-sockets to count the page\'s own socket (>= 1)');

  await page.click(link('tasks'));
  await waitTasks(page);
  await waitText(page, cellSel(4, 'assignee'), /null/i, WAIT, 'a NULL assignee to be shown as NULL');
  await waitGone(page, '.flash, .flash-new, .flash-row', WAIT, 'the highlights to fade');
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, 'main.png') });

  assert.ok(rig.urls.length > 0, 'requests were recorded');
  assert.deepEqual(rig.foreignUrls(), [], 'every request goes to the server on 127.0.0.1');
  t.diagnostic(`${rig.urls.length} requests, all to ${rig.origin}`);
});

e2e('rows inserted with fetch and with the sqlite3 shell appear without navigation', async (rig, t) => {
  await rig.start();
  const page = await rig.page(DESKTOP);
  await openTable(rig, page, 'tasks');
  await waitTasks(page);
  // (the page subscribes from the seq of the rows it shows: no change made after them is missed)
  await markDocument(page);

  const posted = await rig.api('POST', '/api/tables/tasks/rows', { title: 'Inserted with fetch', assignee: 'e2e' });
  assert.equal(posted.status, 201, posted.text);
  let began = Date.now();
  await waitText(page, cellSel(posted.json.id, 'title'), 'Inserted with fetch', WAIT, `the POSTed row ${posted.json.id}`);
  const restMs = Date.now() - began;

  const id = Number(await rig.sql("INSERT INTO tasks (title, priority) VALUES ('Inserted with the sqlite3 shell', 5); SELECT last_insert_rowid();"));
  began = Date.now();
  await waitText(page, cellSel(id, 'title'), 'Inserted with the sqlite3 shell', WAIT, `the shell's row ${id}`);
  const shellMs = Date.now() - began;
  t.diagnostic(`shown after: fetch ${restMs} ms, sqlite3 shell ${shellMs} ms`);

  await stillSameDocument(page);
  const { json: health } = await rig.api('GET', '/healthz');
  await waitText(page, tid('last-seq'), { test: (s) => firstInt(s) === health.last_seq }, WAIT, `last-seq to follow to ${health.last_seq}`);
});

e2e('an edit in one page shows in a second page, and the database holds it', async (rig) => {
  await rig.start();
  const a = await rig.page(DESKTOP);
  const b = await rig.page(DESKTOP);
  await openTable(rig, a, 'tasks');
  await openTable(rig, b, 'tasks');
  await waitTasks(a);
  await waitTasks(b);
  await markDocument(b);

  const title = `Label every cable (edited ${Date.now()})`;
  const sel = cellSel(2, 'title');
  await a.dblclick(sel);
  await waitEditorIn(a, sel, 'an editor focused in the cell after a double-click');
  await a.keyboard.press('Control+A');
  await a.keyboard.type(title);
  await a.keyboard.press('Enter');

  await waitText(a, sel, title, WAIT, 'the edited cell to show the new value in the editing page');
  await waitText(b, sel, title, WAIT, 'the edit to show in the second page');
  await stillSameDocument(b);
  assert.equal(await a.locator(tid('row-error') + ':visible').count(), 0, 'no row-error after a valid edit');

  const { status, json } = await rig.api('GET', '/api/tables/tasks/rows/2');
  assert.equal(status, 200);
  assert.equal(json.title, title, 'the database holds the edit');
});

e2e('restarting the server: the page says it is reconnecting, resumes and shows what changed meanwhile', async (rig, t) => {
  await rig.start();
  const page = await rig.page(DESKTOP);
  await openTable(rig, page, 'tasks');
  await waitTasks(page);
  await markDocument(page);

  rig.serverDown = true;
  const exit = await rig.srv.stop();
  assert.deepEqual(exit, { code: 0, signal: null }, 'rowcast exits 0 on SIGTERM');
  await waitLive(page, 'reconnecting', WAIT);

  const id = Number(await rig.sql(
    "INSERT INTO tasks (title) VALUES ('Written while the server was down'); SELECT last_insert_rowid();\n" +
    "UPDATE tasks SET title = 'Flash the images (changed while down)' WHERE id = 3;"));
  await sleep(1000); // the server stays down a while, the page retrying: the situation under test
  const began = Date.now();
  await rig.restart();
  await waitLive(page, 'live', WAIT);
  const backMs = Date.now() - began;
  rig.serverDown = false;

  await waitText(page, cellSel(id, 'title'), 'Written while the server was down', WAIT, 'the row inserted while the server was down');
  await waitText(page, cellSel(3, 'title'), 'changed while down', WAIT, 'the update made while the server was down');
  await stillSameDocument(page);
  t.diagnostic(`live again ${backMs} ms after the restart began`);

  // And it is really live again: a new change arrives.
  const posted = await rig.api('POST', '/api/tables/tasks/rows', { title: 'After the restart' });
  assert.equal(posted.status, 201, posted.text);
  await waitText(page, cellSel(posted.json.id, 'title'), 'After the restart', WAIT, 'a change made after the restart');
});

e2e('the Browse view over Server-Sent Events: a row the sqlite3 shell writes appears', async (rig, t) => {
  await rig.start();
  const page = await rig.page(DESKTOP);
  await openTable(rig, page, 'tasks');
  await waitTasks(page);
  await page.selectOption('#live-mode', 'sse');
  await waitLive(page, 'live', WAIT);
  await markDocument(page);
  await until('an EventSource stream on /api/events', async () => {
    const u = rig.urls.filter((x) => x.includes('/api/events?'));
    return [u.length > 0, rig.urls.slice(-5).join(' ')];
  }, WAIT);
  const id = Number(await rig.sql("INSERT INTO tasks (title, priority) VALUES ('Written by the shell, pushed over SSE', 2); SELECT last_insert_rowid();"));
  const began = Date.now();
  await waitText(page, cellSel(id, 'title'), 'Written by the shell, pushed over SSE', WAIT, `the shell's row ${id} over SSE`);
  t.diagnostic(`shown ${Date.now() - began} ms after the shell's commit`);
  await stillSameDocument(page);
  assert.equal(await page.inputValue('#live-mode'), 'sse', 'the picker still says Server-Sent Events');
});

e2e('a new user: the add-row form is closed until asked for, defaults and epoch-ms times are readable', async (rig) => {
  await rig.start();
  const page = await rig.page(DESKTOP);
  await openTable(rig, page, 'readings');
  await waitVisible(page, cellSel(1, 'taken_at'), WAIT, 'the grid to show reading 1');
  // closed on arrival, opened when asked for
  assert.equal(await page.locator(tid('add-row')).isVisible(), false, 'the add-row form is closed on arrival');
  assert.equal(await page.getAttribute('#add-btn', 'aria-expanded'), 'false');
  await page.click('#add-btn');
  await waitVisible(page, tid('add-row'), WAIT, 'the add-row form after "Add row"');
  assert.equal(await page.getAttribute('#add-btn', 'aria-expanded'), 'true');
  // a DEFAULT that is SQL is said in words, the SQL kept on hover
  const hint = page.locator(`${tid('add-row')} .field:has([name="taken_at"]) .hint`);
  const hintText = await hint.textContent();
  assert.match(hintText, /set by the database/, `the taken_at hint says what its default means (${hintText})`);
  assert.doesNotMatch(hintText, /julianday|CAST/i, 'no raw SQL in the hint');
  assert.match(await hint.getAttribute('title'), /^DEFAULT .*julianday\('now'\)/, 'the SQL is on hover');
  const prio = await page.locator(`${tid('add-row')} .field:has([name="value"]) .hint`).textContent();
  assert.equal(prio, 'required', 'a column without a default still says required');
  // epoch milliseconds shown as a time, the stored value on hover
  const { json } = await rig.api('GET', '/api/tables/readings/rows/1');
  const cell = page.locator(cellSel(1, 'taken_at'));
  const shown = await cell.textContent();
  assert.match(shown, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$/, `taken_at reads as a time (${shown})`);
  const local = await page.evaluate((ms) => new Date(ms).getFullYear(), json.taken_at);
  assert.ok(shown.startsWith(String(local)), 'the time is the stored one');
  assert.match(await cell.getAttribute('title'), new RegExp('^' + json.taken_at + ' '), 'the raw value is on hover');
  // a plain integer column is still a number
  assert.equal((await page.locator(cellSel(1, 'id')).textContent()).trim(), '1');
  // reloading keeps the form as the user left it (open)
  await page.reload();
  await waitVisible(page, tid('add-row'), WAIT, 'the add-row form, left open, after a reload');
});

const PANES = ['short', 'long', 'sse', 'push'];
const STATS = ['changes', 'delay-last', 'delay-median', 'delay-p95', 'requests', 'bytes'];

/** {short: {changes: n, ...}, long: ..., push: ...} read from the panes at one moment (NaN: missing/not a number). */
async function paneStats(page) {
  const raw = await page.evaluate(([panes, stats]) => Object.fromEntries(panes.map((p) => {
    const pane = document.querySelector(`[data-testid="pane-${p}"]`);
    return [p, Object.fromEntries(stats.map((s) => [s, pane?.querySelector(`[data-stat="${s}"]`)?.textContent ?? null]))];
  })), [PANES, STATS]);
  const out = {};
  for (const p of PANES) out[p] = Object.fromEntries(STATS.map((s) => [s, num(raw[p][s])]));
  return out;
}

function waitPanes(page, what, pred, timeout) {
  return until(what, async () => {
    const s = await paneStats(page);
    return [PANES.every((p) => pred(s[p])), PANES.map((p) => `${p}: ${STATS.map((k) => `${k}=${s[p][k]}`).join(' ')}`).join('; ')];
  }, timeout, 100);
}

e2e('the comparison view: four panes get the same changes, short polling makes more requests than push or SSE', async (rig, t) => {
  await rig.start();
  const page = await rig.page(DESKTOP);
  await page.goto(rig.base + '#/compare/tasks');
  await waitVisible(page, tid('compare-view'), WAIT, 'the compare-view');
  for (const p of PANES) await waitVisible(page, tid('pane-' + p), WAIT, `pane-${p}`);
  const interval = await page.locator(tid('poll-interval')).inputValue({ timeout: WAIT }).catch(() => 'missing');
  t.diagnostic(`poll-interval: ${interval}`);

  // Each transport has made its first request; then start from zero.
  await waitPanes(page, 'every pane to have made a request', (s) => s.requests >= 1, WAIT);
  await page.click(tid('compare-reset'));
  await waitPanes(page, 'compare-reset to zero the changes', (s) => s.changes === 0, WAIT);

  // 40 inserts over REST (each pane follows from the seq it started at: none is missed)
  const N = 40;
  for (let i = 0; i < N; i++) {
    const r = await rig.api('POST', '/api/tables/tasks/rows', { title: `compare ${i}`, priority: 1 + (i % 5) });
    assert.equal(r.status, 201, r.text);
  }
  await waitPanes(page, `every pane to count ${N} changes`, (s) => s.changes >= N, WAIT);
  // the header's seq follows the changes the panes show, not a 5 s status poll
  const head = (await rig.api('GET', '/healthz')).json.last_seq;
  assert.equal(num(await textOf(page, tid('last-seq'))), head, 'the header shows the last seq as soon as the panes have it');
  await until('short polling to have made 3 requests', async () => {
    const x = await paneStats(page);
    return [x.short.requests >= 3, `short: ${x.short.requests}`];
  }, WAIT);
  await sleep(300); // a window for a change counted twice: an absence has no event to wait for
  const s = await paneStats(page);
  t.diagnostic('after POSTs: ' + JSON.stringify(s));
  for (const p of PANES) assert.equal(s[p].changes, N, `pane-${p} counts exactly the ${N} changes made`);
  for (const p of PANES) {
    for (const k of ['delay-last', 'delay-median', 'delay-p95']) assert.ok(Number.isFinite(s[p][k]) && s[p][k] >= 0, `pane-${p} ${k} is a number`);
    assert.ok(Number.isFinite(s[p].requests), `pane-${p} counts requests`);
    assert.ok(s[p].bytes > 0, `pane-${p} counts the bytes of the changes it received`);
  }
  assert.ok(s.short.requests >= 3 && s.long.requests >= 1, 'the polling panes count their requests');
  assert.ok(s.short.requests > s.push.requests, `short polling made more requests (${s.short.requests}) than push (${s.push.requests})`);
  assert.ok(s.short.requests > s.sse.requests, `short polling made more requests (${s.short.requests}) than SSE (${s.sse.requests})`);
  const sseIdle = await textOf(page, `${tid('pane-sse')} [data-stat="idle"]`);
  assert.match(sseIdle, /^\d+ bytes\/min$/, `the SSE pane shows its idle cost (${sseIdle})`);
  assert.ok(num(sseIdle) > 0 && num(sseIdle) < num(await textOf(page, `${tid('pane-short')} [data-stat="idle"]`)),
    'SSE idles for less than short polling');

  // The page's own generator at 10 writes/s until it has made 10: the panes see every write it made.
  const seqBefore = (await rig.api('GET', '/healthz')).json.last_seq;
  let posts = 0; // the generator's writes still waiting for their answers
  page.on('request', (r) => { if (r.method() === 'POST') posts++; });
  const answered = (r) => { if (r.method() === 'POST') posts--; };
  page.on('requestfinished', answered);
  page.on('requestfailed', answered);
  await setControl(page.locator(tid('gen-rate')), 10);
  await page.click(tid('gen-toggle'));
  await waitText(page, tid('gen-count'), { test: (x) => num(x) >= 10 }, WAIT, 'the generator to make 10 writes');
  await page.click(tid('gen-toggle'));
  await until('the generator\'s last write to be answered', async () => [posts === 0, `${posts} writes waiting`], WAIT);
  const seqAfter = (await rig.api('GET', '/healthz')).json.last_seq;
  // each generated write committed one change: gen-count comes to the number of changes committed
  await waitText(page, tid('gen-count'), { test: (x) => num(x) === seqAfter - seqBefore }, WAIT,
    `gen-count to show the ${seqAfter - seqBefore} changes committed`);
  const made = num(await textOf(page, tid('gen-count')));
  t.diagnostic(`generator: gen-count ${made}, committed changes ${seqAfter - seqBefore}`);
  assert.ok(made >= 10, `the generator made its writes (gen-count ${made})`);
  await waitPanes(page, `every pane to count ${N + made} changes`, (x) => x.changes >= N + made, WAIT);
  await sleep(300); // a window for a change counted twice: an absence has no event to wait for
  const s2 = await paneStats(page);
  t.diagnostic('after the generator: ' + JSON.stringify(s2));
  for (const p of PANES) assert.equal(s2[p].changes, N + made, `pane-${p} saw every generated write once`);

  // "bodies measured: N of M" is one line, never broken inside "N of M", within its pane
  for (const p of ['short', 'long']) {
    const box = await page.evaluate((q) => {
      const el = document.querySelector(q);
      const pane = el?.closest('.pane')?.getBoundingClientRect();
      const r = el?.getBoundingClientRect();
      return el && { lines: el.getClientRects().length, text: el.textContent, inside: r.left >= pane.left && r.right <= pane.right };
    }, `${tid('pane-' + p)} [data-stat="measured"]`);
    assert.ok(box, `pane-${p} shows how many bodies were measured`);
    assert.match(box.text, /^\d+ of \d+$/);
    assert.equal(box.lines, 1, `pane-${p}: "${box.text}" is on one line`);
    assert.ok(box.inside, `pane-${p}: "${box.text}" stays inside its pane`);
  }

  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, 'compare.png') });
});

e2e('at phone width (390x844) the table view does not overflow horizontally', async (rig) => {
  await rig.start();
  const page = await rig.page(PHONE);
  await openTable(rig, page, 'tasks');
  await waitTasks(page);
  const o = await horizontalOverflow(page);
  assert.ok(o.scrollWidth <= o.clientWidth, `table view: the document is ${o.scrollWidth}px wide in a ${o.clientWidth}px viewport`);
});

e2e('at phone width (390x844) the comparison view does not overflow horizontally', async (rig) => {
  await rig.start();
  const page = await rig.page(PHONE);
  await page.goto(rig.base + '#/compare/tasks');
  await waitVisible(page, tid('compare-view'), WAIT, 'the compare-view');
  await waitPanes(page, 'every pane to have made a request', (s) => s.requests >= 1, WAIT);
  const o = await horizontalOverflow(page);
  assert.ok(o.scrollWidth <= o.clientWidth, `comparison view: the document is ${o.scrollWidth}px wide in a ${o.clientWidth}px viewport`);
});

e2e('keyboard: Tab reaches the table list and Enter opens a table', async (rig) => {
  await rig.start();
  const page = await rig.page(DESKTOP);
  await openTable(rig, page, 'tasks');
  await page.reload();
  await waitTasks(page);

  let target = null;
  for (let i = 0; i < 40 && !target; i++) {
    await page.keyboard.press('Tab');
    target = await page.evaluate(() => {
      const el = document.activeElement?.closest('[data-testid="table-link"]');
      const name = el?.getAttribute('data-table');
      return name && name !== 'tasks' ? name : null;
    });
  }
  assert.ok(target, 'Tab reaches a table-link of another table within 40 presses');
  await page.keyboard.press('Enter');
  const col = { readings: 'sensor_id', sensors: 'unit' }[target];
  await waitVisible(page, `tr[data-key] td[data-col="${col}"]`, WAIT, `Enter to open "${target}"`);
  await waitGone(page, cellSel(1, 'title'), WAIT, 'the tasks grid to be replaced');
});

e2e('adding, a rejected write and deleting, from the page', async (rig, t) => {
  await rig.start();
  const page = await rig.page(DESKTOP);
  // The rejected writes below are 409s, which Chromium itself logs as console errors.
  rig.allowConsole.push(/Failed to load resource: the server responded with a status of 409/);
  await openTable(rig, page, 'tasks');
  await waitTasks(page);

  const form = tid('add-row');
  if (!(await page.locator(form).isVisible())) {
    // No hook opens the form: the button's accessible name does.
    t.diagnostic('add-row is hidden at first: opening it with the "Add row" button (no test hook for it)');
    await page.getByRole('button', { name: /add row/i }).first().click();
  }
  await waitVisible(page, form, WAIT, 'the add-row form');
  const title = `Added from the form ${Date.now()}`;
  await page.fill(`${form} [name="title"]`, title);
  await page.fill(`${form} [name="priority"]`, '9');
  await page.click(tid('add-row-submit'));
  const err = page.locator(tid('row-error') + ':visible').first();
  await err.waitFor({ state: 'visible', timeout: WAIT });
  assert.match(await err.textContent(), /priority|check|constraint|rule/i, 'the error says what was wrong');
  assert.equal(await page.inputValue(`${form} [name="title"]`), title, 'what the user typed is kept');
  assert.equal(await page.inputValue(`${form} [name="priority"]`), '9', 'what the user typed is kept');

  await page.fill(`${form} [name="priority"]`, '3');
  await page.click(tid('add-row-submit'));
  const found = await until('the added row in the database', async () => {
    const r = await rig.api('GET', '/api/tables/tasks/rows?title=eq.' + encodeURIComponent(title));
    return [r.json?.rows?.length === 1, r.json?.rows?.[0]];
  }, WAIT);
  assert.equal(found.priority, 3);
  await waitText(page, cellSel(found.id, 'title'), title, WAIT, 'the added row in the grid');

  // A rejected cell edit: the error shows, the typed value stays in the editor.
  const psel = cellSel(found.id, 'priority');
  await page.dblclick(psel);
  await waitEditorIn(page, psel, 'an editor in the priority cell');
  await page.keyboard.press('Control+A');
  await page.keyboard.type('7');
  await page.keyboard.press('Enter');
  await page.locator(tid('row-error') + ':visible').first().waitFor({ state: 'visible', timeout: WAIT });
  assert.equal(await focusedValue(page), '7', 'the rejected value is still in the editor');
  await page.keyboard.press('Escape');
  assert.equal((await rig.api('GET', `/api/tables/tasks/rows/${found.id}`)).json.priority, 3, 'the rejected edit did not change the row');

  // Delete.
  await page.click(`${rowSel(found.id)} ${tid('row-delete')}`);
  const confirmOrGone = page.locator(rowSel(found.id)).getByRole('button', { name: /^(yes|confirm)/i });
  await until('the row to go, or a button to confirm its deletion', async () => {
    const gone = !(await page.locator(rowSel(found.id)).isVisible());
    return [gone || (await confirmOrGone.count()) > 0, gone ? 'gone' : 'still shown, no confirm button'];
  }, WAIT);
  if (await page.locator(rowSel(found.id)).isVisible()) {
    const confirm = page.locator(rowSel(found.id)).getByRole('button', { name: /^(yes|confirm)/i });
    if (await confirm.count()) {
      t.diagnostic('row-delete asks to confirm: confirming with the button\'s accessible name (no test hook for it)');
      await confirm.first().click();
    }
  }
  await waitGone(page, rowSel(found.id), WAIT, 'the deleted row to leave the grid');
  assert.equal((await rig.api('GET', `/api/tables/tasks/rows/${found.id}`)).status, 404, 'the row is gone from the database');
});

e2e('Download CSV exports every row of the current filter and order', async (rig) => {
  await rig.start();
  const page = await rig.page(DESKTOP);
  await page.goto(rig.base + '#/tasks?done=eq.0&order=-id');
  await waitLive(page, 'live', WAIT);
  const want = (await rig.api('GET', '/api/tables/tasks/rows?done=eq.0&order=-id&select=id')).json.rows.map((r) => String(r.id));
  assert.ok(want.length >= 1, 'the demo has open tasks');
  const href = await until('the Download CSV link for the filter', async () => {
    const h = await page.getAttribute('#csv-link', 'href');
    return [h && h.includes('done=eq.0') && h.includes('order=-id'), h];
  }, WAIT);
  assert.match(href, /^\/api\/tables\/tasks\/rows\?.*format=csv/);
  assert.equal(await page.getAttribute('#csv-link', 'download'), '');
  const got = await page.evaluate(async (u) => {
    const r = await fetch(u);
    return { status: r.status, disp: r.headers.get('content-disposition'), text: await r.text() };
  }, href);
  assert.equal(got.status, 200);
  assert.equal(got.disp, 'attachment; filename="tasks.csv"');
  const lines = got.text.split('\r\n').filter(Boolean);
  assert.match(lines[0], /^id,title,done,/);
  assert.deepEqual(lines.slice(1).map((l) => l.split(',')[0]), want, 'the filtered rows, in the view\'s order');
});
