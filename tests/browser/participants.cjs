// Call participants in a real headless Chromium, for the e2e tests.
//
//   node participants.cjs http://127.0.0.1:PORT
//
// Reads one JSON command a line on stdin, writes one JSON line on stdout for
// each reply, each server message a page receives, and each error:
//
//   {"cmd":"open","page":"a","username":"…","password":"…","consultation":7}
//   {"cmd":"consent","page":"a","recording":true}
//   {"cmd":"stats","page":"a"}
//   {"cmd":"leave","page":"a"}  {"cmd":"close","page":"a"}  {"cmd":"quit"}
//
// Each page is a browser context of its own (its own cookies: its own
// signed-in user) running web-client/call.js as the web client does.
'use strict';

const readline = require('readline');
const chromium = require('./chromium.cjs');

const base = process.argv[2];
if (!base) {
  process.stdout.write(JSON.stringify({ error: 'usage: participants.cjs <base URL>' }) + '\n');
  process.exit(2);
}

function emit(line) {
  process.stdout.write(JSON.stringify(line) + '\n');
}

function describe(error) {
  return error && error.message ? error.message : String(error);
}

let browserPromise = null;
function browser() {
  if (!browserPromise) {
    browserPromise = chromium.launch();
  }
  return browserPromise;
}

// page name -> { context, page }
const pages = new Map();

function pageOf(name) {
  const entry = pages.get(name);
  if (!entry || !entry.page) {
    throw new Error(`no page ${JSON.stringify(name)}`);
  }
  return entry.page;
}

async function open({ page: name, username, password, consultation }) {
  if (pages.has(name)) {
    throw new Error(`page ${JSON.stringify(name)} is already open`);
  }
  const context = await (await browser()).newContext({
    // A test's HTTPS server has a certificate from a CA made for the test.
    ignoreHTTPSErrors: true,
    permissions: ['camera', 'microphone'],
  });
  pages.set(name, { context, page: null });
  try {
    await prepare(name, context, { username, password, consultation });
  } catch (error) {
    // A page that never joined is gone, so the test may open it again.
    pages.delete(name);
    await context.close().catch(() => {});
    throw error;
  }
  return {};
}

async function prepare(name, context, { username, password, consultation }) {
  const page = await context.newPage();
  pages.get(name).page = page;
  await page.exposeFunction('ferryMessage', (message) =>
    emit({ page: name, event: 'message', message }),
  );
  await page.exposeFunction('ferryClosed', (close) =>
    emit({ page: name, event: 'closed', code: close.code, reason: close.reason }),
  );
  await page.exposeFunction('ferryError', (error) => emit({ page: name, error }));
  page.on('pageerror', (error) => emit({ page: name, error: describe(error) }));
  page.on('console', (message) => {
    // Kept off stdout, which is the test's protocol; the test shows stderr
    // when it fails.
    if (message.type() === 'error' || message.type() === 'warning') {
      process.stderr.write(`[${name}] console.${message.type()}: ${message.text()}\n`);
    }
  });
  await page.goto(new URL('/', base).href);
  await page.evaluate(
    async ({ username, password, consultation }) => {
      const login = await fetch('/api/v1/auth/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password }),
      });
      if (!login.ok) {
        throw new Error(`sign-in: HTTP ${login.status} ${await login.text()}`);
      }
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: true,
        video: { width: 320, height: 240 },
      });
      // The client's modules keep nothing on window; the test imports the
      // call's class as the call screen does.
      const { FerryCall } = await import('/call/call.js');
      window.ferryCall = new FerryCall({
        consultationId: consultation,
        localStream: stream,
        onEvent: (message) => window.ferryMessage(message),
        onClose: (close) => window.ferryClosed(close),
        onError: (error) => window.ferryError(error && error.message ? error.message : String(error)),
      });
      await window.ferryCall.join();
    },
    { username, password, consultation },
  );
}

