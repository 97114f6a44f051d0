// Live changes over WebSocket push (/api/live), Server-Sent Events
// (/api/events, the browser's EventSource) or long/short polling
// (/api/changes), behind one interface: watch(table, since, where) after each
// snapshot; each change is handed on once, in seq order; drops reconnect with
// backoff and resume from the last seq; Stats counts requests, bytes (see
// wire.js for what is measured and what estimated) and delays.
// The signed-in user's token goes as ?token= on the WebSocket and EventSource
// URLs (they cannot carry headers) and as Authorization on the polls.
// handlers: onState(connecting|live|reconnecting (detail: s to next try, 0 when
// waiting for kick)|unavailable|expired (the server closed the socket with 4001:
// the token expired; no retry until start() again)|off, detail), onHello(msg),
// onChange(change), onResync(msg), onError(err), serverDown() (true: wait for
// kick, retry slowly).

import { parse, stringify } from './json.js';
import { qs, authHeaders, withToken, tokenRefused, ApiError } from './api.js';
import { utf8, frameBytes, requestBytes, handshakeBytes, responseHeadBytes, timingOf, watchTimings } from './wire.js';

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 10000];
const LONG_WAIT_S = 25;
const POLL_LIMIT = 500;
/** The close code of a socket whose token expired (API: closed with 4001 unless renewed). */
export const CLOSE_EXPIRED = 4001;

export const MODES = [['ws', 'WebSocket push'], ['sse', 'Server-Sent Events'], ['long', 'long polling'], ['short', 'short polling (1 s)'], ['off', 'off']];

// The head of rowcast's /api/events answer, as it sends it (EventSource shows
// the page none of it): counted once per stream.
const SSE_HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-store\r\n' +
  'X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\nX-Accel-Buffering: no\r\nConnection: close\r\n\r\n';
/** rowcast's SSE heartbeat: a comment line every SSE_BEAT_S (EventSource hides it). */
export const SSE_BEAT = ': keep-alive\n\n';
export const SSE_BEAT_S = 15;

/**
 * A feed for mode ws|long|short, or null for off. options.interval: ms between
 * short polls; options.order: the order of the poll's query parameters (so that
 * feeds running side by side never request the same URL); options.urlSub: a
 * socket subscribes in its URL (?table=&since=) instead of with a message.
 */
export function createFeed(mode, handlers, options = {}) {
  if (mode === 'ws') return new SocketFeed(handlers, options);
  if (mode === 'sse') return new EventFeed(handlers);
  if (mode === 'long') return new PollFeed(handlers, 0, LONG_WAIT_S, options);
  if (mode === 'short') return new PollFeed(handlers, options.interval || 1000, 0, options);
  return null;
}

/**
 * Per-transport counters. bytesIn/bytesOut: what crossed the wire, headers
 * included; emptyCost: bytes both ways of the last poll that brought nothing.
 */
export class Stats {
  constructor() {
    this.changes = 0;
    this.requests = 0;
    this.bytesIn = 0;
    this.bytesOut = 0;
    this.emptyCost = 0;
    this.measured = 0; // responses whose body size came from Resource Timing
    this.counted = 0; // responses whose body size was counted from the text
    this.delays = [];
  }

  /** Records the ms from commit (change.ts) to the change being on screen. */
  delay(ms) {
    this.delays.push(ms);
    if (this.delays.length > 1000) this.delays.shift();
  }

  /** {last, median, p95} of the recorded delays, or nulls. */
  summary() {
    const d = this.delays;
    if (!d.length) return { last: null, median: null, p95: null };
    const s = [...d].sort((a, b) => a - b);
    const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
    return { last: d[d.length - 1], median: at(0.5), p95: at(0.95) };
  }
}

class Feed {
  constructor(handlers) {
    this.h = handlers;
    this.stats = new Stats();
    this.sub = null;
    this.cursor = 0;
    this.stopped = true;
    this.everUp = false;
    this.attempt = 0;
    this.timer = 0;
    this.state = 'off';
  }

  setState(s, detail) {
    this.state = s;
    this.h.onState?.(s, detail);
  }

  deliver(ch) {
    if (!this.sub || ch.table !== this.sub.table || !(ch.seq > this.cursor)) return;
    this.cursor = ch.seq;
    this.stats.changes++;
    this.h.onChange?.(ch, this);
  }

  /** After a failure: retry with backoff if this ever worked, else stay unavailable until kick(). */
  retry() {
    clearTimeout(this.timer);
    if (this.stopped) return;
    if (!this.everUp) return this.setState('unavailable');
    // While the page knows the server is down it waits for kick() (a slow retry stays as a fallback).
    const down = !!this.h.serverDown?.();
    let ms = BACKOFF_MS[down ? BACKOFF_MS.length - 1 : Math.min(this.attempt++, BACKOFF_MS.length - 1)];
    ms += Math.random() * ms * 0.2;
    this.setState('reconnecting', down ? 0 : Math.ceil(ms / 1000));
    this.timer = setTimeout(() => this.connect(), ms);
  }

