// @ts-check
// Ferry web client: finding a patient fast, and registering one. The search
// takes a name in hanzi or pinyin (`wangxiuying`, `Wang Xiu-ying`), its
// initials (`wxy`), part of a name, a record number in any case or a
// national ID; the closest matches come first. Beside it, "today / my
// patients": whom the user worked on today or has open work for. When
// nobody in scope matches an identifier that a patient outside the user's
// scope holds, the screen says so (nothing more: not who) and offers to
// break the glass right there, with a reason, then opens the patient.

import { api, el, t, when } from '../lib/ferry.js';
import { ageText, patientName } from '../lib/patient-banner.js';
import { labelled, errorLine, table } from './patient.js';
import * as PatientIdentity from './patient-identity.js';


// ---- Finding -------------------------------------------------------------

function patientRows(patients) {
  return patients.map((p) => el('tr', { dataset: { patient: p.id } },
    el('td', null, el('a', { href: `#/patients/${p.id}` }, patientName(p))),
    el('td', null, `${t('sex.' + p.sex)} · ${ageText(p.birth_date)}`),
    el('td', null, p.birth_date),
    el('td', null, p.national_id || ''),
    el('td', null, p.records.map((r) => `${r.facility_name}: ${r.record_number}`).join('; '))));
}

/**
 * The break-the-glass offer for identifiers a patient outside the user's
 * scope holds: a reason (at least 10 characters, as the server asks), then
 * the patient's page. Several patients behind one record number (each
 * facility numbers its own) cannot be told apart: the national ID is asked
 * for instead.
 * @param {HTMLElement} box
 * @param {{by: string, value: string, patients: number}[]} matches
 */
function offerBreakGlass(box, matches) {
  box.replaceChildren(...matches.map((m) => {
    const what = t(m.by === 'national_id' ? 'patients.outside.by_national_id' : 'patients.outside.by_record_number');
    if (m.patients !== 1) {
      return el('p', { class: 'banner', dataset: { by: m.by } }, t('patients.outside.several', { what, value: m.value }));
    }
    const form = el('form', { class: 'break-glass-offer', dataset: { by: m.by } },
      el('p', { class: 'banner', role: 'status' }, t('patients.outside.one', { what, value: m.value })),
      el('p', { class: 'note' }, t('patient.break_glass_help')),
      labelled('patient.break_glass_reason', el('textarea', {
        name: 'reason', required: true, minlength: 10, maxlength: 2000, rows: 2,
        placeholder: t('patients.outside.reason_hint'),
      })),
      el('button', { type: 'submit', class: 'danger', 'data-i18n': 'patient.break_glass' }, t('patient.break_glass')),
      errorLine('break-glass-offer-error'));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const line = form.querySelector('.error');
      line.textContent = '';
      const reason = String(new FormData(form).get('reason') || '').trim();
      if (reason.length < 10) {
        line.textContent = t('patients.outside.reason_short');
        return;
      }
      const button = form.querySelector('button');
      button.disabled = true;
      try {
        const grant = await api('POST', '/break-glass', { [m.by]: m.value, reason });
        location.hash = `#/patients/${grant.patient_id}`;
      } catch (err) {
        line.textContent = err.message;
        button.disabled = false;
      }
    });
    return form;
  }));
  box.hidden = matches.length === 0;
}

async function search(section, q) {
  const out = section.querySelector('#patients-results');
  const outside = section.querySelector('#patients-outside');
  const error = section.querySelector('#patients-search-error');
  error.textContent = '';
  outside.replaceChildren();
  outside.hidden = true;
  out.replaceChildren(el('p', { class: 'note', role: 'status' }, t('patient.loading')));
  try {
    const patients = await api('GET', '/patients?q=' + encodeURIComponent(q));
    out.replaceChildren(table('patients-found',
      ['col.person', 'patients.sex_age', 'col.born', 'patient.national_id', 'col.records'],
      patientRows(patients), 'patients.none'));
    // Only an identifier can name someone outside the scope; a name never
    // does, so a name that finds nobody asks nothing more.
    if (patients.length === 0 && /\d/.test(q)) {
      offerBreakGlass(outside, await api('GET', '/break-glass/matches?q=' + encodeURIComponent(q.trim())));
    }
  } catch (err) {
    out.replaceChildren();
    error.textContent = err.message;
  }
}

// ---- Today / my patients -------------------------------------------------

const REASONS = ['touched', 'consultation', 'reading'];

function recentRows(list, me) {
  return list.map((entry) => {
    const p = entry.patient;
    const own = p.records.find((r) => r.facility_id === me.facility_id) || p.records[0];
    return el('tr', { dataset: { patient: p.id } },
      el('td', null, el('a', { href: `#/patients/${p.id}` }, patientName(p))),
      el('td', null, `${t('sex.' + p.sex)} · ${ageText(p.birth_date)}`),
      el('td', null, own ? own.record_number : ''),
      el('td', null, entry.reasons.filter((r) => REASONS.includes(r)).map((r) => t('patients.recent.' + r)).join(' · ')),
      el('td', null, when(entry.last_at, { timeStyle: 'short', dateStyle: 'short' })));
  });
}

