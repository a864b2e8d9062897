// @ts-check
// Ferry web client: the scheduler's roster of one expert, a week at a time.
// The grid shows each day's weekly rules, leave and extra sessions, the
// bookings and how many slots are still free, all on the expert's own clock.
// Leave over booked slots is refused by the server with the bookings listed;
// they are shown here so each can be moved before the leave is entered again.

import { api, el, t } from '../lib/ferry.js';
import { specialtyName } from '../lib/terms.js';
import * as D from './desk.js';

const LIVE = ['held', 'booked', 'completed', 'no_show'];
let state = null;

function hashFor(expertId, week) {
  return `#/roster/${expertId}` + (week ? '/' + week : '');
}

function ruleApplies(rule, date, weekday) {
  return rule.weekday === weekday && rule.valid_from <= date && (!rule.valid_to || date <= rule.valid_to);
}

function overlaps(item, dayStart, dayEnd) {
  return Date.parse(item.starts_at) < dayEnd && Date.parse(item.ends_at) > dayStart;
}

function dayBounds(date) {
  return [Date.parse(D.instant(date + 'T00:00', state.zone)),
    Date.parse(D.instant(D.addDays(date, 1) + 'T00:00', state.zone))];
}

function renderGrid() {
  const { roster, zone, week, bookings, free } = state;
  const days = [...Array(7).keys()].map((i) => D.addDays(week, i));
  const head = el('tr', null, days.map((date, i) => el('th', { scope: 'col' },
    D.weekdayName(i + 1, 'short'), el('br'), el('span', { class: 'date' }, date))));
  const cells = days.map((date, i) => {
    const [start, end] = dayBounds(date);
    const items = [];
    for (const rule of roster.rules.filter((r) => ruleApplies(r, date, i + 1))) {
      items.push(el('div', { class: 'rule-window' }, `${rule.start_time}–${rule.end_time} · `,
        t('desk.service.' + rule.service), ' · ', t('roster.slot_minutes_short', { minutes: rule.slot_minutes })));
    }
    for (const ex of roster.exceptions.filter((e) => overlaps(e, start, end))) {
      const from = D.wallClock(ex.starts_at, zone);
      const to = D.wallClock(ex.ends_at, zone);
      const span = `${from.date === date ? from.time : '00:00'}–${to.date === date ? to.time : '24:00'}`;
      items.push(el('div', { class: ex.kind === 'leave' ? 'leave' : 'extra', dataset: { exception: ex.id } },
        t(ex.kind === 'leave' ? 'roster.on_leave' : 'roster.extra_session'), ' ', span,
        ex.reason ? ` · ${ex.reason}` : ''));
    }
    for (const b of bookings.filter((b) => D.wallClock(b.start, zone).date === date)) {
      items.push(el('div', { class: `booking status-${b.status}`, dataset: { booking: b.id } },
        `${D.wallClock(b.start, zone).time}–${D.wallClock(b.end, zone).time} `,
        t('desk.booking.' + b.status), b.patient ? ` · ${D.personName(b.patient.name)}` : ''));
    }
    const count = free.get(date) || 0;
    items.push(el('div', { class: 'free' }, t('roster.free_slots', { count })));
    return el('td', { dataset: { date } }, items);
  });
  state.grid.replaceChildren(el('thead', null, head), el('tbody', null, el('tr', null, cells)));
}

