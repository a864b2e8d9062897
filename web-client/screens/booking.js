// @ts-check
// Ferry web client: asking for a consultation about a patient, and booking
// a routine one into an expert's free slot on a week calendar shown in the
// clinician's own time zone (the browser's). Urgent and emergency requests
// are not booked: the server puts them on the specialty's on-call queue,
// and this screen says so and who is on call.

import { api, el, t, when } from '../lib/ferry.js';
import * as I18n from '../lib/i18n.js';
import { boundTo, patientBanner } from '../lib/patient-banner.js';
import { specialtyName } from '../lib/terms.js';
import * as Patients from './patient.js';

const DAY_MS = 24 * 3600 * 1000;

const zone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;

function labelled(key, control) {
  return el('label', null, el('span', { 'data-i18n': key }, t(key)), ' ', control);
}

// YYYY-MM-DD of an instant in the browser's zone.
function localDate(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function monday(offsetWeeks) {
  const now = new Date();
  return new Date(now.getFullYear(), now.getMonth(), now.getDate() - ((now.getDay() + 6) % 7) + 7 * offsetWeeks);
}

function time(iso) {
  return new Date(iso).toLocaleTimeString(I18n.current(), { hour: '2-digit', minute: '2-digit' });
}

// ---- Asking for a consultation ------------------------------------------

async function specialties() {
  const experts = await api('GET', '/experts');
  const names = [...new Set(experts.flatMap((e) => e.specialties))].sort();
  return { experts, names };
}

async function onCall(container, consultation) {
  const shifts = await api('GET', `/on-call/shifts?specialty=${encodeURIComponent(consultation.specialty)}`);
  const now = Date.now();
  const current = shifts.filter((s) => Date.parse(s.starts_at) <= now && Date.parse(s.ends_at) > now);
  container.replaceChildren(
    el('p', { id: 'consult-on-call', class: 'banner', role: 'status' },
      t('consult.on_call_sent', { specialty: specialtyName(consultation.specialty), urgency: t('urgency.' + consultation.urgency) })),
    el('p', null, current.length > 0
      ? t('consult.on_call_now', { names: current.map((s) => s.expert_name).join(', ') })
      : t('consult.on_call_nobody')),
    el('p', null, el('a', { class: 'button', href: `#/consultations/${consultation.id}` }, t('consult.follow')),
      ' ', el('a', { href: `#/patients/${consultation.patient_id}` }, t('upload.back_to_patient'))));
}

// The form's patient is fixed when it is made; a form whose screen now
// shows someone else (or no longer shows at all) sends nothing.
function refuseIfChanged(section, patientId, error) {
  if (boundTo(section, patientId)) return false;
  error.textContent = t('banner.changed');
  return true;
}

async function openRequest(section, patientId, me) {
  const [patient, { experts, names }] = await Promise.all([api('GET', `/patients/${patientId}`), specialties()]);
  let studies = [];
  try {
    studies = await Patients.studiesOf(patient);
  } catch (_) {
    studies = [];
  }
  const expertSelect = el('select', { name: 'expert_id' });
  const specialty = el('select', { name: 'specialty', required: true },
    names.map((n) => el('option', { value: n }, specialtyName(n))));
  const urgency = el('select', { name: 'urgency' },
    ['routine', 'urgent', 'emergency'].map((u) => el('option', { value: u }, t('urgency.' + u))));
  function experts_of() {
    expertSelect.replaceChildren(el('option', { value: '' }, t('consult.any_expert')),
      ...experts.filter((e) => e.specialties.includes(specialty.value))
        .map((e) => el('option', { value: e.id }, `${e.display_name} · ${e.facility_name}`)));
    expertSelect.disabled = urgency.value !== 'routine';
  }
  specialty.addEventListener('change', experts_of);
  urgency.addEventListener('change', experts_of);
  experts_of();
  const form = el('form', { id: 'consult-form' },
    labelled('col.specialty', specialty),
    labelled('col.urgency', urgency),
    el('p', { class: 'hint', 'data-i18n': 'consult.urgency_help' }, t('consult.urgency_help')),
    labelled('consult.expert', expertSelect),
    labelled('consult.service', el('select', { name: 'service' },
      ['video', 'async_review'].map((s) => el('option', { value: s }, t('consult.service.' + s))))),
    labelled('consult.reason', el('textarea', { name: 'reason', required: true, rows: 3 })),
    labelled('consult.summary', el('textarea', { name: 'clinical_summary', rows: 4 })),
    studies.length > 0 ? el('fieldset', null, el('legend', null, t('consult.studies')),
      studies.map((s) => el('label', { class: 'inline' },
        el('input', { type: 'checkbox', name: 'studies', value: s.study_instance_uid, checked: true }),
        ` ${Patients.dicomDate(s.study_date || '')} ${String(s.modalities).split('\\').join(', ')} ${s.description || ''}`,
        ` · ${Patients.facilityLabel(s.facility_name, s.facility_tier)}`))) : null,
    el('button', { type: 'submit', 'data-i18n': 'consult.send' }, t('consult.send')),
    el('p', { id: 'consult-error', class: 'error', role: 'alert' }));
  const outcome = el('div', { id: 'consult-outcome' });
  form.dataset.patientId = String(patient.id);
  section.replaceChildren(
    patientBanner(patient, me),
    el('h2', null, t('consult.title', { name: Patients.personName(patient) })),
    form, outcome);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const error = form.querySelector('#consult-error');
    error.textContent = '';
    if (refuseIfChanged(section, patient.id, error)) return;
    const expert = data.get('expert_id');
    try {
      const consultation = await api('POST', '/consultations', {
        patient_id: patient.id,
        specialty: data.get('specialty'),
        expert_id: expert && data.get('urgency') === 'routine' ? Number(expert) : null,
        urgency: data.get('urgency'),
        service: data.get('service'),
        reason: data.get('reason'),
        clinical_summary: data.get('clinical_summary') || '',
        studies: data.getAll('studies'),
      });
      if (consultation.urgency === 'routine') {
        location.hash = `#/consultations/${consultation.id}/book`;
      } else {
        form.hidden = true;
        await onCall(outcome, consultation);
      }
    } catch (err) {
      error.textContent = err.message;
    }
  });
}

