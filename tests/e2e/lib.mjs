// Helpers for the end-to-end tests: start and stop the real rowcast binary in
// a fresh temporary folder, write with the real sqlite3 shell and with fetch,
// drive Debian's chromium through playwright-core, and watch every page for
// console errors, uncaught errors, CSP violations and requests to other hosts.
// Every wait is bounded.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..');
export const BIN = process.env.ROWCAST_BIN || path.join(REPO, 'build', 'rowcast');
export const CHROMIUM = '/usr/bin/chromium';
export const SQLITE3 = '/usr/bin/sqlite3';
// Where the screenshots of a passing run go: results/ (ignored by git), so a test run leaves the tree as it
// was; ROWCAST_SCREENSHOTS=tests/e2e/screenshots refreshes the pictures the README shows.
export const SHOTS = process.env.ROWCAST_SCREENSHOTS ? path.resolve(process.env.ROWCAST_SCREENSHOTS)
  : path.join(HERE, 'results', 'screenshots');
export const RESULTS = path.join(HERE, 'results');

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The bound on waiting for something the page or the server must do (ms): far above the usual wait, so that
 * only what never happens fails a test, never a slow or busy machine. No test asserts how soon something
 * happens; bench/ measures that.
 */
export const WAIT = 30000;

/** A CSS selector for a test hook, with optional extra selector text. */
export const tid = (id, extra = '') => `[data-testid="${id}"]${extra}`;
/** The selector of a grid row by key, and of one of its cells. */
export const rowSel = (key) => `tr[data-key=${JSON.stringify(String(key))}]`;
export const cellSel = (key, col) => `${rowSel(key)} td[data-col=${JSON.stringify(col)}]`;

/** The number a text starts with (commas allowed), or NaN. */
export function num(s) {
  const m = /^\s*(-?[\d,]*\.?\d+)/.exec(s ?? '');
  return m ? Number(m[1].replace(/,/g, '')) : NaN;
}

/** The first integer anywhere in a text (for status hooks such as "seq 42"), or NaN. */
export function firstInt(s) {
  const m = /-?\d[\d,]*/.exec(s ?? '');
  return m ? Number(m[0].replace(/,/g, '')) : NaN;
}

/** The state a live-state text names: reconnecting, connecting, offline, unavailable, live, or '?'. */
export function liveState(text) {
  const t = (text || '').toLowerCase();
  for (const s of ['reconnecting', 'connecting', 'offline', 'unavailable']) if (t.includes(s)) return s;
  return /\blive\b/.test(t) ? 'live' : '?';
}

/**
 * Polls fn until it returns [true, ...] or timeout ms pass; fn returns [done, seen]
 * where seen describes the current state for the error message. Errors thrown by
 * fn count as not done.
 */
