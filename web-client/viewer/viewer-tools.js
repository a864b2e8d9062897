// @ts-check
// Ferry viewer, the hands on the image: the toolbar, what the pointer, the
// wheel and the keys do on the stage, and lengths measured on a frame.
// Kept apart from viewer.js, which decides what is shown; this only turns
// the user's gestures into changes of its state.
//
// const tools = Tools.attach(view), where view is
//   {s: the viewer's state (changed in place), canvas, stage,
//    current() → {item, frame} on the canvas or null, defaultWindow(),
//    count() → frames in the series, transform(), changed(), repaint(),
//    go(delta)};
// tools.toolbar and tools.measureList are for the viewer to place;
// tools.draw(g, m, item) paints the frame's lengths and lists them;
// tools.tool() is the chosen tool and tools.cancel() drops a drag under way
// (for viewer-touch.js).

import { el, t } from '../lib/ferry.js';
import * as I18n from '../lib/i18n.js';

// Window centre and width in Hounsfield units, as CT consoles preset them.
const PRESETS = {
  brain: { center: 40, width: 80 },
  abdomen: { center: 50, width: 400 },
  lung: { center: -600, width: 1500 },
  bone: { center: 300, width: 2000 },
};
const TOOLS = ['window', 'pan', 'zoom', 'length'];

const round = (v) => Math.round(v * 10) / 10;

/**
 * The toolbar and the pointer, wheel and key handling for one viewer.
 * `view.s` is the viewer's state, changed in place; the functions are the
 * viewer's to redraw, announce and step.
 * @param {{s: import('./state.js').ViewState, canvas: HTMLCanvasElement, stage: HTMLElement,
 *   transform: () => {scale: number, x: number, y: number}, changed: () => void,
 *   repaint: () => void, go: (delta: number) => void, current: () => any,
 *   defaultWindow: () => import('./state.js').Window | null, count: () => number}} view
 */