/** @type {import('../lib/ferry.js').ScreenModule} */
export const consultScreen = {
  open(section, match, me) {
    return openRequest(section, Number(match[1]), me);
  },
};

// ---- Booking a slot -----------------------------------------------------

function slotButton(slot, choose) {
  const left = slot.capacity > 1 ? ` · ${t('book.left', { n: slot.remaining })}` : '';
  return el('button', {
    type: 'button', class: 'slot', dataset: { start: slot.start, expert: slot.expert_id },
    title: `${when(slot.start)} – ${time(slot.end)}`,
    onclick: () => choose(slot),
  }, el('strong', null, time(slot.start)), ` ${slot.expert_name}${left}`);
}

function week(container, first, slots, choose) {
  const days = [];
  for (let n = 0; n < 7; n += 1) {
    const day = new Date(first.getFullYear(), first.getMonth(), first.getDate() + n);
    days.push({ date: localDate(day), day, slots: [] });
  }
  const now = Date.now();
  for (const slot of slots) {
    if (new Date(slot.start).getTime() <= now) continue;
    const day = days.find((d) => d.date === localDate(new Date(slot.start)));
    if (day) day.slots.push(slot);
  }
  const language = I18n.current();
  const today = localDate(new Date());
  container.replaceChildren(el('div', { class: 'week', id: 'book-week' },
    days.map((d) => el('div', { class: d.date === today ? 'day today' : 'day', dataset: { date: d.date } },
      el('h4', null, d.day.toLocaleDateString(language, { weekday: 'short', month: 'short', day: 'numeric' })),
      d.slots.length > 0 ? d.slots.map((s) => slotButton(s, choose)) : el('p', { class: 'empty' }, '—')))));
  return days.reduce((n, d) => n + d.slots.length, 0);
}

async function bookedSlot(consultation) {
  const bookings = await api('GET', `/bookings?consultation_id=${consultation.id}&tz=${encodeURIComponent(zone())}`);
  return bookings.find((b) => b.status === 'booked' || b.status === 'held');
}

function showBooked(section, consultation, booking) {
  section.querySelector('#book-done').replaceChildren(
    el('p', { id: 'book-booked', class: 'banner', role: 'status' },
      t('book.booked', { when: when(booking.start), end: time(booking.end), expert: booking.expert_name })),
    el('p', null,
      el('a', { class: 'button', href: `#/consultations/${consultation.id}` }, t('consult.follow')), ' ',
      el('a', { href: `#/patients/${consultation.patient_id}` }, t('upload.back_to_patient'))));
}

