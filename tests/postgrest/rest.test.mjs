// /rest/v1 through the real @supabase/postgrest-js client, unchanged: every feature the README's
// "PostgREST clients" section lists, against a real rowcast on a free port with a temporary database.

import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { PostgrestClient } from '@supabase/postgrest-js';
import { start } from './lib.mjs';

const names = (data) => data.map((r) => r.name);

describe('postgrest-js against /rest/v1', () => {
  let srv;
  let db;
  before(async () => {
    srv = await start();
    db = new PostgrestClient(`${srv.url}/rest/v1`);
  });
  after(async () => { await srv.stop(); });
  beforeEach(() => srv.reseed());

  test('select: every column with *, or the columns named', async () => {
    const all = await db.from('items').select('*').order('id');
    assert.equal(all.error, null);
    assert.equal(all.status, 200);
    assert.deepEqual(all.data[0], { id: 1, name: 'Apple', qty: 3, done: 0, tag: 'a', note: 'none' });
    assert.equal(all.data.length, 6);
    const some = await db.from('items').select('id, name').order('id').limit(2);
    assert.deepEqual(some.data, [{ id: 1, name: 'Apple' }, { id: 2, name: 'banana' }]);
  });

  test('comparison filters: eq neq lt lte gt gte', async () => {
    const q = () => db.from('items').select('name').order('id');
    assert.deepEqual(names((await q().eq('qty', 3)).data), ['Apple']);
    assert.deepEqual(names((await q().neq('qty', 3)).data), ['Cherry', 'apple pie', 'elderberry']);
    assert.deepEqual(names((await q().lt('qty', 3)).data), ['apple pie']);
    assert.deepEqual(names((await q().lte('qty', 3)).data), ['Apple', 'apple pie']);
    assert.deepEqual(names((await q().gt('qty', 3)).data), ['Cherry', 'elderberry']);
    assert.deepEqual(names((await q().gte('qty', 7)).data), ['Cherry', 'elderberry']);
    assert.deepEqual(names((await q().eq('name', 'Date')).data), ['Date']);
  });

  test('in and is (null, true, false)', async () => {
    const q = () => db.from('items').select('name').order('id');
    assert.deepEqual(names((await q().in('id', [2, 4, 99])).data), ['banana', 'apple pie']);
    assert.deepEqual(names((await q().in('name', ['Apple', 'a,b'])).data), ['Apple']);
    assert.deepEqual(names((await q().is('qty', null)).data), ['banana', 'Date']);
    assert.deepEqual(names((await q().is('done', true)).data), ['banana', 'apple pie']);
    assert.deepEqual(names((await q().is('done', false)).data), ['Apple', 'Cherry', 'Date', 'elderberry']);
  });

  test('like is case-sensitive, ilike is not', async () => {
    const q = () => db.from('items').select('name').order('id');
    assert.deepEqual(names((await q().like('name', 'A%')).data), ['Apple']);
    assert.deepEqual(names((await q().like('name', 'a*')).data), ['apple pie']);
    assert.deepEqual(names((await q().like('name', '_pple%')).data), ['Apple', 'apple pie']);
    assert.deepEqual(names((await q().ilike('name', 'a%')).data), ['Apple', 'apple pie']);
    assert.deepEqual(names((await q().ilike('name', '%ERR%')).data), ['Cherry', 'elderberry']);
    // a backslash makes the next character itself, as in PostgreSQL
    await db.from('items').insert([{ name: 'x_y' }, { name: 'xzy' }, { name: 'x%y' }]);
    assert.deepEqual(names((await q().like('name', 'x\\_y')).data), ['x_y']);
    assert.deepEqual(names((await q().like('name', 'x_y')).data), ['x_y', 'xzy', 'x%y']);
    assert.deepEqual(names((await q().ilike('name', 'X\\%Y')).data), ['x%y']);
  });

  test('not negates a filter', async () => {
    const q = () => db.from('items').select('name').order('id');
    assert.deepEqual(names((await q().not('qty', 'is', null)).data), ['Apple', 'Cherry', 'apple pie', 'elderberry']);
    assert.deepEqual(names((await q().not('name', 'ilike', 'a%')).data), ['banana', 'Cherry', 'Date', 'elderberry']);
    assert.deepEqual(names((await q().not('id', 'in', '(1,2,3)')).data), ['apple pie', 'Date', 'elderberry']);
    // NULL compares as unknown: not.eq does not select the rows where qty is NULL, as in PostgreSQL
    assert.deepEqual(names((await q().not('qty', 'eq', 3)).data), ['Cherry', 'apple pie', 'elderberry']);
  });

  test('or lists, ANDed with the other filters', async () => {
    const q = () => db.from('items').select('name').order('id');
    assert.deepEqual(names((await q().or('qty.is.null,qty.gt.10')).data), ['banana', 'Date', 'elderberry']);
    assert.deepEqual(names((await q().or('qty.is.null,qty.gt.10').eq('done', 0)).data), ['Date', 'elderberry']);
    assert.deepEqual(names((await q().or('name.ilike.*pie*,id.in.(1,2)')).data), ['Apple', 'banana', 'apple pie']);
    assert.deepEqual(names((await q().or('qty.not.is.null').or('name.like.*e*')).data), ['Apple', 'Cherry', 'apple pie', 'elderberry']);
  });

  test('order: NULLs last ascending and first descending, unless told', async () => {
    const q = () => db.from('items').select('name, qty');
    assert.deepEqual(names((await q().order('qty').order('id')).data),
      ['apple pie', 'Apple', 'Cherry', 'elderberry', 'banana', 'Date']);
    assert.deepEqual(names((await q().order('qty', { ascending: false }).order('id')).data),
      ['banana', 'Date', 'elderberry', 'Cherry', 'Apple', 'apple pie']);
    assert.deepEqual(names((await q().order('qty', { nullsFirst: true }).order('id')).data),
      ['banana', 'Date', 'apple pie', 'Apple', 'Cherry', 'elderberry']);
    assert.deepEqual(names((await q().order('qty', { ascending: false, nullsFirst: false }).order('id')).data),
      ['elderberry', 'Cherry', 'Apple', 'apple pie', 'banana', 'Date']);
  });

  test('limit, offset and range', async () => {
    const q = () => db.from('items').select('id').order('id');
    assert.deepEqual((await q().limit(2)).data, [{ id: 1 }, { id: 2 }]);
    assert.deepEqual((await q().range(2, 4)).data, [{ id: 3 }, { id: 4 }, { id: 5 }]);
    assert.deepEqual((await q().range(5, 9)).data, [{ id: 6 }]);
    assert.deepEqual((await q().range(10, 12)).data, []);
  });

  test('count exact, with rows and with head (HEAD)', async () => {
    const r = await db.from('items').select('id', { count: 'exact' }).gt('qty', 1).order('id').range(0, 0);
    assert.equal(r.count, 3);
    assert.deepEqual(r.data, [{ id: 1 }]);
    const h = await db.from('items').select('*', { count: 'exact', head: true }).is('qty', null);
    assert.equal(h.error, null);
    assert.equal(h.count, 2);
    assert.equal(h.data, null);
  });

  test('single: the one row as an object, else 406 PGRST116', async () => {
    const one = await db.from('items').select('name').eq('id', 3).single();
    assert.deepEqual(one.data, { name: 'Cherry' });
    const many = await db.from('items').select('name').single();
    assert.equal(many.status, 406);
    assert.equal(many.error.code, 'PGRST116');
    assert.equal(many.data, null);
    const none = await db.from('items').select('name').eq('id', 99).single();
    assert.equal(none.status, 406);
    assert.equal(none.error.code, 'PGRST116');
  });

  test('maybeSingle: null for none, the object for one, an error for several', async () => {
    const none = await db.from('items').select('name').eq('id', 99).maybeSingle();
    assert.equal(none.error, null);
    assert.equal(none.data, null);
    const one = await db.from('items').select('name').eq('tag', 'b').maybeSingle();
    assert.deepEqual(one.data, { name: 'banana' });
    const many = await db.from('items').select('name').maybeSingle();
    assert.equal(many.error.code, 'PGRST116');
  });

  test('insert: minimal by default, the stored rows with select()', async () => {
    const minimal = await db.from('items').insert({ name: 'fig' });
    assert.equal(minimal.error, null);
    assert.equal(minimal.status, 201);
    assert.equal(minimal.data, null);
    const rep = await db.from('items').insert({ name: 'grape', qty: 2 }).select();
    assert.equal(rep.status, 201);
    assert.equal(rep.data.length, 1);
    assert.equal(rep.data[0].name, 'grape');
    assert.equal(rep.data[0].note, 'none'); // defaults filled in
    const got = await db.from('items').select('name').in('name', ['fig', 'grape']).order('name');
    assert.deepEqual(names(got.data), ['fig', 'grape']);
  });

  test('bulk insert with columns=: a missing key is null, or the default with defaultToNull false', async () => {
    const r = await db.from('items').insert([{ name: 'h1', note: 'x' }, { name: 'h2', qty: 5 }]).select('name, qty, note');
    assert.equal(r.error, null);
    assert.deepEqual(r.data, [{ name: 'h1', qty: null, note: 'x' }, { name: 'h2', qty: 5, note: null }]);
    const d = await db.from('items').insert([{ name: 'i1', note: 'y' }, { name: 'i2' }], { defaultToNull: false }).select('name, note');
    assert.deepEqual(d.data, [{ name: 'i1', note: 'y' }, { name: 'i2', note: 'none' }]);
  });

  test('insert single(): one row as an object', async () => {
    const r = await db.from('items').insert({ name: 'kiwi' }).select('name').single();
    assert.deepEqual(r.data, { name: 'kiwi' });
  });

  test('upsert: merge on the key by default, on onConflict columns when named', async () => {
    const r = await db.from('items').upsert({ id: 1, name: 'Apple', qty: 30 }).select('id, qty');
    assert.equal(r.error, null);
    assert.deepEqual(r.data, [{ id: 1, qty: 30 }]);
    const t = await db.from('items').upsert([{ tag: 'a', name: 'Apple2' }, { tag: 'z', name: 'Zucchini' }], { onConflict: 'tag' }).select('name, tag');
    assert.deepEqual(t.data, [{ name: 'Apple2', tag: 'a' }, { name: 'Zucchini', tag: 'z' }]);
    const all = await db.from('items').select('id', { count: 'exact', head: true });
    assert.equal(all.count, 7);
  });

  test('upsert with ignoreDuplicates leaves clashing rows as they are', async () => {
    const r = await db.from('items')
      .upsert([{ tag: 'a', name: 'ignored' }, { tag: 'y', name: 'Yam' }], { onConflict: 'tag', ignoreDuplicates: true })
      .select('name');
    assert.equal(r.error, null);
    assert.deepEqual(r.data, [{ name: 'Yam' }]);
    const a = await db.from('items').select('name').eq('tag', 'a').single();
    assert.deepEqual(a.data, { name: 'Apple' });
  });

  test('update: the filters select the rows changed, and each change reaches the feed', async () => {
    const seq0 = (await (await fetch(`${srv.url}/healthz`)).json()).last_seq;
    const r = await db.from('items').update({ qty: 0 }).gt('qty', 2).select('id, qty');
    assert.equal(r.error, null);
    assert.deepEqual(r.data.sort((a, b) => a.id - b.id), [{ id: 1, qty: 0 }, { id: 3, qty: 0 }, { id: 6, qty: 0 }]);
    const minimal = await db.from('items').update({ note: 'n' }).eq('id', 2);
    assert.equal(minimal.status, 204);
    const rest = await db.from('items').select('id, qty').order('id');
    assert.deepEqual(rest.data.map((x) => x.qty), [0, null, 0, 1, null, 0]);
    const changes = await (await fetch(`${srv.url}/api/changes?since=${seq0}&table=items`)).json();
    assert.deepEqual(changes.changes.map((c) => [c.op, c.key]), [['update', 1], ['update', 3], ['update', 6], ['update', 2]]);
  });

  test('delete: the filters select the rows removed', async () => {
    const r = await db.from('items').delete().or('qty.is.null,name.eq.Apple').select('id');
    assert.equal(r.error, null);
    assert.deepEqual(r.data.map((x) => x.id).sort(), [1, 2, 5]);
    const n = await db.from('items').delete({ count: 'exact' }).eq('id', 3);
    assert.equal(n.status, 204);
    assert.equal(n.count, 1);
    const left = await db.from('items').select('id').order('id');
    assert.deepEqual(left.data, [{ id: 4 }, { id: 6 }]);
  });

  test('update single(): a filter matching several rows changes nothing (406)', async () => {
    const r = await db.from('items').update({ qty: 5 }).gt('id', 3).select().single();
    assert.equal(r.status, 406);
    assert.equal(r.error.code, 'PGRST116');
    const q = await db.from('items').select('qty').gt('id', 3).order('id');
    assert.deepEqual(q.data, [{ qty: 1 }, { qty: null }, { qty: 12 }]);
  });

  test('maxAffected: a write past it changes nothing (PGRST124)', async () => {
    const r = await db.from('items').update({ qty: 5 }).gt('id', 3).maxAffected(2);
    assert.equal(r.status, 400);
    assert.equal(r.error.code, 'PGRST124');
    const q = await db.from('items').select('qty').gt('id', 3).order('id');
    assert.deepEqual(q.data, [{ qty: 1 }, { qty: null }, { qty: 12 }]);
    const ok = await db.from('items').delete().gt('id', 4).maxAffected(2).select('id');
    assert.deepEqual(ok.data.map((x) => x.id).sort(), [5, 6]);
  });

  test('csv(): a header row and one line per row, RFC 4180 quoting', async () => {
    await db.from('items').update({ note: 'say "hi", twice' }).eq('id', 1);
    const r = await db.from('items').select('id, name, qty, note').lte('id', 2).order('id').csv();
    assert.equal(r.error, null);
    assert.equal(r.data, 'id,name,qty,note\r\n1,Apple,3,"say ""hi"", twice"\r\n2,banana,,none\r\n');
  });

  test('errors in PostgREST shape: unknown table, unknown column, constraint, bad filter', async () => {
    const t = await db.from('nope').select();
    assert.equal(t.status, 404);
    assert.equal(t.error.code, 'PGRST205');
    assert.ok('details' in t.error && 'hint' in t.error);
    const c = await db.from('items').select('nope');
    assert.equal(c.status, 400);
    assert.equal(c.error.code, '42703');
    const u = await db.from('items').insert({ name: 'dup', tag: 'a' });
    assert.equal(u.status, 409);
    assert.equal(u.error.code, '23505');
    assert.match(u.error.message, /UNIQUE/);
    const nn = await db.from('items').insert({ qty: 1 });
    assert.equal(nn.error.code, '23502');
    const b = await db.from('items').select().filter('qty', 'between', '1');
    assert.equal(b.status, 400);
    assert.equal(b.error.code, 'PGRST100');
    const w = await db.from('items').insert({ nope: 1 });
    assert.equal(w.status, 400);
    assert.equal(w.error.code, 'PGRST204');
  });
});

