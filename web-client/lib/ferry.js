// Ferry web client: what every screen shares. `Ferry.api` calls the JSON API
// with the session cookie; `Ferry.screen` registers a screen, each in a file
// of its own, which the shell (app.js) opens when the address's hash matches.
'use strict';

(function () {
  const screens = [];

  // The server's error body is `{"error": {"code", "message", ...}}`; the
  // message is what forms show the user.
  async function request(url, options) {
    const response = await fetch(url, options);
    const text = response.status === 204 ? '' : await response.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (_) { data = text; }
    }
    if (!response.ok) {
      const message = data && data.error ? data.error.message : response.statusText;
      throw Object.assign(new Error(message), { status: response.status, body: data });
    }
    return data;
  }

  function api(method, path, body) {
    const options = { method, headers: {} };
    if (body !== undefined) {
      options.headers['Content-Type'] = 'application/json';
      options.body = JSON.stringify(body);
    }
    return request('/api/v1' + path, options);
  }

  // A DOM element: el('td', {class: 'x', dataset: {id: 1}, onclick: f}, 'text', child).
  function el(tag, attributes, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'dataset') {
        Object.assign(element.dataset, value);
      } else if (name.startsWith('on')) {
        element.addEventListener(name.slice(2), value);
      } else if (name === 'class') {
        element.className = value;
      } else if (name in element && typeof value !== 'string') {
        element[name] = value;
      } else {
        element.setAttribute(name, value === true ? '' : value);
      }
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      element.append(child instanceof Node ? child : String(child));
    }
    return element;
  }

  function cell(row, content) {
    const td = el('td', null, content);
    row.appendChild(td);
    return td;
  }

  // A screen: {name, path: RegExp over location.hash, roles?: [...],
  // nav?: {key, href}, messages?: {en: {...}, 'zh-CN': {...}},
  // open(section, match, me), close?()}. Its section is `#screen-{name}`,
  // made empty on first open and kept while the screen is shown.
  function screen(definition) {
    if (definition.messages) {
      window.FerryI18n.add(definition.messages);
    }
    screens.push(definition);
  }

  function t(key, params) {
    return window.FerryI18n.t(key, params);
  }

  // A date and time in the user's own zone and language.
  function when(iso, options) {
    if (!iso) return '';
    return new Date(iso).toLocaleString(window.FerryI18n.current(),
      options || { dateStyle: 'medium', timeStyle: 'short' });
  }

  window.Ferry = { api, request, el, cell, screen, screens, t, when };
})();