function renderRules() {
  const body = el('tbody');
  const sorted = [...state.roster.rules].sort((a, b) => a.weekday - b.weekday || a.start_time.localeCompare(b.start_time));
  for (const rule of sorted) {
    const edit = D.button('desk.edit', { onclick: () => editRule(rule) });
    const remove = D.button('desk.delete', { class: 'danger', onclick: () => change(
      (move) => api('DELETE', `/roster-rules/${rule.id}` + (move ? '?move_bookings=true' : '')), null) });
    body.appendChild(el('tr', { dataset: { rule: rule.id } },
      el('td', null, D.weekdayName(rule.weekday)),
      el('td', null, `${rule.start_time}–${rule.end_time}`),
      el('td', null, t('roster.slot_detail', { minutes: rule.slot_minutes, buffer: rule.buffer_minutes, capacity: rule.capacity })),
      el('td', null, t('desk.service.' + rule.service), rule.referral_priority ? ' · ' + t('roster.referral_priority') : ''),
      el('td', null, rule.valid_from + ' → ' + (rule.valid_to || '…')),
      el('td', { class: 'actions' }, edit, ' ', remove)));
  }
  state.rules.replaceChildren(
    D.header(['roster.weekday', 'roster.hours', 'roster.slots', 'roster.service', 'roster.valid', '']), body);
  state.rulesEmpty.hidden = sorted.length > 0;
}

function renderExceptions() {
  const body = el('tbody');
  for (const ex of state.roster.exceptions) {
    const remove = D.button(ex.kind === 'leave' ? 'roster.end_leave' : 'roster.call_off', {
      class: 'danger',
      onclick: () => change((move) => api('DELETE', `/roster-exceptions/${ex.id}` + (move ? '?move_bookings=true' : '')), null),
    });
    body.appendChild(el('tr', { dataset: { exception: ex.id } },
      el('td', null, t(ex.kind === 'leave' ? 'roster.leave' : 'roster.extra_session')),
      el('td', null, D.inZone(ex.starts_at, state.zone)),
      el('td', null, D.inZone(ex.ends_at, state.zone)),
      el('td', null, ex.reason),
      el('td', { class: 'actions' }, remove)));
  }
  state.exceptions.replaceChildren(
    D.header(['roster.kind', 'roster.from', 'roster.to', 'roster.reason', '']), body);
  state.exceptionsEmpty.hidden = state.roster.exceptions.length > 0;
}

async function load() {
  const mine = state;
  const { expertId, week } = mine;
  const roster = await api('GET', `/experts/${expertId}/roster`);
  mine.zone = roster.time_zone;
  const from = D.instant(week + 'T00:00', roster.time_zone);
  const to = D.instant(D.addDays(week, 7) + 'T00:00', roster.time_zone);
  const [bookings, slots] = await Promise.all([
    api('GET', '/bookings?' + new URLSearchParams({ expert_id: expertId, from, to, tz: roster.time_zone, limit: '1000' })),
    api('GET', '/slots?' + new URLSearchParams({
      expert_id: expertId, from: week, to: D.addDays(week, 6), tz: roster.time_zone,
      include_reserved: 'true', limit: '2000',
    })),
  ]);
  // Another week or expert was opened meanwhile: this answer is stale.
  if (state !== mine) return;
  const free = new Map();
  for (const slot of slots.slots) {
    const date = D.wallClock(slot.start, roster.time_zone).date;
    free.set(date, (free.get(date) || 0) + slot.remaining);
  }
  Object.assign(state, {
    roster, free,
    bookings: bookings.filter((b) => LIVE.includes(b.status)).sort((a, b) => a.start.localeCompare(b.start)),
  });
  state.zoneNote.textContent = t('desk.times_in', { zone: roster.time_zone });
  renderGrid();
  renderRules();
  renderExceptions();
}

// Sends a roster change; when the server refuses it because bookings sit
// on slots it removes, lists them with a way to move each, and keeps the
// change to send again. `avoid` is the leave being entered, if any.
async function change(send, avoid, alertLine) {
  const line = alertLine || state.changeError;
  line.textContent = '';
  state.notice.textContent = '';
  try {
    const result = await send(false);
    state.clashes.hidden = true;
    state.clashes.replaceChildren();
    await load();
    return result;
  } catch (err) {
    const listed = err.body && err.body.error && err.body.error.code === 'bookings_affected'
      ? err.body.error.details.bookings : null;
    if (!listed) {
      D.showError(line, err);
      return null;
    }
    showClashes(err.message, listed, send, avoid);
    return null;
  }
}

