// The dashboard in real headless Chromium against the real binary (issue 17): sign-in and its
// limits, an agent with an uploaded attachment, a staging widget's sections, the snippet copied
// into a page on an allowed origin and used there, the conversation it leaves, a preview that
// counts only as preview usage, an origin removal that the page feels at once, another
// workspace seeing none of it, and cross-site posts refused. Screenshots of each page go to
// target/dashboard-screenshots/.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { startVoxgate, startSite, launchBrowser } from "./harness.mjs";

const shots = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "target", "dashboard-screenshots");
const OWNER = { email: "owner@example.com", password: "correct horse battery staple" };
const RIVAL = { email: "rival@example.com", password: "another long password" };

let voxgate, browser, page, site;
/** What the test made, by name. */
const made = {};

async function shot(p, name) {
  mkdirSync(shots, { recursive: true });
  await p.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  if (p.url().startsWith(voxgate.url + "/dashboard")) await assertAccessible(p, name);
}

/** Every control on a dashboard page has a label, and keyboard focus is visible. */
async function assertAccessible(p, name) {
  const unlabelled = await p.evaluate(() =>
    [...document.querySelectorAll("input:not([type=hidden]), select, textarea, button")]
      .filter((el) => {
        const text = (el.labels && [...el.labels].map((l) => l.textContent.trim()).join("")) || "";
        const own = el.tagName === "BUTTON" ? el.textContent.trim() : "";
        return !text && !own && !el.getAttribute("aria-label");
      })
      .map((el) => el.outerHTML.slice(0, 80)),
  );
  assert.deepEqual(unlabelled, [], `${name}: every control has a label`);
  // The keyboard reaches the page's first control, and its focus shows.
  await p.evaluate(() => document.activeElement?.blur());
  await p.keyboard.press("Tab");
  const focused = await p.evaluate(() => {
    let el = document.activeElement;
    while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
    return { tag: el?.tagName, outline: el ? getComputedStyle(el).outlineStyle : "none" };
  });
  assert.notEqual(focused.tag, "BODY", `${name}: Tab reaches a control`);
  assert.notEqual(focused.outline, "none", `${name}: focus is visible on ${focused.tag}`);
}

async function signIn(p, who) {
  await p.goto(voxgate.url + "/dashboard/sign-in");
  await p.fill("#email", who.email);
  await p.fill("#password", who.password);
  const [res] = await Promise.all([p.waitForNavigation(), p.click("button[type=submit]")]);
  return res;
}

before(async () => {
  // Three attempts per account keep the limit quick to reach; the address limit stays generous.
  voxgate = await startVoxgate(["--sign-in-attempts-per-account", "3"]);
  voxgate.createUser(OWNER.email, OWNER.password, "browser");
  voxgate.createUser(RIVAL.email, RIVAL.password, "rival");
  browser = await launchBrowser();
  await browser.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: voxgate.url });
  page = await browser.context.newPage();
  // The customer's site: the snippet's page, served from an origin the widget will allow.
  site = await startSite(() => made.sitePage ?? "<!doctype html><title>empty</title>", () =>
    voxgate.api("POST", `/v1/widgets/${made.widget}/sessions`, { metadata: { page: "/" } }),
  );
});

after(async () => {
  await browser?.close();
  site?.close();
  voxgate?.stop();
});

test("sign in: the dashboard needs it, a wrong password is refused, too many attempts get 429", async () => {
  await page.goto(voxgate.url + "/dashboard/agents");
  assert.match(page.url(), /\/dashboard\/sign-in$/, "an anonymous visit goes to the sign-in form");
  await shot(page, "sign-in");

  const wrong = await signIn(page, { email: OWNER.email, password: "not the password at all" });
  assert.equal(wrong.status(), 401);
  assert.equal(await page.locator("#sign-in-error").getAttribute("data-code"), "sign_in_failed");
  assert.equal(await page.locator("#sign-in-error").textContent(), "The email or password is wrong.", "no code prefix");

  // An account's attempts run out (3 here), then 429 with Retry-After, even with the right password.
  const victim = { email: "nobody@example.com", password: "guessing guessing" };
  for (let i = 0; i < 3; i++) assert.equal((await signIn(page, victim)).status(), 401);
  const limited = await signIn(page, victim);
  assert.equal(limited.status(), 429);
  assert.ok(Number(await limited.headerValue("retry-after")) >= 1, "Retry-After says when");
  assert.equal(await page.locator("#sign-in-error").getAttribute("data-code"), "rate_limited");
  assert.match(await page.locator("#sign-in-error").textContent(), /^Too many sign-in attempts; try again in \d+ s\.$/);
  await shot(page, "sign-in-rate-limited");

  const ok = await signIn(page, OWNER);
  assert.equal(ok.status(), 200);
  assert.match(page.url(), /\/dashboard\/agents$/);
  const cookies = await browser.context.cookies(voxgate.url);
  const cookie = cookies.find((c) => c.name === "vg_dashboard");
  assert.ok(cookie, JSON.stringify(cookies));
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, "Strict");
  await shot(page, "agents-empty");
});

