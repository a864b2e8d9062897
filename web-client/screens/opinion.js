// @ts-check
// Ferry web client: a consultation's opinion, on the case page. Everyone who
// treats the patient reads the signed versions, newest first, each with its
// signer, time, diagnoses, recommendation and digest. The assigned expert
// also drafts, saves and signs it (a signed version cannot change), and
// amends a signed one with a new version that states why.

import { api, el, t } from '../lib/ferry.js';
import { boundTo } from '../lib/patient-banner.js';
import * as Consultation from './consultation.js';
import * as Notifications from './notifications.js';

const when = (iso) => Consultation.here(iso);

const RECOMMENDATIONS = ['treat_locally', 'refer_up', 'further_examination'];

function codes(text) {
  return text.split(/[,;，；\s]+/).map((code) => code.trim()).filter(Boolean);
}

function signedCard(opinion, latest) {
  return el('article', { class: 'opinion signed', dataset: { opinion: opinion.id, version: opinion.version } },
    el('div', { class: 'opinion-head' },
      el('strong', null, t('opinion.version', { version: opinion.version })), ' · ',
      el('span', { class: 'opinion-signer' }, t('opinion.signed_by', { name: opinion.author_name, time: when(opinion.signed_at) })),
      latest ? null : el('span', { class: 'muted' }, ` · ${t('opinion.superseded')}`)),
    opinion.amendment_reason
      ? el('p', { class: 'muted' }, t('opinion.amended_because', { reason: opinion.amendment_reason })) : null,
    el('dl', null,
      el('dt', null, t('opinion.diagnoses')),
      el('dd', { class: 'opinion-codes' }, opinion.diagnosis_codes.join(', ')),
      el('dt', null, t('opinion.recommendation')),
      el('dd', { class: 'opinion-recommendation' }, t('opinion.rec.' + opinion.recommendation))),
    el('p', { class: 'opinion-findings prewrap' }, opinion.findings),
    opinion.content_sha256
      ? el('p', { class: 'digest muted' }, t('opinion.digest', { digest: opinion.content_sha256 })) : null);
}

