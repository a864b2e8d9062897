// @ts-check
// Ferry viewer, fingers on the image (phones, tablets): two fingers pinch to
// zoom about the point between them and pan as they move together, one
// finger swipes through the frames, a double tap puts zoom and pan back.
// Mouse and pen stay viewer-tools.js's, unchanged; with its Length tool
// chosen, one finger measures there and a second finger turns the touch
// into a pinch.
//
// The gesture maths below `attach` is pure (no DOM) and tested in node
// (viewer-touch.test.mjs); `attach` binds it to the canvas's pointer events.
//
// Touch.attach({s, canvas, transform, changed, go, tool, cancel, current})
//   s: the viewer's state (zoom and pan changed in place);
//   transform(): the frame's placement on the canvas (state.js placement);
//   changed(): redraw and announce; go(delta): step frames;
//   tool(): viewer-tools.js's chosen tool; cancel(): drop its drag;
//   current(): the frame on the canvas, or null while none is.

// The same bounds as the mouse's zoom in viewer-tools.js.
const ZOOM_MIN = 0.1;
const ZOOM_MAX = 20;
// CSS pixels a finger travels for one frame: short enough to leaf through
// a series with the thumb, long enough that a tap does not step.
const SWIPE_STEP = 40;
// A tap moves less than this (CSS pixels) and lifts within TAP_MS.
const TAP_MOVE = 10;
const TAP_MS = 300;
// Two taps this close in time (ms) and place (CSS pixels) are a double tap.
const DOUBLE_TAP_MS = 350;
const DOUBLE_TAP_DISTANCE = 30;

/** @typedef {{x: number, y: number}} Point */
/** @typedef {{d: number, x: number, y: number}} Span two fingers: apart, and their midpoint */
/** @typedef {{zoom: number, pan: Point}} View */

/** @param {number} zoom */
function clampZoom(zoom) {
  return Math.max(ZOOM_MIN, Math.min(ZOOM_MAX, zoom));
}

/**
 * How far apart two fingers are, and the point between them.
 * @param {Point} a
 * @param {Point} b
 * @returns {Span}
 */
