// @ts-check
// Ferry web client: what the upload screen (screens/upload.js) shows: the
// form, a row per file with its progress and outcome, the total, and the
// summary once nothing is left to do. All of it is painted from the
// opening's state alone, so a language switch paints it again in the new
// words without disturbing an upload under way.

import { el, t, when } from '../lib/ferry.js';
import { patientBanner, patientName } from '../lib/patient-banner.js';

// Where a file's journey ends; 'held' and 'left' files are not sent at all.
const DONE = ['stored', 'present', 'refused', 'failed'];
const NOT_SENT = ['held', 'left'];
// A mark beside each outcome's words, so that colour is not all that tells them apart.
const ICONS = { stored: '✓', present: '↷', refused: '✕', failed: '!', held: '‖', left: '–' };

function statusText(item) {
  const words = t('upload.status.' + item.status);
  return item.message && ['refused', 'failed', 'retrying'].includes(item.status)
    ? `${words}: ${item.message}` : words;
}

// A DICOM person name as a person writes it: its ideographic group if it
// has one (王^秀英 of Wang^Xiuying=王^秀英), without the separators.
function dicomName(pn) {
  const groups = pn.split('=');
  const shown = groups.find((g) => /[\u3400-\u9fff]/.test(g)) || groups[0];
  return /[\u3400-\u9fff]/.test(shown) ? shown.replace(/\^+/g, '') : shown.replace(/\^+/g, ' ').trim();
}

function about(st, item) {
  const h = item.header;
  if (!h) return t('upload.not_dicom_header');
  const parts = [
    h.patient_id !== undefined && t('upload.patient_id', { id: h.patient_id || '—' }),
    h.patient_name && dicomName(h.patient_name),
    h.modality, h.study_description,
  ].filter(Boolean).join(' · ');
  let where = null;
  if (item.status === 'held' || item.status === 'left') {
    where = el('div', { class: 'upload-where' }, t('upload.where.held'));
  } else if (st.patient) {
    where = el('div', { class: 'upload-where' }, t('upload.where.patient', { name: patientName(st.patient) }));
  } else if (item.header && item.status !== 'reading' && item.status !== 'checking') {
    where = el('div', { class: 'upload-where' }, item.where
      ? t('upload.where.patient', { name: patientName(item.where) }) : t('upload.where.unlinked'));
  }
  return [parts, where];
}

function paint(st, item) {
  if (!item.row) return;
  // A bar only for what is or was sent: a refused file is not a full bar.
  const bar = ['sending', 'retrying', 'stored', 'present'].includes(item.status)
    ? el('progress', { max: Math.max(1, item.file.size), value: item.sent })
    : null;
  const icon = ICONS[item.status];
  const status = el('span', { class: 'upload-outcome' },
    icon ? el('span', { class: 'upload-icon', 'aria-hidden': 'true' }, icon) : null,
    icon ? ' ' : null, statusText(item));
  if (item.status === 'refused') status.setAttribute('role', 'alert');
  item.row.dataset.state = item.status;
  item.row.replaceChildren(
    el('td', null, item.file.webkitRelativePath || item.file.name),
    el('td', null, about(st, item)),
    el('td', { class: 'bar' }, bar),
    el('td', { class: 'upload-status' }, status),
  );
  totals(st);
}

function count(st, status) {
  return st.items.filter((i) => i.status === status).length;
}

function totals(st) {
  const section = st.section;
  const sending = st.items.filter((i) => !NOT_SENT.includes(i.status));
  // Refused files never reach the store: they count as done, not as sent.
  const size = sending.filter((i) => i.status !== 'refused').reduce((sum, i) => sum + i.file.size, 0);
  const sent = sending.reduce((sum, i) => sum + (['stored', 'present'].includes(i.status) ? i.file.size
    : (i.status === 'refused' ? 0 : i.sent)), 0);
  const bar = section.querySelector('#upload-total');
  bar.max = Math.max(1, size);
  bar.value = sent;
  section.querySelector('#upload-total-text').textContent = t('upload.total', {
    done: count(st, 'stored') + count(st, 'present'), total: sending.length,
    refused: count(st, 'refused'), held: count(st, 'held') + count(st, 'left'), failed: count(st, 'failed'),
  });
  section.querySelector('#upload-retry').hidden = count(st, 'failed') === 0;
}

