// @ts-check
// Ferry web client: the call screen of a consultation. Local and remote
// video, mute and camera toggles, the link's quality (the server's verdict
// on each side's reported statistics, and this side's own figures), a
// low-bandwidth mode that the screen picks by itself when the link turns
// poor, a reconnecting banner that retries on its own, and consent to
// recording with the indicator. The signalling is FerryCall's (call.js); a
// study shared during the call is FerryCallShare's (call-share.js).

import { api } from '../lib/ferry.js';
import * as I18n from '../lib/i18n.js';
import * as CallShare from './call-share.js';
import { FerryCall } from './call.js';

const $ = (selector) => document.querySelector(selector);
const t = (key, params) => I18n.t(key, params);
const MEASURE_EVERY_MS = 3000;
const RETRY_MAX_MS = 10000;

let current = null;

function text(selector, value) {
  $(selector).textContent = value;
}

function resetScreen() {
  for (const tile of document.querySelectorAll('#videos .remote')) {
    tile.remove();
  }
  $('#call-banner').hidden = true;
  $('#call-recording').hidden = true;
  $('#call-waiting').hidden = false;
  $('#call-consent').checked = false;
  $('#call-mode').value = 'normal';
  for (const id of ['#call-subject', '#call-figures', '#call-consents', '#call-notice', '#call-error']) {
    text(id, '');
  }
  $('#call-quality').dataset.i18n = 'call.quality.unknown';
  text('#call-quality', t('call.quality.unknown'));
  $('#call-mute').dataset.i18n = 'call.mute';
  text('#call-mute', t('call.mute'));
  $('#call-camera').dataset.i18n = 'call.camera_off';
  text('#call-camera', t('call.camera_off'));
}

async function openMedia(session) {
  const video = { width: { ideal: 640 }, height: { ideal: 480 } };
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: true, video });
  } catch (first) {
    // A clinic PC without a camera still joins, with its microphone.
    try {
      const audio = await navigator.mediaDevices.getUserMedia({ audio: true });
      text('#call-notice', t('call.no_camera', { reason: first.message }));
      return audio;
    } catch (second) {
      text('#call-notice', t('call.no_camera', { reason: second.message }));
      return null;
    }
  } finally {
    session.mediaAsked = true;
  }
}

/**
 * Opens the call of a consultation on the call screen: asks for the camera
 * and microphone, joins, and shows everyone who joins.
 * @param {number} consultationId
 * @param {import('../lib/ferry.js').Me} me
 */
async function open(consultationId, me) {
  if (current && current.id === consultationId) {
    return;
  }
  close();
  resetScreen();
  const session = {
    id: consultationId,
    me,
    call: null,
    stream: null,
    names: new Map(),
    consents: new Set(),
    closing: false,
    joinedOnce: false,
    retryTimer: null,
    attempts: 0,
    mode: 'normal',
    autoLow: false,
    measureTimer: null,
    last: null,
    share: null,
  };
  current = session;
  // Kept across reconnects, so what was shared is still there to send
  // to the peers when the connections come back.
  session.share = CallShare.create({
    me: String(me.id),
    nameOf: (id) => session.names.get(String(id)),
  });
  api('GET', `/consultations/${consultationId}`)
    .then((c) => {
      if (current === session) {
        text('#call-subject', `· ${c.patient_name} · ${c.specialty}`);
        session.share.studies(c.studies || []);
      }
    })
    .catch(() => {
      // An invitee may join the call without seeing the record.
      if (current === session) {
        session.share.studies(null);
      }
    });
  session.stream = await openMedia(session);
  if (current !== session) {
    stopMedia(session);
    return;
  }
  $('#local-video').srcObject = session.stream;
  session.measureTimer = setInterval(() => measure(session), MEASURE_EVERY_MS);
  await connect(session);
}

