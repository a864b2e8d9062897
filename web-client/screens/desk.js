// @ts-check
// Ferry web client: what the scheduler's and administrator's screens share.
// Form fields whose labels follow the language, an error line for the
// server's message, wall-clock times in a facility's zone (rosters are kept
// in the expert's zone, not the browser's), the administration tabs, and the
// picker that moves a booking to another free slot of the same expert.

import { api, el, t } from '../lib/ferry.js';
import * as I18n from '../lib/i18n.js';

// A label whose words follow the language switch.
function words(key, params) {
  return params
    ? el('span', null, t(key, params))
    : el('span', { 'data-i18n': key }, t(key));
}

/**
 * A labelled form control whose label follows the language.
 * @param {string} key the label's message key
 * @param {HTMLElement} input
 * @param {Record<string, any>} [attributes] of the label
 * @returns {HTMLLabelElement}
 */
function field(key, input, attributes) {
  return el('label', attributes || null, words(key), ' ', input);
}

function button(key, attributes) {
  return el('button', Object.assign({ type: 'button', 'data-i18n': key }, attributes || {}), t(key));
}

function alertLine() {
  return el('p', { class: 'error', role: 'alert' });
}

// Shows the server's own message; a refused CSV line also says which line.
function showError(line, err) {
  const details = err && err.body && err.body.error && err.body.error.details;
  let text = err ? err.message : '';
  if (details && details.line && !text.includes(String(details.line))) {
    text += ' ' + t('desk.at_line', { line: details.line });
  }
  line.textContent = text;
}

function select(name, options, value) {
  const element = el('select', { name });
  for (const [optionValue, label, i18n] of options) {
    element.appendChild(el('option', { value: String(optionValue), 'data-i18n': i18n }, label));
  }
  if (value !== undefined && value !== null) element.value = String(value);
  return element;
}

function header(keys) {
  return el('thead', null, el('tr', null,
    keys.map((key) => el('th', key ? { 'data-i18n': key } : null, key ? t(key) : ''))));
}

// Minutes east of UTC that `zone` keeps at the instant `ms`.
function offsetMinutes(ms, zone) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(new Date(ms));
  const part = (type) => Number(parts.find((p) => p.type === type).value);
  const wall = Date.UTC(part('year'), part('month') - 1, part('day'), part('hour'), part('minute'), part('second'));
  return Math.round((wall - Math.floor(ms / 1000) * 1000) / 60000);
}

/**
 * `YYYY-MM-DDTHH:MM` on the clock of `zone`, as RFC 3339 with that
 * zone's offset; a second pass settles the offset across a DST change.
 * @param {string} local
 * @param {string} zone IANA
 * @returns {string}
 */
