// @ts-check
// Ferry web client: the forwarding queue, on the DICOM network page
// (admin-dicom.js). How much waits, fails and went out, and the newest
// rows: a failing one says why and when it is tried again. Times are the
// user's own clock; the server's are UTC.

import { api, el, t, when } from '../lib/ferry.js';
import * as I18n from '../lib/i18n.js';
import * as D from './desk.js';

/** The filters `GET /forwarding-outbox?state=` takes; '' is every row. */
const STATES = ['pending', 'failing', 'sent'];

/** How the outbox's times are written: to the second, backoff starts at one. */
const CLOCK = /** @type {Intl.DateTimeFormatOptions} */ ({ dateStyle: 'short', timeStyle: 'medium' });

/**
 * What a row is, as shown: `sent`, `failing` (waiting after at least one
 * failed attempt, the way the server counts it) or `pending`.
 * @param {{state: string, attempts: number}} entry
 * @returns {'sent' | 'failing' | 'pending'}
 */
function rowState(entry) {
  if (entry.state === 'sent') return 'sent';
  return entry.attempts > 0 ? 'failing' : 'pending';
}

/**
 * A DIMSE status as DICOM writes it (PS3.7 Annex C): `0xA700`.
 * @param {number | null | undefined} status
 * @returns {string} '' when there is none
 */
function statusHex(status) {
  if (status === null || status === undefined) return '';
  return '0x' + (status & 0xffff).toString(16).toUpperCase().padStart(4, '0');
}

/**
 * How long until `iso`, in words of `language` ("in 5 minutes"); null once
 * it is due.
 * @param {string | null | undefined} iso
 * @param {number} now ms
 * @param {string} language
 * @returns {string | null}
 */
function dueIn(iso, now, language) {
  const ms = iso ? Date.parse(iso) - now : NaN;
  if (!(ms > 0)) return null;
  const words = new Intl.RelativeTimeFormat(language, { numeric: 'auto' });
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return words.format(seconds, 'second');
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return words.format(minutes, 'minute');
  const hours = Math.round(minutes / 60);
  if (hours < 48) return words.format(hours, 'hour');
  return words.format(Math.round(hours / 24), 'day');
}

/** One row of the queue. @param {any} e */
function row(e) {
  const shown = rowState(e);
  let next = '';
  if (shown === 'sent') {
    next = t('dicom.sent_at', { at: when(e.sent_at, CLOCK) });
  } else if (e.next_attempt_at) {
    const wait = dueIn(e.next_attempt_at, Date.now(), I18n.current());
    next = `${when(e.next_attempt_at, CLOCK)} (${wait || t('dicom.due_now')})`;
  }
  const status = statusHex(e.last_status);
  return el('tr', { dataset: { entry: e.id, state: shown }, class: shown === 'failing' ? 'failing' : null },
    el('td', null, el('span', { class: 'badge state-' + shown }, t('dicom.state.' + shown))),
    el('td', null, e.destination),
    el('td', { class: 'uid' }, e.study_instance_uid, el('br'), el('span', { class: 'muted' }, e.sop_instance_uid)),
    el('td', null, String(e.attempts)),
    el('td', { class: 'next' }, next),
    el('td', { class: 'last-error' },
      // The kind in the reader's words; the network stack's own words
      // beneath, for the hospital's IT engineer.
      e.last_error_kind ? el('div', { class: 'error-kind' }, t('dicom.failure.' + e.last_error_kind)) : null,
      e.last_error ? el('div', { class: 'muted' }, e.last_error) : null,
      status ? el('div', { class: 'muted' }, t('dicom.status', { code: status })) : null),
    el('td', null, when(e.created_at, CLOCK)));
}

/**
 * The queue's part of the page.
 * @returns {{node: HTMLElement, render: () => void, load: () => Promise<void>}}
 */
function outboxPart() {
  const filter = D.select('state', [['', t('desk.all'), 'desk.all']].concat(
    STATES.map((s) => [s, t('dicom.state.' + s), 'dicom.state.' + s])));
  filter.id = 'outbox-state';
  const refresh = D.button('dicom.refresh', { id: 'outbox-refresh' });
  const updated = el('span', { class: 'note', id: 'outbox-updated' });
  const counts = el('p', { id: 'outbox-counts', class: 'counts' });
  const table = el('table', { id: 'dicom-outbox' });
  const empty = el('p', { class: 'muted empty', hidden: true, 'data-i18n': 'dicom.outbox_none' }, t('dicom.outbox_none'));
  const newest = el('p', { class: 'note', hidden: true });
  const error = D.alertLine();
  const zone = el('p', { class: 'note' });
  /** @type {any} */
  let outbox = null;
  let loadedAt = '';
  let asked = 0;

  const render = () => {
    zone.textContent = t('desk.times_in', { zone: Intl.DateTimeFormat().resolvedOptions().timeZone });
    updated.textContent = loadedAt ? t('dicom.updated', { at: when(loadedAt, { timeStyle: 'medium' }) }) : '';
    if (!outbox) return;
    counts.replaceChildren(
      el('span', { dataset: { count: 'pending' } }, t('dicom.count.pending', { n: outbox.pending })), ' ',
      el('span', { dataset: { count: 'failing' }, class: outbox.failing > 0 ? 'failing' : null },
        t('dicom.count.failing', { n: outbox.failing })), ' · ',
      el('span', { dataset: { count: 'sent' } }, t('dicom.count.sent', { n: outbox.sent })));
    table.replaceChildren(D.header(['dicom.col.state', 'dicom.col.destination', 'dicom.col.study',
      'dicom.col.attempts', 'dicom.col.next', 'dicom.col.last_error', 'dicom.col.queued']),
    el('tbody', null, outbox.entries.map(row)));
    table.hidden = outbox.entries.length === 0;
    empty.hidden = outbox.entries.length > 0;
    // The server's default page: the newest 100 rows.
    newest.hidden = outbox.entries.length < 100;
    newest.textContent = t('dicom.outbox_newest', { n: outbox.entries.length });
  };

  // A later answer replaces an earlier one, never the other way round.
  const load = async () => {
    const mine = ++asked;
    error.textContent = '';
    refresh.disabled = true;
    try {
      const answer = await api('GET', '/forwarding-outbox' + (filter.value ? '?state=' + filter.value : ''));
      if (mine !== asked) return;
      outbox = answer;
      loadedAt = new Date().toISOString();
      render();
    } catch (err) {
      if (mine === asked) D.showError(error, err);
    } finally {
      if (mine === asked) refresh.disabled = false;
    }
  };
  filter.addEventListener('change', load);
  refresh.addEventListener('click', load);

  const node = el('section', { id: 'dicom-outbox-part' },
    el('h3', { 'data-i18n': 'dicom.outbox' }, t('dicom.outbox')),
    el('p', { class: 'note', 'data-i18n': 'dicom.outbox_help' }, t('dicom.outbox_help')),
    el('div', { class: 'toolbar' }, D.field('dicom.filter_state', filter, { class: 'inline' }), refresh, updated),
    counts, error, zone, table, empty, newest);
  return { node, render, load };
}

export { outboxPart, rowState, statusHex, dueIn, STATES };
