// @ts-check
// Ferry web client: the operating figures for administrators. Referrals up
// against down each month (the imbalance the consortium exists to fix),
// reading turnaround by priority against its target, consultations by
// specialty, and the waits for an expert and for an on-call answer.

import * as C from '../lib/charts.js';
import { api, el, t } from '../lib/ferry.js';
import * as I18n from '../lib/i18n.js';
import { specialtyName } from '../lib/terms.js';
import * as D from './desk.js';

const OPEN = ['requested', 'scheduled', 'in_progress', 'awaiting_opinion'];
const PRIORITIES = ['stat', 'urgent', 'routine'];
let state = null;

function months(from, to) {
  const list = [];
  let [year, month] = from.split('-').map(Number);
  const [lastYear, lastMonth] = to.split('-').map(Number);
  while ((year < lastYear || (year === lastYear && month <= lastMonth)) && list.length < 120) {
    list.push(`${year}-${String(month).padStart(2, '0')}`);
    month += 1;
    if (month > 12) { month = 1; year += 1; }
  }
  return list;
}

function monthLabel(key) {
  return new Intl.DateTimeFormat(I18n.current(), { year: 'numeric', month: 'short', timeZone: 'UTC' })
    .format(new Date(key + '-15T00:00:00Z'));
}

function referralChart(f) {
  const keys = months(f.from_month, f.to_month);
  const up = keys.map(() => 0);
  const down = keys.map(() => 0);
  for (const r of f.referrals) {
    const i = keys.indexOf(r.month);
    if (i < 0) continue;
    up[i] += r.up_sent;
    down[i] += r.down_sent;
  }
  return C.bars({
    id: 'chart-referrals', integer: true, title: t('figures.referrals'), yLabel: t('figures.referral_count'), xLabel: t('figures.month'),
    categories: keys.map((key) => ({ key, label: monthLabel(key) })),
    series: [{ key: 'up', label: t('figures.up') }, { key: 'down', label: t('figures.down') }],
    values: [up, down],
  });
}

function turnaroundChart(f) {
  const rows = [...f.reading_turnaround].sort((a, b) =>
    a.reading_facility_name.localeCompare(b.reading_facility_name)
    || PRIORITIES.indexOf(a.priority) - PRIORITIES.indexOf(b.priority));
  const several = new Set(rows.map((r) => r.reading_facility_id)).size > 1;
  const categories = rows.map((r) => ({
    key: `${r.reading_facility_id}-${r.priority}`,
    label: (several ? r.reading_facility_name + ' · ' : '') + t('figures.priority.' + r.priority),
  }));
  return C.bars({
    id: 'chart-turnaround', title: t('figures.turnaround'), yLabel: t('figures.minutes'), xLabel: t('figures.priority'),
    categories,
    series: [{ key: 'median', label: t('figures.median') }, { key: 'p90', label: t('figures.p90') },
      { key: 'target', label: t('figures.target') }],
    values: [rows.map((r) => r.completed.median_minutes ?? null), rows.map((r) => r.completed.p90_minutes ?? null),
      rows.map((r) => r.target_minutes)],
  });
}

function specialtyChart(f) {
  const specialties = [...new Set(f.consultations.map((c) => c.specialty))].sort();
  const sum = (specialty, test) => f.consultations
    .filter((c) => c.specialty === specialty && test(c.status)).reduce((n, c) => n + c.count, 0);
  return C.bars({
    id: 'chart-specialties', integer: true, title: t('figures.consultations'), yLabel: t('figures.consultation_count'),
    xLabel: t('col.specialty'),
    categories: specialties.map((s) => ({ key: s, label: specialtyName(s) })),
    series: [{ key: 'open', label: t('figures.open') }, { key: 'completed', label: t('figures.completed') },
      { key: 'ended', label: t('figures.ended') }],
    values: [specialties.map((s) => sum(s, (st) => OPEN.includes(st))),
      specialties.map((s) => sum(s, (st) => st === 'completed')),
      specialties.map((s) => sum(s, (st) => st === 'cancelled' || st === 'declined'))],
  });
}