function instant(local, zone) {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(local || '');
  if (!match) return local || '';
  const wall = Date.UTC(+match[1], +match[2] - 1, +match[3], +match[4], +match[5]);
  let offset = offsetMinutes(wall, zone);
  offset = offsetMinutes(wall - offset * 60000, zone);
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  const pad = (n) => String(n).padStart(2, '0');
  return `${match[1]}-${match[2]}-${match[3]}T${match[4]}:${match[5]}:00${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/**
 * The local date (`YYYY-MM-DD`) and time (`HH:MM`) of an instant in `zone`.
 * @param {string} iso
 * @param {string} zone IANA
 * @returns {{date: string, time: string}}
 */
function wallClock(iso, zone) {
  const ms = Date.parse(iso);
  const shifted = new Date(ms + offsetMinutes(ms, zone) * 60000).toISOString();
  return { date: shifted.slice(0, 10), time: shifted.slice(11, 16) };
}

function inZone(iso, zone, options) {
  if (!iso) return '';
  return new Intl.DateTimeFormat(I18n.current(), Object.assign(
    { timeZone: zone, dateStyle: 'medium', timeStyle: 'short' }, options || {})).format(new Date(iso));
}

function addDays(date, days) {
  const d = new Date(date + 'T00:00:00Z');
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

function monday(date) {
  const weekday = (new Date(date + 'T00:00:00Z').getUTCDay() + 6) % 7;
  return addDays(date, -weekday);
}

function today(zone) {
  return wallClock(new Date().toISOString(), zone).date;
}

// A weekday's name (ISO 1 = Monday) in the current language.
function weekdayName(iso, style) {
  const date = new Date(Date.UTC(2024, 0, iso)); // 2024-01-01 was a Monday.
  return new Intl.DateTimeFormat(I18n.current(), { weekday: style || 'long', timeZone: 'UTC' }).format(date);
}

const zones = new Map();
/**
 * A facility's IANA time zone, asked once per facility.
 * @param {number} id
 * @returns {Promise<string>}
 */
async function facilityZone(id) {
  if (!zones.has(id)) {
    zones.set(id, api('GET', '/facilities/' + id).then((f) => f.time_zone));
  }
  return zones.get(id);
}

/**
 * Moves one booking: its expert's free slots of the same service, those
 * inside `avoid` ([from, to) in ms, e.g. the leave being entered) left out.
 * @param {number} bookingId
 * @param {{zone: string, avoid?: [number, number], onMoved: (booking: any) => unknown}} options
 * @returns {HTMLElement}
 */
function movePicker(bookingId, options) {
  const { zone, avoid, onMoved } = options;
  const choice = el('select', { name: 'slot', 'aria-label': t('desk.new_slot') });
  const go = button('desk.move_here', { class: 'move-confirm', disabled: true });
  const line = alertLine();
  const box = el('span', { class: 'move-picker' }, choice, ' ', go, line);
  (async () => {
    const booking = await api('GET', '/bookings/' + bookingId);
    const from = new Date(Math.max(Date.now(), avoid ? avoid[1] : 0) - 1).toISOString();
    const query = new URLSearchParams({
      expert_id: booking.expert_id, service: booking.service, from, tz: zone,
      to: new Date(Date.parse(from) + 28 * 86400000).toISOString(), limit: '200',
    });
    const found = await api('GET', '/slots?' + query);
    const slots = found.slots.filter((s) => !avoid
      || Date.parse(s.end) <= avoid[0] || Date.parse(s.start) >= avoid[1]);
    choice.replaceChildren(...slots.slice(0, 60).map((s) =>
      el('option', { value: s.start }, inZone(s.start, zone, { dateStyle: 'medium', timeStyle: 'short' }))));
    if (slots.length === 0) {
      line.textContent = t('desk.no_free_slot');
      return;
    }
    go.disabled = false;
  })().catch((err) => showError(line, err));
  go.addEventListener('click', async () => {
    line.textContent = '';
    go.disabled = true;
    try {
      const moved = await api('POST', `/bookings/${bookingId}/reschedule`, { start: choice.value });
      onMoved(moved);
    } catch (err) {
      showError(line, err);
      go.disabled = false;
    }
  });
  return box;
}

const ADMIN_TABS = [
  ['facilities', 'admin.tab.facilities'],
  ['users', 'admin.tab.users'],
  ['routes', 'admin.tab.routes'],
  ['dicom', 'admin.tab.dicom'],
  ['modalities', 'admin.tab.modalities'],
  ['catalogue', 'admin.tab.catalogue'],
  ['recognition', 'admin.tab.recognition'],
  ['merges', 'admin.tab.merges'],
  ['audit', 'admin.tab.audit'],
  ['break-glass', 'admin.tab.break_glass'],
];

function adminTabs(active) {
  return el('nav', { class: 'tabs', 'aria-label': t('nav.admin') }, ADMIN_TABS.map(([name, key]) =>
    el('a', { href: '#/admin/' + name, 'data-i18n': key, class: name === active ? 'active' : null,
      'aria-current': name === active ? 'page' : null }, t(key))));
}

// A person's name as the register keeps it, family name first; the space
// the server puts between the parts is dropped between Chinese ones
// ("王 秀英" is 王秀英, "Wang Xiuying" stays).
function personName(name) {
  return String(name || '').replace(/^(\p{Script=Han}+) (\p{Script=Han}+)$/u, '$1$2');
}

/**
 * Whose booking or request it is: the patient's name and record number,
 * linked to the consultation when there is one; an em dash for a bare hold.
 * @param {{name: string, record_number?: string | null} | null | undefined} patient
 * @param {number | null | undefined} [consultationId]
 * @returns {HTMLElement | string}
 */
function patientCell(patient, consultationId) {
  if (!patient) return consultationId ? el('a', { href: '#/consultations/' + consultationId }, t('desk.a_consultation')) : '—';
  const text = [el('strong', { class: 'patient-name' }, personName(patient.name)),
    patient.record_number ? el('span', { class: 'muted record-number' }, ' · ', patient.record_number) : ''];
  return consultationId ? el('a', { href: '#/consultations/' + consultationId, class: 'patient' }, ...text)
    : el('span', { class: 'patient' }, ...text);
}

// Runs `render` again when the language changes while `section` is shown.
function relabel(section, render) {
  document.addEventListener('ferry:language', () => {
    if (!section.hidden && section.isConnected) render();
  });
}

export {
  words, field, button, alertLine, showError, select, header, instant, wallClock, inZone,
  addDays, monday, today, weekdayName, facilityZone, movePicker, adminTabs, relabel,
  personName, patientCell,
};
