// Page actions (client tools) in real headless Chromium: the page registers a function with
// voxgate.tools.register, the agent (an `openai` backend on voxgate-fake-provider, which asks
// for the tool) calls it during a text answer, the page's DOM changes, and the answer quotes
// the page's result. A page without the handler answers "not available on this page" and the
// agent goes on. The agent's greeting names the visitor, from the session's variables.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { startVoxgate, startSite, launchBrowser } from "./harness.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const fakeBinary = join(dirname(process.env.VOXGATE_BIN ?? join(root, "target", "debug", "voxgate")), "voxgate-fake-provider");
let voxgate, fake, site, browser, widget, voiceWidget, voiceBrowser, dir;
let withHandler = true;
let voiceCall = false;

function startFake() {
  const child = spawn(fakeBinary, ["--first-token-delay-ms", "10", "--stt-delay-ms", "20", "--first-audio-delay-ms", "10",
    "--tool-call", "show_product", "--tool-arguments", '{"sku":"BIKE-9"}'],
    { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let seen = "";
    child.stdout.on("data", (chunk) => {
      seen += chunk;
      const m = seen.match(/fake provider listening on (http:\/\/\S+)/);
      if (m) resolve({ url: m[1], stop: () => child.kill() });
    });
    child.on("exit", (code) => reject(new Error(`fake provider exited with ${code}`)));
  });
}

