// @ts-check
// Ferry web client: the bell. The signed-in user's unread notifications,
// kept live from the server-sent event stream, with a list to open each one
// (which marks it read) and a toast when something arrives.
//
// The stream is read with fetch rather than EventSource: its event names are
// the notification kinds, which an EventSource only delivers to listeners
// registered by name, and a new kind would go unheard. Reading it by hand
// also decides the reconnect: with `Last-Event-ID`, after a growing pause,
// and whenever the stream has been silent longer than the server's
// keep-alive allows.
//
// Other scripts listen for the document events `ferry:notification` (one
// arrived; detail is the notification) and `ferry:notifications` (the unread
// set changed), and call markRead(match) for the notifications a screen
// has just shown the user.

import { api, el, t } from '../lib/ferry.js';
import { patientLabel } from '../lib/patient-banner.js';
import * as Consultation from './consultation-times.js';
import { HOME_ASKS } from './index.js';

// In the user's facility zone, as every other time in the client.
const when = (iso, options) => Consultation.here(iso, options);

// The server sends a keep-alive comment every 15 s.
const SILENCE_MS = 45000;
const RETRY_MAX_MS = 30000;
const TOAST_MS = 8000;

// Unread notifications by id, and those read while this page was open.
const unread = new Map();
const seen = new Map();
let session = 0;
let lastId = 0;
let controller = null;
let retryTimer = null;
let toastTimer = null;

const $ = (selector) => document.querySelector(selector);

function text(n) {
  const p = Object.assign({}, n.payload || {});
  if (p.start) p.start = when(p.start);
  if (p.urgency) p.urgency = t('urgency.' + p.urgency);
  if (p.status && n.kind === 'referral.decided') p.status = t('referral.status.' + p.status);
  // A report's own kind (final, preliminary) tells two signatures apart.
  p.report = p.kind === 'final' || p.kind === 'preliminary' ? t('notify.report.' + p.kind) : '';
  p.kind = n.kind;
  const key = 'notify.kind.' + n.kind;
  let message = t(key, p);
  if (message === key) message = t('notify.kind.other', p);
  // The server names the patient of every notification about one.
  const patient = patientLabel(n.payload || {});
  return patient ? t('notify.about', { patient, text: message }) : message;
}

// Where a notification takes its reader.
function href(n) {
  const p = n.payload || {};
  if (n.kind === 'call.invited' && p.consultation_id) return `#/consultations/${p.consultation_id}/call`;
  if (p.consultation_id) return `#/consultations/${p.consultation_id}`;
  if (p.reading_request_id) return `#/reading-requests/${p.reading_request_id}`;
  if (p.patient_id) return `#/patients/${p.patient_id}`;
  if (p.booking_id) return '#/bookings';
  return '#/';
}

function changed() {
  render();
  document.dispatchEvent(new CustomEvent('ferry:notifications', { detail: list() }));
}

function list() {
  return [...unread.values()].sort((a, b) => b.id - a.id);
}

function render() {
  const root = $('#notifications');
  if (!root) return;
  const count = unread.size;
  const bell = root.querySelector('.bell-button');
  bell.querySelector('.bell-count').textContent = count > 0 ? String(count) : '';
  bell.setAttribute('aria-label', `${t('notify.bell')}: ${t('notify.unread', { count })}`);
  bell.title = t('notify.unread', { count });
  root.classList.toggle('has-unread', count > 0);
  const items = root.querySelector('.bell-items');
  const shown = list().concat([...seen.values()].sort((a, b) => b.id - a.id).slice(0, 10));
  items.replaceChildren(...shown.map((n) => el('li', {
    class: n.read_at ? 'read' : 'unread',
    dataset: { notification: n.id, kind: n.kind },
  }, el('a', {
    href: href(n),
    onclick: () => { markRead((x) => x.id === n.id); close(); },
  }, el('span', { class: 'bell-text' }, text(n)),
  el('time', { datetime: n.created_at }, when(n.created_at))))));
  root.querySelector('.bell-empty').hidden = shown.length > 0;
  root.querySelector('.bell-all').hidden = count === 0;
}

function close() {
  const root = $('#notifications');
  if (!root) return;
  root.querySelector('.bell-panel').hidden = true;
  root.querySelector('.bell-button').setAttribute('aria-expanded', 'false');
}

function toggle() {
  const panel = $('#notifications .bell-panel');
  panel.hidden = !panel.hidden;
  $('#notifications .bell-button').setAttribute('aria-expanded', String(!panel.hidden));
}

function toast(n) {
  const box = $('#notifications .bell-toast');
  box.replaceChildren(el('a', { href: href(n), onclick: () => markRead((x) => x.id === n.id) }, text(n)));
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, TOAST_MS);
}

// Drawn, not an emoji: clinic machines often lack a colour emoji font.
function bellIcon() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', 'bell-icon');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', 'M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1z');
  path.setAttribute('fill', 'currentColor');
  svg.appendChild(path);
  return svg;
}

