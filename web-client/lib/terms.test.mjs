// The audit log's event names in words: node --test web-client/ (English
// here: Node has no Chinese navigator). Every event the server records by
// a literal name has words in both languages, so the audit screen shows no
// raw `patient.read` as a label.
import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { MESSAGES } from './i18n.js';
import { auditEventCode, auditEventName } from './terms.js';

const server = new URL('../../server/src', import.meta.url).pathname;

function rustFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return rustFiles(path);
    return entry.name.endsWith('.rs') ? [path] : [];
  });
}

test('an event in words, its raw name kept for one the client does not know', () => {
  assert.equal(auditEventName('patient.read'), MESSAGES.en['term.audit_event.patient.read']);
  assert.notEqual(MESSAGES['zh-CN']['term.audit_event.patient.read'], 'patient.read');
  assert.equal(auditEventName('something.new'), 'something.new');
  assert.equal(auditEventName(''), '');
});

test('the audit filter takes the raw name or the words in either language', () => {
  assert.equal(auditEventCode('patient.read'), 'patient.read');
  assert.equal(auditEventCode(MESSAGES.en['term.audit_event.patient.read']), 'patient.read');
  assert.equal(auditEventCode(` ${MESSAGES['zh-CN']['term.audit_event.user.login']} `), 'user.login');
  assert.equal(auditEventCode('something.new'), 'something.new');
});

test('every event the server names literally has words', { skip: !existsSync(server) }, () => {
  const literal = [
    /AuditEntry::(?:new|login)\(\s*(?:Action::\w+,\s*)?"([a-z_.]+)"/g,
    /AuditEntry::list_read\(\s*"([a-z_.]+)"/g,
    /audit_(?:entry|list)\([^"]*?"([a-z_]+\.[a-z_.]+)"/g,
  ];
  const found = new Set();
  for (const file of rustFiles(server)) {
    const text = readFileSync(file, 'utf8');
    for (const pattern of literal) {
      for (const [, name] of text.matchAll(pattern)) found.add(name);
    }
  }
  assert.ok(found.size > 40, `only ${found.size} events found: the patterns no longer fit the server`);
  const unnamed = [...found].filter((name) => !(`term.audit_event.${name}` in MESSAGES.en));
  assert.deepEqual(unnamed, []);
});