async function recent(box, me) {
  try {
    const list = await api('GET', '/patients/recent');
    box.replaceChildren(table('patients-recent',
      ['col.person', 'patients.sex_age', 'patient.record_number', 'patients.recent.why', 'patients.recent.when'],
      recentRows(list, me), 'patients.recent.none'));
  } catch (err) {
    box.replaceChildren(el('p', { class: 'error', role: 'alert' }, err.message));
  }
}

// ---- Registering ---------------------------------------------------------

// The server's reasons for refusing a national ID (`invalid_national_id`),
// each with words of its own: the English message alone would leave a
// Chinese-speaking registrar guessing which digit to look at.
const NATIONAL_ID_REASONS = {
  length: 'patient.national_id.length',
  characters: 'patient.national_id.characters',
  birth_date: 'patient.national_id.birth_date',
  check_digit: 'patient.national_id.check_digit',
};

/**
 * What to show for a failed registration.
 * @param {import('../lib/ferry.js').ApiFailure} err
 */
function patientError(err) {
  const error = err.body && err.body.error;
  if (!error || error.code !== 'invalid_national_id') return err.message;
  const reason = error.details && error.details.reason;
  return t(Object.hasOwn(NATIONAL_ID_REASONS, reason) ? NATIONAL_ID_REASONS[reason] : 'patient.national_id.invalid');
}

function registerForm(section) {
  const form = el('form', { id: 'patient-register' },
    el('h3', { 'data-i18n': 'patient.register' }, t('patient.register')),
    labelled('patient.family_name', el('input', { name: 'family_name', required: true, autocomplete: 'off' })),
    labelled('patient.given_name', el('input', { name: 'given_name', autocomplete: 'off' })),
    labelled('col.sex', el('select', { name: 'sex' },
      ['female', 'male', 'other', 'unknown'].map((s) => el('option', { value: s, 'data-i18n': 'sex.' + s }, t('sex.' + s))))),
    labelled('col.born', el('input', { name: 'birth_date', type: 'date', required: true })),
    labelled('patient.national_id', el('input', {
      name: 'national_id', autocomplete: 'off', placeholder: '11010519491231002X',
    })),
    labelled('patient.phone', el('input', { name: 'phone', type: 'tel', autocomplete: 'off' })),
    labelled('patient.record_number', el('input', { name: 'record_number', required: true, autocomplete: 'off' })),
    el('button', { type: 'submit', 'data-i18n': 'patient.register_button' }, t('patient.register_button')),
    errorLine('patient-register-error'));
  // Sends the form as it reads now, with `extra` (a choice among the
  // candidates the consortium offered) added.
  const send = async (extra) => {
    const data = new FormData(form);
    const national = String(data.get('national_id')).trim();
    const patient = await api('POST', '/patients', {
      family_name: data.get('family_name'),
      given_name: data.get('given_name'),
      sex: data.get('sex'),
      birth_date: data.get('birth_date'),
      national_id: national || null,
      phone: data.get('phone'),
      record_number: data.get('record_number'),
      ...extra,
    });
    location.hash = `#/patients/${patient.id}`;
  };
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const error = form.querySelector('#patient-register-error');
    error.textContent = '';
    try {
      await send({});
    } catch (err) {
      const refused = err.body && err.body.error;
      if (refused && refused.code === 'possible_same_person') {
        PatientIdentity.offerCandidates(form, refused.details.candidates, send);
      } else {
        error.textContent = patientError(err);
      }
    }
  });
  section.appendChild(form);
}

/** @type {import('../lib/ferry.js').ScreenModule} */
export const patientsScreen = {
  async open(section, match, me) {
    const input = el('input', {
      name: 'q', required: true, type: 'search', autocomplete: 'off', autocapitalize: 'off',
      spellcheck: false, placeholder: t('patients.search_hint'), 'data-i18n-placeholder': 'patients.search_hint',
    });
    const form = el('form', { id: 'patients-search' },
      labelled('patients.search', input),
      el('button', { type: 'submit', 'data-i18n': 'patients.find' }, t('patients.find')));
    const today = el('div', { id: 'patients-today-list' }, el('p', { class: 'note', role: 'status' }, t('patient.loading')));
    section.replaceChildren(
      el('h2', { 'data-i18n': 'home.patients' }, t('home.patients')),
      form, errorLine('patients-search-error'), el('div', { id: 'patients-results' }),
      el('div', { id: 'patients-outside', hidden: true }),
      el('section', { id: 'patients-today', class: 'panel' },
        el('h3', { 'data-i18n': 'patients.recent.title' }, t('patients.recent.title')), today));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      search(section, String(new FormData(form).get('q') || ''));
    });
    const searched = match[1] ? decodeURIComponent(match[1]) : '';
    if (searched) input.value = searched;
    await Promise.all([recent(today, me), searched ? search(section, searched) : null]);
    if (me.roles.includes('clinician')) registerForm(section);
  },
};