function build() {
  const root = $('#notifications');
  if (!root || root.querySelector('.bell-button')) return;
  root.append(
    el('button', {
      type: 'button', class: 'bell-button', 'aria-haspopup': 'true', 'aria-expanded': 'false',
      onclick: toggle,
    }, bellIcon(), el('span', { class: 'bell-count' })),
    el('div', { class: 'bell-panel', hidden: true },
      el('p', { class: 'bell-offline', role: 'status', hidden: true, 'data-i18n': 'notify.offline' }, t('notify.offline')),
      el('ul', { class: 'bell-items' }),
      el('p', { class: 'bell-empty', 'data-i18n': 'notify.none' }, t('notify.none')),
      el('button', { type: 'button', class: 'bell-all', hidden: true, 'data-i18n': 'notify.all_read', onclick: markAll },
        t('notify.all_read')),
      el('p', { class: 'error bell-error', role: 'alert' })),
    el('div', { class: 'bell-toast', role: 'status', 'aria-live': 'polite', hidden: true }));
  document.addEventListener('click', (event) => {
    if (!root.contains(event.target)) close();
  });
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') close();
  });
}

function offline(on) {
  const note = $('#notifications .bell-offline');
  if (note) note.hidden = !on;
}

function accept(n, live) {
  lastId = Math.max(lastId, n.id);
  if (n.read_at) {
    unread.delete(n.id);
    seen.set(n.id, n);
    return;
  }
  const fresh = !unread.has(n.id);
  unread.set(n.id, n);
  if (live && fresh) {
    toast(n);
    document.dispatchEvent(new CustomEvent('ferry:notification', { detail: n }));
  }
}

/**
 * Marks read the unread notifications a screen has just shown the user.
 * @param {(notification: any) => boolean} match
 */
async function markRead(match) {
  const ids = list().filter(match).map((n) => n.id);
  if (ids.length === 0) return;
  const now = new Date().toISOString();
  for (const id of ids) {
    const n = unread.get(id);
    unread.delete(id);
    seen.set(id, Object.assign({}, n, { read_at: now }));
  }
  changed();
  try {
    await api('POST', '/notifications/read', { ids });
    $('#notifications .bell-error').textContent = '';
  } catch (err) {
    $('#notifications .bell-error').textContent = err.message;
  }
}

async function markAll() {
  const top = Math.max(0, ...unread.keys());
  try {
    await api('POST', '/notifications/read', { up_to: top });
    markRead(() => true);
  } catch (err) {
    $('#notifications .bell-error').textContent = err.message;
  }
}

// The unread notifications now: what arrived while no stream was open.
async function load(mine) {
  const rows = await api('GET', HOME_ASKS.unread);
  if (mine !== session) return;
  for (const n of rows) accept(n, false);
  changed();
}

// One server-sent event block: `id:`, `event:` and `data:` lines.
function dispatch(block, live) {
  let data = '';
  for (const line of block.split('\n')) {
    if (line.startsWith('data:')) data += line.slice(5).replace(/^ /, '') + '\n';
  }
  if (!data) return;
  try {
    accept(JSON.parse(data), live);
    changed();
  } catch (_) {
    // A malformed event is skipped; the list re-reads on the next connect.
  }
}

async function connect(mine, attempt) {
  if (mine !== session) return;
  controller = new AbortController();
  const aborter = controller;
  let silence = null;
  const quiet = () => {
    clearTimeout(silence);
    silence = setTimeout(() => aborter.abort(), SILENCE_MS);
  };
  let failed = false;
  try {
    const headers = { Accept: 'text/event-stream' };
    if (lastId > 0) headers['Last-Event-ID'] = String(lastId);
    quiet();
    const response = await fetch('/api/v1/notifications/stream', { headers, signal: aborter.signal, cache: 'no-store' });
    if (response.status === 401) {
      clearTimeout(silence);
      return;
    }
    if (!response.ok || !response.body) throw new Error(response.statusText);
    offline(false);
    attempt = 0;
    // The unread list is read once the stream is open, so nothing falls
    // between the two; both may carry one notification, kept once by id.
    await load(mine);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done || mine !== session) break;
      quiet();
      buffer += value.replace(/\r\n?/g, '\n');
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        dispatch(buffer.slice(0, end), true);
        buffer = buffer.slice(end + 2);
      }
    }
  } catch (_) {
    failed = true;
  } finally {
    clearTimeout(silence);
  }
  if (mine !== session) return;
  offline(failed);
  const pause = Math.min(RETRY_MAX_MS, 1000 * 2 ** Math.min(attempt, 5));
  retryTimer = setTimeout(() => connect(mine, attempt + 1), failed ? pause : 1000);
}

/**
 * Starts the bell for the user just signed in: the shell calls it once this
 * module has loaded, which may be after the sign-in itself.
 * @param {import('../lib/ferry.js').Me} me
 */
function start(me) {
  stop();
  session += 1;
  Consultation.zone(me).then(render).catch(() => {});
  build();
  const root = $('#notifications');
  if (root) root.hidden = false;
  connect(session, 0);
}

function stop() {
  session += 1;
  clearTimeout(retryTimer);
  if (controller) controller.abort();
  controller = null;
  unread.clear();
  seen.clear();
  lastId = 0;
  const root = $('#notifications');
  if (root) {
    root.hidden = true;
    if (root.querySelector('.bell-button')) changed();
  }
}

document.addEventListener('ferry:signedout', stop);
document.addEventListener('ferry:language', () => {
  if ($('#notifications .bell-button')) render();
});

export { start, markRead, list as unread, text, href };
