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

/** How to show v: {kind: null|blob|num|text|empty|json, text}. */
export function display(v, col) {
  if (v === null || v === undefined) return { kind: 'null', text: 'NULL' };
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
