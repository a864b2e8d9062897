// @ts-check
// Ferry web client: the call screen's account of the link. Two things are
// kept apart, since a user on a thin link must not mistake one for the
// other: the link's quality as this browser measures it (with the verdict
// of call-quality.js, shown from the second sample on), and the video mode
// sent, whether the user chose it or a poor link forced it (FerryCall's
// setVideoMode, call-link.js). The server's word on each side's link
// (`link-quality`) switches this side to small video and back, and marks
// another participant's tile.

import * as I18n from '../lib/i18n.js';
import { verdict } from './call-quality.js';
import { tileOf } from './call-tiles.js';

const $ = (selector) => document.querySelector(selector);
const t = (key, params) => I18n.t(key, params);

function text(selector, value) {
  $(selector).textContent = value;
}

function label(selector, key) {
  $(selector).dataset.i18n = key;
  text(selector, t(key));
}

// The server's verdict on a side's link. This side's poor link sends
// small video first (audio stays whole); a recovered one sends full
// video again, unless the user chose a mode themselves. The line itself
// is this browser's own measure (measure()).
function onLinkQuality(session, message) {
  if (String(message.peer) === String(session.me.id)) {
    if (message.quality === 'poor' && session.mode === 'normal') {
      session.autoLow = true;
      setMode(session, 'low');
      text('#call-notice', t('call.poor_switch'));
    } else if (message.quality === 'good' && session.autoLow) {
      session.autoLow = false;
      setMode(session, 'normal');
    }
    return;
  }
  const figure = tileOf(String(message.peer));
  if (figure) {
    figure.classList.toggle('poor', message.quality === 'poor');
  }
}

// What the user chose to send, apart from how good the link is.
function showChoice(session) {
  const key = session.mode === 'normal' ? null
    : session.autoLow ? 'call.choice.auto_low' : `call.choice.${session.mode}`;
  if (key) {
    label('#call-choice', key);
  } else {
    delete $('#call-choice').dataset.i18n;
    text('#call-choice', '');
  }
}

function setMode(session, mode) {
  session.mode = mode;
  $('#call-mode').value = mode;
  showChoice(session);
  if (session.call) {
    session.call.setVideoMode(mode).catch((error) => console.warn('call:', error));
  }
}

/**
 * This side's own figures from its connections, and the verdict on them.
 * @param {any} session
 * @param {() => boolean} cancelled whether the session is no longer shown
 */
async function measure(session, cancelled) {
  if (cancelled() || !session.call) {
    return;
  }
  let rtt = null;
  let lost = 0;
  let received = 0;
  let sent = 0;
  let connected = 0;
  for (const [peer, pc] of session.call.connections()) {
    if (peer === 'recorder' || session.call.isRecorder(peer) || pc.connectionState !== 'connected') {
      continue;
    }
    connected += 1;
    const stats = await pc.getStats();
    stats.forEach((r) => {
      if (r.type === 'candidate-pair' && r.nominated && typeof r.currentRoundTripTime === 'number') {
        rtt = Math.max(rtt || 0, r.currentRoundTripTime * 1000);
      } else if (r.type === 'inbound-rtp') {
        lost += r.packetsLost || 0;
        received += r.packetsReceived || 0;
      } else if (r.type === 'outbound-rtp') {
        sent += r.bytesSent || 0;
      }
    });
  }
  if (cancelled()) return;
  const now = performance.now();
  const last = session.last;
  session.last = { now, lost, received, sent };
  if (connected === 0) {
    session.quality = null;
    session.last = null;
    label('#call-quality', 'call.quality.alone');
    text('#call-figures', '');
    return;
  }
  if (!last) {
    return;
  }
  const dLost = Math.max(0, lost - last.lost);
  const dReceived = Math.max(0, received - last.received);
  const loss = dLost + dReceived > 0 ? dLost / (dLost + dReceived) : 0;
  const kbps = (Math.max(0, sent - last.sent) * 8) / Math.max(1, now - last.now);
  const quality = verdict({ rttMs: rtt, loss, kbps, mode: session.mode }, session.quality);
  if (quality) {
    session.quality = quality;
    label('#call-quality', `call.quality.${quality}`);
    $('#call-quality').dataset.quality = quality;
  }
  text('#call-figures', '(' + t('call.quality.figures', {
    rtt: rtt === null ? '–' : Math.round(rtt),
    loss: (100 * loss).toFixed(1),
    kbps: Math.round(kbps),
  }) + ')');
}

export { onLinkQuality, setMode, measure };
