// @ts-check
// Ferry web client: what every screen shares. `api` calls the JSON API with
// the session cookie; `el` builds the DOM; the `Screen` type is what a screen
// module exports for the shell (app.js, which lists them in screens/index.js)
// to open when the address's hash matches.

import { t, current } from './i18n.js';

/**
 * The signed-in user, as `GET /api/v1/me` and the login answer give it.
 * @typedef {{id: number, username: string, display_name: string,
 *   facility_id: number, facility_name: string, roles: string[],
 *   specialties?: string[], [field: string]: any}} Me
 */

/**
 * A screen of the client. Its section is `#screen-{name}`, made empty on
 * first open and kept while the screen is shown; `roles` limits who may open
 * it, `nav` puts it in the menu.
 * @typedef {object} Screen
 * @property {string} name
 * @property {RegExp} path over location.hash
 * @property {string[]} [roles]
 * @property {{key: string, href: string}} [nav]
 * @property {(section: HTMLElement, match: RegExpMatchArray, me: Me) => unknown} open
 * @property {() => void} [close]
 */

/**
 * An answer that is not 2xx: the server's message, with the status and body.
 * @typedef {Error & {status: number, body: any}} ApiFailure
 */

/**
 * Fetches `url` and reads its JSON (or text) answer. The server's error body
 * is `{"error": {"code", "message", ...}}`; the message is what forms show
 * the user, so it becomes the thrown error's message.
 * @param {string} url
 * @param {RequestInit} [options]
 * @returns {Promise<any>}
 */
async function request(url, options) {
  const response = await fetch(url, options);
  const text = response.status === 204 ? '' : await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch (_) { data = text; }
  }
  if (!response.ok) {
    const message = data && data.error ? data.error.message : response.statusText;
    throw Object.assign(new Error(message), { status: response.status, body: data });
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

export { api, request, el, cell, t, when };
