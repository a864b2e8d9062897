// @ts-check
// Ferry web client, the radiologist's reading worklist: the facility's open
// requests, most pressing first, each with a clock counting down to its
// target turnaround (red once overdue), claim and release, and the way
// into the reading screen.

import { api, el, t } from '../lib/ferry.js';
import * as Reassign from './worklist-reassign.js';
import { patientLabel } from '../lib/patient-banner.js';
import { examinationName } from '../lib/terms.js';

// "1:05:09": hours, minutes and seconds of a span in milliseconds.
function span(ms) {
  const total = Math.floor(Math.abs(ms) / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}

/**
 * The clock of one request: time left, or time past the target.
 * @param {{due_at?: string, status: string}} request
 * @param {number} now milliseconds since the epoch
 * @returns {{text: string, state: 'done' | 'overdue' | 'soon' | 'ok'}}
 */
function clockText(request, now) {
  if (request.status === 'completed' || request.status === 'cancelled') {
    return { text: t('worklist.clock.done'), state: 'done' };
  }
  const left = new Date(request.due_at).getTime() - now;
  if (left < 0) return { text: t('worklist.clock.overdue', { time: span(left) }), state: 'overdue' };
  return { text: t('worklist.clock.left', { time: span(left) }), state: left < 30 * 60000 ? 'soon' : 'ok' };
}

function tick(root) {
  const now = Date.now();
  for (const clock of root.querySelectorAll('.clock[data-due]')) {
    const c = clockText({ due_at: clock.dataset.due, status: clock.dataset.status }, now);
    clock.textContent = c.text;
    clock.dataset.state = c.state;
  }
}

// Family name first, as the register keeps it; a space only between
// Latin-script parts ("王秀英", "Wang Xiuying").
function personName(p) {
  const latin = /[A-Za-z]$/.test(p.family_name) && /^[A-Za-z]/.test(p.given_name);
  return latin ? `${p.family_name} ${p.given_name}` : `${p.family_name}${p.given_name}`;
}

// Each row carries its patient's name and record number (the server's
// worklist gives them), so no patient is read per row.
function patientName(r) {
  if (!r.patient_id) return '';
  return patientLabel(r) || t('worklist.patient', { id: r.patient_id });
}

let timers = [];
let relabel = null;

/** @type {import('../lib/ferry.js').ScreenModule} */
export const worklistScreen = {
  async open(section, match, me) {
    const error = el('p', { class: 'error', role: 'alert' });
    const body = el('tbody');
    const empty = el('p', { hidden: true, 'data-i18n': 'worklist.none' }, t('worklist.none'));
    const option = (value, key) => el('option', { value, 'data-i18n': key }, t(key));
    const form = el('form', { class: 'worklist-filters' },
      el('label', { class: 'inline' }, el('span', { 'data-i18n': 'worklist.filter.status' }, t('worklist.filter.status')),
        el('select', { name: 'status' }, option('', 'worklist.status.open'),
          ...['requested', 'accepted', 'in-progress', 'completed', 'cancelled'].map((s) => option(s, 'worklist.status.' + s)))),
      el('label', { class: 'inline' }, el('span', { 'data-i18n': 'worklist.filter.priority' }, t('worklist.filter.priority')),
        el('select', { name: 'priority' }, option('', 'worklist.any'),
          ...['stat', 'urgent', 'routine'].map((p) => option(p, 'worklist.priority.' + p)))),
      el('label', { class: 'inline' }, el('span', { 'data-i18n': 'worklist.filter.modality' }, t('worklist.filter.modality')),
        el('select', { name: 'modality' }, option('', 'worklist.any'),
          ...['CT', 'MR', 'CR', 'DX', 'US', 'ECG'].map((m) => el('option', { value: m }, m)))),
      el('label', { class: 'inline' }, el('input', { type: 'checkbox', name: 'mine' }),
        el('span', { 'data-i18n': 'worklist.filter.mine' }, t('worklist.filter.mine'))),
      el('button', { type: 'submit', 'data-i18n': 'worklist.refresh' }, t('worklist.refresh')));
    const head = ['worklist.col.due', 'worklist.col.priority', 'col.patient', 'worklist.col.study',
      'worklist.col.question', 'worklist.col.from', 'col.status', 'worklist.col.reader', '']
      .map((key) => el('th', key ? { 'data-i18n': key } : null, key ? t(key) : ''));
    section.replaceChildren(
      el('h2', { 'data-i18n': 'worklist.title' }, t('worklist.title')),
      form, error,
      el('div', { class: 'grid-scroll' },
        el('table', { class: 'worklist' }, el('thead', null, el('tr', null, head)), body)),
      empty);

    let rows = [];
    // Reading leads hand requests on (worklist-reassign.js); null for others,
    // asked alongside the list rather than before it.
    let readers = null;
    Reassign.readers().then((people) => { readers = people; if (people && rows.length) render(); });
    async function load() {
      const data = new FormData(form);
      const query = new URLSearchParams();
      for (const name of ['status', 'priority', 'modality']) {
        const value = data.get(name);
        if (value) query.set(name, String(value));
      }
      if (data.get('mine')) query.set('mine', 'true');
      try {
        rows = await api('GET', '/worklist' + (query.toString() ? '?' + query : ''));
        error.textContent = '';
      } catch (err) {
        error.textContent = err.message;
        return;
      }
      await render();
    }

    async function act(request, verb) {
      error.textContent = '';
      try {
        await api('POST', `/reading-requests/${request.id}/${verb}`, {});
      } catch (err) {
        error.textContent = err.message;
      }
      await load();
    }

    async function render() {
      const names = rows.map(patientName);
      const now = Date.now();
      body.replaceChildren(...rows.map((r, n) => {
        const clock = clockText(r, now);
        const mine = r.reader_id === me.id;
        const actions = el('td', { class: 'worklist-actions' });
        if (r.status === 'requested' && !r.reader_id) {
          actions.append(el('button', { type: 'button', dataset: { action: 'claim' }, onclick: () => act(r, 'claim') }, t('worklist.claim')));
        }
        if (mine && r.status !== 'completed' && r.status !== 'cancelled') {
          actions.append(
            el('a', { class: 'button', href: `#/reading-requests/${r.id}/read`, dataset: { action: 'read' } }, t('worklist.read')),
            el('button', { type: 'button', dataset: { action: 'release' }, onclick: () => act(r, 'release') }, t('worklist.release')));
        } else {
          actions.append(el('a', { href: `#/reading-requests/${r.id}`, dataset: { action: 'view' } }, t('worklist.view')));
        }
        actions.append(Reassign.control(r, readers, (err) => { if (err) error.textContent = err.message; load(); }) || '');
        return el('tr', { dataset: { request: r.id, priority: r.priority } },
          el('td', null, el('span', { class: 'clock', dataset: { due: r.due_at, status: r.status, state: clock.state } }, clock.text)),
          el('td', null, el('span', { class: 'priority priority-' + r.priority }, t('worklist.priority.' + r.priority))),
          el('td', null, names[n]),
          el('td', null, el('a', { href: '#/studies/' + encodeURIComponent(r.study_instance_uid) },
            examinationName(r.modality, r.body_part) || t('worklist.study'))),
          el('td', { class: 'worklist-question' }, r.clinical_question),
          el('td', null, r.requesting_facility_name, el('br'), el('small', null, r.requested_by_name)),
          el('td', null, t('worklist.status.' + r.status)),
          el('td', null, r.reader_name || ''),
          actions);
      }));
      empty.hidden = rows.length > 0;
    }

    form.addEventListener('submit', (event) => {
      event.preventDefault();
      load();
    });
    form.addEventListener('change', () => load());
    relabel = () => render();
    document.addEventListener('ferry:language', relabel);
    timers.push(setInterval(() => tick(section), 1000));
    // Others claim and new requests arrive: keep the list current.
    timers.push(setInterval(() => { if (!document.hidden) load(); }, 60000));
    await load();
  },
  close() {
    for (const timer of timers) clearInterval(timer);
    timers = [];
    if (relabel) document.removeEventListener('ferry:language', relabel);
    relabel = null;
  },
};

export { clockText, span, personName };
