// The route your widget's data-session-url points at, in Node.js (18+, no dependencies): it
// creates a session with the workspace key, which never leaves your server, and returns the
// session values as they are.
import { createServer } from "node:http";

const VOXGATE = process.env.VOXGATE_URL ?? "http://127.0.0.1:8080";
const KEY = process.env.VOXGATE_KEY;
const WIDGET = process.env.VOXGATE_WIDGET;

createServer(async (req, res) => {
  if (req.method !== "POST" || req.url !== "/api/voxgate-session") {
    res.writeHead(404).end();
    return;
  }
  // Your own checks go here: a signed-in visitor, your rate limits, what to put in metadata.
  const r = await fetch(`${VOXGATE}/v1/widgets/${WIDGET}/sessions`, {
    method: "POST",
    headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" },
    body: JSON.stringify({ metadata: { page: req.headers.referer ?? null } }),
  });
  res.writeHead(r.status, { "Content-Type": "application/json", "Cache-Control": "no-store" });
  res.end(await r.text());
}).listen(Number(process.env.PORT ?? 3000), "127.0.0.1");
