#!/usr/bin/env python3
"""Slow clients against `mnv2 serve`: opens N idle connections (they never send) and N
trickling ones (one byte of an endless header a second), then times /v2/health/live and a
POST /v1/classify of IMAGE on fresh connections, three rounds, 10 s client timeout.

    bench/serve/slow_clients.py MNV2_BINARY IMAGE [N] [extra serve options...]

Used for the before/after table in docs/serving.md (N = 8, --http-threads 2)."""
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

binary, image = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 8
extra = sys.argv[4:]
port_file = os.path.join(tempfile.mkdtemp(), "port")
server = subprocess.Popen([binary, "serve", "--synthetic", "0.35", "64", "--threads", "1", "--http-threads", "2",
                           "--port", "0", "--port-file", port_file, "--quiet"] + extra, stderr=subprocess.DEVNULL)
try:
    for _ in range(400):
        if os.path.exists(port_file):
            break
        time.sleep(0.05)
    port = int(open(port_file).read())
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
    trickle = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
    stop = threading.Event()

    def drip():
        head = b"GET /v2 HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4000
        k = 0
        while not stop.is_set():
            for s in trickle:
                try:
                    s.send(head[k % len(head):k % len(head) + 1])
                except OSError:
                    pass
            k += 1
            stop.wait(1.0)

    dripper = threading.Thread(target=drip)
    dripper.start()
    time.sleep(1.5)
    body = open(image, "rb").read()
    for rnd in range(3):
        for what in ("live", "classify"):
            t0 = time.time()
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                if what == "live":
                    c.request("GET", "/v2/health/live")
                else:
                    c.request("POST", "/v1/classify", body, {"Content-Type": "image/jpeg"})
                status = str(c.getresponse().status)
            except Exception as e:  # a timeout is the result being measured
                status = "no answer (%s)" % type(e).__name__
            print("round %d %-8s %-28s %.3f s" % (rnd, what, status, time.time() - t0), flush=True)
    stop.set()
    dripper.join()
finally:
    server.kill()
    server.wait()
