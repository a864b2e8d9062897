// @ts-check
// Ferry web client: the transfer side of an upload (upload.js): one
// instance per STOW-RS request with its upload progress, what the server's
// answer means for that instance (stored, refused for good, or worth trying
// again), and which instances the server holds already (QIDO-RS).

import { errorText, request, t } from './ferry.js';

const QIDO_BATCH = 40;
const PROCESSING_FAILURE = 0x0110;

// Failure reasons of PS3.18 / PS3.4 as the server gives them, in words.
const REASONS = {
  0xc000: 'upload.reason.c000',
  0xa900: 'upload.reason.a900',
  0x0111: 'upload.reason.0111',
  0xa700: 'upload.reason.a700',
  0x0110: 'upload.reason.0110',
  0x0122: 'upload.reason.0122',
};

/**
 * A drop's files, walking into folders.
 * @param {DataTransfer} dataTransfer
 * @returns {Promise<File[]>}
 */
async function droppedFiles(dataTransfer) {
  const entries = [...dataTransfer.items]
    .map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null))
    .filter(Boolean);
  if (entries.length === 0) return [...dataTransfer.files];
  const files = [];
  async function walk(entry) {
    if (entry.isFile) {
      files.push(await new Promise((resolve, reject) => entry.file(resolve, reject)));
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (batch.length === 0) break;
        for (const child of batch) await walk(child);
      }
    }
  }
  for (const entry of entries) await walk(entry);
  return files;
}

function reasonText(code) {
  const key = REASONS[code];
  const hexCode = '0x' + code.toString(16).toUpperCase().padStart(4, '0');
  return key ? t(key, { code: hexCode }) : t('upload.reason.other', { code: hexCode });
}

function sequence(body, tag) {
  return (body && body[tag] && body[tag].Value) || [];
}

// The outcome of one STOW-RS answer: stored, refused (with reason), or retry.
function outcome(status, text) {
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = null; }
  if (status === 200) return { kind: 'stored' };
  if (status === 202 || status === 409) {
    const failed = sequence(body, '00081198')[0];
    const code = failed && failed['00081197'] ? failed['00081197'].Value[0] : null;
    if (sequence(body, '00081199').length > 0) return { kind: 'stored' };
    if (code === PROCESSING_FAILURE) return { kind: 'retry', message: reasonText(code) };
    if (code !== null) return { kind: 'refused', message: reasonText(code) };
  }
  // The user's words for the refusal, never the server's English.
  const message = body && body.error ? errorText(body.error) : t(status === 0 ? 'error.network' : 'error.unknown');
  if (status === 0 || status === 408 || status === 429 || status >= 500) {
    return { kind: 'retry', message };
  }
  return { kind: 'refused', message };
}

// Sent gzipped only when that saves at least this share of the bytes:
// compressed pixel data (JPEG and the like) hardly shrinks.
const GZIP_WORTH = 0.9;

/**
 * The body gzipped when that saves bytes on the link (the server takes
 * `Content-Encoding: gzip` on STOW-RS), else as it is.
 * @param {Blob} body
 * @returns {Promise<{body: Blob, gzip: boolean}>}
 */
async function packed(body) {
  if (typeof CompressionStream === 'undefined') return { body, gzip: false };
  try {
    const gzipped = await new Response(body.stream().pipeThrough(new CompressionStream('gzip'))).blob();
    if (gzipped.size <= body.size * GZIP_WORTH) return { body: gzipped, gzip: true };
  } catch (_) {
    // A browser that cannot compress sends the body as it is.
  }
  return { body, gzip: false };
}

/**
 * One instance in one STOW-RS request; `item.xhr` lets the screen abort it.
 * @param {{file: Blob, xhr?: XMLHttpRequest, [field: string]: any}} item
 * @param {() => void} onProgress called as `item.sent` grows
 * @param {() => boolean} [wanted] asked once the body is packed: false if the
 *   screen was closed meanwhile, and nothing is sent
 * @returns {Promise<{kind: string, message?: string, [field: string]: any}>}
 *   `stored`, `refused` (for good), `retry` (worth another try) or `aborted`
 */
async function send(item, onProgress, wanted = () => true) {
  const boundary = 'ferry-' + Math.random().toString(36).slice(2) + Date.now().toString(36);
  item.xhr = undefined;
  const { body, gzip } = await packed(new Blob([
    `--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`,
    item.file,
    `\r\n--${boundary}--\r\n`,
  ]));
  if (!wanted()) return { kind: 'aborted' };
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    item.xhr = xhr;
    xhr.open('POST', '/dicomweb/studies');
    xhr.setRequestHeader('Content-Type', `multipart/related; type="application/dicom"; boundary=${boundary}`);
    if (gzip) xhr.setRequestHeader('Content-Encoding', 'gzip');
    xhr.setRequestHeader('Accept', 'application/dicom+json');
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable && event.total > 0) {
        // Progress in the file's own bytes, however many went on the wire.
        item.sent = Math.min(item.file.size, Math.round(item.file.size * (event.loaded / event.total)));
        onProgress();
      }
    };
    xhr.onload = () => resolve(outcome(xhr.status, xhr.responseText));
    xhr.onerror = () => resolve({ kind: 'retry', message: t('upload.link_lost') });
    xhr.ontimeout = xhr.onerror;
    xhr.onabort = () => resolve({ kind: 'aborted' });
    xhr.send(body);
  });
}

/**
 * SOP Instance UIDs among these that the server already holds.
 * @param {string[]} uids
 * @returns {Promise<Set<string>>}
 */
async function held(uids) {
  const present = new Set();
  for (let i = 0; i < uids.length; i += QIDO_BATCH) {
    const batch = uids.slice(i, i + QIDO_BATCH);
    const found = await request('/dicomweb/instances?SOPInstanceUID=' + encodeURIComponent(batch.join(','))
      + '&limit=' + batch.length, { headers: { Accept: 'application/dicom+json' } });
    for (const instance of found || []) {
      const uid = instance['00080018'] && instance['00080018'].Value && instance['00080018'].Value[0];
      if (uid) present.add(uid);
    }
  }
  return present;
}

export { droppedFiles, held, send };
