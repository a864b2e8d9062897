// Ferry web client: asking for a consultation about a patient, and booking
// a routine one into an expert's free slot on a week calendar shown in the
// clinician's own time zone (the browser's). Urgent and emergency requests
// are not booked: the server puts them on the specialty's on-call queue,
// and this screen says so and who is on call.
'use strict';

(function () {
  const { api, el, t, when } = window.Ferry;
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
    return new Date(iso).toLocaleTimeString(window.FerryI18n.current(), { hour: '2-digit', minute: '2-digit' });
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
    const current = shifts.filter((s) => new Date(s.starts_at) <= now && new Date(s.ends_at) > now);
    container.replaceChildren(
      el('p', { id: 'consult-on-call', class: 'banner', role: 'status' },
        t('consult.on_call_sent', { specialty: consultation.specialty, urgency: t('urgency.' + consultation.urgency) })),
      el('p', null, current.length > 0
        ? t('consult.on_call_now', { names: current.map((s) => s.expert_name).join(', ') })
        : t('consult.on_call_nobody')),
      el('p', null, el('a', { class: 'button', href: `#/consultations/${consultation.id}` }, t('consult.follow')),
        ' ', el('a', { href: `#/patients/${consultation.patient_id}` }, t('upload.back_to_patient'))));
  }

  async function openRequest(section, patientId) {
    const [patient, { experts, names }] = await Promise.all([api('GET', `/patients/${patientId}`), specialties()]);
    let studies = [];
    try {
      studies = await window.FerryPatients.studiesOf(patient, []);
    } catch (_) {
      studies = [];
    }
    const value = window.FerryPatients.dicomValue;
    const expertSelect = el('select', { name: 'expert_id' });
    const specialty = el('select', { name: 'specialty', required: true },
      names.map((n) => el('option', { value: n }, n)));
    const urgency = el('select', { name: 'urgency' },
      ['routine', 'urgent', 'emergency'].map((u) => el('option', { value: u }, t('urgency.' + u))));
    function experts_of() {
      expertSelect.replaceChildren(el('option', { value: '' }, t('consult.any_expert')),
        experts.filter((e) => e.specialties.includes(specialty.value))
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
          el('input', { type: 'checkbox', name: 'studies', value: value(s, '0020000D'), checked: true }),
          ` ${window.FerryPatients.dicomDate(value(s, '00080020'))} ${value(s, '00080061')} ${value(s, '00081030')}`))) : null,
      el('button', { type: 'submit', 'data-i18n': 'consult.send' }, t('consult.send')),
      el('p', { id: 'consult-error', class: 'error', role: 'alert' }));
    const outcome = el('div', { id: 'consult-outcome' });
    section.replaceChildren(
      el('h2', null, t('consult.title', { name: window.FerryPatients.personName(patient) })),
      form, outcome);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      form.querySelector('#consult-error').textContent = '';
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
        form.querySelector('#consult-error').textContent = err.message;
      }
    });
  }

  window.Ferry.screen({
    name: 'consult',
    path: /^#\/patients\/(\d+)\/consult$/,
    roles: ['clinician'],
    open(section, match) {
      return openRequest(section, Number(match[1]));
    },
    messages: {
      en: {
        'consult.title': 'Request a consultation for {name}',
        'consult.expert': 'Expert',
        'consult.any_expert': 'Any expert of the specialty',
        'consult.service': 'Kind',
        'consult.reason': 'Question for the expert',
        'consult.summary': 'Clinical summary',
        'consult.studies': 'Images to read before the consultation',
        'consult.send': 'Send the request',
        'consult.urgency_help': 'Routine requests are booked into an expert\'s free slot next. Urgent and emergency requests go straight to the specialty\'s on-call experts.',
        'consult.on_call_sent': 'The {urgency} request went to the {specialty} on-call queue; the experts on call have been notified. The first to accept it takes it.',
        'consult.on_call_now': 'On call now: {names}.',
        'consult.on_call_nobody': 'Nobody is on call for this specialty right now: the schedulers see the request in the queue.',
        'consult.follow': 'Follow the consultation',
        'consult.service.video': 'video consultation',
        'consult.service.async_review': 'review without a call',
      },
      'zh-CN': {
        'consult.title': '为 {name} 申请会诊',
        'consult.expert': '专家',
        'consult.any_expert': '该专科任一专家',
        'consult.service': '方式',
        'consult.reason': '会诊问题',
        'consult.summary': '病情摘要',
        'consult.studies': '会诊前需阅读的影像',
        'consult.send': '提交申请',
        'consult.urgency_help': '常规申请接下来预约专家的空闲时段；紧急和急诊申请直接进入该专科的值班队列。',
        'consult.on_call_sent': '该{urgency}申请已进入{specialty}值班队列，已通知值班专家，最先接受者负责。',
        'consult.on_call_now': '当前值班：{names}。',
        'consult.on_call_nobody': '该专科目前无人值班：排班员会在队列中看到该申请。',
        'consult.follow': '查看会诊进展',
        'consult.service.video': '视频会诊',
        'consult.service.async_review': '非实时阅片会诊',
      },
    },
  });

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
    const language = window.FerryI18n.current();
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

  async function openBooking(section, id) {
    const consultation = await api('GET', `/consultations/${id}`);
    section.replaceChildren(
      el('h2', null, t('book.title', { name: consultation.patient_name, specialty: consultation.specialty })),
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
      heading.textContent = t('book.week', { from: first.toLocaleDateString(window.FerryI18n.current(), { dateStyle: 'medium' }),
        to: last.toLocaleDateString(window.FerryI18n.current(), { dateStyle: 'medium' }) });
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
                offset = Math.floor((new Date(next.start) - monday(0)) / (7 * DAY_MS));
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
      try {
        const booking = await api('POST', '/bookings', {
          expert_id: chosen.expert_id, start: chosen.start, consultation_id: consultation.id,
        });
        for (const element of [nav, heading, notice, calendar, confirm]) element.hidden = true;
        showBooked(section, consultation, booking);
      } catch (err) {
        error.textContent = err.message;
        const alternatives = (err.body && err.body.error && err.body.error.details.next_free) || [];
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

  window.Ferry.screen({
    name: 'book',
    path: /^#\/consultations\/(\d+)\/book$/,
    roles: ['clinician'],
    open(section, match) {
      return openBooking(section, Number(match[1]));
    },
    messages: {
      en: {
        'book.title': 'Book a consultation for {name} ({specialty})',
        'book.zone': 'Times are shown in your time zone, {zone}.',
        'book.week': 'Week of {from} to {to}',
        'book.previous': '← Previous week',
        'book.this_week': 'This week',
        'book.next': 'Next week →',
        'book.none': 'No free slot this week.',
        'book.next_free': 'Next free: {expert}, {when}',
        'book.left': '{n} left',
        'book.confirm': 'Book {when}–{end} with {expert} ({facility})?',
        'book.book': 'Book this slot',
        'book.booked': 'Booked: {when}–{end} with {expert}.',
        'book.alternatives': 'Free instead:',
        'book.not_bookable': 'This consultation cannot be booked: it is {status}.',
      },
      'zh-CN': {
        'book.title': '为 {name} 预约会诊（{specialty}）',
        'book.zone': '时间按您所在的时区显示：{zone}。',
        'book.week': '{from} 至 {to} 这一周',
        'book.previous': '← 上一周',
        'book.this_week': '本周',
        'book.next': '下一周 →',
        'book.none': '本周没有空闲时段。',
        'book.next_free': '最近空闲：{expert}，{when}',
        'book.left': '余 {n} 个',
        'book.confirm': '预约 {expert}（{facility}）{when}–{end}？',
        'book.book': '预约此时段',
        'book.booked': '已预约：{when}–{end}，专家 {expert}。',
        'book.alternatives': '可改约：',
        'book.not_bookable': '该会诊当前状态为“{status}”，无法预约。',
      },
    },
  });
})();
