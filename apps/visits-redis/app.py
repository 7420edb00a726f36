"""Visits counted in Redis (REDIS_URL), under the key prefix the instance
may use (CACHE_PREFIX): GET /PAGE adds one to PAGE and answers the count."""

import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import redis

PREFIX = os.environ["CACHE_PREFIX"]
r = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=5)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            r.ping()
            body = "ok\n"
        else:
            body = "%d\n" % r.incr(PREFIX + "visits" + self.path)
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        pass


server = ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler)
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
print("visits listening", flush=True)
server.serve_forever()
