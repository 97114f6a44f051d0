// End-to-end tests of signing in on the page (issue 12): rowcast started with
// --jwt-secret and --rules, HS256 tokens made here with node's crypto, pasted
// into the page's "Sign in" dialog in Debian's chromium. What each user is
// shown: who is signed in, only the tables and rows the rules let them read,
// only the actions /api/me allows; a refused write shows the server's reason,
// and an expired token signs out saying so.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  Rig, launchBrowser, tid, rowSel, cellSel, sleep, until, textOf, waitText, waitVisible, waitGone, waitLive, DESKTOP, WAIT,
} from './lib.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

const SECRET = 'e2e-secret-that-is-long-enough-for-hs256';

// API.md's example: each user reads and changes their own tasks, only admins delete; other tables are open to
// read. The note column is for admins' eyes only.
const RULES = {
  tasks: {
    read: [{ role: ['admin'], where: 'owner=eq.@sub' }, { where: 'owner=eq.@sub', columns: ['id', 'title', 'owner'] }],
    insert: { role: ['user', 'admin'], check: 'owner=eq.@sub' },
    update: { where: 'owner=eq.@sub', check: 'owner=eq.@sub' },
    delete: { role: ['admin'] },
  },
  '*': { read: true },
};

const SCHEMA = `
CREATE TABLE tasks (id INTEGER PRIMARY KEY, title TEXT NOT NULL, owner TEXT NOT NULL, note TEXT);
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
INSERT INTO tasks (title, owner) VALUES
  ('Water the plants', 'alice'), ('Fix the bike', 'bob'), ('Call the bank', 'alice'), ('Plan the week', 'carol');
UPDATE tasks SET note = 'reviewed by the board' WHERE id = 4;
INSERT INTO notes (body) VALUES ('The office is closed on Friday');
`;
const ALICE_ROWS = [1, 3];
const CAROL_ROWS = [4];

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** An HS256 JSON Web Token for claims, signed with SECRET; exp defaults to an hour from now. */
function jwt(claims) {
  const now = Math.floor(Date.now() / 1000);
  const body = b64url({ alg: 'HS256', typ: 'JWT' }) + '.' + b64url({ iat: now, exp: now + 3600, ...claims });
  return body + '.' + crypto.createHmac('sha256', SECRET).update(body).digest('base64url');
}

const ALICE = { sub: 'alice', name: 'Alice', role: 'user' };
const CAROL = { sub: 'carol', name: 'Carol', role: 'admin' };