function showClashes(message, listed, send, avoid) {
  const zone = state.zone;
  const body = el('tbody');
  const waiting = [];
  // A slot one booking takes is gone for the others: offer them afresh.
  const offer = () => {
    for (const item of waiting.filter((w) => !w.moved)) {
      item.action.replaceChildren(D.movePicker(item.id, {
        zone, avoid,
        onMoved: (moved) => {
          item.moved = true;
          item.row.classList.add('moved');
          item.action.replaceChildren(el('span', { class: 'moved-to', dataset: { start: moved.start } },
            t('roster.moved_to', { when: D.inZone(moved.start, zone) })));
          offer();
          load().catch((e) => D.showError(state.changeError, e));
        },
      }));
    }
  };
  for (const b of listed) {
    const action = el('td', { class: 'actions' });
    const row = el('tr', { dataset: { booking: b.id } },
      el('td', null, '#' + b.id),
      el('td', { class: 'when' }, D.inZone(b.start, zone)),
      el('td', null, t('desk.booking.' + b.status)),
      el('td', { class: 'patient-cell' }, D.patientCell(b.patient, b.consultation_id)),
      action);
    waiting.push({ id: b.id, row, action, moved: false });
    body.appendChild(row);
  }
  offer();
  const line = D.alertLine();
  const again = D.button('roster.try_again', { class: 'retry', onclick: () => change(send, avoid, line) });
  const moveAll = D.button('roster.move_all', {
    onclick: async () => {
      line.textContent = '';
      try {
        const result = await send(true);
        state.clashes.hidden = true;
        state.notice.textContent = t('roster.moved_count', { count: (result.moved_bookings || []).length });
        await load();
      } catch (err) {
        D.showError(line, err);
      }
    },
  });
  state.clashes.replaceChildren(
    el('h3', { 'data-i18n': 'roster.clashes' }, t('roster.clashes')),
    el('p', { class: 'error', role: 'alert' }, message),
    el('p', { 'data-i18n': 'roster.clashes_help' }, t('roster.clashes_help')),
    el('table', { class: 'clash-list' },
      D.header(['roster.booking', 'roster.when', 'col.status', 'col.patient', 'roster.move']), body),
    el('p', { class: 'controls' }, again, moveAll), line);
  state.clashes.hidden = false;
  state.clashes.scrollIntoView({ block: 'nearest' });
}

function leaveForm() {
  const kind = D.select('kind', [['leave', t('roster.leave'), 'roster.leave'],
    ['extra', t('roster.extra_session'), 'roster.extra_session']]);
  const from = el('input', { name: 'starts_at', type: 'datetime-local', required: true });
  const to = el('input', { name: 'ends_at', type: 'datetime-local', required: true });
  const reason = el('input', { name: 'reason', maxlength: '200' });
  const slotMinutes = el('input', { name: 'slot_minutes', type: 'number', min: '5', value: '30' });
  const capacity = el('input', { name: 'capacity', type: 'number', min: '1', value: '1' });
  const service = D.select('service', [['video', t('desk.service.video'), 'desk.service.video'],
    ['async_review', t('desk.service.async_review'), 'desk.service.async_review']]);
  const extra = el('div', { class: 'extra-fields', hidden: true },
    D.field('roster.slot_minutes', slotMinutes), D.field('roster.capacity', capacity), D.field('roster.service', service));
  kind.addEventListener('change', () => { extra.hidden = kind.value !== 'extra'; });
  const line = D.alertLine();
  const form = el('form', { id: 'leave-form', class: 'desk-panel' },
    el('h3', { 'data-i18n': 'roster.add_exception' }, t('roster.add_exception')),
    D.field('roster.kind', kind), D.field('roster.from', from), D.field('roster.to', to),
    D.field('roster.reason', reason), extra,
    el('button', { type: 'submit', 'data-i18n': 'roster.enter' }, t('roster.enter')), line);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const body = {
      kind: kind.value,
      starts_at: D.instant(from.value, state.zone),
      ends_at: D.instant(to.value, state.zone),
      reason: reason.value,
    };
    if (kind.value === 'extra') {
      Object.assign(body, { slot_minutes: Number(slotMinutes.value), capacity: Number(capacity.value), service: service.value });
    }
    const avoid = kind.value === 'leave' ? [Date.parse(body.starts_at), Date.parse(body.ends_at)] : null;
    change((move) => api('POST', `/experts/${state.expertId}/roster/exceptions`,
      Object.assign({}, body, move ? { move_bookings: true } : {})), avoid, line)
      .then((done) => { if (done) form.reset(); });
  });
  return form;
}

