// A talking agent in real headless Chromium: the widget calls a `pipeline` agent (its providers
// faked by voxgate-fake-provider) with a spoken question as the microphone (espeak-ng, played by
// --use-file-for-fake-audio-capture); the page shows the visitor's caption and the agent's
// caption, live over the call's data channel, and receives the reply audio. The widget records
// calls (the visitor accepts terms that say so, and sees that the call is recorded); afterwards
// the dashboard shows the answer's latencies and plays the recording, which Chromium's own
// decoder finds to hold two channels: the visitor's question and the agent's answer.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
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
    privacy: { consent_required: true, terms_text: "Calls are recorded to improve our answers.", recording: "on" },
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
  assert.match(await page.locator("[data-part=terms]").textContent(), /recorded/);
  await page.locator("[data-part=accept]").click();
  await page.locator("[data-part=call]").click();
  await page.waitForSelector("[data-voxgate-widget][data-call=live]", { state: "attached", timeout: 30000 });
  assert.equal(await page.locator("[data-part=recorded]").isVisible(), true, "the visitor sees the call is recorded");

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

test("the dashboard plays the call's recording beside its transcript and latencies", { timeout: 90000 }, async () => {
  voxgate.createUser("owner@example.com", "correct horse battery staple");
  const page = await browser.context.newPage();
  await page.goto(voxgate.url + "/dashboard/sign-in");
  await page.fill("#email", "owner@example.com");
  await page.fill("#password", "correct horse battery staple");
  await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
  // The call's recording is complete once its end is written.
  let conversation;
  for (let i = 0; i < 100 && !conversation; i++) {
    const list = await voxgate.api("GET", "/v1/conversations");
    const id = list.body.conversations[0]?.id;
    const record = id && (await voxgate.api("GET", `/v1/conversations/${id}`)).body;
    if (record?.calls?.[0]?.recording?.status === "complete") conversation = record;
    else await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(conversation, "the call was recorded");
  await page.goto(`${voxgate.url}/dashboard/conversations/${conversation.id}`);

  // The answer's stages beside the transcript.
  const latency = page.locator("[data-latency]").first();
  assert.match(await latency.textContent(), /waited \d+ ms/);
  assert.match(await page.locator("[data-turn-waits]").textContent(), /p50 \d+ ms, p95 \d+ ms/);

  // The player loads the recording, plays it, and seeks to a line.
  const player = page.locator("audio[data-player]");
  await page.waitForFunction(() => document.querySelector("audio[data-player]").readyState >= 1, null, { timeout: 20000 });
  const duration = await player.evaluate((a) => a.duration);
  assert.ok(duration > 1, `the recording lasts ${duration} s`);
  await player.evaluate((a) => a.play());
  await page.waitForFunction(() => document.querySelector("audio[data-player]").currentTime > 0.3, null, { timeout: 20000 });
  const seek = page.locator("[data-seek]").last();
  const at = Number(await seek.getAttribute("data-seek-at"));
  await seek.click();
  await page.waitForFunction((t) => Math.abs(document.querySelector("audio[data-player]").currentTime - t) < 1, at, { timeout: 20000 });
  await page.waitForSelector("[data-transcript] li[aria-current]", { timeout: 20000 });
  mkdirSync(join(root, "target", "dashboard-screenshots"), { recursive: true });
  await page.screenshot({ path: join(root, "target", "dashboard-screenshots", "conversation-recording.png"), fullPage: true });

  // Chromium's own decoder: two channels, the visitor's question on the left and the agent's
  // answer on the right, each where it was said.
  const channels = await page.evaluate(async (src) => {
    const data = await (await fetch(src)).arrayBuffer();
    const audio = await new OfflineAudioContext(2, 48000, 48000).decodeAudioData(data);
    const loud = (c) => {
      const x = audio.getChannelData(c);
      const out = [];
      for (let i = 0; i + 960 <= x.length; i += 960) {
        let e = 0;
        for (let j = i; j < i + 960; j++) e += x[j] * x[j];
        out.push(e / 960 > 1e-4);
      }
      return out;
    };
    const [visitor, agent] = [loud(0), loud(1)];
    return { n: audio.numberOfChannels, visitor: visitor.filter(Boolean).length, agent: agent.filter(Boolean).length,
      firstVisitor: visitor.indexOf(true), firstAgent: agent.indexOf(true) };
  }, await player.getAttribute("src"));
  assert.equal(channels.n, 2, JSON.stringify(channels));
  assert.ok(channels.visitor > 25 && channels.agent > 25, JSON.stringify(channels));
  assert.ok(channels.firstAgent > channels.firstVisitor, `the answer comes after the question: ${JSON.stringify(channels)}`);
  await page.close();
});
