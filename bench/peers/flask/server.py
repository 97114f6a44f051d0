#!/usr/bin/python3
"""bench/peers/flask/server.py: the Flask-SocketIO + eventlet baseline of bench/ (Debian's python3-flask-socketio,
python3-eventlet, stdlib sqlite3).

The same job as rowcast does in the benchmarks, and nothing more:
  POST /api/tables/bench/rows        insert one JSON row, answer 201 with the stored row
  GET  /api/tables/bench/rows/{id}   the row, or 404
  WS   /api/live                     {"type":"hello",...} on connect, then every inserted row as
                                     {"type":"change","seq":N,"table":"bench","op":"insert","key":ID,"row":{...},"old":null,"ts":MS}
on a SQLite table bench(id INTEGER PRIMARY KEY, payload TEXT, t REAL), WAL, synchronous=NORMAL.

usage: /usr/bin/python3 server.py DB_FILE [PORT]   (127.0.0.1, port 0 = any; prints the URL on stdout)

Flask-SocketIO speaks Socket.IO, not plain WebSocket, and the load client (like rowcast's own clients) speaks
plain RFC 6455 at /api/live. The plain-WebSocket extensions of Flask are not in Debian 12 (flask-sock is not
packaged; python3-flask-sockets needs gevent-websocket, not eventlet). So /api/live is served by
eventlet.websocket.WebSocketWSGI, the class Flask-SocketIO's own eventlet transport (python-engineio's
eventlet driver) uses for its WebSocket connections, mounted beside the Flask app in the same eventlet WSGI
server that socketio.run(app) starts. Everything else is the classic tutorial stack: a Flask app,
SocketIO(app, async_mode="eventlet") wrapping it (it still serves Socket.IO at /socket.io/), eventlet's
green WSGI server.

Tuning, as a competent user would do it: eventlet.monkey_patch() first; TCP_NODELAY on the listening socket
(accepted sockets inherit it; eventlet's WSGI server never sets it); WSGI access log off; one SQLite
connection in autocommit mode; every client has its own bounded queue and sender greenlet (the pattern
engineio uses for Socket.IO clients), so a client that stops reading blocks only its own greenlet and is
closed when its queue overflows; the change is serialized once.
"""
import eventlet

eventlet.monkey_patch()

import json  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sqlite3  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import eventlet.queue  # noqa: E402
import eventlet.websocket  # noqa: E402
import eventlet.wsgi  # noqa: E402
from flask import Flask, Response, request  # noqa: E402
from flask_socketio import SocketIO  # noqa: E402

QUEUE_MAX = 40000  # changes waiting for one client; past that it is closed (about 8 MiB of rows)

if len(sys.argv) < 2:
    sys.exit("usage: server.py DB_FILE [PORT]")
DB_FILE = sys.argv[1]
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 0

# Greenlets share one connection: sqlite3 calls never yield, so no two run at once.
db = sqlite3.connect(DB_FILE, isolation_level=None, check_same_thread=False)
db.execute("PRAGMA journal_mode = WAL")
db.execute("PRAGMA synchronous = NORMAL")
db.execute("CREATE TABLE IF NOT EXISTS bench(id INTEGER PRIMARY KEY, payload TEXT, t REAL)")
INSERT = "INSERT INTO bench(payload, t) VALUES (?, ?) RETURNING id, payload, t"
SELECT = "SELECT id, payload, t FROM bench WHERE id = ?"

app = Flask(__name__)
socketio = SocketIO(app, async_mode="eventlet")
TOO_SLOW = object()
clients = set()  # one eventlet.queue.Queue per open /api/live socket
seq = 0


def row_json(r):
    return json.dumps({"id": r[0], "payload": r[1], "t": r[2]}, separators=(",", ":"))


def json_error(status, message):
    return Response(json.dumps({"error": {"status": status, "message": message}}), status, mimetype="application/json")


@app.get("/api/tables/bench/rows/<int:key>")
def get_row(key):
    r = db.execute(SELECT, (key,)).fetchone()
    if r is None:
        return json_error(404, "no such row")
    return Response(row_json(r), 200, mimetype="application/json")


@app.post("/api/tables/bench/rows")
def post_row():
    global seq
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return json_error(400, "want one JSON object")
    r = db.execute(INSERT, (body.get("payload"), body.get("t"))).fetchone()
    text = row_json(r)
    seq += 1
    msg = ('{"type":"change","seq":%d,"table":"bench","op":"insert","key":%d,"row":%s,"old":null,"ts":%d}'
           % (seq, r[0], text, int(time.time() * 1000)))
    for q in list(clients):
        if q.qsize() < QUEUE_MAX:
            q.put_nowait(msg)
        else:  # the queue keeps one slot for this
            clients.discard(q)
            q.put_nowait(TOO_SLOW)  # the sender closes the socket, which ends the reader
    return Response(text, 201, mimetype="application/json", headers={"Location": "/api/tables/bench/rows/%d" % r[0]})


@eventlet.websocket.WebSocketWSGI
def live(ws):
    q = eventlet.queue.Queue(QUEUE_MAX + 1)

    def sender():
        try:
            while True:
                msg = q.get()
                if msg is None:  # the reader saw the client go
                    return
                if msg is TOO_SLOW:
                    ws.close()
                    return
                ws.send(msg)
        except OSError:
            clients.discard(q)

    ws.send(json.dumps({"type": "hello", "last_seq": seq, "server": "flask-socketio-eventlet"}, separators=(",", ":")))
    clients.add(q)
    g = eventlet.spawn(sender)
    try:
        while ws.wait() is not None:  # read (and drop) what the client sends, until it closes
            pass
    finally:
        clients.discard(q)
        try:
            q.put_nowait(None)
        except eventlet.queue.Full:
            g.kill()


flask_wsgi = app.wsgi_app


def dispatch(environ, start_response):
    """/api/live goes to the plain WebSocket, everything else to Flask (and Socket.IO)."""
    if environ.get("PATH_INFO") == "/api/live":
        return live(environ, start_response)
    return flask_wsgi(environ, start_response)


app.wsgi_app = dispatch  # Flask.__call__ -> dispatch -> SocketIO middleware -> Flask


def main():
    sock = eventlet.listen(("127.0.0.1", PORT), backlog=1024)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    print("flask-socketio serving %s on http://127.0.0.1:%d/" % (DB_FILE, sock.getsockname()[1]), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # What socketio.run(app) does with async_mode="eventlet", with our own listening socket (port 0, TCP_NODELAY).
    eventlet.wsgi.server(sock, app, log_output=False, max_size=4096)


if __name__ == "__main__":
    main()
