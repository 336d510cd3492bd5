// Console benchmarks in headless Chromium (run by bench/console.sh; not a test).
//
//   node bench.mjs latency   BASE_URL USER PASSWORD SECONDS
//     Logs in, opens the alarm queue, and records for every alarm row that appears the time
//     it became visible in the DOM (a MutationObserver in the page) minus the alarm's
//     opened_at_ms (the receive time of its event, which precedes the panel's ACK). Prints
//     JSON: count, p50/p95/p99/max in ms.
//   node bench.mjs paint     BASE_URL USER PASSWORD ROUNDS
//     With the queue already full, times navigation to /#/queue → first alarm row painted,
//     ROUNDS times (fresh page each). Prints JSON: each round's ms and the rows shown.
import { chromium } from "playwright-core";

const [mode, BASE, USER, PASSWORD, N] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });
const guard = setTimeout(() => { console.error("bench timed out"); process.exit(2); }, (Number(N) + 120) * 1000);

async function login(ctx) {
  const page = await ctx.newPage();
  await page.goto(BASE + "/");
  await page.locator("#login-name").fill(USER);
  await page.locator("#login-password").fill(PASSWORD);
  await page.locator("#login button[type=submit]").click();
  await page.locator("#whoami").filter({ hasText: USER }).waitFor();
  return page;
}
function pct(sorted, p) { return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : null; }

try {
  const ctx = await browser.newContext({ viewport: { width: 1360, height: 860 } });
  if (mode === "latency") {
    const page = await login(ctx);
    await page.goto(BASE + "/#/queue");
    await page.locator("#queue-live.live:not(.down)").waitFor({ timeout: 30000 });
    await page.evaluate(() => {
      window.__seen = [];
      const known = new Set([...document.querySelectorAll("#queue-list button.row")].map((b) => b.dataset.id));
      new MutationObserver(() => {
        const now = Date.now();
        for (const b of document.querySelectorAll("#queue-list button.row")) {
          if (!known.has(b.dataset.id)) { known.add(b.dataset.id); window.__seen.push(now - Number(b.dataset.opened)); }
        }
      }).observe(document.getElementById("queue-list"), { childList: true });
    });
    console.error("ready");
    await page.waitForTimeout(Number(N) * 1000);
    const lat = (await page.evaluate(() => window.__seen)).sort((a, b) => a - b);
    console.log(JSON.stringify({ count: lat.length, p50: pct(lat, 50), p95: pct(lat, 95), p99: pct(lat, 99), max: lat[lat.length - 1] ?? null }));
  } else if (mode === "paint") {
    const first = await login(ctx);
    await first.close();
    const rounds = [];
    let rows = 0;
    for (let i = 0; i < Number(N); i++) {
      const page = await ctx.newPage();
      const t0 = Date.now();
      await page.goto(BASE + "/#/queue");
      await page.locator("#queue-list button.row").first().waitFor({ timeout: 30000 });
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r())));
      rounds.push(Date.now() - t0);
      rows = await page.locator("#queue-list button.row").count();
      await page.close();
    }
    console.log(JSON.stringify({ rounds, rows }));
  } else {
    throw new Error("mode: latency or paint");
  }
} finally {
  clearTimeout(guard);
  await browser.close();
}
