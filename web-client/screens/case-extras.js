// @ts-check
// Ferry web client: two parts of the case page (consultation.js) kept
// apart from it. Marking the booked patient a no-show (the expert, or the
// expert's schedulers, once the slot has begun: the server's
// `POST /bookings/{id}/no-show`, after which the consultation can be booked
// again), and the call's invitees: the consultation's clinician and expert
// list, invite and withdraw whom else may join its call
// (`/consultations/{id}/invitees`).

import { api, el, t } from '../lib/ferry.js';
import { roleNames } from '../lib/terms.js';

/**
 * The no-show control for the case's booking, or nothing.
 * @param {any} booking the case's booking (consultation.js `bookingOf`)
 * @param {any} c the consultation
 * @param {import('../lib/ferry.js').Me} me
 * @param {(fn: () => Promise<unknown>) => Promise<void>} act the page's way
 *   of running a step (refused if the page shows another patient by now)
 * @returns {HTMLElement[]}
 */
function bookingActions(booking, c, me, act) {
  if (!booking || booking.status !== 'booked' || Date.parse(booking.start) > Date.now()) return [];
  const mayMark = c.expert_id === me.id || me.roles.includes('scheduler');
  if (!mayMark) return [];
  const confirm = el('button', { type: 'button', class: 'danger', id: 'case-no-show-confirm', hidden: true,
    onclick: () => act(() => api('POST', `/bookings/${booking.id}/no-show`)) }, t('case.no_show_confirm'));
  const opener = el('button', { type: 'button', id: 'case-no-show', onclick: () => {
    confirm.hidden = !confirm.hidden;
  } }, t('case.no_show'));
  return [opener, confirm];
}

/**
 * Fills `box` with the call's invitees and, for the consultation's two
 * parties, a form to invite a colleague and a button to withdraw each
 * invitation. Shows nothing to anyone else (the server answers 403).
 * @param {HTMLElement} box
 * @param {any} c the consultation
 * @param {import('../lib/ferry.js').Me} me
 * @returns {Promise<void>}
 */
async function mountInvitees(box, c, me) {
  const isParty = c.requested_by === me.id || c.expert_id === me.id;
  if (!isParty || ['completed', 'cancelled', 'declined'].includes(c.status)) {
    box.replaceChildren();
    return;
  }
  const error = el('p', { class: 'error', role: 'alert' });
  const list = el('ul', { class: 'invitees' });
  const draw = (invitees) => {
    list.replaceChildren(...invitees.map((i) => el('li', { dataset: { invitee: i.user_id } },
      el('strong', null, i.display_name), i.note ? el('span', { class: 'muted' }, ' · ', i.note) : '', ' ',
      el('button', { type: 'button', class: 'uninvite', onclick: async () => {
        error.textContent = '';
        try {
          await api('DELETE', `/consultations/${c.id}/invitees/${i.user_id}`);
          draw(await api('GET', `/consultations/${c.id}/invitees`));
        } catch (err) {
          error.textContent = err.message;
        }
      } }, t('case.uninvite')))));
    if (!invitees.length) list.replaceChildren(el('li', { class: 'muted none' }, t('case.no_invitees')));
  };
  // Whom the server lets them invite: clinicians, experts and radiologists
  // of every member, but the two of them (a radiologist to show the scan,
  // a colleague who knows the patient).
  const [invitees, candidates] = await Promise.all([
    api('GET', `/consultations/${c.id}/invitees`),
    api('GET', `/consultations/${c.id}/invitees/candidates`).catch(() => []),
  ]);
  const invited = new Set(invitees.map((i) => i.user_id));
  const who = el('select', { name: 'user_id', required: true, 'aria-label': t('case.invite_who') },
    el('option', { value: '' }, t('case.invite_who')),
    ...candidates.filter((p) => !invited.has(p.user_id))
      .map((p) => el('option', { value: p.user_id }, `${p.display_name} · ${roleNames(p.roles)} · ${p.facility_name}`)));
  const note = el('input', { name: 'note', maxlength: 200, 'aria-label': t('case.invite_note') });
  note.placeholder = t('case.invite_note');
  const form = el('form', { class: 'inline-form', id: 'invite-form' }, who, ' ', note, ' ',
    el('button', { type: 'submit' }, t('case.invite')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    try {
      draw(await api('POST', `/consultations/${c.id}/invitees`, { user_id: Number(who.value), note: note.value }));
      form.reset();
    } catch (err) {
      error.textContent = err.message;
    }
  });
  draw(invitees);
  box.replaceChildren(el('h3', null, t('case.invitees')), el('p', { class: 'muted' }, t('case.invitees_hint')),
    list, form, error);
}

export { bookingActions, mountInvitees };