test("create an agent with an uploaded attachment; a bad file is refused by name and nothing is saved", async () => {
  await page.goto(voxgate.url + "/dashboard/agents/new");
  await page.fill("#name", "Acme helper");
  await page.fill("#greeting", "Hi! Ask me about Acme.");
  await page.setInputFiles("#knowledge\\.files", {
    name: "notes.pdf",
    mimeType: "application/pdf",
    buffer: Buffer.from("%PDF-1.4 not text"),
  });
  const [refused] = await Promise.all([page.waitForNavigation(), page.click("form.stack button[type=submit]")]);
  assert.equal(refused.status(), 400);
  assert.match(await page.locator("[data-error-for='knowledge.files']").textContent(), /"notes\.pdf" is not a \.txt or \.md file/);
  assert.equal(await page.inputValue("#name"), "Acme helper", "what was typed is still there");
  await shot(page, "agent-refused");
  assert.equal((await voxgate.api("GET", "/v1/agents")).body.data.length, 0, "nothing was saved");

  await page.setInputFiles("#knowledge\\.files", {
    name: "Pricing.md",
    mimeType: "text/markdown",
    buffer: Buffer.from("# Pricing\nThe Acme plan costs 20 dollars a month, billed monthly.\n"),
  });
  await page.fill("#tests", "How much does the Acme plan cost? | 20 dollars");
  const [saved] = await Promise.all([page.waitForNavigation(), page.click("form.stack button[type=submit]")]);
  assert.equal(saved.status(), 200);
  made.agent = page.url().match(/agents\/(ag_[A-Za-z0-9]+)/)[1];
  assert.equal(await page.locator("[data-attachment]").textContent(), "Pricing");
  assert.match(await page.locator("[data-notice]").textContent(), /Saved: version 1/);
  const agent = (await voxgate.api("GET", `/v1/agents/${made.agent}`)).body;
  assert.match(agent.knowledge[0].text, /20 dollars a month/);

  await Promise.all([page.waitForNavigation(), page.click("button:has-text('Run tests')")]);
  assert.match(await page.locator("[data-run-summary]").textContent(), /1 passed, 0 failed/);
  assert.equal(await page.locator("[data-test-results] tr[data-status=passed]").count(), 1);
  await shot(page, "agent");
});

test("create a staging widget, set origins (a bad entry is named) and appearance, and save", async () => {
  await page.goto(voxgate.url + "/dashboard/widgets");
  await page.fill("#name", "Acme staging");
  await page.selectOption("#agent_id", made.agent);
  await page.selectOption("#environment", "staging");
  await Promise.all([page.waitForNavigation(), page.click("text=Create widget")]);
  made.widget = page.url().match(/widgets\/(wgt_[A-Za-z0-9]+)/)[1];
  assert.match(await page.locator("[data-notice=setup]").textContent(), /Saved as version 1/);

  await page.fill("#allowed_origins", `${site.origin}\nftp://files.example.com`);
  const [bad] = await Promise.all([page.waitForNavigation(), page.click("text=Save origins")]);
  assert.equal(bad.status(), 400);
  assert.match(await page.locator("[data-error-for=allowed_origins]").textContent(), /ftp:\/\/files\.example\.com/);
  assert.equal((await voxgate.api("GET", `/v1/widgets/${made.widget}`)).body.version, 1, "nothing saved");
  await shot(page, "widget-origins-refused");

  await page.fill("#allowed_origins", site.origin);
  await Promise.all([page.waitForNavigation(), page.click("text=Save origins")]);
  assert.match(await page.locator("[data-notice=origins]").textContent(), /Saved as version 2\. It is live/);

  await page.fill("#appearance\\.primary_color", "red");
  const [badColor] = await Promise.all([page.waitForNavigation(), page.click("text=Save appearance")]);
  assert.equal(badColor.status(), 400);
  assert.ok(await page.locator("[data-error-for='appearance.primary_color']").isVisible());
  await page.fill("#appearance\\.primary_color", "#aa3300");
  await page.fill("#appearance\\.title", "Acme help");
  const mockColor = await page.locator("[data-mock-launcher]").evaluate((el) => getComputedStyle(el).backgroundColor);
  assert.equal(mockColor, "rgb(170, 51, 0)", "the preview follows the inputs before saving");
  await Promise.all([page.waitForNavigation(), page.click("text=Save appearance")]);
  assert.match(await page.locator("[data-notice=appearance]").textContent(), /Saved as version 3/);
  const widget = (await voxgate.api("GET", `/v1/widgets/${made.widget}`)).body;
  assert.deepEqual(widget.allowed_origins, [site.origin]);
  assert.equal(widget.appearance.primary_color, "#aa3300");
  assert.equal(widget.environment, "staging");
  await shot(page, "widget");
});

