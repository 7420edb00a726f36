#!/usr/bin/env python3
"""An ACME server for the tests that takes accounts and refuses every order
with the problem it is told (RFC 8555 section 6.7), the way a CA under load
or enforcing its rate limits does. It checks no signature: it only stands
for the CA's side of a refusal, which pebble cannot be made to give.

usage: acme-refuser.py PORT CERT KEY PROBLEM-TYPE DETAIL
Every request is logged on stdout as "METHOD PATH".
"""
import json
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, CERT, KEY, PROBLEM, DETAIL = sys.argv[1:6]
BASE = "https://127.0.0.1:%s" % PORT
nonce = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, body=None, kind="application/json", headers=()):
        global nonce
        nonce += 1
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Replay-Nonce", "nonce-%d" % nonce)
        self.send_header("Cache-Control", "no-store")
        for k, v in headers:
            self.send_header(k, v)
        if body is not None:
            self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        print(self.command, self.path, flush=True)

    def do_HEAD(self):
        self.answer(200)

    def do_GET(self):
        if self.path == "/dir":
            self.answer(200, {"newNonce": BASE + "/nonce", "newAccount": BASE + "/account",
                              "newOrder": BASE + "/order", "revokeCert": BASE + "/revoke",
                              "keyChange": BASE + "/key"})
        else:
            self.answer(204 if self.path == "/nonce" else 404)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/account":
            self.answer(200, {"status": "valid", "orders": BASE + "/orders"},
                        headers=[("Location", BASE + "/account/1")])
        elif self.path == "/account/1":
            self.answer(200, {"status": "valid"})
        else:
            status = 429 if PROBLEM.endswith(":rateLimited") else 400
            self.answer(status, {"type": PROBLEM, "detail": DETAIL, "status": status},
                        kind="application/problem+json", headers=[("Retry-After", "3600")])


server = ThreadingHTTPServer(("127.0.0.1", int(PORT)), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(CERT, KEY)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print("listening", flush=True)
server.serve_forever()
