// Sorting an upload's files by the patient they name (upload-sort.js):
// node --test web-client/ (`.mjs`, so the server neither embeds nor serves it).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { destination, ownNumbers, patientIdOf, sort } from './upload-sort.js';

const me = { facility_id: 7 };
const wang = { records: [{ facility_id: 7, record_number: ' ISL-1 ' }, { facility_id: 2, record_number: 'CTY-9' }] };
const file = (name, patientId) => ({
  file: { name }, header: patientId === null ? null : { patient_id: patientId },
});
const match = (number, patient, facility, here) => ({
  record_number: number, facility_id: facility, facility_name: 'F' + facility, filed_here: here,
  patient_id: patient, family_name: '李', given_name: '建国', sex: 'male', birth_date: '1950-01-01',
});

test("only the record numbers of the user's own facility file a study under the patient", () => {
  assert.deepEqual([...ownNumbers(wang, me)], ['ISL-1']);
  assert.deepEqual([...ownNumbers({ records: [] }, me)], []);
  assert.equal(patientIdOf(file('a', ' ISL-1 ')), 'ISL-1');
  assert.equal(patientIdOf(file('a', null)), null);
  assert.equal(patientIdOf({ header: {} }), '');
});

test("files of other patients are held back, grouped by the patient they name", () => {
  const items = [
    file('mine', 'ISL-1'), file('letter', null), file('li-1', 'ISL-2'), file('li-2', 'ISL-2'),
    file('county', 'CTY-9'), file('nobody', 'X-404'), file('blank', ''),
  ];
  const matches = [match('ISL-2', 42, 7, true), match('CTY-9', 5, 2, false)];
  const { send, held } = sort(items, ownNumbers(wang, me), matches);
  assert.deepEqual(send.map((i) => i.file.name), ['mine', 'letter']);
  assert.deepEqual(held.map((g) => [g.key, g.kind, g.items.map((i) => i.file.name)]), [
    ['patient:42', 'patient', ['li-1', 'li-2']],
    ['elsewhere:CTY-9', 'elsewhere', ['county']],
    ['unknown:X-404', 'unknown', ['nobody']],
    ['unknown:', 'unknown', ['blank']],
  ]);
  assert.deepEqual(held[0].patientIds, ['ISL-2']);
  assert.equal(held[0].matches[0].patient_id, 42);
});

test('with no patient on the page nothing is held back, and each file says where it goes', () => {
  const items = [file('li', 'ISL-2'), file('nobody', 'X-404')];
  const matches = [match('ISL-2', 42, 7, true)];
  const { send, held } = sort(items, null, matches);
  assert.equal(send.length, 2);
  assert.equal(held.length, 0);
  assert.equal(destination(items[0], matches).patient_id, 42);
  assert.equal(destination(items[1], matches), null);
});