  /** Tries again now if the feed is waiting (e.g. the server came back). */
  kick() {
    if (this.stopped || (this.state !== 'unavailable' && this.state !== 'reconnecting')) return;
    clearTimeout(this.timer);
    this.attempt = 0;
    this.connect();
  }

  sameSub(table, where) { return this.sub && this.sub.table === table && this.sub.where === where; }

  /** Starts the feed: it connects once it has a subscription (the HTTP feeds; SocketFeed connects at once). */
  start() {
    this.stopped = false;
    this.setState('connecting');
    if (this.sub) this.connect();
  }

  /** Follows table (filtered by where) from since; a new subscription opens a new stream or poll. */
  watch(table, since, where = '') {
    if (this.sameSub(table, where)) return;
    this.sub = { table, where };
    this.cursor = since;
    if (!this.stopped) this.connect();
  }
}

class SocketFeed extends Feed {
  constructor(h, options) {
    super(h);
    this.kind = 'ws';
    this.ws = null;
    this.nextId = 1;
    this.urlSub = !!options.urlSub;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  connect() {
    if (this.stopped) return;
    const old = this.ws;
    this.ws = null;
    old?.close();
    this.setState(this.everUp ? 'reconnecting' : 'connecting');
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let path = '/api/live';
    const inUrl = this.urlSub && this.sub;
    if (inUrl) {
      const pairs = [['table', this.sub.table], ['since', this.cursor]];
      if (this.sub.where) pairs.push(['where', this.sub.where]);
      path += '?' + qs(pairs);
    }
    const url = withToken(path);
    const ws = new WebSocket(`${proto}//${location.host}${url}`);
    this.ws = ws;
    this.stats.requests++;
    const [hsOut, hsIn] = handshakeBytes(url);
    this.stats.bytesOut += hsOut;
    ws.onopen = () => {
      this.stats.bytesIn += hsIn;
      this.everUp = true;
      this.attempt = 0;
      this.setState('live');
      if (this.sub && !inUrl) this.subscribe();
    };
    ws.onmessage = (ev) => { if (this.ws === ws) this.message(ev.data); };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (ev.code === CLOSE_EXPIRED) {
        // The token expired: connecting again with it would only be closed again.
        clearTimeout(this.timer);
        this.stopped = true;
        this.setState('expired', ev.reason || 'token expired');
        return;
      }
      this.retry();
    };
  }

  get open() { return this.ws && this.ws.readyState === WebSocket.OPEN; }

  send(msg) {
    const text = stringify(msg);
    this.stats.bytesOut += frameBytes(utf8(text), true);
    this.ws.send(text);
  }

  subscribe() {
    this.subId = this.nextId++;
    const m = { type: 'subscribe', id: this.subId, table: this.sub.table, since: this.cursor };
    if (this.sub.where) m.where = this.sub.where;
    this.send(m);
  }

  /** Follows table (filtered by where, a REST filter string) from seq since. */
  watch(table, since, where = '') {
    if (this.sameSub(table, where)) return;
    if (this.sub && this.open) this.send({ type: 'unsubscribe', id: this.nextId++, table: this.sub.table });
    this.sub = { table, where };
    this.cursor = since;
    if (this.open) this.subscribe();
  }

  message(text) {
    this.stats.bytesIn += frameBytes(utf8(text), false);
    let m;
    try { m = parse(text); } catch { return; }
    switch (m.type) {
      case 'hello': this.h.onHello?.(m); break;
      case 'change': this.deliver(m); break;
      case 'resync':
        if (typeof m.last_seq === 'number') this.cursor = m.last_seq;
        this.h.onResync?.(m);
        break;
      case 'error': if (m.id === this.subId) this.h.onError?.(m.error || {}); break;
      default: break;
    }
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      if (ws.readyState === WebSocket.OPEN) this.stats.bytesOut += frameBytes(2, true);
      ws.close(1000);
    }
    this.setState('off');
  }
}

/**
 * Server-Sent Events: one EventSource on /api/events?table=&since=&where=.
 * A new subscription opens a new stream; a dropped one is reopened by retry()
 * from the last seq (rather than by EventSource's own reconnect, so that the
 * backoff and the "server down" wait are the same as the other feeds').
 */
class EventFeed extends Feed {
  constructor(h) {
    super(h);
    this.kind = 'sse';
    this.es = null;
  }

