"""A customer's webhook receiver, as a test starts it.

Every POST is checked with PyPI's `standardwebhooks` (not voxgate's code) against the secret
set with `POST /control {"secret": "whsec_..."}`; `{"fail": N}` makes the next N deliveries
answer 503, `{"down_for": SECONDS}` every delivery for that long from now. `GET /seen` lists
every delivery: its webhook-id, whether it verified, the status answered, when it arrived
(`received`, seconds since the epoch), and the body.

    python webhook_receiver.py     # prints "webhook receiver listening on http://127.0.0.1:PORT"
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

state = {"secret": None, "fail": 0, "down_until": 0.0, "seen": []}
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    # Keep-alive, as a production receiver would: voxgate reuses its connections.
    protocol_version = "HTTP/1.1"

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
                control = json.loads(body)
                if "down_for" in control:
                    state["down_until"] = time.time() + control.pop("down_for")
                state.update(control)
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
            elif verified and time.time() < state["down_until"]:
                status = 503
            state["seen"].append({"webhook_id": headers.get("webhook-id"), "verified": verified, "why": why,
                                  "status": status, "received": time.time(), "body": json.loads(body)})
        self.answer(status, {"received": status == 200})


class Server(ThreadingHTTPServer):
    # Python's default backlog is 5: a burst of deliveries would see SYNs dropped and wait a
    # second to retry the connect, a receiver's limit rather than the sender's.
    request_queue_size = 1024
    daemon_threads = True


server = Server(("127.0.0.1", 0), Handler)
print(f"webhook receiver listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
