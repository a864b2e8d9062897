// User journeys through the web client in headless Chromium, asserting what
// the user sees, with a screenshot of each step kept for review.
//
//   node journeys.cjs <journey> <JSON arguments>
//
// Prints one JSON line: {"ok":true,...} or {"ok":false,"error":"..."}, and
// exits non-zero on failure.
'use strict';

const fs = require('fs');
const path = require('path');
const chromium = require('./chromium.cjs');

const PATIENCE_MS = 60000;

class Journey {
  constructor(args) {
    this.args = args;
    this.steps = [];
  }

  async shot(page, name) {
    fs.mkdirSync(this.args.screenshots, { recursive: true });
    const file = path.join(this.args.screenshots, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    this.steps.push(file);
  }

  // A signed-in page for one user, through the sign-in form.
  async signIn(browser, user, locale) {
    const context = await browser.newContext({
      baseURL: this.args.base,
      locale,
      permissions: ['camera', 'microphone'],
      viewport: { width: 1024, height: 768 },
    });
    const page = await context.newPage();
    page.setDefaultTimeout(PATIENCE_MS);
    await page.goto('/');
    await page.locator('#login-form input[name=username]').fill(user.username);
    await page.locator('#login-form input[name=password]').fill(user.password);
    await page.locator('#login-form button[type=submit]').click();
    await page.locator('#home').waitFor({ state: 'visible' });
    return page;
  }
}

// Shows decoded remote video: a remote <video> with a size, playing.
async function remoteVideoPlays(page) {
  await page.waitForFunction(() => {
    const video = document.querySelector('#videos .remote video');
    return video && video.videoWidth > 0 && video.currentTime > 0.5 && !video.paused;
  }, null, { timeout: PATIENCE_MS });
  return page.evaluate(() => {
    const video = document.querySelector('#videos .remote video');
    return { width: video.videoWidth, height: video.videoHeight };
  });
}

const JOURNEYS = {
  // The clinician and the expert each sign in, find the consultation on
  // their home page, join its call, and each sees the other's video; the
  // expert switches to Chinese mid-call; the clinician leaves.
  async call(journey, browser) {
    const { consultation, clinician, expert } = journey.args;
    const pages = {};
    for (const [who, user, locale] of [['clinician', clinician, 'en-US'], ['expert', expert, 'zh-CN']]) {
      const page = await journey.signIn(browser, user, locale);
      const row = page.locator(`#consultations tr[data-consultation="${consultation}"]`);
      await row.waitFor({ state: 'visible' });
      await journey.shot(page, `call-1-${who}-home`);
      await row.locator('a.button').click();
      await page.locator('#call').waitFor({ state: 'visible' });
      pages[who] = page;
    }
    const seen = {};
    for (const who of ['clinician', 'expert']) {
      seen[who] = await remoteVideoPlays(pages[who]);
      await journey.shot(pages[who], `call-2-${who}-in-call`);
    }
    // The expert's browser asked for Chinese: the screen speaks it.
    const leaveLabel = await pages.expert.locator('#call-leave').textContent();
    if (leaveLabel !== '离开') {
      throw new Error(`the expert's screen is not in Chinese: ${leaveLabel}`);
    }
    // Switched to English by hand, it speaks English.
    await pages.expert.locator('#language').selectOption('en');
    const english = await pages.expert.locator('#call-leave').textContent();
    if (english !== 'Leave') {
      throw new Error(`switching to English left: ${english}`);
    }
    await pages.clinician.locator('#call-leave').click();
    await pages.clinician.locator('#home').waitFor({ state: 'visible' });
    await pages.expert.locator('#call-waiting').waitFor({ state: 'visible' });
    const notice = await pages.expert.locator('#call-notice').textContent();
    if (!notice.includes(clinician.display_name)) {
      throw new Error(`the expert is not told the clinician left: ${notice}`);
    }
    await journey.shot(pages.expert, 'call-3-expert-alone');
    return { seen, notice };
  },
};

async function main() {
  const [name, json] = process.argv.slice(2);
  const run = JOURNEYS[name];
  if (!run) {
    throw new Error(`no journey ${JSON.stringify(name)}; known: ${Object.keys(JOURNEYS).join(', ')}`);
  }
  const journey = new Journey(JSON.parse(json));
  const browser = await chromium.launch();
  try {
    const result = await run(journey, browser);
    process.stdout.write(JSON.stringify({ ok: true, result, screenshots: journey.steps }) + '\n');
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  process.stdout.write(JSON.stringify({ ok: false, error: String(error && error.stack || error) }) + '\n');
  process.exit(1);
});
