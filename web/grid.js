// The rows grid: one page of a table with sortable headers, cells edited in
// place, delete with inline confirmation, per-row errors, and insert/update/
// remove (with a flash) for live changes. Rows are kept by key (stringified).

import { h, fill } from './dom.js';
import { display, toInput, fromInput, sameValue, isBlob } from './values.js';
import { stringify } from './json.js';

const LONG = 60;

/** t's columns, led by a read-only "rowid" column when rows are keyed by rowid. */
export const columnsOf = (t) => (t.key === 'rowid' && !t.columns.some((c) => c.name === 'rowid')
  ? [{ name: 'rowid', type: 'INTEGER', notnull: true, key: true }] : []).concat(t.columns);

export class Grid {
  /** cb: onSort(name), onSave(row, col, value) -> Promise<stored row>, onDelete(row) -> Promise, explain(err). */
  constructor(root, cb) {
    this.root = root;
    this.cb = cb;
    this.table = null;
    this.cols = [];
    this.list = [];
    this.byKey = new Map();
  }

  /** Prepares for table t sorted by order ([{col, desc}]). */
  setTable(t, order) {
    this.table = t;
    this.order = order;
    this.editable = t.writable && !Array.isArray(t.key);
    this.cols = columnsOf(t);
  }

  keyOf(row) {
    const k = this.table.key;
    return Array.isArray(k) ? k.map((c) => row[c]) : row[k];
  }

  keyStr(row) { return stringify(this.keyOf(row)); }

  /** Renders rows (replacing what was shown); empty says why it is empty. */
  render(rows, empty) {
    this.list = [];
    this.byKey.clear();
    this.emptyText = empty;
    const head = h('tr', null, this.cols.map((c) => this.headCell(c)),
      this.editable ? h('th', { scope: 'col', class: 'actions' }, h('span', { class: 'sr' }, 'Actions')) : null);
    this.tbody = h('tbody');
    this.tableEl = h('table', { class: 'grid' },
      h('caption', { class: 'sr' }, `Rows of ${this.table.name}`), h('thead', null, head), this.tbody);
    for (const row of rows) this.insert(row, this.list.length, false);
    this.syncEmpty();
    fill(this.root, this.tableEl);
  }

  headCell(c) {
    const o = this.order.find((x) => x.col === c.name);
    const arrow = o ? (o.desc ? '▼' : '▲') : '';
    const label = [h('span', { class: 'cname' }, c.name),
      h('span', { class: 'ctype' }, (c.type || 'any') + (c.key ? ' · key' : '')),
      h('span', { class: 'arrow', 'aria-hidden': 'true' }, arrow)];
    return h('th', { scope: 'col', 'aria-sort': o ? (o.desc ? 'descending' : 'ascending') : null },
      h('button', { type: 'button', class: 'sort', title: `Sort by ${c.name}`, onclick: () => this.cb.onSort(c.name) }, label));
  }

  syncEmpty() {
    if (this.list.length) {
      this.emptyRow?.remove();
      this.emptyRow = null;
    } else if (!this.emptyRow) {
      this.emptyRow = h('tr', { class: 'empty' },
        h('td', { colspan: this.cols.length + (this.editable ? 1 : 0) }, this.emptyText || 'No rows.'));
      this.tbody.append(this.emptyRow);
    }
  }

  rows() { return this.list.map((e) => e.row); }

  has(row) { return this.byKey.has(this.keyStr(row)); }

  /** Adds row at display position index; flash highlights it. */
  insert(row, index, flash = true) {
    const entry = { row, tr: h('tr'), editing: new Map(), errTr: null };
    entry.key = this.keyStr(row);
    for (const c of this.cols) {
      const td = h('td', { 'data-col': c.name });
      this.paint(td, entry, c);
      entry.tr.append(td);
    }
    if (this.editable) {
      entry.actions = h('td', { class: 'actions' });
      this.paintActions(entry);
      entry.tr.append(entry.actions);
    }
    const before = this.list[index];
    this.tbody.insertBefore(entry.tr, before ? before.tr : null);
    this.list.splice(index, 0, entry);
    this.byKey.set(entry.key, entry);
    this.syncEmpty();
    if (flash) blink(entry.tr, 'flash-new');
    return entry;
  }

  /** Replaces a shown row's values; returns false when the row is not shown. */
  update(row, flash = true) {
    const entry = this.byKey.get(this.keyStr(row));
    if (!entry) return false;
    const old = entry.row;
    entry.row = row;
    this.cols.forEach((c, i) => {
      if (sameValue(old[c.name], row[c.name]) || entry.editing.has(c.name)) return;
      const td = entry.tr.children[i];
      this.paint(td, entry, c);
      if (flash) blink(td, 'flash');
    });
    return true;
  }

