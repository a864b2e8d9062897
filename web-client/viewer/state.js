// @ts-check
// Ferry viewer, what is shown, without the DOM: the study's series in the
// order of the list, a series' metadata as the frames to step through, the
// viewer's state as another viewer sees it and applies it, where a step
// lands, which frames to fetch ahead, the window a frame starts at, the
// image's placement on the canvas, and the overlay's words. viewer.js puts
// these on screen; viewer/state.test.mjs checks them in node.

import { t } from '../lib/i18n.js';
import * as I from './viewer-image.js';

/** @typedef {{center: number, width: number}} Window */

/**
 * What the user looks at, in the units another viewer understands.
 * @typedef {object} ViewState
 * @property {string | null} series
 * @property {number} index the frame's place in the series, from 0
 * @property {Window | null} window
 * @property {number} zoom 1 fits the frame to the canvas
 * @property {{x: number, y: number}} pan in image pixels
 * @property {boolean} invert
 */

/**
 * A series as the list shows it.
 * @typedef {{uid: string, number: number | undefined, modality: string,
 *   description: string, count: number}} SeriesEntry
 */

/**
 * One frame of one instance: what the viewer steps through.
 * @typedef {{series: string, sop: string, frame: number,
 *   info: ReturnType<typeof I.imageInfo>, meta: object}} FrameItem
 */

/** @returns {ViewState} */
function initialState() {
  return { series: null, index: 0, window: null, zoom: 1, pan: { x: 0, y: 0 }, invert: false };
}

const round = (/** @type {number} */ v) => Math.round(v * 10) / 10;

/**
 * The study's series from QIDO-RS, by series number with reports (SR) last.
 * @param {object[] | null} list DICOM JSON
 * @returns {SeriesEntry[]}
 */
function seriesEntries(list) {
  return (list || []).map((d) => ({
    uid: I.value(d, '0020000E'),
    number: I.value(d, '00200011'),
    modality: I.value(d, '00080060') || '',
    description: I.value(d, '0008103E') || '',
    count: I.number(d, '00201209') || 0,
  })).sort((a, b) => Number(a.modality === 'SR') - Number(b.modality === 'SR') || (a.number ?? 0) - (b.number ?? 0));
}

/**
 * The series to show first: the one asked for if the study has it.
 * @param {SeriesEntry[]} entries not empty
 * @param {string} [wanted]
 * @returns {string}
 */
function firstSeries(entries, wanted) {
  return wanted && entries.find((x) => x.uid === wanted) ? wanted : entries[0].uid;
}

/**
 * Which pane a series needs, by its first instance: a structured report
 * as text, a waveform as an ECG plot, anything else as images.
 * @param {object} meta DICOM JSON of the first instance
 * @returns {'sr' | 'ecg' | 'image'}
 */
function paneFor(meta) {
  if (String(I.value(meta, '00080016') || '').startsWith('1.2.840.10008.5.1.4.1.1.88')) return 'sr';
  if (Boolean(meta['54000100']) || I.value(meta, '00080060') === 'ECG') return 'ecg';
  return 'image';
}

/**
 * A series' instances in instance-number order (sorted in place).
 * @param {object[] | null} metadata DICOM JSON
 * @returns {object[]}
 */
function byInstanceNumber(metadata) {
  return (metadata || []).sort((a, b) => (I.number(a, '00200013') ?? 0) - (I.number(b, '00200013') ?? 0));
}

/**
 * Every frame of every instance, in order: a multi-frame instance
 * contributes one item a frame.
 * @param {string} series
 * @param {object[]} metadata in instance-number order
 * @returns {FrameItem[]}
 */
function frameItems(series, metadata) {
  const items = [];
  for (const meta of metadata) {
    const info = I.imageInfo(meta);
    for (let f = 1; f <= info.frames; f++) {
      items.push({ series, sop: I.value(meta, '00080018'), frame: f, info, meta });
    }
  }
  return items;
}

/**
 * A new series starts at its first frame, unzoomed, at the window its
 * header gives (null if none; the first frame's pixels then decide).
 * @param {ViewState} s changed in place
 * @param {FrameItem[]} items
 * @returns {Window | null} the series' default window
 */
function startSeries(s, items) {
  s.index = 0;
  s.zoom = 1;
  s.pan = { x: 0, y: 0 };
  const defaultWindow = (items[0] && items[0].info.window) || null;
  s.window = defaultWindow && { ...defaultWindow };
  return defaultWindow;
}

/**
 * The state another viewer is sent.
 * @param {ViewState} s
 * @param {FrameItem[]} items
 */
