// The web console scenario of issue #15 in headless Chromium (Debian's /usr/bin/chromium),
// driven by playwright-core. crates/alarmhub/tests/console_browser.rs starts the real
// alarmhub binary and the scripted Hengbo host, then runs this script; the two talk over
// stdio: this script prints "STEP <name>" when it needs the panel to act and waits for "ok".
//
// Environment: BASE_URL, ACCOUNT, PASSWORD (every user's), SCREENSHOTS (directory, optional).
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";
import { mkdirSync } from "node:fs";

const { BASE_URL, ACCOUNT, PASSWORD } = process.env;
const SHOTS = process.env.SCREENSHOTS || "";
const STEP_MS = 10_000;
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function step(name) {
  console.log("STEP " + name);
  const { value, done } = await lines.next();
  if (done || value.trim() !== "ok") throw new Error(`step ${name}: the test answered ${value}`);
}
function check(cond, what) {
  if (!cond) throw new Error("check failed: " + what);
  console.log("ok - " + what);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
const timer = setTimeout(() => { console.error("scenario timed out"); process.exit(2); }, 150_000);

async function session(user, locale = "en-US") {
  const ctx = await browser.newContext({ locale, timezoneId: "Asia/Shanghai", viewport: { width: 1360, height: 860 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(STEP_MS);
  page.on("pageerror", (e) => console.error(`[${user}] page error: ${e.message}`));
  await page.goto(BASE_URL + "/");
  await page.getByLabel("User name").fill(user);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.locator("#whoami").filter({ hasText: user }).waitFor();
  return page;
}

try {
  // 1. An operator opens the queue; a panel sends a burglary alarm; it appears without reload.
  const olga = await session("olga");
  await olga.goto(BASE_URL + "/#/queue");
  await olga.locator("#queue-live.live:not(.down)").waitFor();
  const navigations = [];
  olga.on("framenavigated", (f) => { if (f === olga.mainFrame()) navigations.push(f.url()); });
  const t0 = Date.now();
  await step("burglary");
  const row = olga.locator(`#queue-list button.row[data-account="${ACCOUNT}"]`);
  await row.waitFor({ timeout: 5_000 });
  const seenMs = Date.now() - t0;
  check(navigations.length === 0, "the alarm appeared without a reload");
  check(seenMs < 5_000, `the alarm was visible ${seenMs} ms after the panel's ACK`);
  check((await row.textContent()).includes("burglary"), "the row names the category");

  // 2. Take it (keyboard: focus the row, Enter).
  await row.focus();
  await olga.keyboard.press("Enter");
  await olga.locator("#alarm-take").click();
  await olga.locator('#alarm-state[data-state="taken"]').waitFor();
  check((await olga.locator("#alarm-state").textContent()).includes("olga"), "olga holds the alarm");

  // 3. A second operator sees it taken and cannot take it.
  const otto = await session("otto");
  await otto.goto(BASE_URL + "/#/queue");
  const ottoRow = otto.locator(`#queue-list button.row[data-account="${ACCOUNT}"]`);
  await otto.locator(`#queue-list button.row[data-account="${ACCOUNT}"][data-state="taken"]`).waitFor();
  await ottoRow.click();
  await otto.locator("#alarm-take[disabled]").waitFor();
  const id = await ottoRow.getAttribute("data-id");
  const forced = await otto.evaluate(async (id) => {
    const me = await (await fetch("/console/api/me")).json();
    const r = await fetch(`/console/api/alarms/${id}/take`, { method: "POST", headers: { "content-type": "application/json", "x-csrf-token": me.csrf }, body: "{}" });
    return r.status;
  }, id);
  check(forced === 409, `otto's take of olga's alarm was refused (${forced})`);
  if (SHOTS) {
    mkdirSync(SHOTS, { recursive: true });
    await olga.locator("#alarm-note").fill("Keyholder called; customer tripped the sensor.");
    await olga.screenshot({ path: `${SHOTS}/queue.png` });
  }

  // 4. Close it as a false alarm with a note; it leaves both queues live.
  await olga.locator("#alarm-note").fill("Keyholder called; customer tripped the sensor.");
  await olga.locator("#alarm-resolution").selectOption("false_alarm_user");
  await olga.locator("#alarm-close").click();
  await olga.locator('#alarm-state[data-state="closed"]').waitFor();
  await row.waitFor({ state: "detached" });
  await ottoRow.waitFor({ state: "detached" });
  check(true, "closed as a false alarm; gone from both queues");

  // 5. Disarm the panel from its page; the host's confirmation is shown.
  await olga.goto(BASE_URL + `/#/panel/${ACCOUNT}`);
  await olga.locator('button.control[data-action="disarm"]').click();
  await olga.locator("#control-password").fill("123456");
  const sent = olga.locator("#control-send").click();
  await step("disarm");
  await sent;
  await olga.locator('#control-result[data-outcome="done"]').waitFor({ timeout: 15_000 });
  check((await olga.locator("#control-result").textContent()).includes("confirmed"), "the host confirmed the disarm");
  await olga.locator("#arm-status").filter({ hasText: "Disarm" }).waitFor();
  if (SHOTS) await olga.screenshot({ path: `${SHOTS}/panel.png`, fullPage: false });

  // 6. A viewer: no control buttons, no take; a forged request is refused.
  const vic = await session("vic");
  await vic.goto(BASE_URL + `/#/panel/${ACCOUNT}`);
  await vic.locator("table").first().waitFor();
  check(await vic.locator("button.control").count() === 0, "the viewer sees no control buttons");
  await vic.goto(BASE_URL + "/#/queue");
  await vic.locator("#queue-live.live:not(.down)").waitFor();
  const forged = await vic.evaluate(async (acct) => {
    const me = await (await fetch("/console/api/me")).json();
    const r = await fetch(`/console/api/panels/${acct}/control`, { method: "POST", headers: { "content-type": "application/json", "x-csrf-token": me.csrf }, body: JSON.stringify({ action: "disarm", password: "123456" }) });
    return r.status;
  }, ACCOUNT);
  check(forged === 403, `the viewer's forged disarm was refused (${forged})`);
  // The automation output's link to the test's central station: the strip's chip and the
  // Outputs page.
  await vic.locator("#outputs-chip").filter({ hasText: "1/1" }).waitFor();
  await vic.goto(BASE_URL + "/#/outputs");
  await vic.locator('tr[data-output="cms"] .out-state').filter({ hasText: "up" }).waitFor();
  check(true, "the outputs page shows the central station's link up");

  // 7. An admin adds an operator on the users page; the new user logs in at once.
  const ada = await session("ada");
  await ada.goto(BASE_URL + "/#/users");
  await ada.locator("#nu-name").fill("oleg");
  await ada.locator("#nu-role").selectOption("operator");
  await ada.locator("#nu-password").fill(PASSWORD);
  await ada.locator("#add-user button[type=submit]").click();
  await ada.locator('#users-out tr[data-name="oleg"]').waitFor();
  check((await ada.locator("#nu-password").inputValue()) === "", "the password field was cleared");
  if (SHOTS) await ada.screenshot({ path: `${SHOTS}/users.png` });
  const oleg = await session("oleg");
  await oleg.goto(BASE_URL + "/#/queue");
  await oleg.locator("#queue-live.live:not(.down)").waitFor();
  check(true, "the operator the admin created logged in");

  // 8. A Chinese browser gets the Chinese console.
  const zhCtx = await browser.newContext({ locale: "zh-CN" });
  const zh = await zhCtx.newPage();
  await zh.goto(BASE_URL + "/");
  await zh.getByLabel("用户名").waitFor();
  check(await zh.evaluate(() => document.documentElement.lang) === "zh-CN", "a zh-CN browser gets the Chinese console");
  console.log("PASS");
} catch (e) {
  console.error("FAIL " + (e.stack || e));
  process.exitCode = 1;
} finally {
  clearTimeout(timer);
  await browser.close();
  process.exit(process.exitCode || 0);
}