function ruleForm() {
  const weekday = D.select('weekday', [1, 2, 3, 4, 5, 6, 7].map((d) => [d, D.weekdayName(d)]));
  const start = el('input', { name: 'start_time', type: 'time', value: '09:00', required: true });
  const end = el('input', { name: 'end_time', type: 'time', value: '12:00', required: true });
  const slot = el('input', { name: 'slot_minutes', type: 'number', min: '5', value: '30', required: true });
  const buffer = el('input', { name: 'buffer_minutes', type: 'number', min: '0', value: '0' });
  const capacity = el('input', { name: 'capacity', type: 'number', min: '1', value: '1' });
  const service = D.select('service', [['video', t('desk.service.video'), 'desk.service.video'],
    ['async_review', t('desk.service.async_review'), 'desk.service.async_review']]);
  const from = el('input', { name: 'valid_from', type: 'date', value: D.today(state.zone), required: true });
  const until = el('input', { name: 'valid_to', type: 'date' });
  const priority = el('input', { name: 'referral_priority', type: 'checkbox' });
  const title = el('h3', { 'data-i18n': 'roster.add_rule' }, t('roster.add_rule'));
  const submit = el('button', { type: 'submit', 'data-i18n': 'roster.add_rule_button' }, t('roster.add_rule_button'));
  const stop = D.button('desk.cancel', { hidden: true });
  const line = D.alertLine();
  const form = el('form', { id: 'rule-form', class: 'desk-panel' }, title,
    D.field('roster.weekday', weekday), D.field('roster.starts', start), D.field('roster.ends', end),
    D.field('roster.slot_minutes', slot), D.field('roster.buffer', buffer), D.field('roster.capacity', capacity),
    D.field('roster.service', service), D.field('roster.valid_from', from), D.field('roster.valid_to', until),
    el('label', null, priority, ' ', D.words('roster.referral_priority')), submit, ' ', stop, line);
  let editing = null;
  const reset = () => {
    editing = null;
    form.reset();
    from.value = D.today(state.zone);
    stop.hidden = true;
    title.dataset.i18n = 'roster.add_rule';
    title.textContent = t('roster.add_rule');
  };
  stop.addEventListener('click', reset);
  state.fillRule = (rule) => {
    editing = rule.id;
    weekday.value = String(rule.weekday);
    start.value = rule.start_time;
    end.value = rule.end_time;
    slot.value = rule.slot_minutes;
    buffer.value = rule.buffer_minutes;
    capacity.value = rule.capacity;
    service.value = rule.service;
    from.value = rule.valid_from;
    until.value = rule.valid_to || '';
    priority.checked = rule.referral_priority;
    stop.hidden = false;
    title.dataset.i18n = 'roster.edit_rule';
    title.textContent = t('roster.edit_rule');
    form.scrollIntoView({ block: 'nearest' });
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const body = {
      weekday: Number(weekday.value), start_time: start.value, end_time: end.value,
      slot_minutes: Number(slot.value), buffer_minutes: Number(buffer.value || 0),
      capacity: Number(capacity.value || 1), service: service.value, valid_from: from.value,
      valid_to: until.value || null, referral_priority: priority.checked,
    };
    const id = editing;
    const send = (move) => (id
      ? api('PATCH', `/roster-rules/${id}`, Object.assign({}, body, move ? { move_bookings: true } : {}))
      : api('POST', `/experts/${state.expertId}/roster/rules`, body));
    change(send, null, line).then((done) => { if (done) reset(); });
  });
  return form;
}

