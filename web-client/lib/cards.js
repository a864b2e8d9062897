// @ts-check
// Tables as cards on a phone. Under 600 px style.css lays each row of a
// data table out as a card of label and value lines, so nothing (Status,
// Join, View, "Ask for a reading") hides past the screen's edge. The label
// is the cell's column heading: this copies it onto each cell as
// `data-label`, for every table any screen puts in `root`, now or later,
// and again when a heading's words change (another language), so no
// screen builds its tables twice. A table becomes cards only once it has
// headings (it is then marked `data-cards`); the scheduler's week grid
// stays a grid that scrolls in its own box.
//
// Cards.install(root) once, from the shell.

// Tables that are pictures more than lists, kept as they are.
const KEEP = 'table.week-grid, table[data-cards="off"]';

/**
 * Each column's label, from the header row's cells in order. A heading
 * over several columns labels none of them: its words say what the
 * columns are together, not what one cell is.
 * @param {{text: string, span: number}[]} headings
 * @returns {string[]}
 */
function columnLabels(headings) {
  const labels = [];
  for (const h of headings) {
    const span = Math.max(1, h.span || 1);
    for (let i = 0; i < span; i++) labels.push(span === 1 ? h.text.trim().replace(/\s+/g, ' ') : '');
  }
  return labels;
}

/**
 * The label of each cell of a row: its column's, or none for a cell over
 * several columns (a form opened in the row, a note) or a column without
 * a heading (the actions).
 * @param {string[]} labels by column
 * @param {number[]} spans the row's cells' column spans
 * @returns {string[]}
 */
function cellLabels(labels, spans) {
  const out = [];
  let column = 0;
  for (const raw of spans) {
    const span = Math.max(1, raw || 1);
    out.push(span === 1 ? labels[column] || '' : '');
    column += span;
  }
  return out;
}

/**
 * The row that names the columns: the head's last row, else a first row
 * of headings only.
 * @param {HTMLTableElement} table
 * @returns {HTMLTableRowElement | null}
 */
function headerRow(table) {
  const head = table.tHead;
  if (head && head.rows.length) return head.rows[head.rows.length - 1];
  const first = table.rows[0];
  return first && first.cells.length && [...first.cells].every((c) => c.tagName === 'TH') ? first : null;
}

/**
 * Labels every cell of one table (cheap: attributes are written only when
 * they change).
 * @param {HTMLTableElement} table
 */
function label(table) {
  if (table.matches(KEEP)) return;
  const header = headerRow(table);
  if (!header) return;
  const labels = columnLabels([...header.cells].map((c) => ({ text: c.textContent || '', span: c.colSpan })));
  if (!table.hasAttribute('data-cards')) table.setAttribute('data-cards', '');
  // A heading row outside a thead is hidden on a phone as a thead is.
  if (header.parentElement !== table.tHead && !header.hasAttribute('data-cards-head')) {
    header.setAttribute('data-cards-head', '');
  }
  for (const row of table.rows) {
    if (row === header || row.parentElement === table.tHead) continue;
    const cells = [...row.cells];
    const names = cellLabels(labels, cells.map((c) => c.colSpan));
    cells.forEach((cell, n) => {
      if (names[n]) {
        if (cell.getAttribute('data-label') !== names[n]) cell.setAttribute('data-label', names[n]);
      } else if (cell.hasAttribute('data-label')) {
        cell.removeAttribute('data-label');
      }
    });
  }
}

/**
 * Labels the tables in `root` now and whenever its content changes; the
 * work waits for the next animation frame, so a screen drawing many rows
 * costs one pass.
 * @param {HTMLElement} root
 */
function install(root) {
  /** @type {Set<HTMLTableElement>} */
  const due = new Set();
  let queued = false;
  const flush = () => {
    queued = false;
    for (const table of due) if (table.isConnected) label(table);
    due.clear();
  };
  const note = (/** @type {Node} */ node) => {
    const element = node.nodeType === 1 ? /** @type {Element} */ (node) : node.parentElement;
    if (!element) return;
    const table = element.closest('table');
    if (table) due.add(/** @type {HTMLTableElement} */ (table));
    // A table added whole, or a part of the page holding tables.
    if (node.nodeType === 1) {
      for (const inner of element.querySelectorAll('table')) due.add(/** @type {HTMLTableElement} */ (inner));
    }
  };
  const observer = new MutationObserver((mutations) => {
    for (const m of mutations) {
      note(m.target);
      for (const added of m.addedNodes) note(added);
    }
    if (due.size && !queued) {
      queued = true;
      requestAnimationFrame(flush);
    }
  });
  observer.observe(root, { childList: true, subtree: true, characterData: true });
  for (const table of root.querySelectorAll('table')) label(/** @type {HTMLTableElement} */ (table));
  return observer;
}

export { install, label, columnLabels, cellLabels };
