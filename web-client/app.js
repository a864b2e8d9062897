// @ts-check
// Ferry web client, the shell: sign-in, the signed-in user's home (built by
// home.js), the call screen, and every screen of screens/index.js, chosen
// by the address's hash (#/, #/consultations/{id}/call, a screen's own
// path). The session lives in an HttpOnly cookie set by the server. The one
// module index.html loads: the rest come in through its imports.

import * as CallScreen from './call/call-screen.js';
import { api, el, t } from './lib/ferry.js';
import * as I18n from './lib/i18n.js';
import * as Home from './screens/home.js';
import { screens } from './screens/index.js';
// The bell listens for sign-in on its own; nothing here calls it.
import './screens/notifications.js';

/** @type {(selector: string) => any} */
const $ = (selector) => document.querySelector(selector);

/** @type {import('./lib/ferry.js').Me | null} */
let me = null;

/** @type {import('./lib/ferry.js').Screen | null} */
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

// Opens the registered screen whose path matches the hash; false if none does.
function openScreen(hash) {
  for (const screen of screens) {
    const match = hash.match(screen.path);
    if (!match) continue;
    const id = 'screen-' + screen.name;
    let section = document.getElementById(id);
    if (!section) {
      section = el('section', { id, hidden: true });
      $('main').appendChild(section);
    }
    show(id);
    if (!allowed(screen)) {
      section.replaceChildren(el('p', { class: 'error', role: 'alert' }, t('error.not_allowed')));
      return true;
    }
    current = screen;
    Promise.resolve(screen.open(section, match, me)).catch((err) => {
      section.appendChild(el('p', { class: 'error', role: 'alert' },
        t('error.generic', { message: err.message })));
    });
    return true;
  }
  return false;
}

// The home page (home.js): what needs this user now, by role.
async function showHome() {
  show('home');
  await Home.show(me);
}

function signedIn(user) {
  me = user;
  $('#logout').hidden = false;
  showNav();
  $('#who').textContent = `${me.display_name} · ${me.facility_name} · ${me.roles.join(', ')}`;
  document.dispatchEvent(new CustomEvent('ferry:signedin', { detail: me }));
  route();
}

function showSignIn() {
  me = null;
  document.dispatchEvent(new CustomEvent('ferry:signedout'));
  CallScreen.close();
  closeScreen();
  show('signin');
  $('#nav').hidden = true;
  $('#logout').hidden = true;
  $('#who').textContent = '';
}

function route() {
  if (!me) {
    return;
  }
  closeScreen();
  Home.hide();
  const call = location.hash.match(/^#\/consultations\/(\d+)\/call$/);
  if (call) {
    show('call');
    CallScreen.open(Number(call[1]), me).catch((err) => {
      $('#call-error').textContent = t('error.generic', { message: err.message });
    });
    return;
  }
  CallScreen.close();
  if (openScreen(location.hash)) {
    return;
  }
  showHome().catch((err) => {
    $('#home').append(el('p', { class: 'error', role: 'alert' }, t('error.generic', { message: err.message })));
  });
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
// The menu is built from data too: build it again (home.js rebuilds the home).
document.addEventListener('ferry:language', () => {
  if (me) {
    showNav();
  }
});
I18n.apply();

window.addEventListener('hashchange', route);
api('GET', '/me').then(signedIn).catch(showSignIn);
