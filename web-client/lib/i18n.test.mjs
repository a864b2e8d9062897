// The catalogue (i18n/, merged by lib/i18n.js): node --test web-client/ (`.mjs`, so the server neither
// embeds nor serves it).

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { AREAS, MESSAGES, languages, t } from './i18n.js';

const root = new URL('..', import.meta.url).pathname;

function sources(dir = root) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.(js|html)$/.test(entry.name) ? [path] : [];
  });
}

test('every key in both languages, none empty', () => {
  assert.deepEqual(languages.map(([tag]) => tag).sort(), Object.keys(MESSAGES).sort());
  const english = Object.keys(MESSAGES.en).sort();
  assert.deepEqual(Object.keys(MESSAGES['zh-CN']).sort(), english);
  for (const [tag, entries] of Object.entries(MESSAGES)) {
    for (const [key, text] of Object.entries(entries)) {
      assert.ok(typeof text === 'string' && text.trim(), `${tag} ${key} is empty`);
    }
  }
});

test('each area has its keys in both languages, and no key is in two areas', () => {
  const owner = new Map();
  for (const [name, area] of Object.entries(AREAS)) {
    assert.deepEqual(Object.keys(area['zh-CN']).sort(), Object.keys(area.en).sort(), name);
    for (const key of Object.keys(area.en)) {
      assert.ok(!owner.has(key), `${key} is in both i18n/${owner.get(key)}.js and i18n/${name}.js`);
      owner.set(key, name);
    }
  }
});

test('both languages fill in the same parameters', () => {
  const names = (text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
  for (const [key, text] of Object.entries(MESSAGES.en)) {
    assert.deepEqual(names(MESSAGES['zh-CN'][key]), names(text), key);
  }
});

// Keys built at run time ('status.' + s) cannot be checked here; those
// written out whole can.
test('every key the code and index.html name is in the catalogue', () => {
  const patterns = [
    /\bt\(\s*'([\w.-]+)'\s*[,)]/g,
    /'data-i18n(?:-placeholder)?':\s*'([\w.-]*\w)'(?!\s*\+)/g,
    /data-i18n(?:-placeholder)?="([\w.-]+)"/g,
    /\bnav:\s*\{\s*key:\s*'([\w.-]+)'/g,
  ];
  const missing = [];
  for (const file of sources()) {
    const text = readFileSync(file, 'utf8');
    for (const pattern of patterns) {
      for (const [, key] of text.matchAll(pattern)) {
        if (!(key in MESSAGES.en)) missing.push(`${file.slice(root.length)}: ${key}`);
      }
    }
  }
  assert.deepEqual(missing, []);
});

test('parameters are filled in, and a missing one shows as written', () => {
  assert.equal(t('call.left', { name: 'Li' }), 'Li left the call.');
  assert.equal(t('call.left'), '{name} left the call.');
  assert.equal(t('no.such.key'), 'no.such.key');
});
