// Drives the dashboard in headless Debian Chromium: sign in, find a delivered job, open its
// attempts, retry it, see the new attempt. Arguments: base URL, API token, job id, screenshot dir.
import { chromium } from "playwright-core";

const [base, token, jobId, shots] = process.argv.slice(2);
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
