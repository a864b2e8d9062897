// @ts-check
// Ferry web client: what a clinician follows on a patient's page beyond the
// record itself: reading requests and their signed reports, referrals up
// and down with their status, and critical results to acknowledge. The
// report itself opens at #/reading-requests/{id}, a case at
// #/consultations/{id}.

import { api, el, t, when } from '../lib/ferry.js';
import { boundTo } from '../lib/patient-banner.js';
import { examinationName } from '../lib/terms.js';
import * as Patients from './patient.js';
import { mountConsents } from './service-consents.js';

const TIERS = ['village', 'primary', 'secondary', 'tertiary'];


function panel(id, titleKey, ...children) {
  return el('section', { id, class: 'panel' }, el('h3', { 'data-i18n': titleKey }, t(titleKey)), ...children);
}

async function fill(container, load) {
  try {
    container.replaceChildren(await load());
  } catch (err) {
    container.replaceChildren(el('p', { class: 'error', role: 'alert' }, err.message));
  }
}

// ---- Reading requests ---------------------------------------------------

function readingForm(page, uid, modality, done) {
  const form = el('form', { class: 'reading-form', dataset: { study: uid } },
    Patients.labelled('reading.question', el('textarea', { name: 'clinical_question', required: true, rows: 2 })),
    Patients.labelled('reading.priority', el('select', { name: 'priority' },
      ['routine', 'urgent', 'stat'].map((p) => el('option', { value: p }, t('pc.priority.' + p))))),
    Patients.labelled('exam.body_part', el('input', { name: 'body_part', list: 'exam-body-parts' })),
    el('button', { type: 'submit' }, t('reading.send')),
    el('p', { class: 'error', role: 'alert' }));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const error = form.querySelector('.error');
    error.textContent = '';
    const part = String(data.get('body_part') || '').trim().toUpperCase();
    if (!boundTo(page.section, page.patient.id)) {
      error.textContent = t('banner.changed');
      return;
    }
    try {
      await api('POST', '/reading-requests', {
        study_instance_uid: uid,
        clinical_question: data.get('clinical_question'),
        priority: data.get('priority'),
        body_part: part || null,
        modality: modality ? modality.split(',')[0].trim() || null : null,
      });
      form.remove();
      done();
    } catch (err) {
      error.textContent = err.message;
    }
  });
  return form;
}

function readingButton(page, uid, modality) {
  return el('button', {
    type: 'button', class: 'ask-reading',
    onclick: (event) => {
      const cell = event.target.closest('td');
      if (cell.querySelector('form')) return;
      cell.appendChild(readingForm(page, uid, modality, () => page.refresh.readings && page.refresh.readings()));
    },
  }, t('reading.ask'));
}

// The standing version: the last signed one that nothing superseded.
async function standing(request) {
  if (!['in-progress', 'completed', 'accepted'].includes(request.status)) return null;
  const versions = await api('GET', `/reading-requests/${request.id}/reports`);
  const signed = versions.filter((v) => v.signed_at && !v.superseded);
  return signed[signed.length - 1] || null;
}

async function readings(page) {
  const uids = new Set((page.studies || []).map((s) => s.study_instance_uid));
  const all = await api('GET', '/reading-requests?limit=500');
  const mine = all.filter((r) => r.patient_id === page.patient.id || uids.has(r.study_instance_uid));
  const reports = await Promise.all(mine.map((r) => standing(r).catch(() => null)));
  const rows = mine.map((r, n) => {
    const report = reports[n];
    return el('tr', { dataset: { reading: r.id } },
      el('td', null, when(r.created_at)),
      el('td', null, examinationName(r.modality, r.body_part)),
      el('td', null, r.clinical_question),
      el('td', null, t('pc.priority.' + r.priority)),
      el('td', null, t('task.' + r.status), r.reader_name ? ` · ${r.reader_name}` : '',
        r.minutes_left !== null && r.minutes_left !== undefined && r.minutes_left < 0 ? el('span', { class: 'error' }, ` ${t('reading.overdue')}`) : ''),
      el('td', { class: 'report' }, report
        ? [el('strong', null, t('report.' + report.kind)), ` ${report.impression} `,
          el('small', null, t('reading.signed_by', { name: report.author_name, when: when(report.signed_at) }))]
        : ''),
      el('td', null, el('a', { href: `#/reading-requests/${r.id}` }, t('reading.open'))));
  });
  return Patients.table('readings', ['col.date', 'exam.modality', 'reading.question', 'reading.priority', 'col.status', 'reading.report', ''],
    rows, 'reading.none');
}

// ---- Referrals ----------------------------------------------------------

