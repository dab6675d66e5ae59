"""python3 -m api: serve HTTP on $PORT (default 8000).

Routes answer with or without the /api prefix, so the app works behind a proxy that strips the
route's prefix and behind one that keeps it:
  GET  /health          200 "ok" when the database answers, 503 otherwise
  GET  /api/env         {"environment": ..., "greeting": ..., "instance": ...}
  GET  /api/visits      {"visits": N}
  POST /api/visits      adds a visit, 201 {"visits": N}
"""
import json
import os
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import db


def environment():
    return os.environ.get("SLIPWAY_ENV") or os.environ.get("APP_ENV") or "unknown"


def route(path):
    path = path.split("?", 1)[0].rstrip("/") or "/"
    if path == "/api":
        return "/"
    if path.startswith("/api/"):
        return path[len("/api"):]
    return path


class Handler(BaseHTTPRequestHandler):
    server_version = "shop-api/1"
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY the body waits for the
    # client's delayed ACK of the headers, 40 ms on every keep-alive request.
    disable_nagle_algorithm = True

    def do_GET(self):
        path = route(self.path)
        if path == "/health":
            try:
                db.ping()
            except Exception as exc:  # any failure to reach the database is "unhealthy"
                self.text(503, "database unavailable: %s\n" % str(exc).strip())
                return
            self.text(200, "ok\n")
        elif path == "/env":
            self.json(200, {
                "environment": environment(),
                "greeting": os.environ.get("GREETING", ""),
                "instance": socket.gethostname(),
            })
        elif path == "/visits":
            self.with_db(lambda: self.json(200, {"visits": db.count_visits()}))
        elif path == "/":
            self.json(200, {"service": "shop-api", "environment": environment()})
        else:
            self.json(404, {"error": "not found", "path": self.path})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if route(self.path) == "/visits":
            self.with_db(lambda: self.json(201, {"visits": db.add_visit()}))
        else:
            self.json(404, {"error": "not found", "path": self.path})

    def with_db(self, action):
        try:
            action()
        except Exception as exc:
            self.log_message("database error: %s", str(exc).strip())
            self.json(503, {"error": "database unavailable"})

    def json(self, status, body):
        self.send(status, json.dumps(body).encode() + b"\n", "application/json")

    def text(self, status, body):
        self.send(status, body.encode(), "text/plain; charset=utf-8")

    def send(self, status, data, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def main():
    port = int(os.environ.get("PORT", "8000"))
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    server.daemon_threads = True

    def stop(signum, _frame):
        # finish in-flight requests, then exit: rolling deploys drain before they stop us
        print("api: signal %d, shutting down" % signum, file=sys.stderr, flush=True)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("api: %s environment, listening on :%d" % (environment(), port), file=sys.stderr, flush=True)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
