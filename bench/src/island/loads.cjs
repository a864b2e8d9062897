// Page loads of the web client in Debian's Chromium, over a link emulated by
// Chromium itself through the DevTools protocol (this kernel has no netem):
//
//   node loads.cjs '<JSON arguments>'
//
// Arguments: base (the server's URL), username and password (the demo
// clinician), patient (a patient id), study (a Study Instance UID), link
// ({latency_ms, down_bps, up_bps}, or null for loopback as it is).
//
// One browser profile, so the later loads find what a returning
// clinician's browser holds:
// - first visit: a cold cache, `/` until the sign-in form works (its
//   section shown, which app.js does once its code has run and the session
//   check said "no"), then signing in until the home page has loaded every
//   panel; then from that home to the demo patient's page, in the app;
// - returning: signed out (cookies cleared), the same sign-in and home on
//   the cache the first visit left;
// - patient: a new tab on `#/patients/{id}`, signed in, until the page and
//   everything it asked for has arrived;
// - viewer: the same for `#/studies/{uid}`, until the first image is drawn.
// A load ends when its screen is there and no request has been in flight
// for QUIET_MS (the notification stream, which stays open, aside); its
// time is that of the last answer's end. Bytes are those on the wire
// (Chromium's encodedDataLength, headers included).
//
// Prints one JSON line: {"ok":true,"loads":{...}} or {"ok":false,"error"}.
'use strict';

const path = require('path');
const chromium = require(path.join(__dirname, '../../../tests/browser/chromium.cjs'));

// Longer than a round trip of the link, so a request that follows another's
// answer has started before the load is taken as over.
const QUIET_MS = 1500;
const PATIENCE_MS = 120000;
// Requests that stay open while the page is: not part of any load.
const LONG_LIVED = [/\/api\/v1\/notifications\/stream/];

// In-flight requests of one page, seen through the DevTools protocol.
class Wire {
  constructor(cdp) {
    this.inFlight = new Map();
    this.requests = 0;
    this.fromCache = 0;
    this.bytes = 0;
    this.lastEnd = Date.now();
    this.lastChange = Date.now();
    this.urls = [];
    cdp.on('Network.requestWillBeSent', (e) => {
      if (LONG_LIVED.some((re) => re.test(e.request.url)) || e.request.url.startsWith('data:')) return;
      if (!this.inFlight.has(e.requestId)) {
        this.requests += 1;
        this.urls.push(e.request.url.replace(/^https?:\/\/[^/]+/, ''));
      }
      this.inFlight.set(e.requestId, Date.now());
      this.lastChange = Date.now();
    });
    // From the memory cache, or the disk cache: no bytes on the wire.
    const cached = new Set();
    const hit = (id) => {
      if (this.inFlight.has(id) && !cached.has(id)) {
        cached.add(id);
        this.fromCache += 1;
      }
    };
    cdp.on('Network.requestServedFromCache', (e) => hit(e.requestId));
    cdp.on('Network.responseReceived', (e) => {
      if (e.response.fromDiskCache || e.response.fromPrefetchCache) hit(e.requestId);
    });
    const done = (e) => {
      if (!this.inFlight.delete(e.requestId)) return;
      this.bytes += e.encodedDataLength || 0;
      this.lastEnd = Date.now();
      this.lastChange = this.lastEnd;
    };
    cdp.on('Network.loadingFinished', done);
    cdp.on('Network.loadingFailed', done);
  }

  // Figures since `mark()`.
  mark() {
    this.requests = 0;
    this.fromCache = 0;
    this.bytes = 0;
    this.urls = [];
  }

  // Waits until nothing has been in flight for QUIET_MS; the time the last
  // answer ended.
  async quiet() {
    const deadline = Date.now() + PATIENCE_MS;
    for (;;) {
      if (this.inFlight.size === 0 && Date.now() - this.lastChange >= QUIET_MS) return this.lastEnd;
      if (Date.now() > deadline) throw new Error(`requests still in flight: ${this.inFlight.size}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  figures(start, end) {
    return {
      ms: end - start, bytes: this.bytes, requests: this.requests, from_cache: this.fromCache, urls: this.urls,
    };
  }
}

// A new tab whose traffic goes over the link.
async function tab(context, link) {
  const page = await context.newPage();
  page.setDefaultTimeout(PATIENCE_MS);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  if (link) {
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: link.latency_ms,
      // Bytes per second.
      downloadThroughput: link.down_bps / 8,
      uploadThroughput: link.up_bps / 8,
    });
  }
  return { page, wire: new Wire(cdp) };
}

// `/` until the sign-in form works, then signing in until the home page
// has loaded every panel.
async function signIn(page, wire, args) {
  const start = Date.now();
  await page.goto('/', { waitUntil: 'commit' });
  await page.locator('#signin').waitFor({ state: 'visible' });
  const form = wire.figures(start, await wire.quiet());
  wire.mark();
  await page.locator('#login-form input[name=username]').fill(args.username);
  await page.locator('#login-form input[name=password]').fill(args.password);
  const submitted = Date.now();
  await page.locator('#login-form button[type=submit]').click();
  await page.locator('#home[data-loaded]').waitFor({ state: 'attached' });
  const home = wire.figures(submitted, await wire.quiet());
  const total = {
    ms: form.ms + home.ms,
    bytes: form.bytes + home.bytes,
    requests: form.requests + home.requests,
    from_cache: form.from_cache + home.from_cache,
  };
  return [form, home, total];
}

// The first visit, on an empty cache; then from that home to the patient's
// page, as a clinician goes: the client's code is there, only the page's
// data travels.
async function firstVisit(context, args) {
  const { page, wire } = await tab(context, args.link);
  const [form, home, total] = await signIn(page, wire, args);
  wire.mark();
  const clicked = Date.now();
  await page.evaluate((id) => { location.hash = `#/patients/${id}`; }, args.patient);
  await page.locator('#patient-name').waitFor();
  const inApp = wire.figures(clicked, await wire.quiet());
  await page.close();
  return { sign_in_page: form, signed_in_home: home, first_load: total, patient_in_app: inApp };
}

// The next day: signed out, the browser's cache as the first visit left it.
async function returningVisit(context, args) {
  await context.clearCookies();
  const { page, wire } = await tab(context, args.link);
  const [form, home, total] = await signIn(page, wire, args);
  await page.close();
  return { returning_sign_in_page: form, returning_signed_in_home: home, returning_load: total };
}

async function screen(context, args, hash, ready) {
  const { page, wire } = await tab(context, args.link);
  const start = Date.now();
  await page.goto('/' + hash, { waitUntil: 'commit' });
  await ready(page);
  const figures = wire.figures(start, await wire.quiet());
  await page.close();
  return figures;
}

async function main() {
  const args = JSON.parse(process.argv[2]);
  const browser = await chromium.launch();
  try {
    const context = await browser.newContext({ baseURL: args.base, locale: 'en-US', viewport: { width: 1280, height: 800 } });
    const loads = { ...await firstVisit(context, args), ...await returningVisit(context, args) };
    loads.patient = await screen(context, args, `#/patients/${args.patient}`,
      (page) => page.locator('#patient-name').waitFor());
    loads.viewer = await screen(context, args, `#/studies/${encodeURIComponent(args.study)}`,
      (page) => page.waitForFunction(() => {
        const canvas = document.querySelector('#screen-viewer canvas');
        return canvas && canvas.width > 1;
      }));
    process.stdout.write(JSON.stringify({ ok: true, loads }) + '\n');
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  process.stdout.write(JSON.stringify({ ok: false, error: String(error && error.stack || error) }) + '\n');
  process.exit(1);
});
