# The route your widget's data-session-url points at, in Python (3.8+, standard library only):
# it creates a session with the workspace key, which never leaves your server, and returns the
# session values as they are.
import json
import os
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

VOXGATE = os.environ.get("VOXGATE_URL", "http://127.0.0.1:8080")
KEY = os.environ["VOXGATE_KEY"]
WIDGET = os.environ["VOXGATE_WIDGET"]


class SessionRoute(BaseHTTPRequestHandler):
    def do_POST(self):
        if self.path != "/api/voxgate-session":
            return self.send_error(404)
        # Your own checks go here: a signed-in visitor, your rate limits, what to put in metadata.
        body = json.dumps({"metadata": {"page": self.headers.get("Referer")}}).encode()
        request = urllib.request.Request(
            f"{VOXGATE}/v1/widgets/{WIDGET}/sessions",
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request) as r:
                status, values = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, values = e.code, e.read()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(values)


HTTPServer(("127.0.0.1", int(os.environ.get("PORT", "3000"))), SessionRoute).serve_forever()
