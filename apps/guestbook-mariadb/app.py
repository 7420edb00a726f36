"""A guestbook in the MariaDB database of the resource "sql" (SQL_HOST,
SQL_USER, SQL_PASSWORD, SQL_DB): POST / signs it, GET / lists the names."""

import json
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pymysql


def db():
    return pymysql.connect(host=os.environ["SQL_HOST"], port=int(os.environ["SQL_PORT"]),
                           user=os.environ["SQL_USER"], password=os.environ["SQL_PASSWORD"],
                           database=os.environ["SQL_DB"], connect_timeout=5, autocommit=True)


def run(sql, args=()):
    conn = db()
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


class Handler(BaseHTTPRequestHandler):
    def send(self, code, body):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            run("SELECT 1")
            self.send(200, "ok\n")
        else:
            self.send(200, json.dumps([r[0] for r in run("SELECT name FROM book ORDER BY id")]) + "\n")

    def do_POST(self):
        name = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        run("INSERT INTO book (name) VALUES (%s)", (name,))
        self.send(201, "signed\n")

    def log_message(self, fmt, *args):
        pass


run("CREATE TABLE IF NOT EXISTS book (id INT AUTO_INCREMENT PRIMARY KEY, name TEXT)")
server = ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler)
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
print("guestbook listening", flush=True)
server.serve_forever()
