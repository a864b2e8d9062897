// The patient's consent to a referral: the sending clinician opens it from
// the referral's row on the patient's page and records it, in Chinese.
'use strict';

module.exports = async function consentReferral(journey, browser) {
  const { patient, referral, clinician } = journey.args;
  const page = await journey.signIn(browser, clinician, 'zh-CN');
  await page.goto(`/#/patients/${patient}`);
  const row = page.locator(`tr[data-referral="${referral}"]:visible`);
  await row.waitFor({ state: 'visible' });
  await row.locator('button[data-move=consents]').click();
  const form = row.locator('.consent-form');
  await form.waitFor({ state: 'visible' });
  await form.locator('input[name=form_reference]').fill('转诊知情同意书 R-7');
  await form.locator('button[type=submit]').click();
  const recorded = row.locator('.consent-list li[data-kind=referral]');
  await recorded.filter({ hasText: '有效' }).waitFor({ state: 'visible' });
  const listed = await recorded.textContent();
  await journey.shot(page, 'consent-referral-1-recorded');
  return { listed };
};
