// @ts-check
// Ferry viewer: a study's series as thumbnails, one frame at a time on a
// canvas (wheel to scroll, drag to window, pan, zoom or measure), the
// patient and study overlay, 12-lead ECG plots and report SRs as text.
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
// The gestures and lengths are viewer-tools.js's, the ECG and report panes
// viewer-panes.js's, the pixels viewer-image.js's; this file decides which
// series and frame are shown and keeps their state.

import { el, t, request } from '../lib/ferry.js';
import * as I from './viewer-image.js';
import * as Panes from './viewer-panes.js';
import * as Tools from './viewer-tools.js';

// Frames fetched ahead of the one shown, in the direction of travel.
const PREFETCH = 3;

const label = (key) => el('span', { 'data-i18n': key }, t(key));
const round = (v) => Math.round(v * 10) / 10;
const isSr = (meta) => String(I.value(meta, '00080016') || '').startsWith('1.2.840.10008.5.1.4.1.1.88');
const isWaveform = (meta) => Boolean(meta['54000100']) || I.value(meta, '00080060') === 'ECG';

/**
 * Puts a viewer of the study in `container` (see the top of this file).
 * @param {HTMLElement} container
 * @param {string} studyUid
 * @param {{series?: string, state?: object}} [options]
 */
function mount(container, studyUid, options) {
  options = options || {};
  const base = `/dicomweb/studies/${encodeURIComponent(studyUid)}`;
  const listeners = { change: [] };
  const store = new I.FrameStore(base, 48);
  const s = { series: null, index: 0, window: null, zoom: 1, pan: { x: 0, y: 0 }, invert: false };
  let seriesList = [];
  let items = [];
  let mode = 'image';
  let current = null;
  let painted = null;
  let defaultWindow = null;
  let drawToken = 0;
  let rerender = null;
  let emitQueued = false;
  let destroyed = false;

  const error = el('p', { class: 'error', role: 'alert' });
  const seriesNav = el('ul', { class: 'viewer-series-list' });
  const canvas = el('canvas', { class: 'viewer-canvas' });
  const corner = (name) => el('div', { class: 'viewer-overlay viewer-' + name });
  const corners = { tl: corner('tl'), tr: corner('tr'), bl: corner('bl'), br: corner('br') };
  const busy = el('div', { class: 'viewer-busy', hidden: true }, label('viewer.loading'));
  const stage = el('div', { class: 'viewer-stage', tabindex: '0' },
    canvas, corners.tl, corners.tr, corners.bl, corners.br, busy);
  const slider = el('input', { type: 'range', class: 'viewer-slider', min: '1', max: '1', value: '1' });
  const tools = Tools.attach({
    s, canvas, stage, transform, changed, repaint, go,
    current: () => current,
    defaultWindow: () => defaultWindow,
    count: () => items.length,
  });
  const imagePane = el('div', { class: 'viewer-image' }, tools.toolbar, stage, slider, tools.measureList);
  const ecg = Panes.ecg();
  const sr = Panes.sr();
  const root = el('div', { class: 'viewer' },
    el('aside', { class: 'viewer-series' }, el('h3', { 'data-i18n': 'viewer.series' }, t('viewer.series')), seriesNav),
    el('div', { class: 'viewer-main' }, error, imagePane, ecg.element, sr.element));
  container.replaceChildren(root);

  function emit(name, payload) {
    for (const f of listeners[name] || []) {
      try { f(payload); } catch (err) { console.error(err); }
    }
  }

  // Changes the user makes are announced once per animation frame, so a
  // second viewer kept in step gets a steady stream, not every event.
  function changed() {
    repaint();
    if (emitQueued) return;
    emitQueued = true;
    requestAnimationFrame(() => {
      emitQueued = false;
      if (!destroyed) emit('change', state());
    });
  }

  function state() {
    const item = items[s.index];
    return {
      series: s.series,
      instance: item ? item.sop : null,
      frame: item ? item.frame : null,
      index: s.index,
      window: s.window ? { ...s.window } : null,
      zoom: s.zoom,
      pan: { ...s.pan },
      invert: s.invert,
    };
  }

  // Applies another viewer's state (or a saved one) without announcing it.
  async function setState(next) {
    if (!next) return;
    if (next.series && next.series !== s.series) {
      await selectSeries(next.series, next);
      return;
    }
    apply(next);
    show();
  }

  function apply(next) {
    if (next.instance) {
      const found = items.findIndex((i) => i.sop === next.instance && i.frame === (next.frame || 1));
      if (found >= 0) s.index = found;
    } else if (Number.isInteger(next.index)) {
      s.index = Math.max(0, Math.min(items.length - 1, next.index));
    }
    if (next.window && next.window.width > 0) s.window = { center: +next.window.center, width: +next.window.width };
    if (next.zoom > 0) s.zoom = next.zoom;
    if (next.pan) s.pan = { x: +next.pan.x || 0, y: +next.pan.y || 0 };
    if (typeof next.invert === 'boolean') s.invert = next.invert;
  }

  function showError(err) {
    error.textContent = err ? t('viewer.error', { message: err.message }) : '';
  }

  async function loadStudy() {
    let list;
    try {
      list = await request(base + '/series', { headers: { Accept: 'application/dicom+json' } });
    } catch (err) {
      showError(err);
      imagePane.hidden = true;
      return;
    }
    seriesList = (list || []).map((d) => ({
      uid: I.value(d, '0020000E'),
      number: I.value(d, '00200011'),
      modality: I.value(d, '00080060') || '',
      description: I.value(d, '0008103E') || '',
      count: I.number(d, '00201209') || 0,
    })).sort((a, b) => Number(a.modality === 'SR') - Number(b.modality === 'SR') || (a.number ?? 0) - (b.number ?? 0));
    renderSeriesList();
    if (!seriesList.length) {
      error.textContent = t('viewer.empty');
      imagePane.hidden = true;
      return;
    }
    const first = options.series && seriesList.find((x) => x.uid === options.series) ? options.series : seriesList[0].uid;
    await selectSeries(first, options.state);
  }

  function renderSeriesList() {
    seriesNav.replaceChildren(...seriesList.map((x) => {
      const thumb = x.modality === 'SR' ? el('span', { class: 'viewer-thumb viewer-thumb-text' }, 'SR')
        : el('img', {
          class: 'viewer-thumb', loading: 'lazy', alt: '', width: 64, height: 64,
          src: `${base}/series/${encodeURIComponent(x.uid)}/thumbnail?viewport=128,128`,
          onerror: (e) => e.target.replaceWith(el('span', { class: 'viewer-thumb viewer-thumb-text' }, x.modality)),
        });
      return el('li', null, el('button', {
        type: 'button', class: 'viewer-series-button', dataset: { series: x.uid },
        'aria-pressed': String(x.uid === s.series),
        onclick: () => selectSeries(x.uid).then(() => changed()),
      }, thumb, el('span', { class: 'viewer-series-text' },
        el('strong', null, [x.modality, x.number !== undefined ? '#' + x.number : ''].filter(Boolean).join(' ')),
        el('span', null, x.description),
        el('span', null, t(x.count === 1 ? 'viewer.image' : 'viewer.images', { count: x.count })))));
    }));
  }

  async function selectSeries(uid, next) {
    s.series = uid;
    for (const b of seriesNav.querySelectorAll('button')) {
      b.setAttribute('aria-pressed', String(b.dataset.series === uid));
    }
    showError(null);
    let metadata;
    try {
      metadata = await request(`${base}/series/${encodeURIComponent(uid)}/metadata`,
        { headers: { Accept: 'application/dicom+json' } });
    } catch (err) {
      showError(err);
      return;
    }
    if (destroyed || s.series !== uid) return;
    metadata = metadata || [];
    const byNumber = (a, b) => (I.number(a, '00200013') ?? 0) - (I.number(b, '00200013') ?? 0);
    metadata.sort(byNumber);
    current = null;
    painted = null;
    const first = metadata[0] || {};
    if (isSr(first)) return showSr(metadata);
    if (isWaveform(first)) return showEcg(uid, first);
    mode = 'image';
    imagePane.hidden = false;
    ecg.element.hidden = true;
    sr.element.hidden = true;
    items = [];
    for (const meta of metadata) {
      const info = I.imageInfo(meta);
      for (let f = 1; f <= info.frames; f++) {
        items.push({ series: uid, sop: I.value(meta, '00080018'), frame: f, info, meta });
      }
    }
    s.index = 0;
    s.zoom = 1;
    s.pan = { x: 0, y: 0 };
    defaultWindow = items[0] && items[0].info.window;
    s.window = defaultWindow && { ...defaultWindow };
    slider.max = String(Math.max(1, items.length));
    slider.disabled = items.length < 2;
    if (next) apply(next);
    await show();
  }

  function windowFor(item) {
    return item.info.greyscale && store.isRendered(item.sop) ? s.window : null;
  }

  // Shows the frame at s.index: its overlay at once, its pixels when they come.
  async function show() {
    const item = items[s.index];
    if (!item) return;
    const token = ++drawToken;
    slider.value = String(s.index + 1);
    overlay(item);
    busy.hidden = false;
    let frame;
    try {
      frame = await store.get(item, windowFor(item));
    } catch (err) {
      if (token === drawToken) {
        busy.hidden = true;
        showError(err);
      }
      return;
    }
    if (token !== drawToken || destroyed) return;
    busy.hidden = true;
    showError(null);
    current = { item, frame };
    if (!s.window && frame.kind === 'raw') {
      defaultWindow = { center: round((frame.max + frame.min) / 2), width: Math.max(1, round(frame.max - frame.min)) };
      s.window = { ...defaultWindow };
    } else if (!s.window && item.info.greyscale) {
      // A rendered frame without a window in its header: the whole range
      // its bits can hold, which the user then narrows.
      const info = item.info;
      const low = info.signed ? -(2 ** (info.bitsStored - 1)) : 0;
      const high = info.signed ? 2 ** (info.bitsStored - 1) - 1 : 2 ** info.bitsStored - 1;
      const ends = [low, high].map((v) => v * info.slope + info.intercept);
      defaultWindow = { center: round((ends[0] + ends[1]) / 2), width: Math.max(1, round(Math.abs(ends[1] - ends[0]))) };
      s.window = { ...defaultWindow };
    }
    repaint();
    prefetch(token);
  }

  let direction = 1;
  function prefetch(token) {
    for (let k = 1; k <= PREFETCH; k++) {
      const item = items[s.index + k * direction];
      if (!item || token !== drawToken) break;
      store.get(item, windowFor(item)).catch(() => {});
    }
  }

  function go(delta) {
    if (!items.length) return;
    const next = Math.max(0, Math.min(items.length - 1, s.index + delta));
    if (next === s.index) return;
    direction = delta > 0 ? 1 : -1;
    s.index = next;
    show();
    changed();
  }

  // The image's placement on the canvas, in canvas pixels.
  function transform() {
    const w = current.frame.width;
    const h = current.frame.height;
    const fit = Math.min(canvas.width / w, canvas.height / h);
    const scale = fit * s.zoom;
    return {
      scale,
      x: canvas.width / 2 + (s.pan.x - w / 2) * scale,
      y: canvas.height / 2 + (s.pan.y - h / 2) * scale,
    };
  }

  function repaint() {
    if (mode !== 'image' || !current) return;
    const { item, frame } = current;
    overlay(item);
    const invert = s.invert !== (item.info.photometric === 'MONOCHROME1' && frame.kind === 'raw');
    const key = `${item.sop}/${item.frame}/${s.window && s.window.center},${s.window && s.window.width}/${invert}/${frame.kind}`;
    if (!painted || painted.key !== key || painted.frame !== frame) {
      painted = { key, frame, canvas: I.paint(frame, s.window || { center: 128, width: 256 }, invert, painted && painted.canvas) };
    }
    if (frame.kind === 'bitmap' && item.info.greyscale && s.window
      && (!frame.window || frame.window.center !== s.window.center || frame.window.width !== s.window.width)) {
      // The server windows rendered frames: ask once the dragging pauses.
      clearTimeout(rerender);
      rerender = setTimeout(() => show(), 250);
    }
    const g = canvas.getContext('2d');
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.fillStyle = '#000';
    g.fillRect(0, 0, canvas.width, canvas.height);
    const m = transform();
    g.imageSmoothingEnabled = m.scale < 4;
    g.drawImage(painted.canvas, m.x, m.y, frame.width * m.scale, frame.height * m.scale);
    tools.draw(g, m, item);
  }

  function lines(parts) {
    return parts.filter((p) => p !== undefined && p !== null && p !== '')
      .map((p) => el('div', null, p));
  }

  function overlay(item) {
    const meta = item.meta;
    const sex = I.value(meta, '00100040');
    const birth = I.value(meta, '00100030');
    corners.tl.replaceChildren(...lines([
      I.personName(meta, '00100010'),
      I.value(meta, '00100020') && t('viewer.overlay.id', { id: I.value(meta, '00100020') }),
      [sex, birth && I.dicomDate(birth)].filter(Boolean).join(' · '),
    ]));
    corners.tr.replaceChildren(...lines([
      I.value(meta, '00080080'),
      I.dicomDate(I.value(meta, '00080020')),
      I.value(meta, '00081030'),
      [I.value(meta, '00080060'), I.value(meta, '0008103E')].filter(Boolean).join(' · '),
    ]));
    const instanceNumber = I.value(meta, '00200013');
    corners.bl.replaceChildren(...lines([
      t('viewer.overlay.series', { n: I.value(meta, '00200011') ?? '–' }),
      el('span', { class: 'viewer-instance' }, t('viewer.overlay.image', {
        n: s.index + 1, total: items.length, instance: instanceNumber ?? '–',
      })),
      item.info.frames > 1 && t('viewer.overlay.frame', { n: item.frame, total: item.info.frames }),
    ]));
    const thickness = I.number(meta, '00180050');
    corners.br.replaceChildren(...lines([
      el('span', { class: 'viewer-wl' }, s.window
        ? t('viewer.overlay.wl', { w: round(s.window.width), l: round(s.window.center) }) : ''),
      t('viewer.overlay.zoom', { zoom: Math.round(s.zoom * 100) }),
      thickness && t('viewer.overlay.thickness', { mm: round(thickness) }),
    ]));
  }

  async function showEcg(uid, meta) {
    mode = 'ecg';
    items = [];
    imagePane.hidden = true;
    sr.element.hidden = true;
    ecg.element.hidden = false;
    const url = `${base}/series/${encodeURIComponent(uid)}/instances/${encodeURIComponent(I.value(meta, '00080018'))}`;
    await ecg.show(url, meta, () => !destroyed && s.series === uid);
  }

  function showSr(metadata) {
    mode = 'sr';
    items = [];
    imagePane.hidden = true;
    ecg.element.hidden = true;
    sr.element.hidden = false;
    sr.show(metadata);
  }

  function resize() {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(stage.clientWidth * ratio));
    const height = Math.max(1, Math.round(stage.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
      repaint();
    }
  }

  function relabel() {
    if (mode === 'image' && current) repaint();
    renderSeriesList();
  }

  slider.addEventListener('input', () => {
    const next = Number(slider.value) - 1;
    go(next - s.index);
  });
  const observer = new ResizeObserver(resize);
  observer.observe(stage);
  document.addEventListener('ferry:language', relabel);

  const viewer = {
    state,
    setState,
    on(name, f) {
      (listeners[name] = listeners[name] || []).push(f);
      return viewer;
    },
    off(name, f) {
      listeners[name] = (listeners[name] || []).filter((g) => g !== f);
      return viewer;
    },
    destroy() {
      destroyed = true;
      clearTimeout(rerender);
      observer.disconnect();
      document.removeEventListener('ferry:language', relabel);
      store.cache.clear();
      root.remove();
    },
    ready: null,
  };
  viewer.ready = loadStudy();
  return viewer;
}

// The window presets, for whoever draws a toolbar of their own.
const { PRESETS } = Tools;

export { mount, PRESETS };

let open = null;
/** @type {import('../lib/ferry.js').Screen} */
export const viewerScreen = {
  name: 'viewer',
  path: /^#\/studies\/([^/?#]+)$/,
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
