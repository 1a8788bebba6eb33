// Drives the dashboard in headless Debian Chromium: sign in, read the last sweep, find a delivered
// job, open its attempts, retry it, see the new attempt, pause a flow, and see why a dead job failed.
// Arguments: base URL, API token, delivered job id, screenshot dir, dead job id.
import { chromium } from "playwright-core";

const [base, token, jobId, shots, deadId] = process.argv.slice(2);
const WAIT = 20_000;
const problems = [];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  // Any CSP violation or script error fails the run.
  page.on("console", (message) => { if (message.type() === "error") problems.push(message.text()); });
  page.on("pageerror", (error) => problems.push(error.message));

  await page.goto(base + "/_hookah/ui");
  await page.fill("#token", token);
  await page.click("#sign-in button[type=submit]");
  await page.waitForSelector('[data-stat="delivered"] .value', { timeout: WAIT });
  await page.waitForSelector("#sign-in", { state: "hidden", timeout: WAIT });
  const delivered = await page.textContent('[data-stat="delivered"] .value');
  if (delivered !== "1") throw new Error("the overview should count 1 delivered job, not " + delivered);
  await page.waitForSelector(".chart", { timeout: WAIT });
  // The last sweep in words: when, its lag, what it did; no raw JSON or epoch milliseconds.
  const sweep = await page.textContent("#last-sweep");
  if (!/\d+ (s|min|h) ago/.test(sweep) || !sweep.includes("Lag") || !sweep.includes("Looked at") || /\d{13}|[{}"]/.test(sweep)) {
    throw new Error("the last sweep should read as words: " + sweep);
  }
  await page.screenshot({ path: `${shots}/dashboard-overview.png`, fullPage: true });
  if (await page.evaluate(() => localStorage.length) !== 0) throw new Error("the token must not reach localStorage");

  await page.click('nav [data-view="jobs"]');
  await page.click(`a[data-job="${jobId}"]`, { timeout: WAIT });
  await page.waitForSelector('[data-attempt="1"]', { timeout: WAIT });
  const first = await page.textContent('[data-attempt="1"]');
  if (!first.includes("HTTP 200")) throw new Error("attempt 1 should show HTTP 200: " + first);

  await page.click("#retry");
  // The retry's attempt runs right after its 202: reload until it shows (bounded).
  const deadline = Date.now() + WAIT;
  while (!(await page.$('[data-attempt="2"]'))) {
    if (Date.now() > deadline) throw new Error("attempt 2 never showed");
    await page.waitForTimeout(200);
    await page.click("text=Reload");
  }
  const second = await page.textContent('[data-attempt="2"]');
  if (!second.includes("HTTP 200")) throw new Error("attempt 2 should show HTTP 200: " + second);

  // The channels are listed with their subscription counts, and a name opens the channel.
  await page.click('nav [data-view="channels"]');
  await page.waitForSelector('[data-subscriptions="orders"]', { timeout: WAIT });
  const subscriptions = await page.textContent('[data-subscriptions="orders"]');
  if (subscriptions !== "1") throw new Error("the orders channel should list 1 subscription, not " + subscriptions);
  await page.click('[data-channel="orders"]');
  await page.waitForSelector("text=Subscriptions", { timeout: WAIT });

  // The flows with stored settings, and the button that pauses one.
  await page.click('nav [data-view="flows"]');
  await page.waitForSelector('[data-flow-state="tenant 7"]', { timeout: WAIT });
  await page.click('[data-flow-action="tenant 7"]');
  await page.waitForSelector('[data-flow-state="tenant 7"].bad', { timeout: WAIT });
  const flowState = await page.textContent('[data-flow-state="tenant 7"]');
  if (flowState !== "paused") throw new Error("the Pause button should pause the flow, not leave it " + flowState);

  // A dead letter says why it failed: the receiver's last answer, and when.
  await page.click('nav [data-view="dead"]');
  await page.waitForSelector(`[data-last="${deadId}"]`, { timeout: WAIT });
  const reason = await page.textContent(`[data-last="${deadId}"]`);
  if (!reason.includes("HTTP 500 at ")) throw new Error("the dead job should show its last answer: " + reason);
  await page.click('nav [data-view="jobs"]');
  await page.click(`a[data-job="${jobId}"]`, { timeout: WAIT });
  await page.waitForSelector('[data-attempt="2"]', { timeout: WAIT });

  // Phone width: the job view still fits.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.click('[data-attempt="2"] summary');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 1) throw new Error(`the page scrolls sideways at phone width by ${overflow}px`);
  await page.screenshot({ path: `${shots}/dashboard-job.png`, fullPage: true });
} finally {
  await browser.close();
}
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log("dashboard ok");
