"""Notes kept in the PostgreSQL database of the instance's resource "db"
(DATABASE_URL): POST /notes stores the body, GET /notes lists them."""

import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2

URL = os.environ["DATABASE_URL"]


def db():
    return psycopg2.connect(URL, connect_timeout=5)


def setup():
    with db() as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, body text)")


class Handler(BaseHTTPRequestHandler):
    def send(self, code, body, ctype="text/plain"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            try:
                with db() as conn, conn.cursor() as cur:
                    cur.execute("SELECT 1")
                self.send(200, "ok\n")
            except psycopg2.Error as e:
                self.send(503, "database: %s\n" % e)
        elif self.path == "/notes":
            with db() as conn, conn.cursor() as cur:
                cur.execute("SELECT body FROM notes ORDER BY id")
                self.send(200, json.dumps([r[0] for r in cur.fetchall()]) + "\n",
                          "application/json")
        else:
            self.send(404, "not found\n")

    def do_POST(self):
        if self.path != "/notes":
            self.send(404, "not found\n")
            return
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode()
        with db() as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO notes (body) VALUES (%s)", (body,))
        self.send(201, "stored\n")

    def log_message(self, fmt, *args):
        sys.stdout.write("%s\n" % (fmt % args))
        sys.stdout.flush()


setup()
server = ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler)
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
print("notes-pg listening on port %s" % os.environ["PORT"], flush=True)
server.serve_forever()
