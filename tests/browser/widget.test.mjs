// The hosted widget in real headless Chromium, embedded with one tag on stand-in customer sites:
// the consent gate, a streamed text answer, a voice call, a saved config change on reload, and a
// disallowed origin. Screenshots of each state go to target/widget-screenshots/.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { startVoxgate, startSite, launchBrowser } from "./harness.mjs";

const shots = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "target", "widget-screenshots");
mkdirSync(shots, { recursive: true });

let voxgate, browser, agent;
const sites = {};

/** A customer site embedding its `widget` with the one tag, and a backend that counts sessions. */
async function site() {
  const site = { sessions: [], widget: null };
  const html = () => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>
<style>body{font:16px serif;color:#c00} button{background:#0f0}</style></head>
<body><h1>Acme shop</h1><p>Page text the widget must not restyle.</p><button id="page-button">Page button</button>
<script src="${voxgate.url}/widget.js" data-widget="${site.widget}" data-session-url="/session" defer></script>
</body></html>`;
  const s = await startSite(html, async () => {
    const r = await voxgate.api("POST", `/v1/widgets/${site.widget}/sessions`, {});
    if (r.status === 201) site.sessions.push(r.body.session_id);
    return r;
  });
  return Object.assign(site, s);
}

async function widgetFor(name, allowed, extra = {}) {
  const w = await voxgate.api("POST", "/v1/widgets", {
    name,
    agent_id: agent,
    environment: "staging",
    allowed_origins: allowed,
    content: { greeting: "Hi! Ask me about voxgate." },
    ...extra,
  });
  assert.equal(w.status, 201, JSON.stringify(w.body));
  return w.body.id;
}

before(async () => {
  voxgate = await startVoxgate(["--builtin-word-delay-ms", "30"]);
  const a = await voxgate.api("POST", "/v1/agents", {
    name: "Widget agent",
    knowledge: [{ title: "Billing", text: "Voice is billed per started minute of connected media." }],
  });
  assert.equal(a.status, 201);
  agent = a.body.id;
  // Sites first (their origins are random ports), then widgets that allow them.
  sites.plain = await site();
  sites.consent = await site();
  sites.refused = await site();
  sites.plain.widget = await widgetFor("Plain", [sites.plain.origin]);
  sites.consent.widget = await widgetFor("Consent", [sites.consent.origin], {
    privacy: { consent_required: true, terms_text: "We record this conversation to improve the shop." },
  });
  // The refused site embeds the plain widget, which does not allow its origin.
  sites.refused.widget = sites.plain.widget;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  for (const s of Object.values(sites)) s?.close();
  voxgate?.stop();
});

/** A page on `site` with the widget ready (its config loaded or refused). */
async function open(site) {
  const page = await browser.context.newPage();
  await page.goto(site.origin + "/");
  await page.waitForSelector("[data-voxgate-widget]:not([data-state=loading])", { state: "attached" });
  await page.locator("[data-part=launcher]").click();
  return page;
}

const shot = (page, name) => page.screenshot({ path: join(shots, `${name}.png`) });

test("the consent gate blocks until accepted, and no session is created before", { timeout: 60000 }, async () => {
  const page = await open(sites.consent);
  const consent = page.locator("[data-part=consent]");
  await consent.waitFor({ state: "visible" });
  assert.match(await page.locator("[data-part=terms]").textContent(), /We record this conversation/);
  assert.equal(await page.locator("[data-part=form]").isVisible(), false, "no text input before consent");
  assert.equal(await page.locator("[data-part=call]").isVisible(), false, "no call button before consent");
  await shot(page, "consent-gate");
  assert.equal(sites.consent.sessions.length, 0);

  await page.locator("[data-part=accept]").click();
  await page.locator("[data-part=input]").waitFor({ state: "visible" });
  assert.equal(sites.consent.sessions.length, 0, "accepting alone creates no session");
  await page.locator("[data-part=input]").fill("How is voice billed?");
  await page.keyboard.press("Enter");
  await page.locator("[data-role=agent][data-complete=true]").waitFor();
  assert.equal(sites.consent.sessions.length, 1);

  // Consent is remembered for this widget.
  await page.reload();
  await page.waitForSelector("[data-voxgate-widget][data-state=ready]", { state: "attached" });
  await page.locator("[data-part=launcher]").click();
  assert.equal(await page.locator("[data-part=consent]").isVisible(), false);
  await page.close();
});

test("a typed question gets a streamed answer rendered in the widget", { timeout: 60000 }, async () => {
  const page = await open(sites.plain);
  // Count how the answer bubble grows: streamed means it is seen part-written.
  await page.evaluate(() => {
    const root = document.querySelector("[data-voxgate-widget]").shadowRoot;
    window.__lengths = [];
    new MutationObserver(() => {
      const agents = root.querySelectorAll("[data-role=agent]");
      const last = agents[agents.length - 1];
      if (last) window.__lengths.push(last.textContent.length);
    }).observe(root.querySelector("[data-part=log]"), { subtree: true, childList: true, characterData: true });
  });
  await page.locator("[data-part=input]").fill("How is voice billed?");
  await page.locator("[data-part=send]").click();
  const answer = page.locator("[data-role=agent][data-complete=true]");
  await answer.waitFor();
  const text = await answer.textContent();
  assert.match(text, /Voice is billed per started minute/);
  const lengths = await page.evaluate(() => window.__lengths);
  const partial = lengths.filter((n) => n > 0 && n < text.length);
  assert.ok(new Set(partial).size >= 3, `the answer appeared in parts: ${JSON.stringify(lengths)}`);
  // The page's own styles did not leak in: the widget's text is not the page's red serif.
  const color = await page.locator("[data-role=visitor]").evaluate((el) => getComputedStyle(el).color);
  assert.notEqual(color, "rgb(204, 0, 0)");
  // And the widget's styles did not leak out.
  const pageButton = await page.locator("#page-button").evaluate((el) => getComputedStyle(el).backgroundColor);
  assert.equal(pageButton, "rgb(0, 255, 0)");
  assert.equal(await page.locator("[data-part=source]").textContent(), "Source: Billing");
  await shot(page, "text-answer");
  await page.close();
});

/** Waits until `check(attribute value)` holds for `part`'s attribute inside the widget. */
async function waitForAttr(page, selector, attr, check, timeout = 20000) {
  await page.waitForFunction(
    ({ selector, attr, check }) => {
      const node = document.querySelector("[data-voxgate-widget]").shadowRoot.querySelector(selector)
        ?? document.querySelector(selector);
      return node && new Function("v", `return (${check})(v)`)(node.getAttribute(attr));
    },
    { selector, attr, check: check.toString() },
    { timeout, polling: 50 },
  );
}

test("a call shows the visitor's level, the agent speaking, and its start and end in the chat", { timeout: 60000 }, async () => {
  const page = await open(sites.plain);
  await page.locator("[data-part=call]").click();
  await page.waitForSelector("[data-voxgate-widget][data-call=live]", { state: "attached", timeout: 30000 });
  assert.equal(await page.locator("[data-role=call]").first().textContent(), "Call started");
  // The fake microphone beeps: the meter moves with it.
  await waitForAttr(page, "[data-part=level]", "data-level", (v) => Number(v) > 0.3);
  // The builtin agent echoes the beep back: the speaking indicator shows while it plays.
  await waitForAttr(page, "[data-voxgate-widget]", "data-agent-speaking", (v) => v === "true");
  assert.equal(await page.locator("[data-part=speaking]").isVisible(), true);
  await shot(page, "voice-levels");
  await page.locator("[data-part=call]").click();
  const ended = await page.locator("[data-role=call]").last().textContent();
  assert.match(ended, /^Call ended · \d+:\d\d$/);
  assert.equal(await page.locator("[data-part=meters]").isVisible(), false);
  await page.close();
});

test("a reload shows the conversation so far", { timeout: 60000 }, async () => {
  const page = await open(sites.plain);
  await page.locator("[data-part=input]").fill("How is voice billed?");
  await page.locator("[data-part=send]").click();
  await page.locator("[data-role=agent][data-complete=true]").waitFor();
  await page.locator("[data-part=call]").click();
  await page.waitForSelector("[data-voxgate-widget][data-call=live]", { state: "attached", timeout: 30000 });
  await page.locator("[data-part=call]").click();
  await page.reload();
  await page.waitForSelector("[data-voxgate-widget]:not([data-state=loading])", { state: "attached" });
  await page.locator("[data-part=launcher]").click();
  await page.locator("[data-part=source]").waitFor();
  const log = await page.locator("[data-part=log]").textContent();
  assert.match(log, /How is voice billed\?/);
  assert.match(log, /Voice is billed per started minute of connected media\./);
  assert.match(log, /Source: Billing/);
  await page.locator("[data-role=call]").waitFor();
  assert.match(await page.locator("[data-role=call]").textContent(), /^Call ended · \d+:\d\d$/);
  await shot(page, "reload-restored");
  await page.close();
});

test("a voice call connects with the fake microphone, shows the live state, and ends", { timeout: 60000 }, async () => {
  const page = await open(sites.plain);
  const host = page.locator("[data-voxgate-widget]");
  await page.locator("[data-part=call]").click();
  await page.waitForSelector("[data-voxgate-widget][data-call=live]", { state: "attached", timeout: 30000 });
  assert.equal(await page.locator("[data-part=call-state]").textContent(), "Live");
  assert.equal(await page.locator("[data-part=mute]").isVisible(), true);
  await page.locator("[data-part=mute]").click();
  assert.equal(await page.locator("[data-part=mute]").getAttribute("aria-pressed"), "true");
  await shot(page, "voice-live");
  await page.locator("[data-part=call]").click();
  assert.equal(await host.getAttribute("data-call"), "ended");
  await shot(page, "voice-ended");
  // The server recorded the call and its end.
  const sid = sites.plain.sessions[sites.plain.sessions.length - 1];
  let record;
  for (let i = 0; i < 100; i++) {
    record = (await voxgate.api("GET", `/v1/sessions/${sid}`)).body;
    if (record.calls?.[0]?.ended_at) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(record.calls[0].connected_at, JSON.stringify(record));
  assert.equal(record.calls[0].end_reason, "client_hangup", JSON.stringify(record));
  await page.close();
});

test("a saved config change shows on reload with the same tag", { timeout: 60000 }, async () => {
  const page = await open(sites.plain);
  assert.equal(await page.locator("[data-part=title]").textContent(), "Chat with us");
  const r = await voxgate.api("PATCH", `/v1/widgets/${sites.plain.widget}`, {
    appearance: { title: "Acme helper", primary_color: "#aa0000", position: "bottom-left" },
    content: { launcher_label: "Ask Acme" },
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  await page.reload();
  await page.waitForSelector("[data-voxgate-widget][data-state=ready]", { state: "attached" });
  const launcher = page.locator("[data-part=launcher]");
  assert.equal(await launcher.textContent(), "Ask Acme");
  assert.equal(await launcher.evaluate((el) => getComputedStyle(el).backgroundColor), "rgb(170, 0, 0)");
  await launcher.click();
  assert.equal(await page.locator("[data-part=title]").textContent(), "Acme helper");
  const box = await page.locator("[data-part=panel]").boundingBox();
  assert.ok(box.x < 100, `the panel moved to the left: ${JSON.stringify(box)}`);
  await shot(page, "config-change");
  await page.close();
});

test("the same page on a disallowed origin shows the origin-refused message", { timeout: 60000 }, async () => {
  const page = await open(sites.refused);
  const notice = page.locator("[data-part=notice]");
  await notice.waitFor({ state: "visible" });
  assert.match(await notice.textContent(), /isn't enabled for this website/);
  assert.equal(await page.locator("[data-voxgate-widget]").getAttribute("data-state"), "refused");
  assert.equal(await page.locator("[data-part=form]").isVisible(), false);
  assert.equal(sites.refused.sessions.length, 0, "no session for a refused origin");
  await shot(page, "origin-refused");
  await page.close();
});

test("the widget is keyboard accessible and labelled", { timeout: 60000 }, async () => {
  const page = await browser.context.newPage();
  await page.goto(sites.plain.origin + "/");
  await page.waitForSelector("[data-voxgate-widget][data-state=ready]", { state: "attached" });
  const launcher = page.locator("[data-part=launcher]");
  assert.equal(await launcher.getAttribute("aria-expanded"), "false");
  await launcher.focus();
  await page.keyboard.press("Enter");
  assert.equal(await launcher.getAttribute("aria-expanded"), "true");
  assert.equal(await page.locator("[data-part=panel]").getAttribute("role"), "dialog");
  assert.equal(await page.locator("[data-part=input]").getAttribute("aria-label"), "Message");
  await page.keyboard.press("Escape");
  assert.equal(await page.locator("[data-part=panel]").isVisible(), false);
  await page.close();
});
