// A study shared in the call: the clinician (in English) and the expert (in
// Chinese) join the call; the clinician shares the consultation's CT and the
// expert sees it beside the video; the clinician scrolls and the expert's
// viewer follows; the expert windows and the clinician's follows; the expert
// reloads the page and comes back to the same view; an invitee who may not
// see the study joins and gets the viewer's refusal, not the images; the
// expert stops sharing and the viewer closes on every side.
'use strict';

const SHARED = '#call-shared';
const STAGE = `${SHARED} .viewer-stage`;

async function text(page, selector) {
  return (await page.locator(selector).first().textContent()).trim();
}

// Both participants' video plays: the connection, and its data channel, is up.
async function inCall(page, patience) {
  await page.waitForFunction(() => {
    const video = document.querySelector('#videos .remote video');
    return video && video.videoWidth > 0 && video.currentTime > 0.5 && !video.paused;
  }, null, { timeout: patience });
}

// The frame asked for is on the shared viewer's canvas.
async function painted(page) {
  await page.waitForFunction((stage) => {
    const busy = document.querySelector(stage + ' .viewer-busy');
    const wl = document.querySelector(stage + ' .viewer-wl');
    return busy && busy.hidden && wl && wl.textContent.trim() !== '';
  }, STAGE);
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
}

// "Image 3/5 (instance 3)" or "图像 3/5（实例 3）": the instance number.
async function instance(page) {
  const shown = await text(page, `${STAGE} .viewer-instance`);
  const m = /(\d+)\s*\/\s*(\d+)\D+(\d+)/.exec(shown);
  if (!m) throw new Error(`no instance in the overlay: ${shown}`);
  return { shown, index: Number(m[1]), total: Number(m[2]), instance: Number(m[3]) };
}

// "W 400 L 40" or "窗宽 400 窗位 40": width and level.
async function windowLevel(page) {
  const shown = await text(page, `${STAGE} .viewer-wl`);
  const m = /(-?[\d.]+)\D+?(-?[\d.]+)/.exec(shown);
  if (!m) throw new Error(`no window in the overlay: ${shown}`);
  return { shown, width: Number(m[1]), level: Number(m[2]) };
}

async function waitForInstance(page, number) {
  await page.waitForFunction(([selector, n]) => {
    const shown = document.querySelector(selector);
    const m = shown && /(\d+)\s*\/\s*(\d+)\D+(\d+)/.exec(shown.textContent);
    return m && Number(m[3]) === n;
  }, [`${STAGE} .viewer-instance`, number]);
  await painted(page);
}

async function waitForWindow(page, wl) {
  await page.waitForFunction(([selector, w, l]) => {
    const shown = document.querySelector(selector);
    const m = shown && /(-?[\d.]+)\D+?(-?[\d.]+)/.exec(shown.textContent);
    return m && Number(m[1]) === w && Number(m[2]) === l;
  }, [`${STAGE} .viewer-wl`, wl.width, wl.level]);
  await painted(page);
}

async function centre(page) {
  const box = await page.locator(STAGE).boundingBox();
  return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
}

// What a page's shared viewer shows, for the result.
async function view(page) {
  return {
    series: await page.locator(`${SHARED} .viewer-series-button[aria-pressed="true"]`).getAttribute('data-series'),
    ...(await instance(page)),
    wl: await windowLevel(page),
  };
}

