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
'use strict';

(function () {
  const { api, el, t } = window.Ferry;
  const { droppedFiles, held, send } = window.FerryStow;

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
        item.header = await window.FerryDicom.read(item.file);
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
      done: saved.done, total: saved.total, when: window.Ferry.when(saved.at),
    });
    banner.hidden = false;
  }

  window.Ferry.screen({
    name: 'upload',
    path: /^#\/(?:patients\/(\d+)\/)?upload$/,
    roles: ['clinician'],
    nav: { key: 'nav.upload', href: '#/upload' },
    async open(section, match, me) {
      state = { me, section, items: [], patient: null, recordNumber: null, stopped: false };
      if (match[1]) {
        state.patient = await api('GET', `/patients/${match[1]}`);
        const record = state.patient.records.find((r) => r.facility_id === me.facility_id);
        state.recordNumber = record ? record.record_number : null;
      }
      layout(section, state.patient);
      if (state.recordNumber) {
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
    messages: {
      en: {
        'nav.upload': 'Upload',
        'upload.title': 'Upload a study',
        'upload.drop': 'Drop DICOM files or a whole folder here, or choose them:',
        'upload.pick_files': 'Choose files',
        'upload.pick_folder': 'Choose a folder',
        'upload.expected': 'Files are filed under this patient when their Patient ID is {id}, the patient\'s record number at your facility.',
        'upload.other_patient': 'Patient ID {found} is not this patient\'s record number ({expected}): the study will not be filed under this patient.',
        'upload.patient_id': 'Patient ID {id}',
        'upload.not_dicom_header': 'No DICOM header found',
        'upload.col.file': 'File',
        'upload.col.about': 'Contents',
        'upload.col.progress': 'Progress',
        'upload.status.reading': 'reading…',
        'upload.status.checking': 'checking…',
        'upload.status.queued': 'waiting',
        'upload.status.sending': 'sending…',
        'upload.status.retrying': 'retrying',
        'upload.status.stored': 'stored',
        'upload.status.present': 'already stored',
        'upload.status.refused': 'refused',
        'upload.status.failed': 'not sent',
        'upload.retrying': '{reason}; trying again in {seconds} s',
        'upload.link_lost': 'no answer from the server',
        'upload.retry': 'Try the unsent files again',
        'upload.total': '{done} of {total} stored · {refused} refused · {failed} not sent',
        'upload.finished': 'Upload finished. Studies now held: {studies}.',
        'upload.back_to_patient': 'Back to the patient',
        'upload.check_failed': 'Could not ask the server which files it already holds ({message}); sending them all.',
        'upload.resume': 'An upload was left unfinished ({done} of {total} files done, {when}). Drop or choose the same files or folder again: files the server already holds are not sent again.',
        'upload.reason.c000': 'not a DICOM file, or one the server cannot read ({code})',
        'upload.reason.a900': 'a required DICOM attribute is missing or invalid ({code})',
        'upload.reason.0111': 'this instance or study is already stored with other content or for another patient ({code})',
        'upload.reason.a700': 'too large, or the server is out of space ({code})',
        'upload.reason.0110': 'the server could not store it just now ({code})',
        'upload.reason.0122': 'this kind of DICOM object is not accepted ({code})',
        'upload.reason.other': 'refused by the server ({code})',
      },
      'zh-CN': {
        'nav.upload': '上传',
        'upload.title': '上传检查影像',
        'upload.drop': '将 DICOM 文件或整个文件夹拖到这里，或选择：',
        'upload.pick_files': '选择文件',
        'upload.pick_folder': '选择文件夹',
        'upload.expected': '文件的患者 ID 为 {id}（该患者在本机构的病历号）时，影像归入该患者名下。',
        'upload.other_patient': '患者 ID {found} 与该患者的病历号（{expected}）不符：此检查不会归入该患者名下。',
        'upload.patient_id': '患者 ID {id}',
        'upload.not_dicom_header': '未找到 DICOM 文件头',
        'upload.col.file': '文件',
        'upload.col.about': '内容',
        'upload.col.progress': '进度',
        'upload.status.reading': '读取中…',
        'upload.status.checking': '核对中…',
        'upload.status.queued': '等待中',
        'upload.status.sending': '发送中…',
        'upload.status.retrying': '重试中',
        'upload.status.stored': '已保存',
        'upload.status.present': '此前已保存',
        'upload.status.refused': '被拒收',
        'upload.status.failed': '未发送',
        'upload.retrying': '{reason}；{seconds} 秒后重试',
        'upload.link_lost': '服务器无响应',
        'upload.retry': '重新发送未发送的文件',
        'upload.total': '已保存 {done}/{total} · 拒收 {refused} · 未发送 {failed}',
        'upload.finished': '上传完成。已保存的检查：{studies} 项。',
        'upload.back_to_patient': '返回患者页面',
        'upload.check_failed': '无法向服务器核对已有文件（{message}），将全部发送。',
        'upload.resume': '有一次上传未完成（{when}，已完成 {done}/{total} 个文件）。请重新拖入或选择相同的文件或文件夹：服务器已有的文件不会重复发送。',
        'upload.reason.c000': '不是 DICOM 文件，或服务器无法读取（{code}）',
        'upload.reason.a900': '缺少必需的 DICOM 属性或属性无效（{code}）',
        'upload.reason.0111': '该实例或检查已以不同内容或为其他患者保存（{code}）',
        'upload.reason.a700': '文件过大，或服务器空间不足（{code}）',
        'upload.reason.0110': '服务器暂时无法保存（{code}）',
        'upload.reason.0122': '不接受此类 DICOM 对象（{code}）',
        'upload.reason.other': '服务器拒收（{code}）',
      },
    },
  });
})();
