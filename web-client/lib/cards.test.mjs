// Which label each cell of a table gets as a card: node --test web-client/
// (`.mjs`, so the server neither embeds nor serves it).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { cellLabels, columnLabels } from './cards.js';

test('each column is labelled by its heading, tidied', () => {
  assert.deepEqual(
    columnLabels([{ text: ' When ', span: 1 }, { text: 'Patient\n  name', span: 1 }, { text: '', span: 1 }]),
    ['When', 'Patient name', '']);
});

test('a heading over several columns labels none of them', () => {
  assert.deepEqual(columnLabels([{ text: 'Date', span: 1 }, { text: 'Actions', span: 2 }, { text: 'Status', span: 1 }]),
    ['Date', '', '', 'Status']);
});

test('cells take their column\'s label; a cell over several columns takes none', () => {
  const labels = ['When', 'Patient', 'Status', ''];
  assert.deepEqual(cellLabels(labels, [1, 1, 1, 1]), ['When', 'Patient', 'Status', '']);
  // A form opened across the row's first two columns.
  assert.deepEqual(cellLabels(labels, [2, 1, 1]), ['', 'Status', '']);
  // A row longer than its headings: the extra cells have no label.
  assert.deepEqual(cellLabels(labels, [1, 1, 1, 1, 1]), ['When', 'Patient', 'Status', '', '']);
  assert.deepEqual(cellLabels(labels, [0, 1]), ['When', 'Patient'], 'a span of 0 counts as 1');
});
