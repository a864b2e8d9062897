// @ts-check
// Ferry web client: administration of facilities (tier, parent hospital,
// time zone) and of user accounts (roles, specialties, deactivation). Each
// list sits above the form that adds to it; "Edit" loads a row into the form.

import { api, el, t } from '../lib/ferry.js';
import { roleNames, specialtyCode, specialtyName } from '../lib/terms.js';
import * as D from './desk.js';

const TIERS = ['tertiary', 'secondary', 'primary', 'village'];
const ROLES = ['admin', 'scheduler', 'clinician', 'expert', 'radiologist'];

function zoneList() {
  const list = el('datalist', { id: 'time-zones' });
  const zones = Intl.supportedValuesOf ? Intl.supportedValuesOf('timeZone') : ['Asia/Shanghai', 'UTC'];
  for (const zone of zones) list.appendChild(el('option', { value: zone }));
  return list;
}

// ---- Facilities ----------------------------------------------------

let facilities = null;

function facilityForm(onSaved) {
  const name = el('input', { name: 'name', required: true });
  const tier = D.select('tier', TIERS.map((x) => [x, t('desk.tier.' + x), 'desk.tier.' + x]));
  const parent = el('select', { name: 'parent_id' });
  const zone = el('input', { name: 'time_zone', list: 'time-zones', value: 'Asia/Shanghai', required: true });
  const contact = el('input', { name: 'contact' });
  const title = el('h3', null, t('admin.add_facility'));
  const stop = D.button('desk.cancel', { hidden: true });
  const line = D.alertLine();
  const form = el('form', { id: 'facility-form', class: 'desk-panel' }, title,
    D.field('col.name', name), D.field('col.tier', tier), D.field('admin.parent', parent),
    D.field('col.zone', zone), D.field('admin.contact', contact), zoneList(),
    el('button', { type: 'submit', 'data-i18n': 'desk.save' }, t('desk.save')), ' ', stop, line);
  let editing = null;
  const parents = (self) => {
    parent.replaceChildren(el('option', { value: '' }, t('desk.none')),
      ...facilities.filter((f) => f.id !== self).map((f) => el('option', { value: f.id }, f.name)));
  };
  const reset = () => {
    editing = null;
    form.reset();
    parents(null);
    stop.hidden = true;
    title.textContent = t('admin.add_facility');
  };
  stop.addEventListener('click', reset);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    line.textContent = '';
    const body = {
      name: name.value, tier: tier.value, time_zone: zone.value, contact: contact.value,
      parent_id: parent.value ? Number(parent.value) : null,
    };
    try {
      await (editing ? api('PATCH', '/facilities/' + editing, body) : api('POST', '/facilities', body));
      reset();
      await onSaved();
      parents(null);
    } catch (err) {
      D.showError(line, err);
    }
  });
  form.edit = (f) => {
    editing = f.id;
    parents(f.id);
    name.value = f.name;
    tier.value = f.tier;
    parent.value = f.parent_id || '';
    zone.value = f.time_zone;
    contact.value = f.contact;
    stop.hidden = false;
    title.textContent = t('admin.edit_facility', { name: f.name });
    name.focus();
  };
  form.reset_ = reset;
  return form;
}

async function openFacilities(section) {
  const table = el('table', { id: 'admin-facilities' });
  let form = null;
  const render = () => {
    const names = new Map(facilities.map((f) => [f.id, f.name]));
    table.replaceChildren(D.header(['col.name', 'col.tier', 'admin.parent', 'col.zone', 'admin.contact', '']),
      el('tbody', null, facilities.map((f) => el('tr', { dataset: { facility: f.id } },
        el('td', null, f.name), el('td', null, t('desk.tier.' + f.tier)),
        el('td', null, names.get(f.parent_id) || ''), el('td', null, f.time_zone), el('td', null, f.contact),
        el('td', { class: 'actions' }, D.button('desk.edit', { onclick: () => form.edit(f) }))))));
  };
  const load = async () => {
    facilities = await api('GET', '/facilities');
    render();
  };
  facilities = await api('GET', '/facilities');
  form = facilityForm(load);
  form.reset_();
  section.replaceChildren(D.adminTabs('facilities'),
    el('h2', { 'data-i18n': 'admin.tab.facilities' }, t('admin.tab.facilities')), table, form);
  render();
  return render;
}

// ---- Users ---------------------------------------------------------

