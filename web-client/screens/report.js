// @ts-check
// Ferry web client, reading reports: the reading screen
// (`#/reading-requests/{id}/read`: the study in the viewer beside the
// report editor: a draft from the modality's template, findings and
// impression, a critical flag, save, sign, amend) and the read-only report
// (`#/reading-requests/{id}`) that the requesting clinician opens to read
// what was signed.

import { api, el, t, when } from '../lib/ferry.js';
import * as I18n from '../lib/i18n.js';
import { examinationName, languageName, term } from '../lib/terms.js';
import { bannerPatientOf, boundTo, patientBanner } from '../lib/patient-banner.js';
import * as Viewer from '../viewer/viewer.js';
import * as Worklist from './worklist.js';
import { mountConsents } from './service-consents.js';

const field = (key, control) => el('label', null, el('span', { 'data-i18n': key }, t(key)), control);

// The request carries its patient's name and record number (no read of
// the patient per screen); a study linked to no patient names none.
function patientName(request) {
  return request.patient_name || (request.patient_id ? t('report.patient', { id: request.patient_id }) : '');
}

// The banner of the request's patient, or nothing for a study linked to none.
function banner(request, me) {
  const patient = bannerPatientOf(request);
  return patient ? patientBanner(patient, me) : '';
}

// What was asked, by whom, and how it stands: shown above either screen.
function summary(request, patient) {
  const clock = Worklist.clockText(request, Date.now());
  const row = (key, ...content) => [el('dt', { 'data-i18n': key }, t(key)), el('dd', null, ...content)];
  return el('dl', { class: 'report-summary' },
    row('report.patient_label', patient),
    row('report.study', el('a', { href: '#/studies/' + encodeURIComponent(request.study_instance_uid) },
      examinationName(request.modality, request.body_part) || t('report.open_images'))),
    row('report.question', request.clinical_question),
    row('report.priority', t('worklist.priority.' + request.priority)),
    row('report.from', `${request.requested_by_name} · ${request.requesting_facility_name}`),
    row('report.requested', when(request.created_at)),
    row('report.status', t('worklist.status.' + request.status), request.reader_name ? ` · ${request.reader_name}` : ''),
    clock ? row('report.due', el('span', {
      class: 'clock', dataset: { due: request.due_at, status: request.status, state: clock.state },
    }, clock.text)) : []);
}

// One signed version, as the requester reads it.
function signedVersion(report) {
  const kind = t('report.kind.' + report.kind);
  return el('article', { class: 'report-version' + (report.superseded ? ' superseded' : ''), dataset: { report: report.id } },
    el('h3', null, t('report.version', { kind, version: report.version }),
      report.critical ? el('span', { class: 'badge critical' }, t('report.critical_badge')) : '',
      report.superseded ? el('span', { class: 'badge' }, t('report.superseded')) : ''),
    el('p', { class: 'report-meta' }, t('report.signed_by', { name: report.author_name, at: when(report.signed_at) })),
    report.amendment_reason ? el('p', { class: 'report-meta' }, t('report.amended_because', { reason: report.amendment_reason })) : '',
    el('h4', { 'data-i18n': 'report.findings' }, t('report.findings')),
    el('div', { class: 'report-text report-findings' }, report.findings),
    el('h4', { 'data-i18n': 'report.impression' }, t('report.impression')),
    el('div', { class: 'report-text report-impression' }, report.impression));
}

let viewer = null;
let cleanup = [];
// Bumped on every opening and closing, so a screen left while it was
// still loading does not mount a viewer afterwards.
let generation = 0;

function closeAll() {
  generation += 1;
  for (const f of cleanup) f();
  cleanup = [];
  if (viewer) viewer.destroy();
  viewer = null;
}

function ticking(section) {
  const timer = setInterval(() => {
    for (const clock of section.querySelectorAll('.clock[data-due]')) {
      const c = Worklist.clockText({ due_at: clock.dataset.due, status: clock.dataset.status }, Date.now());
      clock.textContent = c.text;
      clock.dataset.state = c.state;
    }
  }, 1000);
  cleanup.push(() => clearInterval(timer));
}

