// @ts-check
// Ferry web client: the on-call desk. The waiting urgent and emergency
// consultations (escalations first, as the server orders them), who is on
// call now and next, and, for schedulers, putting an expert of their
// facility on call. The queue refreshes itself while the screen is open.
// The desk (schedulers) offers a waiting request to one of its experts; an
// expert accepts a request from the queue, or accepts or declines one
// offered to them.

import { api, el, t } from '../lib/ferry.js';
import { specialtyName } from '../lib/terms.js';
import * as D from './desk.js';

const REFRESH_MS = 30000;
let state = null;

function waited(iso) {
  const minutes = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 60000));
  return minutes < 120 ? t('oncall.minutes', { minutes }) : t('oncall.hours', { hours: Math.floor(minutes / 60) });
}

function render() {
  const { queue, shifts, zone } = state;
  const queueBody = el('tbody', null, queue.map((c) => el('tr', {
    dataset: { consultation: c.id, offered: c.expert_id || '' }, class: c.escalated_at ? 'escalated' : null,
  },
  el('td', null, c.escalated_at ? el('strong', { class: 'error' }, t('oncall.escalated')) : ''),
  el('td', null, t('urgency.' + c.urgency)),
  el('td', null, specialtyName(c.specialty)),
  el('td', { class: 'patient-cell' }, D.patientCell({ name: c.patient_name, record_number: c.patient_record_number }, c.id)),
  el('td', { class: 'clinic' }, c.requesting_facility_name),
  el('td', null, D.inZone(c.created_at, zone)),
  el('td', { class: 'waited' }, waited(c.created_at)),
  el('td', { class: 'actions' }, queueActions(c)))));
  state.queueTable.replaceChildren(D.header(['oncall.escalation', 'col.urgency', 'col.specialty', 'col.patient',
    'board.requesting_clinic', 'oncall.requested', 'oncall.waiting', '']), queueBody);
  state.queueEmpty.hidden = queue.length > 0;
  const now = Date.now();
  const shiftBody = el('tbody', null, shifts.map((s) => el('tr', {
    dataset: { shift: s.id }, class: Date.parse(s.starts_at) <= now ? 'current' : null,
  },
  el('td', null, s.expert_name), el('td', null, specialtyName(s.specialty)),
  el('td', null, D.inZone(s.starts_at, zone)), el('td', null, D.inZone(s.ends_at, zone)),
  el('td', null, Date.parse(s.starts_at) <= now ? t('oncall.now') : ''))));
  state.shiftsTable.replaceChildren(D.header(['board.expert', 'col.specialty', 'roster.from', 'roster.to', '']), shiftBody);
  state.shiftsEmpty.hidden = shifts.length > 0;
  state.updated.textContent = t('oncall.updated', { time: D.inZone(new Date().toISOString(), zone, { dateStyle: undefined, timeStyle: 'medium' }) });
}

// What the user may do with one waiting request: the desk offers it to an
// expert of its facility who practises the specialty; the expert it was
// offered to accepts or declines; another expert on call accepts.
function queueActions(c) {
  const { me, experts } = state;
  const line = D.alertLine();
  const box = el('div', { class: 'queue-actions' });
  const run = async (fn) => {
    line.textContent = '';
    try {
      await fn();
    } catch (err) {
      D.showError(line, err);
    }
  };
  if (c.expert_id) {
    box.append(el('p', { class: 'offered' }, t('oncall.offered_to', { name: c.expert_name || '' })));
  }
  if (me.roles.includes('scheduler')) {
    const fit = experts.filter((e) => e.specialties.some((s) => s.toLowerCase() === c.specialty.toLowerCase()));
    const pick = D.select('expert_id', fit.map((e) => [e.id, e.display_name]), c.expert_id || undefined);
    pick.setAttribute('aria-label', t('oncall.assign_to'));
    const go = D.button('oncall.assign', { class: 'assign', disabled: fit.length === 0,
      onclick: () => run(async () => {
        await api('POST', `/consultations/${c.id}/assign`, { expert_id: Number(pick.value) });
        await load();
      }) });
    box.append(fit.length ? pick : el('span', { class: 'muted' }, t('oncall.no_expert_for', { specialty: specialtyName(c.specialty) })), ' ', go);
  } else if (me.roles.includes('expert') && (!c.expert_id || c.expert_id === me.id)) {
    box.append(D.button('oncall.accept', { class: 'primary accept', onclick: () => run(async () => {
      await api('POST', `/consultations/${c.id}/accept`);
      location.hash = '#/consultations/' + c.id;
    }) }));
    if (c.expert_id === me.id) {
      const reason = el('input', { name: 'reason', required: true, minlength: 3, 'aria-label': t('oncall.decline_reason') });
      reason.placeholder = t('oncall.decline_reason');
      const form = el('form', { class: 'inline-form decline-offer', hidden: true }, reason, ' ',
        el('button', { type: 'submit', class: 'danger', 'data-i18n': 'oncall.decline_confirm' }, t('oncall.decline_confirm')));
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        run(async () => {
          await api('POST', `/consultations/${c.id}/decline-offer`, { reason: reason.value });
          await load();
        });
      });
      box.append(' ', D.button('oncall.decline', { class: 'danger decline', onclick: () => {
        form.hidden = !form.hidden;
        if (!form.hidden) reason.focus();
      } }), form);
    }
  }
  box.append(line);
  return box;
}