  connect() {
    this.close();
    clearTimeout(this.timer);
    if (this.stopped || !this.sub) return;
    if (this.everUp) this.setState('reconnecting');
    const pairs = [['table', this.sub.table], ['since', this.cursor]];
    if (this.sub.where) pairs.push(['where', this.sub.where]);
    const url = withToken('/api/events?' + qs(pairs));
    const es = new EventSource(url);
    this.es = es;
    this.stats.requests++;
    this.stats.bytesOut += requestBytes('GET', url, { Accept: 'text/event-stream', 'Cache-Control': 'no-cache' });
    es.onopen = () => {
      if (this.es !== es) return;
      this.stats.bytesIn += utf8(SSE_HEAD);
      this.everUp = true;
      this.attempt = 0;
      this.setState('live');
    };
    const record = (ev) => utf8(`id: ${ev.lastEventId}\nevent: ${ev.type}\ndata: ${ev.data}\n\n`);
    es.addEventListener('change', (ev) => {
      if (this.es !== es) return;
      this.stats.bytesIn += record(ev);
      let ch;
      try { ch = parse(ev.data); } catch { return; }
      this.deliver(ch);
    });
    es.addEventListener('resync', (ev) => {
      if (this.es !== es) return;
      this.stats.bytesIn += record(ev);
      let m;
      try { m = parse(ev.data); } catch { return; }
      if (typeof m.last_seq === 'number') this.cursor = m.last_seq;
      this.h.onResync?.(m);
    });
    es.onerror = () => {
      if (this.es !== es) return;
      this.close();
      this.retry();
    };
  }

  close() {
    const es = this.es;
    this.es = null;
    es?.close();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.close();
    this.setState('off');
  }
}

class PollFeed extends Feed {
  constructor(h, interval, wait, options) {
    super(h);
    this.kind = wait ? 'long' : 'short';
    this.interval = interval;
    this.wait = wait;
    this.order = options.order || ['since', 'table', 'limit', 'wait'];
    this.ctrl = null;
  }

  /** Changes the short-poll interval; a poll already scheduled moves to the new interval. */
  setInterval(ms) {
    this.interval = ms;
    if (this.kind === 'short' && this.timer && !this.stopped && this.state === 'live') {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.connect(), Math.max(0, this.lastPoll + ms - Date.now()));
    }
  }

  connect() {
    this.ctrl?.abort();
    clearTimeout(this.timer);
    this.timer = 0;
    if (!this.stopped && this.sub) this.poll();
  }

  async poll() {
    const ctrl = new AbortController();
    this.ctrl = ctrl;
    this.timer = 0;
    // The first poll after (re)connecting does not wait: it proves the feed works.
    const wait = this.state === 'live' ? this.wait : 0;
    const values = { since: this.cursor, table: this.sub.table, limit: POLL_LIMIT, wait };
    const pairs = this.order.filter((k) => k !== 'wait' || this.wait).map((k) => [k, values[k]]);
    const url = '/api/changes?' + qs(pairs);
    const headers = { Accept: 'application/json', ...authHeaders() };
    const began = Date.now();
    watchTimings();
    const t0 = performance.now();
    this.lastPoll = began;
    const stats = this.stats;
    stats.requests++;
    const out = requestBytes('GET', url, headers);
    stats.bytesOut += out;
    let res, text, m;
    try {
      res = await fetch(url, { cache: 'no-store', signal: ctrl.signal, headers });
      text = await res.text();
      m = res.ok ? parse(text) : null;
    } catch {
      m = null;
    }
    if (res && text !== undefined) this.count(stats, url, t0, res, text, out, !!(m && !m.resync && !m.changes?.length));
    if (ctrl !== this.ctrl || this.stopped) return;
    if (res?.status === 401 && headers.Authorization && headers.Authorization === authHeaders().Authorization) {
      let msg = 'token refused';
      try { msg = parse(text).error?.message || msg; } catch { /* not JSON */ }
      tokenRefused(new ApiError(401, 'unauthorized', msg));
    }
    if (!m || !Array.isArray(m.changes)) return this.retry();
    this.everUp = true;
    this.attempt = 0;
    if (this.state !== 'live') this.setState('live');
    if (m.resync) {
      if (typeof m.last_seq === 'number') this.cursor = m.last_seq;
      this.h.onResync?.({ last_seq: m.last_seq });
    } else {
      for (const ch of m.changes) this.deliver(ch);
      if (typeof m.last_seq === 'number' && m.last_seq > this.cursor) this.cursor = m.last_seq;
    }
    if (ctrl !== this.ctrl || this.stopped) return;
    // An empty long poll that came back at once: do not spin.
    const quick = wait && !m.changes.length && Date.now() - began < 500;
    // A full page means more are waiting: fetch them now.
    const full = m.changes.length >= POLL_LIMIT;
    const ms = this.wait || full ? (quick ? 1000 : 0) : Math.max(0, began + this.interval - Date.now());
    this.timer = setTimeout(() => this.connect(), ms);
  }

  /** Adds a response's bytes: head counted, body from Resource Timing when the browser gives it. */
  count(stats, url, t0, res, text, out, empty) {
    const head = responseHeadBytes(res);
    timingOf(url, t0, (e) => {
      let body;
      if (e && e.encodedBodySize > 0) {
        body = e.encodedBodySize;
        stats.measured++;
      } else {
        body = utf8(text);
        stats.counted++;
      }
      stats.bytesIn += head + body;
      if (empty) stats.emptyCost = head + body + out;
    });
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.ctrl?.abort();
    this.ctrl = null;
    this.setState('off');
  }
}
