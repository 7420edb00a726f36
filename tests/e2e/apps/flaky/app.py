"""A test app: /crash exits, /sick fails the health check, FAIL_AT_START=1
exits at once; / answers the VERSION from its environment."""

import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sick = threading.Event()


class Handler(BaseHTTPRequestHandler):
    def send(self, code, body):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            self.send(500 if sick.is_set() else 200, "sick\n" if sick.is_set() else "ok\n")
        elif self.path == "/sick":
            sick.set()
            open("/tmp/sick", "w").close()  # for a command health check
            self.send(200, "now sick\n")
        elif self.path == "/crash":
            self.send(200, "crashing\n")
            self.wfile.flush()
            os._exit(3)
        else:
            self.send(200, "version %s\n" % os.environ.get("VERSION", "?"))

    def log_message(self, fmt, *args):
        pass


if os.environ.get("FAIL_AT_START") == "1":
    print("flaky: told to fail at start", flush=True)
    sys.exit(1)
# A listen backlog for bursts (the default, 5, drops SYNs under load,
# which costs a client a one-second retransmission).
ThreadingHTTPServer.request_queue_size = 128
server = ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler)
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
print("flaky: listening", flush=True)
server.serve_forever()
