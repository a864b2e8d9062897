// @ts-check
// Ferry web client: modality registration, an administration tab. The
// scanners, ultrasound carts and ECG machines of a facility that push
// images to Ferry over DIMSE, each known by its calling AE title (unique in
// the consortium), with its type, the hosts it may call from, the port of
// its own storage SCP and how many associations it may hold at once. The
// list sits above the form; "Edit" loads a row into the form.

import { api, el, t, when } from '../lib/ferry.js';
import * as D from './desk.js';

/**
 * The message key for a refusal, or null to show the server's own words.
 * @param {any} err
 * @returns {string | null}
 */
function errorKey(err) {
  const error = err && err.body && err.body.error;
  if (!error) return null;
  const field = error.details && error.details.field;
  switch (error.code) {
    case 'ae_title_taken': return 'modality.error.ae_title_taken';
    case 'invalid_ae_title': return 'dicom.error.invalid_ae_title';
    case 'invalid_host': return 'modality.error.invalid_host';
    case 'invalid_modality': return 'dicom.error.invalid_modality';
    case 'invalid_max_associations': return 'modality.error.max_associations';
    case 'not_found': return 'dicom.error.not_found';
    case 'invalid_field': return field === 'port' ? 'dicom.error.port' : null;
    default: return null;
  }
}

function showError(line, err) {
  const key = errorKey(err);
  if (key) line.textContent = t(key);
  else D.showError(line, err);
}

/**
 * The body of `POST /facilities/{id}/modalities` and `PUT /modalities/{id}`.
 * @param {{ae_title: string, modality_type: string, hosts: string, port: string,
 *   max_associations: string, description: string}} form
 */
function modalityBody(form) {
  return {
    ae_title: form.ae_title.trim(),
    modality_type: form.modality_type.trim().toUpperCase(),
    allowed_hosts: form.hosts.split(/[\s,，]+/).map((h) => h.trim()).filter(Boolean),
    port: form.port.trim() ? Number(form.port) : null,
    max_associations: form.max_associations.trim() ? Number(form.max_associations) : null,
    description: form.description.trim(),
  };
}

let page = null;
let openings = 0;