function snapshot(s, items) {
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

/**
 * Takes what makes sense of another viewer's (or a saved) state, within
 * the current series: the instance and frame if it has them, else the
 * index kept in range; a window, zoom, pan or invert only if well formed.
 * @param {ViewState} s changed in place
 * @param {FrameItem[]} items
 * @param {Partial<ReturnType<typeof snapshot>>} next
 */
function applyState(s, items, next) {
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

/**
 * Where a step of `delta` frames lands, kept inside the series; null when
 * it does not move (an empty series, or already at that end).
 * @param {number} index
 * @param {number} delta
 * @param {number} count
 * @returns {{index: number, direction: 1 | -1} | null}
 */
function step(index, delta, count) {
  if (!count) return null;
  const next = Math.max(0, Math.min(count - 1, index + delta));
  if (next === index) return null;
  return { index: next, direction: delta > 0 ? 1 : -1 };
}

/**
 * The frames to fetch ahead of the one shown, nearest first, in the
 * direction the user is scrolling.
 * @template T
 * @param {T[]} items
 * @param {number} index
 * @param {1 | -1} direction
 * @param {number} ahead
 * @returns {T[]}
 */
function prefetchPlan(items, index, direction, ahead) {
  const plan = [];
  for (let k = 1; k <= ahead; k++) {
    const item = items[index + k * direction];
    if (!item) break;
    plan.push(item);
  }
  return plan;
}

/**
 * The window a frame starts at when its header gives none: a raw frame's
 * own range of values; a rendered greyscale frame's whole range its bits
 * can hold, which the user then narrows. Null when neither applies.
 * @param {FrameItem} item
 * @param {{kind: string, min?: number, max?: number}} frame
 * @returns {Window | null}
 */
function windowFromFrame(item, frame) {
  if (frame.kind === 'raw') {
    return { center: round((frame.max + frame.min) / 2), width: Math.max(1, round(frame.max - frame.min)) };
  }
  if (item.info.greyscale) {
    const info = item.info;
    const low = info.signed ? -(2 ** (info.bitsStored - 1)) : 0;
    const high = info.signed ? 2 ** (info.bitsStored - 1) - 1 : 2 ** info.bitsStored - 1;
    const ends = [low, high].map((v) => v * info.slope + info.intercept);
    return { center: round((ends[0] + ends[1]) / 2), width: Math.max(1, round(Math.abs(ends[1] - ends[0]))) };
  }
  return null;
}

/**
 * The image's placement on the canvas, in canvas pixels: fitted whole at
 * zoom 1, centred, moved by the pan (in image pixels).
 * @param {{width: number, height: number}} canvas
 * @param {{width: number, height: number}} frame
 * @param {ViewState} s
 * @returns {{scale: number, x: number, y: number}}
 */
function placement(canvas, frame, s) {
  const w = frame.width;
  const h = frame.height;
  const scale = Math.min(canvas.width / w, canvas.height / h) * s.zoom;
  return {
    scale,
    x: canvas.width / 2 + (s.pan.x - w / 2) * scale,
    y: canvas.height / 2 + (s.pan.y - h / 2) * scale,
  };
}

/**
 * Whether the frame is drawn inverted: MONOCHROME1 is stored inverted,
 * the server already turns it for rendered frames, and the user's invert
 * turns it again.
 * @param {FrameItem} item
 * @param {{kind: string}} frame
 * @param {ViewState} s
 */
function inverted(item, frame, s) {
  return s.invert !== (item.info.photometric === 'MONOCHROME1' && frame.kind === 'raw');
}

/**
 * Whether a server-rendered greyscale frame was windowed otherwise than
 * the state asks, so it must be asked for again.
 * @param {FrameItem} item
 * @param {{kind: string, window?: Window | null}} frame
 * @param {Window | null} window
 */
function staleRendering(item, frame, window) {
  return frame.kind === 'bitmap' && item.info.greyscale && Boolean(window)
    && (!frame.window || frame.window.center !== window.center || frame.window.width !== window.width);
}

/**
 * One overlay line: text, or text with a class the tests and styles find.
 * @typedef {string | {text: string, class: string}} OverlayLine
 */

/**
 * The four corners' words for a frame: patient (top left), where and what
 * study (top right), which series, image and frame (bottom left), window,
 * zoom and slice thickness (bottom right). Absent values are left out.
 * @param {FrameItem} item
 * @param {ViewState} s
 * @param {number} total frames in the series
 * @returns {{tl: OverlayLine[], tr: OverlayLine[], bl: OverlayLine[], br: OverlayLine[]}}
 */
function overlayLines(item, s, total) {
  const meta = item.meta;
  const sex = I.value(meta, '00100040');
  const birth = I.value(meta, '00100030');
  const thickness = I.number(meta, '00180050');
  // Only absent values are left out: a `false` (one frame only) keeps its
  // empty line, as the corners always had.
  const present = (/** @type {any[]} */ parts) => parts
    .filter((p) => p !== undefined && p !== null && p !== '')
    .map((p) => (p === false ? '' : typeof p === 'object' ? p : String(p)));
  return {
    tl: present([
      I.personName(meta, '00100010'),
      I.value(meta, '00100020') && t('viewer.overlay.id', { id: I.value(meta, '00100020') }),
      [sex, birth && I.dicomDate(birth)].filter(Boolean).join(' · '),
    ]),
    tr: present([
      I.value(meta, '00080080'),
      I.dicomDate(I.value(meta, '00080020')),
      I.value(meta, '00081030'),
      [I.value(meta, '00080060'), I.value(meta, '0008103E')].filter(Boolean).join(' · '),
    ]),
    bl: present([
      t('viewer.overlay.series', { n: I.value(meta, '00200011') ?? '–' }),
      {
        class: 'viewer-instance',
        text: t('viewer.overlay.image', { n: s.index + 1, total, instance: I.value(meta, '00200013') ?? '–' }),
      },
      item.info.frames > 1 && t('viewer.overlay.frame', { n: item.frame, total: item.info.frames }),
    ]),
    br: [
      { class: 'viewer-wl', text: s.window ? t('viewer.overlay.wl', { w: round(s.window.width), l: round(s.window.center) }) : '' },
      ...present([
        t('viewer.overlay.zoom', { zoom: Math.round(s.zoom * 100) }),
        thickness && t('viewer.overlay.thickness', { mm: round(thickness) }),
      ]),
    ],
  };
}

export {
  initialState, seriesEntries, firstSeries, paneFor, byInstanceNumber, frameItems, startSeries,
  snapshot, applyState, step, prefetchPlan, windowFromFrame, placement, inverted, staleRendering,
  overlayLines, round,
};
