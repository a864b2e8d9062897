// @ts-check
// Ferry viewer: a study's series as thumbnails, one frame at a time on a
// canvas (wheel to scroll, drag to window, pan, zoom or measure; on a
// touch screen pinch to zoom, swipe to scroll), the patient and study
// overlay, 12-lead ECG plots and report SRs as text.
// `mount(container, studyUid)` puts one in any element (the
// reading screen, a call); the `#/studies/{uid}` screen is one on its own.
// Access is the server's to decide: a refusal is shown as it comes.
//
// const v = mount(element, studyUid, {series?, state?});
// v.state() → {series, instance, frame, index, window: {center, width},
//   zoom, pan: {x, y} (image pixels), invert}; v.setState(partial) shows
// that (another viewer's state, to keep two in step) without announcing
// it; v.on('change', f) hears the user's own changes, at most one per
// animation frame; v.ready settles once the first series is shown;
// v.destroy() removes it.
//
// The mouse's gestures and lengths are viewer-tools.js's, the fingers'
// viewer-touch.js's, the ECG and report panes viewer-panes.js's, the pixels
// viewer-image.js's; which series and frame are shown, and the overlay's
// words, are state.js's (no DOM, tested in node); this file puts them on
// screen and fetches what they need.

import { el, t, request } from '../lib/ferry.js';
import * as State from './state.js';
import * as I from './viewer-image.js';
import * as Panes from './viewer-panes.js';
import * as Tools from './viewer-tools.js';
import * as Touch from './viewer-touch.js';

// Frames fetched ahead of the one shown, in the direction of travel.
const PREFETCH = 3;

const label = (key) => el('span', { 'data-i18n': key }, t(key));

/**
 * One mounted viewer: its elements, what it shows (state.js's ViewState
 * and frames), and what is under way. The functions below share it.
 * @typedef {object} Viewer
 * @property {string} base the study's DICOMweb address
 * @property {{series?: string, state?: object}} options
 * @property {InstanceType<typeof I.FrameStore>} store
 * @property {State.ViewState} s
 * @property {State.SeriesEntry[]} seriesList
 * @property {State.FrameItem[]} items
 * @property {'image' | 'ecg' | 'sr'} mode
 * @property {{item: State.FrameItem, frame: any} | null} current the frame on the canvas
 * @property {{key: string, frame: any, canvas: any} | null} painted
 * @property {State.Window | null} defaultWindow
 * @property {number} drawToken which `show` is the latest
 * @property {1 | -1} direction
 * @property {any} rerender
 * @property {boolean} emitQueued
 * @property {boolean} destroyed
 * @property {Record<string, Function[]>} listeners
 * @property {ReturnType<typeof layout>} ui
 * @property {ReturnType<typeof Tools.attach>} tools
 * @property {ReturnType<typeof Panes.ecg>} ecg
 * @property {ReturnType<typeof Panes.sr>} sr
 */

/**
 * Puts a viewer of the study in `container` (see the top of this file).
 * @param {HTMLElement} container
 * @param {string} studyUid
 * @param {{series?: string, state?: object}} [options]
 */
