// @ts-check
// Ferry web client: the case page, #/consultations/{id}. Everything the
// expert reads before and during the consultation (patient, who asks and
// from where, the question, urgency, the booked time, the attached studies
// with thumbnails) and what they do with it (accept from the on-call queue,
// start, join the call, decline), with the opinion below (opinion.js). The
// requesting clinician reads the signed opinion on the same page.
//
// The times it shares with the home page and the bell are in
// consultation-times.js.

import { api, request, el, t } from '../lib/ferry.js';
import { boundTo, patientBanner } from '../lib/patient-banner.js';
import { specialtyName } from '../lib/terms.js';
import * as CallRecord from '../call/call-record.js';
import * as Viewer from '../viewer/viewer.js';
import * as Opinion from './opinion.js';
import * as CaseExtras from './case-extras.js';
import { mountConsents } from './service-consents.js';
import { bookingOf, callState, dayIn, formatIn, here, zone } from './consultation-times.js';

function studyField(study, tag) {
  const element = study && study[tag];
  const value = element && element.Value && element.Value[0];
  if (value && typeof value === 'object') return value.Alphabetic || '';
  return value === undefined || value === null ? '' : String(value);
}

function dicomDate(text) {
  return /^\d{8}$/.test(text) ? `${text.slice(0, 4)}-${text.slice(4, 6)}-${text.slice(6)}` : text;
}

function studyCard(uid) {
  const caption = el('figcaption', null, uid);
  const link = el('a', { href: `#/studies/${encodeURIComponent(uid)}`, class: 'thumb-link', title: t('case.open_viewer') },
    el('img', {
      class: 'thumb', alt: t('case.open_viewer'), loading: 'lazy',
      src: `/dicomweb/studies/${encodeURIComponent(uid)}/thumbnail`,
      onerror: (event) => { event.target.replaceWith(el('span', { class: 'thumb missing' }, t('case.study_unavailable'))); },
    }));
  const figure = el('figure', { class: 'study', dataset: { study: uid } }, link, caption);
  request(`/dicomweb/studies?StudyInstanceUID=${encodeURIComponent(uid)}`, {
    headers: { Accept: 'application/dicom+json' },
  }).then((found) => {
    const study = Array.isArray(found) ? found[0] : null;
    if (!study) return;
    const modality = studyField(study, '00080061');
    const description = studyField(study, '00081030');
    const date = dicomDate(studyField(study, '00080020'));
    const count = studyField(study, '00201208');
    const title = [...new Set([modality, description].filter(Boolean))].join(' · ');
    caption.replaceChildren(
      el('strong', null, title || uid),
      el('br'),
      el('span', { class: 'muted' }, [date, count && t('case.instances', { count })].filter(Boolean).join(' · ')));
  }).catch(() => {});
  let viewer = null;
  const holder = el('div', { class: 'study-viewer', hidden: true });
  const button = el('button', { type: 'button' }, t('case.view_here'));
  button.addEventListener('click', () => {
    if (viewer) {
      viewer.destroy();
      viewer = null;
      holder.hidden = true;
      button.textContent = t('case.view_here');
      return;
    }
    holder.hidden = false;
    viewer = Viewer.mount(holder, uid);
    button.textContent = t('case.hide_viewer');
  });
  figure.append(button, holder);
  return figure;
}

function row(label, value) {
  if (value === undefined || value === null || value === '') return null;
  return [el('dt', null, label), el('dd', null, value)];
}

// A small form that asks for a reason, then runs `act(reason)`.
function reasonForm(openKey, labelKey, confirmKey, act, danger) {
  const error = el('p', { class: 'error', role: 'alert' });
  const input = el('textarea', { name: 'reason', rows: 2, required: true, minlength: 3 });
  const form = el('form', { class: 'reason-form', hidden: true },
    el('label', null, el('span', null, t(labelKey)), input),
    el('button', { type: 'submit', class: danger ? 'danger' : '' }, t(confirmKey)),
    error);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    try {
      await act(input.value);
    } catch (err) {
      error.textContent = err.message;
    }
  });
  const opener = el('button', { type: 'button', class: danger ? 'danger' : '', onclick: () => {
    form.hidden = !form.hidden;
    if (!form.hidden) input.focus();
  } }, t(openKey));
  return [opener, form];
}

/**
 * The open case page; `editing` is the opinion editor's (see `editing`).
 * @type {{id: number, me: import('../lib/ferry.js').Me, section: HTMLElement,
 *   onNotification?: (event: CustomEvent) => void, onLanguage?: () => void,
 *   editing?: () => boolean, consultation?: object} | null}
 */
