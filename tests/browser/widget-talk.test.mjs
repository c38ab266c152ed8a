// A talking agent in real headless Chromium: the widget calls a `pipeline` agent (its providers
// faked by voxgate-fake-provider) with a spoken question as the microphone (espeak-ng, played by
// --use-file-for-fake-audio-capture); the page shows the visitor's caption and the agent's
// caption, live over the call's data channel, and receives the reply audio.

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
const QUESTION = "How much does shipping cost?";
let voxgate, fake, site, browser, widget, dir;

/** The fake provider; resolves with its URL. */
function startFake() {
  const child = spawn(fakeBinary, ["--stt-delay-ms", "50", "--first-audio-delay-ms", "20", "--transcript", QUESTION],
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
  dir = mkdtempSync(join(tmpdir(), "voxgate-talk-"));
  // A second of silence, the question, then the file ends (%noloop): the visitor asks once.
  const wav = join(dir, "question.wav");
  execFileSync("espeak-ng", ["-w", wav, "-s", "150", `[[_:_:_:_:]] ${QUESTION}`]);
  fake = await startFake();
  voxgate = await startVoxgate();
  const agent = await voxgate.api("POST", "/v1/agents", {
    name: "Talking agent",
    knowledge: [{ title: "Shipping", text: "Shipping costs five euros. Orders over fifty euros ship free." }],
    voice: {
      type: "pipeline",
      transcription: { base_url: `${fake.url}/v1`, model: "whisper-1" },
      speech: { base_url: `${fake.url}/v1`, model: "tts-1", voice: "alloy" },
      turn_detection: { silence_duration_ms: 500 },
    },
  });
  assert.equal(agent.status, 201, JSON.stringify(agent.body));
  site = await startSite(() => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1>Shop</h1><script src="${voxgate.url}/widget.js" data-widget="${widget}" data-session-url="/session" defer></script></body></html>`,
    () => voxgate.api("POST", `/v1/widgets/${widget}/sessions`, {}));
  const w = await voxgate.api("POST", "/v1/widgets", {
    name: "Talk", agent_id: agent.body.id, environment: "staging", allowed_origins: [site.origin],
  });
  assert.equal(w.status, 201, JSON.stringify(w.body));
  widget = w.body.id;
  browser = await launchBrowser([`--use-file-for-fake-audio-capture=${wav}%noloop`]);
});

after(async () => {
  await browser?.close();
  site?.close();
  fake?.stop();
  voxgate?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("a spoken question shows both captions and the reply is heard", { timeout: 90000 }, async () => {
  const page = await browser.context.newPage();
  await page.goto(site.origin + "/");
  await page.locator("[data-part=launcher]").click();
  await page.locator("[data-part=call]").click();
  await page.waitForSelector("[data-voxgate-widget][data-call=live]", { state: "attached", timeout: 30000 });

  const visitor = page.locator("[data-caption=true][data-role=visitor]");
  await visitor.waitFor({ timeout: 30000 });
  assert.equal(await visitor.textContent(), QUESTION);
  const agent = page.locator("[data-caption=true][data-role=agent]");
  await agent.waitFor({ timeout: 30000 });
  // The reply is heard: the widget's meter on the agent's audio shows it speaking.
  await page.waitForSelector("[data-voxgate-widget][data-agent-speaking=true]", { state: "attached", timeout: 30000 });
  await page.waitForSelector("[data-caption=true][data-role=agent][data-status=complete]", { state: "attached", timeout: 30000 });
  assert.match(await agent.textContent(), /five euros/);
  await page.locator("[data-part=call]").click();
  await page.close();
});
