// @ts-check
// Ferry viewer, the series that are not pictures: a 12-lead ECG plotted
// from its waveform and a report SR set out as text. viewer.js picks the
// pane a series needs and shows or hides it; each pane here only fills
// itself.
//
// const ecg = Panes.ecg(); ecg.element to place;
//   await ecg.show(url, meta, wanted) plots the instance at url, where
//   wanted() turns false once the user has moved on before it loaded.
// const sr = Panes.sr(); sr.element; sr.show(metadata).

import { el, t } from '../lib/ferry.js';
import * as Ecg from './viewer-ecg.js';
import * as I from './viewer-image.js';

const round = (v) => Math.round(v * 10) / 10;

/**
 * The ECG pane: `element` to place; `show(url, meta, wanted)` plots the
 * instance unless `wanted()` has turned false by the time it loads.
 * @returns {{element: HTMLElement, show: (url: string, meta: object, wanted: () => boolean) => Promise<void>}}
 */
function ecg() {
  const canvas = el('canvas', { class: 'viewer-ecg-canvas' });
  const caption = el('p', { class: 'viewer-ecg-caption' });
  const holder = el('div', { class: 'viewer-ecg-scroll' }, canvas);
  const element = el('div', { class: 'viewer-ecg', hidden: true }, caption, holder);

  async function show(url, meta, wanted) {
    caption.textContent = t('viewer.loading');
    try {
      holder.replaceChildren(canvas);
      const waveform = await Ecg.load(url);
      if (!wanted()) return;
      const drawn = Ecg.plot(canvas, waveform, Math.max(320, element.clientWidth - 4));
      canvas.dataset.leads = drawn.leads.join(',');
      caption.textContent = [
        I.personName(meta, '00100010'), I.value(meta, '00100020'), I.dicomDate(I.value(meta, '00080020')),
        t('viewer.ecg.caption', { leads: drawn.leads.length, seconds: round(waveform.seconds), hz: waveform.frequency }),
      ].filter(Boolean).join(' · ');
    } catch (err) {
      // The server's own plot, when this browser cannot read the file.
      caption.textContent = t('viewer.ecg.server', { message: err.message });
      holder.replaceChildren(el('img', { class: 'viewer-ecg-image', alt: t('viewer.ecg.alt'), src: url + '/rendered' }));
    }
  }

  return { element, show };
}

/**
 * The report pane: `show(metadata)` sets out an SR's content tree.
 * @returns {{element: HTMLElement, show: (metadata: object[]) => void}}
 */
function sr() {
  const element = el('div', { class: 'viewer-sr', hidden: true });

  const walk = (dataset, depth) => {
    const out = [];
    for (const item of I.values(dataset, '0040A730')) {
      const name = I.value(I.value(item, '0040A043'), '00080104');
      const text = I.value(item, '0040A160');
      if (name && text) {
        out.push(el(depth ? 'h5' : 'h4', null, name), el('p', { class: 'viewer-sr-text' }, text));
      } else if (name && item['0040A730']) {
        out.push(el(depth ? 'h5' : 'h4', null, name));
      } else if (text) {
        out.push(el('p', { class: 'viewer-sr-text' }, text));
      }
      out.push(...walk(item, depth + 1));
    }
    return out;
  };

  function show(metadata) {
    element.replaceChildren(...metadata.map((meta) => el('article', null,
      el('h3', null, I.value(I.value(meta, '0040A043'), '00080104') || t('viewer.sr')),
      el('p', { class: 'viewer-sr-meta' }, [I.dicomDate(I.value(meta, '00080023')),
        I.personName(meta, '0040A075') || I.personName(I.value(meta, '0040A073'), '0040A075'),
        I.value(meta, '0040A493')].filter(Boolean).join(' · ')),
      ...walk(meta, 0))));
  }

  return { element, show };
}

export { ecg, sr };
