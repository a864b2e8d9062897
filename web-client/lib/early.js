// @ts-check
// Answers asked for before the code that wants them has run. A new page
// (lib/opening.js) asks for the first requests of the screen in its
// address as soon as it has a few small modules, rather than once the
// whole shell has arrived and the session check has come back: on an
// island link (400 ms a round trip) that is one or two round trips less.
// Each answer is taken once, by the first `api('GET', path)` for the same
// path (lib/ferry.js), and only while fresh; signing out forgets them all.
// A module of its own, importing nothing, so that the page can run it
// before the rest of the shell (the words of both languages among it).

/** @type {Map<string, {at: number, answer: Promise<Response>}>} */
const kept = new Map();
const KEPT_MS = 10000;

/**
 * Asks for `GET /api/v1{path}` now, for `take` to hand over later.
 * @param {string} path
 */
export function prefetch(path) {
  if (kept.has(path)) return;
  const answer = fetch('/api/v1' + path, { method: 'GET' });
  // Its failure belongs to whoever takes it, or to nobody.
  answer.catch(() => {});
  kept.set(path, { at: Date.now(), answer });
}

/**
 * The answer `prefetch` asked for, once, while fresh.
 * @param {string} path
 * @returns {Promise<Response> | null}
 */
export function take(path) {
  const asked = kept.get(path);
  kept.delete(path);
  return asked && Date.now() - asked.at < KEPT_MS ? asked.answer : null;
}

/** Drops every answer not taken yet. */
export function forget() {
  kept.clear();
}
