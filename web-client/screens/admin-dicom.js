// @ts-check
// Ferry web client: the DICOM network, an administration tab. A facility's
// destinations (the storage SCPs a C-MOVE may name, which forwarding also
// sends to), the forwarding rules of the whole consortium, and the queue
// (admin-dicom-outbox.js). A rule may forward to any facility's
// destination, so every facility's destinations are read once on opening;
// the facility picker only chooses whose list and form are shown.

import { api, el, t, when } from '../lib/ferry.js';
import { bodyPartName } from '../lib/terms.js';
import * as D from './desk.js';
import { outboxPart } from './admin-dicom-outbox.js';

/**
 * The message key for a refusal from these endpoints, or null to show the
 * server's own message.
 * @param {any} err
 * @returns {string | null}
 */
function errorKey(err) {
  const error = err && err.body && err.body.error;
  if (!error) return null;
  const field = error.details && error.details.field;
  switch (error.code) {
    case 'ae_title_taken':
    case 'invalid_ae_title':
    case 'invalid_host':
    case 'invalid_modality':
    case 'not_found':
      return 'dicom.error.' + error.code;
    case 'invalid_field':
      return field === 'port' ? 'dicom.error.port' : null;
    case 'invalid_reference':
      return { facility_id: 'dicom.error.no_facility', destination_id: 'dicom.error.no_destination',
        reading_route_id: 'dicom.error.no_route' }[field] || null;
    default:
      return null;
  }
}

/** Shows a refusal in the user's words where there are some. @param {HTMLElement} line @param {any} err */
function showError(line, err) {
  const key = errorKey(err);
  if (key) line.textContent = t(key);
  else D.showError(line, err);
}

/**
 * The body of `POST /facilities/{id}/dicom-destinations`. `tls` is sent
 * only when set: false is its default.
 * @param {{ae_title: string, host: string, port: string, description: string, tls: boolean}} form
 */
function destinationBody(form) {
  /** @type {Record<string, any>} */
  const body = {
    ae_title: form.ae_title.trim(), host: form.host.trim(), port: Number(form.port),
    description: form.description.trim(),
  };
  if (form.tls) body.tls = true;
  return body;
}

/**
 * The body of `POST /forwarding-rules`: '' is "every" (or no route).
 * @param {{facility: string, modality: string, route: string, destination: string}} form
 */
function ruleBody(form) {
  /** @type {Record<string, any>} */
  const body = {
    facility_id: form.facility ? Number(form.facility) : null,
    modality: form.modality.trim().toUpperCase() || null,
    destination_id: Number(form.destination),
  };
  if (form.route) body.reading_route_id = Number(form.route);
  return body;
}

/**
 * A reading route in words: whose studies, of what, read where.
 * @param {any} route a `GET /reading-routes` row
 * @param {Map<number, string>} names facility names by id
 */
function routeLabel(route, names) {
  const from = route.sending_facility_id
    ? names.get(route.sending_facility_id) || '#' + route.sending_facility_id
    : t('dicom.any_facility');
  return t('dicom.route_label', {
    from, modality: route.modality || t('dicom.any_modality'),
    body_part: route.body_part ? bodyPartName(route.body_part) : t('dicom.any_body_part'),
    reader: route.reading_facility_name,
  });
}

/**
 * A destination with whose it is and where it listens.
 * @param {any} d a `DestinationView`
 * @param {Map<number, string>} names
 */
function destinationLabel(d, names) {
  return `${d.ae_title} · ${names.get(d.facility_id) || '#' + d.facility_id} (${d.host}:${d.port})`;
}

// What one opening of the page knows, shared by its parts: facilities,
// reading routes, every facility's destinations, and the parts themselves.
// Each opening has its own, so an answer arriving after the page was left
// changes only what is no longer shown.
/** @type {any} */
let page = null;
let openings = 0;