function mount(container, studyUid, options) {
  const base = `/dicomweb/studies/${encodeURIComponent(studyUid)}`;
  /** @type {Viewer} */
  const v = {
    base, options: options || {}, store: new I.FrameStore(base, 48), s: State.initialState(),
    seriesList: [], items: [], mode: 'image', current: null, painted: null, defaultWindow: null,
    drawToken: 0, direction: 1, rerender: null, emitQueued: false, destroyed: false,
    listeners: { change: [] }, ui: layout(), tools: null, ecg: Panes.ecg(), sr: Panes.sr(),
  };
  const { ui } = v;
  v.tools = Tools.attach({
    s: v.s, canvas: ui.canvas, stage: ui.stage,
    transform: () => State.placement(ui.canvas, v.current.frame, v.s),
    changed: () => changed(v), repaint: () => repaint(v), go: (delta) => go(v, delta),
    current: () => v.current,
    defaultWindow: () => v.defaultWindow,
    count: () => v.items.length,
  });
  Touch.attach({
    s: v.s, canvas: ui.canvas, changed: () => changed(v), go: (delta) => go(v, delta),
    transform: () => State.placement(ui.canvas, v.current.frame, v.s),
    current: () => v.current, tool: v.tools.tool, cancel: v.tools.cancel,
  });
  ui.imagePane.append(v.tools.toolbar, ui.stage, ui.slider, v.tools.measureList);
  ui.main.append(ui.error, ui.imagePane, v.ecg.element, v.sr.element);
  container.replaceChildren(ui.root);

  ui.slider.addEventListener('input', () => go(v, Number(ui.slider.value) - 1 - v.s.index));
  const observer = new ResizeObserver(() => resize(v));
  observer.observe(ui.stage);
  const relabel = () => {
    if (v.mode === 'image' && v.current) repaint(v);
    renderSeriesList(v);
  };
  document.addEventListener('ferry:language', relabel);

  const viewer = {
    state: () => State.snapshot(v.s, v.items),
    // Applies another viewer's state (or a saved one) without announcing it.
    setState: (next) => setState(v, next),
    on(name, f) {
      (v.listeners[name] = v.listeners[name] || []).push(f);
      return viewer;
    },
    off(name, f) {
      v.listeners[name] = (v.listeners[name] || []).filter((g) => g !== f);
      return viewer;
    },
    destroy() {
      v.destroyed = true;
      clearTimeout(v.rerender);
      observer.disconnect();
      document.removeEventListener('ferry:language', relabel);
      v.store.cache.clear();
      ui.root.remove();
    },
    ready: loadStudy(v),
  };
  return viewer;
}

// The viewer's elements; the toolbar and panes join them in `mount`.
function layout() {
  const corner = (name) => el('div', { class: 'viewer-overlay viewer-' + name });
  const corners = { tl: corner('tl'), tr: corner('tr'), bl: corner('bl'), br: corner('br') };
  const canvas = el('canvas', { class: 'viewer-canvas' });
  const busy = el('div', { class: 'viewer-busy', hidden: true }, label('viewer.loading'));
  const stage = el('div', { class: 'viewer-stage', tabindex: '0' },
    canvas, corners.tl, corners.tr, corners.bl, corners.br, busy);
  const seriesNav = el('ul', { class: 'viewer-series-list' });
  const main = el('div', { class: 'viewer-main' });
  return {
    error: el('p', { class: 'error', role: 'alert' }),
    seriesNav, canvas, corners, busy, stage, main,
    slider: el('input', { type: 'range', class: 'viewer-slider', min: '1', max: '1', value: '1' }),
    imagePane: el('div', { class: 'viewer-image' }),
    root: el('div', { class: 'viewer' },
      el('aside', { class: 'viewer-series' }, el('h3', { 'data-i18n': 'viewer.series' }, t('viewer.series')), seriesNav),
      main),
  };
}

/**
 * @param {Viewer} v
 * @param {string} name
 * @param {unknown} payload
 */
function emit(v, name, payload) {
  for (const f of v.listeners[name] || []) {
    try { f(payload); } catch (err) { console.error(err); }
  }
}

// Changes the user makes are announced once per animation frame, so a
// second viewer kept in step gets a steady stream, not every event.
/** @param {Viewer} v */
function changed(v) {
  repaint(v);
  if (v.emitQueued) return;
  v.emitQueued = true;
  requestAnimationFrame(() => {
    v.emitQueued = false;
    if (!v.destroyed) emit(v, 'change', State.snapshot(v.s, v.items));
  });
}

/**
 * @param {Viewer} v
 * @param {any} next
 */
async function setState(v, next) {
  if (!next) return;
  if (next.series && next.series !== v.s.series) {
    await selectSeries(v, next.series, next);
    return;
  }
  State.applyState(v.s, v.items, next);
  show(v);
}

/**
 * @param {Viewer} v
 * @param {Error | null} err
 */
function showError(v, err) {
  v.ui.error.textContent = err ? t('viewer.error', { message: err.message }) : '';
}

