// Voice in real headless Chromium: a page on an allowed origin gets a session from its backend,
// sends its fake microphone to webrtc_url, hears the echo, and hangs up; the same page on a
// disallowed origin is refused with origin_not_allowed.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { startVoxgate, startSite, launchBrowser } from "./harness.mjs";

const html = readFileSync(new URL("./voice-call.html", import.meta.url), "utf8");
let voxgate, allowed, refused, browser, widget;

before(async () => {
  voxgate = await startVoxgate();
  const agent = await voxgate.api("POST", "/v1/agents", { name: "Echo" });
  assert.equal(agent.status, 201);
  // Sites start first so the allowlist can name the allowed one's origin.
  // The site's backend returns the session values plus the widget id its page embeds.
  const createSession = async () => {
    const s = await voxgate.api("POST", `/v1/widgets/${widget}/sessions`, {});
    return { status: s.status, body: { ...s.body, widget_id: widget } };
  };
  allowed = await startSite(html, createSession);
  refused = await startSite(html, createSession);
  const w = await voxgate.api("POST", "/v1/widgets", {
    name: "Browser test",
    agent_id: agent.body.id,
    environment: "staging",
    allowed_origins: [allowed.origin],
  });
  assert.equal(w.status, 201, JSON.stringify(w.body));
  widget = w.body.id;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  allowed?.close();
  refused?.close();
  voxgate?.stop();
});

test("a page on an allowed origin hears its own voice echoed and hangs up", { timeout: 60000 }, async () => {
  const page = await browser.context.newPage();
  await page.goto(allowed.origin + "/");
  const result = await page.evaluate(() => window.call());
  assert.deepEqual(result.session_keys, [
    "expires_at",
    "messages_url",
    "session_id",
    "session_token",
    "webrtc_ice_servers",
    "webrtc_url",
  ]);
  assert.equal(result.config_status, 200, JSON.stringify(result));
  assert.equal(result.offer_status, 201, JSON.stringify(result));
  assert.ok(result.location?.includes("/webrtc/call_"), "Location is readable across origins");
  assert.ok(result.inbound?.packetsReceived > 0, `echo packets arrived: ${JSON.stringify(result)}`);
  assert.ok(result.inbound?.totalAudioEnergy > 0, `echo has audio energy: ${JSON.stringify(result)}`);
  assert.equal(result.hangup_status, 200);
  await page.close();

  // The server recorded a connected call that the visitor hung up.
  const metrics = await (await fetch(voxgate.url + "/metrics")).text();
  assert.match(metrics, /voxgate_calls_ended_total\{reason="client_hangup"\} 1/);
  assert.match(metrics, /voxgate_ice_connect_duration_seconds_count 1/);
});

test("closing the peer connection first, as Chromium does, then DELETE is 200", { timeout: 60000 }, async () => {
  const page = await browser.context.newPage();
  await page.goto(allowed.origin + "/");
  // 200 packets: 4 s of echo, most of it after the server stops tagging packets with the mid.
  const result = await page.evaluate(() => window.call({ minPackets: 200, closeFirst: true }));
  assert.equal(result.offer_status, 201, JSON.stringify(result));
  assert.ok(result.inbound?.packetsReceived >= 200, `the echo kept arriving: ${JSON.stringify(result)}`);
  assert.equal(result.hangup_status, 200, JSON.stringify(result));
  await page.close();
});

test("the same page on a disallowed origin is refused with origin_not_allowed", { timeout: 60000 }, async () => {
  const metricsBefore = await (await fetch(voxgate.url + "/metrics")).text();
  const rejected = (text) => Number(text.match(/voxgate_browser_rejections_total\{reason="origin_not_allowed"\} (\d+)/)?.[1] ?? 0);
  const page = await browser.context.newPage();
  // Neither Playwright nor DevTools' Network domain shows a CORS-blocked response; DevTools'
  // Fetch domain pauses the browser's own request when its response arrives and can read it.
  const cdp = await browser.context.newCDPSession(page);
  await cdp.send("Fetch.enable", { patterns: [{ urlPattern: "*/config", requestStage: "Response" }] });
  const configResponse = new Promise((resolve) => {
    cdp.on("Fetch.requestPaused", async (e) => {
      const raw = await cdp.send("Fetch.getResponseBody", { requestId: e.requestId });
      const text = raw.base64Encoded ? Buffer.from(raw.body, "base64").toString() : raw.body;
      await cdp.send("Fetch.continueRequest", { requestId: e.requestId });
      resolve({
        origin: e.request.headers.Origin ?? e.request.headers.origin,
        status: e.responseStatusCode,
        headers: Object.fromEntries((e.responseHeaders ?? []).map((h) => [h.name.toLowerCase(), h.value])),
        body: JSON.parse(text),
      });
    });
  });
  await page.goto(refused.origin + "/");
  const result = await page.evaluate(async () => {
    try {
      return await window.call();
    } catch (e) {
      return { thrown: String(e) };
    }
  });
  // What the browser received: 403 origin_not_allowed with no CORS header, so the page's
  // fetch rejects and learns nothing; the call's preflight is refused the same way.
  const response = await configResponse;
  assert.equal(response.origin, refused.origin, "the browser sent its real Origin");
  assert.equal(response.status, 403);
  assert.equal(response.body.error?.code, "origin_not_allowed", JSON.stringify(response.body));
  assert.equal(response.headers["access-control-allow-origin"], undefined, JSON.stringify(response.headers));
  assert.match(result.thrown ?? "", /Failed to fetch/, JSON.stringify(result));
  await page.close();
  const metricsAfter = await (await fetch(voxgate.url + "/metrics")).text();
  assert.ok(rejected(metricsAfter) > rejected(metricsBefore), "the server counted the refusal");
});