async function reloadDestinations(ctx, facilityId) {
  const list = await api('GET', `/facilities/${facilityId}/dicom-destinations`);
  ctx.destinations.set(facilityId, list);
}

function destinationById(ctx, id) {
  for (const list of ctx.destinations.values()) {
    const found = list.find((d) => d.id === id);
    if (found) return found;
  }
  return null;
}

// ---- A facility's destinations ---------------------------------------

function destinationsPart(ctx, me) {
  const { facilities, names } = ctx;
  const own = facilities.some((f) => f.id === me.facility_id) ? me.facility_id : facilities[0] && facilities[0].id;
  const facility = D.select('facility', facilities.map((f) => [f.id, f.name]), own);
  facility.id = 'dicom-facility';
  const chosen = () => Number(facility.value);
  const table = el('table', { id: 'dicom-destinations' });
  const empty = el('p', { class: 'muted empty', hidden: true, 'data-i18n': 'dicom.destinations_none' },
    t('dicom.destinations_none'));
  const error = D.alertLine();

  const ae = el('input', { name: 'ae_title', required: true, maxlength: '16', autocomplete: 'off', spellcheck: 'false' });
  const host = el('input', { name: 'host', required: true, autocomplete: 'off', spellcheck: 'false', placeholder: 'pacs.example.org' });
  const port = el('input', { name: 'port', type: 'number', min: '1', max: '65535', required: true, placeholder: '104' });
  const description = el('input', { name: 'description' });
  const tls = el('input', { name: 'tls', type: 'checkbox' });
  const title = el('h3');
  const save = el('button', { type: 'submit', 'data-i18n': 'desk.save' }, t('desk.save'));
  const line = D.alertLine();
  const form = el('form', { id: 'destination-form', class: 'desk-panel' }, title,
    D.field('dicom.col.ae_title', ae), D.field('dicom.field.host', host), D.field('dicom.field.port', port),
    D.field('dicom.col.description', description),
    el('label', null, tls, ' ', D.words('dicom.field.tls')), save, line);

  const render = () => {
    const id = chosen();
    const list = ctx.destinations.get(id) || [];
    title.textContent = t('dicom.add_destination', { facility: names.get(id) || '' });
    table.replaceChildren(D.header(['dicom.col.ae_title', 'dicom.col.host', 'dicom.col.port', 'dicom.col.tls',
      'dicom.col.description', 'dicom.col.added', '']),
    el('tbody', null, list.map((d) => el('tr', { dataset: { destination: d.id } },
      el('td', null, d.ae_title), el('td', null, d.host), el('td', null, String(d.port)),
      el('td', { class: 'tls' }, t(d.tls ? 'desk.yes' : 'desk.no')),
      el('td', null, d.description), el('td', null, when(d.created_at)),
      el('td', { class: 'actions' }, D.button('desk.delete', { class: 'danger', onclick: () => remove(d) }))))));
    table.hidden = list.length === 0;
    empty.hidden = list.length > 0;
  };

  // Shows `id`'s list afresh, if `id` is still the one chosen by then.
  const reload = async (id) => {
    await reloadDestinations(ctx, id);
    if (chosen() === id) render();
    ctx.rules.render();
  };

  const remove = async (d) => {
    const whose = names.get(d.facility_id) || '';
    if (!window.confirm(t('dicom.confirm_delete_destination', { ae: d.ae_title, facility: whose }))) return;
    error.textContent = '';
    try {
      await api('DELETE', '/dicom-destinations/' + d.id);
    } catch (err) {
      showError(error, err);
    }
    // Gone either way (a 404 is someone else's delete); its rules and
    // queued rows went with it.
    await Promise.all([reload(d.facility_id), ctx.rules.load(), ctx.outbox.load()])
      .catch((err) => showError(error, err));
  };

  // Another facility: nothing typed or said for the last one stays.
  facility.addEventListener('change', () => {
    form.reset();
    line.textContent = '';
    error.textContent = '';
    render();
    reload(chosen()).catch((err) => showError(error, err));
  });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const id = chosen();
    line.textContent = '';
    save.disabled = true;
    try {
      await api('POST', `/facilities/${id}/dicom-destinations`, destinationBody({
        ae_title: ae.value, host: host.value, port: port.value, description: description.value, tls: tls.checked,
      }));
      if (chosen() === id) form.reset();
      await reload(id);
    } catch (err) {
      if (chosen() === id) showError(line, err);
    } finally {
      save.disabled = false;
    }
  });

  const node = el('section', { id: 'dicom-destinations-part' },
    el('h3', { 'data-i18n': 'dicom.destinations' }, t('dicom.destinations')),
    el('p', { class: 'note', 'data-i18n': 'dicom.destinations_help' }, t('dicom.destinations_help')),
    el('div', { class: 'toolbar' }, D.field('dicom.facility', facility, { class: 'inline' })),
    error, table, empty, form);
  return { node, render };
}

