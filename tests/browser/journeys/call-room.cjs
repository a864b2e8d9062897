// The call room: the clinician (English, in Los Angeles) sees Join disabled
// with the opening time on the home and consultation pages, waits in the
// waiting room (its time in the browser's zone, a countdown, no camera),
// joins once it opens through the device check (choosing a microphone,
// remembered); the expert (Chinese, in Shanghai) joins too. Each sees the
// other by display name in a speaker view, a measured quality line, and the
// clinician's own choice of low bandwidth apart from it; the chat goes both
// ways; leaving asks first; the chat stays on the consultation's page.
'use strict';

async function signIn(journey, browser, user, locale, timezoneId) {
  const context = await browser.newContext({
    baseURL: journey.args.base,
    locale,
    timezoneId,
    permissions: ['camera', 'microphone'],
    viewport: { width: 1280, height: 860 },
  });
  // Counts the pages' requests for the camera and microphone.
  await context.addInitScript(() => {
    window.cameraRequests = 0;
    const media = navigator.mediaDevices;
    const open = media.getUserMedia.bind(media);
    media.getUserMedia = (constraints) => {
      window.cameraRequests += 1;
      return open(constraints);
    };
  });
  const page = await context.newPage();
  page.setDefaultTimeout(journey.patience);
  await page.goto('/');
  await page.locator('#login-form input[name=username]').fill(user.username);
  await page.locator('#login-form input[name=password]').fill(user.password);
  await page.locator('#login-form button[type=submit]').click();
  await page.locator('#home').waitFor({ state: 'visible' });
  return page;
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const text = async (page, selector) => (await page.locator(selector).textContent()).trim();

// Join disabled on the home page's row, with when the call opens.
async function homeShowsJoinDisabled(page, consultation) {
  const row = page.locator(`#consultations tr[data-consultation="${consultation}"]`);
  await row.waitFor({ state: 'visible' });
  const button = row.locator('button.join-disabled');
  await button.waitFor({ state: 'visible' });
  check(await button.isDisabled(), 'the home page\'s Join is enabled before the call opens');
  check(await row.locator('a.button').count() === 0, 'the home page links to the call before it opens');
  return text(page, `#consultations tr[data-consultation="${consultation}"] .call-not-open`);
}

async function remoteVideo(page, patience) {
  await page.waitForFunction(() => {
    const video = document.querySelector('#videos .remote video');
    return video && video.videoWidth > 0 && video.currentTime > 0.5 && !video.paused;
  }, null, { timeout: patience });
}

module.exports = async function callRoom(journey, browser) {
  const { consultation, clinician, expert, opens_at: opensAt } = journey.args;
  const seen = {};
  const doc = await signIn(journey, browser, clinician, 'en-US', 'America/Los_Angeles');
  seen.homeRow = await homeShowsJoinDisabled(doc, consultation);
  await journey.shot(doc, 'call-room-1-home-join-disabled');

  // The consultation's page: Join disabled too, and the waiting room.
  await doc.evaluate((id) => { location.hash = `#/consultations/${id}`; }, consultation);
  const join = doc.locator('#case-join');
  await join.waitFor({ state: 'visible' });
  check(await join.isDisabled(), 'the consultation page\'s Join is enabled before the call opens');
  await doc.locator('#case-waiting-room').click();
  await doc.locator('#call-waitroom').waitFor({ state: 'visible' });
  seen.opens = await text(doc, '#call-opens');
  const expected = new Intl.DateTimeFormat('en-US', {
    timeZone: 'America/Los_Angeles', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).format(new Date(opensAt));
  check(seen.opens.includes(expected) && seen.opens.includes('America/Los_Angeles'),
    `the waiting room does not say ${expected} in Los Angeles: ${seen.opens}`);
  check(!/\d{4}-\d\d-\d\dT|UTC|Z\b/.test(seen.opens), `the opening time is not local: ${seen.opens}`);
  seen.countdown = await text(doc, '#call-countdown');
  check(/^Opens in \d+:\d\d$/.test(seen.countdown), `no countdown: ${seen.countdown}`);
  check(await doc.locator('#call-enter').isDisabled(), 'Join is enabled in the waiting room before the call opens');
  check(await doc.evaluate(() => window.cameraRequests) === 0, 'the waiting room opened the camera');
  await journey.shot(doc, 'call-room-2-waiting-room');

  // The expert, in Chinese, in Shanghai: Join disabled on the home page too.
  const pro = await signIn(journey, browser, expert, 'zh-CN', 'Asia/Shanghai');
  seen.expertHomeRow = await homeShowsJoinDisabled(pro, consultation);

  // The clock runs down; Join enables by itself.
  await doc.locator('#call-enter:not([disabled])').waitFor({ timeout: Math.max(journey.patience, opensAt - Date.now() + 30000) });
  check(await doc.evaluate(() => window.cameraRequests) === 0, 'the waiting room opened the camera before Join');
  seen.open = await text(doc, '#call-countdown');
  await journey.shot(doc, 'call-room-3-open');
  await doc.locator('#call-enter').click();

  // The device check: a picture, a level, a choice of microphone, remembered.
  await doc.locator('#call-precheck').waitFor({ state: 'visible' });
  await doc.waitForFunction(() => {
    const video = document.querySelector('#precheck-video');
    return video.videoWidth > 0;
  });
  await doc.waitForFunction(() => Number(document.querySelector('#call-mic-level').value) > 0);
  const microphones = await doc.locator('#call-mic-choice option').evaluateAll((options) => options.map((o) => o.value));
  check(microphones.length >= 1 && microphones[0] !== '', 'no microphone to choose');
  const chosen = microphones[microphones.length - 1];
  await doc.locator('#call-mic-choice').selectOption(chosen);
  await doc.waitForFunction((id) => JSON.parse(localStorage.getItem('ferry.call.devices') || '{}').microphone === id, chosen);
  await doc.waitForFunction(() => document.querySelector('#precheck-video').videoWidth > 0);
  seen.cameras = await doc.locator('#call-camera-choice option').count();
  seen.microphones = microphones.length;
  await journey.shot(doc, 'call-room-4-device-check');
  await doc.locator('#call-join-now').click();
  await doc.locator('#call-room').waitFor({ state: 'visible' });
  seen.micInCall = await doc.locator('#call-mic-switch').inputValue();
  check(seen.micInCall === chosen, `the call does not use the chosen microphone: ${seen.micInCall}`);

  // The expert's page goes straight from the home page to the device check.
  const row = pro.locator(`#consultations tr[data-consultation="${consultation}"] a.button`);
  await pro.reload();
  await row.waitFor({ state: 'visible' });
  await row.click();
  await pro.locator('#call-join-now').click();
  await pro.locator('#call-room').waitFor({ state: 'visible' });

  for (const page of [doc, pro]) {
    await remoteVideo(page, journey.patience);
    await page.locator('#videos .remote.main').waitFor({ state: 'visible' });
  }
  seen.clinicianSees = await text(doc, '#videos .remote.main figcaption');
  seen.expertSees = await text(pro, '#videos .remote.main figcaption');
  check(seen.clinicianSees === expert.display_name, `the clinician sees ${seen.clinicianSees}`);
  check(seen.expertSees === clinician.display_name, `the expert sees ${seen.expertSees}`);
  // Both sides measure the link (the expert's stayed "measuring…" before).
  for (const page of [doc, pro]) {
    await page.waitForFunction(() => document.querySelector('#call-quality').dataset.quality === 'good');
  }
  seen.expertQuality = await text(pro, '#call-quality');
  check(seen.expertQuality === '良好', `the expert's line says ${seen.expertQuality}`);
  await journey.shot(pro, 'call-room-5-expert-speaker-view');

  // Another microphone during the call: swapped on the connection, not redialled.
  const other = microphones.find((id) => id !== chosen);
  if (other) {
    await doc.locator('#call-mic-switch').selectOption(other);
    await doc.locator('#call-notice', { hasText: 'Device changed.' }).waitFor({ state: 'visible' });
    const label = await doc.locator(`#call-mic-switch option[value="${other}"]`).textContent();
    seen.switchedTo = await doc.evaluate(() => document.querySelector('#local-video').srcObject.getAudioTracks()[0].label);
    check(seen.switchedTo === label, `the call still uses ${seen.switchedTo}, not ${label}`);
    check(await doc.locator('#videos .remote').count() === 1, 'switching the microphone dropped the other side');
  }

  // Low bandwidth, chosen: said as a choice; the link stays good.
  await doc.locator('#call-mode').selectOption('low');
  seen.choice = await text(doc, '#call-choice');
  check(seen.choice.includes('your choice: low bandwidth'), `the choice is not shown: ${seen.choice}`);
  const samplesAfter = Date.now() + 9000;
  while (Date.now() < samplesAfter) {
    const quality = await doc.locator('#call-quality').getAttribute('data-quality');
    check(quality === 'good', `choosing low bandwidth made the link ${quality}`);
    await doc.waitForTimeout(1000);
  }
  seen.qualityLine = await text(doc, '#call-quality-line');

  // The chat, both ways, by display name.
  await doc.locator('#call-chat-input').fill('Her BP was 150/95 this morning.');
  await doc.locator('#call-chat-form button[type=submit]').click();
  const arrived = pro.locator('#call-chat-log li', { hasText: 'Her BP was 150/95 this morning.' });
  await arrived.waitFor({ state: 'visible' });
  seen.chatAuthor = await arrived.locator('.author').textContent();
  check(seen.chatAuthor === clinician.display_name, `the message is signed ${seen.chatAuthor}`);
  await pro.locator('#call-chat-input').fill('请把上周的心电图也上传。');
  await pro.locator('#call-chat-input').press('Enter');
  await doc.locator('#call-chat-log li', { hasText: '请把上周的心电图也上传。' }).waitFor({ state: 'visible' });
  await journey.shot(doc, 'call-room-6-chat');

  // Leaving asks first; staying keeps the call.
  await doc.locator('#call-leave').click();
  await doc.locator('#call-leave-dialog').waitFor({ state: 'visible' });
  seen.confirm = await text(doc, '#call-leave-dialog p');
  await journey.shot(doc, 'call-room-7-leave-confirm');
  await doc.locator('#call-leave-stay').click();
  check(await doc.locator('#call-room').isVisible(), 'staying left the call');
  check(await doc.locator('#videos .remote').count() === 1, 'staying dropped the other side');
  await doc.locator('#call-leave').click();
  await doc.locator('#call-leave-yes').click();
  await doc.locator('#home').waitFor({ state: 'visible' });
  await pro.locator('#call-waiting').waitFor({ state: 'visible' });
  seen.expertNotice = await text(pro, '#call-notice');
  check(seen.expertNotice.includes(clinician.display_name), `the expert is not told who left: ${seen.expertNotice}`);

  // The chat is kept on the consultation's page.
  await doc.evaluate((id) => { location.hash = `#/consultations/${id}`; }, consultation);
  await doc.locator('#case-chat').waitFor({ state: 'visible' });
  seen.kept = await doc.locator('#case-chat li .body').allTextContents();
  check(seen.kept.length === 2, `the consultation keeps ${seen.kept.length} messages`);
  await journey.shot(doc, 'call-room-8-chat-kept');
  return seen;
};
