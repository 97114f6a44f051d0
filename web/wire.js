// What crosses the wire, for the comparison view. Responses: the status line
// and headers are counted from the Response (same origin: the browser shows
// them all), the body is measured with Resource Timing (encodedBodySize) when
// the browser reports it. Requests: Resource Timing has no request sizes, so
// the request line and the headers a browser adds are estimated (they match,
// byte for byte, what Chromium 156 sends over HTTP/1.1). Chromium's
// transferSize is the body plus a fixed 300 bytes, so it is not used. WebSocket: every frame is counted
// (payload + 2–14 byte header; client frames are masked, +4), the handshake is
// estimated. TCP/IP and TLS overhead are not included anywhere.

const enc = new TextEncoder();

/** UTF-8 length of s. */
export const utf8 = (s) => {
  // ASCII is the common case and needs no encoding.
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 127) return enc.encode(s).length;
  return s.length;
};

/** Milliseconds since the Unix epoch with sub-millisecond resolution (compares to a change's ts). */
export const nowMs = () => performance.timeOrigin + performance.now();

/** Bytes of a WebSocket frame carrying n payload bytes; masked for frames the client sends. */
export const frameBytes = (n, masked) => n + (n < 126 ? 2 : n < 65536 ? 4 : 10) + (masked ? 4 : 0);

const line = (name, value) => name.length + 2 + String(value).length + 2;

let common = null;
let hints = 0;
/** Header bytes every request from this page carries (Host, User-Agent, languages...; fetches add client hints). */
function commonHeaders(withHints) {
  if (common !== null) return common + (withHints ? hints : 0);
  const langs = navigator.languages?.length ? navigator.languages : [navigator.language || 'en-US'];
  const al = langs.map((l, i) => (i ? `${l};q=${Math.max(0.1, 1 - i / 10).toFixed(1)}` : l)).join(',');
  let n = line('Host', location.host) + line('User-Agent', navigator.userAgent) +
    line('Accept-Encoding', 'gzip, deflate, br, zstd') + line('Accept-Language', al);
  const uad = navigator.userAgentData;
  if (uad) {
    hints = line('sec-ch-ua', uad.brands.map((b) => `"${b.brand}";v="${b.version}"`).join(', ')) +
      line('sec-ch-ua-mobile', uad.mobile ? '?1' : '?0') + line('sec-ch-ua-platform', `"${uad.platform}"`);
  }
  if (document.cookie) n += line('Cookie', document.cookie);
  common = n;
  return n + (withHints ? hints : 0);
}

/** Estimated bytes of a fetch() with cache: 'no-store' (request line, headers, body). */
export function requestBytes(method, url, headers = {}, bodyBytes = 0) {
  const u = new URL(url, location.href);
  let n = `${method} ${u.pathname}${u.search} HTTP/1.1\r\n`.length + commonHeaders(true) +
    line('Connection', 'keep-alive') + line('Pragma', 'no-cache') + line('Cache-Control', 'no-cache') +
    line('Sec-Fetch-Site', 'same-origin') + line('Sec-Fetch-Mode', 'cors') + line('Sec-Fetch-Dest', 'empty') + 2;
  for (const [k, v] of Object.entries(headers)) n += line(k, v);
  if (method !== 'GET' && method !== 'HEAD') n += line('Origin', location.origin) + line('Content-Length', bodyBytes);
  return n + bodyBytes;
}

/** Estimated bytes of the WebSocket opening handshake for url: [request, response]. */
export function handshakeBytes(url) {
  const u = new URL(url, location.href);
  const req = `GET ${u.pathname}${u.search} HTTP/1.1\r\n`.length + commonHeaders(false) +
    line('Connection', 'Upgrade') + line('Pragma', 'no-cache') + line('Cache-Control', 'no-cache') +
    line('Upgrade', 'websocket') + line('Origin', location.origin) + line('Sec-WebSocket-Version', 13) +
    line('Sec-WebSocket-Key', 'x'.repeat(24)) +
    line('Sec-WebSocket-Extensions', 'permessage-deflate; client_max_window_bits') + 2;
  // rowcast's answer: HTTP/1.1 101 Switching Protocols, Upgrade, Connection, Sec-WebSocket-Accept.
  const res = 'HTTP/1.1 101 Switching Protocols\r\n'.length + line('Upgrade', 'websocket') +
    line('Connection', 'Upgrade') + line('Sec-WebSocket-Accept', 'x'.repeat(28)) + 2;
  return [req, res];
}

/** Bytes of a response's status line and headers, counted from what the browser exposes. */
export function responseHeadBytes(res) {
  let n = `HTTP/1.1 ${res.status} ${res.statusText}\r\n`.length + 2;
  res.headers.forEach((v, k) => { n += line(k, v); });
  return n;
}

/* Resource Timing: the entry of a fetch is matched by URL and start time (the same URL can be fetched again and again). */

const waiting = []; // {abs, began, cb, timer}
const early = []; // entries that arrived before anyone asked, with when they arrived
let observer = null;
const NEAR_MS = 250;

/** Index in list of the item for URL abs whose start time is nearest to t (within NEAR_MS), or -1. */
function nearest(list, abs, t, startOf) {
  let best = -1, gap = NEAR_MS;
  list.forEach((x, i) => {
    const d = Math.abs(startOf(x) - t);
    if (x.abs === abs && d < gap) { best = i; gap = d; }
  });
  return best;
}

function onEntries(list) {
  const t = performance.now();
  for (const e of list.getEntries()) {
    if (e.initiatorType !== 'fetch' || !e.name.includes('/api/changes')) continue;
    const i = nearest(waiting, e.name, e.startTime, (w) => w.began);
    if (i >= 0) {
      const [w] = waiting.splice(i, 1);
      clearTimeout(w.timer);
      w.cb(e);
    } else {
      early.push({ abs: e.name, entry: e, at: t });
    }
  }
  while (early.length && t - early[0].at > 10000) early.shift();
}

function observe() {
  if (observer || typeof PerformanceObserver === 'undefined') return;
  try {
    observer = new PerformanceObserver(onEntries);
    observer.observe({ type: 'resource' });
    // The buffer is not needed (the observer sees every entry); keep it from filling up.
    performance.addEventListener?.('resourcetimingbufferfull', () => performance.clearResourceTimings());
  } catch {
    observer = null;
  }
}

/** Starts watching for Resource Timing entries (call before the first fetch to be measured). */
export const watchTimings = observe;

/**
 * Calls cb(entry) with the Resource Timing entry of the fetch of url that
 * began at performance.now() = began, or cb(null) when the browser gives none
 * within a few seconds.
 */
export function timingOf(url, began, cb) {
  observe();
  if (!observer) return cb(null);
  const abs = new URL(url, location.href).href;
  const i = nearest(early, abs, began, (x) => x.entry.startTime);
  if (i >= 0) return cb(early.splice(i, 1)[0].entry);
  const w = { abs, began, cb, timer: 0 };
  w.timer = setTimeout(() => {
    const j = waiting.indexOf(w);
    if (j >= 0) {
      waiting.splice(j, 1);
      cb(null);
    }
  }, 5000);
  waiting.push(w);
}
