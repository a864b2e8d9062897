// Images a clinic's modality sent with a Patient ID it does not know, as
// the clinician meets them on the home page, in Chinese: the waiting study
// is listed with the name the images carry; she finds the patient, sees
// both names side by side before anything moves, and files the study,
// which then leaves the list and shows on the patient's page.
'use strict';

function check(condition, message) {
  if (!condition) throw new Error(message);
}

module.exports = async function unlinked(journey, browser) {
  const { clinician, study, search, patient } = journey.args;
  const seen = {};
  const page = await journey.signIn(browser, clinician, 'zh-CN');
  const row = page.locator(`#unlinked tr[data-study="${study}"]`);
  await row.waitFor();
  seen.heading = (await page.locator('#unlinked-panel h2').textContent()).trim();
  seen.row = (await row.textContent()).trim();
  await journey.shot(page, 'unlinked-1-waiting');

  await row.locator('input[name=q]').fill(search);
  await row.locator('form.find-patient button[type=submit]').click();
  const choice = row.locator('select[name=patient]');
  await choice.waitFor({ state: 'visible' });
  seen.choices = await choice.locator('option').count();
  page.once('dialog', async (dialog) => {
    seen.confirm = dialog.message();
    await dialog.accept();
  });
  await row.locator('button.file-study').click();
  await row.waitFor({ state: 'detached' });
  seen.left = await page.locator('#unlinked-panel').textContent();
  await journey.shot(page, 'unlinked-2-filed');

  await page.goto(`/#/patients/${patient}`);
  const listed = page.locator(`[data-study="${study}"]`);
  await listed.first().waitFor();
  seen.on_patient_page = await listed.count();
  check(seen.on_patient_page > 0, 'the study is not on the patient page');
  await journey.shot(page, 'unlinked-3-patient');
  return seen;
};