before(async () => {
  fake = await startFake();
  voxgate = await startVoxgate();
  const agent = await voxgate.api("POST", "/v1/agents", {
    name: "Shop assistant",
    greeting: "Hi {{customer_name}}! What can I show you?",
    backend: { type: "openai", base_url: `${fake.url}/v1`, model: "fake-chat" },
    tools: [{ type: "client", name: "show_product", description: "Show a product on the visitor's page.",
              parameters: { type: "object", properties: { sku: { type: "string" } } }, timeout_ms: 3000 }],
  });
  assert.equal(agent.status, 201, JSON.stringify(agent.body));
  // The page registers show_product when the test says so; the product box is what it changes.
  // The same agent, talking: a pipeline voice on the fake provider.
  const voiceAgent = await voxgate.api("POST", "/v1/agents", {
    name: "Talking shop assistant",
    backend: { type: "openai", base_url: `${fake.url}/v1`, model: "fake-chat" },
    voice: {
      type: "pipeline",
      transcription: { base_url: `${fake.url}/v1`, model: "whisper-1" },
      speech: { base_url: `${fake.url}/v1`, model: "tts-1", voice: "alloy" },
      turn_detection: { silence_duration_ms: 500 },
    },
    tools: [{ type: "client", name: "show_product", description: "Show a product on the visitor's page.",
              parameters: { type: "object", properties: { sku: { type: "string" } } }, timeout_ms: 3000 }],
  });
  assert.equal(voiceAgent.status, 201, JSON.stringify(voiceAgent.body));
  site = await startSite(() => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1>Shop</h1><div id="product">nothing shown</div>
<script src="${voxgate.url}/widget.js" data-widget="${voiceCall ? voiceWidget : widget}" data-session-url="/session" defer></script>
${withHandler ? `<script>
window.addEventListener("DOMContentLoaded", () => {
  voxgate.tools.register("show_product", async ({ sku }) => {
    document.getElementById("product").textContent = "Showing " + sku;
    return { shown: true, sku };
  });
});
</script>` : ""}</body></html>`,
    // The customer's backend knows who is visiting: the greeting is filled with it.
    () => voxgate.api("POST", `/v1/widgets/${voiceCall ? voiceWidget : widget}/sessions`, { variables: { customer_name: "Ana" } }));
  const w = await voxgate.api("POST", "/v1/widgets", {
    name: "Shop", agent_id: agent.body.id, environment: "staging", allowed_origins: [site.origin],
    modes: ["text"], page_actions: ["show_product"],
  });
  assert.equal(w.status, 201, JSON.stringify(w.body));
  widget = w.body.id;
  const vw = await voxgate.api("POST", "/v1/widgets", {
    name: "Shop voice", agent_id: voiceAgent.body.id, environment: "staging", allowed_origins: [site.origin],
    modes: ["voice"], page_actions: ["show_product"],
  });
  assert.equal(vw.status, 201, JSON.stringify(vw.body));
  voiceWidget = vw.body.id;
  browser = await launchBrowser();
  // A second of silence, a question, then the file ends (%noloop): the visitor asks once.
  dir = mkdtempSync(join(tmpdir(), "voxgate-tools-"));
  const wav = join(dir, "question.wav");
  execFileSync("espeak-ng", ["-w", wav, "-s", "150", "[[_:_:_:_:]] Show me the bike please"]);
  voiceBrowser = await launchBrowser([`--use-file-for-fake-audio-capture=${wav}%noloop`]);
});

after(async () => {
  await browser?.close();
  await voiceBrowser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  site?.close();
  fake?.stop();
  voxgate?.stop();
});

async function askOnPage(text) {
  const page = await browser.context.newPage();
  await page.goto(site.origin + "/");
  await page.waitForSelector("[data-voxgate-widget][data-state=ready]", { state: "attached" });
  await page.locator("[data-part=launcher]").click();
  await page.locator("[data-part=input]").fill(text);
  await page.keyboard.press("Enter");
  const answer = page.locator("[data-role=agent][data-complete=true]");
  await answer.waitFor({ timeout: 20000 });
  return { page, answer: await answer.last().textContent() };
}

test("a text question makes the agent run the page's action, and the page changes", { timeout: 60000 }, async () => {
  withHandler = true;
  const { page, answer } = await askOnPage("Show me the BIKE-9 please");
  assert.equal(await page.locator("#product").textContent(), "Showing BIKE-9");
  assert.equal(answer, 'The tool said: {"shown":true,"sku":"BIKE-9"}.');
  // The greeting was filled for this session, shown first, and never as a template.
  await page.waitForFunction(() => {
    const root = document.querySelector("[data-voxgate-widget]").shadowRoot;
    return root.querySelector("[data-role=agent]").textContent === "Hi Ana! What can I show you?";
  }, null, { timeout: 10000 });
  const log = await page.evaluate(() => document.querySelector("[data-voxgate-widget]").shadowRoot.textContent);
  assert.ok(!log.includes("{{"), log);
  await page.close();
});

test("a page without the handler answers at once and the agent goes on", { timeout: 60000 }, async () => {
  withHandler = false;
  const started = Date.now();
  const { page, answer } = await askOnPage("Show me the BIKE-9 please");
  assert.match(answer, /not available on this page/);
  // At once: well before the tool's 3 s timeout.
  assert.ok(Date.now() - started < 2500, `took ${Date.now() - started} ms`);
  assert.equal(await page.locator("#product").textContent(), "nothing shown");
  await page.close();
});

test("in a voice call the page action comes over the data channel and the page changes", { timeout: 90000 }, async () => {
  withHandler = true;
  voiceCall = true;
  const page = await voiceBrowser.context.newPage();
  await page.goto(site.origin + "/");
  await page.waitForSelector("[data-voxgate-widget][data-state=ready]", { state: "attached" });
  await page.locator("[data-part=launcher]").click();
  await page.locator("[data-part=call]").click();
  await page.waitForSelector("[data-voxgate-widget][data-call=live]", { state: "attached", timeout: 30000 });
  await page.waitForFunction(() => document.getElementById("product").textContent === "Showing BIKE-9", null, { timeout: 30000 });
  await page.waitForSelector("[data-caption=true][data-role=agent][data-status=complete]", { state: "attached", timeout: 30000 });
  const said = await page.locator("[data-caption=true][data-role=agent][data-status=complete]").last().textContent();
  assert.equal(said, 'The tool said: {"shown":true,"sku":"BIKE-9"}.');
  await page.locator("[data-part=call]").click();
  await page.close();
  voiceCall = false;
});
