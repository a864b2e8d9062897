// @ts-check
// Ferry web client: the words on screen, in English and Simplified Chinese.
// The language comes from the browser unless the user picked one (kept in
// localStorage). Elements name their text with data-i18n (textContent) or
// data-i18n-placeholder; scripts call t(key, params).
//
// Every word of the client is in the catalogue under i18n/, one file per
// area of the client, each key in both languages (lib/i18n.test.mjs checks
// that, that no key is in two files, and that every key the code and
// index.html name literally is here).

import shell from '../i18n/shell.js';
import home from '../i18n/home.js';
import patient from '../i18n/patient.js';
import upload from '../i18n/upload.js';
import booking from '../i18n/booking.js';
import consultation from '../i18n/consultation.js';
import scheduling from '../i18n/scheduling.js';
import reading from '../i18n/reading.js';
import viewer from '../i18n/viewer.js';
import notifications from '../i18n/notifications.js';
import figures from '../i18n/figures.js';
import admin from '../i18n/admin.js';
import errors from '../i18n/errors.js';
import terms from '../i18n/terms.js';

const LANGUAGES = [
  ['zh-CN', '中文'],
  ['en', 'English'],
];
const STORAGE_KEY = 'ferry.language';

/** Each area's words, by the name of its file under i18n/. */
const AREAS = { shell, home, patient, upload, booking, consultation, scheduling, reading, viewer, notifications, figures, admin, errors, terms };

/** @type {Record<string, Record<string, string>>} */
const MESSAGES = { en: {}, 'zh-CN': {} };
for (const area of Object.values(AREAS)) {
  Object.assign(MESSAGES.en, area.en);
  Object.assign(MESSAGES['zh-CN'], area['zh-CN']);
}

// `globalThis` lookups: the catalogue is also loaded by the node tests,
// where there is no navigator or localStorage.
function fromBrowser() {
  const browser = globalThis.navigator;
  for (const tag of (browser && (browser.languages || [browser.language])) || ['en']) {
    if (tag.toLowerCase().startsWith('zh')) {
      return 'zh-CN';
    }
    if (tag.toLowerCase().startsWith('en')) {
      return 'en';
    }
  }
  return 'en';
}

let language = globalThis.localStorage ? localStorage.getItem(STORAGE_KEY) : null;
if (!MESSAGES[language]) {
  language = fromBrowser();
}

/**
 * The text of `key` in the current language (English if it has none),
 * with `{name}` replaced by `params.name`.
 * @param {string} key
 * @param {Record<string, unknown>} [params]
 * @returns {string}
 */
function t(key, params) {
  const text = MESSAGES[language][key] ?? MESSAGES.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) =>
    params && params[name] !== undefined ? String(params[name]) : `{${name}}`);
}

/**
 * Puts the current language's words into `root`'s data-i18n elements.
 * @param {ParentNode} [root] the whole document if left out
 */
function apply(root) {
  document.documentElement.lang = language;
  const named = /** @type {NodeListOf<HTMLElement>} */ ((root || document).querySelectorAll('[data-i18n]'));
  for (const element of named) {
    element.textContent = t(element.dataset.i18n);
  }
  const fields = /** @type {NodeListOf<HTMLInputElement>} */ ((root || document).querySelectorAll('[data-i18n-placeholder]'));
  for (const element of fields) {
    element.placeholder = t(element.dataset.i18nPlaceholder);
  }
}

/**
 * Switches the language, remembers it, and tells the screens
 * (`ferry:language` on document) so they can redraw what they built.
 * @param {string} next a tag of `languages`
 */
function set(next) {
  if (!MESSAGES[next]) {
    return;
  }
  language = next;
  localStorage.setItem(STORAGE_KEY, next);
  apply();
  document.dispatchEvent(new CustomEvent('ferry:language', { detail: next }));
}

/** The language the words are in now, a tag of `languages`. */
function current() {
  return language;
}

export { t, apply, set, current, LANGUAGES as languages, MESSAGES, AREAS };
