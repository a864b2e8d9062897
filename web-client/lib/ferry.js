// @ts-check
// Ferry web client: what every screen shares. `api` calls the JSON API with
// the session cookie; `el` builds the DOM; the `Screen` type is how
// screens/index.js lists a screen for the shell (app.js) to open when the
// address's hash matches, `ScreenModule` what the screen's module exports.

import { prefetch, take, forget as forgetPrefetched } from './early.js';
import { t, current, MESSAGES } from './i18n.js';
import { statusName } from './terms.js';

/**
 * The signed-in user, as `GET /api/v1/me` and the login answer give it.
 * @typedef {{id: number, username: string, display_name: string,
 *   facility_id: number, facility_name: string, facility_time_zone?: string,
 *   roles: string[],
 *   specialties?: string[], [field: string]: any}} Me
 */

/**
 * A screen of the client, as screens/index.js lists it. Its section is
 * `#screen-{name}`, made anew on each opening; `roles` limits who may open
 * it, `nav` puts it in the menu; `module` (from the client's root) exports,
 * as `exported`, the screen's `ScreenModule`, loaded on first opening.
 * @typedef {object} Screen
 * @property {string} name
 * @property {RegExp} path over location.hash
 * @property {string[]} [roles]
 * @property {{key: string, href: string}} [nav]
 * @property {string} module
 * @property {string} exported
 * @property {(match: RegExpMatchArray, roles: string[]) => string[]} [early]
 *   the API paths (under /api/v1) the screen asks for first when a user of
 *   `roles` opens it, asked for by a new tab along with the session check
 */

/**
 * What a screen's module exports for the shell: `open` draws it into its
 * section, `close` lets go of what it holds (timers, streams) when it is left.
 * @typedef {object} ScreenModule
 * @property {(section: HTMLElement, match: RegExpMatchArray, me: Me) => unknown} open
 * @property {() => void} [close]
 */

/**
 * An answer that is not 2xx: its words for the user (from the error's code,
 * never the server's English), with the status and the body as sent.
 * @typedef {Error & {status: number, body: any}} ApiFailure
 */

/**
 * The user's sentence for an error envelope's `{code, message, details}`:
 * the catalogue's words for the code (i18n/errors.js), filled in from the
 * details, with times in the user's zone and field names translated; a code
 * the catalogue does not know gets a general sentence, never the raw code.
 * @param {{code?: string, details?: any} | null | undefined} error
 * @returns {string}
 */
function errorText(error) {
  const key = 'error.code.' + (error && error.code);
  if (!error || !(key in MESSAGES.en)) return t('error.unknown');
  const details = (error.details && typeof error.details === 'object') ? error.details : {};
  // Kept because the record names it: no date to give.
  if (error.code === 'retention_required' && details.reason === 'in_record') return t('error.retention.in_record');
  const field = typeof details.field === 'string' ? details.field : '';
  const time = details.opens_at || details.kept_until || details.starts_at;
  const count = Array.isArray(details.bookings) ? details.bookings.length : details.bookings;
  return t(key, {
    field: t(`error.field.${field}` in MESSAGES.en ? `error.field.${field}` : 'error.field.unknown'),
    seconds: Number.isFinite(details.retry_after_secs) ? details.retry_after_secs : 30,
    time: time ? when(time) : t('error.some_time'),
    size: Number.isFinite(details.limit_bytes) ? megabytes(details.limit_bytes) : '—',
    count: Number.isFinite(count) ? count : '—',
    status: details.status ? statusName(String(details.status)) : '—',
  });
}

/** @param {number} bytes */
function megabytes(bytes) {
  return `${(bytes / 1048576).toLocaleString(current(), { maximumFractionDigits: 1 })} MB`;
}

/**
 * Fetches `url` and reads its JSON (or text) answer. The server's error body
 * is `{"error": {"code", "message", "details"}}`; the thrown error's message
 * is `errorText` of it, which forms show the user. A lost link ("Failed to
 * fetch") becomes the catalogue's sentence for it.
 * @param {string} url
 * @param {RequestInit} [options]
 * @returns {Promise<any>}
 */
async function request(url, options) {
  return read(fetch(url, options));
}

/**
 * `request`'s reading of an answer, also of one asked for early.
 * @param {Promise<Response>} asked
 * @returns {Promise<any>}
 */
async function read(asked) {
  let response;
  try {
    response = await asked;
  } catch (err) {
    // An abort is the caller's own doing and keeps its name.
    if (err && err.name === 'AbortError') throw err;
    throw Object.assign(new Error(t('error.network')), { status: 0, body: null, cause: err });
  }
  let text = '';
  try {
    text = response.status === 204 ? '' : await response.text();
  } catch (err) {
    throw Object.assign(new Error(t('error.network')), { status: 0, body: null, cause: err });
  }
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch (_) { data = text; }
  }
  if (!response.ok) {
    const error = data && typeof data === 'object' ? data.error : null;
    throw Object.assign(new Error(errorText(error)), { status: response.status, body: data });
  }
  return data;
}

/**
 * Calls the JSON API under /api/v1.
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body] sent as JSON
 * @returns {Promise<any>}
 */
function api(method, path, body) {
  if (method === 'GET' && body === undefined) {
    // Asked for with the page (lib/early.js).
    const asked = take(path);
    if (asked) return read(asked);
  }
  /** @type {RequestInit & {headers: Record<string, string>}} */
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers['Content-Type'] = 'application/json';
    options.body = JSON.stringify(body);
  }
  return request('/api/v1' + path, options);
}

/**
 * A DOM element: el('td', {class: 'x', dataset: {id: 1}, onclick: f}, 'text', child).
 * Attributes that are undefined, null or false are left out.
 * @param {string} tag
 * @param {Record<string, any> | null} [attributes]
 * @param {...any} children nodes, text, or arrays of them; null and false are skipped
 * @returns {any} the element (its type follows the tag, which this cannot say)
 */
function el(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'dataset') {
      Object.assign(element.dataset, value);
    } else if (name.startsWith('on')) {
      element.addEventListener(name.slice(2), value);
    } else if (name === 'class') {
      element.className = value;
    } else if (name in element && typeof value !== 'string') {
      element[name] = value;
    } else {
      element.setAttribute(name, value === true ? '' : value);
    }
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/**
 * Appends a cell holding `content` to a table row.
 * @param {HTMLTableRowElement} row
 * @param {any} content
 * @returns {HTMLTableCellElement}
 */
function cell(row, content) {
  const td = el('td', null, content);
  row.appendChild(td);
  return td;
}

/**
 * A date and time in the user's own zone and language.
 * @param {string | null | undefined} iso
 * @param {Intl.DateTimeFormatOptions} [options]
 * @returns {string}
 */
function when(iso, options) {
  if (!iso) return '';
  return new Date(iso).toLocaleString(current(),
    options || { dateStyle: 'medium', timeStyle: 'short' });
}

export { api, prefetch, forgetPrefetched, request, errorText, el, cell, t, when };