/** @param {Viewer} v */
async function loadStudy(v) {
  let list;
  try {
    list = await request(v.base + '/series', { headers: { Accept: 'application/dicom+json' } });
  } catch (err) {
    showError(v, err);
    v.ui.imagePane.hidden = true;
    return;
  }
  v.seriesList = State.seriesEntries(list);
  renderSeriesList(v);
  if (!v.seriesList.length) {
    v.ui.error.textContent = t('viewer.empty');
    v.ui.imagePane.hidden = true;
    return;
  }
  await selectSeries(v, State.firstSeries(v.seriesList, v.options.series), v.options.state);
}

/** @param {Viewer} v */
function renderSeriesList(v) {
  v.ui.seriesNav.replaceChildren(...v.seriesList.map((x) => {
    const thumb = x.modality === 'SR' ? el('span', { class: 'viewer-thumb viewer-thumb-text' }, 'SR')
      : el('img', {
        class: 'viewer-thumb', loading: 'lazy', alt: '', width: 64, height: 64,
        src: `${v.base}/series/${encodeURIComponent(x.uid)}/thumbnail?viewport=128,128`,
        onerror: (e) => e.target.replaceWith(el('span', { class: 'viewer-thumb viewer-thumb-text' }, x.modality)),
      });
    return el('li', null, el('button', {
      type: 'button', class: 'viewer-series-button', dataset: { series: x.uid },
      'aria-pressed': String(x.uid === v.s.series),
      onclick: () => selectSeries(v, x.uid).then(() => changed(v)),
    }, thumb, el('span', { class: 'viewer-series-text' },
      el('strong', null, [x.modality, x.number !== undefined ? '#' + x.number : ''].filter(Boolean).join(' ')),
      el('span', null, x.description),
      el('span', null, t(x.count === 1 ? 'viewer.image' : 'viewer.images', { count: x.count })))));
  }));
}

/**
 * @param {Viewer} v
 * @param {string} uid
 * @param {any} [next] a state to apply once shown
 */
async function selectSeries(v, uid, next) {
  const { s, ui } = v;
  s.series = uid;
  for (const b of ui.seriesNav.querySelectorAll('button')) {
    b.setAttribute('aria-pressed', String(b.dataset.series === uid));
  }
  showError(v, null);
  let metadata;
  try {
    metadata = await request(`${v.base}/series/${encodeURIComponent(uid)}/metadata`,
      { headers: { Accept: 'application/dicom+json' } });
  } catch (err) {
    showError(v, err);
    return;
  }
  if (v.destroyed || s.series !== uid) return;
  metadata = State.byInstanceNumber(metadata);
  v.current = null;
  v.painted = null;
  const first = metadata[0] || {};
  const pane = State.paneFor(first);
  if (pane === 'sr') return showSr(v, metadata);
  if (pane === 'ecg') return showEcg(v, uid, first);
  v.mode = 'image';
  ui.imagePane.hidden = false;
  v.ecg.element.hidden = true;
  v.sr.element.hidden = true;
  v.items = State.frameItems(uid, metadata);
  v.defaultWindow = State.startSeries(s, v.items);
  ui.slider.max = String(Math.max(1, v.items.length));
  ui.slider.disabled = v.items.length < 2;
  if (next) State.applyState(s, v.items, next);
  await show(v);
}

/**
 * @param {Viewer} v
 * @param {State.FrameItem} item
 */
function windowFor(v, item) {
  return item.info.greyscale && v.store.isRendered(item.sop) ? v.s.window : null;
}

// Shows the frame at s.index: its overlay at once, its pixels when they come.
/** @param {Viewer} v */
async function show(v) {
  const { s, ui } = v;
  const item = v.items[s.index];
  if (!item) return;
  const token = ++v.drawToken;
  ui.slider.value = String(s.index + 1);
  renderOverlay(v, item);
  ui.busy.hidden = false;
  let frame;
  try {
    frame = await v.store.get(item, windowFor(v, item));
  } catch (err) {
    if (token === v.drawToken) {
      ui.busy.hidden = true;
      showError(v, err);
    }
    return;
  }
  if (token !== v.drawToken || v.destroyed) return;
  ui.busy.hidden = true;
  showError(v, null);
  v.current = { item, frame };
  if (!s.window) {
    const start = State.windowFromFrame(item, frame);
    if (start) {
      v.defaultWindow = start;
      s.window = { ...start };
    }
  }
  repaint(v);
  // An image is on the screen: what a page-load measurement waits for.
  ui.canvas.dataset.drawn = 'true';
  for (const ahead of State.prefetchPlan(v.items, s.index, v.direction, PREFETCH)) {
    v.store.get(ahead, windowFor(v, ahead)).catch(() => {});
  }
}