async function consent({ page, recording }) {
  await pageOf(page).evaluate((recording) => window.ferryCall.consent(recording), recording);
  return {};
}

// Per peer connection of the page: its state and the media counters that
// prove media flowed.
async function stats({ page }) {
  const peers = await pageOf(page).evaluate(async () => {
    const summary = {};
    for (const [peer, pc] of window.ferryCall.connections()) {
      const entry = {
        connection: pc.connectionState,
        ice: pc.iceConnectionState,
        inbound_video: { frames_decoded: 0, packets_received: 0 },
        inbound_audio: { packets_received: 0 },
        outbound_video: { frames_encoded: 0, packets_sent: 0, codec: null },
        outbound_audio: { packets_sent: 0 },
      };
      const report = await pc.getStats();
      const codecs = {};
      report.forEach((r) => {
        if (r.type === 'codec') {
          codecs[r.id] = r.mimeType;
        }
      });
      report.forEach((r) => {
        const kind = r.kind || r.mediaType;
        if (r.type === 'inbound-rtp' && kind === 'video') {
          entry.inbound_video.frames_decoded += r.framesDecoded || 0;
          entry.inbound_video.packets_received += r.packetsReceived || 0;
        } else if (r.type === 'inbound-rtp' && kind === 'audio') {
          entry.inbound_audio.packets_received += r.packetsReceived || 0;
        } else if (r.type === 'outbound-rtp' && kind === 'video') {
          entry.outbound_video.frames_encoded += r.framesEncoded || 0;
          entry.outbound_video.packets_sent += r.packetsSent || 0;
          entry.outbound_video.codec = codecs[r.codecId] || entry.outbound_video.codec;
        } else if (r.type === 'outbound-rtp' && kind === 'audio') {
          entry.outbound_audio.packets_sent += r.packetsSent || 0;
        }
      });
      summary[peer] = entry;
    }
    return summary;
  });
  return { peers };
}

async function leave({ page }) {
  await pageOf(page).evaluate(() => window.ferryCall.leave());
  return {};
}

// As a closed tab: no `leave`, the socket just goes.
async function close({ page }) {
  const entry = pages.get(page);
  if (!entry) {
    throw new Error(`no page ${JSON.stringify(page)}`);
  }
  pages.delete(page);
  await entry.context.close();
  return {};
}

let quitting = false;
async function quit() {
  if (quitting) {
    return;
  }
  quitting = true;
  if (browserPromise) {
    try {
      await (await browserPromise).close();
    } catch (error) {
      process.stderr.write(`closing the browser: ${describe(error)}\n`);
    }
  }
}

const commands = { open, consent, stats, leave, close };

async function run(command) {
  const { cmd, page } = command;
  if (cmd === 'quit') {
    await quit();
    emit({ reply: 'quit', ok: true });
    process.exit(0);
  }
  const handler = commands[cmd];
  if (!handler) {
    emit({ page, error: `unknown command ${JSON.stringify(cmd)}` });
    return;
  }
  try {
    const result = await handler(command);
    emit({ page, reply: cmd, ok: true, ...result });
  } catch (error) {
    emit({ page, reply: cmd, ok: false, error: describe(error) });
  }
}

const input = readline.createInterface({ input: process.stdin, terminal: false });
input.on('line', (line) => {
  if (!line.trim()) {
    return;
  }
  let command;
  try {
    command = JSON.parse(line);
  } catch (error) {
    emit({ error: `not JSON: ${describe(error)}` });
    return;
  }
  // Commands run concurrently: two pages may be opening at once.
  run(command).catch((error) => emit({ page: command.page, error: describe(error) }));
});
// The test is gone (or dropped us): leave no browser behind.
input.on('close', () => {
  quit().finally(() => process.exit(0));
});
process.on('unhandledRejection', (error) => emit({ error: describe(error) }));
process.on('uncaughtException', (error) => {
  emit({ error: describe(error) });
  quit().finally(() => process.exit(1));
});
