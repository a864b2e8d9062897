// @ts-check
// Ferry web client: the worklist's reassign control. A reading lead hands
// an open request to another radiologist of the facility
// (`POST /reading-requests/{id}/reassign`); the readers come from
// `GET /readers`, which answers 403 to anyone who is not a lead, who then
// sees no control at all.

import { api, el, t } from '../lib/ferry.js';

const OPEN = ['requested', 'accepted', 'in-progress'];

/**
 * The facility's readers if the user is a reading lead, else null.
 * @returns {Promise<{user_id: number, display_name: string}[] | null>}
 */
async function readers() {
  try {
    return await api('GET', '/readers');
  } catch (_) {
    return null;
  }
}

/**
 * A "Reassign" control for one open request, or nothing.
 * @param {any} request a worklist row
 * @param {{user_id: number, display_name: string}[] | null} people from `readers()`
 * @param {(err?: any) => unknown} done called after the change (with the
 *   error, if the server refused it)
 * @returns {HTMLElement | null}
 */
function control(request, people, done) {
  if (!people || !OPEN.includes(request.status)) return null;
  const others = people.filter((p) => p.user_id !== request.reader_id);
  if (!others.length) return null;
  const pick = el('select', { name: 'reader_id', 'aria-label': t('worklist.reassign_to') },
    ...others.map((p) => el('option', { value: p.user_id }, p.display_name)));
  const go = el('button', { type: 'button', dataset: { action: 'reassign' } }, t('worklist.reassign'));
  go.addEventListener('click', async () => {
    go.disabled = true;
    try {
      await api('POST', `/reading-requests/${request.id}/reassign`, { reader_id: Number(pick.value) });
      done();
    } catch (err) {
      go.disabled = false;
      done(err);
    }
  });
  return el('span', { class: 'reassign' }, pick, ' ', go);
}

export { readers, control };
