// Lossless JSON for rowcast's 64-bit integers. JSON.parse rounds integers
// beyond 2^53; parse() returns those as BigInt instead, and stringify()
// writes BigInt and Raw (number text typed by the user) digit for digit.

/** Number text to put into a JSON body verbatim (already valid JSON). */
export class Raw {
  constructor(text) { this.raw = text; }
  toString() { return this.raw; }
}

// A string, or an integer literal of 16 digits or more (outside strings).
const TOKENS = /"(?:[^"\\]|\\.)*"|(?<![\w.+-])-?\d{16,}(?![\w.])/g;
const toInt = (s) => (Number.isSafeInteger(Number(s)) ? Number(s) : BigInt(s));
const isBig = (v) => v !== null && typeof v === 'object' && typeof v.$bigint === 'string' && Object.keys(v).length === 1;

/** Parses JSON text; integers beyond 2^53 come back as BigInt. Throws SyntaxError. */
export function parse(text) {
  const marked = text.replace(TOKENS, (m) => (m[0] === '"' ? m : `{"$bigint":"${m}"}`));
  return JSON.parse(marked, (k, v) => (isBig(v) ? toInt(v.$bigint) : v));
}

/** JSON text for v; BigInt and Raw are written as their digits. */
export function stringify(v) {
  if (v === null || v === undefined) return 'null';
  switch (typeof v) {
    case 'bigint': return v.toString();
    case 'number': return Number.isFinite(v) ? String(v) : 'null';
    case 'string': return JSON.stringify(v);
    case 'boolean': return v ? 'true' : 'false';
  }
  if (v instanceof Raw) return v.raw;
  if (Array.isArray(v)) return '[' + v.map(stringify).join(',') + ']';
  return '{' + Object.keys(v).filter((k) => v[k] !== undefined)
    .map((k) => JSON.stringify(k) + ':' + stringify(v[k])).join(',') + '}';
}