  /** Removes the row with this key (a json.stringify'd key); flash fades it out first. */
  remove(key, flash = true) {
    const entry = this.byKey.get(key);
    if (!entry) return false;
    this.byKey.delete(key);
    this.list.splice(this.list.indexOf(entry), 1);
    entry.errTr?.remove();
    const gone = () => { entry.tr.remove(); this.syncEmpty(); };
    if (!flash) gone();
    else {
      entry.tr.classList.add('gone');
      entry.tr.inert = true;
      setTimeout(gone, 700);
    }
    return true;
  }

  canEdit(c, v) { return this.editable && !c.key && !isBlob(v); }

  paint(td, entry, c) {
    const v = entry.row[c.name];
    const d = display(v, c);
    const span = h('span', { class: 'v v-' + d.kind }, d.text);
    td.title = d.text.length > LONG ? d.text : '';
    if (this.canEdit(c, v)) {
      fill(td, h('button', { type: 'button', class: 'cell', 'aria-label': `${c.name}: ${d.text}. Edit`,
        onclick: () => this.edit(entry, c, td) }, span));
    } else {
      fill(td, span);
    }
  }

  edit(entry, c, td) {
    const v = entry.row[c.name];
    const multi = typeof v === 'string' && v.includes('\n');
    const input = h(multi ? 'textarea' : 'input', {
      class: 'edit', value: toInput(v), 'aria-label': `New value for ${c.name} (${c.type || 'any type'})`,
      placeholder: c.notnull ? null : 'NULL', spellcheck: 'false',
    });
    const form = h('form', { class: 'cell-edit', onsubmit: (e) => { e.preventDefault(); this.save(entry, c, td, input, form); } },
      input,
      h('button', { type: 'submit', class: 'icon ok', 'aria-label': 'Save', title: 'Save (Enter)' }, '✓'),
      h('button', { type: 'button', class: 'icon', 'aria-label': 'Cancel', title: 'Cancel (Escape)',
        onclick: () => this.endEdit(entry, c, td) }, '✕'));
    form.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') { e.preventDefault(); this.endEdit(entry, c, td); }
      if (e.key === 'Enter' && multi && !e.shiftKey && e.target === input) { e.preventDefault(); form.requestSubmit(); }
    });
    entry.editing.set(c.name, form);
    td.classList.add('editing');
    fill(td, form);
    input.focus();
    input.select();
  }

  endEdit(entry, c, td) {
    entry.editing.delete(c.name);
    td.classList.remove('editing');
    this.paint(td, entry, c);
    td.querySelector('button')?.focus();
  }

  async save(entry, c, td, input, form) {
    const value = fromInput(input.value, c);
    if (sameValue(value, entry.row[c.name])) return this.endEdit(entry, c, td);
    const busy = (on) => {
      form.classList.toggle('busy', on);
      for (const el of form.elements) el.disabled = on;
    };
    busy(true);
    try {
      const row = await this.cb.onSave(entry.row, c, value);
      this.clearError(entry);
      if (row) this.update(row);
      this.endEdit(entry, c, td);
      blink(td, 'flash');
    } catch (err) {
      busy(false);
      this.showError(entry, this.cb.explain(err));
      input.focus();
    }
  }

  paintActions(entry) {
    fill(entry.actions, h('button', { type: 'button', class: 'del', 'aria-label': 'Delete row ' + toInput(this.keyOf(entry.row)),
      onclick: () => this.confirmDelete(entry) }, 'Delete'));
  }

  confirmDelete(entry) {
    const back = () => { this.paintActions(entry); entry.actions.querySelector('button').focus(); };
    const yes = h('button', { type: 'button', class: 'danger', onclick: async () => {
      yes.disabled = true;
      try {
        await this.cb.onDelete(entry.row);
        this.remove(entry.key, true);
      } catch (err) {
        this.showError(entry, this.cb.explain(err));
        back();
      }
    } }, 'Yes, delete');
    const no = h('button', { type: 'button', onclick: back }, 'Cancel');
    const box = h('span', { class: 'confirm', role: 'group', 'aria-label': 'Confirm delete' }, yes, no);
    box.addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.preventDefault(); back(); } });
    fill(entry.actions, box);
    no.focus();
  }

  showError(entry, message) {
    const tr = h('tr', { class: 'row-error' }, h('td', { colspan: this.cols.length + (this.editable ? 1 : 0) },
      h('div', { role: 'alert' }, h('span', null, message),
        h('button', { type: 'button', class: 'icon', 'aria-label': 'Dismiss', onclick: () => this.clearError(entry) }, '✕'))));
    if (entry.errTr) entry.errTr.replaceWith(tr);
    else entry.tr.after(tr);
    entry.errTr = tr;
  }

  clearError(entry) {
    entry.errTr?.remove();
    entry.errTr = null;
  }
}

/** Restarts a CSS highlight animation on el. */
export function blink(el, cls) {
  el.classList.remove(cls);
  void el.offsetWidth;
  el.classList.add(cls);
  el.addEventListener('animationend', () => el.classList.remove(cls), { once: true });
}
