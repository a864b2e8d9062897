// The call: the clinician and the expert each sign in, find the
// consultation on their home page, join its call, and each sees the other's
// video; the expert switches language mid-call; the clinician leaves.
'use strict';

// Shows decoded remote video: a remote <video> with a size, playing.
async function remoteVideoPlays(page, patience) {
  await page.waitForFunction(() => {
    const video = document.querySelector('#videos .remote video');
    return video && video.videoWidth > 0 && video.currentTime > 0.5 && !video.paused;
  }, null, { timeout: patience });
  return page.evaluate(() => {
    const video = document.querySelector('#videos .remote video');
    return { width: video.videoWidth, height: video.videoHeight };
  });
}

module.exports = async function call(journey, browser) {
  const { consultation, clinician, expert } = journey.args;
  const pages = {};
  for (const [who, user, locale] of [['clinician', clinician, 'en-US'], ['expert', expert, 'zh-CN']]) {
    const page = await journey.signIn(browser, user, locale);
    const row = page.locator(`#consultations tr[data-consultation="${consultation}"]`);
    await row.waitFor({ state: 'visible' });
    await journey.shot(page, `call-1-${who}-home`);
    await row.locator('a.button').click();
    await page.locator('#call').waitFor({ state: 'visible' });
    // The device check comes before the call.
    await page.locator('#call-join-now').click();
    pages[who] = page;
  }
  const seen = {};
  for (const who of ['clinician', 'expert']) {
    seen[who] = await remoteVideoPlays(pages[who], journey.patience);
    await journey.shot(pages[who], `call-2-${who}-in-call`);
  }
  // The expert's browser asked for Chinese: the screen speaks it.
  const leaveLabel = await pages.expert.locator('#call-leave').textContent();
  if (leaveLabel !== '离开') {
    throw new Error(`the expert's screen is not in Chinese: ${leaveLabel}`);
  }
  // Switched to English by hand, it speaks English.
  await pages.expert.locator('#language').selectOption('en');
  const english = await pages.expert.locator('#call-leave').textContent();
  if (english !== 'Leave') {
    throw new Error(`switching to English left: ${english}`);
  }
  await pages.clinician.locator('#call-leave').click();
  await pages.clinician.locator('#call-leave-yes').click();
  await pages.clinician.locator('#home').waitFor({ state: 'visible' });
  await pages.expert.locator('#call-waiting').waitFor({ state: 'visible' });
  const notice = await pages.expert.locator('#call-notice').textContent();
  if (!notice.includes(clinician.display_name)) {
    throw new Error(`the expert is not told the clinician left: ${notice}`);
  }
  await journey.shot(pages.expert, 'call-3-expert-alone');
  return { seen, notice };
};
