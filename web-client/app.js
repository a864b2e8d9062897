// @ts-check
// Ferry web client, the shell: sign-in, the signed-in user's home (built by
// home.js), the call screen, and every screen of screens/index.js, chosen
// by the address's hash (#/, #/consultations/{id}/call, a screen's own
// path). The session lives in an HttpOnly cookie set by the server. The one
// module index.html loads. What it imports is what the sign-in page needs;
// the home, the bell, the call and each screen are loaded when first
// needed (lib/lazy.js), so a first visit over an island link does not wait
// for all of the client.

import * as Cards from './lib/cards.js';
import { forget as forgetPrefetched } from './lib/early.js';
import { api, el, t } from './lib/ferry.js';
import * as I18n from './lib/i18n.js';
import * as Lazy from './lib/lazy.js';
import * as Menu from './lib/menu.js';
import { forgetRoles, rememberRoles } from './lib/opening.js';
import { roleNames } from './lib/terms.js';
import { BELL, CALL, CALL_PATH, HOME, screens } from './screens/index.js';

// Modules already loaded, so leaving a screen need not wait for one.
/** @type {{[path: string]: any}} */
const loaded = {};

/** @param {string} path */
function loadModule(path) {
  return Lazy.load(path).then((m) => {
    loaded[path] = m;
    return m;
  });
}

/** @type {(selector: string) => any} */
const $ = (selector) => document.querySelector(selector);

/** @type {import('./lib/ferry.js').Me | null} */
let me = null;

/** @type {import('./lib/ferry.js').ScreenModule | null} */
let current = null;

function show(section) {
  for (const element of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('main > section'))) {
    element.hidden = element.id !== section;
  }
}

function allowed(screen) {
  return !screen.roles || me.roles.some((r) => screen.roles.includes(r));
}

// The menu: a link for each screen with a `nav` entry this user may open.
function showNav() {
  const nav = $('#nav');
  nav.replaceChildren(el('a', { href: '#/', 'data-i18n': 'nav.home' }, t('nav.home')));
  for (const screen of screens) {
    if (screen.nav && allowed(screen)) {
      nav.appendChild(el('a', { href: screen.nav.href, 'data-i18n': screen.nav.key }, t(screen.nav.key)));
    }
  }
  nav.hidden = false;
}

function closeScreen() {
  if (current && current.close) {
    current.close();
  }
  current = null;
}

// Each route the user takes gets the next number; an answer for an older one
// is not drawn (a slow answer for the patient left behind must never show on
// the screen of the patient opened since).
let generation = 0;

/** The loading state every screen starts from: no form, only this. */
function loading() {
  return el('p', { class: 'screen-loading', role: 'status', 'aria-busy': 'true' }, t('screen.loading'));
}

// Opens the registered screen whose path matches the hash; false if none does.
// The screen gets a new, empty section in place of the one it had: whatever
// its previous opening still draws after an answer comes in lands in the old
// section, which is no longer in the page, so no form of the screen's last
// patient stays live while the new one loads.
function openScreen(hash, mine) {
  for (const screen of screens) {
    const match = hash.match(screen.path);
    if (!match) continue;
    const id = 'screen-' + screen.name;
    const section = el('section', { id, hidden: true, 'aria-busy': 'true' });
    const old = document.getElementById(id);
    if (old) {
      old.replaceWith(section);
    } else {
      $('main').appendChild(section);
    }
    const placeholder = loading();
    section.appendChild(placeholder);
    show(id);
    if (!allowed(screen)) {
      section.replaceChildren(el('p', { class: 'error', role: 'alert' }, t('error.not_allowed')));
      section.removeAttribute('aria-busy');
      return true;
    }
    loadModule(screen.module).then((loadedModule) => {
      if (mine !== generation) return undefined;
      current = loadedModule[screen.exported];
      return current.open(section, match, me);
    }).then(() => {
      if (mine !== generation) return;
      placeholder.remove();
      section.removeAttribute('aria-busy');
      fetchTheRest();
    }, (err) => {
      if (mine !== generation) return;
      placeholder.remove();
      section.removeAttribute('aria-busy');
      section.appendChild(el('p', { class: 'error', role: 'alert' },
        t('error.generic', { message: err.message })));
    });
    return true;
  }
  return false;
}

// The home page (home.js): what needs this user now, by role.
async function showHome(mine) {
  show('home');
  const home = await loadModule(HOME);
  if (mine === generation) await home.show(me);
  if (mine === generation) fetchTheRest();
}