// What the caller's facility may do next with a referral, as the sender
// (withdraw it) or as the receiver (take the patient, see them arrive,
// discharge them, or say why it cannot take them).
function referralActions(page, r) {
  const receiving = r.to_facility_id === page.me.facility_id;
  const sending = r.from_facility_id === page.me.facility_id;
  const moves = [];
  if (receiving && r.status === 'requested') moves.push('accept', 'reject');
  if (receiving && r.status === 'accepted') moves.push('arrive');
  if (receiving && r.status === 'arrived') moves.push('discharge');
  if (sending && ['requested', 'accepted'].includes(r.status)) moves.push('cancel');
  const cell = el('td', { class: 'referral-actions' });
  for (const move of moves) {
    cell.appendChild(el('button', {
      type: 'button', class: move === 'reject' || move === 'cancel' ? 'danger' : '', dataset: { move },
      onclick: async () => {
        const send = async (body) => {
          try {
            await api('POST', `/referrals/${r.id}/${move}`, body);
            page.refresh.referrals();
          } catch (err) {
            cell.appendChild(el('p', { class: 'error', role: 'alert' }, err.message));
          }
        };
        if (move !== 'reject') {
          await send(undefined);
          return;
        }
        if (cell.querySelector('form')) return;
        const form = el('form', { class: 'reject-form' },
          Patients.labelled('referral.reject_reason', el('input', { name: 'reason', required: true })),
          el('button', { type: 'submit', class: 'danger' }, t('referral.move.reject')));
        form.addEventListener('submit', (event) => {
          event.preventDefault();
          send({ reason: new FormData(form).get('reason') });
        });
        cell.appendChild(form);
      },
    }, t('referral.move.' + move)), ' ');
  }
  cell.append(referralConsents(page, r, sending));
  return cell;
}

// The patient's consent to the referral (service-consents.js), opened from
// its row: the sending facility records it, both ends read it.
function referralConsents(page, r, sending) {
  const box = el('div', { class: 'referral-consents', hidden: true });
  const service = {
    path: `/referrals/${r.id}`,
    kinds: ['referral'],
    patientId: page.patient.id,
    recorder: sending && ['requested', 'accepted', 'arrived'].includes(r.status),
  };
  /** @param {() => Promise<unknown>} fn */
  const act = async (fn) => {
    if (!boundTo(page.section, page.patient.id)) {
      box.prepend(el('p', { class: 'error', role: 'alert' }, t('banner.changed')));
      return;
    }
    try {
      await fn();
      await mountConsents(box, service, act);
    } catch (err) {
      box.prepend(el('p', { class: 'error', role: 'alert' }, err.message));
    }
  };
  const toggle = el('button', { type: 'button', dataset: { move: 'consents' }, onclick: () => {
    box.hidden = !box.hidden;
    if (!box.hidden) mountConsents(box, service, act).catch((err) => { box.textContent = err.message; });
  } }, t('referral.consents'));
  return el('span', null, toggle, box);
}

function referralRows(page, referrals) {
  return referrals.map((r) => el('tr', { dataset: { referral: r.id } },
    el('td', null, when(r.created_at)),
    el('td', null, t('referral.' + r.direction)),
    el('td', null, `${r.from_facility_name} → ${r.to_facility_name}`),
    el('td', null, r.diagnosis_codes.join(', ')),
    el('td', null, r.reason, r.rehabilitation_plan ? el('small', { class: 'plan' }, ` ${t('referral.plan')}: ${r.rehabilitation_plan}`) : ''),
    el('td', null, t('pc.referral.status.' + r.status), r.decision_note ? ` (${r.decision_note})` : ''),
    referralActions(page, r)));
}

