// `voxgate demo` as a person would use it: open the URL it prints, and talk to the agent in the
// widget embedded on the demo page.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startVoxgate, launchBrowser, openDemoWidget } from "./harness.mjs";

let voxgate, browser;

before(async () => {
  voxgate = await startVoxgate([], "demo");
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  voxgate?.stop();
});

test("the demo page's widget answers a question about voxgate and takes a call", { timeout: 60000 }, async () => {
  const page = await openDemoWidget(browser, voxgate);
  await page.locator("[data-part=input]").fill("What is voxgate?");
  await page.keyboard.press("Enter");
  const answer = page.locator("[data-role=agent][data-complete=true]");
  await answer.waitFor();
  assert.match(await answer.textContent(), /server behind website voice and text agent widgets/);
  await page.locator("[data-part=call]").click();
  await page.waitForSelector("[data-voxgate-widget][data-call=live]", { state: "attached", timeout: 30000 });
  await page.locator("[data-part=call]").click();
  const links = await page.locator("[data-part=links] a").allTextContents();
  assert.deepEqual(links, ["Trust Center", "Privacy policy"]);
  await page.close();
});
