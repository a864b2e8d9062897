// @ts-check
// Ferry web client: uploading a study from the clinic, by STOW-RS.
//
// Files come from a drop (files or whole folders), a file picker or a folder
// picker. Before anything is sent, each file's header is read and, on a
// patient's page, a file whose Patient ID is not that patient's record
// number here is held back and listed with the patient it names, or as
// not in this consortium (lib/upload-sort.js, lib/upload-held.js): the
// server files a study by its Patient ID, not by the page it came from, so
// sending it would store another patient's images from this patient's page.
// The user sends such a group to its patient (on that patient's own upload
// page, under their banner) or leaves it.
//
// Each instance is its own request, so each has its own progress bar and a
// failure costs one instance, not the study. Over a poor link:
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
//
// The screen's state is one object per opening: every step after a wait
// checks that its opening is still the one shown, for the same patient
// (`live`), so a slow answer never sends anything for a patient left behind.
// While files are read, checked or sent the section is marked busy
// (`data-busy`): a language switch then leaves the opening alone (app.js
// would otherwise open the screen again, which stops the upload) and only
// its words are painted again (`relabel`; what is painted: upload-view.js).

import * as DicomHeader from '../lib/dicom-header.js';
import { api, el, t } from '../lib/ferry.js';
import { boundTo, patientBanner, patientName } from '../lib/patient-banner.js';
import { droppedFiles, held, send } from '../lib/stow.js';
import { heldList } from '../lib/upload-held.js';
import * as Sort from '../lib/upload-sort.js';
import { DONE, NOT_SENT, layout, notes, paint, summarize } from './upload-view.js';

// Requests in flight at once. On an island link (1 Mbit/s, 400 ms round
// trip) an instance's request spends as long waiting for its answer as on
// the wire; with four in flight the link stays busy and a CT goes at the
// link's rate (`ferry-bench island`), where two left it idle a third of the
// time. Browsers open six connections per server over HTTP/1.1.
const PARALLEL = 4;
const PAUSES = [1, 2, 4, 8, 16, 30];
const STORAGE_PREFIX = 'ferry.upload.';
// Where work is still under way for a file.
const WORKING = ['reading', 'checking', 'queued', 'sending', 'retrying'];

/** The opening shown, or null. */
let state = null;

/**
 * Files the user chose, on another page, to send to the patient they name:
 * taken by the next opening of the upload screen if it is that patient's.
 * @type {{patientId: number, files: File[], fromName: string} | null}
 */
let handoff = null;

// Whether this opening is still the one shown, for the patient it opened for.
function live(st) {
  return state === st && !st.stopped && (!st.patient || boundTo(st.section, st.patient.id));
}

// Rows carry translated words: paint them again in the new language.
function relabel() {
  const st = state;
  if (!st || !st.laidOut) return;
  if (st.patient) st.section.querySelector('.patient-banner').replaceWith(patientBanner(st.patient, st.me));
  for (const item of st.items) paint(st, item);
  showHeld(st);
  summarize(st);
  notes(st);
}

function markBusy(st) {
  if (st.items.some((i) => WORKING.includes(i.status))) {
    st.section.dataset.busy = 'upload';
  } else {
    delete st.section.dataset.busy;
  }
}

function storageKey(me) {
  return STORAGE_PREFIX + me.id;
}

