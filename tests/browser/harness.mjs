// Shared harness for browser tests: the real voxgate binary, a stand-in customer site with its
// backend route, and headless Chromium (Debian's) with a fake microphone.

import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const binary = process.env.VOXGATE_BIN ?? join(root, "target", "debug", "voxgate");

/** Starts `voxgate serve` (or `demo`) on a free port with a fresh data dir. */
export async function startVoxgate(extraArgs = [], command = "serve") {
  const dataDir = mkdtempSync(join(tmpdir(), "voxgate-browser-"));
  // A stop ends live calls at once (no drain), so nothing outlives the test.
  const args = [command, "--http", "127.0.0.1:0", "--data-dir", dataDir, "--drain-seconds", "0", ...extraArgs];
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
export async function startSite(html, createSession) {
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
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return { origin, close: () => server.close() };
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

/** Headless Chromium in a fresh profile, with `extraArgs` after the usual flags. */
export async function launchBrowser(extraArgs = []) {
  const profile = mkdtempSync(join(tmpdir(), "voxgate-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
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
  const printed = voxgate.stdout().match(/voxgate demo: open (\S+)/);
  if (!printed) throw new Error(`the demo prints what to open: ${voxgate.stdout()}`);
  const page = await browser.context.newPage();
  await page.goto(printed[1]);
  await page.waitForSelector("[data-voxgate-widget][data-state=ready]", { state: "attached" });
  await page.locator("[data-part=launcher]").click();
  return page;
}
