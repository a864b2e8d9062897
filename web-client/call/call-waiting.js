// @ts-check
// Ferry web client: the waiting room of a call that is not open yet. It
// says when the call opens in this browser's own time (with the zone named,
// since clinics and experts may sit in different zones), counts down, and
// enables "Join the call" once the server admits the user. It opens no
// camera: that is for the device check, once the user chooses to join.

import { request } from '../lib/ferry.js';
import * as I18n from '../lib/i18n.js';
import { countdown } from './call-quality.js';

const $ = (selector) => document.querySelector(selector);
const t = (key, params) => I18n.t(key, params);
// How often to ask the server again once the clock says it is open.
const RECHECK_MS = 5000;

/**
 * @typedef {{state: 'open'} | {state: 'early', opensAt: number} | {state: 'refused', message: string}} Admission
 */

/**
 * Whether the user may join consultation `id`'s call now. The server
 * decides before the WebSocket upgrade, so a plain GET of the signalling
 * path answers without joining: 400 `websocket_required` means admitted,
 * 409 `too_early` carries when it opens.
 * @param {number} id
 * @returns {Promise<Admission>}
 */
async function admission(id) {
  try {
    await request(`/signal/${id}`, { headers: { Accept: 'application/json' } });
    return { state: 'open' };
  } catch (err) {
    const error = err.body && err.body.error;
    if (err.status === 400 && error && error.code === 'websocket_required') {
      return { state: 'open' };
    }
    const opensAt = error && error.code === 'too_early' && error.details ? Date.parse(error.details.opens_at) : NaN;
    if (Number.isFinite(opensAt)) {
      return { state: 'early', opensAt };
    }
    return { state: 'refused', message: err.message };
  }
}

/** The browser's own zone, as Intl names it. */
function zone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || '';
  } catch (_) {
    return '';
  }
}

/**
 * An instant in the browser's zone and language, with the day when it is
 * not today.
 * @param {number} ms
 */
function localTime(ms) {
  const today = new Date().toDateString() === new Date(ms).toDateString();
  /** @type {Intl.DateTimeFormatOptions} */
  const options = today
    ? { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }
    : { weekday: 'short', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
  return new Intl.DateTimeFormat(I18n.current(), options).format(new Date(ms));
}

/**
 * Shows the waiting room until the call opens and the user presses "Join
 * the call". Resolves true then, false if `cancelled()` turns true first.
 * @param {number} id the consultation
 * @param {number} opensAt
 * @param {() => boolean} cancelled
 * @returns {Promise<boolean>}
 */
function waitForOpening(id, opensAt, cancelled) {
  const room = $('#call-waitroom');
  const enter = /** @type {HTMLButtonElement} */ ($('#call-enter'));
  room.hidden = false;
  enter.disabled = true;
  let open = false;
  let checking = false;
  let nextCheck = 0;
  const draw = () => {
    $('#call-opens').textContent = t('call.opens_at', { time: localTime(opensAt), zone: zone() });
    $('#call-countdown').textContent = open ? t('call.open_now') : t('call.opens_in', { left: countdown(opensAt - Date.now()) });
  };
  draw();
  return new Promise((resolve) => {
    const finish = (joined) => {
      clearInterval(timer);
      document.removeEventListener('ferry:language', draw);
      enter.removeEventListener('click', onEnter);
      room.hidden = true;
      resolve(joined);
    };
    const onEnter = () => {
      if (open) finish(true);
    };
    const tick = async () => {
      if (cancelled()) {
        finish(false);
        return;
      }
      draw();
      if (open || checking || Date.now() < opensAt || Date.now() < nextCheck) {
        return;
      }
      // The clock says it is open: the server has the last word (its clock
      // may run a little behind this one).
      checking = true;
      const now = await admission(id);
      checking = false;
      nextCheck = Date.now() + RECHECK_MS;
      if (now.state === 'open' && !cancelled()) {
        open = true;
        enter.disabled = false;
        draw();
      } else if (now.state === 'early') {
        opensAt = now.opensAt;
      }
    };
    const timer = setInterval(tick, 1000);
    document.addEventListener('ferry:language', draw);
    enter.addEventListener('click', onEnter);
  });
}

export { admission, waitForOpening, localTime, zone };
