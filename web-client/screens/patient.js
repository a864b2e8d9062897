// @ts-check
// Ferry web client: patients. Finding one anywhere in the caller's scope,
// registering one at the caller's facility, and a patient's page: records,
// examinations (with the consortium's duplicate warning), studies, and
// consultations; reading requests, referrals and critical results come from
// patient-care.js.

import { api, el, t, when } from '../lib/ferry.js';
import * as PatientCare from './patient-care.js';
import * as PatientSharing from './patient-sharing.js';
import * as PatientIdentity from './patient-identity.js';

const CARE = ['clinician', 'expert', 'radiologist'];
const MODALITIES = ['CT', 'MR', 'CR', 'DX', 'US', 'ECG', 'MG', 'XA', 'NM', 'PT', 'OT'];
const BODY_PARTS = ['HEAD', 'CHEST', 'ABDOMEN', 'PELVIS', 'SPINE', 'HEART', 'EXTREMITY', 'NECK'];

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

// ---- Finding and registering --------------------------------------------

function patientRows(patients) {
  return patients.map((p) => el('tr', { dataset: { patient: p.id } },
    el('td', null, el('a', { href: `#/patients/${p.id}` }, personName(p))),
    el('td', null, t('sex.' + p.sex)),
    el('td', null, p.birth_date),
    el('td', null, p.national_id || ''),
    el('td', null, p.records.map((r) => `${r.facility_name}: ${r.record_number}`).join('; '))));
}

async function search(section, q) {
  const out = section.querySelector('#patients-results');
  const error = section.querySelector('#patients-search-error');
  error.textContent = '';
  try {
    const patients = await api('GET', '/patients?q=' + encodeURIComponent(q));
    out.replaceChildren(table('patients-found',
      ['col.person', 'col.sex', 'col.born', 'patient.national_id', 'col.records'],
      patientRows(patients), 'patients.none'));
  } catch (err) {
    error.textContent = err.message;
  }
}

// The server's reasons for refusing a national ID (`invalid_national_id`),
// each with words of its own: the English message alone would leave a
// Chinese-speaking registrar guessing which digit to look at.
const NATIONAL_ID_REASONS = {
  length: 'patient.national_id.length',
  characters: 'patient.national_id.characters',
  birth_date: 'patient.national_id.birth_date',
  check_digit: 'patient.national_id.check_digit',
};

/**
 * What to show for a failed registration or correction.
 * @param {import('../lib/ferry.js').ApiFailure} err
 */
function patientError(err) {
  const error = err.body && err.body.error;
  if (!error || error.code !== 'invalid_national_id') return err.message;
  const reason = error.details && error.details.reason;
  return t(Object.hasOwn(NATIONAL_ID_REASONS, reason) ? NATIONAL_ID_REASONS[reason] : 'patient.national_id.invalid');
}

function registerForm(section) {
  const form = el('form', { id: 'patient-register' },
    el('h3', { 'data-i18n': 'patient.register' }, t('patient.register')),
    labelled('patient.family_name', el('input', { name: 'family_name', required: true, autocomplete: 'off' })),
    labelled('patient.given_name', el('input', { name: 'given_name', autocomplete: 'off' })),
    labelled('col.sex', el('select', { name: 'sex' },
      ['female', 'male', 'other', 'unknown'].map((s) => el('option', { value: s, 'data-i18n': 'sex.' + s }, t('sex.' + s))))),
    labelled('col.born', el('input', { name: 'birth_date', type: 'date', required: true })),
    labelled('patient.national_id', el('input', {
      name: 'national_id', autocomplete: 'off', placeholder: '11010519491231002X',
    })),
    labelled('patient.phone', el('input', { name: 'phone', type: 'tel', autocomplete: 'off' })),
    labelled('patient.record_number', el('input', { name: 'record_number', required: true, autocomplete: 'off' })),
    el('button', { type: 'submit', 'data-i18n': 'patient.register_button' }, t('patient.register_button')),
    errorLine('patient-register-error'));
  // Sends the form as it reads now, with `extra` (a choice among the
  // candidates the consortium offered) added.
  const send = async (extra) => {
    const data = new FormData(form);
    const national = String(data.get('national_id')).trim();
    const patient = await api('POST', '/patients', {
      family_name: data.get('family_name'),
      given_name: data.get('given_name'),
      sex: data.get('sex'),
      birth_date: data.get('birth_date'),
      national_id: national || null,
      phone: data.get('phone'),
      record_number: data.get('record_number'),
      ...extra,
    });
    location.hash = `#/patients/${patient.id}`;
  };
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const error = form.querySelector('#patient-register-error');
    error.textContent = '';
    try {
      await send({});
    } catch (err) {
      const refused = err.body && err.body.error;
      if (refused && refused.code === 'possible_same_person') {
        PatientIdentity.offerCandidates(form, refused.details.candidates, send);
      } else {
        error.textContent = patientError(err);
      }
    }
  });
  section.appendChild(form);
}

