// The widget reconnects by itself (issue 33). Chromium runs in a network namespace of its own;
// mid-call its interface loses its address and gets a new one, as a laptop moving from Wi-Fi to
// mobile does. The widget shows "Reconnecting…", restarts ICE through the call's resource
// (PATCH, If-Match: *), and the same call goes on: the agent's audio is heard again, and the
// conversation has one call, with one reconnect.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startVoxgate, startSite, launchBrowser, browserNamespace } from "./harness.mjs";

let voxgate, site, browser, netns, widget;
const sessions = [];

before(async () => {
  netns = browserNamespace();
  // HTTP and media on the address the browser reaches through its veth.
  voxgate = await startVoxgate(["--media-ip", netns.hostIp], "serve", netns.hostIp);
  const agent = await voxgate.api("POST", "/v1/agents", { name: "Echo agent" });
  assert.equal(agent.status, 201, JSON.stringify(agent.body));
  site = await startSite(() => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1>Shop</h1><script src="${voxgate.url}/widget.js" data-widget="${widget}" data-session-url="/session" defer></script></body></html>`,
    async () => {
      const r = await voxgate.api("POST", `/v1/widgets/${widget}/sessions`, {});
      if (r.status === 201) sessions.push(r.body.session_id);
      return r;
    }, netns.hostIp);
  const w = await voxgate.api("POST", "/v1/widgets", {
    name: "Shop", agent_id: agent.body.id, environment: "staging", allowed_origins: [site.origin],
  });
  assert.equal(w.status, 201, JSON.stringify(w.body));
  widget = w.body.id;
  // The microphone needs a secure context: let the site's plain-http origin count as one.
  browser = await launchBrowser([`--unsafely-treat-insecure-origin-as-secure=${site.origin}`], netns.chromiumPath);
});

after(async () => {
  await browser?.close();
  site?.close();
  voxgate?.stop();
  netns?.close();
});

/** Resolves when the widget's host attribute `attr` satisfies `check`. */
function hostAttr(page, attr, check, timeout = 30000) {
  return page.waitForFunction(
    ({ attr, check }) => new Function("v", `return (${check})(v)`)(document.querySelector("[data-voxgate-widget]")?.getAttribute(attr)),
    { attr, check: check.toString() },
    { timeout, polling: 50 },
  );
}

test("a call whose network changes shows Reconnecting…, resumes, and stays one call", { timeout: 90000 }, async () => {
  const page = await browser.context.newPage();
  // Every state the call shows, in order.
  await page.addInitScript(() => {
    window.callStates = [];
    new MutationObserver(() => {
      const s = document.querySelector("[data-voxgate-widget]")?.getAttribute("data-call");
      if (s && window.callStates[window.callStates.length - 1] !== s) window.callStates.push(s);
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-call"] });
  });
  await page.goto(site.origin + "/");
  await page.waitForSelector("[data-voxgate-widget]:not([data-state=loading])", { state: "attached" });
  await page.locator("[data-part=launcher]").click();
  await page.locator("[data-part=call]").click();
  await hostAttr(page, "data-call", (v) => v === "live");
  // The echo agent plays the fake microphone's beeps back.
  await hostAttr(page, "data-agent-speaking", (v) => v === "true");

  netns.moveBrowser();
  await hostAttr(page, "data-call", (v) => v === "reconnecting");
  assert.equal(await page.locator("[data-part=call-state]").textContent(), "Reconnecting…");
  await hostAttr(page, "data-call", (v) => v === "live");
  // Heard again after the change: silent, then the echo once more.
  await hostAttr(page, "data-agent-speaking", (v) => v !== "true");
  await hostAttr(page, "data-agent-speaking", (v) => v === "true");
  assert.deepEqual(await page.evaluate(() => window.callStates), ["connecting", "live", "reconnecting", "live"]);

  await page.locator("[data-part=call]").click();
  const sid = sessions[sessions.length - 1];
  let calls = [];
  for (let waited = 0; waited < 10000; waited += 100) {
    const r = await voxgate.api("GET", `/v1/sessions/${sid}`);
    calls = r.body.calls ?? [];
    if (calls.length && calls.every((c) => c.end_reason)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(calls.length, 1, JSON.stringify(calls));
  assert.equal(calls[0].reconnects, 1, JSON.stringify(calls));
  assert.equal(calls[0].end_reason, "client_hangup", JSON.stringify(calls));
  await page.close();
});
