// GET /api/openapi.json checked by a standard validator (@apidevtools/swagger-parser, OpenAPI 3.1), and
// checked to follow the schema: a table the sqlite3 shell adds while the server runs appears in it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import SwaggerParser from '@apidevtools/swagger-parser';
import Ajv2020 from 'ajv/dist/2020.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BIN = process.env.ROWCAST_BIN || path.resolve(HERE, '..', '..', 'build', 'rowcast');
const SQLITE3 = '/usr/bin/sqlite3';
const WAIT_MS = 60000; // a bound on waiting for an event, never an assertion on speed

const SCHEMA = `
CREATE TABLE tasks (id INTEGER PRIMARY KEY, title TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0,
  score REAL, due DATETIME, data BLOB, anything, total INTEGER GENERATED ALWAYS AS (done + 1) VIRTUAL);
CREATE TABLE notes (body TEXT);
CREATE TABLE pairs (a INTEGER, b TEXT, PRIMARY KEY (a, b));
CREATE TABLE "odd name/é" (code TEXT PRIMARY KEY, "order" INTEGER);
`;

let dir, proc, base;
let stderr = '';

const sqlite = (sql) => execFileSync(SQLITE3, ['-batch', '-bail', path.join(dir, 't.db')], { input: '.timeout 5000\n' + sql });

async function fetchDoc() {
  const res = await fetch(base + '/api/openapi.json');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^application\/json/);
  return res.json();
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rowcast-openapi-'));
  sqlite(SCHEMA);
  proc = spawn(BIN, [path.join(dir, 't.db'), '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stderr.on('data', (b) => { stderr += b; });
  base = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('rowcast printed no URL line')), WAIT_MS);
    proc.stdout.on('data', (b) => {
      out += b;
      const m = out.match(/ on (http:\/\/[^/\s]+)\//);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    proc.on('exit', (code) => reject(new Error('rowcast exited with ' + code)));
  });
});

