// @ts-check
// Ferry web client: the scheduler's bookings board, a week of their
// facility's experts' bookings by day, with each booking's status. A live
// booking can be moved to another free slot of its expert, or cancelled.
// Each booking names its patient (name and record number at the clinic
// that asked) and that clinic, as the server gives them to the scheduler.

import { api, el, t } from '../lib/ferry.js';
import * as D from './desk.js';

const STATUSES = ['held', 'booked', 'completed', 'no_show', 'cancelled', 'declined', 'expired'];
let state = null;

function hashFor(week, expert, status) {
  const query = new URLSearchParams();
  if (expert) query.set('expert', expert);
  if (status) query.set('status', status);
  return `#/bookings/${week}` + (query.toString() ? '?' + query : '');
}

function render() {
  const { bookings, zone, facilities, week } = state;
  const body = el('tbody');
  let count = 0;
  for (let i = 0; i < 7; i++) {
    const date = D.addDays(week, i);
    const today = bookings.filter((b) => D.wallClock(b.start, zone).date === date);
    body.appendChild(el('tr', { class: 'day', dataset: { date } }, el('th', { colspan: '7', scope: 'rowgroup' },
      D.inZone(date + 'T12:00:00Z', 'UTC', { dateStyle: 'full', timeStyle: undefined }),
      ' · ', t('board.count', { count: today.length }))));
    for (const b of today) {
      count += 1;
      const actions = el('td', { class: 'actions' });
      const row = el('tr', { dataset: { booking: b.id, status: b.status }, class: 'status-' + b.status },
        el('td', { class: 'time' }, `${D.wallClock(b.start, zone).time}–${D.wallClock(b.end, zone).time}`),
        el('td', null, b.expert_name),
        el('td', null, t('desk.service.' + b.service)),
        el('td', { class: 'status' }, t('desk.booking.' + b.status), b.status_reason ? ` (${b.status_reason})` : ''),
        el('td', { class: 'patient-cell' }, D.patientCell(b.patient, b.consultation_id)),
        el('td', { class: 'clinic' }, b.patient ? b.patient.requesting_facility_name
          : (facilities.get(b.facility_id) || {}).name || ''),
        actions);
      if (b.status === 'held' || b.status === 'booked') {
        actions.append(D.button('board.move', { class: 'move', onclick: () => move(b, actions) }), ' ',
          D.button('board.cancel', { class: 'danger', onclick: () => cancel(b, actions) }));
      }
      body.appendChild(row);
    }
  }
  state.table.replaceChildren(D.header(['board.time', 'board.expert', 'roster.service', 'col.status',
    'col.patient', 'board.requesting_clinic', '']), body);
  state.empty.hidden = count > 0;
}

function move(booking, actions) {
  actions.replaceChildren(D.movePicker(booking.id, {
    zone: state.zone,
    onMoved: () => load().catch((err) => D.showError(state.error, err)),
  }), ' ', D.button('desk.cancel', { onclick: render }));
}

function cancel(booking, actions) {
  const reason = el('input', { name: 'reason', required: true, 'aria-label': t('board.cancel_reason') });
  reason.placeholder = t('board.cancel_reason');
  const line = D.alertLine();
  const form = el('form', { class: 'inline-form' }, reason, ' ',
    el('button', { type: 'submit', class: 'danger', 'data-i18n': 'board.confirm_cancel' }, t('board.confirm_cancel')),
    ' ', D.button('desk.cancel', { onclick: render }), line);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    line.textContent = '';
    try {
      await api('POST', `/bookings/${booking.id}/cancel`, { reason: reason.value });
      await load();
    } catch (err) {
      D.showError(line, err);
    }
  });
  actions.replaceChildren(form);
  reason.focus();
}

async function load() {
  const { week, zone, expert, status } = state;
  const query = new URLSearchParams({
    from: D.instant(week + 'T00:00', zone), to: D.instant(D.addDays(week, 7) + 'T00:00', zone),
    tz: zone, limit: '1000',
  });
  if (expert) query.set('expert_id', expert);
  if (status) query.set('status', status);
  const mine = state;
  const bookings = await api('GET', '/bookings?' + query);
  if (state !== mine) return;
  state.bookings = bookings.sort((a, b) => a.start.localeCompare(b.start) || a.expert_name.localeCompare(b.expert_name));
  render();
}

async function open(section, match, me) {
  const params = new URLSearchParams(match[2] || '');
  const zone = await D.facilityZone(me.facility_id);
  const week = D.monday(match[1] || D.today(zone));
  const [experts, facilities] = await Promise.all([
    api('GET', '/experts?facility_id=' + me.facility_id), api('GET', '/facilities')]);
  state = {
    week, zone, expert: params.get('expert') || '', status: params.get('status') || '', bookings: [],
    facilities: new Map(facilities.map((f) => [f.id, f])),
    table: el('table', { id: 'board' }),
    empty: el('p', { 'data-i18n': 'board.none', hidden: true }, t('board.none')),
    error: D.alertLine(),
  };
  const expert = D.select('expert', [['', t('desk.all'), 'desk.all']].concat(
    experts.map((e) => [e.id, e.display_name])), state.expert);
  expert.id = 'board-expert';
  const status = D.select('status', [['', t('desk.all'), 'desk.all']].concat(
    STATUSES.map((s) => [s, t('desk.booking.' + s), 'desk.booking.' + s])), state.status);
  status.id = 'board-status';
  const weekInput = el('input', { type: 'date', name: 'week', value: week, id: 'board-week' });
  const go = (w) => { location.hash = hashFor(w, expert.value, status.value); };
  expert.addEventListener('change', () => go(week));
  status.addEventListener('change', () => go(week));
  weekInput.addEventListener('change', () => { if (weekInput.value) go(D.monday(weekInput.value)); });
  section.replaceChildren(
    el('h2', { 'data-i18n': 'board.title' }, t('board.title')),
    el('div', { class: 'toolbar' },
      D.field('desk.week_of', weekInput, { class: 'inline' }),
      D.button('desk.previous_week', { onclick: () => go(D.addDays(week, -7)) }), ' ',
      D.button('desk.next_week', { onclick: () => go(D.addDays(week, 7)) }), ' ',
      D.field('board.expert', expert, { class: 'inline' }),
      D.field('col.status', status, { class: 'inline' })),
    el('p', { class: 'note' }, t('desk.times_in', { zone })),
    state.error, el('div', { class: 'grid-scroll' }, state.table), state.empty);
  await load();
}

document.addEventListener('ferry:language', () => {
  if (state && state.table.isConnected && !state.table.closest('section').hidden) render();
});

/** @type {import('../lib/ferry.js').ScreenModule} */
export const bookingsScreen = {
  open,
  close() { state = null; },
};
