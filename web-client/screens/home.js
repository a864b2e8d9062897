// @ts-check
// Ferry web client: the home page, what needs the signed-in user now, by
// role. Clinicians: their consultations (with the call to join), results
// not yet read, critical results to acknowledge, referrals under way,
// images waiting for a patient.
// Experts: today's consultations in their own clinic's time, the on-call
// queue to accept from, opinions to write. Radiologists: the worklist's
// counts and most pressing requests. Schedulers: holds and requests to book,
// the on-call queue. Administrators: their screens. Each panel loads on its
// own, so one failing leaves the others.

import { api, el, t } from '../lib/ferry.js';
import { patientLabel } from '../lib/patient-banner.js';
import { examinationName, specialtyName, tierName } from '../lib/terms.js';
import * as Consultation from './consultation-times.js';
import * as Notifications from './notifications.js';
import { unlinkedStudies } from './unlinked.js';
import { HOME_ASKS, screens } from './index.js';

// How often the page re-reads while open, so a call that opens or a
// queue that moves shows without a reload.
const REFRESH_MS = 60000;
const OPEN = ['requested', 'scheduled', 'in_progress', 'awaiting_opinion'];
const LIVE = Consultation.CALL_LIVE;
const RESULT_KINDS = ['opinion.signed', 'opinion.amended', 'reading.report_signed', 'reading.report_amended'];

let me = null;
let generation = 0;
let timer = null;

const has = (...roles) => me.roles.some((r) => roles.includes(r));

// A panel: a heading, then what `fill(body)` puts in it, or its error.
function panel(id, titleKey, fill) {
  const body = el('div', { class: 'panel-body' });
  const error = el('p', { class: 'error', role: 'alert' });
  const section = el('div', { class: 'panel', id }, el('h2', { 'data-i18n': titleKey }, t(titleKey)), body, error);
  section.ready = Promise.resolve().then(() => fill(body, section)).catch((err) => {
    error.textContent = err.message;
  });
  return section;
}

function table(id, columns, rows, emptyKey) {
  if (rows.length === 0) return el('p', { class: 'muted empty', 'data-i18n': emptyKey }, t(emptyKey));
  return el('table', { id },
    el('thead', null, el('tr', null, ...columns.map((key) => el('th', key ? { 'data-i18n': key } : null, key ? t(key) : '')))),
    el('tbody', null, ...rows));
}

function tr(data, ...cells) {
  return el('tr', { dataset: data }, ...cells.map((content) => el('td', null, content)));
}

function caseLink(c) {
  return el('a', { href: `#/consultations/${c.id}`, class: 'case-link' }, c.patient_name);
}

function badge(kind, value, label) {
  return el('span', { class: `${kind} ${kind}-${value}` }, label);
}

// The time a booking fixes, in the user's zone; on-call cases have none.
function slot(c, booking, zone, withDay) {
  if (booking) {
    return el('time', { datetime: booking.start, class: 'slot-time' }, Consultation.formatIn(booking.start, zone,
      withDay ? { weekday: 'short', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }
        : { hour: '2-digit', minute: '2-digit' }));
  }
  return c.expert_id && c.status !== 'requested' ? t('home.no_slot') : t('home.not_booked');
}

// Join when the call is open; else, when it opens.
async function callCell(c, booking, zone) {
  if (!LIVE.includes(c.status)) return '';
  // Far-off bookings show nothing here: their call is days from opening.
  if (booking && Date.parse(booking.start) - Date.now() > 24 * 3600 * 1000) return '';
  const call = await Consultation.callState(c, me);
  if (call.open) {
    return el('a', { href: `#/consultations/${c.id}/call`, class: 'button' }, t('consultation.join'));
  }
  // Not open yet: Join disabled, with when it opens.
  return call.opens_at ? el('span', { class: 'call-not-open' },
    el('button', { type: 'button', class: 'join-disabled', disabled: true }, t('consultation.join')), ' ',
    el('span', { class: 'muted' }, t('home.call_opens', { time: Consultation.formatIn(call.opens_at, zone, { hour: '2-digit', minute: '2-digit' }) }))) : '';
}

// Asked for once per showing of the page, as it starts (see show), so the
// panels that need it do not wait a round trip more.
/** @type {{generation: number, lookup: Promise<(id: number) => any>}} */
let bookingsAsked = { generation: -1, lookup: Promise.resolve(() => null) };

