// @ts-check
// Ferry web client: the consortium's reference data. Reading routes (which
// facility reads whose studies, tried most specific first), the graded
// diagnosis catalogue (which tiers treat which ICD-10 codes), which can be
// replaced from a CSV file and downloaded as one, and the rules of mutual
// recognition of results (互认: which prior results count, for how long).

import { api, el, request, t, when } from '../lib/ferry.js';
import { bodyPartName, bodyPartOptions } from '../lib/terms.js';
import * as D from './desk.js';

const TIERS = ['tertiary', 'secondary', 'primary', 'village'];

// A body part in the user's words, its DICOM term kept on the cell (what
// the server holds and the images carry).
function bodyPartCell(part) {
  return part ? el('td', { title: part, dataset: { bodyPart: part } }, bodyPartName(part)) : el('td', null, t('desk.any'));
}

async function openRoutes(section) {
  const facilities = await api('GET', '/facilities');
  const table = el('table', { id: 'admin-routes' });
  const parts = el('datalist', { id: 'route-body-parts' });
  const error = D.alertLine();
  let routes = [];
  const names = new Map(facilities.map((f) => [f.id, f.name]));
  const render = () => {
    parts.replaceChildren(...bodyPartOptions());
    table.replaceChildren(D.header(['admin.precedence', 'admin.sending', 'admin.modality', 'admin.body_part',
      'admin.reading_facility', '']),
    el('tbody', null, routes.map((r) => el('tr', { dataset: { route: r.id } },
      el('td', null, r.precedence),
      el('td', null, r.sending_facility_id ? names.get(r.sending_facility_id) || '#' + r.sending_facility_id : t('desk.any')),
      el('td', null, r.modality || t('desk.any')), bodyPartCell(r.body_part),
      el('td', null, r.reading_facility_name),
      el('td', { class: 'actions' }, D.button('desk.delete', {
        class: 'danger',
        onclick: async () => {
          error.textContent = '';
          try {
            await api('DELETE', '/reading-routes/' + r.id);
            await load();
          } catch (err) {
            D.showError(error, err);
          }
        },
      }))))));
  };
  const load = async () => {
    routes = await api('GET', '/reading-routes');
    render();
  };
  const options = facilities.map((f) => [f.id, f.name]);
  const sending = D.select('sending_facility_id', [['', t('desk.any'), 'desk.any']].concat(options));
  const modality = el('input', { name: 'modality', maxlength: '16', placeholder: 'CT, MR, CR…' });
  // The server takes a body part's name in either language, or its term.
  const bodyPart = el('input', { name: 'body_part', list: 'route-body-parts', autocomplete: 'off', placeholder: 'CHEST, HEAD…' });
  const reading = D.select('reading_facility_id', options);
  const precedence = el('input', { name: 'precedence', type: 'number', value: '100' });
  const line = D.alertLine();
  const form = el('form', { id: 'route-form', class: 'desk-panel' },
    el('h3', { 'data-i18n': 'admin.add_route' }, t('admin.add_route')),
    D.field('admin.sending', sending), D.field('admin.modality', modality), D.field('admin.body_part', bodyPart),
    parts,
    D.field('admin.reading_facility', reading), D.field('admin.precedence', precedence),
    el('button', { type: 'submit', 'data-i18n': 'desk.save' }, t('desk.save')), line);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    line.textContent = '';
    try {
      await api('POST', '/reading-routes', {
        sending_facility_id: sending.value ? Number(sending.value) : null,
        modality: modality.value.trim() || null, body_part: bodyPart.value.trim() || null,
        reading_facility_id: Number(reading.value),
        precedence: precedence.value === '' ? null : Number(precedence.value),
      });
      form.reset();
      await load();
    } catch (err) {
      D.showError(line, err);
    }
  });
  section.replaceChildren(D.adminTabs('routes'),
    el('h2', { 'data-i18n': 'admin.tab.routes' }, t('admin.tab.routes')),
    el('p', { class: 'note', 'data-i18n': 'admin.routes_help' }, t('admin.routes_help')), error, table, form);
  await load();
  return render;
}

