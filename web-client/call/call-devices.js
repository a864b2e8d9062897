// @ts-check
// Ferry web client: the camera and microphone of a call. Before joining, a
// check shows the camera's picture and the microphone's level and lets the
// user choose each (remembered in this browser); during the call the same
// choice swaps the device on every connection without renegotiating
// (RTCRtpSender.replaceTrack).

import * as I18n from '../lib/i18n.js';

const $ = (selector) => document.querySelector(selector);
const t = (key, params) => I18n.t(key, params);
const KEY = 'ferry.call.devices';
const VIDEO = { width: { ideal: 640 }, height: { ideal: 480 } };
// Why a camera or microphone did not open, by the error's name: its message
// is the browser's own, in the browser's language, not the user's. Older
// Chromium names are the second of each pair.
const PROBLEMS = {
  NotAllowedError: 'call.device.not_allowed',
  PermissionDeniedError: 'call.device.not_allowed',
  NotFoundError: 'call.device.not_found',
  DevicesNotFoundError: 'call.device.not_found',
  NotReadableError: 'call.device.busy',
  TrackStartError: 'call.device.busy',
  OverconstrainedError: 'call.device.overconstrained',
  ConstraintNotSatisfiedError: 'call.device.overconstrained',
  SecurityError: 'call.device.security',
  AbortError: 'call.device.aborted',
};

/**
 * The user's words for a failure to open a camera or microphone. A page not
 * served over HTTPS has no `navigator.mediaDevices`, so the call throws a
 * TypeError; a name this does not know is shown as a code in brackets.
 * @param {any} error
 * @returns {string}
 */
function problemText(error) {
  const name = error && typeof error.name === 'string' ? error.name : '';
  if (PROBLEMS[name]) return t(PROBLEMS[name]);
  const browser = globalThis.navigator;
  if (globalThis.isSecureContext === false || (name === 'TypeError' && !(browser && browser.mediaDevices))) {
    return t('call.device.insecure');
  }
  return name ? t('call.device.other', { code: name }) : t('call.device.unknown');
}

/** @returns {{camera?: string, microphone?: string}} */
function remembered() {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) || '{}');
    return saved && typeof saved === 'object' ? saved : {};
  } catch (_) {
    return {};
  }
}

/** @param {'camera' | 'microphone'} kind @param {string} deviceId */
function remember(kind, deviceId) {
  const saved = remembered();
  saved[kind] = deviceId;
  try {
    localStorage.setItem(KEY, JSON.stringify(saved));
  } catch (_) {
    // Private mode: the choice lasts for this call only.
  }
}

/**
 * A device by its id, exactly: Chromium keeps its default device for an
 * `ideal` one.
 * @param {string | undefined} id
 * @param {MediaTrackConstraints} base
 */
const exactly = (id, base) => (id ? { ...base, deviceId: { exact: id } } : base);

/**
 * Opens the chosen (or remembered) camera and microphone; a device that is
 * gone falls back to the default ones. A clinic PC without a camera still
 * joins with its microphone; with neither, null and the reason.
 * @param {{camera?: string, microphone?: string}} [choice]
 * @returns {Promise<{stream: MediaStream | null, problem: string}>}
 */
async function openStream(choice) {
  const want = { ...remembered(), ...(choice || {}) };
  const attempts = [
    { audio: exactly(want.microphone, {}), video: exactly(want.camera, VIDEO) },
    { audio: true, video: VIDEO },
    { audio: true },
  ];
  let problem = '';
  for (const [i, constraints] of attempts.entries()) {
    try {
      const stream = await navigator.mediaDevices.getUserMedia(constraints);
      return { stream, problem: i === attempts.length - 1 ? problem : '' };
    } catch (error) {
      problem = problem || problemText(error);
    }
  }
  return { stream: null, problem };
}

/**
 * The device a stream's track of `kind` comes from, among `devices`: by id,
 * else by label (a track's settings may name it by another id).
 * @param {MediaStream | null} stream
 * @param {string} kind
 * @param {MediaDeviceInfo[]} devices
 */
function deviceOf(stream, kind, devices) {
  const track = stream ? stream.getTracks().find((tr) => tr.kind === kind) : null;
  if (!track) return null;
  const id = track.getSettings().deviceId;
  return devices.find((d) => d.deviceId === id) || devices.find((d) => d.label && d.label === track.label) || null;
}

/**
 * Lists the cameras and microphones in every choice on the page, the ones
 * `stream` uses selected. Labels are known once the user allowed a device.
 * @param {MediaStream | null} stream
 */