function bookingsOf() {
  if (bookingsAsked.generation !== generation) {
    const lookup = api('GET', HOME_ASKS.bookings()).catch(() => [])
      .then((bookings) => (id) => Consultation.bookingOf(bookings, id));
    bookingsAsked = { generation, lookup };
  }
  return bookingsAsked.lookup;
}

// --- clinician -----------------------------------------------------------

async function clinicianConsultations(body, all, zone) {
  const mine = all.filter((c) => c.requested_by === me.id && OPEN.includes(c.status));
  const booking = await bookingsOf();
  const rows = await Promise.all(mine.map(async (c) => {
    const b = booking(c.id);
    return tr({ consultation: c.id },
      slot(c, b, zone, true), caseLink(c), c.expert_name || '—', specialtyName(c.specialty),
      badge('urgency', c.urgency, t('urgency.' + c.urgency)), badge('status', c.status, t('status.' + c.status)),
      c.status === 'requested' && c.urgency === 'routine' && !b
        ? el('a', { href: `#/consultations/${c.id}/book` }, t('home.book'))
        : await callCell(c, b, zone));
  }));
  body.replaceChildren(
    el('p', { class: 'muted' }, t('home.zone', { zone })),
    table('consultations', ['col.when', 'col.patient', 'col.expert', 'col.specialty', 'col.urgency', 'col.status', ''],
      rows, 'home.none'));
}

function results(body) {
  const render = () => {
    // One line per result: the same words for the same place (a report
    // announced twice) show once, the newest.
    const seen = new Set();
    const items = Notifications.unread()
      .filter((n) => RESULT_KINDS.includes(n.kind))
      .filter((n) => {
        const key = Notifications.href(n) + '\n' + Notifications.text(n);
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      });
    body.replaceChildren(items.length === 0
      ? el('p', { class: 'muted empty' }, t('home.results_none'))
      : el('ul', { class: 'results', id: 'results' }, ...items.map((n) => el('li', { dataset: { notification: n.id } },
        el('a', { href: Notifications.href(n) }, Notifications.text(n)),
        ' ', el('time', { class: 'muted', datetime: n.created_at }, Consultation.here(n.created_at))))));
  };
  render();
  return render;
}

async function critical(body, zone) {
  const open = await api('GET', HOME_ASKS.critical);
  const rows = open.map((r) => {
    const error = el('span', { class: 'error', role: 'alert' });
    const button = el('button', { type: 'button', class: 'danger' }, t('home.acknowledge'));
    button.addEventListener('click', async () => {
      error.textContent = '';
      try {
        await api('POST', `/critical-results/${r.id}/acknowledge`, { patient_id: r.patient_id });
        button.replaceWith(el('span', null, '✓ ', t('home.acknowledged')));
      } catch (err) {
        error.textContent = err.message;
      }
    });
    // The patient first: an alert says whom it is about before what.
    return tr({ critical: r.id },
      el('strong', { class: 'critical-patient' }, patientLabel(r) || '—'),
      Consultation.formatIn(r.raised_at, zone),
      el('a', { href: `#/reading-requests/${r.reading_request_id}` }, r.impression),
      r.raised_by_name + (r.escalated_at ? ` · ${t('home.escalated')}` : ''),
      el('span', null, button, error));
  });
  body.replaceChildren(table('critical-results', ['col.patient', 'col.when', 'col.impression', 'col.raised_by', ''], rows, 'home.critical_none'));
}

async function referrals(body, zone) {
  const list = await api('GET', HOME_ASKS.referrals);
  // Each referral carries its patient's name and record number.
  const under = list.filter((r) => ['requested', 'accepted', 'arrived'].includes(r.status));
  const rows = under.map((r) => {
    const incoming = r.to_facility_id === me.facility_id;
    return tr({ referral: r.id }, Consultation.formatIn(r.updated_at, zone),
      el('a', { href: `#/patients/${r.patient_id}` }, patientLabel(r) || t('home.patient_n', { id: r.patient_id })),
      `${t('home.direction.' + r.direction)} · ${t(incoming ? 'home.incoming' : 'home.outgoing')}`,
      incoming ? r.from_facility_name : r.to_facility_name,
      r.reason,
      badge('status', r.status, t('referral.status.' + r.status)));
  });
  body.replaceChildren(table('referrals', ['col.when', 'col.patient', 'col.direction', 'col.with', 'col.reason', 'col.status'],
    rows, 'home.referrals_none'));
}

