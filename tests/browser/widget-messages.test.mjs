// The widget's plain messages instead of silent failures: a blocked microphone, a page that is
// not HTTPS (and not localhost), a session that ended, and an agent that is unavailable.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startVoxgate, startSite, launchBrowser } from "./harness.mjs";

let voxgate, browser, insecureBrowser, agent;
const sites = {};

async function site(host = "127.0.0.1") {
  const site = { sessions: [], widget: null };
  const html = () => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head><body>
<script src="${voxgate.url}/widget.js" data-widget="${site.widget}" data-session-url="/session" defer></script></body></html>`;
  const s = await startSite(html, async () => {
    const r = await voxgate.api("POST", `/v1/widgets/${site.widget}/sessions`, {});
    if (r.status === 201) site.sessions.push(r.body.session_id);
    return r;
  });
  site.origin = s.origin.replace("127.0.0.1", host);
  site.close = s.close;
  return site;
}

async function widget(origin, agentId) {
  const w = await voxgate.api("POST", "/v1/widgets", {
    name: "Messages",
    agent_id: agentId,
    environment: "staging",
    allowed_origins: [origin],
  });
  assert.equal(w.status, 201, JSON.stringify(w.body));
  return w.body.id;
}

before(async () => {
  voxgate = await startVoxgate();
  agent = (await voxgate.api("POST", "/v1/agents", { name: "Echo" })).body.id;
  const unready = await voxgate.api("POST", "/v1/agents", {
    name: "Unready",
    backend: { type: "openai", base_url: "http://127.0.0.1:9/v1", model: "m", api_key_env: "VOXGATE_BROWSER_TEST_UNSET" },
  });
  assert.equal(unready.status, 201, JSON.stringify(unready.body));
  sites.plain = await site();
  sites.unavailable = await site();
  // A page on a name that is neither localhost nor HTTPS: not a secure context.
  sites.insecure = await site("shop.test");
  sites.plain.widget = await widget(sites.plain.origin, agent);
  sites.unavailable.widget = await widget(sites.unavailable.origin, unready.body.id);
  sites.insecure.widget = await widget(sites.insecure.origin, agent);
  browser = await launchBrowser();
  insecureBrowser = await launchBrowser(["--host-resolver-rules=MAP shop.test 127.0.0.1"]);
});

after(async () => {
  await browser?.close();
  await insecureBrowser?.close();
  for (const s of Object.values(sites)) s?.close();
  voxgate?.stop();
});

async function open(b, site, init) {
  const page = await b.context.newPage();
  if (init) await page.addInitScript(init);
  await page.goto(site.origin + "/");
  await page.waitForSelector("[data-voxgate-widget][data-state=ready]", { state: "attached" });
  await page.locator("[data-part=launcher]").click();
  return page;
}

async function noticeText(page) {
  const notice = page.locator("[data-part=notice]");
  await notice.waitFor({ state: "visible" });
  return notice.textContent();
}

test("a blocked microphone is said plainly", { timeout: 60000 }, async () => {
  // What the browser answers when the visitor (or a policy) denies the microphone.
  const deny = () => {
    navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException("denied", "NotAllowedError"));
  };
  const page = await open(browser, sites.plain, deny);
  await page.locator("[data-part=call]").click();
  assert.match(await noticeText(page), /Microphone access is blocked/);
  assert.notEqual(await page.locator("[data-voxgate-widget]").getAttribute("data-call"), "live");
  await page.close();
});

test("voice on a page without HTTPS says it needs HTTPS, and text still works", { timeout: 60000 }, async () => {
  const page = await open(insecureBrowser, sites.insecure);
  assert.equal(await page.evaluate(() => window.isSecureContext), false);
  await page.locator("[data-part=call]").click();
  assert.match(await noticeText(page), /Voice calls need a secure \(https:\/\/\) page/);
  await page.locator("[data-part=input]").fill("Hello?");
  await page.keyboard.press("Enter");
  await page.locator("[data-role=agent][data-complete=true]").waitFor();
  await page.close();
});

test("a session that ended is replaced, and the visitor is told", { timeout: 60000 }, async () => {
  const page = await open(browser, sites.plain);
  await page.locator("[data-part=input]").fill("First question");
  await page.keyboard.press("Enter");
  await page.locator("[data-role=agent][data-complete=true]").waitFor();
  const first = sites.plain.sessions.at(-1);
  const ended = await voxgate.api("DELETE", `/v1/sessions/${first}`);
  assert.equal(ended.status, 200);
  await page.locator("[data-part=input]").fill("Second question");
  await page.keyboard.press("Enter");
  assert.match(await noticeText(page), /Your session expired/);
  await page.locator("[data-role=agent][data-complete=true] >> nth=1").waitFor();
  assert.notEqual(sites.plain.sessions.at(-1), first, "a new session was asked for");
  await page.close();
});

test("an unavailable agent is said plainly", { timeout: 60000 }, async () => {
  const page = await open(browser, sites.unavailable);
  await page.locator("[data-part=input]").fill("Hello?");
  await page.keyboard.press("Enter");
  assert.match(await noticeText(page), /The assistant is unavailable right now/);
  assert.equal(sites.unavailable.sessions.length, 0);
  await page.close();
});