function remember(st) {
  const unfinished = st.items.filter((i) => !DONE.includes(i.status) && !NOT_SENT.includes(i.status));
  if (unfinished.length === 0) {
    localStorage.removeItem(storageKey(st.me));
    return;
  }
  const counted = st.items.filter((i) => !NOT_SENT.includes(i.status));
  localStorage.setItem(storageKey(st.me), JSON.stringify({
    patient_id: st.patient ? st.patient.id : null,
    at: new Date().toISOString(),
    total: counted.length,
    done: counted.length - unfinished.length,
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

async function upload(st, item) {
  for (let attempt = 0; ; attempt += 1) {
    if (!live(st) || item.status === 'held' || item.status === 'left') return;
    item.status = 'sending';
    item.sent = 0;
    paint(st, item);
    const result = await send(item, () => paint(st, item), () => live(st));
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
    paint(st, item);
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
  if (state !== st) return;
  paint(st, item);
  remember(st);
}

async function run(st) {
  markBusy(st);
  const queue = st.items.filter((i) => i.status === 'queued');
  const workers = [];
  for (let n = 0; n < PARALLEL; n += 1) {
    workers.push((async () => {
      while (queue.length > 0 && live(st)) {
        await upload(st, queue.shift());
      }
    })());
  }
  await Promise.all(workers);
  markBusy(st);
  if (state === st) summarize(st);
}

// Adds the sorted groups of a drop to those already held back, joining a
// group of the same patient (or Patient ID) from an earlier drop.
function hold(st, groups, unchecked) {
  for (const group of groups) {
    for (const item of group.items) {
      item.status = 'held';
      item.group = group.key;
    }
    const same = st.groups.find((g) => g.key === group.key && !g.left);
    if (same) {
      same.items.push(...group.items);
      for (const id of group.patientIds) if (!same.patientIds.includes(id)) same.patientIds.push(id);
    } else {
      st.groups.push(Object.assign(group, { unchecked: unchecked && group.kind === 'unknown' }));
    }
  }
}

async function add(st, files) {
  if (files.length === 0 || !live(st)) return;
  const section = st.section;
  section.querySelector('#upload-error').textContent = '';
  section.querySelector('#upload-summary').hidden = true;
  const fresh = files.map((file) => ({ file, status: 'reading', sent: 0, header: null, message: '', where: null }));
  st.items.push(...fresh);
  markBusy(st);
  for (const item of fresh) {
    item.row = el('tr', { dataset: { file: item.file.name } });
    section.querySelector('#upload-files tbody').appendChild(item.row);
    try {
      item.header = await DicomHeader.read(item.file);
    } catch (_) {
      item.header = null;
    }
    item.status = 'checking';
    paint(st, item);
  }
  // Whose each file is, before anything is sent.
  let matches = [];
  let unchecked = false;
  const ids = fresh.map(Sort.patientIdOf).filter((id) => id);
  try {
    matches = ids.length > 0 ? await Sort.lookup(ids) : [];
  } catch (err) {
    unchecked = true;
    if (live(st)) section.querySelector('#upload-error').textContent = t('upload.lookup_failed', { message: err.message });
  }
  if (!live(st)) return;
  const sorted = Sort.sort(fresh, st.numbers, matches);
  hold(st, sorted.held, unchecked);
  for (const item of sorted.send) item.where = st.patient ? null : Sort.destination(item, matches);
  showHeld(st);
  const uids = sorted.send.map((i) => i.header && i.header.sop_instance_uid).filter(Boolean);
  let present = new Set();
  try {
    present = uids.length > 0 ? await held(uids) : present;
  } catch (err) {
    if (live(st)) section.querySelector('#upload-error').textContent = t('upload.check_failed', { message: err.message });
  }
  if (!live(st)) return;
  for (const item of fresh) {
    if (item.status === 'held') {
      // Nothing to do until the user chooses.
    } else if (item.header && present.has(item.header.sop_instance_uid)) {
      item.status = 'present';
      item.sent = item.file.size;
    } else {
      item.status = 'queued';
    }
    paint(st, item);
  }
  remember(st);
  await run(st);
}

// The held-back groups, with what may be done with each.
function showHeld(st) {
  const box = st.section.querySelector('#upload-held');
  const list = heldList(st.groups, {
    patientId: st.patient ? st.patient.id : null,
    onSend: (group) => sendTo(st, group),
    onLeave: (group) => leave(st, group),
  });
  box.replaceChildren(...(list ? [list] : []));
  box.hidden = !list;
}

// Sends a held-back group to the patient it names: on that patient's own
// upload page, under their banner, with the other groups still held back.
function sendTo(st, group) {
  if (!live(st) || group.kind !== 'patient') return;
  const target = group.matches[0];
  const files = st.items.filter((i) => i.status === 'held').map((i) => i.file);
  handoff = {
    patientId: target.patient_id,
    files,
    fromName: st.patient ? patientName(st.patient) : '',
  };
  location.hash = `#/patients/${target.patient_id}/upload`;
}

function leave(st, group) {
  if (state !== st) return;
  group.left = true;
  for (const item of st.items) {
    if (item.group === group.key && item.status === 'held') {
      item.status = 'left';
      paint(st, item);
    }
  }
  showHeld(st);
  summarize(st);
}

function dropZone(st) {
  const section = st.section;
  const zone = section.querySelector('#upload-drop');
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', async (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    add(st, await droppedFiles(event.dataTransfer));
  });
  for (const id of ['#upload-files-input', '#upload-folder-input']) {
    const input = section.querySelector(id);
    input.addEventListener('change', () => {
      const files = [...input.files];
      input.value = '';
      add(st, files);
    });
  }
  section.querySelector('#upload-retry').addEventListener('click', () => {
    if (!live(st)) return;
    for (const item of st.items) {
      if (item.status === 'failed') {
        item.status = 'queued';
        item.message = '';
        paint(st, item);
      }
    }
    run(st);
  });
}

// An upload left unfinished before this opening: read once, as it was, since
// this opening's own upload writes over it.
function showResume(st) {
  st.resume = JSON.parse(localStorage.getItem(storageKey(st.me)) || 'null');
  if (!st.resume) return;
  st.section.querySelector('#upload-resume').hidden = false;
  notes(st);
}

/** @type {import('../lib/ferry.js').ScreenModule} */
export const uploadScreen = {
  async open(section, match, me) {
    const st = {
      me, section, items: [], groups: [], patient: null, numbers: null, stopped: false, laidOut: false,
      resume: null, brought: null,
    };
    state = st;
    // Taken now, whatever opens: files handed over are for the very next page only.
    const brought = handoff;
    handoff = null;
    document.addEventListener('ferry:language', relabel);
    // No form until the patient is known: only a loading state.
    section.replaceChildren(el('p', { class: 'screen-loading', role: 'status' }, t('screen.loading')));
    if (match[1]) {
      const patient = await api('GET', `/patients/${match[1]}`);
      if (state !== st || st.stopped) return;
      st.patient = patient;
      st.numbers = Sort.ownNumbers(patient, me);
    }
    layout(st);
    notes(st);
    showResume(st);
    dropZone(st);
    if (brought && st.patient && brought.patientId === st.patient.id && brought.files.length > 0) {
      st.brought = brought;
      notes(st);
      add(st, brought.files);
    }
  },
  close() {
    document.removeEventListener('ferry:language', relabel);
    const st = state;
    state = null;
    if (!st) return;
    const busy = st.items.some((i) => ['sending', 'retrying', 'queued'].includes(i.status));
    st.stopped = true;
    for (const item of st.items) {
      if (item.xhr && item.status === 'sending') item.xhr.abort();
      if (item.wake) item.wake();
    }
    if (busy) remember(st);
  },
};
