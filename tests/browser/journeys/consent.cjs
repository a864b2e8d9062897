// The patient's consent to a teleconsultation, where the consortium
// requires it before the call: the expert opening the call is told it is
// not on record; the clinician records it on the case page (a guardian
// signed for the patient); the expert's call screen then admits them and
// shows who gave it and who recorded it. Both screens in Chinese.
'use strict';

module.exports = async function consent(journey, browser) {
  const { consultation, clinician, expert, guardian } = journey.args;
  const expertPage = await journey.signIn(browser, expert, 'zh-CN');
  await expertPage.goto(`/#/consultations/${consultation}/call`);
  const refused = expertPage.locator('#call-error');
  await refused.filter({ hasText: '知情同意' }).waitFor({ state: 'visible' });
  const refusal = await refused.textContent();
  await journey.shot(expertPage, 'consent-1-expert-refused');

  const page = await journey.signIn(browser, clinician, 'zh-CN');
  await page.goto(`/#/consultations/${consultation}`);
  const form = page.locator('.consent-form');
  await form.waitFor({ state: 'visible' });
  await form.locator('select[name=kind]').selectOption('teleconsultation');
  await form.locator('select[name=given_by]').selectOption('guardian');
  await form.locator('input[name=guardian_name]').fill(guardian);
  await form.locator('input[name=form_reference]').fill('知情同意书 2026-118');
  await form.locator('button[type=submit]').click();
  const recorded = page.locator('.consent-list li[data-kind=teleconsultation]');
  await recorded.filter({ hasText: '有效' }).waitFor({ state: 'visible' });
  const listed = await recorded.textContent();
  await journey.shot(page, 'consent-2-clinician-recorded');

  await expertPage.goto('/#/');
  await expertPage.goto(`/#/consultations/${consultation}/call`);
  await expertPage.locator('#call-join-now').waitFor({ state: 'visible' });
  const line = expertPage.locator('#call-patient-consent');
  await line.filter({ hasText: guardian }).waitFor({ state: 'visible' });
  const shown = await line.textContent();
  await journey.shot(expertPage, 'consent-3-expert-sees-it');
  return { refusal, listed, shown };
};
