// bench/peers/node/server.js: the Node.js baseline of bench/ (Node 20, ws, better-sqlite3).
//
// The same job as rowcast does in the benchmarks, and nothing more:
//   POST /api/tables/bench/rows        insert one JSON row, answer 201 with the stored row
//   GET  /api/tables/bench/rows/{id}   the row, or 404
//   WS   /api/live                     {"type":"hello",...} on connect, then every inserted row as
//                                      {"type":"change","seq":N,"table":"bench","op":"insert","key":ID,"row":{...},"old":null,"ts":MS}
// on a SQLite table bench(id INTEGER PRIMARY KEY, payload TEXT, t REAL), WAL, synchronous=NORMAL.
//
// usage: node server.js DB_FILE [PORT]   (listens on 127.0.0.1, port 0 = any; prints the URL on stdout)
//
// Tuning, as a competent user of this stack would do it: one prepared statement per query; the change is
// serialized once and sent as one Buffer to every client (ws frames it without copying the payload again);
// TCP_NODELAY on every socket (http's noDelay, ws sets it on upgraded sockets); permessage-deflate off
// (ws's default on the server); a client whose unsent backlog passes 8 MiB is cut off, so a client that
// stops reading cannot grow the server's memory without bound.
'use strict';

const http = require('http');
const { WebSocketServer, WebSocket } = require('ws');
const Database = require('better-sqlite3');

const [dbFile, portArg] = process.argv.slice(2);
if (!dbFile) {
  console.error('usage: node server.js DB_FILE [PORT]');
  process.exit(2);
}
const MAX_BACKLOG = 8 * 1024 * 1024;

const db = new Database(dbFile);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec('CREATE TABLE IF NOT EXISTS bench(id INTEGER PRIMARY KEY, payload TEXT, t REAL)');
const insertRow = db.prepare('INSERT INTO bench(payload, t) VALUES (?, ?) RETURNING id, payload, t');
const getRow = db.prepare('SELECT id, payload, t FROM bench WHERE id = ?');

let seq = 0;

function reply(res, status, body, extra) {
  const data = Buffer.from(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': data.length, ...extra });
  res.end(data);
}

function error(res, status, message) {
  reply(res, status, JSON.stringify({ error: { status, message } }));
}

const ROWS = '/api/tables/bench/rows';

const server = http.createServer({ noDelay: true, keepAliveTimeout: 5000 }, (req, res) => {
  const url = req.url;
  if (req.method === 'GET' && url.startsWith(ROWS + '/')) {
    const id = Number(url.slice(ROWS.length + 1));
    const row = Number.isInteger(id) ? getRow.get(id) : undefined;
    if (!row) return error(res, 404, 'no such row');
    return reply(res, 200, JSON.stringify(row));
  }
  if (req.method === 'POST' && url === ROWS) {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch (e) {
        return error(res, 400, 'bad JSON');
      }
      if (body === null || typeof body !== 'object' || Array.isArray(body)) return error(res, 400, 'want one object');
      const row = insertRow.get(body.payload ?? null, body.t ?? null);
      const text = JSON.stringify(row);
      reply(res, 201, text, { Location: `${ROWS}/${row.id}` });
      seq += 1;
      const msg = Buffer.from(`{"type":"change","seq":${seq},"table":"bench","op":"insert","key":${row.id},` +
        `"row":${text},"old":null,"ts":${Date.now()}}`);
      for (const ws of wss.clients) {
        if (ws.readyState !== WebSocket.OPEN) continue;
        if (ws.bufferedAmount > MAX_BACKLOG) ws.terminate();
        else ws.send(msg, { binary: false });
      }
    });
    return;
  }
  error(res, 404, 'not found');
});

const wss = new WebSocketServer({ server, path: '/api/live', perMessageDeflate: false, clientTracking: true });
wss.on('connection', (ws) => {
  ws.on('error', () => ws.terminate());
  ws.send(JSON.stringify({ type: 'hello', last_seq: seq, server: 'node-ws' }));
});

server.listen(Number(portArg || 0), '127.0.0.1', () => {
  console.log(`node-ws serving ${dbFile} on http://127.0.0.1:${server.address().port}/`);
});

function stop() {
  for (const ws of wss.clients) ws.close(1001);
  server.close();
  db.close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
