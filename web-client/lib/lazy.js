// @ts-check
// Modules loaded when first needed: each screen, the call, the home. The
// first page a browser loads then carries the shell and not all 70 modules
// (on an island link, 1 Mbit/s, every 100 KB is most of a second).
//
// A module loaded with import() names its own imports only once it has
// arrived: one round trip per level of its import tree. The server writes
// into index.html, as JSON in #module-graph, every module each lazily
// loaded one needs beyond those the page loaded already; `load` asks for
// all of them at once (modulepreload), then imports the module.

/** @type {Record<string, string[]> | null} */
let graph = null;

// Read on first use: this module may run, from lib/opening.js, before the
// parser has reached the graph at the end of the page's head.
/** @returns {Record<string, string[]>} */
function modulesOf() {
  if (graph) return graph;
  try {
    const data = document.getElementById('module-graph');
    graph = data ? JSON.parse(data.textContent || '{}') : {};
  } catch {
    // Without the graph modules still load, one level at a time.
    graph = {};
  }
  return graph || {};
}

// The client's root: this file is lib/lazy.js under it.
const ROOT = new URL('../', import.meta.url);

/** @type {Set<string>} */
const asked = new Set();

/**
 * Asks at once for `path` (from the client's root, e.g. `screens/patient.js`)
 * and every module it imports, without running any.
 * @param {string} path
 */
export function preload(path) {
  for (const module of modulesOf()[path] || [path]) {
    if (asked.has(module)) continue;
    asked.add(module);
    const link = document.createElement('link');
    link.rel = 'modulepreload';
    link.href = new URL(module, ROOT).href;
    document.head.appendChild(link);
  }
}

/**
 * The module at `path` (from the client's root), its imports asked for at once.
 * @param {string} path
 * @returns {Promise<any>}
 */
export function load(path) {
  preload(path);
  return import(new URL(path, ROOT).href);
}
