// Ferry web client: a consultation's opinion, on the case page. Everyone who
// treats the patient reads the signed versions, newest first, each with its
// signer, time, diagnoses, recommendation and digest. The assigned expert
// also drafts, saves and signs it (a signed version cannot change), and
// amends a signed one with a new version that states why.
'use strict';

(function () {
  const { api, el, t } = window.Ferry;
  const when = (iso) => window.FerryConsultation.here(iso);

  const RECOMMENDATIONS = ['treat_locally', 'refer_up', 'further_examination'];

  const MESSAGES = {
    en: {
      'opinion.title': 'Opinion',
      'opinion.none': 'No signed opinion yet.',
      'opinion.version': 'Version {version}',
      'opinion.signed_by': 'Signed by {name}, {time}',
      'opinion.draft_by': 'Draft by {name}, last saved {time}',
      'opinion.findings': 'Findings and advice',
      'opinion.codes': 'Diagnoses (ICD-10 codes, separated by commas)',
      'opinion.codes_hint': 'e.g. I20.0, I10',
      'opinion.diagnoses': 'Diagnoses',
      'opinion.recommendation': 'Recommendation',
      'opinion.rec.treat_locally': 'Treat locally',
      'opinion.rec.refer_up': 'Refer up to a higher-tier hospital',
      'opinion.rec.further_examination': 'Further examination',
      'opinion.amendment_reason': 'Why this version replaces the signed one',
      'opinion.amended_because': 'Amended because: {reason}',
      'opinion.digest': 'SHA-256 of the signed content: {digest}',
      'opinion.save': 'Save draft',
      'opinion.saved': 'Draft saved {time}.',
      'opinion.sign': 'Sign…',
      'opinion.sign_warning': 'Once signed, this opinion cannot be changed; a correction is a new, signed amendment that keeps this version. The requesting clinician is notified.',
      'opinion.sign_now': 'Sign the opinion',
      'opinion.cancel': 'Not yet',
      'opinion.amend': 'Amend the opinion',
      'opinion.not_yet': 'The opinion is written once the consultation is under way: join the call, or start the consultation above.',
      'opinion.superseded': 'Replaced by a later version',
    },
    'zh-CN': {
      'opinion.title': '会诊意见',
      'opinion.none': '尚无已签署的会诊意见。',
      'opinion.version': '第 {version} 版',
      'opinion.signed_by': '{name} 签署于 {time}',
      'opinion.draft_by': '{name} 的草稿，最后保存于 {time}',
      'opinion.findings': '所见与建议',
      'opinion.codes': '诊断（ICD-10 编码，以逗号分隔）',
      'opinion.codes_hint': '例如 I20.0, I10',
      'opinion.diagnoses': '诊断',
      'opinion.recommendation': '处理建议',
      'opinion.rec.treat_locally': '在本地治疗',
      'opinion.rec.refer_up': '向上级医院转诊',
      'opinion.rec.further_examination': '进一步检查',
      'opinion.amendment_reason': '修订原因',
      'opinion.amended_because': '修订原因：{reason}',
      'opinion.digest': '签署内容的 SHA-256：{digest}',
      'opinion.save': '保存草稿',
      'opinion.saved': '草稿已于 {time} 保存。',
      'opinion.sign': '签署…',
      'opinion.sign_warning': '签署后意见不可更改；更正需另行签署修订版，原版本保留。申请医生将收到通知。',
      'opinion.sign_now': '签署会诊意见',
      'opinion.cancel': '暂不签署',
      'opinion.amend': '修订意见',
      'opinion.not_yet': '会诊开始后方可书写意见：请进入视频，或在上方开始会诊。',
      'opinion.superseded': '已被后续版本取代',
    },
  };
  window.FerryI18n.add(MESSAGES);

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

    const body = () => {
      const content = {
        findings: findings.value,
        diagnosis_codes: codes(diagnoses.value),
        recommendation: recommendation.value,
      };
      if (version > 1) content.amendment_reason = reason.value;
      return content;
    };

    // Saves what is on screen: a new draft, or the existing one edited.
    async function save() {
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
            await api('POST', `/consultations/${c.id}/status`, { status: 'awaiting_opinion' });
            c.status = 'awaiting_opinion';
          }
          await api('POST', `/opinions/${draft.id}/sign`);
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
    if (window.FerryConsultation) window.FerryConsultation.editing(() => dirty);
    return form;
  }

  // Renders the opinion of consultation `c` into `container`; `refresh`
  // reloads the whole case page (a signature changes its status).
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
    if (signed.length && window.FerryNotifications) {
      window.FerryNotifications.markRead((n) => n.kind.startsWith('opinion.')
        && n.payload && n.payload.consultation_id === c.id);
    }
  }

  window.FerryOpinion = { mount };
})();
