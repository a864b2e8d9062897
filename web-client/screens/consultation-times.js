// @ts-check
// A consultation's times, shared by the case page, the home page and the
// bell: the user's own time zone, times shown in it, a consultation's
// booking, and whether its call is open now. A module of its own so the
// home and the bell need not load the case page (and the viewer and the
// call it brings) to show a time.

import { api, request, when } from '../lib/ferry.js';
import * as I18n from '../lib/i18n.js';

const ACTIVE_BOOKING = ['held', 'booked'];

let zoneCache = null;

/**
 * The IANA zone of the user's facility: times are shown as its staff
 * live them, wherever the browser thinks it is.
 * @param {import('../lib/ferry.js').Me} me
 * @returns {Promise<string>}
 */
async function zone(me) {
  if (zoneCache && zoneCache.facility === me.facility_id) return zoneCache.zone;
  if (me.facility_time_zone) {
    zoneCache = { facility: me.facility_id, zone: me.facility_time_zone };
    return me.facility_time_zone;
  }
  let name = Intl.DateTimeFormat().resolvedOptions().timeZone;
  try {
    const facility = await api('GET', `/facilities/${me.facility_id}`);
    if (facility.time_zone) name = facility.time_zone;
  } catch (_) {
    // The browser's own zone is the best guess left.
  }
  zoneCache = { facility: me.facility_id, zone: name };
  return name;
}

/**
 * A time in the user's facility zone once it is known (the home page and
 * the case page look it up first), else in the browser's.
 * @param {string} iso
 * @param {Intl.DateTimeFormatOptions} [options]
 * @returns {string}
 */
function here(iso, options) {
  return formatIn(iso, zoneCache ? zoneCache.zone : undefined, options);
}

/**
 * @param {string} iso
 * @param {string | undefined} timeZone IANA; the browser's if undefined
 *   (and the user's own zone, as `when` shows it, if the browser knows no
 *   such zone)
 * @param {Intl.DateTimeFormatOptions} [options]
 * @returns {string}
 */
function formatIn(iso, timeZone, options) {
  if (!iso) return '';
  try {
    return new Intl.DateTimeFormat(I18n.current(),
      // Clinics keep the 24-hour clock, in either language.
      Object.assign(/** @type {Intl.DateTimeFormatOptions} */ ({ timeZone, hourCycle: 'h23' }), options || { dateStyle: 'medium', timeStyle: 'short' }))
      .format(new Date(iso));
  } catch (_) {
    return when(iso, options);
  }
}

// YYYY-MM-DD of an instant in a zone, for "today" as the user's clinic sees it.
function dayIn(iso, timeZone) {
  try {
    return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })
      .format(new Date(iso));
  } catch (_) {
    return new Date(iso).toISOString().slice(0, 10);
  }
}

// The booking that fixes the consultation's time: the active one, else the
// last one it had.
function bookingOf(bookings, consultationId) {
  const mine = bookings.filter((b) => b.consultation_id === consultationId);
  return mine.find((b) => ACTIVE_BOOKING.includes(b.status)) || mine[mine.length - 1] || null;
}

// Whether the user may join the call now. The consultation carries when
// its call opens (`call_opens_at`, the server's admission rule), so its
// requesting clinician and its expert know without asking. Anyone else may
// be an invitee or no party at all: only the server knows, and answers a
// plain GET of the signalling path without joining: 400
// `websocket_required` means admitted, 409 `too_early` carries when it
// opens. The call itself decides admission either way.
/** @typedef {{open: boolean, opens_at?: string}} CallState */

/** The statuses in which a consultation's call may be held. */
const CALL_LIVE = ['scheduled', 'in_progress', 'awaiting_opinion'];

/**
 * @param {{id: number, status: string, requested_by: number, expert_id?: number | null, call_opens_at?: string | null}} c
 * @param {import('../lib/ferry.js').Me} me
 * @returns {Promise<CallState>}
 */
async function callState(c, me) {
  if (!CALL_LIVE.includes(c.status)) return { open: false };
  if (c.requested_by === me.id || c.expert_id === me.id) {
    return c.call_opens_at && Date.parse(c.call_opens_at) > Date.now()
      ? { open: false, opens_at: c.call_opens_at }
      : { open: true };
  }
  try {
    await request(`/signal/${c.id}`, { headers: { Accept: 'application/json' } });
    return { open: true };
  } catch (err) {
    const error = err.body && err.body.error;
    if (err.status === 400 && error && error.code === 'websocket_required') return { open: true };
    if (error && error.code === 'too_early') return { open: false, opens_at: error.details.opens_at };
    return { open: false };
  }
}

export { zone, formatIn, here, dayIn, bookingOf, callState, CALL_LIVE };
