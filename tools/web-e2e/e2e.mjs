// Drives kino's web app in a real browser: sign in, preview a prompt's plan, a policy
// refusal, create a clip and play it, remix it, the feed, a cameo (register, use, see its
// uses and audit log, delete a use, revoke), and delete. Run by crates/kino-cli/tests/web.rs:
//
//   node tools/web-e2e/e2e.mjs BASE_URL API_KEY OUT_DIR
//
// Exits non-zero with a message on the first failed check. Screenshots go to OUT_DIR.
import { chromium } from "playwright-core";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const [base, key, out] = process.argv.slice(2);
if (!base || !key || !out) {
  console.error("usage: e2e.mjs BASE_URL API_KEY OUT_DIR");
  process.exit(2);
}
mkdirSync(out, { recursive: true });

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const GEN_TIMEOUT = 240_000;

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  console.log(`ok - ${what}`);
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
  ],
});
const problems = [];
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  // Console errors fail the run, except the browser's own note on an HTTP error status:
  // refusals are 4xx answers by design. Server errors (5xx) are caught from the responses.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(`console: ${m.text()}`);
  });
  page.on("response", (r) => { if (r.status() >= 500) problems.push(`HTTP ${r.status()} from ${r.url()}`); });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("dialog", (d) => d.accept());
  const shot = (name) => page.screenshot({ path: join(out, `${name}.png`), fullPage: true });

  // --- sign in ---
  await page.goto(base + "/");
  check(page.url().includes("/signin"), "an anonymous visit is sent to the sign-in page");
  await page.fill("input[name=key]", "kino_wrong_key");
  await page.click("button[type=submit]");
  await page.waitForSelector(".error");
  check(page.url().includes("error=1"), "a wrong key is refused");
  await page.fill("input[name=key]", key);
  await page.click("button[type=submit]");
  await page.waitForSelector(".empty");
  check(new URL(page.url()).pathname === "/", "the right key signs in and lands on the feed");
  check((await page.textContent("#who")).includes("test"), "the header names the key");

  // --- create: the plan preview and a policy refusal ---
  await page.goto(base + "/create");
  await page.waitForSelector("#prompt");
  await page.fill("#prompt", "Darth Vader dances in the rain");
  await page.waitForSelector("#plan .error");
  check((await page.textContent("#plan")).includes("Refused by policy"), "the preview says the policy would refuse");
  await page.click("#submit");
  await page.waitForSelector("#status .error");
  check((await page.textContent("#status")).includes("Refused by policy"), "submitting a refused prompt shows the refusal");

  const prompt = "Scene: A red ball bounces on a wooden floor.\nCamera: slow push-in.\nAudio: a thud at 0:01.";
  await page.fill("#prompt", prompt);
  // The preview follows the typing; wait until it shows this prompt's plan.
  await page.waitForFunction(() => {
    const t = document.querySelector("#plan .plan-text");
    return t && /thud/.test(t.textContent);
  });
  const planText = await page.textContent("#plan");
  check(/push.?in/i.test(planText) && /1\.0 ?s|0:01/.test(planText), "the preview shows the camera move and the timed cue");
  await shot("create");
  await page.fill("#seconds", "2");
  await page.click("#submit");
  await page.waitForURL(/\/videos\/video_/);
  const firstId = page.url().split("/videos/")[1];
  check(firstId.startsWith("video_"), `submitting opens the new video's page (${firstId})`);

  // --- watch: the browser itself decodes and plays kino's MP4 ---
  await page.waitForSelector("video#player", { timeout: GEN_TIMEOUT });
  await page.waitForFunction(() => {
    const v = document.querySelector("video#player");
    return v && v.readyState >= 2 && v.duration > 0;
  }, null, { timeout: 30_000 });
  const media = await page.evaluate(async () => {
    const v = document.querySelector("video#player");
    v.muted = true;
    await v.play();
    await new Promise((r) => setTimeout(r, 700));
    return { w: v.videoWidth, h: v.videoHeight, d: v.duration, t: v.currentTime, err: v.error && v.error.code };
  });
  check(media.w > 0 && media.h > 0 && media.d > 1.5 && !media.err, `Chromium decodes the clip (${media.w}x${media.h}, ${media.d.toFixed(2)} s)`);
  check(media.t > 0, `Chromium plays it (at ${media.t.toFixed(2)} s after 0.7 s)`);
  const thumb = await page.request.get(`${base}/v1/videos/${firstId}/content?variant=thumbnail`);
  check(thumb.ok() && (thumb.headers()["content-type"] || "").includes("webp"), "the thumbnail downloads with the session cookie");
  await shot("watch");

  // --- remix ---
  await page.fill("#remix-prompt", "Scene: A blue ball bounces on a wooden floor.");
  await page.click("#remix-form button[type=submit]");
  await page.waitForURL((u) => u.pathname.startsWith("/videos/") && !u.pathname.endsWith(firstId));
  const remixId = page.url().split("/videos/")[1];
  await page.waitForSelector("video#player", { timeout: GEN_TIMEOUT });
  check((await page.textContent(".facts")).includes(firstId), "the remix names its source");

  // --- feed ---
  await page.goto(base + "/");
  await page.waitForSelector(".card");
  const cards = await page.$$eval(".card", (cs) => cs.map((c) => c.dataset.id));
  check(cards.length === 2 && cards[0] === remixId && cards[1] === firstId, "the feed lists both clips, newest first");
  await page.waitForFunction(() => [...document.querySelectorAll(".card img")].every((i) => i.complete && i.naturalWidth > 0), null, { timeout: 30_000 });
  check(true, "the feed's thumbnails load");
  await shot("feed");

  // --- cameos ---
  // A live-looking consent clip: a moving scene with a voice-like track, 2.5 s, H.264 + AAC
  // (written by crates/kino-server/tests/api.rs, which also checks that it passes the
  // server's consent check; a generated clip has no voice and would be refused).
  const consent = readFileSync(new URL("./consent.mp4", import.meta.url));
  check(consent.length > 0, "the consent clip fixture is there");
  await page.goto(base + "/cameos");
  await page.waitForSelector("#cameo-form");
  await page.fill("#cameo-name", "Test Person");
  await page.setInputFiles("#cameo-video", { name: "consent.mp4", mimeType: "video/mp4", buffer: consent });
  await page.click("#cameo-form button[type=submit]");
  await page.waitForSelector(".cameo");
  const charId = await page.$eval(".cameo", (c) => c.dataset.id);
  check(charId.startsWith("char_"), `the cameo is registered (${charId})`);
  await page.waitForFunction(() => { const i = document.querySelector(".cameo img"); return i && i.complete && i.naturalWidth > 0; });
  check(true, "the cameo's reference frame shows");

  await page.goto(base + "/create");
  await page.waitForSelector(`#cameo option[value="${charId}"]`, { state: "attached" });
  await page.fill("#prompt", "waves at the camera in a park.");
  await page.selectOption("#cameo", charId);
  check((await page.inputValue("#prompt")).includes(`@${charId}`), "picking a cameo inserts its mention");
  await page.fill("#seconds", "1");
  await page.click("#submit");
  await page.waitForURL(/\/videos\/video_/);
  const cameoVideo = page.url().split("/videos/")[1];
  await page.waitForSelector("video#player", { timeout: GEN_TIMEOUT });

  await page.goto(base + "/cameos");
  await page.waitForSelector(".cameo");
  await page.click(".cameo button:has-text('Videos using it')");
  await page.waitForSelector(`.uses li[data-id="${cameoVideo}"]`);
  check(true, "the owner sees the video that uses the cameo");
  await page.click(".cameo button:has-text('Audit log')");
  await page.waitForSelector("table.audit");
  const audit = await page.textContent("table.audit");
  check(audit.includes("character.created") && audit.includes(cameoVideo), "the audit log has the registration and the use");
  await page.click(".cameo button:has-text('Videos using it')");
  await page.click(`.uses li[data-id="${cameoVideo}"] button`);
  await page.waitForSelector(".detail .muted");
  check((await page.textContent(".cameo .detail")).includes("No video uses"), "the owner deletes the use");
  const gone = await page.request.get(`${base}/v1/videos/${cameoVideo}`);
  check(gone.status() === 404, "the deleted use is gone from the API");
  await page.click(".cameo button:has-text('Revoke')");
  await page.waitForFunction(() => document.querySelector(".cameo")?.textContent.includes("Revoked"));
  check(true, "the cameo is revoked");
  await shot("cameos");
  await page.goto(base + "/create");
  await page.fill("#prompt", `@${charId} waves again.`);
  await page.click("#submit");
  await page.waitForSelector("#status .error");
  check(/may not use/i.test(await page.textContent("#status")), "a revoked cameo cannot be used");

  // --- delete ---
  await page.goto(`${base}/videos/${remixId}`);
  await page.waitForSelector("#delete");
  await page.click("#delete");
  await page.waitForURL((u) => u.pathname === "/");
  await page.waitForSelector(".card");
  const left = await page.$$eval(".card", (cs) => cs.map((c) => c.dataset.id));
  check(left.length === 1 && left[0] === firstId, "deleting from the video page removes it from the feed");

  // --- sign out ---
  await page.click("#who button");
  await page.waitForURL(/\/signin/);
  await page.goto(base + "/create");
  check(page.url().includes("/signin"), "after signing out the pages ask to sign in again");

  const relevant = problems.filter((p) => !p.includes("favicon"));
  // The refused create and the revoked cameo answer 400 on purpose; Chromium logs those.
  const unexpected = relevant.filter((p) => !/status of 40[03]/.test(p));
  check(unexpected.length === 0, `no script errors or CSP violations (${unexpected.join(" | ") || "none"})`);
  console.log("all browser checks passed");
} catch (e) {
  failed = true;
  console.error(String(e && e.stack || e));
  for (const p of problems) console.error(p);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
