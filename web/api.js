// The REST client: one fetch wrapper that parses JSON losslessly, turns the
// server's {"error":{...}} bodies into ApiError, adds the signed-in user's
// token (a JSON Web Token, or the server's shared --token) to every /api
// request, and reports whether the server is reachable and when it refused a
// token that was sent (401).

import { parse, stringify } from './json.js';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Kept in localStorage: a reload, or another tab, stays signed in until "Sign out".
export const TOKEN_KEY = 'rowcast.token';
const store = (() => {
  try {
    return window.localStorage;
  } catch {
    return null; // storage turned off: the token lives as long as the page
  }
})();
let memory = '';
export const token = {
  get: () => (store ? store.getItem(TOKEN_KEY) || '' : memory),
  set: (t) => {
    memory = t || '';
    if (!store) return;
    if (t) store.setItem(TOKEN_KEY, t);
    else store.removeItem(TOKEN_KEY);
  },
};

/** Headers that carry the token (none when signed out); for fetches to /api/... */
export const authHeaders = () => (token.get() ? { Authorization: 'Bearer ' + token.get() } : {});

/** url with the token as ?token= (URL-encoded), for the WebSocket and EventSource, which cannot send headers. */
export function withToken(url) {
  const t = token.get();
  if (!t) return url;
  return url + (url.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(t);
}

const authListeners = new Set();
/** fn(err) runs when the server answered 401 to a request that carried a token (it may have expired). */
export const onTokenRefused = (fn) => authListeners.add(fn);
/** Tells the listeners that a request with the token was refused with 401 (the feeds call it too). */
export const tokenRefused = (err) => authListeners.forEach((fn) => fn(err));

const netListeners = new Set();
/** fn(online) runs after every request that reached, or failed to reach, the server. */
export const onNetwork = (fn) => netListeners.add(fn);
const network = (up) => netListeners.forEach((fn) => fn(up));

/** A query string from [name, value] pairs; values are percent-encoded (spaces as %20). */
export const qs = (pairs) => pairs.map(([k, v]) => encodeURIComponent(k) + '=' + encodeURIComponent(v)).join('&');

const enc = (v) => encodeURIComponent(String(v));
export const tablePath = (t) => '/api/tables/' + enc(t);
export const rowPath = (t, key) => tablePath(t) + '/rows/' + enc(key);

/**
 * Sends one request; body (anything json.stringify takes) goes as JSON; extra: more headers.
 * Resolves to {data, res}; rejects with ApiError (status 0: server not reached).
 */
export async function request(method, path, body, extra) {
  const sent = path.startsWith('/api/') ? token.get() : '';
  const headers = { Accept: 'application/json', ...extra };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (sent) headers.Authorization = 'Bearer ' + sent;
  let res, text;
  try {
    res = await fetch(path, { method, headers, cache: 'no-store', body: body === undefined ? undefined : stringify(body) });
    text = await res.text();
  } catch {
    network(false);
    throw new ApiError(0, 'network', 'Could not reach the server.');
  }
  network(true);
  let data = null;
  try {
    data = text ? parse(text) : null;
  } catch {
    if (res.ok) throw new ApiError(res.status, 'bad_response', 'The server answered with something that is not JSON.');
  }
  const e = data?.error;
  if (!res.ok) {
    const err = new ApiError(res.status, e?.code || 'http_' + res.status, e?.message || res.statusText || 'HTTP ' + res.status);
    if (res.status === 401 && sent && sent === token.get()) tokenRefused(err);
    throw err;
  }
  return { data, res };
}

const PREFIX = {
  0: 'Could not reach the server; check that rowcast is running, then try again.',
  400: 'The server did not accept this:',
  401: 'Sign in to do this:',
  403: 'Not allowed:',
  404: 'Not found (it may have been deleted meanwhile):',
  405: 'This table cannot be changed here:',
  409: 'This breaks a rule of the database:',
  413: 'This is too large for the server:',
  415: 'The server did not accept the format:',
  500: 'The server hit an internal error:',
};

/** The plain-words sentence shown to the user for an error. */
export function explain(err) {
  if (!(err instanceof ApiError)) return 'Something went wrong: ' + err.message;
  if (err.status === 0) return PREFIX[0];
  const p = PREFIX[err.status] || `The server answered ${err.status}:`;
  return `${p} ${err.message}`;
}
