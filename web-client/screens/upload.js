// @ts-check
// Ferry web client: uploading a study from the clinic, by STOW-RS.
//
// Files come from a drop (files or whole folders), a file picker or a folder
// picker. Each instance is its own request, so each has its own progress bar
// and a failure costs one instance, not the study. Over a poor link:
// - a request that fails for want of the link or the server (no answer,
//   5xx, a processing failure) is tried again with a growing pause, and at
//   once when the browser says it is back online;
// - a refusal of the file itself (4xx, or a failure reason other than a
//   processing failure) is shown with the server's reason and not retried;
// - before anything is sent, and again before each retry, the server is asked
//   (QIDO-RS, by SOP Instance UID read from the file's header) which
//   instances it holds already: those are not sent again. So a reload, or
//   dropping the same folder on another day or another computer, resumes the
//   upload where the server's own record says it stopped. localStorage only
//   remembers that an upload was left unfinished, to tell the user.

import * as DicomHeader from '../lib/dicom-header.js';
import { api, el, t, when } from '../lib/ferry.js';
import { droppedFiles, held, send } from '../lib/stow.js';

const PARALLEL = 2;
const PAUSES = [1, 2, 4, 8, 16, 30];
const STORAGE_PREFIX = 'ferry.upload.';

let state = null;

// Rows carry translated words: paint them again in the new language.
function relabel() {
  if (!state) return;
  for (const item of state.items) paint(item);
  summarize();
}

function storageKey(me) {
  return STORAGE_PREFIX + me.id;
}

function remember() {
  if (!state) return;
  const unfinished = state.items.filter((i) => !['stored', 'present', 'refused'].includes(i.status));
  if (unfinished.length === 0) {
    localStorage.removeItem(storageKey(state.me));
    return;
  }
  localStorage.setItem(storageKey(state.me), JSON.stringify({
    patient_id: state.patient ? state.patient.id : null,
    at: new Date().toISOString(),
    total: state.items.length,
    done: state.items.length - unfinished.length,
    files: unfinished.slice(0, 200).map((i) => i.file.name),
  }));
}

function pause(item, seconds) {
  return new Promise((resolve) => {
    let timer = null;
    const done = () => {
      clearTimeout(timer);
      window.removeEventListener('online', done);
      item.wake = null;
      resolve();
    };
    item.wake = done;
    timer = setTimeout(done, seconds * 1000);
    window.addEventListener('online', done);
  });
}

async function upload(item) {
  for (let attempt = 0; ; attempt += 1) {
    if (!state || state.stopped) return;
    item.status = 'sending';
    item.sent = 0;
    paint(item);
    const result = await send(item, () => paint(item));
    if (result.kind === 'aborted') return;
    if (result.kind === 'stored') {
      item.status = 'stored';
      item.sent = item.file.size;
      break;
    }
    if (result.kind === 'refused') {
      item.status = 'refused';
      item.message = result.message;
      break;
    }
    if (attempt >= PAUSES.length) {
      item.status = 'failed';
      item.message = result.message;
      break;
    }
    const seconds = PAUSES[attempt] * (0.75 + Math.random() / 2);
    item.status = 'retrying';
    item.message = t('upload.retrying', { reason: result.message, seconds: Math.round(seconds) });
    paint(item);
    await pause(item, navigator.onLine ? seconds : Math.max(seconds, 30));
    // The lost answer may have been a success: ask before sending again.
    if (item.header && item.header.sop_instance_uid) {
      try {
        if ((await held([item.header.sop_instance_uid])).size > 0) {
          item.status = 'present';
          item.sent = item.file.size;
          break;
        }
      } catch (_) {
        // Still no link: the next attempt will tell.
      }
    }
  }
  paint(item);
  remember();
}

async function run() {
  const queue = state.items.filter((i) => i.status === 'queued');
  const workers = [];
  for (let n = 0; n < PARALLEL; n += 1) {
    workers.push((async () => {
      while (queue.length > 0 && state && !state.stopped) {
        await upload(queue.shift());
      }
    })());
  }
  await Promise.all(workers);
  summarize();
}

async function add(files) {
  if (files.length === 0) return;
  const section = state.section;
  section.querySelector('#upload-error').textContent = '';
  section.querySelector('#upload-summary').hidden = true;
  const fresh = files.map((file) => ({ file, status: 'reading', sent: 0, header: null, message: '' }));
  state.items.push(...fresh);
  for (const item of fresh) {
    item.row = el('tr', { dataset: { file: item.file.name } });
    section.querySelector('#upload-files tbody').appendChild(item.row);
    try {
      item.header = await DicomHeader.read(item.file);
    } catch (_) {
      item.header = null;
    }
    item.status = 'checking';
    paint(item);
  }
  const uids = fresh.map((i) => i.header && i.header.sop_instance_uid).filter(Boolean);
  let present = new Set();
  try {
    present = await held(uids);
  } catch (err) {
    section.querySelector('#upload-error').textContent = t('upload.check_failed', { message: err.message });
  }
  for (const item of fresh) {
    if (item.header && present.has(item.header.sop_instance_uid)) {
      item.status = 'present';
      item.sent = item.file.size;
    } else {
      item.status = 'queued';
    }
    paint(item);
  }
  remember();
  await run();
}

function statusText(item) {
  const words = t('upload.status.' + item.status);
  return item.message && ['refused', 'failed', 'retrying'].includes(item.status)
    ? `${words}: ${item.message}` : words;
}

