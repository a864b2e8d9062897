// Ferry web client: sign-in, the signed-in user's home, facilities and a
// patient search. The session lives in an HttpOnly cookie set by the server.
'use strict';

const $ = (selector) => document.querySelector(selector);

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
    throw Object.assign(new Error(message), { status: response.status });
  }
  return data;
}

function cell(row, text) {
  const td = document.createElement('td');
  td.textContent = text;
  row.appendChild(td);
}

async function showHome(me) {
  $('#signin').hidden = true;
  $('#home').hidden = false;
  $('#logout').hidden = false;
  $('#who').textContent = `${me.display_name} · ${me.facility_name} · ${me.roles.join(', ')}`;
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
  const cares = me.roles.some((r) => ['clinician', 'expert', 'radiologist'].includes(r));
  $('#patients-panel').hidden = !cares;
}

function showSignIn() {
  $('#signin').hidden = false;
  $('#home').hidden = true;
  $('#logout').hidden = true;
  $('#who').textContent = '';
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
    await showHome(login.user);
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
    if (patients.length === 0) $('#search-error').textContent = 'No patient in your scope matches.';
  } catch (err) {
    $('#search-error').textContent = err.message;
  }
});

api('GET', '/me').then(showHome).catch(showSignIn);