test("copy the snippet into a page on the allowed origin and talk to the widget there", async () => {
  await page.goto(`${voxgate.url}/dashboard/widgets/${made.widget}/distribute`);
  await page.click("[data-copy=snippet]");
  const snippet = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(snippet, `<script src="${voxgate.url}/widget.js" data-widget="${made.widget}" data-session-url="/api/voxgate-session" defer></script>`);
  const samples = await page.locator("[data-sample]").allTextContents();
  assert.equal(samples.length, 3);
  for (const s of samples) {
    assert.match(s, /VOXGATE_KEY/, "the key is named as an env var");
    assert.doesNotMatch(s, /vg_sk_/, "never a key value");
  }
  await shot(page, "distribute");

  made.sitePage = `<!doctype html><html><head><title>Acme</title></head><body><h1>Acme</h1>${snippet}</body></html>`;
  made.sitePageTab = await browser.context.newPage();
  const p = made.sitePageTab;
  await p.goto(site.origin + "/");
  await p.waitForSelector("[data-voxgate-widget][data-state=ready]", { state: "attached" });
  await p.locator("[data-part=launcher]").click();
  await p.locator("[data-part=input]").fill("How much does the Acme plan cost?");
  await p.locator("[data-part=send]").click();
  const answer = p.locator("[data-role=agent][data-complete=true]");
  await answer.waitFor();
  assert.match(await answer.textContent(), /20 dollars/);
  await shot(p, "site-widget");
});

test("the new conversation appears in Conversations with its transcript", async () => {
  await page.goto(voxgate.url + "/dashboard/conversations?environment=staging&mode=text");
  const rows = page.locator("[data-conversation]");
  assert.equal(await rows.count(), 1);
  assert.match(await rows.first().textContent(), new RegExp(site.origin.replace(/[.:/]/g, "\\$&")));
  await shot(page, "conversations");
  await Promise.all([page.waitForNavigation(), rows.first().locator("a").click()]);
  const transcript = await page.locator("[data-transcript]").textContent();
  assert.match(transcript, /How much does the Acme plan cost\?/);
  assert.match(transcript, /20 dollars/);
  assert.equal(await page.locator("[data-origin]").textContent(), site.origin);
  await shot(page, "conversation");

  const none = await page.goto(voxgate.url + "/dashboard/conversations?environment=production");
  assert.equal(none.status(), 200);
  assert.equal(await page.locator("[data-conversation]").count(), 0, "the filter by environment applies");
  const badFilter = await page.goto(voxgate.url + "/dashboard/conversations?from=yesterday");
  assert.equal(badFilter.status(), 400);
  assert.match(await page.locator("[data-error-for=from]").textContent(), /"yesterday" is not a day/);
});

async function usage(cls) {
  await page.goto(voxgate.url + "/dashboard/usage");
  return Number(await page.locator(`[data-class=${cls}]`).getAttribute("data-text-used"));
}