/**
 * @param {Viewer} v
 * @param {number} delta frames, negative to go back
 */
function go(v, delta) {
  const next = State.step(v.s.index, delta, v.items.length);
  if (!next) return;
  v.direction = next.direction;
  v.s.index = next.index;
  show(v);
  changed(v);
}

/** @param {Viewer} v */
function repaint(v) {
  if (v.mode !== 'image' || !v.current) return;
  const { s, ui } = v;
  const { item, frame } = v.current;
  renderOverlay(v, item);
  const invert = State.inverted(item, frame, s);
  const key = `${item.sop}/${item.frame}/${s.window && s.window.center},${s.window && s.window.width}/${invert}/${frame.kind}`;
  if (!v.painted || v.painted.key !== key || v.painted.frame !== frame) {
    v.painted = { key, frame, canvas: I.paint(frame, s.window || { center: 128, width: 256 }, invert, v.painted && v.painted.canvas) };
  }
  if (State.staleRendering(item, frame, s.window)) {
    // The server windows rendered frames: ask once the dragging pauses.
    clearTimeout(v.rerender);
    v.rerender = setTimeout(() => show(v), 250);
  }
  const g = ui.canvas.getContext('2d');
  g.setTransform(1, 0, 0, 1, 0, 0);
  g.fillStyle = '#000';
  g.fillRect(0, 0, ui.canvas.width, ui.canvas.height);
  const m = State.placement(ui.canvas, frame, s);
  g.imageSmoothingEnabled = m.scale < 4;
  g.drawImage(v.painted.canvas, m.x, m.y, frame.width * m.scale, frame.height * m.scale);
  v.tools.draw(g, m, item);
}

/**
 * @param {Viewer} v
 * @param {State.FrameItem} item
 */
function renderOverlay(v, item) {
  const text = State.overlayLines(item, v.s, v.items.length);
  for (const corner of /** @type {const} */ (['tl', 'tr', 'bl', 'br'])) {
    v.ui.corners[corner].replaceChildren(...text[corner].map((line) => el('div', null,
      typeof line === 'string' ? line : el('span', { class: line.class }, line.text))));
  }
}

/**
 * @param {Viewer} v
 * @param {string} uid
 * @param {object} meta
 */
async function showEcg(v, uid, meta) {
  v.mode = 'ecg';
  v.items = [];
  v.ui.imagePane.hidden = true;
  v.sr.element.hidden = true;
  v.ecg.element.hidden = false;
  const url = `${v.base}/series/${encodeURIComponent(uid)}/instances/${encodeURIComponent(I.value(meta, '00080018'))}`;
  await v.ecg.show(url, meta, () => !v.destroyed && v.s.series === uid);
}

/**
 * @param {Viewer} v
 * @param {object[]} metadata
 */
function showSr(v, metadata) {
  v.mode = 'sr';
  v.items = [];
  v.ui.imagePane.hidden = true;
  v.ecg.element.hidden = true;
  v.sr.element.hidden = false;
  v.sr.show(metadata);
}

/** @param {Viewer} v */
function resize(v) {
  const { canvas, stage } = v.ui;
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(stage.clientWidth * ratio));
  const height = Math.max(1, Math.round(stage.clientHeight * ratio));
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
    repaint(v);
  }
}

// The window presets, for whoever draws a toolbar of their own.
const { PRESETS } = Tools;

export { mount, PRESETS };

let open = null;
/** @type {import('../lib/ferry.js').ScreenModule} */
export const viewerScreen = {
  async open(section, match) {
    if (open) open.destroy();
    const holder = el('div');
    section.replaceChildren(
      el('p', null, el('button', { type: 'button', onclick: () => history.back(), 'data-i18n': 'viewer.back' }, t('viewer.back'))),
      holder);
    open = mount(holder, decodeURIComponent(match[1]));
    await open.ready;
  },
  close() {
    if (open) open.destroy();
    open = null;
  },
};
