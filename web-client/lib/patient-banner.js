// @ts-check
// The patient banner: who a screen acts on (name, sex, age, record number),
// fixed at the top of every screen that acts on a patient, so that a form
// can never be filled in for one patient while another is meant. Screens
// that take a form keep the banner's patient id and refuse to submit if the
// screen's patient has changed since (see `boundTo`).

import { el, t } from './ferry.js';

/**
 * A patient as `GET /api/v1/patients/{id}` gives it (only the fields the
 * banner reads).
 * @typedef {{id: number, family_name: string, given_name: string,
 *   sex: string, birth_date: string,
 *   records: {facility_id: number, facility_name?: string, record_number: string}[],
 *   [field: string]: any}} BannerPatient
 */

/**
 * The patient's name as written: Chinese names without a space, Latin ones
 * with one.
 * @param {{family_name: string, given_name: string}} p
 * @returns {string}
 */
export function patientName(p) {
  const cjk = /[\u3400-\u9fff]/.test(p.family_name + p.given_name);
  return cjk ? `${p.family_name}${p.given_name}` : `${p.family_name} ${p.given_name}`.trim();
}

/**
 * Whole years between `birth` (`YYYY-MM-DD`) and `today`; null if unreadable.
 * @param {string} birth
 * @param {Date} [today]
 * @returns {number | null}
 */
export function ageInYears(birth, today = new Date()) {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(birth || '');
  if (!m) return null;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  let age = today.getFullYear() - year;
  if (today.getMonth() + 1 < month || (today.getMonth() + 1 === month && today.getDate() < day)) {
    age -= 1;
  }
  return age >= 0 ? age : null;
}

/**
 * The age in the current language: years from 2 on, months under 2 years,
 * days under a month (a newborn's age in years would say nothing).
 * @param {string} birth
 * @param {Date} [today]
 * @returns {string}
 */
export function ageText(birth, today = new Date()) {
  const years = ageInYears(birth, today);
  if (years === null) return t('banner.age_unknown');
  if (years >= 2) return t('banner.age_years', { n: years });
  const born = new Date(birth + 'T00:00:00');
  let months = (today.getFullYear() - born.getFullYear()) * 12 + today.getMonth() - born.getMonth();
  if (today.getDate() < born.getDate()) months -= 1;
  if (months >= 1) return t('banner.age_months', { n: months });
  const days = Math.max(0, Math.floor((today.getTime() - born.getTime()) / 86400000));
  return t('banner.age_days', { n: days });
}

/**
 * The record number to show: the one of the user's own facility if the
 * patient has one there, else the first.
 * @param {{records?: {facility_id: number, record_number: string}[]}} p
 * @param {{facility_id?: number} | null} [me]
 * @returns {string}
 */
export function recordNumber(p, me) {
  const records = p.records || [];
  const own = me ? records.find((r) => r.facility_id === me.facility_id) : undefined;
  return (own || records[0] || { record_number: '' }).record_number;
}

/**
 * The banner element for `patient`, seen by `me`.
 * @param {BannerPatient} patient
 * @param {{facility_id?: number} | null} [me]
 * @returns {HTMLDivElement}
 */
export function patientBanner(patient, me) {
  const number = recordNumber(patient, me);
  return el('div', {
    class: 'patient-banner',
    role: 'region',
    'aria-label': t('banner.label'),
    'data-patient-id': String(patient.id),
  },
  el('strong', { class: 'patient-banner-name' }, patientName(patient)),
  el('span', { class: 'patient-banner-sex' }, t('sex.' + (patient.sex || 'unknown'))),
  el('span', { class: 'patient-banner-age' }, ageText(patient.birth_date)),
  el('span', { class: 'patient-banner-born' }, t('banner.born', { date: patient.birth_date })),
  number ? el('span', { class: 'patient-banner-record' }, t('banner.record', { number })) : null);
}

/**
 * The banner's patient from a list row that carries the patient's facts
 * (a reading request: `patient_name`, `patient_sex`, `patient_birth_date`,
 * `patient_record_number`), so a screen opened from a list needs no read of
 * the patient; null if the row names no patient.
 * @param {{patient_id?: number | null, patient_name?: string | null, patient_sex?: string | null,
 *   patient_birth_date?: string | null, patient_record_number?: string | null,
 *   requesting_facility_id?: number}} row
 * @returns {BannerPatient | null}
 */
export function bannerPatientOf(row) {
  if (!row.patient_id) return null;
  return {
    id: row.patient_id,
    family_name: row.patient_name || '',
    given_name: '',
    sex: row.patient_sex || 'unknown',
    birth_date: row.patient_birth_date || '',
    records: row.patient_record_number
      ? [{ facility_id: row.requesting_facility_id || 0, record_number: row.patient_record_number }] : [],
  };
}

/**
 * The patient's name and record number for a list row or an alert: "王秀英
 * · 病历号 HA-2024-1187"; empty if the row names no patient.
 * @param {{patient_name?: string | null, patient_record_number?: string | null}} row
 * @returns {string}
 */
export function patientLabel(row) {
  if (!row || !row.patient_name) return '';
  return row.patient_record_number
    ? `${row.patient_name} · ${t('banner.record', { number: row.patient_record_number })}`
    : row.patient_name;
}

/**
 * True if the patient shown on `root`'s screen (its banner) is still
 * `patientId`: what a form checks before it sends anything.
 * @param {ParentNode} root the screen's section, or an element inside it
 * @param {number} patientId the patient the form was made for
 * @returns {boolean}
 */
export function boundTo(root, patientId) {
  // A form inside the screen looks from the screen's section down.
  const screen = /** @type {HTMLElement} */ ((root instanceof Element && root.closest('main > section')) || root);
  const banner = /** @type {HTMLElement | null} */ (screen.querySelector('.patient-banner'));
  return !!banner && banner.isConnected && Number(banner.dataset.patientId) === Number(patientId)
    && !screen.hidden;
}
