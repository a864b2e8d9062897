// The island clinician on a phone (390×844, touch), in English and in
// Chinese: home, the menu, patient search, the patient's page, the upload
// page, the consultation request and the case page, then the viewer, pinched
// and swiped with two and one fingers through the DevTools protocol's touch
// events. On every screen the page is no wider than the phone, the header
// is one short line, and each Join, View and "Ask for a reading" shown lies
// within the screen and is tall enough for a finger.
'use strict';

const PHONE = { width: 390, height: 844 };
// Screens load their data after they show; the notification stream never
// lets the network go idle, so a screen gets a fixed time to settle.
const SETTLE_MS = 1200;

function check(condition, message) {
  if (!condition) throw new Error(message);
}

// What the phone shows now: the page's width, the header's height, and
// where the actions a clinician needs are.
async function measure(page, where) {
  await page.waitForTimeout(SETTLE_MS);
  const found = await page.evaluate(() => {
    const shown = document.querySelector('main > section:not([hidden])');
    const visible = (e) => e.offsetParent !== null && e.getClientRects().length > 0;
    const place = (e) => {
      const r = e.getBoundingClientRect();
      return { text: e.textContent.trim(), left: Math.round(r.left), right: Math.round(r.right), height: Math.round(r.height) };
    };
    const actions = (selector) => [...(shown ? shown.querySelectorAll(selector) : [])].filter(visible).map(place);
    const errors = [...(shown ? shown.querySelectorAll('.error[role=alert]') : [])]
      .filter((e) => visible(e) && e.textContent.trim()).map((e) => e.textContent.trim());
    const header = document.querySelector('header').getBoundingClientRect();
    return {
      section: shown ? shown.id : null,
      page_width: document.documentElement.scrollWidth,
      screen_width: window.innerWidth,
      header_height: Math.round(header.height),
      errors,
      join: actions('a[href$="/call"]'),
      view: actions('a.button[href^="#/studies/"]'),
      ask: actions('button.ask-reading'),
      // Rows shown as cards: a labelled cell of each table.
      labelled: shown ? shown.querySelectorAll('table[data-cards] td[data-label]').length : 0,
    };
  });
  check(found.section, `${where}: no screen shows`);
  check(found.errors.length === 0, `${where}: the screen shows an error: ${found.errors.join(' | ')}`);
  check(found.page_width <= PHONE.width, `${where}: the page is ${found.page_width}px wide on a ${PHONE.width}px phone`);
  check(found.header_height <= 60, `${where}: the header is ${found.header_height}px high`);
  for (const kind of ['join', 'view', 'ask']) {
    for (const a of found[kind]) {
      check(a.left >= 0 && a.right <= PHONE.width, `${where}: ${kind} "${a.text}" lies at ${a.left}–${a.right}px`);
      check(a.height >= 44, `${where}: ${kind} "${a.text}" is ${a.height}px high`);
    }
  }
  return { where, ...found };
}

// Opens a screen from the menu, as a thumb would.
async function fromMenu(page, href) {
  check(!(await page.locator('#nav').isVisible()), 'the menu is open before its button is pressed');
  await page.locator('#menu-button').tap();
  const link = page.locator(`#nav a[href="${href}"]`);
  await link.waitFor({ state: 'visible' });
  await link.tap();
  await page.waitForFunction((h) => location.hash === h, href);
  await page.locator('#nav').waitFor({ state: 'hidden' });
}

