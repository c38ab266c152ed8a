// TURN with per-session credentials (issue 18): a real coturn with use-auth-secret, voxgate
// handing out TURN REST API credentials that expire with the session, and Chromium in a network
// namespace of its own that reaches voxgate's HTTP and coturn but not voxgate's media address
// (127.0.0.1 of the other namespace): its call can only go through coturn. A tampered or
// expired credential is refused by coturn itself.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { startVoxgate, startEchoSite, launchBrowser, startCoturn, browserNamespace } from "./harness.mjs";

const html = readFileSync(new URL("./voice-call.html", import.meta.url), "utf8");
const SECRET = "turn-secret-for-tests-0123456789";
let voxgate, coturn, site, browser, widget, netns;

before(async () => {
  netns = browserNamespace();
  coturn = await startCoturn(SECRET, netns.hostIp);
  // HTTP on the address the browser reaches; media on 127.0.0.1, which it does not.
  voxgate = await startVoxgate(
    ["--media-ip", "127.0.0.1", "--turn-urls", `turn:${netns.hostIp}:${coturn.port}?transport=udp`, "--turn-secret", SECRET, "--min-ttl-seconds", "1"],
    "serve",
    netns.hostIp,
  );
  ({ site, widget } = await startEchoSite(voxgate, html, netns.hostIp));
  // The microphone needs a secure context: let the site's plain-http origin count as one.
  browser = await launchBrowser([`--unsafely-treat-insecure-origin-as-secure=${site.origin}`], netns.chromiumPath);
});

after(async () => {
  await browser?.close();
  site?.close();
  voxgate?.stop();
  coturn?.stop();
  netns?.close();
});

test("a browser that cannot reach the media address gets its echo through coturn", { timeout: 90000 }, async () => {
  const page = await browser.context.newPage();
  await page.goto(site.origin + "/");
  // Every path allowed: the direct one cannot work, so the call takes the relay.
  const result = await page.evaluate(() => window.call({ minPackets: 50 }));
  assert.equal(result.offer_status, 201, JSON.stringify(result));
  assert.equal(result.local_candidate, "relay", JSON.stringify(result));
  assert.ok(result.inbound?.packetsReceived >= 50 && result.inbound.totalAudioEnergy > 0, JSON.stringify(result));
  await page.close();
});

test("Chromium relaying only through coturn hears its echo", { timeout: 90000 }, async () => {
  const page = await browser.context.newPage();
  await page.goto(site.origin + "/");
  const result = await page.evaluate(() => window.call({ relay: true, minPackets: 50 }));
  assert.equal(result.offer_status, 201, JSON.stringify(result));
  const turn = result.ice_servers.find((s) => String(s.urls).includes("turn:"));
  assert.match(turn.username, /^\d+:ses_[A-Za-z0-9]+$/, JSON.stringify(turn));
  assert.equal(result.local_candidate, "relay", JSON.stringify(result));
  assert.ok(result.inbound?.packetsReceived >= 50 && result.inbound.totalAudioEnergy > 0, JSON.stringify(result));
  assert.equal(result.hangup_status, 200);
  await page.close();
});

test("coturn refuses a tampered credential and an expired one", { timeout: 30000 }, async () => {
  const page = await browser.context.newPage();
  await page.goto(site.origin + "/");
  const fresh = (await voxgate.api("POST", `/v1/widgets/${widget}/sessions`, {})).body.webrtc_ice_servers;
  const short = (await voxgate.api("POST", `/v1/widgets/${widget}/sessions`, { ttl_seconds: 1 })).body;
  const granted = await page.evaluate((s) => window.gatherRelay(s), fresh);
  assert.ok(granted.relays > 0, `a fresh credential gets a relay (errors: ${granted.errors})`);
  const tampered = fresh.map((s) => ({ ...s, credential: s.credential && (s.credential[0] === "A" ? "B" : "A") + s.credential.slice(1) }));
  const forged = fresh.map((s) => ({ ...s, username: s.username && s.username.replace(/^\d+/, (t) => String(Number(t) + 3600)) }));
  const expiry = Number(short.webrtc_ice_servers.find((s) => s.username).username.split(":")[0]);
  // Wait (on the clock, which is the subject here) until the short credential's expiry has passed.
  while (Date.now() / 1000 <= expiry + 1) await new Promise((r) => setTimeout(r, 100));
  const refused = await page.evaluate(
    (all) => Promise.all(all.map((s) => window.gatherRelay(s))),
    [tampered, forged, short.webrtc_ice_servers],
  );
  for (const [what, got] of [["tampered", refused[0]], ["a later expiry with the old password", refused[1]], ["expired", refused[2]]]) {
    assert.equal(got.relays, 0, `${what}: no relay`);
    assert.ok(got.errors.includes(401), `${what}: coturn answers 401 (errors: ${got.errors})`);
  }
  await page.close();
});
