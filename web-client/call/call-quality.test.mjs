// The call screen's verdict on the link, its speaker choice and its countdown.
import test from 'node:test';
import assert from 'node:assert/strict';
import { verdict, loudest, countdown } from './call-quality.js';

const fine = { rttMs: 40, loss: 0, kbps: 900, mode: 'normal' };

test('a good link is good on the first sample, nothing measured is no verdict', () => {
  assert.equal(verdict(fine, null), 'good');
  assert.equal(verdict({ rttMs: null, loss: null, kbps: null, mode: 'normal' }, null), null);
});

test('slow, lossy or thin links are poor', () => {
  assert.equal(verdict({ ...fine, rttMs: 450 }, 'good'), 'poor');
  assert.equal(verdict({ ...fine, loss: 0.08 }, 'good'), 'poor');
  assert.equal(verdict({ ...fine, kbps: 90 }, 'good'), 'poor');
});

test('low bandwidth chosen by the user is not a poor link', () => {
  assert.equal(verdict({ ...fine, kbps: 140, mode: 'low' }, null), 'good');
  assert.equal(verdict({ ...fine, kbps: 0, mode: 'off' }, 'good'), 'good');
  // Only the figures that are the link's own count then.
  assert.equal(verdict({ ...fine, kbps: 140, rttMs: 600, mode: 'low' }, null), 'poor');
  assert.equal(verdict({ rttMs: null, loss: null, kbps: 100, mode: 'low' }, null), null);
});

test('a poor link recovers only with a margin', () => {
  assert.equal(verdict({ ...fine, rttMs: 350 }, 'poor'), 'poor');
  assert.equal(verdict({ ...fine, rttMs: 250 }, 'poor'), 'good');
  assert.equal(verdict({ ...fine, rttMs: 350 }, 'good'), 'good');
});

test('the loudest speaker is chosen, and nobody in silence', () => {
  assert.equal(loudest(new Map([['3', 0.2], ['7', 0.5], ['9', 0.1]])), '7');
  assert.equal(loudest(new Map([['3', 0.001], ['7', 0]])), null);
  assert.equal(loudest(new Map()), null);
});

test('the countdown reads minutes and seconds, and hours when far', () => {
  assert.equal(countdown(65_000), '1:05');
  assert.equal(countdown(500), '0:01');
  assert.equal(countdown(-3000), '0:00');
  assert.equal(countdown(3_725_000), '1:02:05');
});