function userForm(allFacilities, onSaved) {
  const username = el('input', { name: 'username', required: true, autocomplete: 'off' });
  const display = el('input', { name: 'display_name', required: true });
  const password = el('input', { name: 'password', type: 'password', autocomplete: 'new-password' });
  const facility = D.select('facility_id', allFacilities.map((f) => [f.id, f.name]));
  const roleBoxes = ROLES.map((r) => el('label', { class: 'inline' },
    el('input', { type: 'checkbox', name: 'roles', value: r }), ' ', D.words('desk.role.' + r)));
  const specialties = el('input', { name: 'specialties', 'data-i18n-placeholder': 'admin.specialties_hint' });
  specialties.placeholder = t('admin.specialties_hint');
  const active = el('input', { type: 'checkbox', name: 'active', checked: true });
  const activeLabel = el('label', { hidden: true }, active, ' ', D.words('admin.active'));
  const title = el('h3', null, t('admin.add_user'));
  const stop = D.button('desk.cancel', { hidden: true });
  const line = D.alertLine();
  const form = el('form', { id: 'user-form', class: 'desk-panel' }, title,
    D.field('auth.username', username), D.field('admin.display_name', display),
    D.field('admin.password', password), D.field('admin.facility', facility),
    el('fieldset', null, el('legend', { 'data-i18n': 'admin.roles' }, t('admin.roles')), roleBoxes),
    D.field('admin.specialties', specialties), activeLabel,
    el('button', { type: 'submit', 'data-i18n': 'desk.save' }, t('desk.save')), ' ', stop, line);
  let editing = null;
  const reset = () => {
    editing = null;
    form.reset();
    username.disabled = false;
    activeLabel.hidden = true;
    stop.hidden = true;
    title.textContent = t('admin.add_user');
  };
  stop.addEventListener('click', reset);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    line.textContent = '';
    const body = {
      display_name: display.value,
      facility_id: Number(facility.value),
      roles: roleBoxes.map((l) => l.querySelector('input')).filter((i) => i.checked).map((i) => i.value),
      specialties: specialties.value.split(/[,，、]/).map((s) => s.trim()).filter(Boolean).map(specialtyCode),
    };
    try {
      if (editing) {
        if (password.value) body.password = password.value;
        body.active = active.checked;
        await api('PATCH', '/users/' + editing, body);
      } else {
        Object.assign(body, { username: username.value, password: password.value });
        await api('POST', '/users', body);
      }
      reset();
      await onSaved();
    } catch (err) {
      D.showError(line, err);
    }
  });
  form.edit = (u) => {
    editing = u.id;
    username.value = u.username;
    username.disabled = true;
    display.value = u.display_name;
    password.value = '';
    facility.value = String(u.facility_id);
    for (const label of roleBoxes) {
      const box = label.querySelector('input');
      box.checked = u.roles.includes(box.value);
    }
    specialties.value = u.specialties.map(specialtyName).join(', ');
    active.checked = u.active;
    activeLabel.hidden = false;
    stop.hidden = false;
    title.textContent = t('admin.edit_user', { name: u.username });
    display.focus();
  };
  return form;
}

async function openUsers(section) {
  const allFacilities = await api('GET', '/facilities');
  const filter = D.select('facility', [['', t('desk.all'), 'desk.all']].concat(allFacilities.map((f) => [f.id, f.name])));
  filter.id = 'users-facility';
  const table = el('table', { id: 'admin-users' });
  const error = D.alertLine();
  let users = [];
  let form = null;
  const render = () => {
    table.replaceChildren(D.header(['auth.username', 'admin.display_name', 'admin.facility', 'admin.roles',
      'admin.specialties', 'admin.active', '']),
    el('tbody', null, users.map((u) => el('tr', { dataset: { user: u.id }, class: u.active ? null : 'inactive' },
      el('td', null, u.username), el('td', null, u.display_name), el('td', null, u.facility_name),
      el('td', null, roleNames(u.roles)), el('td', null, u.specialties.map(specialtyName).join(', ')),
      el('td', null, t(u.active ? 'desk.yes' : 'desk.no')),
      el('td', { class: 'actions' }, D.button('desk.edit', { onclick: () => form.edit(u) }), ' ',
        D.button(u.active ? 'admin.deactivate' : 'admin.reactivate', {
          class: u.active ? 'danger' : null,
          onclick: async () => {
            error.textContent = '';
            try {
              await api('PATCH', '/users/' + u.id, { active: !u.active });
              await load();
            } catch (err) {
              D.showError(error, err);
            }
          },
        }))))));
  };
  const load = async () => {
    users = await api('GET', '/users' + (filter.value ? '?facility_id=' + filter.value : ''));
    users.sort((a, b) => a.username.localeCompare(b.username));
    render();
  };
  filter.addEventListener('change', () => load().catch((err) => D.showError(error, err)));
  form = userForm(allFacilities, load);
  section.replaceChildren(D.adminTabs('users'),
    el('h2', { 'data-i18n': 'admin.tab.users' }, t('admin.tab.users')),
    el('div', { class: 'toolbar' }, D.field('admin.facility', filter, { class: 'inline' })), error, table, form);
  await load();
  return render;
}

let rerender = null;
document.addEventListener('ferry:language', () => { if (rerender) rerender(); });

/** @type {import('../lib/ferry.js').ScreenModule} */
export const adminScreen = {
  async open(section, match) {
    rerender = await (match[1] === 'users' ? openUsers(section) : openFacilities(section));
  },
  close() { rerender = null; },
};
