// Firefox smoke test of the live page (issue 4, §6 "Works in current Chromium and
// Firefox"): the real rowcast binary, the page built into it, Debian's firefox-esr
// (headless, fresh temporary profile, no background traffic) driven over WebDriver
// BiDi by puppeteer-core, outside writes with the sqlite3 shell and fetch. Only
// 127.0.0.1 is used. Each test starts its own server on a fresh database and fails
// on any console error, uncaught error, CSP violation or request to another host.
// Skipped when /usr/bin/firefox-esr is missing.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  FirefoxRig, launchFirefox, FIREFOX, tid, rowSel, cellSel, num, firstInt, sleep, until, waitText, waitVisible,
  waitLive, SHOTS, DESKTOP, WAIT,
} from './lib.mjs';

const SKIP = fs.existsSync(FIREFOX) ? false : `${FIREFOX} not found (Debian package firefox-esr)`;

let browser;
let launchMs = 0;
before(async () => {
  if (SKIP) return;
  const t0 = Date.now();
  browser = await launchFirefox();
  launchMs = Date.now() - t0;
});
after(async () => { await browser?.close(); });

/** A test with its own FirefoxRig; page problems fail it, failures leave screenshots in results/. */
function e2e(name, fn, timeout = 4 * WAIT) {
  test(name, { timeout, skip: SKIP }, async (t) => {
    if (launchMs) { t.diagnostic(`${await browser.version()} started in ${launchMs} ms`); launchMs = 0; }
    const rig = new FirefoxRig(browser, 'firefox ' + name);
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

/** Waits until the grid shows the rows of tasks (the demo's four). */
async function waitTasks(page) {
  await waitText(page, cellSel(1, 'title'), 'Unpack the rack servers', WAIT, 'the grid to show task 1');
  for (const k of [2, 3, 4]) await waitVisible(page, rowSel(k), WAIT, `the grid to show task ${k}`);
}

/* ---------------------------------------------------------------------- */

e2e('the page loads cleanly, lists the demo tables, opens tasks, and rows inserted with fetch and the sqlite3 shell appear', async (rig, t) => {
  const srv = await rig.start();
  const page = await rig.page(DESKTOP);
  const res = await page.goto(rig.base);
  assert.equal(res.status(), 200);
  assert.match(res.headers()['content-security-policy'] || '', /script-src 'self'/, 'the page is served with its Content-Security-Policy');

  for (const [name, count] of Object.entries(DEMO)) {
    await waitVisible(page, link(name), WAIT, `the table-link of "${name}"`);
    await waitText(page, `${link(name)} ${tid('table-count')}`, { test: (s) => firstInt(s) === count }, WAIT,
      `the table-count of "${name}" to read ${count}`);
  }
  await waitLive(page, 'live', WAIT);
  await waitText(page, tid('server-version'), srv.version, WAIT, `server-version to show ${srv.version}`);

  await page.click(link('tasks'));
  await waitTasks(page);
  await waitLive(page, 'live', WAIT);
  await waitText(page, cellSel(4, 'assignee'), /null/i, WAIT, 'a NULL assignee to be shown as NULL');
  // (the page subscribes from the seq of the rows it shows: no change made after them is missed)
  await page.evaluate(() => { window.__rowcastE2eMark = 'kept'; });

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

  assert.equal(await page.evaluate(() => window.__rowcastE2eMark), 'kept', 'the page was reloaded or navigated away');
  const { json: health } = await rig.api('GET', '/healthz');
  await waitText(page, tid('last-seq'), { test: (s) => firstInt(s) === health.last_seq }, WAIT, `last-seq to follow to ${health.last_seq}`);

  assert.ok(rig.urls.some((u) => u.startsWith('ws://')), 'the page\'s WebSocket was recorded');
  assert.deepEqual(rig.foreignUrls(), [], 'every request goes to the server on 127.0.0.1');
  t.diagnostic(`${rig.urls.length} requests, all to ${rig.origin}`);
});

const PANES = ['short', 'long', 'push'];
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

e2e('the comparison view: all three panes receive the same changes', async (rig, t) => {
  await rig.start();
  const page = await rig.page(DESKTOP);
  await page.goto(rig.base + '#/compare/tasks');
  await waitVisible(page, tid('compare-view'), WAIT, 'the compare-view');
  for (const p of PANES) await waitVisible(page, tid('pane-' + p), WAIT, `pane-${p}`);

  // Each transport has made its first request; then start from zero.
  await waitPanes(page, 'every pane to have made a request', (s) => s.requests >= 1, WAIT);
  await page.click(tid('compare-reset'));
  await waitPanes(page, 'compare-reset to zero the changes', (s) => s.changes === 0, WAIT);

  // 10 inserts over REST (each pane follows from the seq it started at: none is missed)
  const N = 10;
  for (let i = 0; i < N; i++) {
    const r = await rig.api('POST', '/api/tables/tasks/rows', { title: `compare ${i}`, priority: 1 + (i % 5) });
    assert.equal(r.status, 201, r.text);
  }
  await waitPanes(page, `every pane to count ${N} changes`, (s) => s.changes >= N, WAIT);
  await sleep(300); // a window for a change counted twice: an absence has no event to wait for
  const s = await paneStats(page);
  t.diagnostic('after POSTs: ' + JSON.stringify(s));
  for (const p of PANES) assert.equal(s[p].changes, N, `pane-${p} counts exactly the ${N} changes made`);
  for (const p of PANES) {
    for (const k of ['delay-last', 'delay-median', 'delay-p95']) assert.ok(Number.isFinite(s[p][k]) && s[p][k] >= 0, `pane-${p} ${k} is a number`);
    assert.ok(Number.isFinite(s[p].requests), `pane-${p} counts requests`);
    assert.ok(s[p].bytes > 0, `pane-${p} counts the bytes of the changes it received`);
  }

  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, 'firefox-compare.png') });
});