function editRule(rule) {
  state.fillRule(rule);
}

async function open(section, match, me) {
  const experts = await api('GET', '/experts?facility_id=' + me.facility_id);
  const zone = await D.facilityZone(me.facility_id);
  const expertId = match[1] ? Number(match[1]) : (experts[0] && experts[0].id);
  const week = D.monday(match[2] || D.today(zone));
  const heading = el('h2', { 'data-i18n': 'roster.title' }, t('roster.title'));
  if (!expertId) {
    section.replaceChildren(heading, el('p', { 'data-i18n': 'roster.no_experts' }, t('roster.no_experts')));
    return;
  }
  const picker = D.select('expert', experts.map((e) =>
    [e.id, `${e.display_name} · ${e.specialties.map(specialtyName).join(', ')}`]), expertId);
  picker.id = 'roster-expert';
  picker.addEventListener('change', () => { location.hash = hashFor(picker.value, week); });
  const weekInput = el('input', { type: 'date', name: 'week', value: week, id: 'roster-week' });
  weekInput.addEventListener('change', () => {
    if (weekInput.value) location.hash = hashFor(expertId, D.monday(weekInput.value));
  });
  const previous = D.button('desk.previous_week', { onclick: () => { location.hash = hashFor(expertId, D.addDays(week, -7)); } });
  const next = D.button('desk.next_week', { onclick: () => { location.hash = hashFor(expertId, D.addDays(week, 7)); } });
  state = {
    expertId, week, zone, roster: { rules: [], exceptions: [] }, bookings: [], free: new Map(),
    grid: el('table', { id: 'roster-grid', class: 'week-grid' }),
    rules: el('table', { id: 'roster-rules' }),
    rulesEmpty: el('p', { 'data-i18n': 'roster.no_rules', hidden: true }, t('roster.no_rules')),
    exceptions: el('table', { id: 'roster-exceptions' }),
    exceptionsEmpty: el('p', { 'data-i18n': 'roster.no_exceptions', hidden: true }, t('roster.no_exceptions')),
    clashes: el('div', { id: 'roster-clashes', class: 'desk-panel clashes', hidden: true }),
    changeError: D.alertLine(),
    notice: el('p', { role: 'status', class: 'notice' }),
    zoneNote: el('p', { class: 'note' }),
  };
  section.replaceChildren(
    heading,
    el('div', { class: 'toolbar' }, D.field('roster.expert', picker, { class: 'inline' }),
      D.field('desk.week_of', weekInput, { class: 'inline' }), previous, ' ', next),
    state.zoneNote,
    el('div', { class: 'grid-scroll' }, state.grid),
    state.changeError,
    state.notice,
    state.clashes,
    el('div', { class: 'forms' }, leaveForm(), ruleForm()),
    el('h3', { 'data-i18n': 'roster.rules' }, t('roster.rules')), state.rules, state.rulesEmpty,
    el('h3', { 'data-i18n': 'roster.exceptions' }, t('roster.exceptions')), state.exceptions, state.exceptionsEmpty);
  await load();
}

document.addEventListener('ferry:language', () => {
  if (state && state.grid.isConnected && !state.grid.closest('section').hidden) {
    renderGrid();
    renderRules();
    renderExceptions();
  }
});

/** @type {import('../lib/ferry.js').ScreenModule} */
export const rosterScreen = {
  open,
  close() { state = null; },
};