// Why the server refused the socket: the same URL over plain HTTP answers
// with the API's error body (403 not a participant, 409 too early, …).
async function refusal(consultationId) {
  try {
    const response = await fetch(`/signal/${consultationId}`);
    const body = await response.json();
    if (body && body.error && body.error.code !== 'websocket_required') {
      return body.error.message;
    }
  } catch (error) {
    // The server is unreachable: a reconnect may still succeed.
  }
  return null;
}

async function connect(session) {
  const call = new FerryCall({
    consultationId: session.id,
    localStream: session.stream,
    onEvent: (message) => onEvent(session, message),
    onTrack: (peer, stream) => onTrack(session, peer, stream),
    onChannel: (peer, channel) => {
      if (current === session) {
        session.share.channel(peer, channel);
      }
    },
    onClose: () => onClosed(session, call),
    onError: (error) => console.warn('call:', error),
  });
  call.videoMode = session.mode;
  session.call = call;
  try {
    await call.join();
  } catch (error) {
    if (current !== session || session.closing) {
      return;
    }
    const refused = await refusal(session.id);
    if (refused) {
      // Admission said no: retrying changes nothing until the user acts.
      $('#call-banner').hidden = true;
      text('#call-error', refused);
      session.closing = true;
    }
  }
}

function onClosed(session, call) {
  if (current !== session || session.closing || session.call !== call) {
    return;
  }
  $('#call-banner').hidden = false;
  text('#call-banner', t('call.reconnecting'));
  if (session.retryTimer !== null) {
    return;
  }
  const wait = Math.min(RETRY_MAX_MS, 1000 * 2 ** session.attempts);
  session.attempts += 1;
  session.retryTimer = setTimeout(() => {
    session.retryTimer = null;
    if (current === session && !session.closing) {
      connect(session);
    }
  }, wait);
}

function tile(peerId) {
  /** @type {HTMLElement} */
  let figure = document.querySelector(`#videos .remote[data-peer="${CSS.escape(peerId)}"]`);
  if (!figure) {
    figure = document.createElement('figure');
    figure.className = 'tile remote';
    figure.dataset.peer = peerId;
    const video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    figure.appendChild(video);
    const caption = document.createElement('figcaption');
    figure.appendChild(caption);
    $('#videos').appendChild(figure);
  }
  figure.querySelector('figcaption').textContent = current ? current.names.get(peerId) || '' : '';
  return figure;
}

function onTrack(session, peerId, stream) {
  if (current !== session) {
    return;
  }
  if (stream === null) {
    const gone = document.querySelector(`#videos .remote[data-peer="${CSS.escape(peerId)}"]`);
    if (gone) {
      gone.remove();
    }
  } else {
    const video = tile(peerId).querySelector('video');
    if (video.srcObject !== stream) {
      video.srcObject = stream;
    }
  }
  $('#call-waiting').hidden = document.querySelector('#videos .remote') !== null;
}

function showConsents(session) {
  const names = [...session.consents].map((id) =>
    id === String(session.me.id) ? t('call.you') : session.names.get(id) || id);
  text('#call-consents', names.length ? t('call.consents', { names: names.join(', ') }) : '');
  $('#call-consent').checked = session.consents.has(String(session.me.id));
}

function setQuality(key) {
  $('#call-quality').dataset.i18n = key;
  text('#call-quality', t(key));
}

function onEvent(session, message) {
  if (current !== session) {
    return;
  }
  switch (message.type) {
    case 'joined':
      session.attempts = 0;
      session.joinedOnce = true;
      $('#call-banner').hidden = true;
      text('#call-error', '');
      for (const peer of message.peers || []) {
        session.names.set(String(peer.id), peer.name);
      }
      session.consents = new Set((message.consents || []).map(String));
      showConsents(session);
      $('#call-recording').hidden = !message.recording;
      break;
    case 'peer-joined':
      session.names.set(String(message.peer.id), message.peer.name);
      break;
    case 'peer-left':
      text('#call-notice', t('call.left', { name: message.peer.name }));
      break;
    case 'consent':
      if (message.recording) {
        session.consents.add(String(message.peer));
      } else {
        session.consents.delete(String(message.peer));
      }
      showConsents(session);
      break;
    case 'recording':
      $('#call-recording').hidden = message.state !== 'started';
      if (message.state === 'stopped') {
        text('#call-notice', t('call.recording_stopped', { reason: message.reason || '' }));
      }
      break;
    case 'link-quality':
      onLinkQuality(session, message);
      break;
    case 'error':
      text('#call-error', message.message);
      break;
    default:
      break;
  }
}

