// The viewer's choices without a browser: node --test web-client/
// (`.mjs`, so the server neither embeds nor serves it).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as State from './state.js';

// DICOM JSON, as QIDO-RS and the metadata give it.
const str = (value) => ({ vr: 'LO', Value: [value] });
const num = (value) => ({ vr: 'IS', Value: [value] });

function instance(sop, n, extra = {}) {
  return {
    '00080018': str(sop), '00200013': num(n), '00080016': str('1.2.840.10008.5.1.4.1.1.2'),
    '00280010': num(4), '00280011': num(4), '00280100': num(16), '00280101': num(12),
    '00280004': str('MONOCHROME2'), ...extra,
  };
}

test('series list: by number, reports last', () => {
  const entries = State.seriesEntries([
    { '0020000E': str('sr'), '00200011': num(1), '00080060': str('SR') },
    { '0020000E': str('b'), '00200011': num(3), '00080060': str('CT'), '00201209': num(2) },
    { '0020000E': str('a'), '00200011': num(2), '00080060': str('CT'), '0008103E': str('Head') },
  ]);
  assert.deepEqual(entries.map((e) => e.uid), ['a', 'b', 'sr']);
  assert.deepEqual(entries[0], { uid: 'a', number: 2, modality: 'CT', description: 'Head', count: 0 });
  assert.equal(State.firstSeries(entries, 'b'), 'b');
  assert.equal(State.firstSeries(entries, 'not-in-study'), 'a');
  assert.equal(State.firstSeries(entries), 'a');
  assert.deepEqual(State.seriesEntries(null), []);
});

test('the pane a series needs', () => {
  assert.equal(State.paneFor(instance('1', 1)), 'image');
  assert.equal(State.paneFor({ '00080016': str('1.2.840.10008.5.1.4.1.1.88.11') }), 'sr');
  assert.equal(State.paneFor({ '00080060': str('ECG') }), 'ecg');
  assert.equal(State.paneFor({ '54000100': { vr: 'SQ', Value: [] } }), 'ecg');
});

test('frames: instances in number order, one item a frame', () => {
  const metadata = State.byInstanceNumber([
    instance('two', 2, { '00280008': num(3) }),
    instance('one', 1),
  ]);
  const items = State.frameItems('s1', metadata);
  assert.deepEqual(items.map((i) => `${i.sop}/${i.frame}`), ['one/1', 'two/1', 'two/2', 'two/3']);
  assert.ok(items.every((i) => i.series === 's1'));
});

test('a new series starts at its first frame, at its header window', () => {
  const s = { ...State.initialState(), index: 5, zoom: 3, pan: { x: 9, y: 9 } };
  const items = [{ info: { window: { center: 40, width: 80 } } }];
  const start = State.startSeries(s, /** @type {any} */ (items));
  assert.deepEqual(start, { center: 40, width: 80 });
  assert.deepEqual(s.window, start);
  assert.notEqual(s.window, start, 'a copy: the user moves it, the default stays');
  assert.deepEqual([s.index, s.zoom, s.pan], [0, 1, { x: 0, y: 0 }]);
  assert.equal(State.startSeries(s, []), null);
});

test('another viewer\'s state: taken where it makes sense', () => {
  const items = /** @type {any} */ ([
    { sop: 'a', frame: 1 }, { sop: 'b', frame: 1 }, { sop: 'b', frame: 2 },
  ]);
  const s = State.initialState();
  s.series = 's1';
  State.applyState(s, items, { instance: 'b', frame: 2, window: { center: '10', width: '20' }, zoom: 2, pan: { x: '3', y: 'no' }, invert: true });
  assert.deepEqual(State.snapshot(s, items), {
    series: 's1', instance: 'b', frame: 2, index: 2, window: { center: 10, width: 20 },
    zoom: 2, pan: { x: 3, y: 0 }, invert: true,
  });
  // An unknown instance leaves the frame; a bad window, zoom or invert is ignored.
  State.applyState(s, items, { instance: 'zzz', window: { center: 1, width: 0 }, zoom: -1, invert: 'yes' });
  assert.deepEqual([s.index, s.window, s.zoom, s.invert], [2, { center: 10, width: 20 }, 2, true]);
  // An index is kept inside the series.
  State.applyState(s, items, { index: 99 });
  assert.equal(s.index, 2);
  State.applyState(s, items, { index: -4 });
  assert.equal(s.index, 0);
  assert.deepEqual(State.snapshot(State.initialState(), []).instance, null);
});

test('steps stay in the series and say which way they went', () => {
  assert.deepEqual(State.step(0, 1, 3), { index: 1, direction: 1 });
  assert.deepEqual(State.step(2, -5, 3), { index: 0, direction: -1 });
  assert.equal(State.step(2, 1, 3), null, 'already at the end');
  assert.equal(State.step(0, 1, 0), null, 'nothing to step through');
});

