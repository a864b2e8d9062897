// @ts-check
// Ferry web client: whose each file of an upload is, before anything is
// sent (screens/upload.js). The server files a stored study under the
// patient whose record number at the sending facility is the file's
// Patient ID, whatever page it was sent from; so on a patient's page, a
// file whose Patient ID is not that patient's number here is held back
// and grouped by the patient its Patient ID names (asked of the server,
// which answers only with patients the user may reach), or as not in this
// consortium. A file with no DICOM header is sent: the server refuses it
// and says why, and stores nothing.

import { api } from './ferry.js';

// The server takes at most this many Patient IDs a request.
const LOOKUP_BATCH = 200;

/**
 * A patient whose record the lookup found (POST /patients/lookup-records).
 * @typedef {{record_number: string, facility_id: number, facility_name: string,
 *   filed_here: boolean, patient_id: number, family_name: string,
 *   given_name: string, sex: string, birth_date: string}} RecordMatch
 */

/**
 * Files held back together: those of one patient the user may send them to
 * (`kind` 'patient'), of a patient whose record with that number is at
 * another facility, so that a study sent from here would not be filed under
 * them ('elsewhere', one group per Patient ID), or of no patient the user
 * may reach ('unknown', one group per Patient ID).
 * @typedef {{key: string, kind: 'patient' | 'elsewhere' | 'unknown',
 *   patientIds: string[], matches: RecordMatch[], items: any[]}} HeldGroup
 */

/**
 * The record numbers that file a study sent by `me`'s facility under
 * `patient`: its records there, trimmed as the server trims a Patient ID.
 * @param {{records?: {facility_id: number, record_number: string}[]}} patient
 * @param {{facility_id: number}} me
 * @returns {Set<string>}
 */
function ownNumbers(patient, me) {
  return new Set((patient.records || [])
    .filter((r) => r.facility_id === me.facility_id)
    .map((r) => r.record_number.trim()));
}

/**
 * The file's Patient ID as the server will read it: trimmed; '' when the
 * header has none or could not be read that far; null for a file with no
 * DICOM header at all.
 * @param {{header: {[attribute: string]: string} | null}} item
 * @returns {string | null}
 */
function patientIdOf(item) {
  if (!item.header) return null;
  return (item.header.patient_id || '').trim();
}

/**
 * The patients these Patient IDs name, among those the user may reach.
 * @param {string[]} ids
 * @returns {Promise<RecordMatch[]>}
 */
async function lookup(ids) {
  const wanted = [...new Set(ids.filter((id) => id !== ''))];
  const found = [];
  for (let i = 0; i < wanted.length; i += LOOKUP_BATCH) {
    found.push(...await api('POST', '/patients/lookup-records',
      { record_numbers: wanted.slice(i, i + LOOKUP_BATCH) }));
  }
  return found;
}

/**
 * Splits `items` into those to send and groups to hold back. With no
 * `numbers` (no patient on the page) nothing is held back.
 * @param {any[]} items each with `header`
 * @param {Set<string> | null} numbers the page's patient's record numbers here
 * @param {RecordMatch[]} matches the lookup's answer for the items' Patient IDs
 * @returns {{send: any[], held: HeldGroup[]}}
 */
function sort(items, numbers, matches) {
  const send = [];
  /** @type {Map<string, HeldGroup>} */
  const groups = new Map();
  for (const item of items) {
    const id = patientIdOf(item);
    if (numbers === null || id === null || numbers.has(id)) {
      send.push(item);
      continue;
    }
    const named = matches.filter((m) => m.record_number === id);
    const here = named.find((m) => m.filed_here);
    /** @type {HeldGroup['kind']} */
    let kind = 'unknown';
    let key = 'unknown:' + id;
    let shown = [];
    if (here) {
      kind = 'patient';
      key = 'patient:' + here.patient_id;
      shown = [here];
    } else if (named.length > 0) {
      kind = 'elsewhere';
      key = 'elsewhere:' + id;
      shown = named;
    }
    let group = groups.get(key);
    if (!group) {
      group = { key, kind, patientIds: [], matches: shown, items: [] };
      groups.set(key, group);
    }
    if (!group.patientIds.includes(id)) group.patientIds.push(id);
    group.items.push(item);
  }
  // Patients first, then other facilities' records, then no one.
  const order = { patient: 0, elsewhere: 1, unknown: 2 };
  const held = [...groups.values()].sort((a, b) => order[a.kind] - order[b.kind]);
  return { send, held };
}

/**
 * Where a file sent from a page with no patient will be filed: the patient
 * its Patient ID names here, or null (it waits among the unlinked studies).
 * @param {any} item
 * @param {RecordMatch[]} matches
 * @returns {RecordMatch | null}
 */
function destination(item, matches) {
  const id = patientIdOf(item);
  if (!id) return null;
  return matches.find((m) => m.record_number === id && m.filed_here) || null;
}

export { destination, lookup, ownNumbers, patientIdOf, sort };
