"""Two resources at once: counters in Redis (REDIS_URL, keys under
CACHE_PREFIX, the only ones its user may touch) and a log in PostgreSQL
(DATABASE_URL). GET /count/NAME adds one and answers the count; POST /log
stores the body; GET /log lists them."""

import json
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import redis

PREFIX = os.environ["CACHE_PREFIX"]
r = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=5)


def sql(query, args=()):
    with psycopg2.connect(os.environ["DATABASE_URL"], connect_timeout=5) as conn:
        with conn.cursor() as cur:
            cur.execute(query, args)
            return cur.fetchall() if cur.description else None


class Handler(BaseHTTPRequestHandler):
    def send(self, code, body):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            r.ping()
            sql("SELECT 1")
            self.send(200, "ok\n")
        elif self.path.startswith("/count/"):
            self.send(200, "%d\n" % r.incr(PREFIX + self.path[len("/count/"):]))
        elif self.path == "/log":
            self.send(200, json.dumps([x[0] for x in sql("SELECT line FROM log ORDER BY id")]) + "\n")
        else:
            self.send(404, "not found\n")

    def do_POST(self):
        line = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        sql("INSERT INTO log (line) VALUES (%s)", (line,))
        self.send(201, "logged\n")

    def log_message(self, fmt, *args):
        pass


sql("CREATE TABLE IF NOT EXISTS log (id serial PRIMARY KEY, line text)")
server = ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler)
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
print("counter listening", flush=True)
server.serve_forever()
