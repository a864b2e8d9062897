// @ts-check
// Ferry web client: a patient's consent to sharing within the consortium
// (检查检验结果互认), on the patient's page. With it in force, the member
// facilities caring for the patient open each other's studies and
// examinations; the clinician records it from the signed form, and withdraws
// it when the patient asks.

import { api, el, t, when } from '../lib/ferry.js';
import { examinationName } from '../lib/terms.js';
import * as Patients from './patient.js';

/** @param {any} consent */
function describe(consent) {
  const scope = consent.scope === 'consortium'
    ? t('sharing.scope.consortium')
    : t('sharing.scope.named', { names: consent.facilities.map((f) => f.name).join(', ') });
  const given = consent.given_by === 'guardian'
    ? t('sharing.given.guardian', { name: consent.guardian_name || '' })
    : t('sharing.given.patient');
  return el('p', { id: 'sharing-in-force', class: 'banner ok' },
    el('strong', null, t('sharing.in_force')), ' ', scope, ' · ', given, el('br'),
    t('sharing.recorded', {
      who: consent.recorded_by_name, facility: consent.recorded_at_facility_name, when: when(consent.recorded_at),
    }),
    ' · ', t('sharing.form'), ': ', consent.form_reference);
}

/** @param {any} page @param {any} consent @param {() => Promise<void>} done */
function withdrawForm(page, consent, done) {
  const form = el('form', { id: 'sharing-withdraw', class: 'inline' },
    Patients.labelled('sharing.withdraw_reason', el('input', { name: 'reason', required: true })),
    el('button', { type: 'submit', class: 'danger', 'data-i18n': 'sharing.withdraw' }, t('sharing.withdraw')),
    Patients.errorLine('sharing-withdraw-error'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    // The consent shown is the one withdrawn: the id comes from what the
    // page drew, for this patient, not from anything typed.
    if (consent.patient_id !== page.patient.id) return;
    try {
      await api('POST', `/sharing-consents/${consent.id}/withdraw`, { reason: new FormData(form).get('reason') });
      await done();
    } catch (err) {
      form.querySelector('#sharing-withdraw-error').textContent = err.message;
    }
  });
  return form;
}

/** @param {any} page @param {() => Promise<void>} done */
async function recordForm(page, done) {
  const facilities = await page.facilities();
  const named = el('fieldset', { id: 'sharing-facilities', hidden: true },
    el('legend', null, t('sharing.facilities')),
    facilities.map((f) => el('label', { class: 'inline' },
      el('input', { type: 'checkbox', name: 'facility_ids', value: f.id }),
      ' ', Patients.facilityLabel(f.name, f.tier))));
  const scope = el('select', { name: 'scope' },
    ['consortium', 'facilities'].map((s) => el('option', { value: s }, t('sharing.scope_choice.' + s))));
  const guardian = Patients.labelled('sharing.guardian_name', el('input', { name: 'guardian_name' }));
  guardian.hidden = true;
  const givenBy = el('select', { name: 'given_by' },
    ['patient', 'guardian'].map((g) => el('option', { value: g }, t('sharing.given_choice.' + g))));
  scope.addEventListener('change', () => { named.hidden = scope.value !== 'facilities'; });
  givenBy.addEventListener('change', () => { guardian.hidden = givenBy.value !== 'guardian'; });
  const form = el('form', { id: 'sharing-form' },
    el('p', { class: 'hint', 'data-i18n': 'sharing.help' }, t('sharing.help')),
    Patients.labelled('sharing.scope', scope),
    named,
    Patients.labelled('sharing.given_by', givenBy),
    guardian,
    Patients.labelled('sharing.form_reference', el('input', { name: 'form_reference', required: true })),
    el('button', { type: 'submit', 'data-i18n': 'sharing.record' }, t('sharing.record')),
    Patients.errorLine('sharing-error'));
  const patientId = page.patient.id;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    try {
      await api('POST', `/patients/${patientId}/sharing-consents`, {
        scope: data.get('scope'),
        facility_ids: data.get('scope') === 'facilities' ? data.getAll('facility_ids').map(Number) : [],
        given_by: data.get('given_by'),
        guardian_name: data.get('given_by') === 'guardian' ? String(data.get('guardian_name') || '') : null,
        form_reference: data.get('form_reference'),
      });
      await done();
    } catch (err) {
      form.querySelector('#sharing-error').textContent = err.message;
    }
  });
  return form;
}

