"""A recording HTTP proxy in front of fake-clerk for `make e2e-node`.

Every request is forwarded to the fake and logged as one JSON line (time, the client's IP, method,
path, status), so the test can count Clerk writes per Pod: the node's bridge does not masquerade,
so the client IP is the Pod IP.

Usage: clerk_recorder.py LISTEN_HOST LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT LOG_FILE
"""

import http.client
import http.server
import json
import sys
import threading
import time

LISTEN = (sys.argv[1], int(sys.argv[2]))
UPSTREAM = (sys.argv[3], int(sys.argv[4]))
LOG = open(sys.argv[5], "a", buffering=1)
LOCK = threading.Lock()
HOP = {"host", "connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        conn = http.client.HTTPConnection(*UPSTREAM, timeout=60)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        entry = {"t": time.time(), "peer": self.client_address[0], "method": self.command,
                 "path": self.path, "status": resp.status}
        with LOCK:
            LOG.write(json.dumps(entry) + "\n")

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = forward

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer.daemon_threads = True
http.server.ThreadingHTTPServer(LISTEN, Handler).serve_forever()
