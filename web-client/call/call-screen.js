// @ts-check
// Ferry web client: the call screen of a consultation, in three steps.
// Before the call opens, a waiting room says when (call-waiting.js); then a
// check of the camera and microphone, with the choice of each
// (call-devices.js); then the call: a speaker view (whoever speaks large,
// the others and a small self-view beside; call-tiles.js), mute and camera
// toggles, the link's quality as this browser measures it kept apart from
// the video mode the user chose (call-meter.js), a reconnecting banner that
// retries on its own, consent to recording with the indicator, the text
// chat kept with the consultation (call-chat.js), and a confirmation before
// leaving. The signalling is FerryCall's (call.js); a study shared during
// the call is FerryCallShare's (call-share.js).

import { api, when } from '../lib/ferry.js';
import * as I18n from '../lib/i18n.js';
import { specialtyName } from '../lib/terms.js';
import * as Chat from './call-chat.js';
import { consentLine } from './call-consent.js';
import * as CallShare from './call-share.js';
import * as Devices from './call-devices.js';
import { onLinkQuality, setMode, measure } from './call-meter.js';
import { tileOf, tile, showTrack, pickSpeaker } from './call-tiles.js';
import * as Waiting from './call-waiting.js';
import { FerryCall } from './call.js';

const $ = (selector) => document.querySelector(selector);
const t = (key, params) => I18n.t(key, params);
const MEASURE_EVERY_MS = 3000;
const SPEAKER_EVERY_MS = 400;
const RETRY_MAX_MS = 10000;
// A key of the catalogue (i18n/errors.js holds the call's reasons and
// codes), or the fallback for one the client does not know yet.
const known = (key, fallback) => (key in I18n.MESSAGES.en ? key : fallback);

let current = null;

function text(selector, value) {
  $(selector).textContent = value;
}

function label(selector, key) {
  $(selector).dataset.i18n = key;
  text(selector, t(key));
}

function resetScreen() {
  for (const tile of document.querySelectorAll('#videos .remote')) {
    tile.remove();
  }
  for (const id of ['#call-waitroom', '#call-precheck', '#call-room', '#call-banner', '#call-recording']) {
    $(id).hidden = true;
  }
  $('#call-waiting').hidden = false;
  $('#call-consent').checked = false;
  $('#call-mode').value = 'normal';
  $('#call-patient-consent').classList.remove('warning');
  for (const id of ['#call-subject', '#call-patient-consent', '#call-figures', '#call-consents', '#call-notice', '#call-error']) {
    text(id, '');
  }
  delete $('#call-choice').dataset.i18n;
  text('#call-choice', '');
  label('#call-quality', 'call.quality.unknown');
  label('#call-mute', 'call.mute');
  label('#call-camera', 'call.camera_off');
}

/**
 * Shows the patient's consent to the teleconsultation under the title, for
 * those who treat (an invitee who does not see the record sees nothing).
 * @param {{ id: number }} session
 */
function showPatientConsent(session) {
  api('GET', `/consultations/${session.id}/consents`)
    .then((/** @type {import('./call-consent.js').CareConsent[]} */ consents) => {
      if (current !== session) return;
      const line = consentLine(consents, { t, when });
      text('#call-patient-consent', line.text);
      $('#call-patient-consent').classList.toggle('warning', line.missing);
    })
    .catch(() => {});
}