// The expert's editor over a draft (or none yet). `version` is the number
// the draft has or will have: after the first, an amendment reason is due.
function editor(c, draft, version, me, refresh) {
  const error = el('p', { class: 'error', role: 'alert', id: 'opinion-error' });
  const saved = el('p', { class: 'muted', role: 'status', id: 'opinion-saved' },
    draft ? t('opinion.draft_by', { name: draft.author_name, time: when(draft.updated_at) }) : '');
  const findings = el('textarea', { name: 'findings', rows: 8, required: true, maxlength: 20000 });
  findings.value = draft ? draft.findings : '';
  const diagnoses = el('input', { name: 'diagnosis_codes', placeholder: t('opinion.codes_hint'), autocomplete: 'off' });
  diagnoses.value = draft ? draft.diagnosis_codes.join(', ') : '';
  const recommendation = el('select', { name: 'recommendation' },
    ...RECOMMENDATIONS.map((r) => el('option', { value: r }, t('opinion.rec.' + r))));
  recommendation.value = draft ? draft.recommendation : 'treat_locally';
  const reason = el('textarea', { name: 'amendment_reason', rows: 2 });
  reason.value = draft && draft.amendment_reason ? draft.amendment_reason : '';
  let current = draft;
  let dirty = false;

  // Every write names the patient the case page's banner shows, so the
  // server refuses it too (409 patient_mismatch) if that is not the
  // consultation's patient.
  const body = () => {
    const content = {
      findings: findings.value,
      diagnosis_codes: codes(diagnoses.value),
      recommendation: recommendation.value,
      patient_id: c.patient_id,
    };
    if (version > 1) content.amendment_reason = reason.value;
    return content;
  };

  // Saves what is on screen: a new draft, or the existing one edited.
  async function save() {
    // The opinion is about the case page's patient: refused if the page
    // shows another by now (its banner, put there by consultation.js).
    if (!boundTo(form, c.patient_id)) throw new Error(t('banner.changed'));
    current = current
      ? await api('PATCH', `/opinions/${current.id}`, body())
      : await api('POST', `/consultations/${c.id}/opinions`, body());
    dirty = false;
    saved.textContent = t('opinion.saved', { time: when(current.updated_at) });
    return current;
  }

  const confirm = el('div', { class: 'sign-confirm banner', hidden: true },
    el('p', null, t('opinion.sign_warning')),
    el('button', { type: 'button', class: 'primary', id: 'opinion-sign-now', onclick: async () => {
      error.textContent = '';
      try {
        const draft = await save();
        // The first signature completes the consultation, which must be
        // awaiting its opinion; one still in progress is moved on here.
        if (version === 1 && c.status === 'in_progress') {
          await api('POST', `/consultations/${c.id}/status`, { status: 'awaiting_opinion', patient_id: c.patient_id });
          c.status = 'awaiting_opinion';
        }
        await api('POST', `/opinions/${draft.id}/sign`, { patient_id: c.patient_id });
        dirty = false;
        await refresh();
      } catch (err) {
        confirm.hidden = true;
        error.textContent = err.message;
      }
    } }, t('opinion.sign_now')),
    el('button', { type: 'button', onclick: () => { confirm.hidden = true; } }, t('opinion.cancel')));

  const form = el('form', { class: 'opinion-editor', id: 'opinion-form' },
    el('label', null, el('span', null, t('opinion.findings')), findings),
    el('label', null, el('span', null, t('opinion.codes')), diagnoses),
    el('label', null, el('span', null, t('opinion.recommendation')), recommendation),
    version > 1 ? el('label', null, el('span', null, t('opinion.amendment_reason')), reason) : null,
    el('div', { class: 'controls' },
      el('button', { type: 'submit', id: 'opinion-save' }, t('opinion.save')),
      el('button', { type: 'button', class: 'primary', id: 'opinion-sign', onclick: async () => {
        error.textContent = '';
        // Checked by the server before the warning, so a faulty code is
        // told now and not after the user has confirmed.
        try {
          await save();
          confirm.hidden = false;
          confirm.querySelector('button').focus();
        } catch (err) {
          error.textContent = err.message;
        }
      } }, t('opinion.sign'))),
    confirm,
    saved,
    error);
  form.addEventListener('input', () => { dirty = true; });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    try {
      await save();
    } catch (err) {
      error.textContent = err.message;
    }
  });
  Consultation.editing(() => dirty);
  return form;
}

/**
 * Renders the opinion of consultation `c` into `container`; `refresh`
 * reloads the whole case page (a signature changes its status).
 * @param {HTMLElement} container
 * @param {any} c the consultation, as GET /consultations/{id} gives it
 * @param {import('../lib/ferry.js').Me} me
 * @param {() => unknown} refresh
 */
async function mount(container, c, me, refresh) {
  const versions = await api('GET', `/consultations/${c.id}/opinions`);
  const isExpert = c.expert_id === me.id;
  const signed = versions.filter((o) => o.signed_at).sort((a, b) => b.version - a.version);
  const draft = versions.find((o) => !o.signed_at);
  const parts = [el('h3', null, t('opinion.title'))];
  if (isExpert) {
    if (draft) {
      parts.push(editor(c, draft, draft.version, me, refresh));
    } else if (signed.length === 0 && ['in_progress', 'awaiting_opinion'].includes(c.status)) {
      parts.push(editor(c, null, 1, me, refresh));
    } else if (signed.length === 0 && c.status === 'scheduled') {
      parts.push(el('p', { class: 'muted', id: 'opinion-none' }, t('opinion.not_yet')));
    } else if (c.status === 'completed') {
      const holder = el('div');
      holder.append(el('button', { type: 'button', id: 'opinion-amend', onclick: () => {
        holder.replaceChildren(editor(c, null, versions.length + 1, me, refresh));
      } }, t('opinion.amend')));
      parts.push(holder);
    }
  }
  if (signed.length === 0 && !parts.some((p) => p.id === 'opinion-none' || p.id === 'opinion-form')) {
    parts.push(el('p', { class: 'muted', id: 'opinion-none' }, t('opinion.none')));
  }
  parts.push(...signed.map((o, i) => signedCard(o, i === 0)));
  container.replaceChildren(...parts);
  // Reading the signed opinion here is reading the notification about it.
  if (signed.length) {
    Notifications.markRead((n) => n.kind.startsWith('opinion.')
      && n.payload && n.payload.consultation_id === c.id);
  }
}

export { mount };
