// Mutual recognition of results, as the README's demo walks it, in Chinese:
// the island clinician opens 王秀英's page, where the county's head CT is
// not listed; asking for a head CT warns of the county's, closed until she
// consents; the clinician records her consent from the signed form; the
// county CT is then listed, marked as shared, and asking again offers the
// earlier study, which opens in the viewer. Withdrawing the consent closes
// it again.
'use strict';

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function askHeadCt(page) {
  const form = page.locator('#exam-form');
  await form.locator('select[name=modality]').selectOption('CT');
  await form.locator('input[name=body_part]').fill('HEAD');
  await form.locator('button[type=submit]').click();
  await page.locator('#exam-repeat').waitFor({ state: 'visible' });
}

module.exports = async function sharing(journey, browser) {
  const { clinician, patient, county_study: countyStudy, form_reference: formReference } = journey.args;
  const seen = {};
  const page = await journey.signIn(browser, clinician, 'zh-CN');
  await page.goto(`/#/patients/${patient}`);
  await page.locator('#patient-name').waitFor();
  await page.locator('#sharing-none').waitFor();
  await page.locator('#studies').waitFor();
  seen.before = await page.locator('#studies tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.study));
  seen.elsewhereBefore = (await page.locator('#elsewhere-closed').textContent()).trim();

  await askHeadCt(page);
  seen.closed = (await page.locator('#exam-prior-closed').textContent()).trim();
  check(await page.locator('#exam-open-prior').count() === 0, 'the prior opens without consent');
  await journey.shot(page, 'sharing-1-closed');

  // The consent, from the signed form.
  const form = page.locator('#sharing-form');
  await form.locator('select[name=scope]').selectOption('consortium');
  await form.locator('select[name=given_by]').selectOption('patient');
  await form.locator('input[name=form_reference]').fill(formReference);
  await form.locator('button[type=submit]').click();
  await page.locator('#sharing-in-force').waitFor();
  seen.inForce = (await page.locator('#sharing-in-force').textContent()).trim();
  const shared = page.locator(`#studies tr[data-study="${countyStudy}"]`);
  await shared.waitFor();
  seen.sharedRow = (await shared.textContent()).trim();
  seen.sharedAccess = await shared.getAttribute('data-access');
  await page.locator('#elsewhere-reports').waitFor();
  check(await page.locator('#elsewhere-closed').count() === 0, 'other facilities stay closed after consent');
  await journey.shot(page, 'sharing-2-consented');

  // The duplicate warning now opens the county's CT in the viewer.
  await askHeadCt(page);
  const open = page.locator('#exam-open-prior');
  await open.waitFor();
  seen.recognised = await page.locator('#exam-recognition').getAttribute('data-recognised');
  seen.recognition = (await page.locator('#exam-recognition').textContent()).trim();
  seen.openHref = await open.getAttribute('href');
  await open.click();
  await page.waitForURL(/#\/studies\//);
  await page.locator('#screen-viewer .viewer-stage').waitFor({ state: 'visible' });
  await page.waitForFunction(() => {
    const busy = document.querySelector('#screen-viewer .viewer-busy');
    const wl = document.querySelector('#screen-viewer .viewer-wl');
    return busy && busy.hidden && wl && wl.textContent.trim() !== '';
  });
  seen.viewerUrl = page.url();
  await journey.shot(page, 'sharing-3-viewer');

  // Withdrawn, the county's CT leaves the page at once.
  await page.goto(`/#/patients/${patient}`);
  const withdraw = page.locator('#sharing-withdraw');
  await withdraw.locator('input[name=reason]').fill('患者要求撤回');
  await withdraw.locator('button[type=submit]').click();
  await page.locator('#sharing-none').waitFor();
  await page.locator(`#studies tr[data-study="${countyStudy}"]`).waitFor({ state: 'detached' });
  seen.after = await page.locator('#studies tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.study));
  await journey.shot(page, 'sharing-4-withdrawn');
  return seen;
};