module.exports = async function sharedView(journey, browser) {
  const { consultation, study, slices, clinician, expert, invitee } = journey.args;
  const pages = {};
  for (const [who, user, locale] of [['clinician', clinician, 'en-US'], ['expert', expert, 'zh-CN']]) {
    const page = await journey.signIn(browser, user, locale);
    const row = page.locator(`#consultations tr[data-consultation="${consultation}"]`);
    await row.waitFor({ state: 'visible' });
    await row.locator('a.button').click();
    await page.locator('#call').waitFor({ state: 'visible' });
    // The device check comes before the call.
    await page.locator('#call-join-now').click();
    pages[who] = page;
  }
  const { clinician: doc, expert: pro } = pages;
  for (const who of ['clinician', 'expert']) {
    await inCall(pages[who], journey.patience);
    await pages[who].locator('#call-share-pick').waitFor({ state: 'visible' });
  }
  await journey.shot(doc, 'shared-view-1-clinician-in-call');
  const seen = {};

  // The clinician shares the CT; the expert sees it, in Chinese.
  await doc.locator('#call-share-study').selectOption(study);
  await doc.locator('#call-share-start').click();
  await doc.locator(STAGE).waitFor({ state: 'visible' });
  await painted(doc);
  seen.clinicianTitle = await text(doc, '#call-shared-title');
  await journey.shot(doc, 'shared-view-2-clinician-shares');
  await pro.locator(STAGE).waitFor({ state: 'visible' });
  await painted(pro);
  seen.expertTitle = await text(pro, '#call-shared-title');
  seen.shared = { clinician: await view(doc), expert: await view(pro) };
  if (seen.shared.expert.total !== slices || seen.shared.expert.instance !== 1) {
    throw new Error(`the expert does not see the first of ${slices} slices: ${seen.shared.expert.shown}`);
  }
  await journey.shot(pro, 'shared-view-3-expert-sees-it');

  // Two notches of the clinician's wheel: two slices on, on both screens.
  const c = await centre(doc);
  await doc.mouse.move(c.x, c.y);
  await doc.mouse.wheel(0, 100);
  await doc.mouse.wheel(0, 100);
  await waitForInstance(doc, 3);
  await waitForInstance(pro, 3);
  seen.scrolled = { clinician: await instance(doc), expert: await instance(pro) };
  await journey.shot(pro, 'shared-view-4-expert-follows-the-scroll');

  // The expert windows by dragging; the clinician's window follows.
  const before = await windowLevel(pro);
  const e = await centre(pro);
  await pro.mouse.move(e.x, e.y);
  await pro.mouse.down();
  await pro.mouse.move(e.x + 80, e.y + 50, { steps: 8 });
  await pro.mouse.up();
  await painted(pro);
  const windowed = await windowLevel(pro);
  if (windowed.width === before.width && windowed.level === before.level) {
    throw new Error(`dragging did not window: ${before.shown} → ${windowed.shown}`);
  }
  await waitForWindow(doc, windowed);
  seen.windowed = { before, expert: windowed, clinician: await windowLevel(doc) };
  await journey.shot(doc, 'shared-view-5-clinician-follows-the-window');

  // The expert's page reloads: back in the call, the same view comes back.
  await pro.reload();
  await pro.locator('#call').waitFor({ state: 'visible' });
  await pro.locator('#call-join-now').click();
  await inCall(pro, journey.patience);
  await pro.locator(STAGE).waitFor({ state: 'visible' });
  await waitForInstance(pro, 3);
  await waitForWindow(pro, windowed);
  seen.rejoined = await view(pro);
  await journey.shot(pro, 'shared-view-6-expert-rejoins-the-same-view');

  // An invitee joins while the study is shared: the viewer opens, and the
  // server refuses them its images.
  const guest = await journey.signIn(browser, invitee, 'en-US');
  await guest.evaluate((id) => { location.hash = `#/consultations/${id}/call`; }, consultation);
  await guest.locator('#call-join-now').click();
  await inCall(guest, journey.patience);
  await guest.locator(`${SHARED} .viewer`).waitFor({ state: 'visible' });
  await guest.waitForFunction((shared) => {
    const error = document.querySelector(shared + ' .viewer .error');
    return error && error.textContent.trim() !== '';
  }, SHARED);
  seen.invitee = {
    title: await text(guest, '#call-shared-title'),
    refusal: await text(guest, `${SHARED} .viewer .error`),
    imagesShown: await guest.locator(STAGE).isVisible(),
    picker: await guest.locator('#call-share-pick').isVisible(),
  };
  await journey.shot(guest, 'shared-view-7-invitee-refused');

  // Either side may stop: the expert does, and the viewer closes everywhere.
  await pro.locator('#call-share-stop').click();
  for (const page of [pro, doc, guest]) {
    await page.locator(SHARED).waitFor({ state: 'hidden' });
    await page.waitForFunction(() => !document.querySelector('#call-shared-viewer .viewer'));
  }
  seen.stoppedNotice = await text(doc, '#call-notice');
  await journey.shot(doc, 'shared-view-8-clinician-stopped');
  await journey.shot(pro, 'shared-view-9-expert-stopped');
  return seen;
};
