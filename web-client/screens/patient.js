// @ts-check
// Ferry web client: a patient's page (finding and registering one is
// screens/patient-search.js): records,
// examinations (with the consortium's duplicate warning), studies, and
// consultations; reading requests, referrals and critical results come from
// patient-care.js.

import { api, el, prefetch, t, when } from '../lib/ferry.js';
import { boundTo, patientBanner } from '../lib/patient-banner.js';
import { bodyPartName, bodyPartOptions, modalityName, specialtyName } from '../lib/terms.js';
import * as PatientCare from './patient-care.js';
import * as PatientSharing from './patient-sharing.js';
import * as PatientIdentity from './patient-identity.js';
import { patientEarly } from './index.js';

const MODALITIES = ['CT', 'MR', 'CR', 'DX', 'US', 'ECG', 'MG', 'XA', 'NM', 'PT', 'OT'];

// Chinese names run together; others keep a space.
function personName(p) {
  const cjk = /[\u3400-\u9fff]/.test(p.family_name + p.given_name);
  return cjk ? `${p.family_name}${p.given_name}` : `${p.family_name} ${p.given_name}`.trim();
}

function table(id, headings, rows, empty) {
  return el('div', null,
    el('table', { id },
      el('thead', null, el('tr', null, headings.map((h) => el('th', null, h ? t(h) : '')))),
      el('tbody', null, rows)),
    rows.length === 0 ? el('p', { class: 'empty' }, t(empty)) : null);
}

function labelled(key, control) {
  return el('label', null, el('span', { 'data-i18n': key }, t(key)), ' ', control);
}

function errorLine(id) {
  return el('p', { id, class: 'error', role: 'alert' });
}

// Finding and registering patients: screens/patient-search.js.

// ---- One patient --------------------------------------------------------

function examinationRows(exams) {
  return exams.map((e) => el('tr', { dataset: { examination: e.id } },
    el('td', null, e.date),
    el('td', null, e.modality),
    el('td', null, bodyPartName(e.body_part)),
    el('td', null, facilityLabel(e.facility_name, e.facility_tier)),
    el('td', null, t('exam.' + e.status)),
    el('td', null, e.repeat_reason || '')));
}

/** Whether the earlier result counts under the consortium's rules (互认). */
function recognitionLine(recognition) {
  if (!recognition) return null;
  if (recognition.recognised) {
    return el('strong', { id: 'exam-recognition', class: 'recognised', dataset: { recognised: 'true' } },
      t('exam.recognised', { until: when(recognition.valid_until) }));
  }
  return el('span', { id: 'exam-recognition', dataset: { recognised: 'false' } },
    t('exam.not_recognised.' + (recognition.reason || 'no_rule')));
}

function examinationForm(page) {
  const repeat = el('div', { id: 'exam-repeat', hidden: true },
    el('p', { id: 'exam-duplicate', class: 'banner', role: 'alert' }),
    labelled('exam.repeat_reason', el('input', { name: 'repeat_reason' })),
    el('button', { type: 'button', id: 'exam-repeat-submit', 'data-i18n': 'exam.ask_anyway' }, t('exam.ask_anyway')));
  const form = el('form', { id: 'exam-form' },
    // Each modality by its name (data-i18n, so a relabelled page names it
    // anew); the DICOM code is what is sent.
    labelled('exam.modality', el('select', { name: 'modality' }, MODALITIES.map((m) =>
      el('option', { value: m, 'data-i18n': `term.modality.${m}` }, modalityName(m))))),
    labelled('exam.body_part', el('input', { name: 'body_part', list: 'exam-body-parts', required: true })),
    el('datalist', { id: 'exam-body-parts' }, bodyPartOptions()),
    el('button', { type: 'submit', 'data-i18n': 'exam.ask' }, t('exam.ask')),
    repeat,
    errorLine('exam-error'));
  async function ask(repeatReason) {
    const data = new FormData(form);
    const error = form.querySelector('#exam-error');
    error.textContent = '';
    // The form is this page's patient's; sent from a page now showing
    // another (or none), it sends nothing.
    if (!boundTo(page.section, page.patient.id)) {
      error.textContent = t('banner.changed');
      return;
    }
    try {
      await api('POST', `/patients/${page.patient.id}/examinations`, {
        modality: data.get('modality'),
        body_part: String(data.get('body_part')).trim().toUpperCase(),
        repeat_reason: repeatReason,
      });
      repeat.hidden = true;
      form.reset();
      await page.refresh.examinations();
    } catch (err) {
      if (err.body && err.body.error && err.body.error.code === 'duplicate_examination') {
        // An examination asked for in Ferry, or images a modality sent
        // straight in (`study`): both say what, where and when.
        const existing = err.body.error.details.existing || err.body.error.details.study || {};
        const prior = err.body.error.details.prior || {};
        repeat.querySelector('#exam-duplicate').replaceChildren(
          el('strong', null, err.message), el('br'),
          t('exam.duplicate', {
            modality: existing.modality, body_part: existing.body_part,
            facility: facilityLabel(existing.facility_name, existing.facility_tier),
            date: existing.date, status: t(existing.status ? 'exam.' + existing.status : 'exam.stored'),
          }), el('br'),
          recognitionLine(prior.recognition), el('br'),
          prior.readable
            ? el('a', { class: 'button', id: 'exam-open-prior', href: `#/studies/${prior.study_instance_uid}` }, t('exam.open_prior'))
            : el('span', { id: 'exam-prior-closed' }, t('exam.prior.' + (prior.reason || 'out_of_reach'))));
        repeat.hidden = false;
      } else {
        error.textContent = err.message;
      }
    }
  }
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    ask(null);
  });
  repeat.querySelector('#exam-repeat-submit').addEventListener('click', () => {
    ask(String(new FormData(form).get('repeat_reason') || ''));
  });
  return form;
}

