// Ferry web client: the case page, #/consultations/{id}. Everything the
// expert reads before and during the consultation (patient, who asks and
// from where, the question, urgency, the booked time, the attached studies
// with thumbnails) and what they do with it (accept from the on-call queue,
// start, join the call, decline), with the opinion below (opinion.js). The
// requesting clinician reads the signed opinion on the same page.
//
// `FerryConsultation` also carries what the home page shares with this page:
// the user's own time zone, times shown in it, a consultation's booking, and
// whether its call is open now.
'use strict';

(function () {
  const { api, request, el, t } = window.Ferry;

  const ACTIVE_BOOKING = ['held', 'booked'];

  const MESSAGES = {
    en: {
      'case.title': 'Consultation {id}',
      'case.patient': 'Patient',
      'case.requested_by': 'Requested by',
      'case.expert': 'Expert',
      'case.specialty': 'Specialty',
      'case.service': 'Service',
      'case.urgency': 'Urgency',
      'case.status': 'Status',
      'case.booking': 'Booked time',
      'case.requested_at': 'Requested',
      'case.question': 'Question',
      'case.summary': 'Clinical summary',
      'case.status_reason': 'Reason given',
      'case.no_booking': 'Not booked yet',
      'case.on_call': 'On call, no booked slot',
      'case.unassigned': 'Waiting for an expert on call',
      'case.studies': 'Images',
      'case.instances': 'images: {count}',
      'case.no_studies': 'No study was attached to this request.',
      'case.study_unavailable': 'Not available to you',
      'case.open_viewer': 'Open in viewer',
      'case.view_here': 'View here',
      'case.hide_viewer': 'Close viewer',
      'case.actions': 'Actions',
      'case.join': 'Join the call',
      'case.call_opens': 'The call opens at {time}.',
      'case.accept': 'Accept this consultation',
      'case.start': 'Start the consultation',
      'case.start_hint': 'Starting it lets you write the opinion without a call, e.g. for a review of the images.',
      'case.decline': 'Decline…',
      'case.decline_reason': 'Why you decline (the clinician reads this)',
      'case.decline_confirm': 'Decline the consultation',
      'case.cancel': 'Cancel the request…',
      'case.cancel_reason': 'Why it is cancelled',
      'case.cancel_confirm': 'Cancel the consultation',
      'case.back': 'Back',
      'case.book': 'Book a slot',
      'case.zone': '{zone} time',
      'service.video': 'video call',
      'service.async_review': 'review of the images',
      'booking.status.held': 'held',
      'booking.status.booked': 'booked',
      'booking.status.cancelled': 'cancelled',
      'booking.status.declined': 'declined',
      'booking.status.no_show': 'patient did not come',
      'booking.status.expired': 'hold lapsed',
      'booking.status.completed': 'completed',
    },
    'zh-CN': {
      'case.title': '会诊 {id}',
      'case.patient': '患者',
      'case.requested_by': '申请医生',
      'case.expert': '专家',
      'case.specialty': '专科',
      'case.service': '方式',
      'case.urgency': '紧急程度',
      'case.status': '状态',
      'case.booking': '预约时间',
      'case.requested_at': '申请时间',
      'case.question': '会诊问题',
      'case.summary': '病情摘要',
      'case.status_reason': '说明',
      'case.no_booking': '尚未预约',
      'case.on_call': '值班会诊，无预约时段',
      'case.unassigned': '等待值班专家接诊',
      'case.studies': '影像',
      'case.instances': '图像 {count} 幅',
      'case.no_studies': '此申请未附影像检查。',
      'case.study_unavailable': '您无权查看',
      'case.open_viewer': '在阅片器中打开',
      'case.view_here': '在此查看',
      'case.hide_viewer': '关闭阅片器',
      'case.actions': '操作',
      'case.join': '进入视频会诊',
      'case.call_opens': '视频将于 {time} 开放。',
      'case.accept': '接受此会诊',
      'case.start': '开始会诊',
      'case.start_hint': '开始后无需视频即可书写意见，例如仅审阅影像时。',
      'case.decline': '拒绝…',
      'case.decline_reason': '拒绝原因（申请医生可见）',
      'case.decline_confirm': '拒绝此会诊',
      'case.cancel': '取消申请…',
      'case.cancel_reason': '取消原因',
      'case.cancel_confirm': '取消此会诊',
      'case.back': '返回',
      'case.book': '预约时段',
      'case.zone': '{zone} 时间',
      'service.video': '视频会诊',
      'service.async_review': '影像审阅',
      'booking.status.held': '保留中',
      'booking.status.booked': '已预约',
      'booking.status.cancelled': '已取消',
      'booking.status.declined': '已拒绝',
      'booking.status.no_show': '患者未到',
      'booking.status.expired': '保留已过期',
      'booking.status.completed': '已完成',
    },
  };

  let zoneCache = null;

  // The IANA zone of the user's facility: times are shown as its staff
  // live them, wherever the browser thinks it is.
  async function zone(me) {
    if (zoneCache && zoneCache.facility === me.facility_id) return zoneCache.zone;
    let name = Intl.DateTimeFormat().resolvedOptions().timeZone;
    try {
      const facility = await api('GET', `/facilities/${me.facility_id}`);
      if (facility.time_zone) name = facility.time_zone;
    } catch (_) {
      // The browser's own zone is the best guess left.
    }
    zoneCache = { facility: me.facility_id, zone: name };
    return name;
  }

  // A time in the user's facility zone once it is known (the home page and
  // the case page look it up first), else in the browser's.
  function here(iso, options) {
    return formatIn(iso, zoneCache ? zoneCache.zone : undefined, options);
  }

  function formatIn(iso, timeZone, options) {
    if (!iso) return '';
    try {
      return new Intl.DateTimeFormat(window.FerryI18n.current(),
        // Clinics keep the 24-hour clock, in either language.
        Object.assign({ timeZone, hourCycle: 'h23' }, options || { dateStyle: 'medium', timeStyle: 'short' }))
        .format(new Date(iso));
    } catch (_) {
      return window.Ferry.when(iso, options);
    }
  }

  // YYYY-MM-DD of an instant in a zone, for "today" as the user's clinic sees it.
  function dayIn(iso, timeZone) {
    try {
      return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })
        .format(new Date(iso));
    } catch (_) {
      return new Date(iso).toISOString().slice(0, 10);
    }
  }

  // The booking that fixes the consultation's time: the active one, else the
  // last one it had.
  function bookingOf(bookings, consultationId) {
    const mine = bookings.filter((b) => b.consultation_id === consultationId);
    return mine.find((b) => ACTIVE_BOOKING.includes(b.status)) || mine[mine.length - 1] || null;
  }

  // Whether the user may join the call now. The server decides admission
  // before the WebSocket upgrade, so a plain GET of the signalling path
  // answers without joining: 400 `websocket_required` means admitted, 409
  // `too_early` carries when it opens.
  async function callState(id) {
    try {
      await request(`/signal/${id}`, { headers: { Accept: 'application/json' } });
      return { open: true };
    } catch (err) {
      const error = err.body && err.body.error;
      if (err.status === 400 && error && error.code === 'websocket_required') return { open: true };
      if (error && error.code === 'too_early') return { open: false, opens_at: error.details.opens_at };
      return { open: false };
    }
  }

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
    if (window.FerryViewer && typeof window.FerryViewer.mount === 'function') {
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
        viewer = window.FerryViewer.mount(holder, uid);
        button.textContent = t('case.hide_viewer');
      });
      figure.append(button, holder);
    }
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

  let state = null;

  async function render(section, id, me) {
    const mine = state;
    const c = await api('GET', `/consultations/${id}`);
    const [timeZone, bookings, call] = await Promise.all([
      zone(me),
      api('GET', `/bookings?consultation_id=${id}`).catch(() => []),
      ['scheduled', 'in_progress', 'awaiting_opinion'].includes(c.status) ? callState(id) : { open: false },
    ]);
    if (mine !== state) return;
    const booking = bookingOf(bookings, id);
    const isExpert = c.expert_id === me.id;
    const isRequester = me.roles.includes('clinician') && me.facility_id === c.requesting_facility_id;
    const onCallCandidate = me.roles.includes('expert') && c.status === 'requested' && c.urgency !== 'routine' && !c.expert_id;

    const error = el('p', { class: 'error', role: 'alert', id: 'case-error' });
    const act = async (fn) => {
      error.textContent = '';
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
      actions.append(el('span', { class: 'muted' }, t('case.call_opens', { time: formatIn(call.opens_at, timeZone) })));
    }
    if (onCallCandidate) {
      actions.append(el('button', { type: 'button', class: 'primary', id: 'case-accept',
        onclick: () => act(() => api('POST', `/consultations/${id}/accept`)) }, t('case.accept')));
    }
    if (isExpert && c.status === 'scheduled') {
      actions.append(el('button', { type: 'button', id: 'case-start', title: t('case.start_hint'),
        onclick: () => act(() => api('POST', `/consultations/${id}/status`, { status: 'in_progress' })) }, t('case.start')));
    }
    if (isExpert && ['requested', 'scheduled'].includes(c.status)) {
      actions.append(...reasonForm('case.decline', 'case.decline_reason', 'case.decline_confirm',
        (reason) => act(() => api('POST', `/consultations/${id}/status`, { status: 'declined', reason })), true));
    }
    if (isRequester && c.status === 'requested' && c.urgency === 'routine') {
      actions.append(el('a', { href: `#/consultations/${id}/book`, class: 'button' }, t('case.book')));
    }
    if (isRequester && ['requested', 'scheduled'].includes(c.status)) {
      actions.append(...reasonForm('case.cancel', 'case.cancel_reason', 'case.cancel_confirm',
        (reason) => act(() => api('POST', `/consultations/${id}/status`, { status: 'cancelled', reason })), true));
    }

    const details = el('dl', { class: 'case-details' },
      row(t('case.patient'), el('a', { href: `#/patients/${c.patient_id}`, class: 'case-patient' }, c.patient_name)),
      row(t('case.requested_by'), el('span', { class: 'case-requester' },
        `${c.requested_by_name || ''} · ${c.requesting_facility_name}`)),
      row(t('case.expert'), c.expert_name || '—'),
      row(t('case.specialty'), c.specialty),
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

    section.replaceChildren(
      el('p', null, el('a', { href: '#/' }, '← ', t('case.back'))),
      el('h2', null, t('case.title', { id: c.id }), ' · ', c.patient_name),
      actions,
      error,
      details,
      el('h3', null, t('case.studies')),
      c.studies.length ? studies : el('p', { class: 'muted' }, t('case.no_studies')),
      opinion);
    state.consultation = c;
    if (window.FerryOpinion && c.reason !== undefined && c.reason !== null) {
      await window.FerryOpinion.mount(opinion, c, me, () => render(section, id, me));
    }
  }

  window.Ferry.screen({
    name: 'consultation',
    path: /^#\/consultations\/(\d+)$/,
    roles: ['clinician', 'expert', 'scheduler'],
    messages: MESSAGES,
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
  });

  window.FerryConsultation = { zone, formatIn, here, dayIn, bookingOf, callState, studyCard, editing: (fn) => {
    if (state) state.editing = fn;
  } };
})();