// ---- Forwarding rules ------------------------------------------------

function rulesPart(ctx) {
  const { facilities, names } = ctx;
  const table = el('table', { id: 'dicom-rules' });
  const empty = el('p', { class: 'muted empty', hidden: true, 'data-i18n': 'dicom.rules_none' }, t('dicom.rules_none'));
  const error = D.alertLine();
  let rules = [];

  const sending = D.select('facility_id', [['', t('dicom.every_facility'), 'dicom.every_facility']]
    .concat(facilities.map((f) => [f.id, f.name])));
  const modality = el('input', { name: 'modality', maxlength: '16', autocomplete: 'off', placeholder: 'CT, MR, DX…' });
  const route = el('select', { name: 'reading_route_id' });
  const destination = el('select', { name: 'destination_id', required: true });
  const none = el('p', { class: 'note', hidden: true, 'data-i18n': 'dicom.no_destinations' }, t('dicom.no_destinations'));
  const save = el('button', { type: 'submit', 'data-i18n': 'desk.save' }, t('desk.save'));
  const line = D.alertLine();
  const form = el('form', { id: 'forward-rule-form', class: 'desk-panel' },
    el('h3', { 'data-i18n': 'dicom.add_rule' }, t('dicom.add_rule')),
    D.field('dicom.col.sending', sending), D.field('admin.modality', modality),
    D.field('dicom.col.route', route), D.field('dicom.col.destination', destination), none, save, line);

  const routeName = (id) => {
    const found = ctx.routes.find((r) => r.id === id);
    return found ? routeLabel(found, names) : '#' + id;
  };
  const ruleTarget = (rule) => {
    const d = destinationById(ctx, rule.destination_id);
    return d ? destinationLabel(d, names) : rule.destination;
  };
  const summary = (rule) => t('dicom.rule_summary', {
    from: rule.facility_id ? names.get(rule.facility_id) || '#' + rule.facility_id : t('dicom.every_facility'),
    modality: rule.modality || t('dicom.every_modality'), to: ruleTarget(rule),
  });

  // The choices are data and words both: built again, keeping what was chosen.
  const options = () => {
    const routeWas = route.value;
    route.replaceChildren(el('option', { value: '', 'data-i18n': 'desk.none' }, t('desk.none')),
      ...ctx.routes.map((r) => el('option', { value: String(r.id) }, routeLabel(r, names))));
    route.value = ctx.routes.some((r) => String(r.id) === routeWas) ? routeWas : '';
    const destinationWas = destination.value;
    const groups = facilities.map((f) => [f, ctx.destinations.get(f.id) || []]).filter(([, list]) => list.length);
    destination.replaceChildren(...groups.map(([f, list]) => el('optgroup', { label: f.name },
      list.map((d) => el('option', { value: String(d.id) }, `${d.ae_title} (${d.host}:${d.port})`)))));
    if (destination.querySelector(`option[value="${destinationWas}"]`)) destination.value = destinationWas;
    none.hidden = groups.length > 0;
    save.disabled = groups.length === 0;
  };

  const render = () => {
    options();
    table.replaceChildren(D.header(['dicom.col.sending', 'admin.modality', 'dicom.col.route',
      'dicom.col.destination', '']),
    el('tbody', null, rules.map((r) => el('tr', { dataset: { rule: r.id } },
      el('td', null, r.facility_id ? names.get(r.facility_id) || '#' + r.facility_id : t('dicom.every_facility')),
      el('td', null, r.modality || t('dicom.every_modality')),
      el('td', null, r.reading_route_id ? routeName(r.reading_route_id) : t('desk.none')),
      el('td', null, ruleTarget(r)),
      el('td', { class: 'actions' }, D.button('desk.delete', { class: 'danger', onclick: () => remove(r) }))))));
    table.hidden = rules.length === 0;
    empty.hidden = rules.length > 0;
  };

  const load = async () => {
    rules = await api('GET', '/forwarding-rules');
    render();
  };

  const remove = async (r) => {
    if (!window.confirm(t('dicom.confirm_delete_rule', { rule: summary(r) }))) return;
    error.textContent = '';
    try {
      await api('DELETE', '/forwarding-rules/' + r.id);
    } catch (err) {
      showError(error, err);
    }
    await load().catch((err) => showError(error, err));
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    line.textContent = '';
    save.disabled = true;
    try {
      await api('POST', '/forwarding-rules', ruleBody({
        facility: sending.value, modality: modality.value, route: route.value, destination: destination.value,
      }));
      form.reset();
      await load();
    } catch (err) {
      showError(line, err);
    } finally {
      options();
    }
  });

  const node = el('section', { id: 'dicom-rules-part' },
    el('h3', { 'data-i18n': 'dicom.rules' }, t('dicom.rules')),
    el('p', { class: 'note', 'data-i18n': 'dicom.rules_help' }, t('dicom.rules_help')),
    error, table, empty, form);
  return { node, render, load };
}