// The server's verdict on a side's link. This side's poor link sends
// small video first (audio stays whole); a recovered one sends full
// video again, unless the user chose a mode themselves.
function onLinkQuality(session, message) {
  if (String(message.peer) === String(session.me.id)) {
    setQuality(message.quality === 'poor' ? 'call.quality.poor' : 'call.quality.good');
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
  const figure = document.querySelector(`#videos .remote[data-peer="${CSS.escape(String(message.peer))}"]`);
  if (figure) {
    figure.classList.toggle('poor', message.quality === 'poor');
  }
}

function setMode(session, mode) {
  session.mode = mode;
  $('#call-mode').value = mode;
  if (session.call) {
    session.call.setVideoMode(mode).catch((error) => console.warn('call:', error));
  }
}

// This side's own figures, from the participants' connections.
async function measure(session) {
  if (current !== session || !session.call) {
    return;
  }
  let rtt = null;
  let lost = 0;
  let received = 0;
  let sent = 0;
  for (const [peer, pc] of session.call.connections()) {
    if (peer === 'recorder' || pc.connectionState !== 'connected') {
      continue;
    }
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
  const now = performance.now();
  const last = session.last;
  session.last = { now, lost, received, sent };
  if (rtt === null || !last) {
    return;
  }
  const dLost = Math.max(0, lost - last.lost);
  const dReceived = Math.max(0, received - last.received);
  const loss = dLost + dReceived > 0 ? (100 * dLost) / (dLost + dReceived) : 0;
  const kbps = ((Math.max(0, sent - last.sent) * 8) / Math.max(1, now - last.now));
  text('#call-figures', '(' + t('call.quality.figures', {
    rtt: Math.round(rtt),
    loss: loss.toFixed(1),
    kbps: Math.round(kbps),
  }) + ')');
}

function stopMedia(session) {
  if (session.stream) {
    for (const track of session.stream.getTracks()) {
      track.stop();
    }
  }
}

function close() {
  const session = current;
  if (!session) {
    return;
  }
  current = null;
  session.closing = true;
  clearTimeout(session.retryTimer);
  clearInterval(session.measureTimer);
  if (session.call) {
    session.call.leave();
  }
  session.share.destroy();
  stopMedia(session);
  $('#local-video').srcObject = null;
}

function toggle(kind, button, onKey, offKey) {
  if (!current || !current.stream) {
    return;
  }
  const tracks = current.stream.getTracks().filter((track) => track.kind === kind);
  const enable = tracks.some((track) => !track.enabled);
  for (const track of tracks) {
    track.enabled = enable;
  }
  button.dataset.i18n = enable ? onKey : offKey;
  button.textContent = t(button.dataset.i18n);
}

// A module runs once the page is parsed, so its elements are there.
{
  $('#call-mute').addEventListener('click', (event) =>
    toggle('audio', event.target, 'call.mute', 'call.unmute'));
  $('#call-camera').addEventListener('click', (event) =>
    toggle('video', event.target, 'call.camera_off', 'call.camera_on'));
  $('#call-mode').addEventListener('change', (event) => {
    if (current) {
      current.autoLow = false;
      setMode(current, event.target.value);
    }
  });
  $('#call-consent').addEventListener('change', (event) => {
    if (current && current.call) {
      current.call.consent(event.target.checked);
    }
  });
  $('#call-leave').addEventListener('click', () => {
    close();
    location.hash = '#/';
  });
}

export { open, close };
