// @ts-check
// Ferry web client: the files an upload held back because their Patient ID
// is not the page's patient's (lib/upload-sort.js), one box per patient
// they name, with that patient's name, sex, birth date and facility and a
// link to them, or "not in this consortium"; and what the user may do with
// each: send them to the patient they name (on that patient's own upload
// page), or leave them unsent.

import { el, t } from './ferry.js';
import { patientName } from './patient-banner.js';

/**
 * @typedef {import('./upload-sort.js').HeldGroup & {left?: boolean, unchecked?: boolean}} ShownGroup
 */

// One patient a group names, as a line: name, sex, birth date, facility, link.
function who(match, pagePatientId) {
  return el('li', { class: 'held-patient', dataset: { patient: String(match.patient_id) } },
    el('strong', null, patientName(match)),
    match.patient_id === pagePatientId ? el('span', { class: 'held-self' }, t('upload.held.this_patient')) : null,
    ' · ', t('sex.' + (match.sex || 'unknown')),
    ' · ', t('upload.held.born', { date: match.birth_date }),
    ' · ', t('upload.held.record_at', { number: match.record_number, facility: match.facility_name }),
    ' ', el('a', { href: `#/patients/${match.patient_id}` }, t('upload.held.open')));
}

function heading(group) {
  const ids = group.patientIds.map((id) => id || '—').join(', ');
  if (group.unchecked) return t('upload.held.unchecked', { id: ids });
  if (group.kind === 'patient') return t('upload.held.patient', { id: ids });
  if (group.kind === 'elsewhere') return t('upload.held.elsewhere', { id: ids });
  if (group.patientIds.every((id) => id === '')) return t('upload.held.no_id');
  return t('upload.held.unknown', { id: ids });
}

/**
 * The held-back boxes, or nothing when no file is held back.
 * @param {ShownGroup[]} groups
 * @param {{patientId: number | null, onSend: (g: ShownGroup) => void, onLeave: (g: ShownGroup) => void}} actions
 * @returns {HTMLElement | null}
 */
function heldList(groups, actions) {
  if (groups.length === 0) return null;
  const waiting = groups.filter((g) => !g.left).reduce((n, g) => n + g.items.length, 0);
  return el('div', { class: 'held' },
    el('h3', null, t('upload.held.title', { n: waiting })),
    el('p', { class: 'hint' }, t('upload.held.why')),
    groups.map((group) => {
      const patient = group.kind === 'patient' ? group.matches[0] : null;
      const names = group.items.map((i) => i.file.webkitRelativePath || i.file.name);
      return el('section', {
        class: `held-group held-${group.unchecked ? 'unchecked' : group.kind}${group.left ? ' held-left' : ''}`,
        dataset: { key: group.key, kind: group.kind, patient: patient ? String(patient.patient_id) : '' },
      },
      el('h4', null, el('span', { class: 'upload-icon', 'aria-hidden': 'true' }, '‖'), ' ', heading(group)),
      group.kind === 'unknown' || group.unchecked
        ? null
        : el('ul', null, group.matches.map((m) => who(m, actions.patientId))),
      group.kind === 'elsewhere' ? el('p', { class: 'hint' }, t('upload.held.elsewhere_why')) : null,
      el('p', { class: 'held-files' }, t('upload.held.files', { n: group.items.length }), ': ',
        names.slice(0, 6).join(', '), names.length > 6 ? ' …' : ''),
      group.left
        ? el('p', { class: 'held-done' }, t('upload.held.left'))
        : el('p', { class: 'actions' },
          patient
            ? el('button', { type: 'button', class: 'held-send', onclick: () => actions.onSend(group) },
              t('upload.held.send', { name: patientName(patient) }))
            : null,
          el('button', { type: 'button', class: 'held-leave', onclick: () => actions.onLeave(group) },
            t('upload.held.leave'))));
    }));
}

export { heldList };
