// @ts-check
// The consortium's terms in the user's language (i18n/terms.js): a role,
// specialty, modality, body part, tier, status code or audit event becomes
// its name; a code the catalogue does not know is shown as the server has
// it, since specialties are free text an administrator may have typed in
// Chinese.

import { t, MESSAGES } from './i18n.js';

/**
 * @param {string} group
 * @param {string | null | undefined} code
 * @returns {string}
 */
function term(group, code) {
  if (code === null || code === undefined || code === '') return '';
  const key = `term.${group}.${code}`;
  return key in MESSAGES.en ? t(key) : String(code);
}

/** @param {string} role e.g. `clinician` */
const roleName = (role) => term('role', role);
/** @param {string[]} roles */
const roleNames = (roles) => (roles || []).map(roleName).join(', ');
/** @param {string} code e.g. `cardiology` */
const specialtyName = (code) => term('specialty', code);
/** @param {string} modality a DICOM code, e.g. `CT` */
const modalityName = (modality) => term('modality', String(modality || '').toUpperCase());
/** @param {string} part a DICOM Body Part Examined term, e.g. `LSPINE` */
const bodyPartName = (part) => term('body_part', String(part || '').toUpperCase());
/** @param {string} tier e.g. `village` */
const tierName = (tier) => term('tier', tier);
/** @param {string} status e.g. `scheduled` */
const statusName = (status) => term('status', status);
/** @param {string} action an audit action, e.g. `read` */
const auditActionName = (action) => term('audit_action', action);
/** @param {string} type an audited entity's type, e.g. `dicom_study` */
const entityName = (type) => term('entity', type);
/**
 * An audit event in words, e.g. `patient.read`; an event the catalogue does
 * not know yet keeps its raw name, which is what an administrator searches by.
 * @param {string} subtype
 */
const auditEventName = (subtype) => term('audit_event', subtype);

/**
 * The code of a `group` term typed by its name in either language;
 * anything else is kept as typed.
 * @param {string} group
 * @param {string} typed
 * @returns {string}
 */
function codeOf(group, typed) {
  const text = typed.trim();
  const prefix = `term.${group}.`;
  for (const tag of Object.keys(MESSAGES)) {
    for (const [key, name] of Object.entries(MESSAGES[tag])) {
      if (key.startsWith(prefix) && name.toLowerCase() === text.toLowerCase()) {
        return key.slice(prefix.length);
      }
    }
  }
  return text;
}

/**
 * The code of a specialty typed by its name in either language (心血管内科
 * or cardiology), so an administrator may type names.
 * @param {string} typed
 */
const specialtyCode = (typed) => codeOf('specialty', typed);
/**
 * The raw event name of one typed in words (查看患者 or "patient record
 * viewed"), so the audit filter takes what the table shows.
 * @param {string} typed
 */
const auditEventCode = (typed) => codeOf('audit_event', typed);

/**
 * The audit events the catalogue names, as `<option>`s of a datalist: the
 * value is the raw name the server filters by, the label its words.
 * @returns {HTMLOptionElement[]}
 */
function auditEventOptions() {
  return Object.keys(MESSAGES.en)
    .filter((key) => key.startsWith('term.audit_event.'))
    .map((key) => {
      const option = document.createElement('option');
      option.value = key.slice('term.audit_event.'.length);
      option.label = t(key);
      return option;
    });
}

/** @param {string} tag e.g. `zh-CN` */
const languageName = (tag) => term('language', tag);

/**
 * "CT · HEAD" as the user reads it: the modality's code (short, and what
 * the images say) with the body part's name.
 * @param {string} modality
 * @param {string} [part]
 */
function examinationName(modality, part) {
  return [modality, part ? bodyPartName(part) : ''].filter(Boolean).join(' ');
}

/**
 * The body parts a form offers, as `<option>`s of a datalist: the value is
 * the name in the user's language (the server maps Chinese and English
 * names to the DICOM term), the label the DICOM term.
 * @returns {HTMLOptionElement[]}
 */
function bodyPartOptions() {
  return Object.keys(MESSAGES.en)
    .filter((key) => key.startsWith('term.body_part.'))
    .map((key) => {
      const option = document.createElement('option');
      option.value = t(key);
      option.label = key.slice('term.body_part.'.length);
      return option;
    });
}

export {
  term, roleName, roleNames, specialtyName, specialtyCode, auditActionName, entityName, modalityName, bodyPartName, tierName, statusName,
  languageName, examinationName, bodyPartOptions, auditEventName, auditEventCode, auditEventOptions,
};