function summarize(st) {
  if (!st.laidOut || st.items.length === 0) return;
  totals(st);
  const done = st.items.every((i) => DONE.includes(i.status) || NOT_SENT.includes(i.status));
  const summary = st.section.querySelector('#upload-summary');
  summary.hidden = !done;
  if (!done) return;
  st.section.querySelector('#upload-resume').hidden = true;
  const numbers = {
    stored: count(st, 'stored'), held: count(st, 'held') + count(st, 'left'),
    refused: count(st, 'refused'), present: count(st, 'present'), failed: count(st, 'failed'),
  };
  const words = st.patient
    ? t('upload.summary.patient', { ...numbers, name: patientName(st.patient) })
    : t('upload.summary.general', numbers);
  summary.replaceChildren(el('p', { role: 'status' }, words,
    numbers.present > 0 ? ' ' + t('upload.summary.present', numbers) : '',
    numbers.failed > 0 ? ' ' + t('upload.summary.failed', numbers) : ''));
  if (st.patient) {
    summary.appendChild(el('a', { class: 'button', href: `#/patients/${st.patient.id}` },
      t('upload.back_to_patient')));
  }
}

function layout(st) {
  const { section, patient } = st;
  section.replaceChildren(
    // replaceChildren writes a null as the text "null".
    patient ? patientBanner(patient, st.me) : '',
    el('h2', { 'data-i18n': 'upload.title' }, t('upload.title')),
    el('p', { id: 'upload-resume', class: 'banner', role: 'status', hidden: true }),
    el('p', { id: 'upload-brought', role: 'status', hidden: true }),
    el('p', { id: 'upload-expected', hidden: true }),
    el('div', { id: 'upload-drop', class: 'drop' },
      el('p', { 'data-i18n': 'upload.drop' }, t('upload.drop')),
      el('label', { class: 'inline button' },
        el('span', { 'data-i18n': 'upload.pick_files' }, t('upload.pick_files')),
        el('input', { type: 'file', id: 'upload-files-input', multiple: true, class: 'visually-hidden' })),
      el('label', { class: 'inline button' },
        el('span', { 'data-i18n': 'upload.pick_folder' }, t('upload.pick_folder')),
        el('input', { type: 'file', id: 'upload-folder-input', webkitdirectory: true, multiple: true,
          class: 'visually-hidden' }))),
    el('p', { id: 'upload-error', class: 'error', role: 'alert' }),
    el('div', { id: 'upload-held', hidden: true }),
    el('div', { class: 'total' },
      el('progress', { id: 'upload-total', max: 1, value: 0 }),
      el('span', { id: 'upload-total-text', role: 'status' }),
      el('button', { id: 'upload-retry', type: 'button', hidden: true, 'data-i18n': 'upload.retry' },
        t('upload.retry'))),
    el('table', { id: 'upload-files' },
      el('thead', null, el('tr', null,
        el('th', { 'data-i18n': 'upload.col.file' }, t('upload.col.file')),
        el('th', { 'data-i18n': 'upload.col.about' }, t('upload.col.about')),
        el('th', { 'data-i18n': 'upload.col.progress' }, t('upload.col.progress')),
        el('th', { 'data-i18n': 'col.status' }, t('col.status')))),
      el('tbody')),
    el('div', { id: 'upload-summary', hidden: true }),
  );
  st.laidOut = true;
}

// The lines above the drop zone, in the current language: what Patient IDs
// this patient's files carry, an upload left unfinished, and files brought
// from another patient's page.
function notes(st) {
  const numbers = [...(st.numbers || [])];
  /** @type {HTMLElement} */
  const expected = st.section.querySelector('#upload-expected');
  expected.textContent = numbers.length > 0 ? t('upload.expected', { id: numbers.join(', ') }) : '';
  expected.hidden = numbers.length === 0;
  const saved = st.resume;
  /** @type {HTMLElement} */
  const banner = st.section.querySelector('#upload-resume');
  if (saved && !banner.hidden) {
    banner.textContent = t('upload.resume', { done: saved.done, total: saved.total, when: when(saved.at) });
  }
  const brought = st.brought;
  /** @type {HTMLElement} */
  const note = st.section.querySelector('#upload-brought');
  if (brought) {
    note.textContent = brought.fromName
      ? t('upload.brought', { n: brought.files.length, name: brought.fromName })
      : t('upload.brought_anonymous', { n: brought.files.length });
    note.hidden = false;
  }
}

export { DONE, NOT_SENT, paint, summarize, layout, notes };