// --- expert --------------------------------------------------------------

async function expertToday(body, all, zone) {
  const mine = all.filter((c) => c.expert_id === me.id && LIVE.includes(c.status));
  const booking = await bookingsOf();
  const today = Consultation.dayIn(new Date().toISOString(), zone);
  const weekAhead = Date.now() + 7 * 24 * 3600 * 1000;
  const todays = [];
  const later = [];
  for (const c of mine) {
    const b = booking(c.id);
    const start = b ? new Date(b.start).getTime() : 0;
    if (!b || Consultation.dayIn(b.start, zone) <= today || c.status !== 'scheduled') {
      todays.push({ c, b, start });
    } else if (start < weekAhead) {
      later.push({ c, b, start });
    }
  }
  const byTime = (x, y) => x.start - y.start || x.c.id - y.c.id;
  todays.sort(byTime);
  later.sort(byTime);
  const rows = await Promise.all(todays.map(async ({ c, b }) => tr({ consultation: c.id },
    slot(c, b, zone, false), caseLink(c), `${c.requesting_facility_name} · ${c.requested_by_name || ''}`, specialtyName(c.specialty),
    badge('urgency', c.urgency, t('urgency.' + c.urgency)), badge('status', c.status, t('status.' + c.status)),
    await callCell(c, b, zone))));
  const parts = [
    el('p', { class: 'muted' }, t('home.zone', { zone })),
    table('consultations', ['col.time', 'col.patient', 'col.from', 'col.specialty', 'col.urgency', 'col.status', ''],
      rows, 'home.today_none'),
  ];
  if (later.length) {
    parts.push(el('h3', { 'data-i18n': 'home.upcoming' }, t('home.upcoming')),
      table('upcoming', ['col.when', 'col.patient', 'col.from', 'col.specialty', 'col.urgency'],
        later.map(({ c, b }) => tr({ consultation: c.id }, slot(c, b, zone, true), caseLink(c),
          c.requesting_facility_name, specialtyName(c.specialty), badge('urgency', c.urgency, t('urgency.' + c.urgency)))), ''));
  }
  body.replaceChildren(...parts);
}

async function queue(body, zone, accept) {
  const waiting = await api('GET', HOME_ASKS.queue);
  const rows = waiting.map((c) => {
    const error = el('span', { class: 'error', role: 'alert' });
    const action = accept ? el('button', { type: 'button', class: 'primary' }, t('home.accept')) : null;
    if (action) {
      action.addEventListener('click', async () => {
        error.textContent = '';
        try {
          await api('POST', `/consultations/${c.id}/accept`);
          location.hash = `#/consultations/${c.id}`;
        } catch (err) {
          error.textContent = err.message;
        }
      });
    }
    return tr({ queued: c.id },
      Consultation.formatIn(c.created_at, zone, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }),
      caseLink(c), c.requesting_facility_name, specialtyName(c.specialty),
      el('span', null, badge('urgency', c.urgency, t('urgency.' + c.urgency)),
        c.escalated_at ? ` · ${t('home.escalated')}` : ''),
      el('span', null, action, error));
  });
  body.replaceChildren(table('on-call-queue', ['col.when', 'col.patient', 'col.from', 'col.specialty', 'col.urgency', ''],
    rows, 'home.queue_none'),
  el('p', null, el('a', { href: '#/on-call' }, t('home.on_call_link'))));
}

function opinionsToWrite(body, all) {
  const due = all.filter((c) => c.expert_id === me.id && ['in_progress', 'awaiting_opinion'].includes(c.status));
  body.replaceChildren(table('opinions-due', ['col.patient', 'col.from', 'col.specialty', 'col.status'],
    due.map((c) => tr({ consultation: c.id }, caseLink(c), c.requesting_facility_name, specialtyName(c.specialty),
      badge('status', c.status, t('status.' + c.status)))), 'home.opinions_none'));
}

// --- radiologist ---------------------------------------------------------

