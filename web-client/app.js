// Ferry web client: sign-in, the signed-in user's home (the consultations
// that need them, facilities, a patient search) and the call screen, chosen
// by the address's hash (#/ or #/consultations/{id}/call). The session
// lives in an HttpOnly cookie set by the server.
'use strict';

const $ = (selector) => document.querySelector(selector);
const t = (key, params) => window.FerryI18n.t(key, params);

async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers['Content-Type'] = 'application/json';
    options.body = JSON.stringify(body);
  }
  const response = await fetch('/api/v1' + path, options);
  const data = response.status === 204 ? null : await response.json();
  if (!response.ok) {
    const message = data && data.error ? data.error.message : response.statusText;
    throw Object.assign(new Error(message), { status: response.status, body: data });
  }
  return data;
}

function cell(row, content) {
  const td = document.createElement('td');
  if (content instanceof Node) {
    td.appendChild(content);
  } else {
    td.textContent = content;
  }
  row.appendChild(td);
  return td;
}

let me = null;

function show(section) {
  for (const id of ['signin', 'home', 'call']) {
    $('#' + id).hidden = id !== section;
  }
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
  $('#who').textContent = `${me.display_name} · ${me.facility_name} · ${me.roles.join(', ')}`;
  route();
}

function showSignIn() {
  me = null;
  window.FerryCallScreen.close();
  show('signin');
  $('#logout').hidden = true;
  $('#who').textContent = '';
}

function route() {
  if (!me) {
    return;
  }
  const call = location.hash.match(/^#\/consultations\/(\d+)\/call$/);
  if (call) {
    show('call');
    window.FerryCallScreen.open(Number(call[1]), me).catch((err) => {
      $('#call-error').textContent = t('error.generic', { message: err.message });
    });
    return;
  }
  window.FerryCallScreen.close();
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
});
window.FerryI18n.apply();

window.addEventListener('hashchange', route);
window.ferryApi = api;
api('GET', '/me').then(signedIn).catch(showSignIn);