test("Preview a message: usage shows preview +1 and production unchanged", async () => {
  const [preview0, production0] = [await usage("preview"), await usage("production")];
  await page.goto(`${voxgate.url}/dashboard/widgets/${made.widget}/preview`);
  await page.waitForSelector("[data-voxgate-widget][data-state=ready]", { state: "attached" });
  await page.locator("[data-part=launcher]").click();
  await page.locator("[data-part=input]").fill("How much does the Acme plan cost?");
  await page.locator("[data-part=send]").click();
  await page.locator("[data-role=agent][data-complete=true]").waitFor();
  // Voice too: the preview's call connects from the dashboard's own origin.
  await page.locator("[data-part=call]").click();
  await page.waitForSelector("[data-voxgate-widget][data-call=live]", { state: "attached", timeout: 30000 });
  await shot(page, "preview");
  await page.locator("[data-part=call]").click();
  assert.equal(await usage("preview"), preview0 + 1);
  assert.equal(await usage("production"), production0);
  await shot(page, "usage");
});

test("saved knowledge reads and edits in place; the voice settings are a form, JSON one choice away", async () => {
  await page.goto(`${voxgate.url}/dashboard/agents/${made.agent}`);
  const attachment = page.locator("[data-attachment-edit]").first();
  await attachment.locator("summary").click();
  assert.match(await page.inputValue("#knowledge\\.0\\.text"), /20 dollars a month/, "the saved text is shown");
  await page.fill("#knowledge\\.0\\.text", "The Acme plan costs 20 dollars a month, billed monthly or yearly.");
  // The voice form shows the fields of the chosen type only; JSON is one choice away.
  assert.equal(await page.locator("#voice").isVisible(), false, "the JSON box waits behind its choice");
  await page.selectOption("#voice\\.type", "builtin");
  assert.ok(await page.locator("#voice\\.builtin_voice").isVisible());
  assert.equal(await page.locator("#voice\\.transcription\\.base_url").isVisible(), false);
  await page.fill("#voice\\.turn_detection\\.silence_duration_ms", "600");
  await shot(page, "agent-voice-form");
  await Promise.all([page.waitForNavigation(), page.click("form.stack button[type=submit]")]);
  const agent = (await voxgate.api("GET", `/v1/agents/${made.agent}`)).body;
  assert.match(agent.knowledge[0].text, /billed monthly or yearly/);
  assert.equal(agent.voice.type, "builtin");
  assert.equal(agent.voice.turn_detection.silence_duration_ms, 600);
  await page.selectOption("#voice\\.type", "json");
  assert.match(await page.inputValue("#voice"), /"silence_duration_ms": 600/);
});

test("rough edges: the agent's greeting in a new widget, told-apart agents, wrapped snippet, readable usage", async () => {
  // A second agent of the same name is told apart in the widget's agent menu.
  const twin = (await voxgate.api("POST", "/v1/agents", { name: "Acme helper" })).body;
  await page.goto(`${voxgate.url}/dashboard/widgets/${made.widget}`);
  const options = await page.locator("#agent_id option").allTextContents();
  assert.ok(options.includes(`Acme helper (${made.agent})`) && options.includes(`Acme helper (${twin.id})`), options.join(" | "));
  // The widget has no greeting of its own: the preview shows the agent's, as the widget will.
  assert.equal(await page.locator("[data-mock-greeting]").textContent(), "Hi! Ask me about Acme.");
  await page.fill("#content\\.greeting", "Welcome to Acme!");
  assert.equal(await page.locator("[data-mock-greeting]").textContent(), "Welcome to Acme!", "it follows the input");
  const config = await page.evaluate(async (url) => (await fetch(url)).json(), `${voxgate.url}/v1/widgets/${made.widget}/config`);
  assert.equal(config.content.greeting, "Hi! Ask me about Acme.", "the public config carries the greeting used");
  await voxgate.api("DELETE", `/v1/agents/${twin.id}`);

  // The snippet wraps on a narrow screen instead of running out of its box.
  await page.setViewportSize({ width: 420, height: 800 });
  await page.goto(`${voxgate.url}/dashboard/widgets/${made.widget}/distribute`);
  const clipped = await page.locator("#snippet").evaluate((el) => el.scrollWidth > el.clientWidth);
  assert.equal(clipped, false, "the snippet wraps");
  await shot(page, "distribute-narrow");
  await page.setViewportSize({ width: 1280, height: 800 });

  // Conversations show what each was about and its calls.
  // The site's chat (no call) and the preview (a message and a call).
  await page.goto(voxgate.url + "/dashboard/conversations?environment=staging&mode=text");
  const rows = await page.locator("[data-conversation]").evaluateAll((trs) =>
    trs.map((tr) => `${tr.querySelector("[data-snippet]").textContent} / ${tr.querySelector("[data-calls]").textContent}`));
  assert.deepEqual(rows.sort(), ["How much does the Acme plan cost? / 0", "How much does the Acme plan cost? / 1"]);

  // Usage reads as words and days.
  await page.goto(voxgate.url + "/dashboard/usage");
  assert.equal(await page.locator("[data-class=test_run] th").textContent(), "Test runs");
  const days = await page.locator("svg.chart").first().locator("[data-day-label]").count();
  assert.ok(days >= 28 && days <= 31, `a label for each day of the month: ${days}`);
  await shot(page, "usage-readable");
});