// ---- The page ----------------------------------------------------------

function relabel() {
  if (!page || page.section.hidden) return;
  page.parts.forEach((part) => part.render());
}

async function open(section, match, me) {
  const opening = ++openings;
  const [facilities, routes] = await Promise.all([api('GET', '/facilities'), api('GET', '/reading-routes')]);
  facilities.sort((a, b) => a.name.localeCompare(b.name));
  const lists = await Promise.all(facilities.map((f) => api('GET', `/facilities/${f.id}/dicom-destinations`)));
  if (opening !== openings) return;
  const ctx = {
    section, facilities, routes, names: new Map(facilities.map((f) => [f.id, f.name])),
    destinations: new Map(facilities.map((f, i) => [f.id, lists[i]])),
  };
  ctx.rules = rulesPart(ctx);
  ctx.outbox = outboxPart();
  const destinations = destinationsPart(ctx, me);
  ctx.parts = [destinations, ctx.rules, ctx.outbox];
  section.replaceChildren(D.adminTabs('dicom'),
    el('h2', { 'data-i18n': 'admin.tab.dicom' }, t('admin.tab.dicom')),
    el('p', { class: 'note', 'data-i18n': 'dicom.help' }, t('dicom.help')),
    destinations.node, ctx.rules.node, ctx.outbox.node);
  destinations.render();
  page = ctx;
  document.addEventListener('ferry:language', relabel);
  await Promise.all([ctx.rules.load(), ctx.outbox.load()]);
}

/** @type {import('../lib/ferry.js').ScreenModule} */
export const adminDicomScreen = {
  open,
  close() {
    openings += 1;
    document.removeEventListener('ferry:language', relabel);
    page = null;
  },
};

export { errorKey, destinationBody, ruleBody, routeLabel, destinationLabel };