/** @param {boolean} [timed] a refresh of the timer's, not the user's */
async function load(timed) {
  const [queue, shifts] = await Promise.all([api('GET', '/on-call/queue'), api('GET', '/on-call/shifts')]);
  if (!state) return;
  Object.assign(state, { queue, shifts });
  // The timer's refresh waits while the expert is writing why they decline.
  if (timed && state.queueTable.querySelector('form.decline-offer:not([hidden])')) return;
  render();
}

function shiftForm(experts) {
  const expert = D.select('expert_id', experts.map((e) => [e.id, e.display_name]));
  const specialty = el('select', { name: 'specialty' });
  const fill = () => {
    const chosen = experts.find((e) => String(e.id) === expert.value);
    specialty.replaceChildren(...(chosen ? chosen.specialties : []).map((s) => el('option', { value: s }, specialtyName(s))));
  };
  expert.addEventListener('change', fill);
  fill();
  const from = el('input', { type: 'datetime-local', name: 'starts_at', required: true });
  const to = el('input', { type: 'datetime-local', name: 'ends_at', required: true });
  const line = D.alertLine();
  const form = el('form', { id: 'shift-form', class: 'desk-panel' },
    el('h3', { 'data-i18n': 'oncall.add_shift' }, t('oncall.add_shift')),
    D.field('board.expert', expert), D.field('col.specialty', specialty),
    D.field('roster.from', from), D.field('roster.to', to),
    el('button', { type: 'submit', 'data-i18n': 'oncall.put_on_call' }, t('oncall.put_on_call')), line);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    line.textContent = '';
    try {
      await api('POST', '/on-call/shifts', {
        expert_id: Number(expert.value), specialty: specialty.value,
        starts_at: D.instant(from.value, state.zone), ends_at: D.instant(to.value, state.zone),
      });
      form.reset();
      fill();
      await load();
    } catch (err) {
      D.showError(line, err);
    }
  });
  return form;
}

async function open(section, match, me) {
  const zone = await D.facilityZone(me.facility_id);
  state = {
    zone, me, experts: [], queue: [], shifts: [],
    queueTable: el('table', { id: 'oncall-queue' }),
    queueEmpty: el('p', { 'data-i18n': 'oncall.queue_empty', hidden: true }, t('oncall.queue_empty')),
    shiftsTable: el('table', { id: 'oncall-shifts' }),
    shiftsEmpty: el('p', { 'data-i18n': 'oncall.no_shifts', hidden: true }, t('oncall.no_shifts')),
    updated: el('p', { class: 'note', role: 'status' }),
    error: D.alertLine(),
    timer: null,
  };
  const parts = [
    el('h2', { 'data-i18n': 'oncall.title' }, t('oncall.title')), state.updated, state.error,
    el('h3', { 'data-i18n': 'oncall.queue' }, t('oncall.queue')), state.queueTable, state.queueEmpty,
    el('h3', { 'data-i18n': 'oncall.shifts' }, t('oncall.shifts')), state.shiftsTable, state.shiftsEmpty,
  ];
  if (me.roles.includes('scheduler')) {
    const experts = await api('GET', '/experts?facility_id=' + me.facility_id);
    state.experts = experts;
    parts.push(shiftForm(experts));
  }
  section.replaceChildren(...parts);
  await load();
  state.timer = setInterval(() => load(true).catch((err) => D.showError(state.error, err)), REFRESH_MS);
}

document.addEventListener('ferry:language', () => {
  if (state && state.shiftsTable.isConnected && !state.shiftsTable.closest('section').hidden) render();
});

/** @type {import('../lib/ferry.js').ScreenModule} */
export const oncallScreen = {
  open,
  close() {
    if (state && state.timer) clearInterval(state.timer);
    state = null;
  },
};