async function worklist(body) {
  const [open, mine] = await Promise.all([
    api('GET', HOME_ASKS.worklist),
    api('GET', HOME_ASKS.myWorklist),
  ]);
  const count = (f) => open.filter(f).length;
  const figures = [
    ['home.worklist_open', open.length, 'open'],
    ['home.worklist_stat', count((r) => r.priority === 'stat'), 'stat'],
    ['home.worklist_urgent', count((r) => r.priority === 'urgent'), 'urgent'],
    ['home.worklist_overdue', count((r) => r.minutes_left !== null && r.minutes_left !== undefined && r.minutes_left < 0), 'overdue'],
    ['home.worklist_mine', mine.filter((r) => r.status !== 'completed' && r.status !== 'cancelled').length, 'mine'],
  ];
  const rows = open.slice(0, 5).map((r) => tr({ reading: r.id },
    badge('priority', r.priority, t('priority.' + r.priority)),
    el('a', { href: `#/reading-requests/${r.id}` }, [patientLabel(r), examinationName(r.modality, r.body_part)].filter(Boolean).join(' · ')),
    r.requesting_facility_name, r.clinical_question,
    r.minutes_left === null || r.minutes_left === undefined ? ''
      : r.minutes_left < 0 ? el('span', { class: 'error' }, t('home.overdue'))
        : t('home.minutes_left', { minutes: r.minutes_left })));
  body.replaceChildren(
    el('ul', { class: 'figures', id: 'worklist-figures' },
      ...figures.map(([key, n, name]) => el('li', { dataset: { figure: name }, class: n > 0 && name !== 'open' && name !== 'mine' ? 'alert' : '' },
        t(key, { count: n })))),
    rows.length ? table('worklist-top', ['col.priority', 'col.result', 'col.from', 'col.question', 'col.due'], rows, '') : null,
    el('p', null, el('a', { href: '#/worklist', class: 'button' }, t('home.worklist_link'))));
}

// --- scheduler -----------------------------------------------------------

async function holds(body, zone) {
  const held = await api('GET', HOME_ASKS.holds);
  body.replaceChildren(table('holds', ['col.when', 'col.expert', 'col.hold'],
    held.map((b) => tr({ booking: b.id }, Consultation.formatIn(b.start, zone), b.expert_name,
      t('home.expires', { time: Consultation.formatIn(b.hold_expires_at, zone, { hour: '2-digit', minute: '2-digit' }) }))),
    'home.holds_none'),
  el('p', null, el('a', { href: '#/bookings' }, t('home.bookings_link'))));
}

function toBook(body, all, zone) {
  const waiting = all.filter((c) => c.status === 'requested' && c.urgency === 'routine');
  body.replaceChildren(table('to-book', ['col.when', 'col.patient', 'col.from', 'col.expert', 'col.specialty'],
    waiting.map((c) => tr({ consultation: c.id }, Consultation.formatIn(c.created_at, zone), caseLink(c),
      c.requesting_facility_name, c.expert_name || '—', specialtyName(c.specialty))), 'home.to_book_none'),
  el('p', null, el('a', { href: '#/bookings' }, t('home.bookings_link')), ' · ',
    el('a', { href: '#/roster' }, t('home.roster_link'))));
}

// --- administrator and everyone ------------------------------------------

function adminLinks(body) {
  const open = screens.filter((s) => s.nav
    && (!s.roles || me.roles.some((r) => s.roles.includes(r))));
  body.replaceChildren(el('ul', { class: 'links' },
    ...open.map((s) => el('li', null, el('a', { href: s.nav.href, class: 'button' }, t(s.nav.key))))));
}

async function facilities(body) {
  const list = await api('GET', HOME_ASKS.facilities);
  body.replaceChildren(table('facilities', ['col.name', 'col.tier', 'col.zone'],
    list.map((f) => tr({ facility: f.id }, f.name, tierName(f.tier), f.time_zone)), 'home.none'));
}