export async function until(what, fn, timeout, interval = 50) {
  const end = Date.now() + timeout;
  let seen = 'nothing yet';
  for (;;) {
    try {
      const [done, s] = await fn();
      if (done) return s;
      seen = s;
    } catch (e) {
      seen = 'error: ' + e.message.split('\n')[0];
    }
    if (Date.now() >= end) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last seen: ${typeof seen === 'string' ? seen : JSON.stringify(seen)})`);
    await sleep(interval); // the polling period of this wait
  }
}

/** textContent of the first element matching sel, or null when there is none (does not wait). */
export const textOf = (page, sel) => page.evaluate((s) => document.querySelector(s)?.textContent ?? null, sel);

/** Waits until the element matching sel exists and its text passes test (string: includes; RegExp). */
export function waitText(page, sel, test, timeout, what) {
  const ok = (t) => t !== null && (typeof test === 'string' ? t.includes(test) : test.test(t));
  return until(what || `${sel} to read ${test}`, async () => {
    const t = await textOf(page, sel);
    return [ok(t), t === null ? 'element not present' : JSON.stringify(t.trim().slice(0, 120))];
  }, timeout);
}

/** Waits until the element matching sel is present and visible (not hidden, has a box). */
export function waitVisible(page, sel, timeout, what) {
  return until(what || `${sel} to be visible`, async () => {
    const v = await page.evaluate((s) => {
      const el = document.querySelector(s);
      if (!el) return 'not present';
      const r = el.getBoundingClientRect();
      return el.checkVisibility?.() !== false && r.width > 0 && r.height > 0 ? 'visible' : 'present but hidden';
    }, sel);
    return [v === 'visible', v];
  }, timeout);
}

/** Waits until no element matches sel (or it is hidden). */
export function waitGone(page, sel, timeout, what) {
  return until(what || `${sel} to go`, async () => {
    const v = await page.evaluate((s) => {
      const el = document.querySelector(s);
      if (!el) return 'gone';
      return el.checkVisibility?.() === false ? 'gone' : 'still shown';
    }, sel);
    return [v === 'gone', v];
  }, timeout);
}

/** The live state the page shows in its live-state hook. */
export async function pageLiveState(page) {
  const t = await textOf(page, tid('live-state'));
  return [liveState(t), t];
}

export function waitLive(page, state, timeout) {
  return until(`live-state to show "${state}"`, async () => {
    const [s, t] = await pageLiveState(page);
    return [s === state, t === null ? 'live-state hook not present' : JSON.stringify(t.trim())];
  }, timeout, 25);
}

/** Sets a control (select, range, number or text input) to value as a user would, firing input and change. */
export async function setControl(loc, value) {
  const kind = await loc.evaluate((el) => (el.tagName === 'SELECT' ? 'select' : (el.type || el.tagName).toLowerCase()));
  if (kind === 'select') {
    await loc.selectOption(String(value));
  } else if (kind === 'range') {
    await loc.evaluate((el, v) => {
      el.value = v;
      el.dispatchEvent(new Event('input', { bubbles: true }));
      el.dispatchEvent(new Event('change', { bubbles: true }));
    }, String(value));
  } else {
    await loc.fill(String(value));
    await loc.dispatchEvent('change');
  }
}

/* ---------- the server ---------- */

const running = new Set();
process.on('exit', () => {
  for (const p of running) try { p.kill('SIGKILL'); } catch { /* gone */ }
});

/**
 * Starts `rowcast DB --listen 127.0.0.1:PORT [args...]` in dir and resolves once it printed
 * its URL: {proc, base, port, version, stderr(), stop()}.
 */
export function startServer(dir, db, port = 0, timeout = WAIT, args = []) {
  const proc = spawn(BIN, [db, '--listen', `127.0.0.1:${port}`, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(proc);
  let stderr = '';
  let exit = null;
  proc.stderr.on('data', (d) => { stderr += d; if (stderr.length > 200000) stderr = stderr.slice(-100000); });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => {
    running.delete(proc);
    exit = { code, signal };
    resolve(exit);
  }));
  const srv = {
    proc,
    stderr: () => stderr,
    exited,
    /** SIGTERM, then waits (bounded) for the exit; resolves to {code, signal}. */
    async stop(ms = 10000) {
      if (exit) return exit;
      proc.kill('SIGTERM');
      const r = await Promise.race([exited, sleep(ms).then(() => null)]); // a bound on the wait for the exit
      if (r) return r;
      proc.kill('SIGKILL');
      await exited;
      throw new Error(`rowcast did not exit within ${ms} ms of SIGTERM`);
    },
  };
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`rowcast printed no URL within ${timeout} ms; stderr: ${stderr.trim()}`)); }, timeout);
    const done = (fn, v) => { clearTimeout(timer); fn(v); };
    proc.on('error', (e) => done(reject, new Error(`cannot run ${BIN}: ${e.message} (build it, or set ROWCAST_BIN)`)));
    exited.then((e) => done(reject, Object.assign(new Error(`rowcast exited (code ${e.code}, signal ${e.signal}) before serving: ${stderr.trim()}`), { exit: e })));
    proc.stdout.on('data', (d) => {
      out += d;
      const i = out.indexOf('\n');
      if (i < 0 || srv.base) return;
      const line = out.slice(0, i);
      const m = /^rowcast (\S+) serving .+ on (http:\/\/127\.0\.0\.1:(\d+)\/)$/.exec(line);
      if (!m) { proc.kill('SIGKILL'); return done(reject, new Error(`unexpected first line from rowcast: ${JSON.stringify(line)}`)); }
      srv.version = m[1];
      srv.base = m[2];
      srv.port = Number(m[3]);
      done(resolve, srv);
    });
  });
}

/** Runs a script in the sqlite3 shell (with .timeout 5000) on db; resolves to its trimmed stdout. */
export function sqlite(db, script, timeout = WAIT) {
  return new Promise((resolve, reject) => {
    const p = spawn(SQLITE3, ['-bail', db], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`sqlite3 did not finish within ${timeout} ms`)); }, timeout);
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('error', (e) => { clearTimeout(timer); reject(e); });
    p.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0 && !err.trim()) resolve(out.trim());
      else reject(new Error(`sqlite3 failed (exit ${code}): ${err.trim()}`));
    });
    p.stdin.end('.timeout 5000\n' + script + '\n');
  });
}

/** One REST call with fetch; resolves to {status, json, text, headers}. */
export async function api(base, method, p, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(new URL(p, base), {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(WAIT),
  });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  return { status: res.status, json, text, headers: res.headers };
}

/* ---------- the browser ---------- */

export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 4 * WAIT, /* a browser starting on a busy 2-core machine */
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--no-first-run', '--disable-sync'],
  });
}

const NETWORK_ERROR = /net::ERR_(CONNECTION_REFUSED|CONNECTION_RESET|CONNECTION_CLOSED|EMPTY_RESPONSE|INCOMPLETE_CHUNKED_ENCODING|ABORTED)|WebSocket connection to .* failed|status of 503 \(Service Unavailable\)/;

/**
 * One test's world: a temporary folder with the database, the server, and the
 * browser contexts, each page watched. problems() lists what went wrong in the
 * pages; close() stops everything.
 */
export class Rig {
  constructor(browser, name) {
    this.browser = browser;
    this.name = name;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rowcast-e2e-'));
    this.db = path.join(this.dir, 'e2e.db');
    this.contexts = [];
    this.pages = [];
    this.servers = [];
    this.consoleErrors = [];
    this.pageErrors = [];
    this.csp = [];
    this.urls = [];
    // While true, the browser's own messages about a refused connection, and the 503 a starting server answers
    // ("rowcast is starting", Retry-After: 1) while it prepares the database, are not errors (the server is
    // down, or coming back, on purpose).
    this.serverDown = false;
    // Console messages a test provokes on purpose (e.g. Chromium logs every 409 response as an error).
    this.allowConsole = [];
    // More options for rowcast (e.g. --jwt-secret, --rules).
    this.args = [];
  }

  async start(port = 0) {
    const srv = await startServer(this.dir, this.db, port, WAIT, this.args);
    this.servers.push(srv);
    this.srv = srv;
    this.base = srv.base;
    this.port = srv.port;
    this.origin = new URL(srv.base).origin;
    return srv;
  }

  /** Starts the server again on the same port, retrying while the port is still busy (bounded by WAIT). */
  async restart() {
    const end = Date.now() + WAIT;
    for (;;) {
      try {
        return await this.start(this.port);
      } catch (e) {
        if (!e.exit || e.exit.code !== 2 || Date.now() > end) throw e;
        await sleep(200); // the polling period of this retry
      }
    }
  }

  api(method, p, body) { return api(this.base, method, p, body); }

  sql(script) { return sqlite(this.db, script); }

  /** A new page in its own browser context, watched. */
  async page(viewport = DESKTOP) {
    const context = await this.browser.newContext({ viewport });
    this.contexts.push(context);
    await context.exposeBinding('__rowcastE2eCsp', (_source, v) => { this.csp.push(v); });
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        try {
          window.__rowcastE2eCsp(`${e.violatedDirective} blocked ${e.blockedURI || 'inline code'} (${e.sourceFile || '?'}:${e.lineNumber || '?'})`);
        } catch { /* binding gone */ }
      }, true);
    });
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT);
    const n = this.pages.length + 1;
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      const text = m.text();
      if (this.serverDown && NETWORK_ERROR.test(text)) return;
      if (this.allowConsole.some((re) => re.test(text))) return;
      this.consoleErrors.push(`page ${n}: ${text} (${m.location()?.url || '?'})`);
    });
    page.on('pageerror', (e) => this.pageErrors.push(`page ${n}: ${e.stack || e.message}`));
    page.on('request', (r) => this.urls.push(r.url()));
    page.on('websocket', (ws) => this.urls.push(ws.url()));
    this.pages.push(page);
    return page;
  }

  /** URLs requested that do not go to the server's own origin (data:/blob:/about: are not requests to a host). */
  foreignUrls() {
    const own = new Set([this.origin, this.origin?.replace(/^http/, 'ws')]);
    return this.urls.filter((u) => {
      if (/^(data|blob|about):/.test(u)) return false;
      try {
        const x = new URL(u);
        return x.hostname !== '127.0.0.1' || !own.has(x.origin);
      } catch {
        return true;
      }
    });
  }

  problems() {
    const p = [];
    for (const e of this.pageErrors) p.push('uncaught error in the page: ' + e);
    for (const e of this.csp) p.push('CSP violation: ' + e);
    for (const e of this.consoleErrors) p.push('console error: ' + e);
    for (const u of [...new Set(this.foreignUrls())]) p.push('request to another host: ' + u);
    return p;
  }

  /** Saves a screenshot of each open page to results/ (after a failure). */
  async failShots() {
    fs.mkdirSync(RESULTS, { recursive: true });
    const slug = this.name.replace(/[^\w]+/g, '-').slice(0, 60);
    const saved = [];
    for (const [i, page] of this.pages.entries()) {
      const file = path.join(RESULTS, `${slug}-${i + 1}.png`);
      try {
        await page.screenshot({ path: file, timeout: 5000 });
        saved.push(path.relative(REPO, file));
      } catch { /* page gone */ }
    }
    return saved;
  }

  /**
   * Closes the pages, then stops the servers (SIGTERM; SIGKILL after 5 s, which the
   * tests report but do not fail on). Resolves to notes about slow or unclean exits.
   */
  async close() {
    for (const c of this.contexts) await c.close().catch(() => {});
    const notes = [];
    for (const s of this.servers) {
      const t0 = Date.now();
      try {
        const e = await s.stop(5000);
        const ms = Date.now() - t0;
        if (ms > 3000 || e.code !== 0) notes.push(`rowcast exited (code ${e.code}, signal ${e.signal}) ${ms} ms after SIGTERM`);
      } catch (e) {
        notes.push(e.message + '; killed');
      }
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
    return notes;
  }
}

/* ---------- Firefox (firefox.test.mjs) ---------- */

// Debian's firefox-esr, driven over WebDriver BiDi by puppeteer-core (playwright-core
// cannot drive a stock Firefox). puppeteer-core is imported only when Firefox is
// launched, so the Chromium suite does not load it.
export const FIREFOX = '/usr/bin/firefox-esr';

/**
 * Preferences (on top of puppeteer's and Firefox's own remote-agent defaults) that
 * stop background traffic: the machine has no internet, and the test must not
 * depend on it or wait for it.
 */
export const FIREFOX_PREFS = {
  // updates (Firefox, add-ons, search engines, plugins, system add-ons)
  'app.update.auto': false,
  'app.update.disabledForTesting': true,
  'app.update.staging.enabled': false,
  'app.update.checkInstallTime': false,
  'extensions.update.enabled': false,
  'extensions.systemAddon.update.enabled': false,
  'extensions.getAddons.cache.enabled': false,
  'extensions.blocklist.enabled': false,
  'browser.search.update': false,
  'media.gmp-manager.updateEnabled': false,
  'media.gmp-gmpopenh264.enabled': false,
  // telemetry, studies, experiments, pings
  'toolkit.telemetry.enabled': false,
  'toolkit.telemetry.unified': false,
  'toolkit.telemetry.server': '',
  'toolkit.telemetry.archive.enabled': false,
  'toolkit.telemetry.newProfilePing.enabled': false,
  'toolkit.telemetry.shutdownPingSender.enabled': false,
  'toolkit.telemetry.firstShutdownPing.enabled': false,
  'toolkit.telemetry.updatePing.enabled': false,
  'toolkit.telemetry.bhrPing.enabled': false,
  'datareporting.healthreport.uploadEnabled': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'app.shield.optoutstudies.enabled': false,
  'app.normandy.enabled': false,
  'app.normandy.api_url': '',
  'messaging-system.rsexperimentloader.enabled': false,
  'browser.ping-centre.telemetry': false,
  'browser.newtabpage.activity-stream.telemetry': false,
  'browser.newtabpage.activity-stream.feeds.telemetry': false,
  'browser.newtabpage.activity-stream.feeds.section.topstories': false,
  'browser.newtabpage.activity-stream.feeds.topsites': false,
  'browser.topsites.contile.enabled': false,
  'browser.discovery.enabled': false,
  // captive portal and connectivity checks
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'captivedetect.canonicalURL': '',
  // safe browsing
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'browser.safebrowsing.downloads.enabled': false,
  'browser.safebrowsing.downloads.remote.enabled': false,
  'browser.safebrowsing.blockedURIs.enabled': false,
  'browser.safebrowsing.passwords.enabled': false,
  'browser.safebrowsing.provider.google4.updateURL': '',
  'browser.safebrowsing.provider.google.updateURL': '',
  'browser.safebrowsing.provider.mozilla.updateURL': '',
  // other background connections: push, remote settings, certificate revocation,
  // DNS over HTTPS, region and geolocation, prefetching, accounts, ML and translation models
  'dom.push.connection.enabled': false,
  // (release builds honour this only when MOZ_DISABLE_NONLOCAL_CONNECTIONS=1, set by launchFirefox;
  // with it, remote settings skip all remote activity)
  'services.settings.server': 'data:,#remote-settings-dummy/v1',
  'security.remote_settings.crlite_filters.enabled': false,
  'security.remote_settings.intermediates.enabled': false,
  'security.OCSP.enabled': 0,
  'network.trr.mode': 5,
  'browser.region.network.url': '',
  'browser.region.update.enabled': false,
  'geo.provider.network.url': '',
  'network.dns.disablePrefetch': true,
  'network.prefetch-next': false,
  'network.predictor.enabled': false,
  'network.http.speculative-parallel-limit': 0,
  'identity.fxaccounts.enabled': false,
  'browser.ml.enable': false,
  'browser.translations.enable': false,
};

/**
 * Launches /usr/bin/firefox-esr headless over WebDriver BiDi with a fresh temporary
 * profile (puppeteer creates it and removes it on close) and FIREFOX_PREFS.
 * MOZ_DISABLE_NONLOCAL_CONNECTIONS=1 (Firefox's own test-harness switch) makes Firefox
 * refuse any connection to a host other than the local machine.
 */
export async function launchFirefox() {
  const { default: puppeteer } = await import('puppeteer-core');
  return puppeteer.launch({
    browser: 'firefox',
    protocol: 'webDriverBiDi',
    executablePath: FIREFOX,
    headless: true,
    timeout: 4 * WAIT, /* Firefox's first session on a busy 2-core machine took over 20 s */
    protocolTimeout: 4 * WAIT,
    extraPrefsFirefox: FIREFOX_PREFS,
    env: { ...process.env, MOZ_DISABLE_NONLOCAL_CONNECTIONS: '1', MOZ_CRASHREPORTER_DISABLE: '1' },
  });
}

/**
 * A Rig whose pages are Firefox tabs (puppeteer over BiDi), each in its own
 * browser context and watched the same way: console errors, uncaught errors, CSP
 * violations, and every URL requested (through the BiDi network events, which
 * show a WebSocket only as the http: URL of its handshake, and the ws: URL of
 * every WebSocket the page constructs, recorded in the page).
 */
export class FirefoxRig extends Rig {
  async page(viewport = DESKTOP) {
    const context = await this.browser.createBrowserContext();
    this.contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT);
    page.setDefaultNavigationTimeout(WAIT);
    await page.setViewport(viewport);
    await page.exposeFunction('__rowcastE2eCsp', (v) => { this.csp.push(v); });
    await page.exposeFunction('__rowcastE2eWs', (u) => { this.urls.push(u); });
    await page.evaluateOnNewDocument(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        try {
          window.__rowcastE2eCsp(`${e.violatedDirective} blocked ${e.blockedURI || 'inline code'} (${e.sourceFile || '?'}:${e.lineNumber || '?'})`);
        } catch { /* binding gone */ }
      }, true);
      const WS = window.WebSocket;
      window.WebSocket = new Proxy(WS, {
        construct(target, args, newTarget) {
          try { window.__rowcastE2eWs(String(new URL(args[0], location.href))); } catch { /* binding gone */ }
          return Reflect.construct(target, args, newTarget);
        },
      });
    });
    const n = this.pages.length + 1;
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      const text = m.text();
      if (this.allowConsole.some((re) => re.test(text))) return;
      this.consoleErrors.push(`page ${n}: ${text} (${m.location()?.url || '?'})`);
    });
    page.on('pageerror', (e) => this.pageErrors.push(`page ${n}: ${e?.stack || e?.message || e}`));
    page.on('request', (r) => this.urls.push(r.url()));
    this.pages.push(page);
    return page;
  }
}