describe('/rest/v1 with --token', () => {
  let srv;
  before(async () => { srv = await start(['--token', 'sekrit']); });
  after(async () => { await srv.stop(); });

  test('reads need no token; writes need it (401 PGRST301 without)', async () => {
    const anon = new PostgrestClient(`${srv.url}/rest/v1`);
    const read = await anon.from('items').select('id').eq('id', 1);
    assert.deepEqual(read.data, [{ id: 1 }]);
    const denied = await anon.from('items').update({ qty: 9 }).eq('id', 1);
    assert.equal(denied.status, 401);
    assert.equal(denied.error.code, 'PGRST301');
    const authed = new PostgrestClient(`${srv.url}/rest/v1`, { headers: { Authorization: 'Bearer sekrit' } });
    const ok = await authed.from('items').update({ qty: 9 }).eq('id', 1).select('qty');
    assert.deepEqual(ok.data, [{ qty: 9 }]);
  });
});

describe('/rest/v1 with --read-only', () => {
  let srv;
  before(async () => { srv = await start(['--read-only']); });
  after(async () => { await srv.stop(); });

  test('reads answer; writes are refused with 405 in PostgREST shape', async () => {
    const db = new PostgrestClient(`${srv.url}/rest/v1`);
    assert.equal((await db.from('items').select('id')).data.length, 6);
    const w = await db.from('items').delete().eq('id', 1);
    assert.equal(w.status, 405);
    assert.equal(w.error.code, '25006');
  });
});
