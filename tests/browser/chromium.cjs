// Debian's Chromium as the browser tests launch it: headless, with a fake
// camera and microphone, on loopback.
'use strict';

const { chromium } = require('playwright-core');

const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  // Without it Chromium gathers no ICE candidates where loopback is the
  // only interface, and every call stays `new`.
  '--allow-loopback-in-peer-connection',
];

// `extra`: more switches, e.g. a benchmark's trusted certificate.
function launch(extra) {
  return chromium.launch({
    executablePath: process.env.FERRY_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ARGS.concat(extra || []),
  });
}

module.exports = { launch };
