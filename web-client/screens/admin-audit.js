// @ts-check
// Ferry web client: the audit log, newest first, filtered by who, what and
// when, a page at a time. Pages go back by sequence number (`before`), so
// events recorded while reading do not shift the pages already seen.
// Events show in words; the raw name (`patient.read`) stays on each cell's
// title, and the event filter takes either, since administrators search by it.

import { api, el, t } from '../lib/ferry.js';
import { auditActionName, auditEventCode, auditEventName, auditEventOptions, entityName } from '../lib/terms.js';
import * as D from './desk.js';

const PAGE = 50;
let state = null;

/** @param {string} subtype */
function eventCell(subtype) {
  const name = auditEventName(subtype);
  // An event this client has no words for yet: its raw name, marked as a code.
  const label = name === subtype ? el('code', null, subtype) : name;
  return el('td', { class: 'audit-event', title: subtype, dataset: { subtype } }, label);
}

function render() {
  const { events, zone } = state;
  state.table.replaceChildren(D.header(['audit.seq', 'audit.when', 'audit.actor', 'audit.action', 'audit.event',
    'audit.outcome', 'audit.entity', 'col.patient', 'audit.from']),
  el('tbody', null, events.map((e) => el('tr', { dataset: { seq: e.seq }, class: e.outcome === 'failure' ? 'failure' : null },
    el('td', null, e.seq), el('td', null, D.inZone(e.recorded_at, zone, { dateStyle: 'short', timeStyle: 'medium' })),
    el('td', null, e.actor_name), el('td', null, auditActionName(e.action)), eventCell(e.subtype),
    el('td', null, t(e.outcome === 'failure' ? 'audit.failure' : 'audit.success')),
    el('td', null, e.entity_type ? `${entityName(e.entity_type)} ${e.entity_id || ''}` : ''),
    el('td', null, e.patient_id || ''),
    el('td', null, e.client_addr || '',
      Object.keys(e.detail || {}).length
        ? el('details', null, el('summary', null, t('audit.detail')), el('pre', null, JSON.stringify(e.detail, null, 2)))
        : '')))));
  state.empty.hidden = events.length > 0;
  state.newer.disabled = state.pages.length === 0;
  state.older.disabled = events.length < PAGE;
  state.page.textContent = t('audit.page', { page: state.pages.length + 1 });
}

async function load(before) {
  const form = new FormData(state.form);
  const query = new URLSearchParams({ limit: String(PAGE) });
  for (const [name, value] of form.entries()) {
    if (!value) continue;
    // Text inputs only: each value is a string.
    const text = String(value);
    if (name === 'subtype') query.set(name, auditEventCode(text));
    else query.set(name, name === 'since' || name === 'until' ? D.instant(text, state.zone) : text);
  }
  if (before) query.set('before', before);
  state.error.textContent = '';
  try {
    state.events = await api('GET', '/audit-events?' + query);
    state.before = before;
    render();
    return true;
  } catch (err) {
    D.showError(state.error, err);
    return false;
  }
}

async function open(section, match, me) {
  const zone = await D.facilityZone(me.facility_id);
  const users = await api('GET', '/users');
  const actor = D.select('actor_user_id', [['', t('desk.any'), 'desk.any']].concat(
    users.sort((a, b) => a.username.localeCompare(b.username)).map((u) => [u.id, `${u.display_name} (${u.username})`])));
  const action = D.select('action', [['', t('desk.any'), 'desk.any']].concat(
    ['create', 'read', 'update', 'delete', 'execute'].map((a) => [a, auditActionName(a)])));
  const outcome = D.select('outcome', [['', t('desk.any'), 'desk.any'], ['success', t('audit.success'), 'audit.success'],
    ['failure', t('audit.failure'), 'audit.failure']]);
  const form = el('form', { id: 'audit-filters', class: 'toolbar filters' },
    D.field('audit.actor', actor, { class: 'inline' }),
    D.field('audit.event', el('input', {
      name: 'subtype', list: 'audit-event-names', autocomplete: 'off',
      placeholder: t('term.audit_event.patient.read'), 'data-i18n-placeholder': 'term.audit_event.patient.read',
    }), { class: 'inline' }),
    el('datalist', { id: 'audit-event-names' }, auditEventOptions()),
    D.field('audit.action', action, { class: 'inline' }), D.field('audit.outcome', outcome, { class: 'inline' }),
    D.field('audit.entity_type', el('input', { name: 'entity_type', size: '12' }), { class: 'inline' }),
    D.field('audit.entity_id', el('input', { name: 'entity_id', size: '6' }), { class: 'inline' }),
    D.field('audit.patient_id', el('input', { name: 'patient_id', type: 'number', min: '1' }), { class: 'inline' }),
    D.field('audit.since', el('input', { name: 'since', type: 'datetime-local' }), { class: 'inline' }),
    D.field('audit.until', el('input', { name: 'until', type: 'datetime-local' }), { class: 'inline' }),
    el('button', { type: 'submit', 'data-i18n': 'audit.apply' }, t('audit.apply')));
  state = {
    zone, form, events: [], pages: [], before: null,
    table: el('table', { id: 'audit-events' }),
    empty: el('p', { 'data-i18n': 'audit.none', hidden: true }, t('audit.none')),
    error: D.alertLine(),
    page: el('span', { class: 'note' }),
    newer: D.button('audit.newer'),
    older: D.button('audit.older'),
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    state.pages = [];
    load(null);
  });
  state.older.addEventListener('click', async () => {
    const last = state.events[state.events.length - 1];
    const previous = state.before;
    if (last && await load(last.seq)) state.pages.push(previous);
    render();
  });
  state.newer.addEventListener('click', async () => {
    const previous = state.pages.pop();
    await load(previous);
  });
  section.replaceChildren(D.adminTabs('audit'),
    el('h2', { 'data-i18n': 'admin.tab.audit' }, t('admin.tab.audit')), form, state.error,
    el('p', { class: 'controls' }, state.newer, state.older, state.page),
    el('p', { class: 'note' }, t('desk.times_in', { zone })),
    state.table, state.empty);
  await load(null);
}

document.addEventListener('ferry:language', () => {
  if (state && state.table.isConnected && !state.table.closest('section').hidden) {
    state.form.querySelector('#audit-event-names').replaceChildren(...auditEventOptions());
    render();
  }
});

/** @type {import('../lib/ferry.js').ScreenModule} */
export const adminAuditScreen = {
  open,
  close() { state = null; },
};