/** A test with its own Rig on a database of SCHEMA, rowcast running with the secret and the rules. */
function e2e(name, fn, timeout = 6 * WAIT) {
  test(name, { timeout }, async (t) => {
    const rig = new Rig(browser, name);
    // Chromium logs every refused request (401 from a bad token, 403 from a rule) as a console error.
    rig.allowConsole.push(/status of 40[13] \((Unauthorized|Forbidden)\)/);
    let err = null;
    try {
      await rig.sql(SCHEMA);
      const rules = path.join(rig.dir, 'rules.json');
      fs.writeFileSync(rules, JSON.stringify(RULES));
      rig.args = ['--jwt-secret', SECRET, '--rules', rules];
      await rig.start();
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

const link = (name) => tid('table-link', `[data-table=${JSON.stringify(name)}]`);

/** Signs in through the page's dialog with token, as a user would (paste, then "Sign in"). */
async function signIn(page, token) {
  await waitVisible(page, tid('sign-in'), WAIT, 'the Sign in button');
  await page.click(tid('sign-in'));
  await waitVisible(page, tid('token-input'), WAIT, 'the token field of the sign-in dialog');
  await page.fill(tid('token-input'), token);
  await page.click(tid('token-submit'));
}

/** The keys of the rows the grid shows, as numbers, sorted. */
const shownKeys = (page) => page.evaluate(() => [...document.querySelectorAll('#grid tr[data-key]')]
  .map((tr) => Number(tr.dataset.key)).sort((a, b) => a - b));

/** Waits until the grid shows exactly the rows keys. */
function waitRows(page, keys, what) {
  return until(what, async () => {
    const got = await shownKeys(page);
    return [JSON.stringify(got) === JSON.stringify(keys), `rows ${JSON.stringify(got)}`];
  }, WAIT);
}

/** Opens table name from the table list and waits until the page is live. */
async function openTable(page, name) {
  await waitVisible(page, link(name), WAIT, `the table-link of "${name}"`);
  await page.click(link(name));
  await waitLive(page, 'live', WAIT);
}

/* ---------------------------------------------------------------------- */

e2e('alice signs in with a pasted token: her name and role, only her rows, no Delete, adding works and pushes live', async (rig, t) => {
  const page = await rig.page(DESKTOP);
  await page.goto(rig.base);
  await signIn(page, jwt(ALICE));
  await waitText(page, tid('auth-who'), /Alice.*user/, WAIT, 'the header to show Alice (user)');
  await waitVisible(page, tid('sign-out'), WAIT, 'the Sign out button');
  assert.equal(await page.locator(tid('sign-in')).isVisible(), false, 'no Sign in while signed in');

  await openTable(page, 'tasks');
  await waitRows(page, ALICE_ROWS, 'the grid to show only alice\'s tasks (1 and 3)');
  assert.equal(await page.locator(tid('row-delete')).count(), 0, 'no Delete button: alice may not delete');
  assert.ok(await page.locator(`${cellSel(1, 'title')}.editable`).count() === 1, 'alice may edit her rows');
  assert.equal(await page.locator('#add-btn').isVisible(), true, 'alice may add rows');
  assert.equal(await page.locator('#grid th:has-text("note"), #grid td[data-col="note"]').count(), 0, 'no note column for alice');

  // The live feed, opened again once signed in, carries the token in its URL (a socket cannot send headers).
  const socket = rig.urls.filter((u) => u.includes('/api/live')).at(-1);
  assert.ok(socket && new URL(socket).searchParams.get('token'), `the socket URL carries ?token= (${socket})`);

  // A row added from the form appears.
  await page.click('#add-btn');
  await waitVisible(page, tid('add-row'), WAIT, 'the add-row form');
  await page.fill(`${tid('add-row')} [name="title"]`, 'Added by alice from the page');
  await page.fill(`${tid('add-row')} [name="owner"]`, 'alice');
  await page.click(tid('add-row-submit'));
  const added = await until('alice\'s new row in the database', async () => {
    const rows = await rig.sql("SELECT id FROM tasks WHERE title = 'Added by alice from the page';");
    return [rows !== '', rows];
  }, WAIT);
  await waitText(page, cellSel(added, 'title'), 'Added by alice from the page', WAIT, 'the added row in the grid');

  // One for someone else is refused with the server's reason, and nothing is written.
  await page.fill(`${tid('add-row')} [name="title"]`, 'Slipped to bob');
  await page.fill(`${tid('add-row')} [name="owner"]`, 'bob');
  await page.click(tid('add-row-submit'));
  const err = page.locator(tid('row-error') + ':visible').first();
  await err.waitFor({ state: 'visible', timeout: WAIT });
  t.diagnostic('refused insert shows: ' + (await err.textContent()));
  assert.match(await err.textContent(), /^Not allowed: \S/, 'the refusal (403) is shown with the server\'s message');
  assert.equal(await rig.sql("SELECT count(*) FROM tasks WHERE title = 'Slipped to bob';"), '0', 'nothing was written');

  // Rows written by another program are pushed live: alice's appears, bob's (written first) never does.
  await rig.sql("INSERT INTO tasks (title, owner) VALUES ('Only for bob', 'bob');");
  const id = Number(await rig.sql("INSERT INTO tasks (title, owner) VALUES ('Shell row for alice', 'alice'); SELECT last_insert_rowid();"));
  await waitText(page, cellSel(id, 'title'), 'Shell row for alice', WAIT, 'the shell\'s row for alice, pushed live');
  assert.deepEqual(await shownKeys(page), [...ALICE_ROWS, Number(added), id].sort((a, b) => a - b), 'only alice\'s rows are shown');

  // Download CSV exports what alice may read (a link cannot send the token: the page fetches it with it).
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: WAIT }), page.click('#csv-link')]);
  const csv = fs.readFileSync(await download.path(), 'utf8').split('\r\n').filter(Boolean);
  assert.equal(download.suggestedFilename(), 'tasks.csv');
  assert.equal(csv[0], 'id,title,owner', 'the columns alice may see');
  assert.deepEqual(csv.slice(1).map((l) => Number(l.split(',')[0])), [...ALICE_ROWS, Number(added), id].sort((a, b) => a - b),
    'alice\'s rows, none of another owner');

  // A reload stays signed in.
  await page.reload();
  await waitText(page, tid('auth-who'), /Alice.*user/, WAIT, 'still signed in as Alice after a reload');
  await waitLive(page, 'live', WAIT);
  await waitRows(page, [...ALICE_ROWS, Number(added), id].sort((a, b) => a - b), 'alice\'s rows after the reload');

  // Signing out: anonymous readers are not offered tasks.
  await page.click(tid('sign-out'));
  await waitVisible(page, tid('sign-in'), WAIT, 'Sign in again after signing out');
  await waitGone(page, link('tasks'), WAIT, 'tasks to leave the table list when signed out');
  assert.equal(await page.evaluate(() => localStorage.getItem('rowcast.token')), null, 'the token is forgotten');
});

