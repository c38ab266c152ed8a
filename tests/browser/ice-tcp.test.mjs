// ICE over TCP (issue 18): Chromium in a network namespace of its own whose firewall (nftables)
// drops every UDP packet to voxgate's address. The only way left is the passive TCP candidate
// each media worker offers, framed per RFC 4571: the call connects over it and the echo comes
// back, and voxgate's metrics show the TCP connection.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { startVoxgate, startEchoSite, launchBrowser, browserNamespace } from "./harness.mjs";

const html = readFileSync(new URL("./voice-call.html", import.meta.url), "utf8");
let voxgate, site, browser, netns;

before(async () => {
  netns = browserNamespace();
  // Everything on the address the browser reaches, media included: only UDP is blocked.
  voxgate = await startVoxgate(["--media-ip", netns.hostIp], "serve", netns.hostIp);
  netns.exec("nft", "add", "table", "inet", "voxgate_test");
  netns.exec("nft", "add", "chain", "inet", "voxgate_test", "out", "{ type filter hook output priority 0 ; }");
  netns.exec("nft", "add", "rule", "inet", "voxgate_test", "out", "ip", "daddr", netns.hostIp, "meta", "l4proto", "udp", "counter", "drop");
  ({ site } = await startEchoSite(voxgate, html, netns.hostIp));
  browser = await launchBrowser([`--unsafely-treat-insecure-origin-as-secure=${site.origin}`], netns.chromiumPath);
});

after(async () => {
  await browser?.close();
  site?.close();
  voxgate?.stop();
  netns?.close();
});

test("with UDP to voxgate dropped, Chromium connects over the TCP candidate and hears its echo", { timeout: 90000 }, async () => {
  const page = await browser.context.newPage();
  await page.goto(site.origin + "/");
  const result = await page.evaluate(() => window.call({ minPackets: 50 }));
  assert.equal(result.offer_status, 201, JSON.stringify(result));
  assert.equal(result.remote_protocol, "tcp", JSON.stringify(result));
  assert.ok(result.inbound?.packetsReceived >= 50 && result.inbound.totalAudioEnergy > 0, JSON.stringify(result));
  assert.equal(result.hangup_status, 200);
  await page.close();
  // The browser did try UDP (its checks to the UDP candidate), and the firewall dropped them.
  const rules = execFileSync("ip", ["netns", "exec", netns.name, "nft", "list", "chain", "inet", "voxgate_test", "out"]).toString();
  const dropped = Number(rules.match(/counter packets (\d+)/)?.[1] ?? 0);
  assert.ok(dropped > 0, `UDP to voxgate was attempted and dropped:\n${rules}`);
  const metrics = await (await fetch(`${voxgate.url}/metrics`)).text();
  const refusedUdp = metrics.match(/^voxgate_media_tcp_closed_total\{reason="(unrouted|stalled)"\} (\d+)/m);
  assert.ok(!refusedUdp || refusedUdp[2] === "0", "no connection was refused or stalled:\n" + metrics);
  assert.match(metrics, /^voxgate_media_tcp_connections \d+/m);
});
