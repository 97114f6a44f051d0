// The comparison view (#/compare/TABLE): one table followed four ways at
// once, AJAX short polling, long polling, Server-Sent Events and WebSocket push, each pane with
// its changes, delays, requests and bytes; a write generator makes the
// difference show within seconds. What is measured and what is estimated is
// described in wire.js and on the page.

import { h, fill } from './dom.js';
import { request, tablePath } from './api.js';
import { createFeed, Stats, SSE_BEAT, SSE_BEAT_S } from './live.js';
import { nowMs, requestBytes, utf8 } from './wire.js';
import { affinity, display, toInput } from './values.js';

const RECENT = 6;
const RATES = [1, 5, 20, 50];
const MAX_RATE = 200;
const MAX_IN_FLIGHT = 3;
const LONG_WAIT_S = 25;
const PING_S = 20; // rowcast's WebSocket keep-alive ping (websocket_timeout_ms)

const PANES = [
  { id: 'short', mode: 'short', title: 'AJAX short polling',
    how: (iv) => `GET /api/changes?since=… every ${secs(iv)}: asks whether anything changed, whether or not it did.`,
    order: ['table', 'since', 'limit'] },
  { id: 'long', mode: 'long', title: 'Long polling',
    how: () => `GET /api/changes?since=…&wait=${LONG_WAIT_S}: the server holds the request until a change commits (or ${LONG_WAIT_S} s pass); then the page asks again.`,
    order: ['table', 'limit', 'since', 'wait'] },
  { id: 'sse', mode: 'sse', title: 'Server-Sent Events',
    how: () => 'One EventSource on /api/events?table=…&since=…: a plain HTTP answer that stays open; the server writes each change into it as it commits.' },
  { id: 'push', mode: 'ws', title: 'WebSocket push',
    how: () => 'One socket to /api/live?table=…&since=…; the server sends each change the moment it commits.' },
];