e2e('over Server-Sent Events and long polling the token goes along: ?token= on the stream, Authorization on each poll', async (rig) => {
  const page = await rig.page(DESKTOP);
  const polls = [];
  page.on('request', (r) => { if (r.url().includes('/api/changes')) polls.push(r.headers().authorization || '(none)'); });
  const token = jwt(ALICE);
  await page.goto(rig.base);
  await signIn(page, token);
  await waitText(page, tid('auth-who'), /Alice/, WAIT, 'signed in as Alice');
  await openTable(page, 'tasks');
  await waitRows(page, ALICE_ROWS, 'alice\'s tasks');
  for (const mode of ['sse', 'long']) {
    await page.selectOption('#live-mode', mode);
    await waitLive(page, 'live', WAIT);
    const title = `Written for alice, heard over ${mode}`;
    const id = Number(await rig.sql(`INSERT INTO tasks (title, owner) VALUES ('${title}', 'alice'); SELECT last_insert_rowid();`));
    await waitText(page, cellSel(id, 'title'), title, WAIT, `the shell's row over ${mode}`);
  }
  const stream = rig.urls.filter((u) => u.includes('/api/events?')).at(-1);
  assert.equal(stream && new URL(stream).searchParams.get('token'), token, `the EventSource URL carries the token (${stream})`);
  assert.ok(polls.length > 0, 'the page polled');
  assert.deepEqual([...new Set(polls)], ['Bearer ' + token], 'every poll carries Authorization: Bearer TOKEN');
});

e2e('carol (admin) is offered Delete, and deleting her row works', async (rig) => {
  const page = await rig.page(DESKTOP);
  await page.goto(rig.base);
  await signIn(page, jwt(CAROL));
  await waitText(page, tid('auth-who'), /Carol.*admin/, WAIT, 'the header to show Carol (admin)');
  await openTable(page, 'tasks');
  await waitRows(page, CAROL_ROWS, 'the grid to show only carol\'s task (4)');
  await waitText(page, cellSel(4, 'note'), 'reviewed by the board', WAIT, 'the note, which admins see');
  await waitVisible(page, `${rowSel(4)} ${tid('row-delete')}`, WAIT, 'a Delete button on carol\'s row');
  await page.click(`${rowSel(4)} ${tid('row-delete')}`);
  await waitGone(page, rowSel(4), WAIT, 'the deleted row to leave the grid');
  assert.equal(await rig.sql('SELECT count(*) FROM tasks WHERE id = 4;'), '0', 'the row is gone from the database');
});

e2e('signing in and out in one tab is followed by another tab of the same browser', async (rig) => {
  const a = await rig.page(DESKTOP);
  const b = await a.context().newPage(); // the same localStorage
  b.on('pageerror', (e) => rig.pageErrors.push(`second tab: ${e.stack || e.message}`));
  await a.goto(rig.base);
  await b.goto(rig.base);
  await waitVisible(b, link('notes'), WAIT, 'the second tab\'s table list');
  assert.equal(await b.locator(link('tasks')).count(), 0, 'signed out: no tasks in the second tab');
  await signIn(a, jwt(ALICE));
  await waitText(b, tid('auth-who'), /Alice.*user/, WAIT, 'the second tab to show Alice');
  await waitVisible(b, link('tasks'), WAIT, 'tasks offered in the second tab');
  await a.click(tid('sign-out'));
  await waitVisible(b, tid('sign-in'), WAIT, 'Sign in offered again in the second tab');
  await waitGone(b, link('tasks'), WAIT, 'tasks to leave the second tab\'s list');
});

e2e('anonymous: tasks is not offered, the open table is read-only', async (rig) => {
  const page = await rig.page(DESKTOP);
  await page.goto(rig.base);
  await openTable(page, 'notes');
  await waitText(page, cellSel(1, 'body'), 'closed on Friday', WAIT, 'the note');
  assert.equal(await page.locator(link('tasks')).count(), 0, 'tasks is not in the table list');
  assert.equal(await page.locator('#add-btn').isVisible(), false, 'no Add row without an insert rule');
  assert.equal(await page.locator(tid('row-delete')).count(), 0, 'no Delete without a delete rule');
  assert.equal(await page.locator(`${cellSel(1, 'body')}.editable`).count(), 0, 'no editing without an update rule');
  assert.equal(await page.locator(tid('auth-who')).isVisible(), false, 'nobody is shown as signed in');
});