// The server stops cleanly, and a sanitizer build (ASan, UBSan, TSan) reported nothing.
after(async () => {
  if (proc && proc.exitCode === null) {
    const exited = new Promise((resolve) => proc.on('exit', resolve));
    proc.kill('SIGTERM');
    await exited;
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  assert.doesNotMatch(stderr, /Sanitizer|runtime error/, 'sanitizer report from rowcast:\n' + stderr);
});

test('the document is valid OpenAPI 3.1', async () => {
  const doc = await fetchDoc();
  assert.equal(doc.openapi, '3.1.0');
  await SwaggerParser.validate(structuredClone(doc)); // throws, naming the fault, when it is not valid
});

test('every table has its paths and a row schema with types and nullability', async () => {
  const doc = await fetchDoc();
  const p = doc.paths;
  assert.ok(p['/api/tables/tasks/rows'].get && p['/api/tables/tasks/rows'].post);
  assert.deepEqual(Object.keys(p['/api/tables/tasks/rows/{key}']).filter((k) => k !== 'parameters').sort(),
    ['delete', 'get', 'patch', 'put']);
  // a composite key: a list only, read-only
  assert.ok(p['/api/tables/pairs/rows'].get);
  assert.equal(p['/api/tables/pairs/rows'].post, undefined);
  assert.equal(p['/api/tables/pairs/rows/{key}'], undefined);
  // a name that needs encoding
  assert.ok(p['/api/tables/odd%20name%2F%C3%A9/rows/{key}'], Object.keys(p).join(' '));
  for (const x of ['/api/tables', '/api/changes', '/api/live', '/api/events', '/api/me', '/healthz']) assert.ok(p[x]?.get, x);

  const ref = (r) => doc.components.schemas[r.$ref.split('/').pop()];
  const page = ref(p['/api/tables/tasks/rows'].get.responses['200'].content['application/json'].schema);
  const row = ref(page.properties.rows.items);
  const c = row.properties;
  assert.deepEqual(c.id.type, 'integer');           // INTEGER PRIMARY KEY: never null
  assert.deepEqual(c.title.type, 'string');         // NOT NULL
  assert.deepEqual(c.done.type, 'integer');
  assert.deepEqual(c.score.type, ['number', 'null']);
  assert.deepEqual(c.due.type, ['number', 'string', 'null']); // NUMERIC affinity
  assert.ok(c.data.oneOf.some((s) => s.properties?.$base64));
  assert.equal(c.anything.type, undefined);          // no declared type: anything
  assert.equal(c.total.readOnly, true);              // generated
  const notes = ref(ref(p['/api/tables/notes/rows'].get.responses['200'].content['application/json'].schema)
    .properties.rows.items);
  assert.equal(notes.properties.rowid.type, 'integer');
  // the write schema: generated columns left out, NOT NULL without default required
  const write = ref(p['/api/tables/tasks/rows/{key}'].patch.requestBody.content['application/json'].schema);
  assert.equal(write.properties.total, undefined);
  assert.deepEqual(write.required, ['title']);
  // the filter parameters, but none for a column named like a parameter
  const names = p['/api/tables/tasks/rows'].get.parameters.map((x) => x.name);
  for (const n of ['id', 'title', 'order', 'limit', 'after', 'select', 'format']) assert.ok(names.includes(n), n);
  const odd = p['/api/tables/odd%20name%2F%C3%A9/rows'].get.parameters.filter((x) => x.name === 'order');
  assert.equal(odd.length, 1);
  assert.ok(doc.components.schemas.Error.properties.error);
});

// swagger-parser checks the document's structure, not what its Schema Objects say: each schema is compiled
// as JSON Schema 2020-12 (OpenAPI 3.1's dialect) by ajv, and the rows the server answers must match them.
test('the schemas are valid JSON Schema 2020-12 and the rows served match them', async () => {
  sqlite(`INSERT INTO tasks (id, title, done, score, due, data, anything) VALUES
    (1, 'a', 0, 1.5, '2026-01-02', X'00FF', 'x'), (2, 'b', 1, NULL, 20260102, NULL, 3.5), (3, 'c', 0, 2, NULL, NULL, NULL);
    INSERT INTO notes VALUES ('n'), (NULL);`);
  const doc = await fetchDoc();
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, validateFormats: false, keywords: ['x-sqlite-type', 'x-primary-key', 'x-default'] });
  ajv.addFormat('int64', true);
  for (const [name, schema] of Object.entries(doc.components.schemas)) {
    ajv.addSchema(schema, '#/components/schemas/' + name);
  }
  const check = (name, value) => {
    const v = ajv.getSchema('#/components/schemas/' + name);
    assert.ok(v(value), name + ': ' + JSON.stringify(v.errors) + ' for ' + JSON.stringify(value));
  };
  const pageOf = (t) => doc.paths[`/api/tables/${t}/rows`].get.responses['200'].content['application/json'].schema.$ref.split('/').pop();
  for (const t of ['tasks', 'notes']) {
    const res = await fetch(`${base}/api/tables/${t}/rows`);
    const page = await res.json();
    assert.ok(page.rows.length >= 2);
    check(pageOf(t), page);
  }
  const err = await (await fetch(base + '/api/tables/nope/rows')).json();
  check('Error', err);
  const ch = await (await fetch(base + '/api/changes?since=0')).json();
  check('Changes', ch);
  // the write schema says what typed writes take: numbers, or text that reads wholly as one
  const writeName = pageOf('tasks').replace(/^page_/, 'write_');
  check(writeName, { title: 'x', done: '1', score: '12.5' });
  check(writeName, { title: 'x', done: 2.0, score: 3, due: 'tomorrow', anything: [1] });
  assert.equal(ajv.getSchema('#/components/schemas/' + writeName)({ title: 'x', done: 'abc' }), false);
  assert.equal(ajv.getSchema('#/components/schemas/' + writeName)({ title: 'x', score: ' 1' }), false);
  const written = await fetch(`${base}/api/tables/tasks/rows`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ title: 'typed', done: '1', score: '12.5' }) });
  assert.equal(written.status, 201);
  assert.deepEqual([(await written.json()).score], [12.5]);
  // a row that breaks the schema is caught: the check has teeth
  const rowName = pageOf('tasks').replace(/^page_/, 'row_');
  assert.equal(ajv.getSchema('#/components/schemas/' + rowName)({ id: 1, title: null }), false);
});

test('a table added with the sqlite3 shell appears, still valid', async () => {
  assert.equal((await fetchDoc()).paths['/api/tables/added/rows'], undefined);
  sqlite('CREATE TABLE added (k INTEGER PRIMARY KEY, v TEXT NOT NULL);');
  const doc = await fetchDoc();
  assert.ok(doc.paths['/api/tables/added/rows']?.post, 'the new table has its paths');
  assert.ok(doc.paths['/api/tables/added/rows/{key}']?.delete);
  await SwaggerParser.validate(structuredClone(doc));
  sqlite('DROP TABLE added;');
  assert.equal((await fetchDoc()).paths['/api/tables/added/rows'], undefined, 'and goes with it');
});