/**
 * The patient's studies from every facility the caller may read, newest
 * first. The server finds them by patient, not by DICOM Patient ID: a
 * record number is one facility's own, and another facility may have given
 * the same one to someone else.
 * @param {any} patient
 * @returns {Promise<any[]>} PatientStudy objects (see the OpenAPI document)
 */
async function studiesOf(patient) {
  return api('GET', `/patients/${patient.id}/studies`);
}

/** A facility with its tier, as the consortium names them. */
function facilityLabel(name, tier) {
  return tier ? `${name} (${t('pc.tier.' + tier)})` : name;
}

function dicomDate(text) {
  return /^\d{8}$/.test(text) ? `${text.slice(0, 4)}-${text.slice(4, 6)}-${text.slice(6)}` : text;
}

function studyRows(page, studies) {
  return studies.map((s) => {
    const uid = s.study_instance_uid;
    const modalities = String(s.modalities || '').split('\\').filter(Boolean).join(', ');
    const row = el('tr', { dataset: { study: uid, access: s.access } },
      el('td', null, dicomDate(s.study_date || '')),
      el('td', null, modalities),
      el('td', null, s.description || ''),
      el('td', null, String(s.instances)),
      el('td', null, facilityLabel(s.facility_name, s.facility_tier),
        s.access === 'facility' ? '' : el('small', { class: 'basis' }, ' · ' + t('study.access.' + s.access))),
      el('td', { class: 'uid' }, uid));
    const actions = el('td', null, el('a', { class: 'button', href: `#/studies/${uid}` }, t('study.view')), ' ');
    if (page.me.roles.includes('clinician')) {
      actions.appendChild(PatientCare.readingButton(page, uid, modalities.split(', ')[0] || ''));
    }
    row.appendChild(actions);
    return row;
  });
}

function consultationRows(consultations) {
  return consultations.map((c) => {
    const links = el('td', null, el('a', { href: `#/consultations/${c.id}` }, t('patient.open')));
    if (c.status === 'requested' && c.urgency === 'routine') {
      links.append(' ', el('a', { class: 'button', href: `#/consultations/${c.id}/book` }, t('patient.book')));
    }
    if (['scheduled', 'in_progress'].includes(c.status)) {
      links.append(' ', el('a', { class: 'button', href: `#/consultations/${c.id}/call` }, t('consultation.join')));
    }
    return el('tr', { dataset: { consultation: c.id } },
      el('td', null, when(c.created_at)),
      el('td', null, specialtyName(c.specialty)),
      el('td', null, t('urgency.' + c.urgency)),
      el('td', null, c.expert_name || ''),
      el('td', null, t('status.' + c.status)),
      links);
  });
}

function panel(id, titleKey, ...children) {
  return el('section', { id, class: 'panel' }, el('h3', { 'data-i18n': titleKey }, t(titleKey)), ...children);
}

async function fill(container, load) {
  try {
    container.replaceChildren(await load());
  } catch (err) {
    container.replaceChildren(el('p', { class: 'error', role: 'alert' }, err.message));
  }
}

function breakGlass(section, id) {
  const form = el('form', { id: 'break-glass' },
    el('p', { 'data-i18n': 'patient.break_glass_help' }, t('patient.break_glass_help')),
    labelled('patient.break_glass_reason', el('input', { name: 'reason', required: true, minlength: 10 })),
    el('button', { type: 'submit', class: 'danger', 'data-i18n': 'patient.break_glass' }, t('patient.break_glass')),
    errorLine('break-glass-error'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await api('POST', '/break-glass', { patient_id: id, reason: new FormData(form).get('reason') });
      window.dispatchEvent(new HashChangeEvent('hashchange'));
    } catch (err) {
      form.querySelector('#break-glass-error').textContent = err.message;
    }
  });
  section.appendChild(form);
}