// The reading screen.
async function openReading(section, match, me) {
  closeAll();
  const id = Number(match[1]);
  const error = el('p', { class: 'error', role: 'alert' });
  const side = el('div', { class: 'reading-side' });
  const viewerBox = el('div', { class: 'reading-viewer' });
  const bannerBox = el('div', { class: 'report-banner' });
  section.replaceChildren(
    bannerBox,
    el('h2', null, el('span', { 'data-i18n': 'report.reading_title' }, t('report.reading_title')),
      ' ', el('a', { href: '#/worklist', class: 'report-back', 'data-i18n': 'report.back' }, t('report.back'))),
    error,
    el('div', { class: 'reading' }, viewerBox, side));
  let request;
  const opened = generation;
  try {
    request = await api('GET', '/reading-requests/' + id);
  } catch (err) {
    error.textContent = err.message;
    return;
  }
  if (opened !== generation) return;
  bannerBox.replaceChildren(banner(request, me));
  // The patient the banner shows, named in every write so the server
  // refuses it too (409 patient_mismatch) if the request is not theirs;
  // nothing is named for a study linked to no patient.
  const shown = request.patient_id ? { patient_id: request.patient_id } : {};
  viewer = Viewer.mount(viewerBox, request.study_instance_uid);
  ticking(section);
  const patient = patientName(request);
  let dirty = false;
  let saving = Promise.resolve();
  let autosave = null;

  async function render() {
    const [fresh, reports, templates] = await Promise.all([
      api('GET', '/reading-requests/' + id),
      api('GET', `/reading-requests/${id}/reports`),
      api('GET', '/report-templates'),
    ]);
    request = fresh;
    const draft = reports.find((r) => !r.signed_at);
    const signed = reports.filter((r) => r.signed_at);
    const finalSigned = signed.filter((r) => r.kind === 'final' && !r.superseded).pop();
    const mine = request.reader_id === me.id;
    const parts = [summary(request, patient)];
    if (draft && mine) {
      parts.push(editor(draft, Boolean(finalSigned)));
    } else if (!draft && mine && ['accepted', 'in-progress'].includes(request.status)) {
      parts.push(starter(templates));
    } else if (!draft && mine && request.status === 'completed' && finalSigned) {
      parts.push(amender(finalSigned));
    } else if (request.status === 'requested' && !request.reader_id) {
      parts.push(el('p', null, el('button', {
        type: 'button', dataset: { action: 'claim' },
        onclick: () => act(() => api('POST', `/reading-requests/${id}/claim`, shown)),
      }, t('worklist.claim'))));
    } else if (!mine && request.reader_id) {
      parts.push(el('p', null, t('report.claimed_by', { name: request.reader_name || '' })));
    }
    if (mine && !signed.length && ['accepted', 'in-progress'].includes(request.status)) {
      parts.push(el('p', null, el('button', {
        type: 'button', dataset: { action: 'release' },
        onclick: () => act(() => api('POST', `/reading-requests/${id}/release`, shown).then(() => { location.hash = '#/worklist'; })),
      }, t('worklist.release'))));
    }
    if (signed.length) {
      parts.push(el('h3', { 'data-i18n': 'report.signed_versions' }, t('report.signed_versions')),
        ...signed.slice().reverse().map(signedVersion));
    }
    side.replaceChildren(...parts);
  }

  // Each step acts on the request's patient: refused if the screen shows
  // another by now (or none).
  async function act(step) {
    error.textContent = '';
    if (request.patient_id && !boundTo(section, request.patient_id)) {
      error.textContent = t('banner.changed');
      return;
    }
    try {
      await step();
    } catch (err) {
      error.textContent = err.message;
    }
    await render().catch((err) => { error.textContent = err.message; });
  }

  function starter(templates) {
    // The user's language first (its headings: 影像所见 / 诊断意见 / 建议 in
    // Chinese); the other language's templates stay on offer after them.
    const language = I18n.current();
    const mine = (x) => (x.language || 'en') === language;
    const ordered = [...templates.filter(mine), ...templates.filter((x) => !mine(x))];
    const fallback = ordered.find((x) => x.modalities.includes(request.modality))
      || ordered.find((x) => x.modalities.length === 0);
    const template = el('select', { name: 'template' },
      ...ordered.map((x) => el('option', { value: x.name, selected: fallback && x.name === fallback.name },
        `${term('template', x.name.replace(/-zh$/, ''))} · ${languageName(x.language || 'en')}`)));
    const kind = el('select', { name: 'kind' },
      el('option', { value: 'final' }, t('report.kind.final')),
      el('option', { value: 'preliminary' }, t('report.kind.preliminary')));
    const form = el('form', { class: 'report-start' },
      el('h3', { 'data-i18n': 'report.start_title' }, t('report.start_title')),
      field('report.template', template), field('report.kind', kind),
      el('button', { type: 'submit', 'data-i18n': 'report.start' }, t('report.start')));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      act(() => api('POST', `/reading-requests/${id}/reports`, { template: template.value, kind: kind.value, ...shown }));
    });
    return form;
  }

  function amender(finalSigned) {
    const reason = el('textarea', { name: 'amendment_reason', rows: 2 });
    const form = el('form', { class: 'report-amend' },
      el('h3', { 'data-i18n': 'report.amend_title' }, t('report.amend_title')),
      field('report.amendment_reason', reason),
      el('button', { type: 'submit', 'data-i18n': 'report.amend' }, t('report.amend')));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      // The amendment starts from the words it corrects.
      act(() => api('POST', `/reading-requests/${id}/reports`, {
        amendment_reason: reason.value, findings: finalSigned.findings,
        impression: finalSigned.impression, critical: finalSigned.critical, ...shown,
      }));
    });
    return form;
  }

  function editor(draft, amending) {
    const findings = el('textarea', { name: 'findings', rows: 12 });
    findings.value = draft.findings;
    const impression = el('textarea', { name: 'impression', rows: 5 });
    impression.value = draft.impression;
    const critical = el('input', { type: 'checkbox', name: 'critical', checked: draft.critical });
    const kind = el('select', { name: 'kind', disabled: amending },
      el('option', { value: 'final', selected: draft.kind === 'final' }, t('report.kind.final')),
      el('option', { value: 'preliminary', selected: draft.kind === 'preliminary' }, t('report.kind.preliminary')));
    const reason = el('textarea', { name: 'amendment_reason', rows: 2 });
    reason.value = draft.amendment_reason || '';
    const status = el('p', { class: 'report-saved', role: 'status' }, t('report.saved_at', { at: when(draft.updated_at) }));
    const content = () => {
      /** @type {Record<string, unknown>} */
      const body = { findings: findings.value, impression: impression.value, critical: critical.checked, ...shown };
      if (!amending) body.kind = kind.value;
      if (amending) body.amendment_reason = reason.value;
      return body;
    };
    // Saves one at a time, so a sign never races an autosave.
    const save = () => {
      clearTimeout(autosave);
      saving = saving.catch(() => {}).then(async () => {
        const saved = await api('PATCH', '/reading-reports/' + draft.id, content());
        dirty = false;
        status.textContent = t('report.saved_at', { at: when(saved.updated_at) });
        return saved;
      });
      return saving;
    };
    const touched = () => {
      dirty = true;
      status.textContent = t('report.unsaved');
      clearTimeout(autosave);
      autosave = setTimeout(() => save().catch((err) => { error.textContent = err.message; }), 5000);
    };
    const form = el('form', { class: 'report-editor', dataset: { report: draft.id } },
      el('h3', null, amending ? t('report.amendment_title', { version: draft.version })
        : t('report.draft_title', { version: draft.version })),
      amending ? field('report.amendment_reason', reason) : field('report.kind', kind),
      field('report.findings', findings),
      field('report.impression', impression),
      el('label', { class: 'report-critical' }, critical,
        el('span', { 'data-i18n': 'report.critical' }, t('report.critical'))),
      el('div', { class: 'controls' },
        el('button', { type: 'button', dataset: { action: 'save' }, 'data-i18n': 'report.save',
          onclick: () => { error.textContent = ''; save().catch((err) => { error.textContent = err.message; }); } }, t('report.save')),
        el('button', { type: 'submit', dataset: { action: 'sign' }, 'data-i18n': 'report.sign' }, t('report.sign'))),
      status);
    form.addEventListener('input', touched);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      error.textContent = '';
      act(() => save().then(() => api('POST', `/reading-reports/${draft.id}/sign`, shown)));
    });
    cleanup.push(() => {
      clearTimeout(autosave);
      // Leaving the screen keeps what was typed.
      if (dirty) api('PATCH', '/reading-reports/' + draft.id, content()).catch(() => {});
    });
    return form;
  }

  await render().catch((err) => { error.textContent = err.message; });
}

