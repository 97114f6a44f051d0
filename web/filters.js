// Filter controls for PostgREST-style filters (col=OP.VALUE, ANDed). A filter
// is {col, op, value}; for "in", value is the list without its parentheses.

import { h, fill } from './dom.js';

export const OPS = [
  ['eq', '='], ['neq', '≠'], ['lt', '<'], ['lte', '≤'], ['gt', '>'], ['gte', '≥'],
  ['like', 'like (* wildcard)'], ['in', 'in list'], ['is', 'is'],
];
const OP_RE = /^(eq|neq|lt|lte|gt|gte|like|in|is)\.([\s\S]*)$/;
const RESERVED = new Set(['order', 'limit', 'after', 'select']);

/** Filters found in URLSearchParams (unknown-looking parameters are left out). */
export function parseFilters(params) {
  const out = [];
  for (const [col, v] of params) {
    if (RESERVED.has(col)) continue;
    const m = OP_RE.exec(v);
    if (!m) continue;
    let value = m[2];
    if (m[1] === 'in' && value.startsWith('(') && value.endsWith(')')) value = value.slice(1, -1);
    out.push({ col, op: m[1], value });
  }
  return out;
}

/** [name, value] query pairs for filters. */
export function filterPairs(filters) {
  return filters.map((f) => [f.col, f.op + '.' + (f.op === 'in' ? '(' + f.value + ')' : f.value)]);
}

/** Renders the filter editor into form; onApply(filters) runs on submit (Enter, Apply) and removal. */
export function filterEditor(form, cols, filters, onApply) {
  const list = h('div', { class: 'filter-list' });
  const addRow = (f) => {
    const col = h('select', { 'aria-label': 'Column' }, cols.map((c) => h('option', { value: c.name }, c.name)));
    col.value = f.col || cols[0].name;
    const op = h('select', { 'aria-label': 'Operator' }, OPS.map(([v, label]) => h('option', { value: v }, label)));
    op.value = f.op || 'eq';
    const text = h('input', { type: 'text', 'aria-label': 'Value', value: f.op === 'is' ? '' : f.value || '', spellcheck: 'false' });
    const is = h('select', { 'aria-label': 'Value' }, ['null', 'true', 'false'].map((v) => h('option', { value: v }, v)));
    if (f.op === 'is') is.value = f.value;
    const sync = () => {
      const isOp = op.value === 'is';
      text.hidden = isOp;
      is.hidden = !isOp;
      text.placeholder = op.value === 'in' ? '1,2,"a,b"' : op.value === 'like' ? 'abc*' : 'value';
    };
    op.addEventListener('change', sync);
    sync();
    const row = h('div', { class: 'filter' }, col, op, text, is,
      h('button', { type: 'button', class: 'icon', 'aria-label': 'Remove this filter', onclick: () => { row.remove(); onApply(read()); } }, '✕'));
    row.read = () => ({ col: col.value, op: op.value, value: op.value === 'is' ? is.value : text.value });
    list.append(row);
    return row;
  };
  const read = () => [...list.children].map((r) => r.read());
  filters.forEach(addRow);
  const add = h('button', { type: 'button', onclick: () => addRow({}).querySelector('input, select').focus() }, '+ Filter');
  const clear = h('button', { type: 'button', onclick: () => { list.replaceChildren(); onApply([]); } }, 'Clear');
  fill(form, list, h('div', { class: 'filter-actions' }, add, h('button', { type: 'submit', class: 'primary' }, 'Apply'), clear));
  form.onsubmit = (e) => { e.preventDefault(); onApply(read()); };
  if (!filters.length) addRow({});
}
