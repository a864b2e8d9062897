// User journeys through the web client in headless Chromium, asserting what
// the user sees, with a screenshot of each step kept for review.
//
//   node journeys.cjs <journey> <JSON arguments>
//
// Each journey is `journeys/<journey>.cjs`, exporting
// `async (journey, browser) => result`. Prints one JSON line:
// {"ok":true,...} or {"ok":false,"error":"..."}, and exits non-zero on failure.
'use strict';

const fs = require('fs');
const path = require('path');
const chromium = require('./chromium.cjs');

const PATIENCE_MS = 60000;

class Journey {
  constructor(args) {
    this.args = args;
    this.steps = [];
    this.patience = PATIENCE_MS;
  }

  async shot(page, name) {
    fs.mkdirSync(this.args.screenshots, { recursive: true });
    const file = path.join(this.args.screenshots, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    this.steps.push(file);
  }

  // A signed-in page for one user, through the sign-in form, on a laptop's
  // screen unless another viewport is given.
  async signIn(browser, user, locale, viewport) {
    const context = await browser.newContext({
      baseURL: this.args.base,
      // A test's HTTPS server has a certificate from a CA made for the test.
      ignoreHTTPSErrors: true,
      locale,
      permissions: ['camera', 'microphone'],
      viewport: viewport || { width: 1024, height: 768 },
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

async function main() {
  const [name, json] = process.argv.slice(2);
  const file = path.join(__dirname, 'journeys', `${name}.cjs`);
  if (!/^[a-z0-9-]+$/.test(name || '') || !fs.existsSync(file)) {
    const known = fs.readdirSync(path.join(__dirname, 'journeys')).map((f) => f.replace(/\.cjs$/, ''));
    throw new Error(`no journey ${JSON.stringify(name)}; known: ${known.join(', ')}`);
  }
  const run = require(file);
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
