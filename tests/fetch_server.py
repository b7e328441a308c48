#!/usr/bin/env python3
"""Local HTTP server for the `mnv2 fetch` tests. Binds 127.0.0.1 on an ephemeral port,
serves files from --root, and logs every request as one JSON line to --log.

URL modes (NAME is a file under --root):
  /files/NAME          normal, honours "Range: bytes=START-[END]" (206, or 416 past the end)
  /cut/N/NAME          like /files but closes the connection after N body bytes, every time
  /cutonce/N/NAME      cuts the first request for this URL after N body bytes, then normal
  /norange/NAME        ignores Range and always answers 200 with the whole file
  /404/NAME            always 404
  /redirect/NAME       302 to /files/NAME
  /slow/BPS/NAME       like /files but sends about BPS bytes per second (for watching progress)
The chosen port is written to --port-file once the server is listening.
"""
import argparse
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = None
LOCK = threading.Lock()
CUT_DONE = set()


def log(entry):
    with LOCK:
        with open(ARGS.log, "a") as f:
            f.write(json.dumps(entry) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):  # keep the test output clean
        pass

    def reply(self, status, headers=(), body=b"", limit=None, bps=None):
        rng = self.headers.get("Range")
        log({"path": self.path, "range": rng, "status": status})
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if limit is not None:
            body = body[:limit]
        if bps:
            step = max(1, bps // 10)
            for i in range(0, len(body), step):
                self.wfile.write(body[i:i + step])
                self.wfile.flush()
                time.sleep(0.1)
        else:
            self.wfile.write(body)
        self.wfile.flush()

    def do_GET(self):
        parts = self.path.lstrip("/").split("/")
        mode = parts[0]
        cut = None
        bps = None
        if mode == "slow":
            if len(parts) < 3:
                return self.reply(400)
            bps = int(parts[1])
            name = "/".join(parts[2:])
        elif mode in ("cut", "cutonce"):
            if len(parts) < 3:
                return self.reply(400)
            cut = int(parts[1])
            name = "/".join(parts[2:])
            if mode == "cutonce":
                with LOCK:
                    if self.path in CUT_DONE:
                        cut = None
                    else:
                        CUT_DONE.add(self.path)
        else:
            name = "/".join(parts[1:])
        path = os.path.join(ARGS.root, name)
        if mode == "404" or not name or ".." in name.split("/") or not os.path.isfile(path):
            return self.reply(404, [("Content-Length", "9")], b"not found")
        if mode == "redirect":
            return self.reply(302, [("Location", "/files/" + name), ("Content-Length", "0")])
        with open(path, "rb") as f:
            data = f.read()
        size = len(data)
        rng = self.headers.get("Range")
        if rng and mode != "norange":
            spec = rng.strip()
            if not spec.startswith("bytes=") or "," in spec:
                return self.reply(400)
            first, _, last = spec[len("bytes="):].partition("-")
            first = int(first)
            last = int(last) if last else size - 1
            if first >= size:
                return self.reply(416, [("Content-Range", "bytes */%d" % size),
                                        ("Content-Length", "0")])
            last = min(last, size - 1)
            body = data[first:last + 1]
            return self.reply(206, [("Content-Range", "bytes %d-%d/%d" % (first, last, size)),
                                    ("Content-Length", str(len(body))),
                                    ("Content-Type", "application/octet-stream")], body, cut, bps)
        return self.reply(200, [("Content-Length", str(size)),
                                ("Content-Type", "application/octet-stream")], data, cut, bps)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--port-file", required=True)
    ARGS = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    tmp = ARGS.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, ARGS.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
