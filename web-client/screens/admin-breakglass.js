// @ts-check
// Ferry web client: break-the-glass review. Every emergency opening of a
// patient outside a clinician's scope waits here for an administrator: who
// opened whom, why, when and until when, and what they opened while the
// grant lasted (from the audit trail); the administrator marks it reviewed
// with a note. Pending ones first; all of them on request.

import { api, el, t, when } from '../lib/ferry.js';
import { patientName } from '../lib/patient-banner.js';
import * as D from './desk.js';

let state = null;

/** The audit event's subtype in words when the catalogue has them; an act
 * it has no words for keeps the audit trail's own name, so none is hidden. */
function activityName(subtype) {
  const key = 'breakglass.event.' + subtype;
  const words = t(key);
  return words === key ? subtype : words;
}

async function showActivity(grant, cell, button) {
  button.disabled = true;
  try {
    const events = await api('GET', `/break-glass/${grant.id}/activity`);
    cell.replaceChildren(events.length === 0
      ? el('p', { class: 'note' }, t('breakglass.nothing_opened'))
      : el('ul', { class: 'breakglass-activity', dataset: { grant: grant.id } }, events.map((e) => el('li',
        { class: e.outcome === 'failure' ? 'failure' : null, dataset: { subtype: e.subtype } },
        `${when(e.recorded_at, { timeStyle: 'medium', dateStyle: 'short' })} · ${activityName(e.subtype)}`))));
  } catch (err) {
    cell.replaceChildren(el('p', { class: 'error', role: 'alert' }, err.message));
    button.disabled = false;
  }
}

function reviewCell(grant) {
  if (grant.reviewed_at) {
    return el('td', { class: 'reviewed' },
      el('strong', null, t('breakglass.reviewed_at', { time: when(grant.reviewed_at) })),
      grant.review_note ? el('p', { class: 'note' }, grant.review_note) : null);
  }
  const note = el('input', { name: 'note', maxlength: 2000, placeholder: t('breakglass.note_hint') });
  const line = D.alertLine();
  const form = el('form', { class: 'breakglass-review' }, note,
    el('button', { type: 'submit', 'data-i18n': 'breakglass.mark_reviewed' }, t('breakglass.mark_reviewed')), line);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    line.textContent = '';
    try {
      await api('POST', `/break-glass/${grant.id}/review`, { note: note.value });
      await load();
    } catch (err) {
      D.showError(line, err);
    }
  });
  return el('td', null, form);
}

function rows(grants) {
  return grants.flatMap((g) => {
    const opened = el('td', { colspan: '7', class: 'breakglass-opened' });
    const detail = el('tr', { hidden: true, dataset: { activityOf: g.id } }, opened);
    const show = D.button('breakglass.show_opened', { class: 'show-opened' });
    show.addEventListener('click', () => {
      detail.hidden = false;
      showActivity(g, opened, show);
    });
    const patient = { family_name: g.patient_family_name, given_name: g.patient_given_name };
    return [
      el('tr', { dataset: { grant: g.id, patient: g.patient_id }, class: g.reviewed_at ? null : 'pending' },
        el('td', null, when(g.granted_at)),
        el('td', null, g.display_name, el('br'), el('small', null, `${g.username} · ${g.facility_name}`)),
        el('td', null, patientName(patient), el('br'), el('small', null, t('breakglass.patient_id', { id: g.patient_id }))),
        el('td', { class: 'reason' }, g.reason),
        el('td', null, when(g.expires_at)),
        el('td', null, show),
        reviewCell(g)),
      detail,
    ];
  });
}

async function load() {
  const pending = state.pending.checked;
  state.error.textContent = '';
  try {
    const grants = await api('GET', `/break-glass?pending=${pending}`);
    state.table.replaceChildren(
      D.header(['breakglass.when', 'breakglass.who', 'col.patient', 'breakglass.reason', 'breakglass.until',
        'breakglass.opened', 'breakglass.review']),
      el('tbody', null, rows(grants)));
    state.empty.hidden = grants.length > 0;
  } catch (err) {
    D.showError(state.error, err);
  }
}

async function open(section) {
  const pending = el('input', { type: 'checkbox', name: 'pending', checked: true });
  state = {
    pending,
    table: el('table', { id: 'break-glass-grants' }),
    empty: el('p', { class: 'empty', hidden: true, 'data-i18n': 'breakglass.none' }, t('breakglass.none')),
    error: D.alertLine(),
  };
  pending.addEventListener('change', () => load());
  section.replaceChildren(D.adminTabs('break-glass'),
    el('h2', { 'data-i18n': 'admin.tab.break_glass' }, t('admin.tab.break_glass')),
    el('p', { class: 'note', 'data-i18n': 'breakglass.help' }, t('breakglass.help')),
    el('p', { class: 'controls' }, el('label', null, pending, ' ',
      el('span', { 'data-i18n': 'breakglass.pending_only' }, t('breakglass.pending_only')))),
    state.error, state.table, state.empty);
  await load();
}

/** @type {import('../lib/ferry.js').ScreenModule} */
export const adminBreakGlassScreen = {
  open,
  close() { state = null; },
};
