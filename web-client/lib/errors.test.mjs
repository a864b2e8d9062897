// The words for the server's errors (i18n/errors.js) and terms (i18n/terms.js):
// node --test web-client/. Every code of server/src/error/codes.rs has a
// sentence in both languages, read from the Rust table itself, so a code
// added there without words here fails.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { MESSAGES, set } from './i18n.js';
import { errorText, request } from './ferry.js';
import { roleName, specialtyName, modalityName, bodyPartName } from './terms.js';

const codesRs = new URL('../../server/src/error/codes.rs', import.meta.url);

function serverCodes() {
  const text = readFileSync(codesRs, 'utf8');
  const codes = [...text.matchAll(/^\s*[A-Z]\w* = "([a-z0-9_]+)" => [A-Z_]+,/gm)].map((m) => m[1]);
  assert.ok(codes.length > 100, `read ${codes.length} codes from codes.rs`);
  return codes;
}

// node has no localStorage: `set` needs one to remember the choice.
globalThis.localStorage = /** @type {any} */ ({ getItem: () => null, setItem: () => {} });
globalThis.document = /** @type {any} */ ({
  documentElement: {}, querySelectorAll: () => [], dispatchEvent: () => true,
});
globalThis.CustomEvent = globalThis.CustomEvent || class extends Event {};

test('every error code of the server has words in both languages', () => {
  const missing = [];
  for (const code of serverCodes()) {
    for (const tag of ['en', 'zh-CN']) {
      if (!MESSAGES[tag][`error.code.${code}`]) missing.push(`${tag} error.code.${code}`);
    }
  }
  assert.deepEqual(missing, []);
});

test('no words for a code the server does not have', () => {
  const codes = new Set(serverCodes());
  const stale = Object.keys(MESSAGES.en)
    .filter((key) => key.startsWith('error.code.'))
    .filter((key) => !codes.has(key.slice('error.code.'.length)));
  assert.deepEqual(stale, []);
});

test('an error reads as a sentence in the language, with its details filled in', () => {
  set('zh-CN');
  assert.equal(errorText({ code: 'too_many_attempts', details: { retry_after_secs: 42 } }),
    '登录失败次数过多，请在 42 秒后重试。');
  assert.equal(errorText({ code: 'invalid_field', details: { field: 'record_number' } }), '填写的内容无效：病历号。');
  const early = errorText({ code: 'too_early', details: { opens_at: '2026-12-07T00:45:00Z' } });
  assert.ok(early.startsWith('通话将于 '), early);
  assert.ok(!early.includes('2026-12-07T00:45:00Z') && !early.includes('{time}'), early);
  // A code it does not know, or none: a general sentence, nothing raw.
  const unknown = errorText({ code: 'brand_new_code', message: 'something in English' });
  assert.equal(unknown, MESSAGES['zh-CN']['error.unknown']);
  assert.ok(!unknown.includes('brand_new_code'));
  assert.equal(errorText(null), MESSAGES['zh-CN']['error.unknown']);
  set('en');
  assert.equal(errorText({ code: 'invalid_field', details: { field: 'no_such_field' } }), 'This value is not valid: a value.');
  assert.equal(errorText({ code: 'bookings_affected', details: { bookings: [{}, {}] } }),
    'This change would remove 2 booked slot(s). Move those bookings or cancel them first.');
});

test('a refusal throws the words for its code; a lost link says so', async () => {
  const realFetch = globalThis.fetch;
  try {
    set('zh-CN');
    globalThis.fetch = async () => new Response(JSON.stringify({
      error: { code: 'slot_taken', message: 'that slot is taken', details: {} },
    }), { status: 409, headers: { 'Content-Type': 'application/json' } });
    await assert.rejects(request('/api/v1/bookings'), (err) => {
      assert.equal(err.message, '该时段刚被他人预约，请另选时段。');
      assert.equal(err.status, 409);
      assert.equal(err.body.error.code, 'slot_taken');
      return true;
    });
    globalThis.fetch = async () => { throw new TypeError('Failed to fetch'); };
    await assert.rejects(request('/api/v1/me'), { message: '网络连接中断，请检查网络后重试。', status: 0 });
    set('en');
    await assert.rejects(request('/api/v1/me'), { message: 'The connection was lost; check the network and try again.' });
  } finally {
    globalThis.fetch = realFetch;
  }
});

test('terms have names in both languages; unknown codes stay as given', () => {
  set('zh-CN');
  assert.equal(roleName('radiologist'), '影像科医生');
  assert.equal(specialtyName('cardiology'), '心血管内科');
  assert.equal(specialtyName('心内科'), '心内科');
  assert.equal(modalityName('CT'), 'CT（计算机断层扫描）');
  assert.equal(bodyPartName('LSPINE'), '腰椎');
  set('en');
  assert.equal(modalityName('us'), 'US (ultrasound)');
  assert.equal(roleName('admin'), 'administrator');
});

// The server's table of Chinese body-part names (server/src/examination/
// body_part.rs) and the client's datalist offer the same terms.
test('the body parts offered are the DICOM terms the server maps', () => {
  const rust = readFileSync(new URL('../../server/src/examination/body_part.rs', import.meta.url), 'utf8');
  const table = rust.slice(rust.indexOf('BODY_PARTS'), rust.indexOf('];'));
  const server = new Set([...table.matchAll(/\(\s*"([A-Z]+)",/g)].map((m) => m[1]));
  const client = Object.keys(MESSAGES.en).filter((k) => k.startsWith('term.body_part.'))
    .map((k) => k.slice('term.body_part.'.length));
  assert.deepEqual([...client].sort(), [...server].sort());
});