async function referralForm(page, done) {
  const facilities = await page.facilities();
  const mine = facilities.find((f) => f.id === page.me.facility_id);
  const rank = (f) => TIERS.indexOf(f.tier);
  const direction = el('select', { name: 'direction' },
    ['up', 'down'].map((d) => el('option', { value: d }, t('referral.' + d))));
  const target = el('select', { name: 'to_facility_id', required: true });
  const plan = Patients.labelled('referral.plan', el('textarea', { name: 'rehabilitation_plan', rows: 2 }));
  function targets() {
    const up = direction.value === 'up';
    const options = facilities.filter((f) => mine && (up ? rank(f) > rank(mine) : rank(f) < rank(mine)));
    target.replaceChildren(...options.map((f) => el('option', { value: f.id }, `${f.name} (${t('pc.tier.' + f.tier)})`)));
    plan.hidden = up;
  }
  direction.addEventListener('change', targets);
  targets();
  const form = el('form', { id: 'referral-form' },
    Patients.labelled('referral.direction', direction),
    Patients.labelled('referral.to', target),
    Patients.labelled('referral.reason', el('textarea', { name: 'reason', required: true, rows: 2 })),
    Patients.labelled('referral.codes', el('input', { name: 'diagnosis_codes', required: true, placeholder: 'I21.0, E11.9' })),
    plan,
    Patients.labelled('referral.justification', el('textarea', { name: 'justification', rows: 2 })),
    el('button', { type: 'submit' }, t('referral.send')),
    el('p', { id: 'referral-warnings', class: 'banner', role: 'status', hidden: true }),
    el('p', { id: 'referral-error', class: 'error', role: 'alert' }));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const error = form.querySelector('#referral-error');
    const warnings = form.querySelector('#referral-warnings');
    error.textContent = '';
    warnings.hidden = true;
    const text = (name) => String(data.get(name) || '').trim() || null;
    if (!boundTo(page.section, page.patient.id)) {
      error.textContent = t('banner.changed');
      return;
    }
    try {
      const created = await api('POST', '/referrals', {
        patient_id: page.patient.id,
        direction: data.get('direction'),
        to_facility_id: Number(data.get('to_facility_id')),
        reason: data.get('reason'),
        diagnosis_codes: String(data.get('diagnosis_codes')).split(/[,;\s]+/).filter(Boolean),
        rehabilitation_plan: data.get('direction') === 'down' ? text('rehabilitation_plan') : null,
        justification: text('justification'),
      });
      if (created.warnings.length > 0) {
        warnings.textContent = created.warnings.map((w) => w.message).join(' ');
        warnings.hidden = false;
      }
      form.reset();
      targets();
      done();
    } catch (err) {
      error.textContent = err.message;
    }
  });
  return form;
}

// ---- Critical results ---------------------------------------------------

async function critical(page) {
  const uids = new Set((page.studies || []).map((s) => s.study_instance_uid));
  const results = (await api('GET', '/critical-results'))
    .filter((c) => c.patient_id === page.patient.id || uids.has(c.study_instance_uid));
  const rows = results.map((c) => {
    const state = c.acknowledged_at
      ? t('critical.acknowledged', { when: when(c.acknowledged_at) })
      : el('button', {
        type: 'button', class: 'danger acknowledge',
        onclick: async (event) => {
          const cell = event.target.closest('td');
          try {
            await api('POST', `/critical-results/${c.id}/acknowledge`, { patient_id: page.patient.id });
            page.refresh.critical();
          } catch (err) {
            cell.appendChild(el('p', { class: 'error', role: 'alert' }, err.message));
          }
        },
      }, t('critical.acknowledge'));
    return el('tr', { dataset: { critical: c.id }, class: c.acknowledged_at ? '' : 'critical' },
      el('td', null, when(c.raised_at)),
      el('td', null, c.raised_by_name),
      el('td', null, c.impression, c.escalated_at ? el('span', { class: 'error' }, ` ${t('critical.escalated')}`) : ''),
      el('td', null, el('a', { href: `#/reading-requests/${c.reading_request_id}` }, t('reading.open'))),
      el('td', null, state));
  });
  return Patients.table('critical-results', ['col.date', 'critical.by', 'critical.impression', '', ''], rows, 'critical.none');
}

/**
 * Adds the reading requests, referrals and critical results to a
 * clinician's patient page.
 * @param {any} page the patient page's state (patient.js): me, patient, studies, section
 */
async function open(page) {
  const readingBox = el('div');
  const referralBox = el('div');
  const criticalBox = el('div');
  const referralPanel = panel('patient-referrals', 'patient.referrals', referralBox);
  page.section.append(
    panel('patient-critical', 'patient.critical', criticalBox),
    panel('patient-readings', 'patient.readings', readingBox),
    referralPanel);
  page.refresh.readings = () => fill(readingBox, () => readings(page));
  page.refresh.critical = () => fill(criticalBox, () => critical(page));
  page.refresh.referrals = () => fill(referralBox, async () => {
    const referrals = (await api('GET', '/referrals?limit=500')).filter((r) => r.patient_id === page.patient.id);
    return Patients.table('referrals', ['col.date', 'referral.direction', 'referral.route', 'referral.codes', 'referral.reason', 'col.status', ''],
      referralRows(page, referrals), 'referral.none');
  });
  await Promise.all([page.refresh.readings(), page.refresh.critical(), page.refresh.referrals()]);
  try {
    referralPanel.appendChild(await referralForm(page, page.refresh.referrals));
  } catch (err) {
    referralPanel.appendChild(el('p', { class: 'error', role: 'alert' }, err.message));
  }
}

export { open, readingButton };