function patientSearch(body) {
  const error = el('p', { class: 'error', role: 'alert', id: 'search-error' });
  const results = el('tbody');
  const input = el('input', { name: 'q', required: true });
  const form = el('form', { id: 'search-form' },
    el('label', null, el('span', { 'data-i18n': 'patients.search' }, t('patients.search')), ' ', input),
    el('button', { type: 'submit', 'data-i18n': 'patients.find' }, t('patients.find')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    results.replaceChildren();
    try {
      const patients = await api('GET', '/patients?q=' + encodeURIComponent(input.value));
      for (const p of patients) {
        results.append(tr({ patient: p.id },
          el('a', { href: `#/patients/${p.id}` }, `${p.family_name}${p.given_name}`),
          p.sex, p.birth_date,
          p.records.map((r) => `${r.facility_name}: ${r.record_number}`).join('; ')));
      }
      if (patients.length === 0) error.textContent = t('patients.none');
    } catch (err) {
      error.textContent = err.message;
    }
  });
  body.replaceChildren(form, el('table', { id: 'patients' }, el('thead', null, el('tr', null,
    ...['col.person', 'col.sex', 'col.born', 'col.records'].map((k) => el('th', { 'data-i18n': k }, t(k))))), results), error);
}

// --- the page ------------------------------------------------------------

let renderResults = null;

/**
 * Builds the home page for the signed-in user's roles, and keeps it fresh
 * while it is open.
 * @param {import('../lib/ferry.js').Me} user
 */
async function show(user) {
  me = user;
  const mine = ++generation;
  const home = document.getElementById('home');
  const treats = has('clinician', 'expert', 'scheduler');
  // Asked for before the zone is known: one round trip less on an island link.
  const all = treats ? api('GET', HOME_ASKS.consultations) : Promise.resolve([]);
  if (treats) bookingsOf();
  const zone = await Consultation.zone(me);
  const panels = [];
  renderResults = null;
  if (has('expert')) {
    panels.push(panel('today-panel', 'home.today', async (body) => expertToday(body, await all, zone)));
    panels.push(panel('queue-panel', 'home.queue', (body) => queue(body, zone, true)));
    panels.push(panel('opinions-panel', 'home.opinions', async (body) => opinionsToWrite(body, await all)));
  }
  if (has('clinician')) {
    // The call journey and the expert's table share the id `consultations`:
    // a user with both roles sees the expert's day first.
    panels.push(panel(has('expert') ? 'requests-panel' : 'consultations-panel', 'home.consultations', async (body) => {
      await clinicianConsultations(body, await all, zone);
      if (has('expert')) body.querySelector('#consultations')?.setAttribute('id', 'requests');
    }));
    panels.push(panel('results-panel', 'home.results', (body) => { renderResults = results(body); }));
    panels.push(panel('critical-panel', 'home.critical', (body) => critical(body, zone)));
    panels.push(panel('referrals-panel', 'home.referrals', (body) => referrals(body, zone)));
    panels.push(panel('unlinked-panel', 'home.unlinked', unlinkedStudies));
  }
  if (has('radiologist')) {
    panels.push(panel('worklist-panel', 'home.worklist', worklist));
  }
  if (has('scheduler')) {
    panels.push(panel('holds-panel', 'home.holds', (body) => holds(body, zone)));
    panels.push(panel('to-book-panel', 'home.to_book', async (body) => toBook(body, await all, zone)));
    if (!has('expert')) panels.push(panel('queue-panel', 'home.queue', (body) => queue(body, zone, false)));
  }
  if (has('admin')) {
    panels.push(panel('admin-panel', 'home.admin', adminLinks));
  }
  if (has('admin', 'scheduler')) {
    panels.push(panel('facilities-panel', 'home.facilities', facilities));
  }
  if (has('clinician', 'expert', 'radiologist')) {
    panels.push(panel('patients-panel', 'home.patients', patientSearch));
  }
  if (mine !== generation) return;
  home.replaceChildren(el('h2', { class: 'home-title', 'data-i18n': 'home.title' }, t('home.title')), ...panels);
  await Promise.all(panels.map((p) => p.ready));
  home.dataset.loaded = String(mine);
  clearInterval(timer);
  timer = setInterval(() => {
    if (!home.hidden && me && mine === generation && !home.contains(document.activeElement)) show(me);
  }, REFRESH_MS);
}

/** Stops refreshing the home page, and drops any load still under way. */
function hide() {
  generation += 1;
  clearInterval(timer);
}

// What arrives for this user changes what needs them: the page follows.
document.addEventListener('ferry:notification', () => {
  const home = document.getElementById('home');
  if (me && home && !home.hidden) show(me);
});
document.addEventListener('ferry:notifications', () => {
  if (renderResults) renderResults();
});
// A language switch draws the home page again through the shell (app.js).

export { show, hide };