async function openCatalogue(section) {
  const table = el('table', { id: 'admin-catalogue' });
  const error = D.alertLine();
  let entries = [];
  const render = () => {
    table.replaceChildren(D.header(['admin.codes', 'admin.tiers', 'admin.label', '']),
      el('tbody', null, entries.map((c) => el('tr', { dataset: { entry: c.id } },
        el('td', null, c.code_from === c.code_to ? c.code_from : `${c.code_from}–${c.code_to}`),
        el('td', null, c.tiers.map((x) => t('desk.tier.' + x)).join(', ')), el('td', null, c.label),
        el('td', { class: 'actions' }, D.button('desk.delete', {
          class: 'danger',
          onclick: async () => {
            error.textContent = '';
            try {
              await api('DELETE', '/catalogue/' + c.id);
              await load();
            } catch (err) {
              D.showError(error, err);
            }
          },
        }))))));
  };
  const load = async () => {
    entries = await api('GET', '/catalogue');
    render();
  };

  const file = el('input', { type: 'file', name: 'file', accept: '.csv,text/csv', id: 'catalogue-file', required: true });
  const summary = el('p', { role: 'status', id: 'catalogue-imported' });
  const importLine = D.alertLine();
  const importForm = el('form', { id: 'catalogue-import', class: 'desk-panel' },
    el('h3', { 'data-i18n': 'admin.import' }, t('admin.import')),
    el('p', { class: 'note', 'data-i18n': 'admin.import_help' }, t('admin.import_help')),
    D.field('admin.csv_file', file),
    el('button', { type: 'submit', 'data-i18n': 'admin.import_button' }, t('admin.import_button')), ' ',
    el('a', { class: 'button', href: '/api/v1/catalogue/export', download: 'catalogue.csv', 'data-i18n': 'admin.export' },
      t('admin.export')),
    summary, importLine);
  importForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    importLine.textContent = '';
    summary.textContent = '';
    const chosen = file.files[0];
    if (!chosen) return;
    try {
      const result = await request('/api/v1/catalogue/import', {
        method: 'POST', headers: { 'Content-Type': 'text/csv' }, body: await chosen.text(),
      });
      summary.textContent = t('admin.imported', { imported: result.imported, removed: result.removed });
      importForm.reset();
      await load();
    } catch (err) {
      D.showError(importLine, err);
    }
  });

  const from = el('input', { name: 'code_from', required: true, placeholder: 'I10' });
  const to = el('input', { name: 'code_to', placeholder: 'I15' });
  const label = el('input', { name: 'label' });
  const tierBoxes = TIERS.map((x) => el('label', { class: 'inline' },
    el('input', { type: 'checkbox', name: 'tiers', value: x }), ' ', D.words('desk.tier.' + x)));
  const line = D.alertLine();
  const form = el('form', { id: 'catalogue-form', class: 'desk-panel' },
    el('h3', { 'data-i18n': 'admin.add_code' }, t('admin.add_code')),
    D.field('admin.code_from', from), D.field('admin.code_to', to), D.field('admin.label', label),
    el('fieldset', null, el('legend', { 'data-i18n': 'admin.tiers' }, t('admin.tiers')), tierBoxes),
    el('button', { type: 'submit', 'data-i18n': 'desk.save' }, t('desk.save')), line);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    line.textContent = '';
    try {
      await api('POST', '/catalogue', {
        code_from: from.value, code_to: to.value.trim() || null, label: label.value,
        tiers: tierBoxes.map((l) => l.querySelector('input')).filter((i) => i.checked).map((i) => i.value),
      });
      form.reset();
      await load();
    } catch (err) {
      D.showError(line, err);
    }
  });

  section.replaceChildren(D.adminTabs('catalogue'),
    el('h2', { 'data-i18n': 'admin.tab.catalogue' }, t('admin.tab.catalogue')), error, table,
    el('div', { class: 'forms' }, importForm, form));
  await load();
  return render;
}

