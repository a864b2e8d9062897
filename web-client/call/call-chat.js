// @ts-check
// Ferry web client: the text chat of a consultation's call. The server keeps
// it with the consultation (`/consultations/{id}/chat`); in the call the
// panel asks for what is newer than the last message it has, every few
// seconds and right after sending, so every node and every participant's
// reconnect sees the same conversation. After the call, the consultation's
// page shows it read-only (`transcript`).

import { api, el } from '../lib/ferry.js';
import * as I18n from '../lib/i18n.js';

const $ = (selector) => document.querySelector(selector);
const t = (key, params) => I18n.t(key, params);
const POLL_MS = 2000;

/** @param {string} iso */
function clock(iso) {
  return new Intl.DateTimeFormat(I18n.current(), { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
    .format(new Date(iso));
}

/**
 * One message as a list item.
 * @param {{id: number, author_id: number, author_name: string, body: string, sent_at: string}} m
 * @param {number | null} me
 */
function item(m, me) {
  return el('li', { dataset: { message: m.id }, class: m.author_id === me ? 'mine' : null },
    el('time', { datetime: m.sent_at }, clock(m.sent_at)), ' ',
    el('strong', { class: 'author' }, m.author_id === me ? t('call.you') : m.author_name), ' ',
    el('span', { class: 'body' }, m.body));
}

/**
 * Runs the chat panel of the call on screen until `stop()`.
 * @param {number} consultationId
 * @param {number} me the user's id
 */
function start(consultationId, me) {
  const log = $('#call-chat-log');
  const form = $('#call-chat-form');
  const input = /** @type {HTMLInputElement} */ ($('#call-chat-input'));
  const error = $('#call-chat-error');
  log.replaceChildren();
  error.textContent = '';
  input.value = '';
  let last = 0;
  let stopped = false;
  let busy = null;
  const fetchNew = () => {
    // One request at a time: a slow answer must not be overtaken by the next.
    busy = busy || api('GET', `/consultations/${consultationId}/chat?after=${last}`)
      .then((messages) => {
        if (stopped) return;
        for (const m of messages) {
          if (m.id > last) {
            log.append(item(m, me));
            last = m.id;
          }
        }
        if (messages.length) log.scrollTop = log.scrollHeight;
      })
      .catch((err) => {
        if (!stopped) error.textContent = t('call.chat.unavailable', { message: err.message });
      })
      .finally(() => {
        busy = null;
      });
    return busy;
  };
  const onSubmit = async (event) => {
    event.preventDefault();
    const body = input.value.trim();
    if (!body) return;
    error.textContent = '';
    try {
      await api('POST', `/consultations/${consultationId}/chat`, { body });
      input.value = '';
      await fetchNew();
    } catch (err) {
      // What was typed stays in the box, to send again.
      error.textContent = t('call.chat.not_sent', { message: err.message });
    }
  };
  form.addEventListener('submit', onSubmit);
  fetchNew();
  const timer = setInterval(fetchNew, POLL_MS);
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
      form.removeEventListener('submit', onSubmit);
    },
  };
}

/**
 * The chat of a consultation's call, read-only, for its page: a section, or
 * null when there is none or the user was not in the call.
 * @param {number} consultationId
 * @param {number} me
 */
async function transcript(consultationId, me) {
  let messages;
  try {
    messages = await api('GET', `/consultations/${consultationId}/chat`);
  } catch (_) {
    return null;
  }
  if (!messages.length) return null;
  return el('section', { id: 'case-chat', class: 'call-chat-kept' },
    el('h3', null, t('call.chat.kept')),
    el('ol', { class: 'chat-log' }, messages.map((m) => item(m, me))));
}

export { start, transcript };
