// @ts-check
// Ferry web client: images waiting for a patient, on a clinician's home
// page. A study the clinic's modality sent with a Patient ID that is no
// record number here, and naming no order, is filed under nobody; the
// clinician finds the patient and files it. The chosen patient is shown
// beside what the images say before anything is sent, so a study is never
// filed under a patient other than the one on screen.

import { api, el, t } from '../lib/ferry.js';
import { HOME_ASKS } from './index.js';

/** DICOM `YYYYMMDD` as `YYYY-MM-DD`. */
function date(text) {
  return text && text.length === 8 ? `${text.slice(0, 4)}-${text.slice(4, 6)}-${text.slice(6)}` : (text || '');
}

/** A DICOM person name as people write it: `Wang^Xiuying=王^秀英` → `王秀英 (Wang Xiuying)`. */
function personName(pn) {
  if (!pn) return '';
  const [latin, ideographic] = pn.split('=');
  const join = (/** @type {string} */ group) => group.split('^').filter(Boolean).join(' ');
  return ideographic ? `${ideographic.split('^').join('')} (${join(latin)})` : join(latin);
}

/**
 * One waiting study: what its images say, and the way to file it.
 * @param {any} study
 * @param {() => void} done called once the study is filed
 */
function row(study, done) {
  const error = el('p', { class: 'error', role: 'alert' });
  const input = el('input', { name: 'q', required: true, 'data-i18n-placeholder': 'patients.search', placeholder: t('patients.search') });
  const choice = el('select', { name: 'patient', hidden: true });
  const file = el('button', { type: 'button', class: 'file-study', hidden: true, 'data-i18n': 'unlinked.file' }, t('unlinked.file'));
  const find = el('form', { class: 'find-patient' }, input,
    el('button', { type: 'submit', 'data-i18n': 'unlinked.find' }, t('unlinked.find')));
  find.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    try {
      const found = await api('GET', '/patients?q=' + encodeURIComponent(input.value));
      choice.replaceChildren(...found.map((/** @type {any} */ p) => el('option', { value: String(p.id) },
        `${p.family_name}${p.given_name} · ${p.sex} · ${p.birth_date} · ${p.records.map((/** @type {any} */ r) => r.record_number).join(', ')}`)));
      choice.hidden = found.length === 0;
      file.hidden = found.length === 0;
      if (found.length === 0) error.textContent = t('unlinked.no_match');
    } catch (err) {
      error.textContent = err.message;
    }
  });
  file.addEventListener('click', async () => {
    const option = choice.selectedOptions[0];
    if (!option) return;
    // Both names side by side before the study moves to the patient.
    if (!window.confirm(t('unlinked.confirm', { images: personName(study.patient_name) || study.dicom_patient_id, patient: option.textContent }))) return;
    try {
      await api('POST', `/unlinked-studies/${encodeURIComponent(study.study_instance_uid)}/file`, { patient_id: Number(option.value) });
      done();
    } catch (err) {
      error.textContent = err.message;
    }
  });
  return el('tr', { dataset: { study: study.study_instance_uid } },
    el('td', null, personName(study.patient_name), el('br'), el('span', { class: 'muted' }, study.dicom_patient_id)),
    el('td', null, date(study.patient_birth_date)),
    el('td', null, date(study.study_date)),
    el('td', null, (study.modalities || '').split('\\').join(', '), ' · ', String(study.instances)),
    el('td', null, find, choice, file, error));
}

/**
 * Fills the home page panel with the caller's facility's waiting studies.
 * @param {HTMLElement} body
 */
async function unlinkedStudies(body) {
  const studies = await api('GET', HOME_ASKS.unlinked);
  if (studies.length === 0) {
    body.replaceChildren(el('p', { class: 'muted empty', 'data-i18n': 'home.unlinked_none' }, t('home.unlinked_none')));
    return;
  }
  const rows = studies.map((/** @type {any} */ s) => row(s, () => unlinkedStudies(body)));
  body.replaceChildren(el('table', { id: 'unlinked' },
    el('thead', null, el('tr', null,
      ...['unlinked.carried', 'col.born', 'col.date', 'unlinked.images', 'unlinked.patient'].map((k) => el('th', { 'data-i18n': k }, t(k))))),
    el('tbody', null, ...rows)));
}

export { unlinkedStudies, personName };