function headline(f) {
  const wait = (w) => (w.count ? t('figures.wait', {
    median: C.number(w.median_minutes), p90: C.number(w.p90_minutes), count: w.count,
  }) : t('figures.no_data'));
  const share = f.in_region_share === null || f.in_region_share === undefined
    ? t('figures.no_data')
    : t('figures.share', { percent: C.number(f.in_region_share * 100), in: f.referrals_in_region, total: f.referrals_total });
  return el('dl', { class: 'headline' },
    el('dt', null, t('figures.request_to_consultation')), el('dd', { id: 'figure-request-wait' }, wait(f.request_to_consultation)),
    el('dt', null, t('figures.on_call_acceptance')), el('dd', { id: 'figure-on-call-wait' }, wait(f.on_call_acceptance)),
    el('dt', null, t('figures.in_region')), el('dd', { id: 'figure-in-region' }, share));
}

function facilityTable(f) {
  const byFacility = new Map();
  for (const r of f.referrals) {
    const row = byFacility.get(r.facility_id) || { name: r.facility_name, up_sent: 0, down_sent: 0, up_received: 0, down_received: 0 };
    for (const k of ['up_sent', 'down_sent', 'up_received', 'down_received']) row[k] += r[k];
    byFacility.set(r.facility_id, row);
  }
  const rows = [...byFacility.entries()].sort((a, b) => a[1].name.localeCompare(b[1].name));
  return el('table', { id: 'figures-facilities' },
    D.header(['col.name', 'figures.up_sent', 'figures.down_sent', 'figures.up_received', 'figures.down_received']),
    el('tbody', null, rows.map(([id, r]) => el('tr', { dataset: { facility: id } }, el('td', null, r.name),
      ['up_sent', 'down_sent', 'up_received', 'down_received'].map((k) => el('td', null, C.number(r[k])))))));
}

function render() {
  const f = state.figures;
  if (!f) return;
  state.body.replaceChildren(
    el('p', { class: 'note' }, t('figures.range', { from: monthLabel(f.from_month), to: monthLabel(f.to_month), zone: f.time_zone })),
    headline(f),
    referralChart(f),
    el('h3', null, t('figures.by_facility')), facilityTable(f),
    f.reading_turnaround.length ? turnaroundChart(f) : el('p', null, t('figures.turnaround'), ': ', t('figures.no_data')),
    f.consultations.length ? specialtyChart(f) : el('p', null, t('figures.consultations'), ': ', t('figures.no_data')));
}

async function load() {
  const query = new URLSearchParams();
  if (state.from.value) query.set('from', state.from.value);
  if (state.to.value) query.set('to', state.to.value);
  state.error.textContent = '';
  try {
    state.figures = await api('GET', '/figures' + (query.toString() ? '?' + query : ''));
    if (!state.from.value) state.from.value = state.figures.from_month;
    if (!state.to.value) state.to.value = state.figures.to_month;
    render();
  } catch (err) {
    D.showError(state.error, err);
  }
}

async function open(section) {
  state = {
    from: el('input', { type: 'month', name: 'from', id: 'figures-from' }),
    to: el('input', { type: 'month', name: 'to', id: 'figures-to' }),
    error: D.alertLine(),
    body: el('div', { id: 'figures-body' }),
    figures: null,
  };
  const form = el('form', { id: 'figures-form', class: 'toolbar' },
    D.field('figures.from', state.from, { class: 'inline' }), D.field('figures.to', state.to, { class: 'inline' }),
    el('button', { type: 'submit', 'data-i18n': 'figures.show' }, t('figures.show')), state.error);
  form.addEventListener('submit', (event) => { event.preventDefault(); load(); });
  section.replaceChildren(el('h2', { 'data-i18n': 'figures.title' }, t('figures.title')), form, state.body);
  await load();
}

document.addEventListener('ferry:language', () => {
  if (state && state.body.isConnected && !state.body.closest('section').hidden) render();
});

/** @type {import('../lib/ferry.js').ScreenModule} */
export const figuresScreen = {
  open,
  close() { state = null; },
};