let state = null;

async function render(section, id, me) {
  const mine = state;
  const c = await api('GET', `/consultations/${id}`);
  const [patient, timeZone, bookings, call] = await Promise.all([
    // The banner's facts; a party who may not read the whole record still
    // sees the name the consultation carries.
    api('GET', `/patients/${c.patient_id}`).catch(() => ({
      id: c.patient_id, family_name: c.patient_name, given_name: '', sex: 'unknown', birth_date: '', records: [],
    })),
    zone(me),
    api('GET', `/bookings?consultation_id=${id}`).catch(() => []),
    callState(c, me),
  ]);
  if (mine !== state) return;
  const booking = bookingOf(bookings, id);
  const isExpert = c.expert_id === me.id;
  const isRequester = me.roles.includes('clinician') && me.facility_id === c.requesting_facility_id;
  const onCallCandidate = me.roles.includes('expert') && c.status === 'requested' && c.urgency !== 'routine'
    && (!c.expert_id || c.expert_id === me.id);

  const error = el('p', { class: 'error', role: 'alert', id: 'case-error' });
  const act = async (fn) => {
    error.textContent = '';
    // Every step acts on this case's patient: refused if the screen shows
    // another by now.
    if (!boundTo(section, c.patient_id)) {
      error.textContent = t('banner.changed');
      return;
    }
    try {
      await fn();
      await render(section, id, me);
    } catch (err) {
      error.textContent = err.message;
    }
  };

  let when;
  if (booking) {
    when = el('span', { class: 'booking-time', dataset: { status: booking.status } },
      formatIn(booking.start, timeZone, { weekday: 'short', year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }),
      ' – ', formatIn(booking.end, timeZone, { hour: '2-digit', minute: '2-digit' }),
      ' ', el('span', { class: 'muted' }, `(${t('case.zone', { zone: timeZone })})`),
      booking.status !== 'booked' ? ` · ${t('booking.status.' + booking.status)}` : '');
  } else if (c.expert_id && c.status !== 'requested') {
    when = t('case.on_call');
  } else if (c.urgency !== 'routine' && !c.expert_id) {
    when = t('case.unassigned');
  } else {
    when = t('case.no_booking');
  }

  const actions = el('div', { class: 'controls case-actions', role: 'group', 'aria-label': t('case.actions') });
  if (call.open && (isExpert || c.requested_by === me.id)) {
    actions.append(el('a', { class: 'button primary', href: `#/consultations/${id}/call`, id: 'case-join' }, t('case.join')));
  } else if (call.opens_at) {
    // Not open yet: Join shown disabled with the time, and the waiting
    // room (call/call-waiting.js) that enables it when the call opens.
    actions.append(el('button', { type: 'button', class: 'primary', id: 'case-join', disabled: true }, t('case.join')),
      el('span', { class: 'muted call-opens' }, t('case.call_opens', { time: formatIn(call.opens_at, timeZone) })),
      (isExpert || c.requested_by === me.id) && el('a', { href: `#/consultations/${id}/call`, id: 'case-waiting-room' }, t('call.waiting_room')));
  }
  if (onCallCandidate) {
    actions.append(el('button', { type: 'button', class: 'primary', id: 'case-accept',
      onclick: () => act(() => api('POST', `/consultations/${id}/accept`)) }, t('case.accept')));
  }
  if (isExpert && c.status === 'scheduled') {
    actions.append(el('button', { type: 'button', id: 'case-start', title: t('case.start_hint'),
      onclick: () => act(() => api('POST', `/consultations/${id}/status`, { status: 'in_progress', patient_id: c.patient_id })) }, t('case.start')));
  }
  if (isExpert && ['requested', 'scheduled'].includes(c.status)) {
    actions.append(...reasonForm('case.decline', 'case.decline_reason', 'case.decline_confirm',
      (reason) => act(() => api('POST', `/consultations/${id}/status`, { status: 'declined', reason, patient_id: c.patient_id })), true));
  }
  // No-show once the slot has begun (case-extras.js).
  actions.append(...CaseExtras.bookingActions(booking, c, me, act));
  if (isRequester && c.status === 'requested' && c.urgency === 'routine') {
    actions.append(el('a', { href: `#/consultations/${id}/book`, class: 'button' }, t('case.book')));
  }
  if (isRequester && ['requested', 'scheduled'].includes(c.status)) {
    actions.append(...reasonForm('case.cancel', 'case.cancel_reason', 'case.cancel_confirm',
      (reason) => act(() => api('POST', `/consultations/${id}/status`, { status: 'cancelled', reason, patient_id: c.patient_id })), true));
  }

  const details = el('dl', { class: 'case-details' },
    row(t('case.patient'), el('a', { href: `#/patients/${c.patient_id}`, class: 'case-patient' }, c.patient_name)),
    row(t('case.requested_by'), el('span', { class: 'case-requester' },
      `${c.requested_by_name || ''} · ${c.requesting_facility_name}`)),
    row(t('case.expert'), c.expert_name || '—'),
    row(t('case.specialty'), specialtyName(c.specialty)),
    row(t('case.service'), t('service.' + c.service)),
    row(t('case.urgency'), el('span', { class: `urgency urgency-${c.urgency}` }, t('urgency.' + c.urgency))),
    row(t('case.status'), el('span', { class: `status status-${c.status}` }, t('status.' + c.status))),
    row(t('case.status_reason'), c.status_reason),
    row(t('case.booking'), when),
    row(t('case.requested_at'), formatIn(c.created_at, timeZone)),
    row(t('case.question'), c.reason && el('p', { class: 'case-question prewrap' }, c.reason)),
    row(t('case.summary'), c.clinical_summary && el('p', { class: 'case-summary prewrap' }, c.clinical_summary)));

  const studies = el('div', { class: 'studies' }, ...c.studies.map(studyCard));
  const opinion = el('div', { id: 'case-opinion' });
  const consents = el('div', { id: 'case-consents' });
  const invitees = el('div', { id: 'case-invitees' });
  const callRecord = el('div', { id: 'case-call-record' });

  section.replaceChildren(
    patientBanner(patient, me),
    el('p', null, el('a', { href: '#/' }, '← ', t('case.back'))),
    el('h2', null, t('case.title', { id: c.id }), ' · ', c.patient_name),
    actions,
    error,
    details,
    el('h3', null, t('case.studies')),
    c.studies.length ? studies : el('p', { class: 'muted' }, t('case.no_studies')),
    consents,
    invitees,
    callRecord,
    opinion);
  state.consultation = c;
  // The patient's consents to the case (service-consents.js).
  const consentService = {
    path: `/consultations/${c.id}`,
    kinds: ['teleconsultation', 'recording'],
    patientId: c.patient_id,
    recorder: isRequester && !['completed', 'cancelled', 'declined'].includes(c.status),
  };
  mountConsents(consents, consentService, act).catch((err) => { consents.textContent = err.message; });
  // Who else may join the call (case-extras.js).
  CaseExtras.mountInvitees(invitees, c, me).catch((err) => { invitees.textContent = err.message; });
  // The call's chat and recordings (call/call-record.js), when it had any.
  CallRecord.mount(callRecord, c, me).catch((err) => console.warn('call record:', err));
  if (c.reason !== undefined && c.reason !== null) {
    await Opinion.mount(opinion, c, me, () => render(section, id, me));
  }
}

