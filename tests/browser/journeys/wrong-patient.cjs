// The wrong-patient journey (issue 29, item 1): a slow answer must never let
// a screen act on the patient the user has just left. The clinician opens
// patient A's "Request a consultation", types, then goes to patient B's,
// whose answers the network holds back ~4 s: until they come the screen
// shows its loading state and no form; then B's banner and an empty form.
// A's form, left behind, sends nothing even if its submit is fired. The same
// for booking a slot; and a late answer for A, arriving after the user has
// moved on to B, never draws over B's screen.
//
// Arguments: base, clinician, locale, viewport ({width, height}),
// a, b (patients: {id, name, record}), book_a, book_b (consultation ids),
// delay_ms, screenshots.
'use strict';

module.exports = async (journey, browser) => {
  const args = journey.args;
  const { a, b } = args;
  const page = await journey.signIn(browser, args.clinician, args.locale, args.viewport);
  const delay = args.delay_ms;
  const shot = (name) => journey.shot(page, name);

  // Answers for the patients named here come `delay` ms late: every
  // /api/v1/patients/{id}... and /api/v1/consultations/{id}... of them.
  let slow = [];
  await page.route('**/api/v1/**', async (route) => {
    const path = new URL(route.request().url()).pathname;
    if (slow.some((prefix) => path === prefix || path.startsWith(prefix + '/'))) {
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
    await route.continue().catch(() => {});
  });

  // Every request that would create something, with the body it carried.
  const posts = [];
  page.on('request', (request) => {
    const path = new URL(request.url()).pathname;
    if (request.method() === 'POST' && (path === '/api/v1/consultations' || path === '/api/v1/bookings')) {
      posts.push({ path, body: request.postDataJSON() });
    }
  });

  const bannerId = () => page.evaluate(() => {
    const shown = document.querySelector('main > section:not([hidden]) .patient-banner');
    return shown ? Number(/** @type {HTMLElement} */ (shown).dataset.patientId) : null;
  });
  const banners = () => page.locator('main > section:not([hidden]) .patient-banner').count();
  const waitBanner = (id) => page.waitForFunction((want) => {
    const shown = document.querySelector('main > section:not([hidden]) .patient-banner');
    return shown && Number(/** @type {HTMLElement} */ (shown).dataset.patientId) === want;
  }, id);
  const loadingShown = () => page.locator('main > section:not([hidden]) .screen-loading').isVisible();
  const result = { locale: args.locale };

  // ---- 1. Request a consultation: A typed, then B's slow screen --------
  await page.evaluate((id) => { location.hash = `#/patients/${id}/consult`; }, a.id);
  await waitBanner(a.id);
  const bannerA = await page.locator('#screen-consult .patient-banner').innerText();
  result.banner_a = bannerA;
  await page.locator('#consult-form textarea[name=reason]').fill(`Question about ${a.name}, typed on A's form`);
  await shot('1-consult-a-typed');
  // Keep A's form, to fire its submit once the screen has moved on.
  const formA = await page.locator('#consult-form').elementHandle();

  slow = [`/api/v1/patients/${b.id}`];
  await page.evaluate((id) => { location.hash = `#/patients/${id}/consult`; }, b.id);
  // While B's answers are held back: the loading state, no form at all.
  await page.locator('#screen-consult .screen-loading').waitFor({ state: 'visible' });
  result.consult_loading = await loadingShown();
  result.consult_forms_while_loading = await page.locator('#consult-form').count();
  result.consult_banner_while_loading = await bannerId();
  await shot('2-consult-b-loading');
  // A's form, fired now, sends nothing: it is no longer on the screen.
  result.stale_submit_connected = await formA.evaluate((form) => {
    form.dispatchEvent(new Event('submit', { cancelable: true }));
    return form.isConnected;
  });
  await waitBanner(b.id);
  slow = [];
  result.banner_b = await page.locator('#screen-consult .patient-banner').innerText();
  result.consult_reason_b = await page.locator('#consult-form textarea[name=reason]').inputValue();
  result.consult_banners = await banners();
  await shot('3-consult-b-shown');
  await page.locator('#consult-form textarea[name=reason]').fill(`Question about ${b.name}`);
  await page.locator('#consult-form button[type=submit]').click();
  await page.waitForFunction(() => /^#\/consultations\/\d+\/book$/.test(location.hash));
  result.consult_created = Number((await page.evaluate(() => location.hash)).match(/\d+/)[0]);
  await waitBanner(b.id);
  await shot('4-consult-b-sent');

  // ---- 2. A late answer for A after the user went on to B --------------
  slow = [`/api/v1/patients/${a.id}`];
  await page.evaluate((id) => { location.hash = `#/patients/${id}/consult`; }, a.id);
  await page.locator('#screen-consult .screen-loading').waitFor({ state: 'visible' });
  await page.evaluate((id) => { location.hash = `#/patients/${id}/consult`; }, b.id);
  await waitBanner(b.id);
  // Long enough for A's held answer to arrive and be (not) drawn.
  await page.waitForTimeout(delay + 1000);
  slow = [];
  result.late_banner = await bannerId();
  result.late_banners = await banners();
  result.late_forms = await page.locator('#consult-form').count();
  await shot('5-late-answer-for-a-not-drawn');

  // ---- 3. Booking: a slot chosen for A, then B's slow screen -----------
  await page.evaluate((id) => { location.hash = `#/consultations/${id}/book`; }, args.book_a);
  await waitBanner(a.id);
  await page.locator('#book-calendar button.slot').first().waitFor({ state: 'visible' });
  await page.locator('#book-calendar button.slot').first().click();
  await page.locator('#book-submit').waitFor({ state: 'visible' });
  await shot('6-book-a-chosen');
  const submitA = await page.locator('#book-submit').elementHandle();

  slow = [`/api/v1/consultations/${args.book_b}`, `/api/v1/patients/${b.id}`];
  await page.evaluate((id) => { location.hash = `#/consultations/${id}/book`; }, args.book_b);
  await page.locator('#screen-book .screen-loading').waitFor({ state: 'visible' });
  result.book_loading = await loadingShown();
  result.book_buttons_while_loading = await page.locator('#book-submit').count();
  result.book_banner_while_loading = await bannerId();
  await shot('7-book-b-loading');
  result.stale_book_connected = await submitA.evaluate((button) => {
    button.dispatchEvent(new MouseEvent('click', { bubbles: true }));
    return button.isConnected;
  });
  await waitBanner(b.id);
  slow = [];
  result.book_banner_b = await page.locator('#screen-book .patient-banner').innerText();
  result.book_submit_visible_b = await page.locator('#book-submit').isVisible();
  await page.locator('#book-calendar button.slot').first().waitFor({ state: 'visible' });
  await page.locator('#book-calendar button.slot').first().click();
  await page.locator('#book-submit').click();
  await page.locator('#book-booked').waitFor({ state: 'visible' });
  result.book_banner_after = await bannerId();
  await shot('8-book-b-booked');

  // ---- 4. Switching language draws the whole screen again --------------
  const other = args.locale === 'zh-CN' ? 'en' : 'zh-CN';
  // On a phone the header folds the language choice into its menu: chosen
  // all the same, as the menu would.
  await page.locator('#language').selectOption(other, { force: true });
  const word = other === 'zh-CN' ? '病历号' : 'Record no.';
  await page.waitForFunction(([want, text]) => {
    const shown = document.querySelector('main > section:not([hidden]) .patient-banner');
    return shown && Number(/** @type {HTMLElement} */ (shown).dataset.patientId) === want
      && shown.textContent.includes(text);
  }, [b.id, word]);
  result.relabelled_banner = await page.locator('#screen-book .patient-banner').innerText();
  await shot('9-language-switched');

  result.posts = posts;
  return result;
};
