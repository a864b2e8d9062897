// Why a camera or microphone did not open, in the user's words and not the
// browser's English: node --test web-client/ (Node has no navigator's
// mediaDevices here, and speaks English).
import test from 'node:test';
import assert from 'node:assert/strict';
import { MESSAGES } from '../lib/i18n.js';
import { problemText } from './call-devices.js';

const failure = (name) => Object.assign(new Error('Permission denied by system'), { name });

test('each known refusal in words, never the browser\'s message', () => {
  const words = {
    NotAllowedError: 'call.device.not_allowed',
    PermissionDeniedError: 'call.device.not_allowed',
    NotFoundError: 'call.device.not_found',
    NotReadableError: 'call.device.busy',
    OverconstrainedError: 'call.device.overconstrained',
    SecurityError: 'call.device.security',
    AbortError: 'call.device.aborted',
  };
  for (const [name, key] of Object.entries(words)) {
    const text = problemText(failure(name));
    assert.equal(text, MESSAGES.en[key], name);
    assert.ok(!text.includes('Permission denied by system'), name);
    assert.ok(MESSAGES['zh-CN'][key], name);
  }
});

test('no mediaDevices (a page not on HTTPS) says so', () => {
  assert.equal(problemText(new TypeError("Cannot read properties of undefined (reading 'getUserMedia')")),
    MESSAGES.en['call.device.insecure']);
});

test('a name it does not know shows only as a code in brackets', () => {
  const text = problemText(failure('FancyNewError'));
  assert.ok(text.endsWith('(FancyNewError).'), text);
  assert.ok(!text.includes('Permission denied'), text);
  assert.equal(problemText(null), MESSAGES.en['call.device.unknown']);
  assert.equal(problemText({}), MESSAGES.en['call.device.unknown']);
});