async function fillChoices(stream) {
  const devices = await navigator.mediaDevices.enumerateDevices();
  for (const [selector, kind, trackKind, label] of [
    ['select.camera-choice', 'videoinput', 'video', 'call.check.camera_n'],
    ['select.mic-choice', 'audioinput', 'audio', 'call.check.microphone_n'],
  ]) {
    const mine = devices.filter((d) => d.kind === kind && d.deviceId);
    const using = deviceOf(stream, trackKind, mine);
    for (const select of /** @type {NodeListOf<HTMLSelectElement>} */ (document.querySelectorAll(selector))) {
      select.replaceChildren(...mine.map((d, i) => {
        const option = document.createElement('option');
        option.value = d.deviceId;
        option.textContent = d.label || t(label, { n: i + 1 });
        return option;
      }));
      if (mine.length === 0) {
        const none = document.createElement('option');
        none.value = '';
        none.textContent = t('call.check.none');
        select.append(none);
      }
      if (using) select.value = using.deviceId;
    }
  }
}

/**
 * Shows the microphone's level on `meter` until the returned function is called.
 * @param {MediaStream | null} stream
 * @param {HTMLMeterElement} meter
 * @returns {() => void}
 */
function levelMeter(stream, meter) {
  if (!stream || stream.getAudioTracks().length === 0 || typeof AudioContext === 'undefined') {
    meter.value = 0;
    return () => {};
  }
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 512;
  context.createMediaStreamSource(stream).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) sum += s * s;
    // RMS, scaled so speech fills most of the bar.
    meter.value = Math.min(1, Math.sqrt(sum / samples.length) * 4);
    meter.dataset.level = meter.value.toFixed(3);
  }, 100);
  return () => {
    clearInterval(timer);
    context.close().catch(() => {});
  };
}

/** @param {MediaStream | null} stream */
function stop(stream) {
  if (stream) {
    for (const track of stream.getTracks()) track.stop();
  }
}

/**
 * The check before joining: resolves with the stream to join with (null:
 * join without camera and microphone) when the user presses "Join now", or
 * undefined if `cancelled()` turns true first.
 * @param {() => boolean} cancelled
 * @returns {Promise<MediaStream | null | undefined>}
 */
async function check(cancelled) {
  const panel = $('#call-precheck');
  const video = /** @type {HTMLVideoElement} */ ($('#precheck-video'));
  const error = $('#call-precheck-error');
  const camera = /** @type {HTMLSelectElement} */ ($('#call-camera-choice'));
  const microphone = /** @type {HTMLSelectElement} */ ($('#call-mic-choice'));
  const join = /** @type {HTMLButtonElement} */ ($('#call-join-now'));
  panel.hidden = false;
  let stopMeter = () => {};
  let stream = null;
  // One device change at a time; "Join now" waits for the one under way,
  // so the call never gets a stream already stopped.
  let work = Promise.resolve();
  const use = (choice) => {
    join.disabled = true;
    work = work.then(async () => {
      stopMeter();
      stop(stream);
      const opened = await openStream(choice);
      stream = opened.stream;
      error.textContent = opened.problem ? t('call.no_camera', { reason: opened.problem }) : '';
      video.srcObject = stream;
      stopMeter = levelMeter(stream, /** @type {HTMLMeterElement} */ ($('#call-mic-level')));
      await fillChoices(stream);
    }).catch((err) => {
      error.textContent = t('call.no_camera', { reason: problemText(err) });
    }).finally(() => {
      join.disabled = false;
    });
  };
  return new Promise((resolve) => {
    const onCamera = () => {
      remember('camera', camera.value);
      use({ camera: camera.value });
    };
    const onMicrophone = () => {
      remember('microphone', microphone.value);
      use({ microphone: microphone.value });
    };
    const finish = async (joining) => {
      clearInterval(watch);
      camera.removeEventListener('change', onCamera);
      microphone.removeEventListener('change', onMicrophone);
      join.removeEventListener('click', onJoin);
      await work;
      stopMeter();
      video.srcObject = null;
      panel.hidden = true;
      if (!joining) stop(stream);
      resolve(joining ? stream : undefined);
    };
    const onJoin = () => finish(true);
    const watch = setInterval(() => {
      if (cancelled()) finish(false);
    }, 250);
    camera.addEventListener('change', onCamera);
    microphone.addEventListener('change', onMicrophone);
    join.addEventListener('click', onJoin);
    use({});
  });
}

/**
 * Swaps the camera or microphone during the call: a new track from the
 * chosen device replaces the old one in `stream` and on every sender, and
 * keeps the old one's muted state.
 * @param {MediaStream} stream
 * @param {'video' | 'audio'} kind
 * @param {string} deviceId
 * @param {(track: MediaStreamTrack) => Promise<void>} replace puts the track on the senders
 */
async function switchDevice(stream, kind, deviceId, replace) {
  const fresh = await navigator.mediaDevices.getUserMedia(
    kind === 'video' ? { video: { ...VIDEO, deviceId: { exact: deviceId } } } : { audio: { deviceId: { exact: deviceId } } });
  const track = fresh.getTracks()[0];
  const old = stream.getTracks().find((tr) => tr.kind === kind);
  if (old) {
    track.enabled = old.enabled;
    stream.removeTrack(old);
    old.stop();
  }
  stream.addTrack(track);
  await replace(track);
  remember(kind === 'video' ? 'camera' : 'microphone', deviceId);
}

export { check, fillChoices, switchDevice, remembered, stop, problemText };