/** @type {import('../lib/ferry.js').ScreenModule} */
export const consultationScreen = {
  async open(section, match, me) {
    const id = Number(match[1]);
    state = { id, me, section };
    const mine = state;
    section.replaceChildren(el('p', { class: 'muted' }, '…'));
    const reload = () => {
      if (mine === state) {
        render(section, id, me).catch((err) => {
          section.append(el('p', { class: 'error', role: 'alert' }, err.message));
        });
      }
    };
    // Another party's step (an acceptance, a signature) shows at once.
    state.onNotification = (event) => {
      const p = event.detail && event.detail.payload;
      if (p && p.consultation_id === id && !(state.editing && state.editing())) reload();
    };
    state.onLanguage = () => {
      if (!(state.editing && state.editing())) reload();
    };
    document.addEventListener('ferry:notification', state.onNotification);
    document.addEventListener('ferry:language', state.onLanguage);
    await render(section, id, me);
  },
  close() {
    if (state) {
      document.removeEventListener('ferry:notification', state.onNotification);
      document.removeEventListener('ferry:language', state.onLanguage);
    }
    state = null;
  },
};

/**
 * Lets the opinion editor (opinion.js) say whether it holds unsaved words,
 * so the case page does not redraw over them.
 * @param {() => boolean} fn
 */
function editing(fn) {
  if (state) state.editing = fn;
}

export { zone, formatIn, here, dayIn, bookingOf, callState, studyCard, editing };
