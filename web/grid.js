// The rows grid: one page of a table with sortable headers, cells edited in
// place (double-click, Enter or F2; arrow keys move between cells), delete
// (undone from the notice), per-row errors, and insert/update/remove (with a
// flash) for live changes. Rows are kept by key (stringified). Cells are
// editable only when the user may update, and rows have a Delete button only
// when the user may delete; a column a row does not carry is shown empty.

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

  /** Prepares for table t sorted by order ([{col, desc}]); may: {update, delete}, what the user may do (default both). */
  setTable(t, order, may = { update: true, delete: true }) {
    this.table = t;
    this.order = order;
    const writable = t.writable && !Array.isArray(t.key);
    this.editable = writable && !!may.update;
    this.deletable = writable && !!may.delete;
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
      this.deletable ? h('th', { scope: 'col', class: 'actions' }, h('span', { class: 'sr' }, 'Actions')) : null);
    this.tbody = h('tbody');
    this.tableEl = h('table', { class: 'grid' },
      h('caption', { class: 'sr' }, `Rows of ${this.table.name}` +
        (this.editable ? '. Double-click a cell, or press Enter on it, to edit; arrow keys move between cells.' : '')),
      h('thead', null, head), this.tbody);
    this.tableEl.addEventListener('keydown', (e) => this.keydown(e));
    this.tableEl.addEventListener('dblclick', (e) => this.cellEvent(e));
    this.tableEl.addEventListener('click', (e) => { if (this.touch) this.cellEvent(e); });
    this.tableEl.addEventListener('pointerdown', (e) => { this.touch = e.pointerType === 'touch'; });
    this.tableEl.addEventListener('focusin', (e) => this.rove(e.target));
    for (const row of rows) this.insert(row, this.list.length, false);
    this.syncEmpty();
    fill(this.root, this.tableEl);
    this.rove(null);
  }

  /** The entry and column of an editable cell td, or null. */
  cellOf(td) {
    const tr = td?.parentElement;
    const entry = tr && this.list.find((x) => x.tr === tr);
    const c = entry && this.cols.find((x) => x.name === td.dataset.col);
    return c && td.classList.contains('editable') ? { entry, c } : null;
  }

  cellEvent(e) {
    const td = e.target.closest?.('td.editable');
    if (!td || td.classList.contains('editing') || e.target.closest('form')) return;
    const x = this.cellOf(td);
    if (x) this.edit(x.entry, x.c, td);
  }

  /** Keeps exactly one editable cell in the tab order: the one last focused (roving tabindex). */
  rove(td) {
    if (!td?.classList?.contains('editable')) {
      if (this.tbody.querySelector('td.editable[tabindex="0"]')) return;
      td = this.tbody.querySelector('td.editable');
      if (!td) return;
    }
    for (const o of this.tbody.querySelectorAll('td.editable[tabindex="0"]')) if (o !== td) o.tabIndex = -1;
    td.tabIndex = 0;
  }

  keydown(e) {
    const td = e.target;
    if (td.tagName !== 'TD' || !td.classList.contains('editable')) return;
    if (e.key === 'Enter' || e.key === 'F2') {
      e.preventDefault();
      this.cellEvent(e);
      return;
    }
    const move = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] }[e.key];
    if (!move) return;
    const rows = this.list.map((x) => x.tr);
    let r = rows.indexOf(td.parentElement), c = [...td.parentElement.children].indexOf(td);
    for (;;) {
      r += move[0];
      c += move[1];
      const next = rows[r]?.children[c];
      if (!next) return;
      if (next.classList.contains('editable')) {
        e.preventDefault();
        next.focus();
        return;
      }
    }
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
        h('td', { colspan: this.cols.length + (this.deletable ? 1 : 0) }, this.emptyText || 'No rows.'));
      this.tbody.append(this.emptyRow);
    }
  }

  rows() { return this.list.map((e) => e.row); }

  has(row) { return this.byKey.has(this.keyStr(row)); }

  /** Adds row at display position index; flash highlights it. */
  insert(row, index, flash = true) {
    const entry = { row, tr: h('tr'), editing: new Map(), errTr: null };
    entry.key = this.keyStr(row);
    entry.tr.dataset.key = toInput(this.keyOf(row));
    for (const c of this.cols) {
      const td = h('td', { 'data-col': c.name });
      this.paint(td, entry, c);
      entry.tr.append(td);
    }
    if (this.deletable) {
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
    let changed = false;
    this.cols.forEach((c, i) => {
      if (sameValue(old[c.name], row[c.name]) || entry.editing.has(c.name)) return;
      const td = entry.tr.children[i];
      this.paint(td, entry, c);
      changed = true;
      if (flash) blink(td, 'flash');
    });
    if (changed && flash) blink(entry.tr, 'flash-row');
    return true;
  }

  /** Removes the row with this key (a json.stringify'd key); flash fades it out first. */
  remove(key, flash = true) {
    const entry = this.byKey.get(key);
    if (!entry) return false;
    this.byKey.delete(key);
    const i = this.list.indexOf(entry);
    this.list.splice(i, 1);
    entry.errTr?.remove();
    // Keep the keyboard focus in the grid when it was on the row that goes.
    if (entry.tr.contains(document.activeElement)) {
      const near = this.list[i] || this.list[i - 1];
      const cls = document.activeElement.closest('td')?.className.includes('actions') ? 'button.del' : 'td.editable';
      (near?.tr.querySelector(cls) || this.root.closest('main')?.querySelector('h2'))?.focus();
    }
    const gone = () => { entry.tr.remove(); this.syncEmpty(); this.rove(null); };
    if (!flash) gone();
    else {
      entry.tr.classList.add('gone');
      entry.tr.inert = true;
      entry.tr.removeAttribute('data-key');
      setTimeout(gone, 900);
    }
    return true;
  }

  canEdit(c, v) { return this.editable && !c.key && v !== undefined && !isBlob(v); }

  paint(td, entry, c) {
    const v = entry.row[c.name];
    const d = display(v, c);
    const span = h('span', { class: 'v v-' + d.kind }, d.text);
    td.title = d.kind === 'time' ? `${d.raw} (milliseconds since 1970-01-01 UTC)` : d.text.length > LONG ? d.text : '';
    const editable = this.canEdit(c, v);
    td.classList.toggle('editable', editable);
    if (editable) {
      if (td.tabIndex !== 0) td.tabIndex = -1;
    } else {
      td.removeAttribute('tabindex');
    }
    fill(td, span);
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
    td.removeAttribute('tabindex');
    fill(td, form);
    input.focus();
    input.select();
  }

  endEdit(entry, c, td) {
    entry.editing.delete(c.name);
    this.clearError(entry);
    td.classList.remove('editing');
    this.paint(td, entry, c);
    if (td.isConnected && td.classList.contains('editable')) td.focus();
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
    const btn = h('button', { type: 'button', class: 'del', 'data-testid': 'row-delete',
      'aria-label': 'Delete row ' + toInput(this.keyOf(entry.row)), onclick: async () => {
        btn.disabled = true;
        try {
          await this.cb.onDelete(entry.row);
          this.clearError(entry);
          this.remove(entry.key, true);
        } catch (err) {
          btn.disabled = false;
          this.showError(entry, this.cb.explain(err));
          btn.focus();
        }
      } }, 'Delete');
    fill(entry.actions, btn);
  }

  showError(entry, message) {
    const tr = h('tr', { class: 'row-error' }, h('td', { colspan: this.cols.length + (this.deletable ? 1 : 0) },
      h('div', { role: 'alert', 'data-testid': 'row-error' }, h('span', null, message),
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
