// The DICOM network page's choices without a browser: node --test web-client/
// (`.mjs`, so the server neither embeds nor serves it). Node has no
// navigator here, so the words are English.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MESSAGES } from '../lib/i18n.js';
import { destinationBody, destinationLabel, errorKey, routeLabel, ruleBody } from './admin-dicom.js';
import { dueIn, rowState, STATES, statusHex } from './admin-dicom-outbox.js';

const refusal = (code, details = {}) => ({ body: { error: { code, message: 'server words', details } } });

test('a row waiting after a failed attempt is failing, as the server counts it', () => {
  assert.equal(rowState({ state: 'pending', attempts: 0 }), 'pending');
  assert.equal(rowState({ state: 'pending', attempts: 3 }), 'failing');
  assert.equal(rowState({ state: 'sent', attempts: 2 }), 'sent');
});

test('every state shown has its words in both languages', () => {
  for (const state of STATES) {
    assert.ok(MESSAGES.en['dicom.state.' + state], state);
    assert.ok(MESSAGES['zh-CN']['dicom.state.' + state], state);
  }
});

test('DIMSE statuses are written the DICOM way', () => {
  assert.equal(statusHex(0xA700), '0xA700');
  assert.equal(statusHex(0), '0x0000');
  assert.equal(statusHex(0x0122), '0x0122');
  assert.equal(statusHex(null), '');
  assert.equal(statusHex(undefined), '');
});

test('the wait until the next attempt, in words, and none once due', () => {
  const now = Date.parse('2025-03-01T08:00:00Z');
  const at = (seconds) => new Date(now + seconds * 1000).toISOString();
  assert.equal(dueIn(at(-5), now, 'en'), null);
  assert.equal(dueIn(at(0), now, 'en'), null);
  assert.equal(dueIn(null, now, 'en'), null);
  assert.equal(dueIn(at(30), now, 'en'), 'in 30 seconds');
  assert.equal(dueIn(at(5 * 60), now, 'en'), 'in 5 minutes');
  assert.equal(dueIn(at(3600), now, 'en'), 'in 1 hour');
  assert.equal(dueIn(at(3 * 86400), now, 'en'), 'in 3 days');
  assert.equal(dueIn(at(5 * 60), now, 'zh-CN'), '5分钟后');
});

test('refusals of these endpoints in the user\'s words, others as the server said', () => {
  assert.equal(errorKey(refusal('ae_title_taken')), 'dicom.error.ae_title_taken');
  assert.equal(errorKey(refusal('invalid_ae_title', { field: 'ae_title' })), 'dicom.error.invalid_ae_title');
  assert.equal(errorKey(refusal('invalid_host', { field: 'host' })), 'dicom.error.invalid_host');
  assert.equal(errorKey(refusal('invalid_field', { field: 'port' })), 'dicom.error.port');
  assert.equal(errorKey(refusal('invalid_field', { field: 'state' })), null);
  assert.equal(errorKey(refusal('invalid_modality', { field: 'modality' })), 'dicom.error.invalid_modality');
  assert.equal(errorKey(refusal('invalid_reference', { field: 'destination_id' })), 'dicom.error.no_destination');
  assert.equal(errorKey(refusal('invalid_reference', { field: 'facility_id' })), 'dicom.error.no_facility');
  assert.equal(errorKey(refusal('invalid_reference', { field: 'reading_route_id' })), 'dicom.error.no_route');
  assert.equal(errorKey(refusal('invalid_reference', { field: 'something_else' })), null);
  assert.equal(errorKey(refusal('not_found')), 'dicom.error.not_found');
  assert.equal(errorKey(refusal('invalid_body')), null);
  assert.equal(errorKey(new Error('offline')), null);
  assert.equal(errorKey(null), null);
  for (const code of ['ae_title_taken', 'invalid_ae_title', 'invalid_host', 'invalid_modality', 'not_found']) {
    const key = errorKey(refusal(code));
    assert.ok(MESSAGES.en[key] && MESSAGES['zh-CN'][key], key);
  }
});

test('a destination is sent trimmed, with tls only when asked for', () => {
  const form = { ae_title: ' COUNTY-PACS ', host: ' pacs.county.local ', port: '104', description: ' 县医院 ', tls: false };
  assert.deepEqual(destinationBody(form),
    { ae_title: 'COUNTY-PACS', host: 'pacs.county.local', port: 104, description: '县医院' });
  assert.deepEqual(destinationBody({ ...form, tls: true }),
    { ae_title: 'COUNTY-PACS', host: 'pacs.county.local', port: 104, description: '县医院', tls: true });
});

test('a rule\'s empty choices mean every facility, every modality, no reading route', () => {
  assert.deepEqual(ruleBody({ facility: '', modality: ' ', route: '', destination: '7' }),
    { facility_id: null, modality: null, destination_id: 7 });
  assert.deepEqual(ruleBody({ facility: '3', modality: ' ct', route: '12', destination: '7' }),
    { facility_id: 3, modality: 'CT', destination_id: 7, reading_route_id: 12 });
});

test('routes and destinations in words', () => {
  const names = new Map([[1, 'County Hospital'], [2, 'Dongji Clinic']]);
  assert.equal(routeLabel({ id: 5, sending_facility_id: 2, modality: 'CT', body_part: null, reading_facility_name: 'County Hospital' }, names),
    'Dongji Clinic · CT · any body part → read at County Hospital');
  assert.equal(routeLabel({ id: 6, sending_facility_id: null, modality: null, body_part: 'CHEST', reading_facility_name: 'X' }, names),
    'any facility · any modality · chest → read at X');
  assert.equal(destinationLabel({ ae_title: 'PACS', facility_id: 1, host: '10.0.0.5', port: 11112 }, names),
    'PACS · County Hospital (10.0.0.5:11112)');
  assert.equal(destinationLabel({ ae_title: 'PACS', facility_id: 9, host: 'h', port: 104 }, names), 'PACS · #9 (h:104)');
});