test('prefetch: the next frames in the direction of travel, up to the ends', () => {
  const items = ['a', 'b', 'c', 'd', 'e'];
  assert.deepEqual(State.prefetchPlan(items, 0, 1, 3), ['b', 'c', 'd']);
  assert.deepEqual(State.prefetchPlan(items, 3, 1, 3), ['e']);
  assert.deepEqual(State.prefetchPlan(items, 2, -1, 3), ['b', 'a']);
  assert.deepEqual(State.prefetchPlan(items, 0, -1, 3), []);
});

test('the window a frame starts at without one in its header', () => {
  const grey = /** @type {any} */ ({ info: { greyscale: true, signed: false, bitsStored: 8, slope: 1, intercept: 0 } });
  assert.deepEqual(State.windowFromFrame(grey, { kind: 'raw', min: -1000, max: 1000 }), { center: 0, width: 2000 });
  assert.deepEqual(State.windowFromFrame(grey, { kind: 'raw', min: 7, max: 7 }), { center: 7, width: 1 });
  assert.deepEqual(State.windowFromFrame(grey, { kind: 'bitmap' }), { center: 127.5, width: 255 });
  const ct = /** @type {any} */ ({ info: { greyscale: true, signed: true, bitsStored: 12, slope: 1, intercept: -1024 } });
  assert.deepEqual(State.windowFromFrame(ct, { kind: 'bitmap' }), { center: -1024.5, width: 4095 });
  const colour = /** @type {any} */ ({ info: { greyscale: false } });
  assert.equal(State.windowFromFrame(colour, { kind: 'bitmap' }), null);
});

test('placement: fitted and centred, then zoomed and panned', () => {
  const s = State.initialState();
  assert.deepEqual(State.placement({ width: 200, height: 100 }, { width: 50, height: 50 }, s), { scale: 2, x: 50, y: 0 });
  s.zoom = 2;
  s.pan = { x: 10, y: 0 };
  assert.deepEqual(State.placement({ width: 200, height: 100 }, { width: 50, height: 50 }, s), { scale: 4, x: 40, y: -50 });
});

test('invert and the server\'s windowing', () => {
  const mono1 = /** @type {any} */ ({ info: { photometric: 'MONOCHROME1', greyscale: true } });
  const s = State.initialState();
  assert.equal(State.inverted(mono1, { kind: 'raw' }, s), true);
  assert.equal(State.inverted(mono1, { kind: 'bitmap' }, s), false);
  s.invert = true;
  assert.equal(State.inverted(mono1, { kind: 'raw' }, s), false);
  const w = { center: 40, width: 80 };
  assert.equal(State.staleRendering(mono1, { kind: 'bitmap', window: { ...w } }, w), false);
  assert.equal(State.staleRendering(mono1, { kind: 'bitmap', window: { center: 40, width: 81 } }, w), true);
  assert.equal(State.staleRendering(mono1, { kind: 'bitmap' }, w), true);
  assert.equal(State.staleRendering(mono1, { kind: 'raw' }, w), false);
  assert.equal(State.staleRendering(mono1, { kind: 'bitmap' }, null), false);
});

test('overlay: patient, study, place in the series, window and zoom', () => {
  const meta = instance('one', 7, {
    '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Wang^Fang' }] },
    '00100020': str('DJ-0001'), '00100040': str('F'), '00100030': str('19800102'),
    '00080080': str('County Hospital'), '00080060': str('CT'), '0008103E': str('Head'),
    '00200011': num(2), '00180050': { vr: 'DS', Value: [2.5] },
  });
  const [item] = State.frameItems('s1', [meta]);
  const s = { ...State.initialState(), window: { center: 40, width: 80 }, zoom: 1.5 };
  const lines = State.overlayLines(item, s, 12);
  assert.equal(lines.tl.length, 3);
  assert.match(String(lines.tl[1]), /DJ-0001/);
  assert.ok(lines.tr.includes('County Hospital'));
  assert.ok(lines.tr.includes('CT · Head'));
  assert.equal(lines.bl.length, 3, 'a one-frame instance keeps an empty frame line');
  assert.equal(lines.bl[2], '');
  const image = /** @type {{text: string, class: string}} */ (lines.bl[1]);
  assert.equal(image.class, 'viewer-instance');
  assert.match(image.text, /1.*12.*7/);
  const wl = /** @type {{text: string, class: string}} */ (lines.br[0]);
  assert.equal(wl.class, 'viewer-wl');
  assert.match(wl.text, /80.*40/);
  assert.match(String(lines.br[1]), /150/);
  assert.match(String(lines.br[2]), /2\.5/);
  // No window yet: the line stays, empty, for the first frame to fill.
  const bare = State.overlayLines(item, State.initialState(), 12);
  assert.deepEqual(bare.br[0], { class: 'viewer-wl', text: '' });
});