test("remove the page's origin: the widget on that page shows the origin-refused message at once", async () => {
  await page.goto(`${voxgate.url}/dashboard/widgets/${made.widget}`);
  await page.fill("#allowed_origins", "https://www.acme.example");
  await Promise.all([page.waitForNavigation(), page.click("text=Save origins")]);
  const p = made.sitePageTab;
  await p.locator("[data-part=input]").fill("Are you still there?");
  await p.locator("[data-part=send]").click();
  const notice = p.locator("[data-part=notice]");
  await notice.waitFor({ state: "visible" });
  assert.match(await notice.textContent(), /isn't enabled for this website/);
  await shot(p, "site-origin-removed");
  const sessions = (await voxgate.api("GET", "/v1/conversations?environment=staging")).body.conversations;
  const siteSession = sessions.find((c) => c.origin === site.origin);
  assert.equal(siteSession.end_reason, "origin_revoked");
});

test("a cross-site form post without the CSRF token is refused", async () => {
  const before = (await voxgate.api("GET", `/v1/widgets/${made.widget}`)).body;
  // From another port on the same host (same site, so the Strict cookie goes along).
  const attacker = `<!doctype html><form id="f" method="post" action="${voxgate.url}/dashboard/widgets/${made.widget}/origins">
    <input name="allowed_origins" value="https://evil.example"></form>`;
  made.sitePage = attacker;
  const p = await browser.context.newPage();
  await p.goto(site.origin + "/");
  const [res] = await Promise.all([p.waitForNavigation(), p.evaluate(() => document.getElementById("f").submit())]);
  assert.equal(res.status(), 403);
  assert.equal(await p.locator("[data-code]").textContent(), "csrf_invalid");
  // And from another site altogether (no cookie at all): nothing changes either.
  await p.goto(site.origin.replace("127.0.0.1", "localhost") + "/");
  await Promise.all([p.waitForNavigation(), p.evaluate(() => document.getElementById("f").submit())]);
  const afterwards = (await voxgate.api("GET", `/v1/widgets/${made.widget}`)).body;
  assert.equal(afterwards.version, before.version);
  assert.deepEqual(afterwards.allowed_origins, before.allowed_origins);
  await p.close();
});

test("a second workspace's user sees none of it", async () => {
  await Promise.all([page.waitForNavigation(), page.click("text=Sign out")]);
  assert.match(page.url(), /\/dashboard\/sign-in$/);
  assert.equal((await page.goto(voxgate.url + "/dashboard/agents")).url().endsWith("/dashboard/sign-in"), true, "signed out");
  await signIn(page, RIVAL);
  assert.equal(await page.locator("text=Acme helper").count(), 0);
  for (const path of [`/dashboard/agents/${made.agent}`, `/dashboard/widgets/${made.widget}`, `/dashboard/widgets/${made.widget}/distribute`, `/dashboard/widgets/${made.widget}/preview`]) {
    const res = await page.goto(voxgate.url + path);
    assert.equal(res.status(), 404, path);
    assert.equal(await page.locator("[data-code]").textContent(), "not_found");
  }
  await page.goto(voxgate.url + "/dashboard/conversations");
  assert.equal(await page.locator("[data-conversation]").count(), 0);
  await page.goto(voxgate.url + "/dashboard/widgets");
  assert.equal(await page.locator("text=Acme staging").count(), 0);
  await shot(page, "rival-widgets");
});