async function openBooking(section, id, me) {
  const consultation = await api('GET', `/consultations/${id}`);
  const patient = await api('GET', `/patients/${consultation.patient_id}`);
  section.replaceChildren(
    patientBanner(patient, me),
    el('h2', null, t('book.title', { name: consultation.patient_name, specialty: specialtyName(consultation.specialty) })),
    el('p', { class: 'hint' }, t('book.zone', { zone: zone() })),
    el('div', { id: 'book-done' }));
  if (consultation.status !== 'requested') {
    const booking = await bookedSlot(consultation);
    if (booking) showBooked(section, consultation, booking);
    else section.appendChild(el('p', null, t('book.not_bookable', { status: t('status.' + consultation.status) })));
    return;
  }
  if (consultation.urgency !== 'routine') {
    const box = el('div');
    section.appendChild(box);
    await onCall(box, consultation);
    return;
  }
  let offset = 0;
  let chosen = null;
  const calendar = el('div', { id: 'book-calendar' });
  const heading = el('h3', { id: 'book-range' });
  const notice = el('p', { id: 'book-next', role: 'status' });
  const confirm = el('div', { id: 'book-confirm', hidden: true },
    el('p', { id: 'book-chosen' }),
    el('button', { type: 'button', id: 'book-submit', 'data-i18n': 'book.book' }, t('book.book')));
  const error = el('p', { id: 'book-error', class: 'error', role: 'alert' });
  const nav = el('p', { class: 'week-nav' },
    el('button', { type: 'button', id: 'book-prev', onclick: () => { offset -= 1; load(); } }, t('book.previous')),
    el('button', { type: 'button', id: 'book-this', onclick: () => { offset = 0; load(); } }, t('book.this_week')),
    el('button', { type: 'button', id: 'book-next-week', onclick: () => { offset += 1; load(); } }, t('book.next')));
  section.append(nav, heading, notice, calendar, confirm, error);

  function choose(slot) {
    chosen = slot;
    for (const b of calendar.querySelectorAll('button.slot')) {
      b.classList.toggle('chosen', b.dataset.start === slot.start && Number(b.dataset.expert) === slot.expert_id);
    }
    confirm.querySelector('#book-chosen').textContent = t('book.confirm', {
      when: when(slot.start), end: time(slot.end), expert: slot.expert_name, facility: slot.facility_name,
    });
    confirm.hidden = false;
  }

  // Weeks clicked through quickly load at once; only the last one asked
  // for may draw, whichever answer arrives last.
  let shown = 0;
  async function load() {
    shown += 1;
    const mine = shown;
    error.textContent = '';
    confirm.hidden = true;
    chosen = null;
    const first = monday(offset);
    const last = new Date(first.getTime() + 6.5 * DAY_MS);
    nav.querySelector('#book-prev').disabled = offset <= 0;
    heading.textContent = t('book.week', { from: first.toLocaleDateString(I18n.current(), { dateStyle: 'medium' }),
      to: last.toLocaleDateString(I18n.current(), { dateStyle: 'medium' }) });
    const query = new URLSearchParams({
      from: localDate(first), to: localDate(last), tz: zone(), service: consultation.service, limit: '2000',
    });
    if (consultation.expert_id) query.set('expert_id', consultation.expert_id);
    else query.set('specialty', consultation.specialty);
    try {
      const search = await api('GET', '/slots?' + query);
      if (mine !== shown) return;
      const count = week(calendar, first, search.slots, choose);
      notice.replaceChildren();
      if (count === 0) {
        notice.append(t('book.none'));
        for (const next of search.next_free.filter((n) => n.start)) {
          notice.append(' ', el('button', {
            type: 'button', class: 'link',
            onclick: () => {
              offset = Math.floor((Date.parse(next.start) - monday(0).getTime()) / (7 * DAY_MS));
              load();
            },
          }, t('book.next_free', { expert: next.expert_name, when: when(next.start) })));
        }
      }
    } catch (err) {
      if (mine === shown) error.textContent = err.message;
    }
  }

  confirm.querySelector('#book-submit').addEventListener('click', async () => {
    if (!chosen) return;
    error.textContent = '';
    if (refuseIfChanged(section, consultation.patient_id, error)) return;
    try {
      const booking = await api('POST', '/bookings', {
        expert_id: chosen.expert_id, start: chosen.start, consultation_id: consultation.id,
        patient_id: consultation.patient_id,
      });
      for (const element of [nav, heading, notice, calendar, confirm]) element.hidden = true;
      showBooked(section, consultation, booking);
    } catch (err) {
      error.textContent = err.message;
      const alternatives = (err.body && err.body.error && err.body.error.details && err.body.error.details.next_free) || [];
      await load();
      error.textContent = err.message;
      if (alternatives.length > 0) {
        error.append(' ', t('book.alternatives'), ' ');
        for (const slot of alternatives.filter((s) => s.start)) {
          error.append(el('button', { type: 'button', class: 'slot', onclick: () => choose({ ...slot, facility_name: slot.facility_name || '' }) },
            `${when(slot.start)} ${slot.expert_name}`), ' ');
        }
      }
    }
  });
  await load();
}

/** @type {import('../lib/ferry.js').ScreenModule} */
export const bookScreen = {
  open(section, match, me) {
    return openBooking(section, Number(match[1]), me);
  },
};
