// @ts-check
// Ferry web client: grouped bar charts drawn as inline SVG, each followed by
// the same numbers as a table (for screen readers, printing and copying).
// Every bar carries its value in `data-value` and a printed label, so the
// figure reads without hovering.

import { el, t } from './ferry.js';
import * as I18n from './i18n.js';

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attributes, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value !== undefined && value !== null) element.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === undefined || child === null) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

// A round top for the axis: 1, 2, 5 × 10^n at or above `max`.
function niceMax(max) {
  if (max <= 0) return 1;
  const power = Math.pow(10, Math.floor(Math.log10(max)));
  for (const step of [1, 2, 5, 10]) {
    if (step * power >= max) return step * power;
  }
  return 10 * power;
}

/**
 * A figure in the user's language, one decimal at most; a dash for none.
 * @param {number | null | undefined} value
 * @returns {string}
 */
function number(value) {
  if (value === null || value === undefined) return '—';
  return new Intl.NumberFormat(I18n.current(), { maximumFractionDigits: 1 }).format(value);
}

/**
 * A grouped bar chart as inline SVG, followed by the same numbers as a table.
 * @param {{id: string, title: string, yLabel?: string, xLabel?: string, integer?: boolean,
 *   categories: {key: string, label: string}[], series: {key: string, label: string}[],
 *   values: (number | null)[][]}} options `values` is series × category
 * @returns {HTMLElement}
 */
function bars(options) {
  const { id, title, yLabel, xLabel, categories, series, values } = options;
  const width = Math.max(560, 80 + categories.length * (series.length * 26 + 24));
  const height = 280;
  const margin = { left: 56, right: 16, top: 28, bottom: 64 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const top = niceMax(Math.max(0, ...values.flat().filter((v) => typeof v === 'number')));
  // Counts tick in whole numbers: a small count gets an axis of 0 to 5.
  const max = options.integer ? Math.max(5, top) : top;
  const y = (v) => margin.top + plotH - (v / max) * plotH;
  const group = plotW / Math.max(1, categories.length);
  const barW = Math.min(36, (group - 12) / series.length);

  const chart = svg('svg', {
    viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-labelledby': id + '-title',
    'data-chart': id, preserveAspectRatio: 'xMinYMin meet',
  }, svg('title', { id: id + '-title' }, title));
  // Never drawn larger than designed, so a two-bar chart keeps its type size.
  chart.style.maxWidth = width + 'px';

  const ticks = 5;
  for (let i = 0; i <= ticks; i++) {
    const v = (max / ticks) * i;
    chart.appendChild(svg('line', { class: 'grid', x1: margin.left, x2: width - margin.right, y1: y(v), y2: y(v) }));
    chart.appendChild(svg('text', { class: 'tick', x: margin.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, number(v)));
  }
  chart.appendChild(svg('line', { class: 'axis', x1: margin.left, x2: margin.left, y1: margin.top, y2: margin.top + plotH }));
  chart.appendChild(svg('line', { class: 'axis', x1: margin.left, x2: width - margin.right, y1: margin.top + plotH, y2: margin.top + plotH }));
  chart.appendChild(svg('text', {
    class: 'axis-label', x: 14, y: margin.top + plotH / 2, 'text-anchor': 'middle',
    transform: `rotate(-90 14 ${margin.top + plotH / 2})`,
  }, yLabel));
  chart.appendChild(svg('text', { class: 'axis-label', x: margin.left + plotW / 2, y: height - 6, 'text-anchor': 'middle' }, xLabel));

  categories.forEach((category, c) => {
    const left = margin.left + c * group + (group - barW * series.length) / 2;
    series.forEach((s, i) => {
      const value = values[i][c];
      const x = left + i * barW;
      const top = value ? y(value) : margin.top + plotH;
      chart.appendChild(svg('rect', {
        class: `bar series-${i}`, x: x + 1, y: top, width: barW - 2, height: margin.top + plotH - top,
        'data-series': s.key, 'data-category': category.key, 'data-value': value === null ? '' : value,
      }, svg('title', null, `${s.label} · ${category.label}: ${number(value)}`)));
      chart.appendChild(svg('text', {
        class: 'value', x: x + barW / 2, y: top - 4, 'text-anchor': 'middle',
        'data-series': s.key, 'data-category': category.key,
      }, number(value)));
    });
    chart.appendChild(svg('text', {
      class: 'category', x: margin.left + c * group + group / 2, y: margin.top + plotH + 18, 'text-anchor': 'middle',
    }, category.label));
  });

  const legend = el('ul', { class: 'legend' }, series.map((s, i) =>
    el('li', null, el('span', { class: `swatch series-${i}` }), s.label)));

  const table = el('table', { class: 'chart-table', 'data-chart': id },
    el('caption', null, title),
    el('thead', null, el('tr', null, el('th', null, xLabel), series.map((s) => el('th', null, s.label)))),
    el('tbody', null, categories.map((category, c) => el('tr', { dataset: { category: category.key } },
      el('th', { scope: 'row' }, category.label),
      series.map((s, i) => el('td', { dataset: { series: s.key } }, number(values[i][c])))))));

  return el('figure', { class: 'chart-figure', id },
    el('figcaption', null, title), legend, el('div', { class: 'chart-scroll' }, chart),
    el('details', null, el('summary', null, t('chart.as_table')), table));
}

export { bars, number };
