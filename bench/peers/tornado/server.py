#!/usr/bin/python3
"""bench/peers/tornado/server.py: the Tornado baseline of bench/ (Debian's python3-tornado, stdlib sqlite3).

The same job as rowcast does in the benchmarks, and nothing more:
  POST /api/tables/bench/rows        insert one JSON row, answer 201 with the stored row
  GET  /api/tables/bench/rows/{id}   the row, or 404
  WS   /api/live                     {"type":"hello",...} on connect, then every inserted row as
                                     {"type":"change","seq":N,"table":"bench","op":"insert","key":ID,"row":{...},"old":null,"ts":MS}
on a SQLite table bench(id INTEGER PRIMARY KEY, payload TEXT, t REAL), WAL, synchronous=NORMAL.

usage: /usr/bin/python3 server.py DB_FILE [PORT]   (127.0.0.1, port 0 = any; prints the URL on stdout)

Tuning, as a competent user of this stack would do it: one process, one IOLoop (asyncio), one SQLite
connection in autocommit mode; TCP_NODELAY on WebSocket connections (Tornado leaves Nagle on for them,
its docs say to call set_nodelay(True); it already turns it on to finish each HTTP response); the change
is serialized and UTF-8 encoded once and written to every client as bytes; no compression; a client whose
unsent backlog passes 8 MiB (the stream's max_write_buffer_size) is closed, so a client that stops
reading cannot grow the server's memory without bound; access logging off.
"""
import json
import signal
import sqlite3
import sys
import time

import tornado.httpserver
import tornado.ioloop
import tornado.iostream
import tornado.netutil
import tornado.web
import tornado.websocket

MAX_BACKLOG = 8 * 1024 * 1024

if len(sys.argv) < 2:
    sys.exit("usage: server.py DB_FILE [PORT]")
DB_FILE = sys.argv[1]
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 0

db = sqlite3.connect(DB_FILE, isolation_level=None)  # autocommit: every INSERT is its own transaction
db.execute("PRAGMA journal_mode = WAL")
db.execute("PRAGMA synchronous = NORMAL")
db.execute("CREATE TABLE IF NOT EXISTS bench(id INTEGER PRIMARY KEY, payload TEXT, t REAL)")
INSERT = "INSERT INTO bench(payload, t) VALUES (?, ?) RETURNING id, payload, t"
SELECT = "SELECT id, payload, t FROM bench WHERE id = ?"

clients = set()
seq = 0


def row_json(r):
    return json.dumps({"id": r[0], "payload": r[1], "t": r[2]}, separators=(",", ":"))


class Row(tornado.web.RequestHandler):
    def get(self, key):
        r = db.execute(SELECT, (int(key),)).fetchone()
        if r is None:
            raise tornado.web.HTTPError(404)
        self.set_header("Content-Type", "application/json")
        self.finish(row_json(r))


class Rows(tornado.web.RequestHandler):
    def post(self):
        global seq
        try:
            body = json.loads(self.request.body)
        except ValueError:
            raise tornado.web.HTTPError(400)
        if not isinstance(body, dict):
            raise tornado.web.HTTPError(400)
        r = db.execute(INSERT, (body.get("payload"), body.get("t"))).fetchone()
        text = row_json(r)
        self.set_status(201)
        self.set_header("Content-Type", "application/json")
        self.set_header("Location", "/api/tables/bench/rows/%d" % r[0])
        self.finish(text)
        seq += 1
        msg = ('{"type":"change","seq":%d,"table":"bench","op":"insert","key":%d,"row":%s,"old":null,"ts":%d}'
               % (seq, r[0], text, int(time.time() * 1000))).encode()
        for c in list(clients):
            c.push(msg)

    def write_error(self, status_code, **kwargs):
        self.finish({"error": {"status": status_code, "message": self._reason}})


class Live(tornado.websocket.WebSocketHandler):
    def open(self):
        self.set_nodelay(True)
        self.ws_connection.stream.max_write_buffer_size = MAX_BACKLOG
        clients.add(self)
        self.write_message(json.dumps({"type": "hello", "last_seq": seq, "server": "tornado"}, separators=(",", ":")))

    def push(self, msg):
        try:
            self.write_message(msg)
        except (tornado.websocket.WebSocketClosedError, tornado.iostream.StreamBufferFullError):
            clients.discard(self)
            self.close(1008, "too slow")

    def on_message(self, message):
        pass

    def on_close(self):
        clients.discard(self)

    def check_origin(self, origin):
        return True


def main():
    app = tornado.web.Application([
        (r"/api/tables/bench/rows", Rows),
        (r"/api/tables/bench/rows/([0-9]+)", Row),
        (r"/api/live", Live),
    ], websocket_ping_interval=None, compress_response=False, log_function=lambda handler: None)
    server = tornado.httpserver.HTTPServer(app, xheaders=False)
    sockets = tornado.netutil.bind_sockets(PORT, "127.0.0.1", backlog=1024)
    server.add_sockets(sockets)
    print("tornado serving %s on http://127.0.0.1:%d/" % (DB_FILE, sockets[0].getsockname()[1]), flush=True)
    loop = tornado.ioloop.IOLoop.current()

    def stop(*_):
        def shutdown():
            for c in list(clients):
                c.close(1001)
            server.stop()
            loop.stop()
        loop.add_callback_from_signal(shutdown)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    loop.start()
    db.close()


if __name__ == "__main__":
    main()
