// The viewer's finger gestures without a browser: node --test web-client/
// (`.mjs`, so the server neither embeds nor serves it).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as State from './state.js';
import * as Touch from './viewer-touch.js';

const close = (a, b, message) => assert.ok(Math.abs(a - b) < 1e-9, `${message}: ${a} is not ${b}`);

// Where state.js's placement draws image point p, for the view `v`.
function screenOf(canvas, frame, v, p) {
  const m = State.placement(canvas, frame, v);
  return { x: m.x + p.x * m.scale, y: m.y + p.y * m.scale };
}

test('two fingers: apart, and the point between them', () => {
  assert.deepEqual(Touch.span({ x: 0, y: 0 }, { x: 30, y: 40 }), { d: 50, x: 15, y: 20 });
});

test('a pinch zooms by how much the fingers spread', () => {
  const start = { zoom: 1, pan: { x: 0, y: 0 } };
  const centre = { x: 200, y: 300 };
  // Spread from 100 to 250 pixels apart about the canvas's centre: ×2.5, no pan.
  const view = Touch.pinchView(start, { d: 100, ...centre }, { d: 250, ...centre }, 2, centre);
  close(view.zoom, 2.5, 'zoom');
  close(view.pan.x, 0, 'pan x');
  close(view.pan.y, 0, 'pan y');
  // Closing them again halves from where the pinch began.
  close(Touch.pinchView({ zoom: 3, pan: { x: 5, y: 5 } }, { d: 200, ...centre }, { d: 100, ...centre }, 2, centre).zoom,
    1.5, 'zoom out');
});

test('the image point under the fingers stays under them, and moving both pans', () => {
  const canvas = { width: 400, height: 600 };
  const frame = { width: 512, height: 512 };
  const start = { zoom: 1.5, pan: { x: 10, y: -20 } };
  const fit = State.placement(canvas, frame, { zoom: 1, pan: { x: 0, y: 0 } }).scale;
  const centre = { x: 200, y: 300 };
  const from = Touch.span({ x: 100, y: 100 }, { x: 180, y: 160 });
  // The image point under the midpoint when the fingers came down.
  const m0 = State.placement(canvas, frame, start);
  const p = { x: (from.x - m0.x) / m0.scale, y: (from.y - m0.y) / m0.scale };
  // They spread and move down and right together.
  const to = Touch.span({ x: 120, y: 150 }, { x: 280, y: 270 });
  const view = Touch.pinchView(start, from, to, fit, centre);
  close(view.zoom, 1.5 * (to.d / from.d), 'zoom');
  const now = screenOf(canvas, frame, view, p);
  close(now.x, to.x, 'x under the fingers');
  close(now.y, to.y, 'y under the fingers');

  // Two fingers moved without spreading: a pan by the same distance.
  const moved = Touch.pinchView(start, from, { ...from, x: from.x + 30, y: from.y - 12 }, fit, centre);
  close(moved.zoom, 1.5, 'no zoom');
  const shifted = screenOf(canvas, frame, moved, p);
  close(shifted.x, from.x + 30, 'panned x');
  close(shifted.y, from.y - 12, 'panned y');
});

test('a pinch keeps the zoom within the mouse\'s bounds', () => {
  const start = { zoom: 10, pan: { x: 0, y: 0 } };
  const c = { x: 0, y: 0 };
  assert.equal(Touch.pinchView(start, { d: 10, ...c }, { d: 1000, ...c }, 1, c).zoom, Touch.ZOOM_MAX);
  assert.equal(Touch.pinchView({ zoom: 0.2, pan: { x: 0, y: 0 } }, { d: 1000, ...c }, { d: 10, ...c }, 1, c).zoom,
    Touch.ZOOM_MIN);
  // Fingers on the same spot give no ratio: the zoom stays.
  assert.equal(Touch.pinchView(start, { d: 0, ...c }, { d: 50, ...c }, 1, c).zoom, 10);
});

test('a swipe: left or up is towards the next frame, by the larger movement', () => {
  assert.equal(Touch.swipeTravel(-50, 10), 50);
  assert.equal(Touch.swipeTravel(50, -10), -50);
  assert.equal(Touch.swipeTravel(5, -60), 60);
  assert.equal(Touch.swipeTravel(0, 45), -45);
});

test('a swipe steps a frame for each step of travel, keeping the rest', () => {
  const step = Touch.SWIPE_STEP;
  assert.deepEqual(Touch.swipeFrames(step - 1), { frames: 0, rest: step - 1 });
  assert.deepEqual(Touch.swipeFrames(2 * step + 3), { frames: 2, rest: 3 });
  assert.deepEqual(Touch.swipeFrames(-step - 5), { frames: -1, rest: -5 });
  assert.deepEqual(Touch.swipeFrames(25, 10), { frames: 2, rest: 5 });
});

test('taps and double taps', () => {
  const down = { x: 100, y: 100, t: 1000 };
  assert.ok(Touch.isTap(down, { x: 103, y: 101, t: 1120 }, 4));
  assert.ok(!Touch.isTap(down, { x: 103, y: 101, t: 1120 }, 25), 'it wandered: a swipe');
  assert.ok(!Touch.isTap(down, { x: 100, y: 100, t: 1900 }, 0), 'held: not a tap');
  const first = { x: 100, y: 100, t: 1100 };
  assert.ok(Touch.isDoubleTap(first, { x: 110, y: 95, t: 1350 }));
  assert.ok(!Touch.isDoubleTap(first, { x: 110, y: 95, t: 1600 }), 'too late');
  assert.ok(!Touch.isDoubleTap(first, { x: 200, y: 100, t: 1300 }), 'elsewhere');
  assert.ok(!Touch.isDoubleTap(null, first), 'no tap before');
});
