#!/usr/bin/python3
"""Holds many idle HTTP/1.1 keep-alive connections to the hub for bench/run's memory figure. It
opens N connections in paced batches (so the listen backlog never overflows), sends one
GET /healthz/live on each and reads the answer, which proves the daemon accepted and served it,
then leaves them all idle, reads the daemon's RSS, waits --hold seconds and checks that every
connection is still open (no EOF, no reset). It prints one `result key=value ...` line and closes
everything. The daemon closes a keep-alive connection idle for longer than
http1_request_timeout_ms (10 s by default), so --hold must stay below that.

    idle_conns.py --host 127.0.0.1 --port P --count N --pid DAEMON_PID [--hold S]"""

import argparse
import errno
import resource
import selectors
import socket
import sys
import time

BATCH = 500
REQUEST = b"GET /healthz/live HTTP/1.1\r\nHost: bench\r\nConnection: keep-alive\r\n\r\n"


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def read_answers(socks, deadline):
    """Reads one complete answer (headers plus content-length bytes) on each socket."""
    sel = selectors.DefaultSelector()
    bufs = {}
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
        bufs[s] = b""
    served = 0
    while bufs and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            try:
                chunk = s.recv(4096)
            except OSError:
                chunk = b""
            if not chunk:
                sel.unregister(s)
                del bufs[s]
                continue
            bufs[s] += chunk
            head, sep, body = bufs[s].partition(b"\r\n\r\n")
            if not sep:
                continue
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if len(body) >= length:
                if head.startswith(b"HTTP/1.1 200"):
                    served += 1
                sel.unregister(s)
                del bufs[s]
    sel.close()
    return served


def still_open(s):
    s.setblocking(False)  # a socket with a timeout would wait in recv() despite MSG_DONTWAIT
    try:
        data = s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        return len(data) > 0  # unexpected bytes, but the connection is up
    except BlockingIOError:
        return True
    except OSError as e:
        return e.errno in (errno.EAGAIN, errno.EWOULDBLOCK)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--hold", type=float, default=2.0)
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.count + 64
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            sys.exit(f"idle_conns: RLIMIT_NOFILE hard limit {hard} < {want}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    rss_before = rss_kb(args.pid)
    socks = []
    connect_errors = 0
    served = 0
    t0 = time.monotonic()
    try:
        for start in range(0, args.count, BATCH):
            batch = []
            for _ in range(min(BATCH, args.count - start)):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.settimeout(10)
                try:
                    s.connect((args.host, args.port))
                    s.sendall(REQUEST)
                except OSError:
                    connect_errors += 1
                    s.close()
                    continue
                batch.append(s)
            served += read_answers(batch, time.monotonic() + 10)
            socks.extend(batch)
        opened_s = time.monotonic() - t0
        time.sleep(0.5)  # let the daemon settle after the last answer
        rss_open = rss_kb(args.pid)
        time.sleep(args.hold)
        alive = sum(1 for s in socks if still_open(s))
        rss_held = rss_kb(args.pid)
    finally:
        for s in socks:
            s.close()
    time.sleep(1.0)
    rss_closed = rss_kb(args.pid)
    print(f"result count={args.count} opened={len(socks)} served={served} "
          f"connect_errors={connect_errors} still_open={alive} hold_s={args.hold:.1f} "
          f"open_s={opened_s:.3f} rss_before_kb={rss_before} rss_open_kb={rss_open} "
          f"rss_held_kb={rss_held} rss_closed_kb={rss_closed}")


if __name__ == "__main__":
    main()
