// @ts-check
// A new page's first requests. index.html loads this module on its own
// (async), ahead of the shell: it needs only a few small modules, so on
// an island link it runs about when the shell starts arriving rather than
// once all of it (the words of both languages among it) has. It asks, with
// the session check index.html already asked for, for the code of the
// screen in the address and that screen's first answers; for the home,
// those of the roles the last user of this browser signed in with. Without
// a session they are refused and forgotten, and what any of them may show
// is decided by the server, as always.

import { prefetch } from './early.js';
import * as Lazy from './lazy.js';
import { BELL, CALL_PATH, HOME, homeEarly, screens } from '../screens/index.js';

const ROLES_KEY = 'ferry.roles';

/**
 * Kept for the next new page: only which home to ask for early.
 * @param {string[]} roles
 */
export function rememberRoles(roles) {
  try {
    localStorage.setItem(ROLES_KEY, JSON.stringify(roles));
  } catch (_) {
    // Without storage the next page asks once signed in, as ever.
  }
}

/** Signed out: the next page asks for nothing before the sign-in. */
export function forgetRoles() {
  try {
    localStorage.removeItem(ROLES_KEY);
  } catch (_) {
    // Nothing kept, nothing to forget.
  }
}

/** @returns {string[]} */
function rememberedRoles() {
  try {
    const roles = JSON.parse(localStorage.getItem(ROLES_KEY) || '[]');
    return Array.isArray(roles) ? roles.filter((role) => typeof role === 'string') : [];
  } catch (_) {
    return [];
  }
}

const opening = screens.find((screen) => screen.path.test(location.hash));
const match = opening && location.hash.match(opening.path);
const roles = rememberedRoles();
if (opening && match) {
  Lazy.preload(opening.module);
  for (const path of opening.early ? opening.early(match, roles) : []) prefetch(path);
} else if (!CALL_PATH.test(location.hash)) {
  // The home and the bell, for a signed-in user; on the sign-in page, what
  // follows it.
  Lazy.preload(HOME);
  Lazy.preload(BELL);
  if (roles.length) for (const path of homeEarly(roles)) prefetch(path);
}
