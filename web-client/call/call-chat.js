// @ts-check
// Ferry web client: the text chat of a consultation's call. The server keeps
// it with the consultation (`/consultations/{id}/chat`) and tells the room
// of each new message over signalling (`chat`, without its words); the
// panel then asks for what is newer than the last message it has. It asks
// also right after sending, and now and then in case a word of the room
// was missed (a reconnect), so every participant sees the same
// conversation. After the call, the consultation's page shows it read-only
// (`transcript`).

import { api, el } from '../lib/ferry.js';
import * as I18n from '../lib/i18n.js';

const $ = (selector) => document.querySelector(selector);
const t = (key, params) => I18n.t(key, params);
// Only for what signalling's `chat` may have missed.
const POLL_MS = 15000;

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
  let again = false;
  const fetchNew = () => {
    // One request at a time: a slow answer must not be overtaken by the
    // next. A message announced meanwhile may have come after it was
    // asked: ask once more when it is in.
    if (busy) {
      again = true;
      return busy;
    }
    busy = api('GET', `/consultations/${consultationId}/chat?after=${last}`)
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
        if (again && !stopped) {
          again = false;
          fetchNew();
        }
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
    fetchNew,
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