// The viewer's zoom and image, from its overlay (in either language).
async function overlay(page) {
  return page.evaluate(() => {
    const br = document.querySelector('.viewer-br').textContent;
    const image = document.querySelector('.viewer-instance').textContent;
    return { zoom: Number((br.match(/(\d+)%/) || [])[1]), image: Number((image.match(/(\d+)\//) || [])[1]) };
  });
}

// Touches through the DevTools protocol, so the page gets real touch
// events (and the pointer events Chromium makes of them).
async function touch(cdp, type, points) {
  await cdp.send('Input.dispatchTouchEvent', {
    type, touchPoints: points.map(([x, y], id) => ({ x, y, id, radiusX: 2, radiusY: 2, force: 1 })),
  });
}

async function pinch(cdp, centre, from, to) {
  const at = (d) => [[centre.x - d / 2, centre.y], [centre.x + d / 2, centre.y]];
  await touch(cdp, 'touchStart', at(from));
  for (let i = 1; i <= 8; i++) await touch(cdp, 'touchMove', at(from + ((to - from) * i) / 8));
  await touch(cdp, 'touchEnd', []);
}

async function swipe(cdp, start, dx) {
  await touch(cdp, 'touchStart', [[start.x, start.y]]);
  for (let i = 1; i <= 8; i++) await touch(cdp, 'touchMove', [[start.x + (dx * i) / 8, start.y]]);
  await touch(cdp, 'touchEnd', []);
}

async function tap(cdp, point) {
  await touch(cdp, 'touchStart', [[point.x, point.y]]);
  await touch(cdp, 'touchEnd', []);
}

async function walk(journey, browser, locale) {
  const { clinician, patient, study } = journey.args;
  const tag = locale.startsWith('zh') ? 'zh' : 'en';
  const context = await browser.newContext({
    baseURL: journey.args.base, locale, viewport: PHONE, isMobile: true, hasTouch: true,
    deviceScaleFactor: 2, permissions: ['camera', 'microphone'],
  });
  const page = await context.newPage();
  page.setDefaultTimeout(journey.patience);
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await page.goto('/');
  await page.locator('#login-form input[name=username]').fill(clinician.username);
  await page.locator('#login-form input[name=password]').fill(clinician.password);
  await page.locator('#login-form button[type=submit]').tap();
  await page.locator('#home').waitFor({ state: 'visible' });
  await page.locator('#home #consultations').waitFor();
  const screens = [];
  const lang = await page.evaluate(() => document.documentElement.lang);

  // Home: the consultations as cards, Join within reach.
  screens.push(await measure(page, `${tag} home`));
  await journey.shot(page, `phone-${tag}-1-home`);

  // The menu opens below the one-line header, with who is signed in.
  await page.locator('#menu-button').tap();
  await page.locator('#nav').waitFor({ state: 'visible' });
  const menu = await page.evaluate(() => ({
    links: [...document.querySelectorAll('#nav a')].map((a) => a.getAttribute('href')),
    who: document.querySelector('#who').textContent,
    signout: document.querySelector('#logout').getBoundingClientRect().height,
    expanded: document.querySelector('#menu-button').getAttribute('aria-expanded'),
  }));
  await journey.shot(page, `phone-${tag}-2-menu`);
  await page.locator('#menu-button').tap();
  await page.locator('#nav').waitFor({ state: 'hidden' });

  // Patient search, from the menu.
  await fromMenu(page, '#/patients');
  await page.locator('#patients-search input[name=q]').fill(patient.record_number);
  await page.locator('#patients-search button[type=submit]').tap();
  const found = page.locator(`#patients-found tr[data-patient="${patient.id}"] a`).first();
  await found.waitFor();
  screens.push(await measure(page, `${tag} patient search`));
  await journey.shot(page, `phone-${tag}-3-search`);

  // The patient's page: studies as cards, View and Ask for a reading.
  await found.tap();
  await page.locator(`#studies tr[data-study="${study}"]`).waitFor();
  const patientScreen = await measure(page, `${tag} patient`);
  screens.push(patientScreen);
  await journey.shot(page, `phone-${tag}-4-patient`);
  const row = page.locator(`#studies tr[data-study="${study}"]`);
  await row.locator('button.ask-reading').tap();
  await row.locator('form.reading-form').waitFor();
  screens.push(await measure(page, `${tag} patient, reading form`));
  await journey.shot(page, `phone-${tag}-5-ask-reading`);

  // Upload and the consultation request, from the patient's page.
  await page.locator('#patient-upload').tap();
  await page.locator('#upload-drop').waitFor();
  screens.push(await measure(page, `${tag} upload`));
  await journey.shot(page, `phone-${tag}-6-upload`);
  await page.goBack();
  await page.locator('#patient-consult').tap();
  await page.locator('#consult-form').waitFor();
  screens.push(await measure(page, `${tag} consultation request`));
  await journey.shot(page, `phone-${tag}-7-consult`);

  // A case page, from home.
  await fromMenu(page, '#/');
  const caseLink = page.locator('#home #consultations a.case-link').first();
  await caseLink.waitFor();
  await caseLink.tap();
  await page.waitForURL(/#\/consultations\/\d+$/);
  await page.waitForFunction(() => {
    const s = document.querySelector('main > section:not([hidden])');
    return s && s.querySelector('h2');
  });
  screens.push(await measure(page, `${tag} consultation`));
  await journey.shot(page, `phone-${tag}-8-case`);

  // The viewer: pinch, swipe, double tap.
  await page.goto(`/#/patients/${patient.id}`);
  await row.locator('a.button[href^="#/studies/"]').tap();
  await page.waitForURL(/#\/studies\//);
  await page.waitForFunction(() => {
    const o = document.querySelector('.viewer-br');
    const busy = document.querySelector('.viewer-busy');
    return o && /%/.test(o.textContent) && busy && busy.hidden;
  });
  screens.push(await measure(page, `${tag} viewer`));
  const stage = page.locator('.viewer-stage');
  await stage.scrollIntoViewIfNeeded();
  const box = await stage.boundingBox();
  const centre = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
  const cdp = await context.newCDPSession(page);
  const before = await overlay(page);
  await journey.shot(page, `phone-${tag}-9-viewer`);
  await pinch(cdp, centre, 60, 180);
  await page.waitForFunction((z) => {
    const m = document.querySelector('.viewer-br').textContent.match(/(\d+)%/);
    return m && Number(m[1]) > z;
  }, before.zoom);
  const pinched = await overlay(page);
  await journey.shot(page, `phone-${tag}-10-pinched`);
  await swipe(cdp, { x: centre.x + 100, y: centre.y }, -130);
  await page.waitForFunction((n) => {
    const m = document.querySelector('.viewer-instance').textContent.match(/(\d+)\//);
    return m && Number(m[1]) > n;
  }, before.image);
  const swiped = await overlay(page);
  await journey.shot(page, `phone-${tag}-11-swiped`);
  await tap(cdp, centre);
  await page.waitForTimeout(80);
  await tap(cdp, centre);
  await page.waitForFunction(() => /(^|\D)100%/.test(document.querySelector('.viewer-br').textContent));
  const reset = await overlay(page);
  const afterTouch = await measure(page, `${tag} viewer, after the gestures`);
  await journey.shot(page, `phone-${tag}-12-reset`);
  check(pageErrors.length === 0, `errors in the page: ${pageErrors.join('; ')}`);
  await context.close();
  return {
    lang, menu, screens, viewer: { before, pinched, swiped, reset, page_width: afterTouch.page_width },
    patient_labelled: patientScreen.labelled,
  };
}

// On a laptop the header is as it was: the menu's links in its row, and
// no menu button.
async function laptop(journey, browser) {
  const page = await journey.signIn(browser, journey.args.clinician, 'en-US');
  await page.locator('#home #consultations').waitFor();
  const seen = await page.evaluate(() => ({
    nav_visible: document.querySelector('#nav').getClientRects().length > 0,
    nav_links: document.querySelectorAll('#nav a').length,
    menu_button_visible: document.querySelector('#menu-button').getClientRects().length > 0,
    who_visible: document.querySelector('#who').getClientRects().length > 0,
    header_height: Math.round(document.querySelector('header').getBoundingClientRect().height),
    // Home's tables stay tables.
    table_display: getComputedStyle(document.querySelector('#home #consultations')).display,
  }));
  await journey.shot(page, 'phone-laptop-home');

  // The mouse in the viewer does what it did: the wheel steps a slice, a
  // drag windows, a right drag zooms.
  await page.goto(`/#/studies/${journey.args.study}`);
  await page.waitForFunction(() => {
    const wl = document.querySelector('.viewer-wl');
    const busy = document.querySelector('.viewer-busy');
    return wl && wl.textContent.trim() && busy && busy.hidden;
  });
  const read = () => page.evaluate(() => ({
    wl: document.querySelector('.viewer-wl').textContent,
    image: document.querySelector('.viewer-instance').textContent,
    zoom: document.querySelector('.viewer-br').textContent.match(/(\d+)%/)[1],
  }));
  const box = await page.locator('.viewer-stage').boundingBox();
  const centre = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
  const before = await read();
  await page.mouse.move(centre.x, centre.y);
  await page.mouse.wheel(0, 120);
  await page.waitForFunction((text) => document.querySelector('.viewer-instance').textContent !== text, before.image);
  await page.mouse.down();
  await page.mouse.move(centre.x + 40, centre.y + 30, { steps: 4 });
  await page.mouse.up();
  await page.waitForFunction((text) => document.querySelector('.viewer-wl').textContent !== text, before.wl);
  await page.mouse.down({ button: 'right' });
  await page.mouse.move(centre.x + 40, centre.y - 60, { steps: 4 });
  await page.mouse.up({ button: 'right' });
  const after = await read();
  await journey.shot(page, 'phone-laptop-viewer');
  await page.context().close();
  return { ...seen, mouse: { before, after } };
}

// Every demo user's menu on the phone: how wide each screen makes the page.
async function sweep(journey, browser) {
  const widths = [];
  for (const user of journey.args.users || []) {
    const context = await browser.newContext({
      baseURL: journey.args.base, locale: 'zh-CN', viewport: PHONE, isMobile: true, hasTouch: true,
    });
    const page = await context.newPage();
    page.setDefaultTimeout(journey.patience);
    await page.goto('/');
    await page.locator('#login-form input[name=username]').fill(user.username);
    await page.locator('#login-form input[name=password]').fill(user.password);
    await page.locator('#login-form button[type=submit]').tap();
    await page.locator('#home').waitFor({ state: 'visible' });
    const links = await page.locator('#nav a').evaluateAll((anchors) => anchors.map((a) => a.getAttribute('href')));
    for (const [n, href] of links.entries()) {
      if (href !== '#/') await fromMenu(page, href);
      await page.waitForTimeout(SETTLE_MS);
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      const wide = await page.evaluate((limit) => [...document.querySelectorAll('main *')]
        .filter((e) => e.getBoundingClientRect().right > limit + 1 && e.getClientRects().length)
        .slice(0, 3).map((e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + '.' + e.className), PHONE.width);
      widths.push({ user: user.username, href, page_width: width, wide });
      await journey.shot(page, `phone-sweep-${user.username}-${n}-${href.replace(/[^a-z]+/g, '-')}`);
    }
    await context.close();
  }
  return widths;
}

module.exports = async function phone(journey, browser) {
  const en = await walk(journey, browser, 'en-US');
  const zh = await walk(journey, browser, 'zh-CN');
  return { en, zh, laptop: await laptop(journey, browser), sweep: await sweep(journey, browser) };
};