async function open(section) {
  const opening = ++openings;
  const facilities = await api('GET', '/facilities');
  if (opening !== openings) return;
  facilities.sort((a, b) => a.name.localeCompare(b.name));
  const facility = D.select('facility_id', facilities.map((f) => [f.id, f.name]));
  facility.id = 'modality-facility';
  const table = el('table', { id: 'modalities' });
  const empty = el('p', { class: 'muted empty', hidden: true, 'data-i18n': 'modality.none' }, t('modality.none'));
  const error = D.alertLine();
  const ae = el('input', { name: 'ae_title', required: true, maxlength: '16', autocomplete: 'off' });
  const type = el('input', { name: 'modality_type', maxlength: '16', autocomplete: 'off', placeholder: 'CT, MR, US, DX, ECG…' });
  const hosts = el('input', { name: 'allowed_hosts', autocomplete: 'off', placeholder: '10.2.0.15, 10.2.1.0/24' });
  const port = el('input', { name: 'port', type: 'number', min: '1', max: '65535' });
  const most = el('input', { name: 'max_associations', type: 'number', min: '1', max: '1000' });
  const description = el('input', { name: 'description', maxlength: '200' });
  const title = el('h3');
  const save = el('button', { type: 'submit', 'data-i18n': 'desk.save' }, t('desk.save'));
  const line = D.alertLine();
  let editing = null;
  const stopEditing = D.button('desk.cancel', { class: 'cancel-edit', hidden: true, onclick: () => clear() });
  const form = el('form', { id: 'modality-form', class: 'desk-panel' }, title,
    D.field('modality.ae_title', ae), D.field('modality.type', type), D.field('modality.hosts', hosts),
    el('p', { class: 'note', 'data-i18n': 'modality.hosts_help' }, t('modality.hosts_help')),
    D.field('modality.port', port), D.field('modality.max_associations', most),
    D.field('dicom.col.description', description), save, ' ', stopEditing, line);
  let list = [];
  const chosen = () => Number(facility.value);
  const names = new Map(facilities.map((f) => [f.id, f.name]));

  const heading = () => {
    title.textContent = editing ? t('modality.edit', { ae: editing.ae_title })
      : t('modality.add', { facility: names.get(chosen()) || '' });
  };
  const clear = () => {
    editing = null;
    form.reset();
    line.textContent = '';
    stopEditing.hidden = true;
    heading();
  };
  const edit = (m) => {
    editing = m;
    ae.value = m.ae_title;
    type.value = m.modality_type || '';
    hosts.value = m.allowed_hosts.join(', ');
    port.value = m.port ? String(m.port) : '';
    most.value = m.max_associations ? String(m.max_associations) : '';
    description.value = m.description || '';
    stopEditing.hidden = false;
    line.textContent = '';
    heading();
    ae.focus();
  };
  const render = () => {
    heading();
    table.replaceChildren(D.header(['modality.ae_title', 'modality.type', 'modality.hosts', 'modality.port',
      'modality.max_associations', 'dicom.col.description', 'dicom.col.added', '']),
    el('tbody', null, list.map((m) => el('tr', { dataset: { modality: m.id } },
      el('td', { class: 'ae' }, m.ae_title), el('td', { class: 'type' }, m.modality_type || '—'),
      el('td', { class: 'hosts' }, m.allowed_hosts.length ? m.allowed_hosts.join(', ') : t('modality.any_host')),
      el('td', { class: 'port' }, m.port ? String(m.port) : '—'),
      el('td', null, m.max_associations ? String(m.max_associations) : t('modality.node_default')),
      el('td', null, m.description), el('td', null, when(m.created_at)),
      el('td', { class: 'actions' }, D.button('desk.edit', { class: 'edit', onclick: () => edit(m) }), ' ',
        D.button('desk.delete', { class: 'danger delete', onclick: () => remove(m) }))))));
    table.hidden = list.length === 0;
    empty.hidden = list.length > 0;
  };
  const reload = async () => {
    const id = chosen();
    const rows = await api('GET', `/facilities/${id}/modalities`);
    if (chosen() !== id || !page) return;
    list = rows;
    render();
  };
  const remove = async (m) => {
    if (!window.confirm(t('modality.confirm_delete', { ae: m.ae_title, facility: names.get(m.facility_id) || '' }))) return;
    error.textContent = '';
    try {
      await api('DELETE', '/modalities/' + m.id);
    } catch (err) {
      showError(error, err);
    }
    if (editing && editing.id === m.id) clear();
    await reload().catch((err) => showError(error, err));
  };
  facility.addEventListener('change', () => {
    clear();
    error.textContent = '';
    reload().catch((err) => showError(error, err));
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    line.textContent = '';
    save.disabled = true;
    const body = modalityBody({ ae_title: ae.value, modality_type: type.value, hosts: hosts.value,
      port: port.value, max_associations: most.value, description: description.value });
    try {
      if (editing) await api('PUT', '/modalities/' + editing.id, body);
      else await api('POST', `/facilities/${chosen()}/modalities`, body);
      clear();
      await reload();
    } catch (err) {
      showError(line, err);
    } finally {
      save.disabled = false;
    }
  });
  section.replaceChildren(D.adminTabs('modalities'),
    el('h2', { 'data-i18n': 'admin.tab.modalities' }, t('admin.tab.modalities')),
    el('p', { class: 'note', 'data-i18n': 'modality.help' }, t('modality.help')),
    el('div', { class: 'toolbar' }, D.field('dicom.facility', facility, { class: 'inline' })),
    error, table, empty, form);
  page = { section, render };
  await reload();
}

function relabel() {
  if (page && !page.section.hidden) page.render();
}
document.addEventListener('ferry:language', relabel);

/** @type {import('../lib/ferry.js').ScreenModule} */
export const adminModalitiesScreen = {
  open,
  close() {
    openings += 1;
    page = null;
  },
};

export { errorKey, modalityBody };