/**
 * Opens the call of a consultation on the call screen: the waiting room
 * while it is not open, the device check, then the call.
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
    retryTimer: null,
    attempts: 0,
    mode: 'normal',
    autoLow: false,
    quality: null,
    measureTimer: null,
    speakerTimer: null,
    speaker: null,
    candidate: { peer: null, count: 0 },
    last: null,
    share: null,
    chat: null,
  };
  current = session;
  const cancelled = () => current !== session;
  // Kept across reconnects, so what was shared is still there to send
  // to the peers when the connections come back.
  session.share = CallShare.create({
    me: String(me.id),
    nameOf: (id) => session.names.get(String(id)),
  });
  api('GET', `/consultations/${consultationId}`)
    .then((c) => {
      if (current === session) {
        text('#call-subject', `· ${c.patient_name} · ${specialtyName(c.specialty)}`);
        session.share.studies(c.studies || []);
        showPatientConsent(session);
      }
    })
    .catch(() => {
      // An invitee may join the call without seeing the record.
      if (current === session) {
        session.share.studies(null);
      }
    });
  const admission = await Waiting.admission(consultationId);
  if (cancelled()) return;
  if (admission.state === 'refused') {
    text('#call-error', admission.message);
    return;
  }
  if (admission.state === 'early' && !(await Waiting.waitForOpening(consultationId, admission.opensAt, cancelled))) {
    return;
  }
  const stream = await Devices.check(cancelled);
  if (stream === undefined || cancelled()) {
    Devices.stop(stream || null);
    return;
  }
  session.stream = stream;
  if (!stream) {
    text('#call-notice', t('call.no_camera', { reason: '' }));
  }
  $('#call-room').hidden = false;
  $('#local-video').srcObject = stream;
  Devices.fillChoices(stream).catch((error) => console.warn('call:', error));
  session.chat = Chat.start(consultationId, me.id);
  session.measureTimer = setInterval(() => measure(session, cancelled), MEASURE_EVERY_MS);
  session.speakerTimer = setInterval(() => pickSpeaker(session, cancelled), SPEAKER_EVERY_MS);
  await connect(session);
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
    const now = await Waiting.admission(session.id);
    if (now.state === 'refused') {
      // Admission said no: retrying changes nothing until the user acts.
      $('#call-banner').hidden = true;
      text('#call-error', now.message);
      session.closing = true;
    }
  }
}

function onClosed(session, call) {
  if (current !== session || session.closing || session.call !== call) {
    return;
  }
  $('#call-banner').hidden = false;
  label('#call-banner', 'call.reconnecting');
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

function onTrack(session, peerId, stream) {
  if (current !== session) {
    return;
  }
  showTrack(session, peerId, stream);
}

function showConsents(session) {
  const names = [...session.consents].map((id) =>
    id === String(session.me.id) ? t('call.you') : session.names.get(id) || t('call.share.someone'));
  text('#call-consents', names.length ? t('call.consents', { names: names.join(', ') }) : '');
  $('#call-consent').checked = session.consents.has(String(session.me.id));
}

function onEvent(session, message) {
  if (current !== session) {
    return;
  }
  switch (message.type) {
    case 'joined':
      session.attempts = 0;
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
      if (tileOf(String(message.peer.id))) {
        tile(session, String(message.peer.id));
      }
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
        const reason = known(`call.stop_reason.${message.reason}`, 'call.stop_reason.unknown');
        text('#call-notice', t('call.recording_stopped', { reason: t(reason) }));
      }
      break;
    case 'link-quality':
      onLinkQuality(session, message);
      break;
    case 'chat':
      if (session.chat) session.chat.fetchNew();
      break;
    case 'error':
      text('#call-error', t(known(`call.error.${message.code}`, 'call.problem')));
      break;
    default:
      break;
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
  clearInterval(session.speakerTimer);
  if (session.chat) {
    session.chat.stop();
  }
  if (session.call) {
    session.call.leave();
  }
  session.share.destroy();
  Devices.stop(session.stream);
  $('#local-video').srcObject = null;
  const dialog = /** @type {HTMLDialogElement} */ ($('#call-leave-dialog'));
  if (dialog.open) dialog.close();
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

async function switchDevice(kind, deviceId) {
  const session = current;
  if (!session || !session.stream || !deviceId) {
    return;
  }
  try {
    await Devices.switchDevice(session.stream, kind, deviceId, (track) =>
      session.call ? session.call.replaceTrack(track) : Promise.resolve());
    text('#call-notice', t('call.check.switched'));
  } catch (error) {
    text('#call-notice', t('call.no_camera', { reason: Devices.problemText(error) }));
  }
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
  $('#call-camera-switch').addEventListener('change', (event) => switchDevice('video', event.target.value));
  $('#call-mic-switch').addEventListener('change', (event) => switchDevice('audio', event.target.value));
  $('#call-consent').addEventListener('change', (event) => {
    if (current && current.call) {
      current.call.consent(event.target.checked);
    }
  });
  const dialog = /** @type {HTMLDialogElement} */ ($('#call-leave-dialog'));
  $('#call-leave').addEventListener('click', () => {
    if (current) dialog.showModal();
  });
  dialog.addEventListener('close', () => {
    if (dialog.returnValue === 'leave' && current) {
      close();
      location.hash = '#/';
    }
    dialog.returnValue = '';
  });
}

export { open, close };