/** @type {import('../lib/ferry.js').Screen} */
export const patientsScreen = {
  name: 'patients',
  path: /^#\/patients(?:\?q=(.*))?$/,
  roles: CARE,
  nav: { key: 'nav.patients', href: '#/patients' },
  async open(section, match, me) {
    const form = el('form', { id: 'patients-search' },
      labelled('patients.search', el('input', { name: 'q', required: true, type: 'search' })),
      el('button', { type: 'submit', 'data-i18n': 'patients.find' }, t('patients.find')));
    section.replaceChildren(
      el('h2', { 'data-i18n': 'home.patients' }, t('home.patients')),
      form, errorLine('patients-search-error'), el('div', { id: 'patients-results' }));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      search(section, new FormData(form).get('q'));
    });
    if (match[1]) {
      const q = decodeURIComponent(match[1]);
      form.elements.q.value = q;
      await search(section, q);
    }
    if (me.roles.includes('clinician')) registerForm(section);
  },
};

// ---- One patient --------------------------------------------------------

function examinationRows(exams) {
  return exams.map((e) => el('tr', { dataset: { examination: e.id } },
    el('td', null, e.date),
    el('td', null, e.modality),
    el('td', null, e.body_part),
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
    labelled('exam.modality', el('select', { name: 'modality' }, MODALITIES.map((m) => el('option', { value: m }, m)))),
    labelled('exam.body_part', el('input', { name: 'body_part', list: 'exam-body-parts', required: true })),
    el('datalist', { id: 'exam-body-parts' }, BODY_PARTS.map((b) => el('option', { value: b }))),
    el('button', { type: 'submit', 'data-i18n': 'exam.ask' }, t('exam.ask')),
    repeat,
    errorLine('exam-error'));
  async function ask(repeatReason) {
    const data = new FormData(form);
    const error = form.querySelector('#exam-error');
    error.textContent = '';
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
      el('td', null, c.specialty),
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
  const page = { patient, me, section, refresh: {}, reopen: () => openPatient(section, id, me) };
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
  await Promise.all([page.refresh.examinations(), page.refresh.consultations()]);
  page.refresh.studies = () => fill(studies, async () => {
    page.studies = await studiesOf(patient);
    return table('studies', ['col.date', 'study.modalities', 'study.description', 'study.instances', 'exam.facility', 'study.uid', ''],
      studyRows(page, page.studies), 'patient.no_studies');
  });
  await page.refresh.studies();
  // A consent recorded or withdrawn changes what the other panels may show.
  page.refresh.elsewhere = () => fill(elsewhere, () => PatientSharing.elsewherePanel(page));
  page.refresh.sharing = () => fill(sharing, () => PatientSharing.consentPanel(page, async () => {
    await Promise.all([page.refresh.sharing(), page.refresh.examinations(), page.refresh.studies(),
      page.refresh.elsewhere()]);
  }));
  await Promise.all([page.refresh.sharing(), page.refresh.elsewhere()]);
  // Records that look like this person, for a facility that registered them.
  if (clinician && patient.records.some((r) => r.facility_id === me.facility_id)) {
    const identity = el('div');
    section.appendChild(panel('patient-identity', 'identity.panel', identity));
    await fill(identity, () => PatientIdentity.candidatesPanel(page));
  }
  if (clinician) {
    await PatientCare.open(page);
  }
}

let language = null;

/** @type {import('../lib/ferry.js').Screen} */
export const patientScreen = {
  name: 'patient',
  path: /^#\/patients\/(\d+)$/,
  roles: CARE,
  async open(section, match, me) {
    language = () => openPatient(section, Number(match[1]), me);
    document.addEventListener('ferry:language', language);
    await openPatient(section, Number(match[1]), me);
  },
  close() {
    document.removeEventListener('ferry:language', language);
  },
};

export { personName, studiesOf, dicomDate, facilityLabel, labelled, errorLine, table };