// Once the first screen is whole and the browser idle, the code of every
// other screen this user may open is fetched in the background, so that
// opening one later waits only for its data. Once per sign-in.
let restFetchedFor = null;
function fetchTheRest() {
  if (!me || restFetchedFor === me) return;
  restFetchedFor = me;
  const later = globalThis.requestIdleCallback || ((f) => setTimeout(f, 200));
  later(() => {
    // Signed out, or in as someone else, since: theirs is fetched for them.
    if (me !== restFetchedFor) return;
    for (const screen of screens) {
      if (allowed(screen)) Lazy.preload(screen.module);
    }
  });
}

function signedIn(user) {
  me = user;
  rememberRoles(me.roles);
  $('#logout').hidden = false;
  showNav();
  showWho();
  document.dispatchEvent(new CustomEvent('ferry:signedin', { detail: me }));
  const signed = me;
  loadModule(BELL).then((bell) => {
    if (me === signed) bell.start(me);
  }).catch(() => {
    // The bell is missing until the next sign-in; the screens still work.
  });
  route();
}

// Who is signed in, with the roles in the user's language.
function showWho() {
  $('#who').textContent = `${me.display_name} · ${me.facility_name} · ${roleNames(me.roles)}`;
}

function showSignIn() {
  me = null;
  document.dispatchEvent(new CustomEvent('ferry:signedout'));
  forgetPrefetched();
  forgetRoles();
  if (loaded[CALL]) loaded[CALL].close();
  closeScreen();
  show('signin');
  // What a clinician sees once signed in, asked for while she types.
  Lazy.preload(HOME);
  Lazy.preload(BELL);
  $('#nav').hidden = true;
  $('#logout').hidden = true;
  $('#who').textContent = '';
}

function route() {
  if (!me) {
    return;
  }
  generation += 1;
  const mine = generation;
  closeScreen();
  if (loaded[HOME]) loaded[HOME].hide();
  const call = location.hash.match(CALL_PATH);
  if (call) {
    show('call');
    loadModule(CALL).then((screen) => {
      if (mine === generation) return screen.open(Number(call[1]), me);
      return undefined;
    }).catch((err) => {
      if (mine === generation) $('#call-error').textContent = t('error.generic', { message: err.message });
    });
    return;
  }
  if (loaded[CALL]) loaded[CALL].close();
  if (openScreen(location.hash, mine)) {
    return;
  }
  showHome(mine).catch((err) => {
    if (mine === generation) {
      $('#home').append(el('p', { class: 'error', role: 'alert' }, t('error.generic', { message: err.message })));
    }
  });
}

// Whether the user has typed into the screen shown: a language switch then
// relabels it in place instead of drawing it again, so a clinician's words
// are never thrown away.
function typedInto(root) {
  if (!root) return false;
  for (const field of root.querySelectorAll('textarea, input:not([type=checkbox]):not([type=radio]):not([type=hidden])')) {
    const input = /** @type {HTMLInputElement} */ (field);
    if (input.value !== input.defaultValue) return true;
  }
  return false;
}

$('#login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  $('#login-error').textContent = '';
  try {
    const login = await api('POST', '/auth/login', {
      username: form.get('username'),
      password: form.get('password'),
    });
    signedIn(login.user);
  } catch (err) {
    $('#login-error').textContent = err.message;
  }
});

$('#logout').addEventListener('click', async () => {
  try { await api('POST', '/auth/logout'); } finally { showSignIn(); }
});

const language = $('#language');
for (const [tag, name] of I18n.languages) {
  const option = document.createElement('option');
  option.value = tag;
  option.textContent = name;
  language.appendChild(option);
}
language.value = I18n.current();
language.addEventListener('change', () => I18n.set(language.value));
// A language switch draws the menu and the whole screen again (the route is
// run again), so no word of the other language is left on it; not the call,
// which must not be dropped (its words are data-i18n, relabelled by
// I18n.apply), nor a screen the user has typed into, nor one marked busy
// (`data-busy`, e.g. an upload under way): drawing it again would close it
// and stop its work, so it is relabelled in place and redraws its own words
// on the same event.
document.addEventListener('ferry:language', () => {
  if (!me) {
    return;
  }
  showNav();
  showWho();
  if (CALL_PATH.test(location.hash)) {
    return;
  }
  const shown = /** @type {HTMLElement | null} */ (document.querySelector('main > section:not([hidden])'));
  if (typedInto(shown) || (shown && shown.dataset.busy !== undefined)) {
    I18n.apply(shown);
    return;
  }
  route();
});
I18n.apply();
// Phones: the header folds into a menu, and tables read as cards.
Menu.install();
Cards.install($('main'));

window.addEventListener('hashchange', route);
// The screen in the address, its code and its first answers, were asked
// for with the page (lib/opening.js).
api('GET', '/me').then(signedIn).catch(showSignIn);