function span(a, b) {
  return { d: Math.hypot(b.x - a.x, b.y - a.y), x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
}

/**
 * The view a pinch leads to: zoomed by how much the fingers spread since
 * they came down, about the image point that was under their midpoint
 * then, which stays under their midpoint now (so moving both fingers
 * pans). The placement (state.js) draws image point p at
 * centre + (pan - size/2 + p) * fit * zoom; keeping p under the midpoint
 * M gives pan' = pan + (M' - centre) / scale' - (M - centre) / scale.
 * @param {View} start the view when the second finger came down
 * @param {Span} from the fingers then, in canvas pixels
 * @param {Span} to the fingers now, in canvas pixels
 * @param {number} fit canvas pixels per image pixel at zoom 1
 * @param {Point} centre the canvas's centre, in canvas pixels
 * @returns {View}
 */
function pinchView(start, from, to, fit, centre) {
  const zoom = clampZoom(from.d > 0 && to.d > 0 ? start.zoom * (to.d / from.d) : start.zoom);
  const before = fit * start.zoom;
  const after = fit * zoom;
  return {
    zoom,
    pan: {
      x: start.pan.x + (to.x - centre.x) / after - (from.x - centre.x) / before,
      y: start.pan.y + (to.y - centre.y) / after - (from.y - centre.y) / before,
    },
  };
}

/**
 * How far one finger went along the swipe, positive towards the next
 * frame: leftwards or upwards, by whichever way it moved most, as a page
 * turns or a list scrolls on a phone.
 * @param {number} dx
 * @param {number} dy
 */
function swipeTravel(dx, dy) {
  return Math.abs(dx) >= Math.abs(dy) ? -dx : -dy;
}

/**
 * Whole frames a travel makes, and the travel left over for the next.
 * @param {number} travel CSS pixels, signed
 * @param {number} [step]
 * @returns {{frames: number, rest: number}}
 */
function swipeFrames(travel, step = SWIPE_STEP) {
  const frames = Math.trunc(travel / step);
  return { frames, rest: travel - frames * step };
}

/**
 * Whether a touch that came down at `down` and lifted at `up` is a tap.
 * @param {{x: number, y: number, t: number}} down
 * @param {{x: number, y: number, t: number}} up
 * @param {number} wandered the farthest it went from `down`, CSS pixels
 */
function isTap(down, up, wandered) {
  return up.t - down.t <= TAP_MS && wandered < TAP_MOVE;
}

/**
 * Whether a tap follows the last one closely enough to be a double tap.
 * @param {{x: number, y: number, t: number} | null} last
 * @param {{x: number, y: number, t: number}} tap
 */
function isDoubleTap(last, tap) {
  return Boolean(last) && tap.t - last.t <= DOUBLE_TAP_MS
    && Math.hypot(tap.x - last.x, tap.y - last.y) <= DOUBLE_TAP_DISTANCE;
}

/**
 * Binds the gestures to a viewer's canvas (see the top of this file).
 * @param {{s: import('./state.js').ViewState, canvas: HTMLCanvasElement,
 *   transform: () => {scale: number, x: number, y: number}, changed: () => void,
 *   go: (delta: number) => void, tool: () => string, cancel: () => void,
 *   current: () => any}} view
 */
function attach(view) {
  const { s, canvas } = view;
  /** @type {Map<number, Point>} fingers down, in client pixels */
  const fingers = new Map();
  /** @type {null | 'swipe' | 'pinch' | 'tools' | 'done'} */
  let mode = null;
  let down = null;
  let anchor = null;
  let wandered = 0;
  let pinch = null;
  let lastTap = null;

  // Client pixels to the canvas's own (device) pixels, as placement uses.
  function onCanvas(point) {
    const rect = canvas.getBoundingClientRect();
    const ratio = canvas.width / (rect.width || 1);
    return { x: (point.x - rect.left) * ratio, y: (point.y - rect.top) * ratio };
  }

  function twoFingers() {
    const [a, b] = [...fingers.values()];
    const sa = onCanvas(a);
    const sb = onCanvas(b);
    return span(sa, sb);
  }

  function pointerDown(event) {
    if (event.pointerType !== 'touch' || !view.current()) return;
    fingers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    canvas.setPointerCapture(event.pointerId);
    if (fingers.size === 1) {
      if (view.tool() === 'length') {
        mode = 'tools';
        return;
      }
      mode = 'swipe';
      down = { x: event.clientX, y: event.clientY, t: event.timeStamp };
      anchor = { x: event.clientX, y: event.clientY };
      wandered = 0;
    } else if (fingers.size === 2) {
      if (mode === 'tools') view.cancel();
      const m = view.transform();
      mode = 'pinch';
      pinch = {
        start: { zoom: s.zoom, pan: { ...s.pan } },
        from: twoFingers(),
        fit: m.scale / (s.zoom || 1),
      };
      lastTap = null;
    }
    event.preventDefault();
  }

  function pointerMove(event) {
    if (event.pointerType !== 'touch' || !fingers.has(event.pointerId)) return;
    fingers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    if (mode === 'pinch' && fingers.size >= 2 && view.current()) {
      const next = pinchView(pinch.start, pinch.from, twoFingers(), pinch.fit,
        { x: canvas.width / 2, y: canvas.height / 2 });
      s.zoom = next.zoom;
      s.pan = next.pan;
      view.changed();
    } else if (mode === 'swipe') {
      wandered = Math.max(wandered, Math.hypot(event.clientX - down.x, event.clientY - down.y));
      const { frames } = swipeFrames(swipeTravel(event.clientX - anchor.x, event.clientY - anchor.y));
      if (frames) {
        anchor = { x: event.clientX, y: event.clientY };
        view.go(frames);
      }
    }
  }

  function pointerUp(event) {
    if (event.pointerType !== 'touch' || !fingers.has(event.pointerId)) return;
    fingers.delete(event.pointerId);
    if (fingers.size > 0) {
      // One finger left of a pinch does nothing until both lift, so the
      // image does not jump from zooming to leafing.
      if (mode === 'pinch') mode = 'done';
      return;
    }
    if (mode === 'swipe' && event.type === 'pointerup') {
      const up = { x: event.clientX, y: event.clientY, t: event.timeStamp };
      if (isTap(down, up, wandered)) {
        if (isDoubleTap(lastTap, up)) {
          s.zoom = 1;
          s.pan = { x: 0, y: 0 };
          view.changed();
          lastTap = null;
        } else {
          lastTap = up;
        }
      } else {
        lastTap = null;
      }
    }
    mode = null;
    pinch = null;
  }

  canvas.addEventListener('pointerdown', pointerDown);
  canvas.addEventListener('pointermove', pointerMove);
  canvas.addEventListener('pointerup', pointerUp);
  canvas.addEventListener('pointercancel', pointerUp);
}

export {
  attach, span, pinchView, swipeTravel, swipeFrames, isTap, isDoubleTap, clampZoom,
  SWIPE_STEP, ZOOM_MIN, ZOOM_MAX,
};
