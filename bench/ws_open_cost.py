#!/usr/bin/python3
"""What one WebSocket open costs the server in system calls while many other sockets are open.

Starts a rowcast binary on a fresh database, opens IDLE WebSockets and keeps them open, attaches
`strace -f -c` to every thread of the server, opens MEASURED more WebSockets (each: the handshake, its
101, then the client closes it), and prints the server's syscalls per open: in total and the socket
lookups among them (getpeername, getsockname, getdents64, openat). Run it for two binaries to compare:

    bench/ws_open_cost.py BIN [IDLE] [MEASURED]
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1]
IDLE = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
MEASURED = int(sys.argv[3]) if len(sys.argv) > 3 else 100
LOOKUP = ("getpeername", "getsockname", "getdents64", "openat", "newfstatat", "close", "fstat")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def ws_open(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(b"GET /api/live HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n" % port)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("closed during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(head.split(b"\r\n")[0].decode())
    return s


def traced(pid):
    tasks = os.listdir(f"/proc/{pid}/task")
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/status") as f:
                if "TracerPid:\t0\n" in f.read():
                    return False
        except FileNotFoundError:
            pass
    return True


def main():
    work = tempfile.mkdtemp(prefix="rowcast-wsopen-")
    port = free_port()
    srv = subprocess.Popen([BIN, "--db", os.path.join(work, "db.sqlite"), "--listen", f"127.0.0.1:{port}",
                            "--threads", str(IDLE + MEASURED + 64), "--sockets-per-address", "0"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    idle, strace = [], None
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                ws_open(port).close()
                break
            except (OSError, RuntimeError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        idle = [ws_open(port) for _ in range(IDLE)]
        out = os.path.join(work, "strace.txt")
        strace = subprocess.Popen(["strace", "-f", "-c", "-o", out, "-p", str(srv.pid)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not traced(srv.pid):
            if time.monotonic() > deadline:
                raise RuntimeError("strace did not attach")
            time.sleep(0.1)
        t0 = time.monotonic()
        for _ in range(MEASURED):
            ws_open(port).close()
        took = time.monotonic() - t0
        strace.send_signal(signal.SIGINT)
        strace.wait(timeout=120)
        calls = {}
        with open(out) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 5 and parts[0][0].isdigit() and not parts[-1].startswith("total"):
                    calls[parts[-1]] = int(parts[3])
        total = sum(calls.values())
        lookup = sum(calls.get(k, 0) for k in LOOKUP)
        print(f"{os.path.basename(BIN)}: {IDLE} idle sockets, {MEASURED} opens in {took:.2f} s (traced): "
              f"{total / MEASURED:.0f} syscalls per open, of which {lookup / MEASURED:.0f} "
              f"getpeername/getsockname/getdents64/openat/close ({calls.get('getpeername', 0) / MEASURED:.0f} "
              f"getpeername)")
    finally:
        if strace and strace.poll() is None:
            strace.kill()
        for s in idle:
            s.close()
        srv.terminate()
        srv.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)


main()
