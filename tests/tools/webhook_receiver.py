"""A customer's webhook receiver, as a test starts it.

Every POST is checked with PyPI's `standardwebhooks` (not voxgate's code) against the secret
set with `POST /control {"secret": "whsec_..."}`; `{"fail": N}` makes the next N deliveries
answer 503. `GET /seen` lists every delivery: its webhook-id, whether it verified, the status
answered, and the body.

    python webhook_receiver.py     # prints "webhook receiver listening on http://127.0.0.1:PORT"
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

state = {"secret": None, "fail": 0, "seen": []}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        with lock:
            self.answer(200, list(state["seen"]))

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/control":
            with lock:
                state.update(json.loads(body))
            return self.answer(200, {"ok": True})
        headers = {k.lower(): v for k, v in self.headers.items()}
        with lock:
            try:
                Webhook(state["secret"]).verify(body, headers)
                verified, why = True, None
            except Exception as e:  # any failure to verify is the finding
                verified, why = False, str(e)
            status = 200 if verified else 401
            if verified and state["fail"] > 0:
                state["fail"] -= 1
                status = 503
            state["seen"].append({"webhook_id": headers.get("webhook-id"), "verified": verified, "why": why,
                                  "status": status, "body": json.loads(body)})
        self.answer(status, {"received": status == 200})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"webhook receiver listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
