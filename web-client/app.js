// Ferry web client, the shell: sign-in, the signed-in user's home (the
// consultations that need them, facilities, a patient search), the call
// screen, and every screen registered through `Ferry.screen`, chosen by the
// address's hash (#/, #/consultations/{id}/call, a screen's own path). The
// session lives in an HttpOnly cookie set by the server.
'use strict';

const $ = (selector) => document.querySelector(selector);
const t = (key, params) => window.FerryI18n.t(key, params);

const { api, cell, el } = window.Ferry;

let me = null;

let current = null;

function show(section) {
  for (const element of document.querySelectorAll('main > section')) {
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
  for (const screen of window.Ferry.screens) {
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
  for (const screen of window.Ferry.screens) {
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

async function showFacilities() {
  const facilities = await api('GET', '/facilities');
  const body = $('#facilities tbody');
  body.replaceChildren();
  for (const f of facilities) {
    const row = document.createElement('tr');
    cell(row, f.name);
    cell(row, f.tier);
    cell(row, f.time_zone);
    body.appendChild(row);
  }
}

// Consultations with a call to join now or soon: scheduled or in progress.
async function showConsultations() {
  const treats = me.roles.some((r) => ['clinician', 'expert'].includes(r));
  $('#consultations-panel').hidden = !treats;
  if (!treats) {
    return;
  }
  $('#consultations-error').textContent = '';
  const body = $('#consultations tbody');
  body.replaceChildren();
  try {
    const lists = await Promise.all(['scheduled', 'in_progress'].map(
      (status) => api('GET', '/consultations?status=' + status)));
    const mine = lists.flat().filter(
      (c) => c.requested_by === me.id || c.expert_id === me.id);
    for (const c of mine) {
      const row = document.createElement('tr');
      row.dataset.consultation = c.id;
      cell(row, c.patient_name);
      cell(row, c.requested_by === me.id ? (c.expert_name || '') : c.requesting_facility_name);
      cell(row, c.specialty);
      cell(row, t('urgency.' + c.urgency));
      cell(row, t('status.' + c.status));
      const join = document.createElement('a');
      join.href = `#/consultations/${c.id}/call`;
      join.className = 'button';
      join.textContent = t('consultation.join');
      cell(row, join);
      body.appendChild(row);
    }
    $('#consultations-empty').hidden = mine.length > 0;
  } catch (err) {
    $('#consultations-error').textContent = err.message;
  }
}

async function showHome() {
  show('home');
  const cares = me.roles.some((r) => ['clinician', 'expert', 'radiologist'].includes(r));
  $('#patients-panel').hidden = !cares;
  await Promise.all([showFacilities(), showConsultations()]);
}

function signedIn(user) {
  me = user;
  $('#logout').hidden = false;
  showNav();
  $('#who').textContent = `${me.display_name} · ${me.facility_name} · ${me.roles.join(', ')}`;
  route();
}

function showSignIn() {
  me = null;
  window.FerryCallScreen.close();
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
  const call = location.hash.match(/^#\/consultations\/(\d+)\/call$/);
  if (call) {
    show('call');
    window.FerryCallScreen.open(Number(call[1]), me).catch((err) => {
      $('#call-error').textContent = t('error.generic', { message: err.message });
    });
    return;
  }
  window.FerryCallScreen.close();
  if (openScreen(location.hash)) {
    return;
  }
  showHome().catch((err) => {
    $('#consultations-error').textContent = err.message;
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

$('#search-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const q = new FormData(event.target).get('q');
  $('#search-error').textContent = '';
  const body = $('#patients tbody');
  body.replaceChildren();
  try {
    const patients = await api('GET', '/patients?q=' + encodeURIComponent(q));
    for (const p of patients) {
      const row = document.createElement('tr');
      cell(row, `${p.family_name}${p.given_name}`);
      cell(row, p.sex);
      cell(row, p.birth_date);
      cell(row, p.records.map((r) => `${r.facility_name}: ${r.record_number}`).join('; '));
      body.appendChild(row);
    }
    if (patients.length === 0) $('#search-error').textContent = t('patients.none');
  } catch (err) {
    $('#search-error').textContent = err.message;
  }
});

const language = $('#language');
for (const [tag, name] of window.FerryI18n.languages) {
  const option = document.createElement('option');
  option.value = tag;
  option.textContent = name;
  language.appendChild(option);
}
language.value = window.FerryI18n.current();
language.addEventListener('change', () => window.FerryI18n.set(language.value));
// Rows built from data carry translated words too: build them again.
document.addEventListener('ferry:language', () => {
  if (me && !$('#home').hidden) {
    showConsultations();
  }
  if (me) {
    showNav();
  }
});
window.FerryI18n.apply();

window.addEventListener('hashchange', route);
api('GET', '/me').then(signedIn).catch(showSignIn);