function header(page) {
  const p = page.patient;
  const clinician = page.me.roles.includes('clinician');
  return el('div', { class: 'patient-header' },
    patientBanner(p, page.me),
    el('h2', { id: 'patient-name' }, personName(p)),
    el('p', null, [t('sex.' + p.sex), p.birth_date, p.national_id, p.phone].filter(Boolean).join(' · ')),
    el('table', { id: 'patient-records' },
      el('thead', null, el('tr', null,
        el('th', { 'data-i18n': 'col.name' }, t('col.name')),
        el('th', { 'data-i18n': 'patient.record_number' }, t('patient.record_number')))),
      el('tbody', null, p.records.map((r) => el('tr', null, el('td', null, r.facility_name), el('td', null, r.record_number))))),
    clinician ? el('p', { class: 'actions' },
      el('a', { class: 'button', id: 'patient-upload', href: `#/patients/${p.id}/upload` }, t('patient.upload')),
      el('a', { class: 'button', id: 'patient-consult', href: `#/patients/${p.id}/consult` }, t('patient.consult'))) : null);
}

async function openPatient(section, id, me) {
  section.replaceChildren(el('p', null, t('patient.loading')));
  // Every panel's first answer is asked for now, not after the banner's
  // and the studies' (on an island link each wait in a row is 400 ms).
  for (const path of patientEarly(id, me.roles)) prefetch(path);
  let patient;
  try {
    patient = await api('GET', `/patients/${id}`);
  } catch (err) {
    section.replaceChildren(el('p', { class: 'error', role: 'alert' }, err.message));
    if (err.status === 403 && me.roles.includes('clinician')) breakGlass(section, id);
    return;
  }
  if (patient.merged_into) {
    PatientIdentity.mergedNotice(section, patient);
    return;
  }
  /** @type {Promise<any[]> | null} */
  let facilities = null;
  const page = {
    patient, me, section, refresh: {}, reopen: () => openPatient(section, id, me),
    // The consortium's members, asked for once by whichever form wants them first.
    facilities: () => (facilities = facilities || api('GET', '/facilities')),
  };
  const sharing = el('div');
  const elsewhere = el('div');
  const exams = el('div');
  const studies = el('div');
  const consultations = el('div');
  const clinician = me.roles.includes('clinician');
  section.replaceChildren(
    header(page),
    panel('patient-sharing', 'patient.sharing', sharing),
    panel('patient-studies', 'patient.studies', studies),
    panel('patient-elsewhere', 'patient.elsewhere', elsewhere),
    panel('patient-consultations', 'patient.consultations', consultations),
    panel('patient-examinations', 'patient.examinations', exams, clinician ? examinationForm(page) : null),
  );
  let examList = [];
  page.refresh.examinations = () => fill(exams, async () => {
    examList = await api('GET', `/patients/${id}/examinations`);
    return table('examinations', ['col.date', 'exam.modality', 'exam.body_part', 'exam.facility', 'col.status', 'exam.repeat_reason'],
      examinationRows(examList), 'patient.no_examinations');
  });
  let consultationList = [];
  page.refresh.consultations = () => fill(consultations, async () => {
    consultationList = await api('GET', `/consultations?patient_id=${id}`);
    return table('consultations-of-patient', ['col.date', 'col.specialty', 'col.urgency', 'col.with', 'col.status', ''],
      consultationRows(consultationList), 'patient.no_consultations');
  });
  // Every panel asks at once: on an island link each wait in a row costs a
  // 400 ms round trip.
  const listed = Promise.all([page.refresh.examinations(), page.refresh.consultations()]);
  page.refresh.studies = () => fill(studies, async () => {
    page.studies = await studiesOf(patient);
    return table('studies', ['col.date', 'study.modalities', 'study.description', 'study.instances', 'exam.facility', 'study.uid', ''],
      studyRows(page, page.studies), 'patient.no_studies');
  });
  const studied = page.refresh.studies();
  // A consent recorded or withdrawn changes what the other panels may show.
  page.refresh.elsewhere = () => fill(elsewhere, () => PatientSharing.elsewherePanel(page));
  page.refresh.sharing = () => fill(sharing, () => PatientSharing.consentPanel(page, async () => {
    await Promise.all([page.refresh.sharing(), page.refresh.examinations(), page.refresh.studies(),
      page.refresh.elsewhere()]);
  }));
  const shared = Promise.all([page.refresh.sharing(), page.refresh.elsewhere()]);
  // Records that look like this person, for a facility that registered them.
  let identified = null;
  if (clinician && patient.records.some((r) => r.facility_id === me.facility_id)) {
    const identity = el('div');
    section.appendChild(panel('patient-identity', 'identity.panel', identity));
    identified = fill(identity, () => PatientIdentity.candidatesPanel(page));
  }
  // The care panels pick this patient's readings by page.studies.
  await studied;
  if (clinician) {
    await PatientCare.open(page);
  }
  await Promise.all([listed, shared, identified]);
}

// A language switch opens the page again through the shell (app.js).
/** @type {import('../lib/ferry.js').ScreenModule} */
export const patientScreen = {
  async open(section, match, me) {
    await openPatient(section, Number(match[1]), me);
  },
};

export { personName, studiesOf, dicomDate, facilityLabel, labelled, errorLine, table };
