"""Hello Python: a Nua sample app using only the standard library."""

import html
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ.get("PORT", "8080"))
GREETING = os.environ.get("GREETING", "Hello")
DATA_DIR = os.environ.get("DATA_DIR", "/tmp")
COUNTER = os.path.join(DATA_DIR, "visits")
lock = threading.Lock()
hoard = []


def bump():
    with lock:
        try:
            with open(COUNTER) as f:
                n = int(f.read().strip() or "0")
        except (OSError, ValueError):
            n = 0
        n += 1
        tmp = COUNTER + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(n))
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, COUNTER)
        return n


class Handler(BaseHTTPRequestHandler):
    server_version = "hello-python/1.0"

    def send(self, code, ctype, body):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            self.send(200, "text/plain", "ok\n")
        elif self.path == "/env":
            keys = sorted(k for k in os.environ if k.isupper() and k != "SECRET_KEY")
            self.send(200, "application/json",
                      json.dumps({k: os.environ[k] for k in keys}) + "\n")
        elif self.path == "/headers":
            # What the proxy in front says about the request.
            names = ["Host", "X-Forwarded-Host", "X-Forwarded-Port",
                     "X-Forwarded-Proto", "X-Forwarded-For",
                     "X-Nua-User", "X-Nua-Email", "X-Nua-Groups"]
            self.send(200, "application/json",
                      json.dumps({n: self.headers.get(n) for n in names}) + "\n")
        elif self.path.startswith("/alloc?mb="):
            # Hold N MiB of memory: shows what the instance's memory limit does.
            try:
                mb = int(self.path.split("=", 1)[1])
            except ValueError:
                self.send(400, "text/plain", "mb must be a number\n")
                return
            hoard.append(bytearray(mb * 1024 * 1024))
            self.send(200, "text/plain", f"holding {sum(map(len, hoard)) >> 20} MiB\n")
        elif self.path == "/":
            n = bump()
            self.send(200, "text/html; charset=utf-8",
                      "<!doctype html><title>Hello Python</title>"
                      f"<h1>{html.escape(GREETING)}</h1>"
                      f"<p>Visit number {n}.</p>\n")
        else:
            self.send(404, "text/plain", "not found\n")

    def log_message(self, fmt, *args):
        sys.stdout.write("%s %s\n" % (self.address_string(), fmt % args))
        sys.stdout.flush()


def main():
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"hello-python listening on port {PORT}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
