"""A customer's backend for voxgate's server tools, as a test starts it.

It checks every request's signature with PyPI's `standardwebhooks` (the Standard Webhooks
authors' implementation, not voxgate's code) and answers by its path's last segment:
`ok` answers the order's status, `fail` answers 500, `slow` answers after 3 s, `big` answers
1 MiB, `redirect` answers 302. A request whose signature does not verify gets 401.
`GET /seen` lists what arrived and whether it verified.

    python tool_backend.py SECRET     # prints "tool backend listening on http://127.0.0.1:PORT"
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

SECRET = sys.argv[1]
seen = []
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body, content_type="application/json", headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        with lock:
            self.answer(200, list(seen))

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            Webhook(SECRET).verify(body, headers)
            verified, why = True, None
        except Exception as e:  # any failure to verify is the finding
            verified, why = False, str(e)
        request = json.loads(body)
        with lock:
            seen.append({"path": self.path, "verified": verified, "why": why, "body": request,
                         "webhook_id": headers.get("webhook-id")})
        if not verified:
            return self.answer(401, {"error": f"signature: {why}"})
        behaviour = self.path.rstrip("/").rsplit("/", 1)[-1]
        if behaviour == "fail":
            return self.answer(500, b"database down", "text/plain")
        if behaviour == "slow":
            time.sleep(3)
        if behaviour == "big":
            return self.answer(200, {"blob": "x" * (1 << 20)})
        if behaviour == "redirect":
            return self.answer(302, b"", "text/plain", [("Location", "http://127.0.0.1:9/elsewhere")])
        order = request.get("arguments", {}).get("order_id", "?")
        self.answer(200, {"order_id": order, "status": "shipped", "verified": True})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"tool backend listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
