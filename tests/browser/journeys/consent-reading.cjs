// The patient's consent to a remote reading: the island clinician records
// it on the request's page, in English; the radiologist at the tertiary
// hospital opens the same request and reads it, in Chinese.
'use strict';

module.exports = async function consentReading(journey, browser) {
  const { request, clinician, reader } = journey.args;
  const page = await journey.signIn(browser, clinician, 'en-US');
  await page.goto(`/#/reading-requests/${request}`);
  const form = page.locator('#report-consents .consent-form');
  await form.waitFor({ state: 'visible' });
  await form.locator('input[name=form_reference]').fill('Remote reading consent CT-3');
  await form.locator('button[type=submit]').click();
  const recorded = page.locator('#report-consents li[data-kind=remote_reading]');
  await recorded.filter({ hasText: 'in force' }).waitFor({ state: 'visible' });
  const listed = await recorded.textContent();
  await journey.shot(page, 'consent-reading-1-clinician');

  const radiologist = await journey.signIn(browser, reader, 'zh-CN');
  await radiologist.goto(`/#/reading-requests/${request}`);
  const seen = radiologist.locator('#report-consents li[data-kind=remote_reading]');
  await seen.filter({ hasText: '有效' }).waitFor({ state: 'visible' });
  const read = await seen.textContent();
  const mayRecord = await radiologist.locator('#report-consents .consent-form').count();
  await journey.shot(radiologist, 'consent-reading-2-radiologist');
  return { listed, read, mayRecord };
};