function paint(item) {
  if (!item.row) return;
  const h = item.header;
  const about = h
    ? [h.patient_id && t('upload.patient_id', { id: h.patient_id }), h.modality, h.study_description]
      .filter(Boolean).join(' · ')
    : t('upload.not_dicom_header');
  const expected = state && state.recordNumber;
  const warning = expected && h && h.patient_id !== undefined && h.patient_id !== expected
    ? el('div', { class: 'warning' }, t('upload.other_patient', { found: h.patient_id || '—', expected }))
    : null;
  const bar = el('progress', { max: Math.max(1, item.file.size), value: item.sent });
  const status = el('span', { class: item.status === 'refused' || item.status === 'failed' ? 'error' : '' },
    statusText(item));
  if (item.status === 'refused') status.setAttribute('role', 'alert');
  item.row.dataset.state = item.status;
  item.row.replaceChildren(
    el('td', null, item.file.webkitRelativePath || item.file.name),
    el('td', null, about, warning),
    el('td', { class: 'bar' }, bar),
    el('td', { class: 'upload-status' }, status),
  );
  totals();
}

function totals() {
  const section = state.section;
  const size = state.items.reduce((sum, i) => sum + i.file.size, 0);
  const sent = state.items.reduce((sum, i) => sum + (['stored', 'present'].includes(i.status) ? i.file.size : i.sent), 0);
  const bar = section.querySelector('#upload-total');
  bar.max = Math.max(1, size);
  bar.value = sent;
  const count = (status) => state.items.filter((i) => i.status === status).length;
  section.querySelector('#upload-total-text').textContent = t('upload.total', {
    done: count('stored') + count('present'), total: state.items.length,
    refused: count('refused'), failed: count('failed'),
  });
  section.querySelector('#upload-retry').hidden = count('failed') === 0;
}

function summarize() {
  if (!state || state.items.length === 0) return;
  totals();
  const studies = new Set(state.items
    .filter((i) => ['stored', 'present'].includes(i.status) && i.header && i.header.study_instance_uid)
    .map((i) => i.header.study_instance_uid));
  const done = state.items.every((i) => ['stored', 'present', 'refused', 'failed'].includes(i.status));
  const summary = state.section.querySelector('#upload-summary');
  summary.hidden = !done;
  if (!done) return;
  state.section.querySelector('#upload-resume').hidden = true;
  summary.replaceChildren(el('p', { role: 'status' }, t('upload.finished', { studies: studies.size })));
  if (state.patient) {
    summary.appendChild(el('a', { class: 'button', href: `#/patients/${state.patient.id}` },
      t('upload.back_to_patient')));
  }
}

function dropZone(section) {
  const zone = section.querySelector('#upload-drop');
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', async (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    add(await droppedFiles(event.dataTransfer));
  });
  for (const id of ['#upload-files-input', '#upload-folder-input']) {
    const input = section.querySelector(id);
    input.addEventListener('change', () => {
      const files = [...input.files];
      input.value = '';
      add(files);
    });
  }
  section.querySelector('#upload-retry').addEventListener('click', () => {
    for (const item of state.items) {
      if (item.status === 'failed') {
        item.status = 'queued';
        item.message = '';
        paint(item);
      }
    }
    run();
  });
}

function layout(section, patient) {
  const name = patient ? `${patient.family_name}${patient.given_name}` : '';
  section.replaceChildren(
    el('h2', null, el('span', { 'data-i18n': 'upload.title' }, t('upload.title')), ' ', name),
    el('p', { id: 'upload-resume', class: 'banner', role: 'status', hidden: true }),
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
}

function showResume(section, me) {
  const saved = JSON.parse(localStorage.getItem(storageKey(me)) || 'null');
  const banner = section.querySelector('#upload-resume');
  if (!saved) return;
  banner.textContent = t('upload.resume', {
    done: saved.done, total: saved.total, when: when(saved.at),
  });
  banner.hidden = false;
}

/** @type {import('../lib/ferry.js').Screen} */
export const uploadScreen = {
  name: 'upload',
  path: /^#\/(?:patients\/(\d+)\/)?upload$/,
  roles: ['clinician'],
  nav: { key: 'nav.upload', href: '#/upload' },
  async open(section, match, me) {
    state = { me, section, items: [], patient: null, recordNumber: null, stopped: false };
    if (match[1]) {
      const patient = await api('GET', `/patients/${match[1]}`);
      state.patient = patient;
      const record = patient.records.find((r) => r.facility_id === me.facility_id);
      state.recordNumber = record ? record.record_number : null;
    }
    layout(section, state.patient);
    if (state.recordNumber) {
      /** @type {HTMLElement} */
      const expected = section.querySelector('#upload-expected');
      expected.textContent = t('upload.expected', { id: state.recordNumber });
      expected.hidden = false;
    }
    showResume(section, me);
    dropZone(section);
    document.addEventListener('ferry:language', relabel);
  },
  close() {
    document.removeEventListener('ferry:language', relabel);
    if (!state) return;
    const busy = state.items.some((i) => ['sending', 'retrying', 'queued'].includes(i.status));
    state.stopped = true;
    for (const item of state.items) {
      if (item.xhr && item.status === 'sending') item.xhr.abort();
      if (item.wake) item.wake();
    }
    if (busy) remember();
    state = null;
  },
};