// The read-only report, for whoever may see the request.
async function openReport(section, match, me) {
  closeAll();
  const id = Number(match[1]);
  const error = el('p', { class: 'error', role: 'alert' });
  const body = el('div', { class: 'report-view' });
  section.replaceChildren(el('h2', { 'data-i18n': 'report.title' }, t('report.title')), error, body);
  let request;
  let reports;
  try {
    [request, reports] = await Promise.all([
      api('GET', '/reading-requests/' + id),
      api('GET', `/reading-requests/${id}/reports`),
    ]);
  } catch (err) {
    error.textContent = err.message;
    return;
  }
  ticking(section);
  const patient = patientName(request);
  section.prepend(banner(request, me));
  const shown = request.patient_id ? { patient_id: request.patient_id } : {};
  const signed = reports.filter((r) => r.signed_at).reverse();
  let critical = [];
  if (signed.some((r) => r.critical)) {
    critical = await api('GET', '/critical-results').catch(() => []);
  }
  const parts = [summary(request, patient),
    el('p', null, el('a', { class: 'button', href: '#/studies/' + encodeURIComponent(request.study_instance_uid), 'data-i18n': 'report.open_images' }, t('report.open_images')),
      me.roles.includes('radiologist') && request.reader_id === me.id
        ? [' ', el('a', { class: 'button', href: `#/reading-requests/${id}/read`, 'data-i18n': 'report.open_reading' }, t('report.open_reading'))] : '')];
  for (const c of critical.filter((c) => c.reading_request_id === id && !c.acknowledged_at)) {
    const ack = el('button', { type: 'button', dataset: { action: 'acknowledge' } }, t('report.acknowledge'));
    ack.addEventListener('click', async () => {
      error.textContent = '';
      if (request.patient_id && !boundTo(section, request.patient_id)) {
        error.textContent = t('banner.changed');
        return;
      }
      try {
        await api('POST', `/critical-results/${c.id}/acknowledge`, shown);
        ack.replaceWith(t('report.acknowledged'));
      } catch (err) {
        error.textContent = err.message;
      }
    });
    parts.push(el('p', { class: 'banner critical-banner', role: 'status' },
      t('report.critical_alert', { name: c.raised_by_name, at: when(c.raised_at) }), ' ', ack));
  }
  if (!signed.length) {
    parts.push(el('p', { 'data-i18n': 'report.none_signed' }, t('report.none_signed')));
  }
  parts.push(...signed.map(signedVersion));
  // The patient's consent to the reading (service-consents.js).
  const consents = el('div', { id: 'report-consents' });
  parts.push(consents);
  body.replaceChildren(...parts);
  const service = {
    path: `/reading-requests/${id}`,
    kinds: ['remote_reading'],
    patientId: request.patient_id || null,
    recorder: me.roles.includes('clinician') && me.facility_id === request.requesting_facility_id
      && !['completed', 'cancelled'].includes(request.status),
  };
  /** @param {() => Promise<unknown>} fn */
  const act = async (fn) => {
    error.textContent = '';
    if (request.patient_id && !boundTo(section, request.patient_id)) {
      error.textContent = t('banner.changed');
      return;
    }
    try {
      await fn();
      await mountConsents(consents, service, act);
    } catch (err) {
      error.textContent = err.message;
    }
  };
  mountConsents(consents, service, act).catch((err) => { consents.textContent = err.message; });
}

/** @type {import('../lib/ferry.js').ScreenModule} */
export const readingScreen = {
  open: openReading,
  close: closeAll,
};

/** @type {import('../lib/ferry.js').ScreenModule} */
export const readingReportScreen = {
  open: openReport,
  close: closeAll,
};