async function openRecognition(section) {
  const table = el('table', { id: 'admin-recognition' });
  const parts = el('datalist', { id: 'recognition-body-parts' });
  const error = D.alertLine();
  let rules = [];
  const render = () => {
    parts.replaceChildren(...bodyPartOptions());
    table.replaceChildren(D.header(['admin.modality', 'admin.body_part', 'admin.min_tier', 'admin.valid_days', '']),
      el('tbody', null, rules.map((r) => el('tr', { dataset: { rule: r.id } },
        el('td', null, r.modality), bodyPartCell(r.body_part),
        el('td', null, t('desk.tier.' + r.min_tier)), el('td', null, String(r.valid_days)),
        el('td', { class: 'actions' }, D.button('desk.delete', {
          class: 'danger',
          onclick: async () => {
            error.textContent = '';
            try {
              await api('DELETE', '/recognition-rules/' + r.id);
              await load();
            } catch (err) {
              D.showError(error, err);
            }
          },
        }))))));
  };
  const load = async () => {
    rules = await api('GET', '/recognition-rules');
    render();
  };
  const modality = el('input', { name: 'modality', maxlength: '16', required: true, placeholder: 'CT, MR, DX…' });
  const bodyPart = el('input', { name: 'body_part', list: 'recognition-body-parts', autocomplete: 'off', placeholder: 'HEAD, CHEST…' });
  const tier = D.select('min_tier', TIERS.map((x) => [x, t('desk.tier.' + x), 'desk.tier.' + x]));
  const days = el('input', { name: 'valid_days', type: 'number', min: '1', max: '3650', value: '90', required: true });
  const line = D.alertLine();
  const form = el('form', { id: 'recognition-form', class: 'desk-panel' },
    el('h3', { 'data-i18n': 'admin.add_recognition' }, t('admin.add_recognition')),
    D.field('admin.modality', modality), D.field('admin.body_part', bodyPart),
    parts,
    D.field('admin.min_tier', tier), D.field('admin.valid_days', days),
    el('button', { type: 'submit', 'data-i18n': 'desk.save' }, t('desk.save')), line);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    line.textContent = '';
    try {
      await api('POST', '/recognition-rules', {
        modality: modality.value.trim(), body_part: bodyPart.value.trim() || null,
        min_tier: tier.value, valid_days: Number(days.value),
      });
      form.reset();
      await load();
    } catch (err) {
      D.showError(line, err);
    }
  });
  section.replaceChildren(D.adminTabs('recognition'),
    el('h2', { 'data-i18n': 'admin.tab.recognition' }, t('admin.tab.recognition')),
    el('p', { class: 'note', 'data-i18n': 'admin.recognition_help' }, t('admin.recognition_help')), error, table, form);
  await load();
  return render;
}

// Merges of patient records that touch this facility, newest first, each
// with a way to undo one that joined two different people. No patient
// details: the numbers are what the trail and the clinicians name.
async function openMerges(section) {
  const table = el('table', { id: 'admin-merges' });
  const error = D.alertLine();
  let merges = [];
  const undoForm = (m) => {
    const reason = el('input', { name: 'reason', required: true, minlength: '5' });
    const form = el('form', { class: 'inline' }, D.field('admin.merge.undo_reason', reason),
      el('button', { type: 'submit', class: 'danger', 'data-i18n': 'admin.merge.undo' }, t('admin.merge.undo')));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      error.textContent = '';
      try {
        await api('POST', `/patient-merges/${m.id}/undo`, { reason: reason.value });
        await load();
      } catch (err) {
        D.showError(error, err);
      }
    });
    return form;
  };
  const render = () => {
    table.replaceChildren(D.header(['col.date', 'admin.merge.kept', 'admin.merge.merged', 'admin.merge.by',
      'admin.merge.evidence', 'admin.merge.moved', '']),
    el('tbody', null, merges.map((m) => el('tr', { dataset: { merge: m.id } },
      el('td', null, when(m.merged_at)),
      el('td', null, '#' + m.kept_patient_id), el('td', null, '#' + m.merged_patient_id),
      el('td', null, `${m.merged_by_name} · ${m.facility_name}`),
      el('td', null, t('identity.evidence.' + m.evidence), m.note ? el('br') : null, m.note),
      el('td', null, String(m.moved)),
      el('td', { class: 'actions' }, m.undone_at
        ? t('admin.merge.undone', { when: when(m.undone_at), reason: m.undo_reason || '' })
        : undoForm(m))))));
    if (merges.length === 0) table.appendChild(el('caption', null, t('admin.merges_none')));
  };
  const load = async () => {
    merges = await api('GET', '/patient-merges');
    render();
  };
  section.replaceChildren(D.adminTabs('merges'),
    el('h2', { 'data-i18n': 'admin.tab.merges' }, t('admin.tab.merges')),
    el('p', { class: 'note', 'data-i18n': 'admin.merges_help' }, t('admin.merges_help')), error, table);
  await load();
  return render;
}

let rerender = null;
document.addEventListener('ferry:language', () => { if (rerender) rerender(); });

/** @type {import('../lib/ferry.js').ScreenModule} */
export const adminSetupScreen = {
  async open(section, match) {
    const open = {
      routes: openRoutes, catalogue: openCatalogue, recognition: openRecognition, merges: openMerges,
    }[match[1]];
    rerender = await open(section);
  },
  close() { rerender = null; },
};
