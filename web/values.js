// SQLite values on the page: type affinity from a declared type, how a value
// is shown, how typed text becomes a JSON value, and SQLite's sort order.

import { Raw, stringify } from './json.js';

/** SQLite's affinity rules (section 3.1 of "Datatypes In SQLite"). */
export function affinity(type) {
  const t = (type || '').toUpperCase();
  if (t.includes('INT')) return 'INTEGER';
  if (/CHAR|CLOB|TEXT/.test(t)) return 'TEXT';
  if (t === '' || t.includes('BLOB')) return 'BLOB';
  if (/REAL|FLOA|DOUB/.test(t)) return 'REAL';
  return 'NUMERIC';
}

export const isBlob = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) &&
  typeof v.$base64 === 'string';

export const blobBytes = (b64) => Math.floor(b64.replace(/[\s=]/g, '').length * 3 / 4);

// Epoch milliseconds a time column may hold: 1973-03-03 to 2286-11-20. A
// value outside (a small integer, a key) is shown as the number it is.
const EPOCH_MS_MIN = 1e11;
const EPOCH_MS_MAX = 1e13;

/** Whether col's name says it holds times (taken_at, created, updated_ts, time, date...) and it is an integer column. */
export const timeColumn = (col) => !!col && affinity(col.type) === 'INTEGER' && !col.key &&
  /(^|_)(at|ts|time|timestamp|date|created|updated|ms)$/i.test(col.name);

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** Epoch milliseconds as local time, "2026-12-05 14:03:07.123". */
export function epochText(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/**
 * How to show v: {kind: missing|null|blob|num|time|text|empty|json, text}; a time
 * (epoch milliseconds in a column whose name says it holds times) also has
 * raw, the value as stored.
 */
export function display(v, col) {
  // A column the row does not carry (the user may not see it) is shown empty, not as NULL.
  if (v === undefined) return { kind: 'missing', text: '' };
  if (v === null) return { kind: 'null', text: 'NULL' };
  if ((typeof v === 'number' || typeof v === 'bigint') && timeColumn(col)) {
    const n = Number(v);
    if (Number.isInteger(n) && n >= EPOCH_MS_MIN && n < EPOCH_MS_MAX) return { kind: 'time', text: epochText(n), raw: String(v) };
  }
  if (isBlob(v)) {
    const n = blobBytes(v.$base64);
    return { kind: 'blob', text: `blob (${n} byte${n === 1 ? '' : 's'})` };
  }
  if (typeof v === 'bigint') return { kind: 'num', text: v.toString() };
  if (typeof v === 'number') {
    let text = String(v);
    if (col && affinity(col.type) === 'REAL' && Number.isInteger(v) && !text.includes('e')) text += '.0';
    return { kind: 'num', text };
  }
  if (typeof v === 'string') return v === '' ? { kind: 'empty', text: '""' } : { kind: 'text', text: v };
  return { kind: 'json', text: stringify(v) };
}

/**
 * What a column's DEFAULT means, for the add-row form: {text, title}. A
 * literal is shown as it is; an expression (SQL such as
 * CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)) is said in
 * words, the SQL kept for the title.
 */
export function defaultHint(sqlText) {
  let d = String(sqlText).trim();
  const title = 'DEFAULT ' + d;
  while (/^\(.*\)$/s.test(d)) d = d.slice(1, -1).trim();
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(d) || /^'([^']|'')*'$/.test(d) || /^(TRUE|FALSE)$/i.test(d)) {
    return { text: 'default ' + d, title };
  }
  if (/^NULL$/i.test(d)) return { text: 'empty = NULL', title };
  if (/'now'|\bCURRENT_(TIMESTAMP|DATE|TIME)\b|\bunixepoch\s*\(\s*\)/i.test(d)) {
    return { text: 'the time of the insert, set by the database', title };
  }
  return { text: 'set by the database', title };
}

/** The text an editor starts with for v ('' for NULL). */
export const toInput = (v) => (v === null || v === undefined ? '' : typeof v === 'object' ? stringify(v) : String(v));

const INT = /^\s*([+-]?)0*(\d+)\s*$/;
const REAL = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/;

/**
 * The JSON value for text typed into col's input: numbers for numeric
 * affinities when the text is a number (integers digit for digit, so
 * 64-bit values stay exact), null for an empty nullable column, else text.
 */
export function fromInput(text, col) {
  if (text === '' && !col.notnull) return null;
  const aff = affinity(col.type);
  if (aff === 'TEXT') return text;
  const m = INT.exec(text);
  if (m) {
    const digits = (m[1] === '-' ? '-' : '') + m[2];
    if (aff === 'REAL' && !Number.isSafeInteger(Number(digits))) {
      return new Raw(Number(digits).toExponential());
    }
    return new Raw(digits);
  }
  if (REAL.test(text)) {
    const n = Number(text.trim());
    if (Number.isFinite(n)) return new Raw(String(n));
  }
  return text;
}

export const sameValue = (a, b) => stringify(a ?? null) === stringify(b ?? null);

const rank = (v) => (v === null || v === undefined ? 0 : typeof v === 'number' ||
  typeof v === 'bigint' || typeof v === 'boolean' ? 1 : typeof v === 'string' ? 2 : 3);

/** Compares two values the way SQLite's ORDER BY does (BINARY collation); BigInt and Number compare exactly. */
export function compare(a, b) {
  const ra = rank(a), rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 3) { a = stringify(a); b = stringify(b); }
  return a < b ? -1 : a > b ? 1 : 0;
}
