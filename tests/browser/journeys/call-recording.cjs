// A recorded call, played back in the page: the clinician (English) and the
// expert (Chinese) join the call and both consent, so it is recorded; the
// clinician withdraws, which stops it and says why in words; on the
// consultation's page the recording is listed and played here: each
// participant's camera decoded onto a canvas, their microphones in <audio>.
'use strict';

function check(condition, message) {
  if (!condition) throw new Error(message);
}

module.exports = async function callRecording(journey, browser) {
  const { consultation, clinician, expert } = journey.args;
  const pages = {};
  for (const [who, user, locale] of [['clinician', clinician, 'en-US'], ['expert', expert, 'zh-CN']]) {
    const page = await journey.signIn(browser, user, locale);
    const row = page.locator(`#consultations tr[data-consultation="${consultation}"]`);
    await row.waitFor({ state: 'visible' });
    await row.locator('a.button').click();
    await page.locator('#call-join-now').click();
    pages[who] = page;
  }
  const { clinician: doc, expert: pro } = pages;
  for (const page of [doc, pro]) {
    await page.waitForFunction(() => {
      const video = document.querySelector('#videos .remote video');
      return video && video.videoWidth > 0 && video.currentTime > 0.5;
    });
  }
  for (const page of [doc, pro]) {
    await page.locator('#call-consent').check();
  }
  for (const page of [doc, pro]) {
    await page.locator('#call-recording').waitFor({ state: 'visible' });
  }
  await journey.shot(doc, 'call-recording-1-recording');
  // What is recorded is a length of time: let it run for some seconds.
  await doc.waitForTimeout(6000);
  await doc.locator('#call-consent').uncheck();
  await doc.locator('#call-recording').waitFor({ state: 'hidden' });
  const seen = {};
  seen.stoppedNotice = (await doc.locator('#call-notice').textContent()).trim();
  check(seen.stoppedNotice === 'Recording stopped (consent was withdrawn).',
    `the reason is not said in words: ${seen.stoppedNotice}`);
  await doc.locator('#call-leave').click();
  await doc.locator('#call-leave-yes').click();
  await doc.locator('#home').waitFor({ state: 'visible' });

  // The recorder closes its files after the call: wait until it has.
  await doc.waitForFunction(async (id) => {
    const response = await fetch(`/api/v1/consultations/${id}/recordings`);
    const recordings = await response.json();
    return recordings.length === 1 && recordings[0].ended_at && recordings[0].files.length === 4;
  }, consultation, { polling: 1000 });

  await doc.evaluate((id) => { location.hash = `#/consultations/${id}`; }, consultation);
  await doc.locator('#case-recordings-show').click();
  const item = doc.locator('#case-recordings li[data-recording]');
  await item.waitFor({ state: 'visible' });
  seen.item = (await item.locator('span').first().textContent()).trim();
  check(seen.item.includes(clinician.display_name) && seen.item.includes(expert.display_name),
    `the recording does not name who is in it: ${seen.item}`);
  await item.locator('.play-recording').click();
  await doc.waitForFunction(() => {
    const canvases = [...document.querySelectorAll('#case-recordings canvas')];
    return canvases.length === 2 && canvases.every((c) => Number(c.dataset.frames || 0) > 20);
  });
  seen.canvases = await doc.locator('#case-recordings canvas').evaluateAll((cs) =>
    cs.map((c) => ({ width: c.width, height: c.height, frames: Number(c.dataset.frames) })));
  await doc.waitForFunction(() => [...document.querySelectorAll('#case-recordings audio')]
    .every((a) => a.readyState >= 1 || a.error));
  seen.audio = await doc.locator('#case-recordings audio').evaluateAll((as) =>
    as.map((a) => ({ duration: a.duration, ready: a.readyState, error: a.error && a.error.message, type: a.src })));
  check(seen.audio.length === 2 && seen.audio.every((a) => a.ready >= 1 && a.duration > 1),
    `the microphones are not playable: ${JSON.stringify(seen.audio)}`);
  // The picture is the camera's, not a blank canvas.
  seen.lit = await doc.locator('#case-recordings canvas').first().evaluate((c) => {
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let lit = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i] + data[i + 1] + data[i + 2] > 60) lit += 1;
    return lit / (data.length / 4);
  });
  check(seen.lit > 0.1, `the played video is dark: ${seen.lit}`);
  await journey.shot(doc, 'call-recording-2-played-in-the-page');
  await pro.close();
  return seen;
};
