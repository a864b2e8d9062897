// @ts-check
// Ferry web client: one person, one patient across the consortium. At
// registration the server offers the patients who may be this person
// (409 possible_same_person); on a patient's page a clinician sees the
// records that look like the same person and joins them; a merged record
// sends its reader to the patient it was joined with.
//
// A candidate outside the caller's scope comes without its details: only
// which of the typed details agree and how many facilities hold a record.
// Proof is what the patient carries: the identity number and phone on that
// record, asked of the patient, never shown.

import { api, el, t } from '../lib/ferry.js';
import * as Patients from './patient.js';

const EVIDENCE = ['resident_id_card', 'facility_card', 'patient_statement', 'records_agree'];

function evidenceSelect() {
  return el('select', { name: 'evidence' },
    EVIDENCE.map((e) => el('option', { value: e, 'data-i18n': 'identity.evidence.' + e }, t('identity.evidence.' + e))));
}

/** @param {any} candidate */
function describe(candidate) {
  const agrees = t('identity.agrees', {
    fields: candidate.matched.map((/** @type {string} */ f) => t('identity.field.' + f)).join(t('identity.comma')),
  });
  if (candidate.patient) {
    const p = candidate.patient;
    return el('div', null,
      el('strong', null, Patients.personName(p)), ' · ', p.birth_date, ' · ', t('sex.' + p.sex), el('br'),
      p.records.map((/** @type {any} */ r) => `${r.facility_name}: ${r.record_number}`).join('; '), el('br'), agrees);
  }
  return el('div', null,
    el('strong', null, t('identity.elsewhere', { n: candidate.facilities })), el('br'), agrees);
}

/** The message for a refused join or merge, in the user's words. @param {any} err */
function identityError(err) {
  const code = err.body && err.body.error && err.body.error.code;
  if (code === 'not_same_person') return t('identity.not_same');
  if (code === 'merge_same_facility') return t('identity.same_facility');
  return err.message;
}

/**
 * Shows the candidates a registration was answered with, under the form.
 * `resend(extra)` sends the form again with `extra` added. Editing the
 * form takes the offer away: a choice applies only to the details it was
 * offered for.
 * @param {HTMLFormElement} form
 * @param {any[]} candidates
 * @param {(extra: any) => Promise<void>} resend
 */
function offerCandidates(form, candidates, resend) {
  const old = form.querySelector('#patient-candidates');
  if (old) old.remove();
  const line = Patients.errorLine('patient-candidates-error');
  const items = candidates.map((c) => {
    const evidence = evidenceSelect();
    const same = el('button', { type: 'button', 'data-i18n': 'identity.same' }, t('identity.same'));
    same.addEventListener('click', async () => {
      line.textContent = '';
      const extra = { same_person_as: c.patient_id, evidence: evidence.value };
      // A record the registrar may see gives its own identifiers back.
      if (c.patient) {
        const data = new FormData(form);
        if (!String(data.get('phone')).trim() && c.patient.phone) extra.phone = c.patient.phone;
        if (!String(data.get('national_id')).trim() && c.patient.national_id) extra.national_id = c.patient.national_id;
      }
      try {
        await resend(extra);
      } catch (err) {
        line.textContent = identityError(err);
      }
    });
    return el('li', { dataset: { candidate: c.patient_id } }, describe(c),
      el('p', { class: 'actions' }, Patients.labelled('identity.evidence', evidence), ' ', same));
  });
  const fresh = el('button', { type: 'button', id: 'patient-new-person', 'data-i18n': 'identity.new_person' },
    t('identity.new_person'));
  fresh.addEventListener('click', async () => {
    line.textContent = '';
    try {
      await resend({ new_person: true });
    } catch (err) {
      line.textContent = identityError(err);
    }
  });
  const panel = el('div', { id: 'patient-candidates', class: 'banner warn', role: 'alert' },
    el('strong', null, t('identity.candidates_title')),
    el('p', null, t('identity.candidates_help')),
    el('ul', null, items), fresh, line);
  form.appendChild(panel);
  form.addEventListener('input', () => panel.remove(), { once: true });
}

/**
 * The page of a record joined with another patient: says so and leads on.
 * @param {HTMLElement} section @param {any} patient
 */
function mergedNotice(section, patient) {
  section.replaceChildren(el('p', { id: 'patient-merged', class: 'banner' },
    t('identity.merged'), ' ',
    el('a', { class: 'button', href: `#/patients/${patient.merged_into}` }, t('identity.open_kept'))));
}

/**
 * The records that look like this patient, for a clinician of a facility
 * that registered them, each with a way to join it.
 * @param {any} page
 */
async function candidatesPanel(page) {
  const found = await api('GET', `/patients/${page.patient.id}/candidates`);
  if (found.length === 0) return el('p', { id: 'identity-none', class: 'empty' }, t('identity.none'));
  return el('ul', { id: 'identity-candidates' }, found.map((/** @type {any} */ c) => {
    const evidence = evidenceSelect();
    const nationalId = el('input', { name: 'national_id', autocomplete: 'off' });
    const phone = el('input', { name: 'phone', type: 'tel', autocomplete: 'off' });
    const line = Patients.errorLine('identity-merge-error-' + c.patient_id);
    const join = el('button', { type: 'submit', 'data-i18n': 'identity.merge' }, t('identity.merge'));
    const form = el('form', { class: 'inline' }, Patients.labelled('identity.evidence', evidence),
      c.patient ? null : Patients.labelled('identity.their_national_id', nationalId),
      c.patient ? null : Patients.labelled('identity.their_phone', phone), ' ', join, line);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      line.textContent = '';
      const body = { other_patient_id: c.patient_id, evidence: evidence.value };
      if (nationalId.value.trim()) body.national_id = nationalId.value.trim();
      if (phone.value.trim()) body.phone = phone.value.trim();
      try {
        // The patient joined is the one this page shows.
        const merge = await api('POST', `/patients/${page.patient.id}/merge`, body);
        const kept = `#/patients/${merge.kept_patient_id}`;
        if (location.hash === kept) await page.reopen();
        else location.hash = kept;
      } catch (err) {
        line.textContent = identityError(err);
      }
    });
    return el('li', { dataset: { candidate: c.patient_id } }, describe(c), form);
  }));
}

export { offerCandidates, mergedNotice, candidatesPanel };
