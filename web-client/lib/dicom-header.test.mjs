// Reading an upload's header (dicom-header.js): node --test web-client/
// (`.mjs`, so the server neither embeds nor serves it).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { parse } from './dicom-header.js';

// One explicit VR little endian element with a short length.
function element(group, number, vr, value) {
  let bytes = typeof value === 'string' ? new TextEncoder().encode(value) : value;
  if (bytes.length % 2) bytes = Uint8Array.from([...bytes, vr === 'UI' ? 0 : 0x20]);
  const head = new Uint8Array(8);
  const view = new DataView(head.buffer);
  view.setUint16(0, group, true);
  view.setUint16(2, number, true);
  head[4] = vr.charCodeAt(0);
  head[5] = vr.charCodeAt(1);
  view.setUint16(6, bytes.length, true);
  return [...head, ...bytes];
}

function file(elements) {
  return Uint8Array.from([
    ...new Uint8Array(128), ...new TextEncoder().encode('DICM'),
    ...element(0x0002, 0x0003, 'UI', '1.2.3.4'),
    ...element(0x0002, 0x0010, 'UI', '1.2.840.10008.1.2.1'),
    ...elements.flat(),
  ]);
}

test("a file's patient, in the character set it declares", () => {
  const found = parse(file([
    element(0x0008, 0x0005, 'CS', 'ISO_IR 192'),
    element(0x0008, 0x0060, 'CS', 'CT'),
    element(0x0010, 0x0010, 'PN', 'Wang^Xiuying=王^秀英'),
    element(0x0010, 0x0020, 'LO', 'ISL-1'),
  ]));
  assert.equal(found.sop_instance_uid, '1.2.3.4');
  assert.equal(found.modality, 'CT');
  assert.equal(found.patient_name, 'Wang^Xiuying=王^秀英');
  assert.equal(found.patient_id, 'ISL-1');
});

test('with no character set declared, text is read as Latin-1', () => {
  const found = parse(file([element(0x0010, 0x0010, 'PN', Uint8Array.from([0x4d, 0xfc, 0x6c, 0x6c, 0x65, 0x72]))]));
  assert.equal(found.patient_name, 'Müller');
});

test('bytes that are not a DICOM file have no header', () => {
  assert.equal(parse(new TextEncoder().encode('Dear colleague, '.repeat(20))), null);
});