const secs = (ms) => (ms % 1000 ? (ms / 1000).toFixed(1) : String(ms / 1000)) + ' s';
const ms = (v) => (v === null ? '–' : `${Math.round(v)} ms`);
const kib = (n) => (n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(2)} MiB`);

/** Runs fn in the next frame, after the DOM update is painted; at once when the page is hidden (no frames). */
const nextFrame = (fn) => (document.hidden ? setTimeout(fn, 0) : requestAnimationFrame(fn));

class Pane {
  constructor(def, view) {
    this.def = def;
    this.view = view;
    this.stats = new Stats();
    this.feed = null;
    this.pending = [];
    this.framed = false;
    const id = 'pane-' + def.id;
    const fig = (stat, label, extra) => h('div', { class: 'fig fig-' + stat },
      h('dt', null, label), h('dd', null, h('span', { 'data-stat': stat }, '0'), extra || null));
    this.state = h('span', { class: 'pill' }, 'connecting…');
    this.how = h('p', { class: 'how' }, def.how(view.interval));
    this.split = h('span', { class: 'split' });
    this.idleNote = h('span', { class: 'split' });
    this.bars = { delay: h('span', { class: 'fill' }), bytes: h('span', { class: 'fill' }) };
    this.list = h('ol', { class: 'recent', 'aria-label': 'Latest changes this pane received' });
    this.root = h('section', { class: 'pane pane-' + def.id, 'data-testid': id, 'aria-labelledby': id + '-title' },
      h('div', { class: 'pane-head' }, h('h3', { id: id + '-title' }, def.title), this.state),
      this.how,
      h('dl', { class: 'figures' },
        fig('changes', 'Changes seen'),
        h('div', { class: 'fig fig-delays' }, h('dt', null, 'Delay from commit to screen'),
          h('dd', null,
            h('span', { class: 'dl' }, h('span', { class: 'k' }, 'last '), h('span', { 'data-stat': 'delay-last' }, '–')),
            h('span', { class: 'dl' }, h('span', { class: 'k' }, 'median '), h('span', { 'data-stat': 'delay-median' }, '–')),
            h('span', { class: 'dl' }, h('span', { class: 'k' }, 'p95 '), h('span', { 'data-stat': 'delay-p95' }, '–')),
            h('span', { class: 'bar', 'aria-hidden': 'true' }, this.bars.delay))),
        fig('requests', def.mode === 'ws' ? 'Requests made (handshakes)' : def.mode === 'sse' ? 'Requests made (streams opened)' : 'Requests made',
          this.reqNote = h('span', { class: 'split' })),
        h('div', { class: 'fig fig-bytes' }, h('dt', null, 'Bytes on the wire, both ways'),
          h('dd', null, h('span', { 'data-stat': 'bytes' }, '0'), ' bytes ', this.split,
            h('span', { class: 'bar', 'aria-hidden': 'true' }, this.bars.bytes))),
        h('div', { class: 'fig fig-idle' }, h('dt', null, 'Idle cost (nothing changing)'),
          h('dd', null, h('span', { 'data-stat': 'idle' }, '–'), ' ', this.idleNote))),
      h('h4', { class: 'recent-title' }, 'Latest changes'),
      this.list);
    this.stat = {};
    for (const el of this.root.querySelectorAll('[data-stat]')) this.stat[el.dataset.stat] = el;
  }

  start(table, since) {
    this.stop();
    this.feed = createFeed(this.def.mode, {
      onState: (s, d) => this.showState(s, d),
      onChange: (ch) => this.change(ch),
      onResync: () => this.note('resync: the server no longer had every change; continuing from its last seq'),
    }, { interval: this.view.interval, order: this.def.order, urlSub: true });
    this.feed.stats = this.stats;
    this.feed.watch(table, since, '');
    this.feed.start();
  }

  stop() {
    this.feed?.stop();
    this.feed = null;
    this.pending = [];
  }

  reset() {
    this.stats = new Stats();
    if (this.feed) this.feed.stats = this.stats;
    this.pending = [];
    this.list.replaceChildren();
  }

  setInterval(iv) {
    if (this.def.mode === 'short') this.feed?.setInterval(iv);
    this.how.textContent = this.def.how(iv);
  }

  showState(s, d) {
    const text = s === 'reconnecting' && d ? `reconnecting in ${d} s…` : s === 'connecting' ? 'connecting…' : s;
    this.state.textContent = text;
    this.state.className = 'pill ' + (s === 'live' ? 'ok' : s === 'off' ? '' : s === 'unavailable' ? 'bad' : 'warn');
  }

  change(ch) {
    this.view.ctx.seq?.(ch.seq); // the header's seq follows every change at once
    this.pending.push(ch);
    if (this.framed) return;
    this.framed = true;
    nextFrame(() => this.frame());
  }

  /** Puts the changes that arrived since the last frame on screen, then records their delays. */
  frame() {
    this.framed = false;
    const batch = this.pending;
    this.pending = [];
    if (!batch.length) return;
    const t = this.view.t;
    const items = batch.slice(-RECENT).reverse().map((ch) => {
      const row = ch.row || ch.old || {};
      const cols = (t?.columns || []).filter((c) => !c.key).slice(0, 2);
      const vals = cols.map((c) => display(row[c.name], c).text).join(' · ');
      return h('li', { class: 'new op-' + ch.op },
        h('span', { class: 'seq' }, '#' + ch.seq), ' ',
        h('span', { class: 'op' }, ch.op), ' ',
        h('span', { class: 'key' }, toInput(ch.key)), vals ? h('span', { class: 'vals' }, ' ' + vals) : null);
    });
    this.list.prepend(...items);
    while (this.list.children.length > RECENT) this.list.lastElementChild.remove();
    const now = nowMs();
    const stats = this.stats;
    for (const ch of batch) if (typeof ch.ts === 'number') stats.delay(now - ch.ts);
  }

  note(text) {
    this.list.prepend(h('li', { class: 'note' }, text));
    while (this.list.children.length > RECENT) this.list.lastElementChild.remove();
  }

  /** Bytes per minute this transport costs while nothing changes, and how that was worked out. */
  idle() {
    if (this.def.mode === 'sse') {
      const beat = utf8(SSE_BEAT);
      return [Math.round((60 / SSE_BEAT_S) * beat), `a ${SSE_BEAT_S} s keep-alive comment line (${beat} bytes); no requests`];
    }
    if (this.def.mode === 'ws') {
      return [Math.round((60 / PING_S) * (2 + 6)), `a ${PING_S} s keep-alive ping (2 bytes) and pong (6); no requests`];
    }
    const per = this.stats.emptyCost || this.view.emptyCost() || this.view.emptyEstimate();
    const perMin = this.def.mode === 'short' ? 60000 / this.view.interval : 60 / LONG_WAIT_S;
    const what = this.def.mode === 'short' ? `one every ${secs(this.view.interval)}` : `one every ${LONG_WAIT_S} s`;
    return [Math.round(per * perMin), `${per} bytes per empty poll, ${what}`];
  }

  render(maxDelay, maxBytes) {
    const s = this.stats;
    const sum = s.summary();
    const bytes = s.bytesIn + s.bytesOut;
    this.stat.changes.textContent = String(s.changes);
    this.stat['delay-last'].textContent = ms(sum.last);
    this.stat['delay-median'].textContent = ms(sum.median);
    this.stat['delay-p95'].textContent = ms(sum.p95);
    this.stat.requests.textContent = String(s.requests);
    if (this.def.mode === 'ws' || this.def.mode === 'sse') {
      this.reqNote.textContent = this.feed?.state === 'live' ? (this.def.mode === 'ws' ? 'the socket stays open' : 'the stream stays open') : '';
    } else if (s.measured + s.counted) {
      // "N of M" never breaks inside; the note wraps at its spaces only
      const text = `${s.measured} of ${s.measured + s.counted}`;
      if (this.reqNote.dataset.text !== text) {
        this.reqNote.dataset.text = text;
        fill(this.reqNote, 'bodies measured: ', h('span', { class: 'nowrap', 'data-stat': 'measured' }, text));
      }
    } else {
      this.reqNote.textContent = '';
      delete this.reqNote.dataset.text;
    }
    this.stat.bytes.textContent = String(bytes);
    this.split.textContent = `(↓ ${kib(s.bytesIn)} in, ↑ ${kib(s.bytesOut)} out` +
      (s.changes ? `; ${Math.round(bytes / s.changes)} per change)` : ')');
    const [idle, how] = this.idle();
    this.stat.idle.textContent = `${idle} bytes/min`;
    this.idleNote.textContent = `(${how})`;
    this.bars.delay.style.width = maxDelay > 0 && sum.median !== null ? `${Math.max(1, 100 * Math.max(0, sum.median) / maxDelay)}%` : '0';
    this.bars.bytes.style.width = maxBytes > 0 ? `${Math.max(1, 100 * bytes / maxBytes)}%` : '0';
  }
}

/* ---------- the write generator ---------- */

const rnd = (n) => Math.floor(Math.random() * n);
const tag = () => Date.now().toString(36) + rnd(1296).toString(36).padStart(2, '0');

/** The table a column named like "sensor_id" probably refers to (no foreign keys in /api/tables). */
function referenced(col, tables) {
  const m = /^(.+?)_?id$/i.exec(col.name);
  if (!m || col.key) return null;
  const base = m[1].toLowerCase();
  const names = [base, base + 's', base + 'es', base.replace(/y$/, 'ies')];
  return tables.find((t) => names.includes(t.name.toLowerCase()) && typeof t.key === 'string') || null;
}

/**
 * A plan for generated rows of table t: {make(n) -> row, about}. Fills the
 * NOT NULL columns that have no default: a column like x_id takes a key of
 * table x (or xs), times for *_at/date/time columns, numbers and text for the
 * rest. Throws an Error saying why when the table cannot take generated rows.
 */
async function planRows(t, tables) {
  if (Array.isArray(t.key)) throw new Error(`${t.name} has a composite key; rowcast exposes such tables read-only. Pick another table.`);
  if (!t.writable) throw new Error(`${t.name} is read-only here (rowcast runs with --read-only), so the page cannot write to it.`);
  const fills = [];
  for (const c of t.columns) {
    const aff = affinity(c.type);
    const hasDefault = c.default !== null && c.default !== undefined;
    if (c.key && aff === 'INTEGER') continue; // the rowid: SQLite picks it
    if (!c.key && (hasDefault || !c.notnull)) continue;
    const ref = referenced(c, tables);
    if (ref) {
      const { data } = await request('GET', tablePath(ref.name) + '/rows?select=' + encodeURIComponent(ref.key) + '&limit=100');
      const keys = (data.rows || []).map((r) => r[ref.key]).filter((k) => k !== null && k !== undefined);
      if (!keys.length) throw new Error(`${t.name}.${c.name} refers to ${ref.name}, which has no rows: add one there first.`);
      fills.push([c.name, () => keys[rnd(keys.length)]]);
      continue;
    }
    const timeish = /(_at|date|time|ts)$/i.test(c.name);
    if (aff === 'INTEGER') fills.push([c.name, timeish ? () => Date.now() : (n) => (c.key ? Date.now() * 1000 + (n % 1000) : 1 + rnd(100))]);
    else if (aff === 'REAL' || aff === 'NUMERIC') fills.push([c.name, () => Math.round(Math.random() * 10000) / 100]);
    else if (aff === 'BLOB' && c.type) fills.push([c.name, () => ({ $base64: btoa(String.fromCharCode(rnd(256), rnd(256), rnd(256))) })]);
    else fills.push([c.name, timeish ? () => new Date().toISOString() : (n) => `generated ${n} ${tag()}`]);
  }
  const about = fills.length ? 'fills ' + fills.map(([n]) => n).join(', ') : 'every column has a default';
  return { about, make: (n) => Object.fromEntries(fills.map(([name, f]) => [name, f(n)])) };
}

class Generator {
  constructor(view) {
    this.view = view;
    this.running = false;
    this.count = 0;
    this.failed = 0;
    this.inFlight = 0;
    this.timer = 0;
    this.run = 0;
  }

  async start(rate) {
    const v = this.view;
    const t = v.t;
    const run = ++this.run;
    this.running = true;
    v.showGen();
    v.genMessage('');
    try {
      this.plan = await planRows(t, v.ctx.tables());
      if (run !== this.run) return;
      // The first write may ask for the token; the rest go out at the rate.
      await this.write(t, run, false);
    } catch (err) {
      if (run === this.run) this.fail(err, true);
      return;
    }
    if (run !== this.run) return;
    v.genMessage(`Writing to ${t.name} (${this.plan.about}).`, 'info');
    this.setRate(rate);
  }

  setRate(rate) {
    this.rate = rate;
    this.t0 = performance.now();
    this.base = this.started = 0;
    if (this.running) this.tick(this.run);
  }

  tick(run) {
    clearTimeout(this.timer);
    if (!this.running || run !== this.run) return;
    const due = Math.floor(((performance.now() - this.t0) / 1000) * this.rate) + 1;
    while (this.started < due && this.inFlight < MAX_IN_FLIGHT) {
      this.started++;
      this.write(this.view.t, run, true).catch((err) => { if (run === this.run) this.fail(err); });
    }
    // The server cannot keep up with the rate: do not pile up writes.
    if (this.started < due - this.rate) this.t0 += 1000;
    this.timer = setTimeout(() => this.tick(run), Math.max(10, Math.min(100, 1000 / this.rate / 2)));
  }

  async write(t, run, quiet) {
    this.inFlight++;
    try {
      await this.view.ctx.write('POST', tablePath(t.name) + '/rows', this.plan.make(this.count + this.inFlight), quiet);
      this.count++;
      this.view.showGen();
    } finally {
      this.inFlight--;
    }
  }

  fail(err, first) {
    this.failed++;
    const why = this.view.ctx.explain(err);
    // One failed write at speed (e.g. a UNIQUE clash) does not stop the run; a refusal does.
    if (!first && this.failed < 5 && err.status === 409) return;
    this.stop();
    this.view.genMessage(first && err.status >= 400 && err.status !== 401
      ? `${this.view.t.name} cannot take generated rows: ${why}` : first && !err.status ? err.message : 'The generator stopped. ' + why);
  }

  stop() {
    this.run++;
    this.running = false;
    clearTimeout(this.timer);
    this.view.showGen();
  }

  reset() {
    this.count = 0;
    this.failed = 0;
    this.view.showGen();
  }
}

/* ---------- the view ---------- */

export class Compare {
  /** ctx: tables(), write(method, path, body, quiet), notice(text), explain(err), pick(tableName), seq(n). */
  constructor(root, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.t = null;
    this.table = null;
    this.interval = 1000;
    this.runId = 0;
    this.ticker = 0;
    this.gen = new Generator(this);
    this.panes = PANES.map((d) => new Pane(d, this));
    this.build();
  }

  build() {
    this.select = h('select', { id: 'cmp-table', onchange: () => this.ctx.pick(this.select.value) });
    this.rate = h('input', { id: 'gen-rate', 'data-testid': 'gen-rate', type: 'number', min: 1, max: MAX_RATE, step: 1, value: '5',
      inputmode: 'numeric', list: 'gen-rates', oninput: () => this.rateChanged() });
    this.toggle = h('button', { type: 'button', class: 'primary', 'data-testid': 'gen-toggle', 'aria-pressed': 'false',
      onclick: () => this.toggleGen() }, 'Start writing');
    this.count = h('span', { 'data-testid': 'gen-count' }, '0');
    this.genMsg = h('p', { class: 'gen-msg', hidden: true });
    this.poll = h('input', { id: 'poll-interval', 'data-testid': 'poll-interval', type: 'number', min: 100, max: 60000, step: 100,
      value: String(this.interval), inputmode: 'numeric', oninput: () => this.intervalChanged() });
    const presets = RATES.map((r) => h('button', { type: 'button', class: 'preset', 'aria-label': `${r} writes per second`,
      onclick: () => { this.rate.value = String(r); this.rateChanged(); } }, String(r)));
    fill(this.root,
      h('div', { class: 'view-head' },
        h('h2', { tabindex: '-1' }, 'Polling versus push'),
        h('p', { class: 'muted' }, 'The same table followed four ways at once. Make some writes and watch how late each one learns about them, and what it pays for that.')),
      h('div', { class: 'cmp-controls panel' },
        h('div', { class: 'ctl' }, h('label', { for: 'cmp-table' }, 'Table'), this.select),
        h('div', { class: 'ctl gen', role: 'group', 'aria-labelledby': 'gen-title' },
          h('span', { id: 'gen-title', class: 'ctl-title' }, 'Generate writes'),
          h('div', { class: 'gen-row' },
            h('label', { for: 'gen-rate', class: 'sr' }, 'Writes per second'),
            this.rate, h('span', { class: 'unit', 'aria-hidden': 'true' }, 'per second'),
            h('span', { class: 'presets' }, presets),
            h('datalist', { id: 'gen-rates' }, RATES.map((r) => h('option', { value: String(r) }))),
            this.toggle,
            h('span', { class: 'gen-count' }, this.count, ' written'))),
        h('div', { class: 'ctl' }, h('label', { for: 'poll-interval' }, 'Short-poll interval (ms)'), this.poll),
        h('div', { class: 'ctl ctl-reset' }, h('button', { type: 'button', 'data-testid': 'compare-reset', onclick: () => this.reset() }, 'Reset figures'))),
      this.genMsg,
      h('div', { class: 'panes' }, this.panes.map((p) => p.root)),
      this.explainer());
  }

  explainer() {
    const p = (...c) => h('p', null, ...c);
    return h('div', { class: 'explains' }, h('section', { class: 'explain panel', 'aria-labelledby': 'explain-title' },
      h('h3', { id: 'explain-title' }, 'What the numbers mean'),
      p(h('strong', null, 'Delay'), ' runs from the commit (the ', h('code', null, 'ts'), ' the server stamps on each change in the writing transaction) to the frame in which the pane shows the change. It compares the server’s clock with this browser’s: on one machine they agree; across machines any clock difference adds the same offset to all three panes.'),
      p(h('strong', null, 'Short polling'), ' pays a whole request and response, headers included, every interval even when nothing changed, and a change waits for the next poll: on average half an interval, at worst a whole one.'),
      p(h('strong', null, 'Long polling'), ' answers as soon as a change commits, so its delay is close to push, but each answer is followed by a new request with all its headers again; while nothing changes it costs one round trip per wait.'),
      p(h('strong', null, 'Server-Sent Events'), ' pay once, for one request whose answer never ends, and then only the changes, each as a small text record (', h('code', null, 'id:'), ', ', h('code', null, 'event:'), ', ', h('code', null, 'data:'), ' lines) of a few dozen bytes; a dropped stream is reopened from the last seq.'),
      p(h('strong', null, 'Push'), ' pays once, for the WebSocket handshake, and then sends only the changes, each with a frame header of a few bytes.'),
      p('At a high write rate short polling brings many changes per answer, so its bytes per change fall towards push’s; it pays in delay instead. While nothing changes, compare the idle cost.')),
    h('section', { class: 'explain panel', 'aria-labelledby': 'measure-title' },
      h('h3', { id: 'measure-title' }, 'Measured, counted or estimated'),
      h('ul', null,
        h('li', null, 'HTTP response bodies: measured with Resource Timing (', h('code', null, 'encodedBodySize'), '); counted from the text when the browser does not report it.'),
        h('li', null, 'HTTP response status lines and headers: counted from the response as the browser exposes it (Resource Timing’s ', h('code', null, 'transferSize'), ' is no help: browsers report the body plus a fixed 300 bytes).'),
        h('li', null, 'HTTP requests: estimated — Resource Timing has no request sizes, so the request line and the headers this browser sends (Host, User-Agent, Accept, client hints, languages…) are added up.'),
        h('li', null, 'WebSocket: every message is counted with its frame header (2–14 bytes; the browser’s frames are masked, 4 more); the handshake is estimated the same way as a request. The keep-alive ping and pong are not visible to the page: the idle figure assumes one every ' + PING_S + ' s.'),
        h('li', null, 'Server-Sent Events: each record is counted as the server writes it; the response head is counted once per stream, and the request estimated as above. EventSource hides the keep-alive comment lines: the idle figure assumes one every ' + SSE_BEAT_S + ' s.'),
        h('li', null, 'Not included anywhere: TCP/IP and TLS overhead, and the writes the generator makes (they are the same for all four).'))));
  }

  /** Shows table t (a new run when the table changed or the view was hidden). */
  show(t) {
    fill(this.select, this.ctx.tables().map((x) => h('option', { value: x.name }, x.name)));
    this.select.value = t.name;
    if (this.table === t.name && this.ticker) return;
    this.stop();
    this.t = t;
    this.table = t.name;
    this.start();
  }

  hide() { this.stop(); }

  async start() {
    const id = ++this.runId;
    const t = this.t;
    this.panes.forEach((p) => { p.reset(); p.showState('connecting'); });
    this.gen.reset();
    let since;
    try {
      since = (await request('GET', tablePath(t.name) + '/rows?limit=0')).data.seq;
    } catch (err) {
      if (id === this.runId) this.genMessage('Could not start: ' + this.ctx.explain(err));
      return;
    }
    if (id !== this.runId) return;
    // All four start at the same seq, so they see exactly the same changes.
    this.panes.forEach((p) => p.start(t.name, since));
    this.ticker = setInterval(() => this.render(), 250);
    this.render();
  }

  stop() {
    this.runId++;
    clearInterval(this.ticker);
    this.ticker = 0;
    this.gen.stop();
    this.panes.forEach((p) => p.stop());
  }

  reset() {
    this.panes.forEach((p) => p.reset());
    this.gen.reset();
    this.render();
  }

  render() {
    let maxDelay = 0, maxBytes = 0;
    for (const p of this.panes) {
      maxDelay = Math.max(maxDelay, p.stats.summary().median || 0);
      maxBytes = Math.max(maxBytes, p.stats.bytesIn + p.stats.bytesOut);
    }
    this.panes.forEach((p) => p.render(maxDelay, maxBytes));
  }

  /** Bytes of an empty poll seen by either polling pane, or 0. */
  emptyCost() {
    return this.panes.reduce((n, p) => n || p.stats.emptyCost, 0);
  }

  /** An estimate of an empty poll before one was seen: the request, rowcast's usual head and an empty body. */
  emptyEstimate() {
    const url = `/api/changes?table=${encodeURIComponent(this.table || '')}&since=1000&limit=500`;
    return requestBytes('GET', url, { Accept: 'application/json' }) + 170 + 44;
  }

  rateValue() {
    const r = Math.round(Number(this.rate.value));
    return Number.isFinite(r) && r >= 1 ? Math.min(r, MAX_RATE) : null;
  }

  rateChanged() {
    const r = this.rateValue();
    this.rate.setAttribute('aria-invalid', String(r === null));
    if (r !== null && this.gen.running && this.gen.plan) this.gen.setRate(r);
  }

  intervalChanged() {
    const v = Math.round(Number(this.poll.value));
    const ok = Number.isFinite(v) && v >= 100 && v <= 60000;
    this.poll.setAttribute('aria-invalid', String(!ok));
    if (!ok) return;
    this.interval = v;
    this.panes.forEach((p) => p.setInterval(v));
  }

  toggleGen() {
    if (this.gen.running) {
      this.gen.stop();
      this.genMessage('');
      return;
    }
    const r = this.rateValue();
    if (r === null) {
      this.genMessage(`Enter a rate from 1 to ${MAX_RATE} writes per second.`);
      this.rate.focus();
      return;
    }
    this.gen.start(r);
  }

  showGen() {
    const on = this.gen.running;
    this.toggle.textContent = on ? 'Stop writing' : 'Start writing';
    this.toggle.setAttribute('aria-pressed', String(on));
    this.toggle.classList.toggle('danger', on);
    this.toggle.classList.toggle('primary', !on);
    this.count.textContent = String(this.gen.count);
  }

  genMessage(text, kind = 'error') {
    this.genMsg.textContent = text;
    this.genMsg.hidden = !text;
    this.genMsg.className = 'gen-msg ' + kind;
    this.genMsg.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  }
}