e2e('an expired token is refused: the page says so and stays signed out', async (rig) => {
  const page = await rig.page(DESKTOP);
  await page.goto(rig.base);
  const now = Math.floor(Date.now() / 1000);
  await signIn(page, jwt({ ...ALICE, iat: now - 7200, exp: now - 3600 }));
  await waitText(page, tid('auth-note'), /expired.*signed out/i, WAIT, 'the page to say the token expired');
  assert.equal(await page.evaluate(() => localStorage.getItem('rowcast.token')), null, 'the refused token is not kept');
  await waitVisible(page, tid('sign-in'), WAIT, 'Sign in offered again');
  assert.equal(await page.locator(tid('auth-who')).isVisible(), false, 'nobody is shown as signed in');
  assert.equal(await page.locator(link('tasks')).count(), 0, 'tasks is not offered');

  // A kept token that expired while the page was closed: the reload signs out and the live feed still comes up.
  await page.evaluate((t) => localStorage.setItem('rowcast.token', t), jwt({ ...ALICE, iat: now - 7200, exp: now - 3600 }));
  await page.reload();
  await waitText(page, tid('auth-note'), /expired.*signed out/i, WAIT, 'the reloaded page to say the kept token expired');
  await waitLive(page, 'live', WAIT);
  assert.equal(await page.evaluate(() => localStorage.getItem('rowcast.token')), null, 'the expired token is forgotten');
});

e2e('the socket closed with 4001 (token expired): the page says the session expired, signs out, and does not reconnect', async (rig) => {
  const page = await rig.page(DESKTOP);
  // Each socket of the page goes through to the server; the test closes the page's end as the server would.
  const sockets = [];
  await page.routeWebSocket(/\/api\/live/, (ws) => {
    ws.connectToServer();
    sockets.push(ws);
  });
  await page.goto(rig.base);
  await signIn(page, jwt(ALICE));
  await waitText(page, tid('auth-who'), /Alice/, WAIT, 'signed in as Alice');
  await openTable(page, 'tasks');
  await waitRows(page, ALICE_ROWS, 'alice\'s tasks');
  const opened = sockets.length;
  await sockets.at(-1).close({ code: 4001, reason: 'token expired' });
  await waitText(page, tid('live-state'), 'session expired: sign in again', WAIT, 'the live state to say the session expired');
  await waitText(page, tid('auth-note'), 'session expired: sign in again', WAIT, 'the same next to Sign in');
  await waitVisible(page, tid('sign-in'), WAIT, 'Sign in offered again');
  await waitGone(page, link('tasks'), WAIT, 'tasks to leave the table list once signed out');
  await sleep(2000); // longer than the first reconnect's backoff: an absence has no event to wait for
  assert.equal(sockets.length, opened, 'no socket was opened again');
  assert.match(await textOf(page, tid('live-state')), /session expired/, 'still says the session expired');
  // Signing in again brings the feed back.
  await signIn(page, jwt(ALICE));
  await openTable(page, 'tasks');
  assert.ok(sockets.length > opened, 'a new socket once signed in again');
});

e2e('a token that expires while the page is open: rowcast closes the socket (4001) and the page says so, without reconnecting', async (rig) => {
  const page = await rig.page(DESKTOP);
  await page.goto(rig.base);
  // Within the 60 s leeway for another 30 s or so: accepted now, then the server closes the socket.
  const now = Math.floor(Date.now() / 1000);
  await signIn(page, jwt({ ...ALICE, iat: now - 3600, exp: now - 30 }));
  await waitText(page, tid('auth-who'), /Alice/, WAIT, 'signed in as Alice');
  await openTable(page, 'tasks');
  await waitText(page, tid('live-state'), /session expired/i, 3 * WAIT, 'the live state to say the session expired');
  await waitText(page, tid('auth-note'), /session expired: sign in again/i, WAIT, 'the note next to Sign in');
  const handshakes = rig.urls.filter((u) => u.includes('/api/live')).length;
  // No loop: the page stays off until the user signs in again (a later handshake would show in rig.urls).
  await waitVisible(page, tid('sign-in'), WAIT, 'Sign in offered again');
  await sleep(2000); // longer than the first reconnect's backoff: an absence has no event to wait for
  assert.match(await textOf(page, tid('live-state')), /session expired/i, 'still expired, not reconnecting');
  assert.equal(rig.urls.filter((u) => u.includes('/api/live')).length, handshakes, 'no new socket was opened');
});
