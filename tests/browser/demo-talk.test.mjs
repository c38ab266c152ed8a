// `voxgate demo` answers out loud, in real headless Chromium: with the builtin recogniser
// running (--speech-python), the demo page's widget calls the demo agent; the microphone is a
// question about voxgate spoken by flite (played by --use-file-for-fake-audio-capture after the
// agent's spoken greeting); the widget shows the question's caption and the answer's, and the
// answer's audio plays. No fakes: PocketSphinx hears it, the builtin agent answers from the
// demo's knowledge, espeak-ng speaks. The server's answer asks for Opus DTX (`usedtx=1`):
// Chromium pauses sending through the silence before the question, and the turn still ends.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startVoxgate, launchBrowser, openDemoWidget } from "./harness.mjs";

const QUESTION = "Which origins are allowed to embed the widget?";
let voxgate, browser, dir;

/** `wav` (16-bit PCM, as flite writes it) with `seconds` of silence before it. */
function withLeadingSilence(wav, seconds) {
  const data = wav.indexOf("data");
  const channels = wav.readUInt16LE(22), rate = wav.readUInt32LE(24);
  const pcm = wav.subarray(data + 8, data + 8 + wav.readUInt32LE(data + 4));
  const silence = Buffer.alloc(Math.round(seconds * rate) * 2 * channels);
  const header = Buffer.from(wav.subarray(0, data + 8));
  const size = silence.length + pcm.length;
  header.writeUInt32LE(size, data + 4);
  header.writeUInt32LE(header.length - 8 + size, 4);
  return Buffer.concat([header, silence, pcm]);
}

before(async () => {
  const python = process.env.VOXGATE_TEST_SPEECH_PYTHON;
  assert.ok(python, "VOXGATE_TEST_SPEECH_PYTHON names a Python with pocketsphinx (scripts/test sets it)");
  dir = mkdtempSync(join(tmpdir(), "voxgate-demo-talk-"));
  const spoken = join(dir, "spoken.wav"), wav = join(dir, "question.wav");
  execFileSync("flite", ["-voice", "slt", "-t", QUESTION, "-o", spoken]);
  // The greeting plays first (about five seconds); the question comes after it, once (%noloop).
  writeFileSync(wav, withLeadingSilence(readFileSync(spoken), 8));
  voxgate = await startVoxgate(["--speech-python", python], "demo");
  for (let i = 0; i < 600; i++) {
    const ready = await (await fetch(`${voxgate.url}/readyz`)).json();
    if (ready.recognizer?.status === "ready") break;
    await new Promise((r) => setTimeout(r, 100));
  }
  browser = await launchBrowser([`--use-file-for-fake-audio-capture=${wav}%noloop`]);
});

after(async () => {
  await browser?.close();
  voxgate?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("the demo's call answers a spoken question with captions and speech", { timeout: 120000 }, async () => {
  const ready = await (await fetch(`${voxgate.url}/readyz`)).json();
  assert.equal(ready.recognizer?.status, "ready", JSON.stringify(ready));
  // Keeps the page's peer connection, to read the browser's own count of packets sent.
  await browser.context.addInitScript(() => {
    const Native = window.RTCPeerConnection;
    window.__peers = [];
    window.RTCPeerConnection = class extends Native {
      constructor(...args) {
        super(...args);
        window.__peers.push(this);
      }
    };
  });
  const page = await openDemoWidget(browser, voxgate);
  await page.locator("[data-part=call]").click();
  await page.waitForSelector("[data-voxgate-widget][data-call=live]", { state: "attached", timeout: 30000 });
  const live = Date.now();

  const visitor = page.locator("[data-caption=true][data-role=visitor]");
  await visitor.waitFor({ timeout: 60000 });
  const heard = await visitor.textContent();
  assert.match(heard, /origins/, `the question's caption names its key word: ${heard}`);
  const sent = await page.evaluate(async () => {
    const pc = window.__peers.at(-1);
    let packets = 0;
    (await pc.getStats()).forEach((r) => {
      if (r.type === "outbound-rtp" && r.kind === "audio") packets = r.packetsSent;
    });
    return { packets, sdp: pc.remoteDescription.sdp };
  });
  assert.match(sent.sdp, /a=fmtp:\d+ .*usedtx=1/, "the answer asks for DTX");
  // Fifty packets a second without DTX; through the 8 s of silence, about five.
  const seconds = (Date.now() - live) / 1000;
  assert.ok(sent.packets < 0.6 * 50 * seconds, `${sent.packets} packets sent in ${seconds} s`);
  // The answer is the caption after the visitor's (the greeting came before it).
  const answer = page.locator("[data-caption=true][data-role=visitor] ~ [data-caption=true][data-role=agent]").first();
  await answer.waitFor({ timeout: 30000 });
  await page.waitForSelector("[data-voxgate-widget][data-agent-speaking=true]", { state: "attached", timeout: 30000 });
  await page.waitForSelector(
    "[data-caption=true][data-role=visitor] ~ [data-caption=true][data-role=agent][data-status=complete]",
    { state: "attached", timeout: 60000 },
  );
  assert.match(await answer.textContent(), /web origins allowed to embed it/);
  await page.locator("[data-part=call]").click();
  await page.close();
});
