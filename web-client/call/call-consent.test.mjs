// The patient's consent as the call screen words it.
import test from 'node:test';
import assert from 'node:assert/strict';
import { consentLine } from './call-consent.js';
import messages from '../i18n/shell.js';

/** @param {'en' | 'zh-CN'} language */
function words(language) {
  const table = messages[language];
  return {
    t: (/** @type {string} */ key, /** @type {Record<string, string>} */ params = {}) => {
      assert.ok(key in table, `${language} has ${key}`);
      return table[key].replace(/\{(\w+)\}/g, (_, name) => params[name] ?? `{${name}}`);
    },
    when: (/** @type {string} */ iso) => iso.slice(0, 10),
  };
}

const given = {
  kind: 'teleconsultation', in_force: true, given_by: 'guardian', guardian_name: '王小明',
  recorded_by_name: '李医生', recorded_at_facility_name: '海岛卫生院', recorded_at: '2026-12-08T02:00:00Z',
};

test('a consent in force names who gave it and who recorded it, in both languages', () => {
  const zh = consentLine([given], words('zh-CN'));
  assert.equal(zh.missing, false);
  for (const part of ['监护人 王小明', '李医生', '海岛卫生院', '2026-12-08', '未记录患者对录像的同意']) {
    assert.ok(zh.text.includes(part), `${zh.text} names ${part}`);
  }
  const en = consentLine([given, { ...given, kind: 'recording', given_by: 'patient' }], words('en'));
  assert.ok(en.text.includes('guardian 王小明') && en.text.includes('agreed to recording'), en.text);
});

test('a withdrawn consent, or one to recording only, is not a consent to the teleconsultation', () => {
  for (const consents of [[], [{ ...given, in_force: false }], [{ ...given, kind: 'recording' }]]) {
    const line = consentLine(consents, words('zh-CN'));
    assert.equal(line.missing, true);
    assert.ok(line.text.includes('尚未记录'), line.text);
  }
});