function attach(view) {
  const { s, canvas, stage, transform, changed, repaint, go } = view;
  let tool = 'window';
  // Lengths by `sop/frame`, so each frame keeps its own while scrolling.
  const measurements = new Map();

  const measureList = el('ul', { class: 'viewer-measurements', 'aria-live': 'polite' });
  const toolButtons = TOOLS.map((name) => el('button', {
    type: 'button', dataset: { tool: name }, 'aria-pressed': String(name === tool),
    'data-i18n': 'viewer.tool.' + name,
    onclick: () => setTool(name),
  }, t('viewer.tool.' + name)));
  const presetButtons = ['default', ...Object.keys(PRESETS)].map((name) => el('button', {
    type: 'button', dataset: { preset: name }, 'data-i18n': 'viewer.preset.' + name,
    onclick: () => {
      const fallback = view.defaultWindow();
      s.window = name === 'default' ? fallback && { ...fallback } : { ...PRESETS[name] };
      changed();
    },
  }, t('viewer.preset.' + name)));
  const toolbar = el('div', { class: 'viewer-tools' },
    el('span', { class: 'viewer-group', role: 'group' }, toolButtons),
    el('span', { class: 'viewer-group', role: 'group' },
      el('span', { 'data-i18n': 'viewer.presets' }, t('viewer.presets')), presetButtons),
    el('span', { class: 'viewer-group' },
      el('button', { type: 'button', 'data-i18n': 'viewer.invert', onclick: () => { s.invert = !s.invert; changed(); } }, t('viewer.invert')),
      el('button', { type: 'button', 'data-i18n': 'viewer.reset', onclick: reset }, t('viewer.reset')),
      el('button', {
        type: 'button', 'data-i18n': 'viewer.clear', onclick: () => { measurements.clear(); repaint(); },
      }, t('viewer.clear'))));

  function setTool(name) {
    tool = name;
    for (const b of toolButtons) b.setAttribute('aria-pressed', String(b.dataset.tool === name));
    stage.dataset.tool = name;
  }

  function reset() {
    const fallback = view.defaultWindow();
    s.zoom = 1;
    s.pan = { x: 0, y: 0 };
    s.invert = false;
    s.window = fallback && { ...fallback };
    changed();
  }

  function toImage(event) {
    const rect = canvas.getBoundingClientRect();
    const ratio = canvas.width / rect.width;
    const m = transform();
    return {
      x: ((event.clientX - rect.left) * ratio - m.x) / m.scale,
      y: ((event.clientY - rect.top) * ratio - m.y) / m.scale,
    };
  }

  function lengthOf(item, line) {
    const dx = line.b.x - line.a.x;
    const dy = line.b.y - line.a.y;
    const spacing = item.info.spacing;
    if (!spacing) return { value: round(Math.hypot(dx, dy)), unit: 'px' };
    return { value: round(Math.hypot(dx * spacing[1], dy * spacing[0])), unit: 'mm' };
  }

  function lengthText(length) {
    return t(length.unit === 'mm' ? 'viewer.length.mm' : 'viewer.length.px', {
      value: length.value.toLocaleString(I18n.current()),
    });
  }

  function draw(g, m, item) {
    const lines = measurements.get(item.sop + '/' + item.frame) || [];
    const ratio = window.devicePixelRatio || 1;
    g.lineWidth = 2 * ratio;
    g.font = `${13 * ratio}px system-ui, sans-serif`;
    for (const line of lines) {
      const ax = m.x + line.a.x * m.scale;
      const ay = m.y + line.a.y * m.scale;
      const bx = m.x + line.b.x * m.scale;
      const by = m.y + line.b.y * m.scale;
      g.strokeStyle = '#ffd400';
      g.beginPath(); g.moveTo(ax, ay); g.lineTo(bx, by); g.stroke();
      for (const [x, y] of [[ax, ay], [bx, by]]) {
        g.beginPath(); g.arc(x, y, 3 * ratio, 0, 2 * Math.PI); g.stroke();
      }
      const text = lengthText(lengthOf(item, line));
      g.fillStyle = '#000';
      g.fillText(text, Math.max(ax, bx) + 7 * ratio, (ay + by) / 2 + 1 * ratio);
      g.fillStyle = '#ffd400';
      g.fillText(text, Math.max(ax, bx) + 6 * ratio, (ay + by) / 2);
    }
    measureList.replaceChildren(...lines.map((line, n) => el('li', { class: 'viewer-measurement' },
      t('viewer.length.item', { n: n + 1, length: lengthText(lengthOf(item, line)) }))));
  }

  // Pointer: the chosen tool on the main button; the middle button pans
  // and the right one zooms whatever the tool, as on reading consoles.
  // Fingers are viewer-touch.js's, but for one finger measuring a length.
  let drag = null;
  function pointerDown(event) {
    const current = view.current();
    if (!current) return;
    if (event.pointerType === 'touch' && (tool !== 'length' || drag)) return;
    stage.focus({ preventScroll: true });
    const action = event.button === 1 ? 'pan' : event.button === 2 ? 'zoom' : tool;
    drag = { action, x: event.clientX, y: event.clientY, id: event.pointerId, line: null, key: null };
    canvas.setPointerCapture(event.pointerId);
    if (action === 'length') {
      const point = toImage(event);
      const key = current.item.sop + '/' + current.item.frame;
      const line = { a: point, b: { ...point } };
      if (!measurements.has(key)) measurements.set(key, []);
      measurements.get(key).push(line);
      drag.line = line;
      drag.key = key;
    }
    event.preventDefault();
  }

  function pointerMove(event) {
    if (!drag || event.pointerId !== drag.id || !view.current()) return;
    const dx = event.clientX - drag.x;
    const dy = event.clientY - drag.y;
    drag.x = event.clientX;
    drag.y = event.clientY;
    const m = transform();
    const ratio = canvas.width / canvas.getBoundingClientRect().width;
    if (drag.action === 'window' && s.window) {
      const step = Math.max(0.5, s.window.width / 256);
      s.window = {
        center: round(s.window.center + dy * step),
        width: Math.max(1, round(s.window.width + dx * step)),
      };
      changed();
    } else if (drag.action === 'pan') {
      s.pan = { x: s.pan.x + (dx * ratio) / m.scale, y: s.pan.y + (dy * ratio) / m.scale };
      changed();
    } else if (drag.action === 'zoom') {
      s.zoom = Math.max(0.1, Math.min(20, s.zoom * Math.exp(-dy * 0.01)));
      changed();
    } else if (drag.action === 'length') {
      drag.line.b = toImage(event);
      repaint();
    }
  }

  function pointerUp(event) {
    if (!drag || event.pointerId !== drag.id) return;
    if (drag.action === 'length') {
      const list = measurements.get(drag.key);
      const m = transform();
      const l = drag.line;
      if (Math.hypot(l.b.x - l.a.x, l.b.y - l.a.y) * m.scale < 4) list.pop();
      repaint();
    }
    drag = null;
  }

  // Wheel: a notch is one image; a trackpad's small deltas add up to one.
  let wheelSum = 0;
  function wheel(event) {
    event.preventDefault();
    if (event.ctrlKey && view.current()) {
      s.zoom = Math.max(0.1, Math.min(20, s.zoom * Math.exp(-event.deltaY * 0.002)));
      changed();
      return;
    }
    wheelSum += event.deltaY;
    if (Math.abs(wheelSum) >= 40) {
      go(Math.sign(wheelSum));
      wheelSum = 0;
    }
  }

  function key(event) {
    const steps = { ArrowDown: 1, ArrowRight: 1, PageDown: 10, ArrowUp: -1, ArrowLeft: -1, PageUp: -10 };
    if (steps[event.key]) {
      go(steps[event.key]);
    } else if (event.key === 'Home') {
      go(-view.count());
    } else if (event.key === 'End') {
      go(view.count());
    } else {
      return;
    }
    event.preventDefault();
  }

  // A second finger came down while one measured: that was a pinch.
  function cancel() {
    if (drag && drag.action === 'length') {
      const list = measurements.get(drag.key);
      if (list) list.pop();
      repaint();
    }
    drag = null;
  }

  canvas.addEventListener('pointerdown', pointerDown);
  canvas.addEventListener('pointermove', pointerMove);
  canvas.addEventListener('pointerup', pointerUp);
  canvas.addEventListener('pointercancel', pointerUp);
  stage.addEventListener('wheel', wheel, { passive: false });
  stage.addEventListener('keydown', key);
  stage.addEventListener('contextmenu', (e) => e.preventDefault());
  setTool(tool);

  return { toolbar, measureList, draw, tool: () => tool, cancel };
}

export { attach, PRESETS };
