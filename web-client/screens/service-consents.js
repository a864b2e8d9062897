// @ts-check
// Ferry web client: the patient's consents to a service, on its page: to a
// teleconsultation (远程会诊知情同意) and the recording of its call on the
// case page (consultation.js), to a remote reading on the request's page
// (report.js). The asking facility's clinicians record each from the
// signed form and withdraw it when the patient asks; the expert or the
// radiologist reads them. When the consortium requires it, the call waits
// for the consent to the teleconsultation (`/…/{id}/consents`).

import { api, el, t, when } from '../lib/ferry.js';
import * as Patients from './patient.js';

/**
 * A service whose consents a page shows.
 * @typedef {{
 *   path: string, kinds: string[], patientId: number | null, recorder: boolean
 * }} Service
 *   `path` is the service's API path (`/consultations/7`); `kinds` the
 *   consents it takes; `recorder` whether this user records and withdraws
 *   them now (a clinician of the asking facility, the service still open).
 */

/** @param {any} consent */
function given(consent) {
  return consent.given_by === 'guardian'
    ? t('call.patient_consent.guardian', { name: consent.guardian_name || '' })
    : t('call.patient_consent.patient');
}

/**
 * One consent: its kind, who gave it, who recorded it and the form; or,
 * withdrawn, when and why.
 * @param {any} consent
 * @param {HTMLElement | null} control
 */
function item(consent, control) {
  const recorded = t('case.consent.recorded', {
    who: consent.recorded_by_name, facility: consent.recorded_at_facility_name, when: when(consent.recorded_at),
  });
  const state = consent.in_force
    ? el('span', { class: 'status status-completed' }, t('case.consent.in_force'))
    : el('span', { class: 'muted' }, t('case.consent.withdrawn', {
      when: when(consent.withdrawn_at), who: consent.withdrawn_by_name || '', reason: consent.withdrawal_reason || '',
    }));
  return el('li', { dataset: { consent: consent.id, kind: consent.kind } },
    el('strong', null, t('case.consent.kind.' + consent.kind)), ' · ', given(consent), ' · ', state,
    el('br'), el('span', { class: 'muted' }, recorded, ' · ', t('case.consent.form'), ': ', consent.form_reference),
    control);
}

/**
 * Fills `box` with a service's consents and, for `service.recorder`, the
 * forms to record and withdraw them. Shows nothing to those who may not
 * read them (the server answers 403 or 404).
 * @param {HTMLElement} box
 * @param {Service} service
 * @param {(fn: () => Promise<unknown>) => Promise<void>} act the page's way
 *   of running a step (refused if the page shows another patient by now)
 * @returns {Promise<void>}
 */
async function mountConsents(box, service, act) {
  let consents;
  try {
    consents = await api('GET', `${service.path}/consents`);
  } catch {
    box.replaceChildren();
    return;
  }
  const withdraw = (/** @type {any} */ consent) => {
    if (!service.recorder || !consent.in_force) return null;
    const reason = el('input', { name: 'reason', required: true, maxlength: 500, 'aria-label': t('case.consent.withdraw_reason') });
    reason.placeholder = t('case.consent.withdraw_reason');
    const form = el('form', { class: 'inline-form consent-withdraw' }, reason, ' ',
      el('button', { type: 'submit', class: 'danger' }, t('case.consent.withdraw')));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      // The consent withdrawn is the one this page drew for this case.
      act(() => api('POST', `/care-consents/${consent.id}/withdraw`, { reason: reason.value }));
    });
    return form;
  };
  const list = el('ul', { class: 'consents consent-list' },
    ...consents.map((/** @type {any} */ consent) => item(consent, withdraw(consent))));
  if (!consents.length) list.append(el('li', { class: 'muted none' }, t('case.consent.none')));
  const missing = service.kinds.filter((kind) => !consents.some((/** @type {any} */ k) => k.kind === kind && k.in_force));
  box.replaceChildren(el('h3', null, t('case.consents')), list,
    service.recorder && missing.length ? recordForm(service, missing, act) : '');
}

/**
 * The form to record a consent of one of the kinds not in force.
 * @param {Service} service
 * @param {string[]} kinds
 * @param {(fn: () => Promise<unknown>) => Promise<void>} act
 */
function recordForm(service, kinds, act) {
  const kind = el('select', { name: 'kind' }, kinds.map((k) => el('option', { value: k }, t('case.consent.kind.' + k))));
  const givenBy = el('select', { name: 'given_by' },
    ['patient', 'guardian'].map((g) => el('option', { value: g }, t('case.consent.given_choice.' + g))));
  const guardian = Patients.labelled('case.consent.guardian_name', el('input', { name: 'guardian_name', maxlength: 100 }));
  guardian.hidden = true;
  givenBy.addEventListener('change', () => { guardian.hidden = givenBy.value !== 'guardian'; });
  const form = el('form', { class: 'consent-form' },
    el('p', { class: 'hint' }, t('case.consent.help')),
    Patients.labelled('case.consent.kind', kind),
    Patients.labelled('case.consent.given_by', givenBy),
    guardian,
    Patients.labelled('case.consent.form_reference', el('input', { name: 'form_reference', required: true, maxlength: 500 })),
    el('button', { type: 'submit' }, t('case.consent.record')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    act(() => api('POST', `${service.path}/consents`, {
      kind: data.get('kind'),
      given_by: data.get('given_by'),
      guardian_name: data.get('given_by') === 'guardian' ? String(data.get('guardian_name') || '') : null,
      form_reference: data.get('form_reference'),
      ...(service.patientId ? { patient_id: service.patientId } : {}),
    }));
  });
  return form;
}

export { mountConsents };