/**
 * The consent panel's content: the consent in force (with a way to
 * withdraw it) or, for a clinician, the form to record one; and what was
 * withdrawn before.
 * @param {any} page
 * @param {() => Promise<void>} done called after a change, to redraw the page
 */
async function consentPanel(page, done) {
  const consents = await api('GET', `/patients/${page.patient.id}/sharing-consents`);
  const inForce = consents.find((c) => c.in_force);
  const clinician = page.me.roles.includes('clinician');
  const past = consents.filter((c) => !c.in_force).map((c) => el('li', null,
    t('sharing.withdrawn', {
      when: when(c.withdrawn_at), who: c.withdrawn_by_name || '', reason: c.withdrawal_reason || '',
    })));
  return el('div', null,
    inForce ? describe(inForce) : el('p', { id: 'sharing-none', class: 'banner' }, t('sharing.none')),
    clinician ? (inForce ? withdrawForm(page, inForce, done) : await recordForm(page, done)) : null,
    past.length > 0 ? el('ul', { class: 'past' }, past) : null);
}

/**
 * What other member facilities hold about the patient: their signed
 * reports and opinions and the referrals between them, each with the
 * facility and its tier; or why they are closed.
 * @param {any} page
 */
async function elsewherePanel(page) {
  const found = await api('GET', `/patients/${page.patient.id}/elsewhere`);
  if (!found.shared) {
    return el('p', { id: 'elsewhere-closed', class: 'empty' }, t('elsewhere.' + (found.reason || 'not_shared')));
  }
  const facility = (item) => Patients.facilityLabel(item.facility_name, item.facility_tier);
  const reports = found.reports.map((r) => el('tr', { dataset: { report: r.reading_request_id } },
    el('td', null, when(r.signed_at)),
    el('td', null, facility(r)),
    el('td', null, examinationName(r.modality, r.body_part)),
    el('td', null, el('strong', null, r.impression), r.findings ? el('br') : null, r.findings),
    el('td', null, `${r.author_name} · ${r.reading_facility_name}`),
    el('td', null, el('a', { class: 'button', href: `#/studies/${r.study_instance_uid}` }, t('study.view')))));
  const opinions = found.opinions.map((o) => el('tr', { dataset: { opinion: o.consultation_id } },
    el('td', null, when(o.signed_at)),
    el('td', null, facility(o)),
    el('td', null, o.specialty),
    el('td', null, o.findings, o.diagnosis_codes.length ? ` (${o.diagnosis_codes.join(', ')})` : ''),
    el('td', null, o.author_name),
    el('td', null, t('opinion.rec.' + o.recommendation))));
  const referrals = found.referrals.map((r) => el('tr', { dataset: { referral: r.id } },
    el('td', null, when(r.created_at)),
    el('td', null, `${r.from_facility_name} → ${r.to_facility_name}`),
    el('td', null, t('referral.' + r.direction)),
    el('td', null, r.reason),
    el('td', null, t('pc.referral.status.' + r.status))));
  return el('div', null,
    el('h4', { 'data-i18n': 'elsewhere.reports' }, t('elsewhere.reports')),
    Patients.table('elsewhere-reports', ['col.date', 'exam.facility', 'exam.modality', 'elsewhere.impression', 'elsewhere.by', ''],
      reports, 'elsewhere.none'),
    el('h4', { 'data-i18n': 'elsewhere.opinions' }, t('elsewhere.opinions')),
    Patients.table('elsewhere-opinions', ['col.date', 'exam.facility', 'col.specialty', 'elsewhere.findings', 'elsewhere.by', 'elsewhere.advice'],
      opinions, 'elsewhere.none'),
    el('h4', { 'data-i18n': 'elsewhere.referrals' }, t('elsewhere.referrals')),
    Patients.table('elsewhere-referrals', ['col.date', 'elsewhere.between', 'elsewhere.direction', 'elsewhere.reason', 'col.status'],
      referrals, 'elsewhere.none'));
}

export { consentPanel, elsewherePanel };
