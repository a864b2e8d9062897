// Page loads of the web client in Debian's Chromium, over a link emulated by
// Chromium itself through the DevTools protocol (this kernel has no netem):
//
//   node loads.cjs '<JSON arguments>'
//
// Arguments: base (the server's URL), username and password (the demo
// clinician), patient (a patient id), study (a Study Instance UID), link
// ({latency_ms, down_bps, up_bps}, or null for loopback as it is), spki
// (for HTTPS: the base64 SHA-256 of the server certificate's public key,
// which Chromium is told to trust, so that it caches as it would behind a
// real certificate; it keeps nothing fetched with a certificate error).
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
// - viewer: the same for `#/studies/{uid}`, until the first image is drawn;
// - new version: the browser's cache emptied (as a new version of the
//   client's files is, to it), a new tab on `/`, still signed in, until the
//   home has loaded every panel.
// A load's time runs to the moment its screen is whole, as the page itself
// sees it: the sign-in form shown (app.js shows it once its code has run
// and the session check said "no"), the home with every panel loaded
// (#home[data-loaded]), a screen whose opening has finished (its section
// no longer aria-busy, which app.js clears once every panel has arrived),
// the viewer's first image drawn (its canvas marked data-drawn). What the client then fetches in the
// background for the screens that may come next is not part of it. The
// bytes and requests are those of answers complete by then (Chromium's
// encodedDataLength, headers included); before the next load, the page
// waits until no request has been in flight for QUIET_MS (the
// notification stream, which stays open, aside).
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
    this.protocols = new Set();
    // [time, bytes, protocol] of each answer complete, since `mark()`.
    this.done = [];
    // Start times of the requests since `mark()`.
    this.started = [];
    cdp.on('Network.requestWillBeSent', (e) => {
      if (LONG_LIVED.some((re) => re.test(e.request.url)) || e.request.url.startsWith('data:')) return;
      if (!this.inFlight.has(e.requestId)) {
        this.requests += 1;
        this.started.push(Date.now());
        this.urls.push(e.request.url.replace(/^https?:\/\/[^/]+/, ''));
      }
      this.inFlight.set(e.requestId, Date.now());
      this.lastChange = Date.now();
    });
    // From the memory cache, or the disk cache: no bytes on the wire.
    const cached = new Set();
    this.cachedAt = [];
    const hit = (id) => {
      if (this.inFlight.has(id) && !cached.has(id)) {
        cached.add(id);
        this.fromCache += 1;
        this.cachedAt.push(Date.now());
      }
    };
    cdp.on('Network.requestServedFromCache', (e) => hit(e.requestId));
    cdp.on('Network.responseReceived', (e) => {
      if (e.response.fromDiskCache || e.response.fromPrefetchCache) hit(e.requestId);
    });
    const protocolOf = new Map();
    cdp.on('Network.responseReceived', (e) => {
      if (e.response.protocol && !e.response.url.startsWith('data:')) protocolOf.set(e.requestId, e.response.protocol);
    });
    const done = (e) => {
      if (!this.inFlight.delete(e.requestId)) return;
      this.bytes += e.encodedDataLength || 0;
      this.lastEnd = Date.now();
      this.lastChange = this.lastEnd;
      this.done.push([this.lastEnd, e.encodedDataLength || 0, cached.has(e.requestId) ? null : protocolOf.get(e.requestId)]);
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
    this.protocols = new Set();
    this.done = [];
    this.started = [];
    this.cachedAt = [];
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

  // The figures of a load from `start` to `ready`: answers complete by
  // then, requests started by then.
  figures(start, ready) {
    const by = this.done.filter(([at]) => at <= ready);
    return {
      ms: ready - start,
      bytes: by.reduce((sum, [, bytes]) => sum + bytes, 0),
      requests: this.started.filter((at) => at <= ready).length,
      from_cache: this.cachedAt.filter((at) => at <= ready).length,
      urls: this.urls,
      protocols: [...new Set(by.map(([, , protocol]) => protocol).filter(Boolean))],
      // Everything until quiet, the background's fetching included.
      all_bytes: this.bytes,
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

// The moment, by the page's clock (the same machine's), when `selector`
// first matches, looked for on every frame.
async function ready(page, selector) {
  const at = await page.waitForFunction((wanted) => {
    const found = document.querySelector(wanted);
    return found && found.offsetParent !== null ? Date.now() : null;
  }, selector, { polling: 'raf', timeout: PATIENCE_MS });
  return at.jsonValue();
}

// Figures of a load from `start` to its screen being whole, then the quiet
// the next load starts from.
async function loaded(page, wire, start, selector) {
  const at = await ready(page, selector);
  await wire.quiet();
  return wire.figures(start, at);
}

// `/` until the sign-in form works, then signing in until the home page
// has loaded every panel.
async function signIn(page, wire, args) {
  const start = Date.now();
  await page.goto('/', { waitUntil: 'commit' });
  const form = await loaded(page, wire, start, '#signin');
  wire.mark();
  await page.locator('#login-form input[name=username]').fill(args.username);
  await page.locator('#login-form input[name=password]').fill(args.password);
  const submitted = Date.now();
  await page.locator('#login-form button[type=submit]').click();
  const home = await loaded(page, wire, submitted, '#home[data-loaded]');
  const total = {
    ms: form.ms + home.ms,
    bytes: form.bytes + home.bytes,
    requests: form.requests + home.requests,
    from_cache: form.from_cache + home.from_cache,
    protocols: [...new Set([...form.protocols, ...home.protocols])],
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
  const inApp = await loaded(page, wire, clicked, PATIENT_WHOLE);
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

// The patient's page with every panel in (app.js clears aria-busy then).
const PATIENT_WHOLE = '#screen-patient:not([aria-busy]) #patient-name';

async function screen(context, args, hash, selector) {
  const { page, wire } = await tab(context, args.link);
  const start = Date.now();
  await page.goto('/' + hash, { waitUntil: 'commit' });
  const figures = await loaded(page, wire, start, selector);
  await page.close();
  return figures;
}

async function main() {
  const args = JSON.parse(process.argv[2]);
  const browser = await chromium.launch(args.spki ? [`--ignore-certificate-errors-spki-list=${args.spki}`] : []);
  try {
    const context = await browser.newContext({
      baseURL: args.base,
      locale: 'en-US',
      viewport: { width: 1280, height: 800 },
    });
    const loads = { ...await firstVisit(context, args), ...await returningVisit(context, args) };
    loads.patient = await screen(context, args, `#/patients/${args.patient}`, PATIENT_WHOLE);
    loads.viewer = await screen(context, args, `#/studies/${encodeURIComponent(args.study)}`,
      '#screen-viewer canvas[data-drawn]');
    const emptied = await context.newPage();
    await (await context.newCDPSession(emptied)).send('Network.clearBrowserCache');
    await emptied.close();
    loads.new_version_home = await screen(context, args, '', '#home[data-loaded]');
    process.stdout.write(JSON.stringify({ ok: true, loads }) + '\n');
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  process.stdout.write(JSON.stringify({ ok: false, error: String(error && error.stack || error) }) + '\n');
  process.exit(1);
});
