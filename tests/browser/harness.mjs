// Shared harness for browser tests: the real voxgate binary, a stand-in customer site with its
// backend route, and headless Chromium (Debian's) with a fake microphone.

import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const binary = process.env.VOXGATE_BIN ?? join(root, "target", "debug", "voxgate");

/** Starts `voxgate serve` (or `demo`) on a free port with a fresh data dir. */
export async function startVoxgate(extraArgs = [], command = "serve", host = "127.0.0.1") {
  const dataDir = mkdtempSync(join(tmpdir(), "voxgate-browser-"));
  // A stop ends live calls at once (no drain), so nothing outlives the test.
  const args = [command, "--http", `${host}:0`, "--data-dir", dataDir, "--drain-seconds", "0", ...extraArgs];
  const child = spawn(binary, args, {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, VOXGATE_LOG: process.env.VOXGATE_TEST_LOG ?? "warn" },
  });
  let seen = "";
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`voxgate did not start: ${seen}`)), 30000);
    child.stdout.on("data", (chunk) => {
      seen += chunk;
      const m = seen.match(/voxgate listening on (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on("exit", (code) => reject(new Error(`voxgate exited with ${code}: ${seen}`)));
  });
  const key = execFileSync(binary, ["keys", "create", "--data-dir", dataDir, "--workspace", "browser"], {
    env: { ...process.env, VOXGATE_LOG: "warn" },
  })
    .toString()
    .trim();
  return {
    url,
    key,
    dataDir,
    /** Creates a dashboard user of `workspace` with `password` (as `voxgate users create`). */
    createUser(email, password, workspace = "browser") {
      execFileSync(binary, ["users", "create", "--data-dir", dataDir, "--workspace", workspace, "--email", email, "--password-stdin"], {
        input: password + "\n",
        env: { ...process.env, VOXGATE_LOG: "warn" },
      });
    },
    /** What the server printed on stdout (the demo prints the page to open). */
    stdout: () => seen,
    async api(method, path, body) {
      const res = await fetch(url + path, {
        method,
        headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: await res.json() };
    },
    stop() {
      child.kill("SIGTERM");
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A customer site: serves `html` (a string, or a function called per request) at `/` and, at
 * `/session`, does what a customer's backend does: creates a session with the workspace key and
 * returns only the browser-safe values.
 */
export async function startSite(html, createSession, host = "127.0.0.1") {
  const server = createServer(async (req, res) => {
    // `/session`, or the route the dashboard's snippet names.
    if ((req.url === "/session" || req.url === "/api/voxgate-session") && req.method === "POST") {
      const s = await createSession();
      res.writeHead(s.status, { "Content-Type": "application/json" });
      res.end(JSON.stringify(s.body));
      return;
    }
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(typeof html === "function" ? html() : html);
  });
  await new Promise((resolve) => server.listen(0, host, resolve));
  const origin = `http://${host}:${server.address().port}`;
  // Closing drops open connections too: one from an address the browser no longer has
  // (tests/browser/widget-reconnect.test.mjs) would otherwise keep the test process alive.
  return { origin, close: () => { server.closeAllConnections(); server.close(); } };
}

/** A free UDP port on 127.0.0.1 (for a server that cannot pick its own). */
async function freeUdpPort() {
  const { createSocket } = await import("node:dgram");
  const socket = createSocket("udp4");
  await new Promise((resolve) => socket.bind(0, "127.0.0.1", resolve));
  const port = socket.address().port;
  await new Promise((resolve) => socket.close(resolve));
  return port;
}

/**
 * A staging widget with an echo agent, and a site on `host` that allows it and makes sessions
 * for it: the usual setup of a voice network test.
 */
export async function startEchoSite(voxgate, html, host = "127.0.0.1") {
  const agent = await voxgate.api("POST", "/v1/agents", { name: "Echo" });
  let widget;
  const site = await startSite(html, async () => {
    const s = await voxgate.api("POST", `/v1/widgets/${widget}/sessions`, {});
    return { status: s.status, body: { ...s.body, widget_id: widget } };
  }, host);
  const w = await voxgate.api("POST", "/v1/widgets", {
    name: "Voice network test",
    agent_id: agent.body.id,
    environment: "staging",
    allowed_origins: [site.origin],
  });
  widget = w.body.id;
  return { site, widget };
}

/**
 * A real coturn (Debian's turnserver) on 127.0.0.1 that checks TURN REST API credentials
 * against `secret` (use-auth-secret), relaying to loopback peers (voxgate on 127.0.0.1).
 */
export async function startCoturn(secret, listenIp = "127.0.0.1") {
  const dir = mkdtempSync(join(tmpdir(), "voxgate-coturn-"));
  const port = await freeUdpPort();
  const child = spawn("turnserver", [
    "-n", `--listening-ip=${listenIp}`, `--listening-port=${port}`, "--relay-ip=127.0.0.1",
    "--min-port=50000", "--max-port=59999", "--use-auth-secret", `--static-auth-secret=${secret}`,
    "--realm=voxgate.test", "--no-tls", "--no-dtls", "--allow-loopback-peers", "--no-cli",
    "--fingerprint", "--log-file=stdout", "--simple-log", `--userdb=${join(dir, "db")}`, `--pidfile=${join(dir, "pid")}`,
  ], { stdio: ["ignore", "pipe", "inherit"] });
  let seen = "";
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`coturn did not start: ${seen}`)), 20000);
    child.stdout.on("data", (chunk) => {
      seen += chunk;
      if (seen.includes("Total General servers")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on("exit", (code) => reject(new Error(`coturn exited with ${code}: ${seen}`)));
  });
  seen = "";
  child.stdout.removeAllListeners("data");
  child.stdout.resume();
  return {
    port,
    stop() {
      child.kill("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--use-fake-device-for-media-stream",
  "--use-fake-ui-for-media-stream",
  "--allow-loopback-in-peer-connection",
  "--disable-features=WebRtcHideLocalIpsWithMdns",
  "--autoplay-policy=no-user-gesture-required",
];

/**
 * A network namespace for the browser, joined to this one by a veth pair: the browser reaches
 * `hostIp` (where HTTP, the site and TURN listen) and nothing else here, not this namespace's
 * 127.0.0.1, where voxgate's media listens. Needs root (ip netns).
 */
export function browserNamespace() {
  const n = process.pid % 200 + 20;
  const name = `vg-browser-${process.pid}`;
  const [outer, inner] = [`vgb${process.pid % 100000}a`, `vgb${process.pid % 100000}b`];
  const hostIp = `10.77.${n}.1`;
  const run = (...args) => execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
  run("netns", "add", name);
  run("link", "add", outer, "type", "veth", "peer", "name", inner);
  run("link", "set", inner, "netns", name);
  run("addr", "add", `${hostIp}/24`, "dev", outer);
  run("link", "set", outer, "up");
  run("netns", "exec", name, "ip", "addr", "add", `10.77.${n}.2/24`, "dev", inner);
  run("netns", "exec", name, "ip", "link", "set", inner, "up");
  run("netns", "exec", name, "ip", "link", "set", "lo", "up");
  // Chromium, started inside the namespace (playwright drives it over a pipe, not the network).
  const dir = mkdtempSync(join(tmpdir(), "voxgate-netns-"));
  const chromiumPath = join(dir, "chromium");
  writeFileSync(chromiumPath, `#!/bin/sh\nexec ip netns exec ${name} ${process.env.CHROMIUM ?? "/usr/bin/chromium"} "$@"\n`, { mode: 0o755 });
  let browserIp = `10.77.${n}.2`;
  return {
    name,
    hostIp,
    chromiumPath,
    /** The browser's address now. */
    browserIp: () => browserIp,
    /**
     * The browser's network changes (Wi-Fi to mobile): its interface gets a new address and
     * loses the old one, as a laptop's does.
     */
    moveBrowser() {
      const next = browserIp.endsWith(".2") ? `10.77.${n}.3` : `10.77.${n}.2`;
      // The old address goes first (deleting a primary address takes its secondaries along).
      run("netns", "exec", name, "ip", "addr", "del", `${browserIp}/24`, "dev", inner);
      run("netns", "exec", name, "ip", "addr", "add", `${next}/24`, "dev", inner);
      browserIp = next;
    },
    /** Runs a command inside the namespace (for example a firewall rule). */
    exec: (...args) => run("netns", "exec", name, ...args),
    close() {
      try { run("netns", "del", name); } catch { /* gone already */ }
      try { run("link", "del", outer); } catch { /* deleted with its peer */ }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Headless Chromium in a fresh profile, with `extraArgs` after the usual flags. */
export async function launchBrowser(extraArgs = [], executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium") {
  const profile = mkdtempSync(join(tmpdir(), "voxgate-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [...CHROMIUM_FLAGS, ...extraArgs],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Opens the page `voxgate demo` printed and the widget's panel on it. */
export async function openDemoWidget(browser, voxgate) {
  // The demo prints what to open just after its start-up line: wait for it.
  let printed = null;
  for (let waited = 0; !printed && waited < 10000; waited += 50) {
    printed = voxgate.stdout().match(/voxgate demo: open (\S+)/);
    if (!printed) await new Promise((r) => setTimeout(r, 50));
  }
  if (!printed) throw new Error(`the demo prints what to open: ${voxgate.stdout()}`);
  const page = await browser.context.newPage();
  await page.goto(printed[1]);
  await page.waitForSelector("[data-voxgate-widget][data-state=ready]", { state: "attached" });
  await page.locator("[data-part=launcher]").click();
  return page;
}
