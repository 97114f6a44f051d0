// The REST client: one fetch wrapper that parses JSON losslessly, turns the
// server's {"error":{...}} bodies into ApiError, adds the bearer token to
// writes, and reports whether the server is reachable.

import { parse, stringify } from './json.js';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const TOKEN_KEY = 'rowcast.token';
export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY) || '',
  set: (t) => (t ? sessionStorage.setItem(TOKEN_KEY, t) : sessionStorage.removeItem(TOKEN_KEY)),
};

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
  const headers = { Accept: 'application/json', ...extra };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token.get() && method !== 'GET') headers.Authorization = 'Bearer ' + token.get();
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
  if (!res.ok) throw new ApiError(res.status, e?.code || 'http_' + res.status, e?.message || res.statusText || 'HTTP ' + res.status);
  return { data, res };
}

const PREFIX = {
  0: 'Could not reach the server; check that rowcast is running, then try again.',
  400: 'The server did not accept this:',
  401: 'A token is needed to change data:',
  403: 'The server refused this request:',
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
