// One person, one patient, as a registrar at the county hospital meets it,
// in Chinese: registering 张小宇, whom the island clinic already knows, the
// consortium offers that record without telling its details; saying "the
// same person" without proof is refused with what to ask the patient for;
// with the number from his identity card the registration joins him, and
// his page lists both facilities' records.
'use strict';

function check(condition, message) {
  if (!condition) throw new Error(message);
}

module.exports = async function patientIndex(journey, browser) {
  const { registrar, person, national_id: nationalId } = journey.args;
  const seen = {};
  const page = await journey.signIn(browser, registrar, 'zh-CN');
  await page.goto('/#/patients');
  const form = page.locator('#patient-register');
  await form.locator('input[name=family_name]').fill(person.family_name);
  await form.locator('input[name=given_name]').fill(person.given_name);
  await form.locator('select[name=sex]').selectOption(person.sex);
  await form.locator('input[name=birth_date]').fill(person.birth_date);
  await form.locator('input[name=record_number]').fill(person.record_number);
  await form.locator('button[type=submit]').click();

  const offer = page.locator('#patient-candidates');
  await offer.waitFor();
  seen.offer = (await offer.textContent()).trim();
  seen.candidates = await offer.locator('li[data-candidate]').count();
  check(!seen.offer.includes(nationalId), 'the offer shows the identity number on file');
  await journey.shot(page, 'patient-index-1-offer');

  // "The same person", with nothing but the name and birth date: refused,
  // saying what to ask the patient for.
  await offer.locator('li[data-candidate] button').first().click();
  const refusal = page.locator('#patient-candidates-error');
  await page.waitForFunction(() => {
    const line = document.querySelector('#patient-candidates-error');
    return line && line.textContent.trim() !== '';
  });
  seen.refused = (await refusal.textContent()).trim();

  // The number from his identity card: typed into the form (which takes the
  // offer away), the registration joins the person the consortium knows.
  await form.locator('input[name=national_id]').fill(nationalId);
  await offer.waitFor({ state: 'detached' });
  await form.locator('button[type=submit]').click();
  await page.waitForURL(/#\/patients\/\d+$/);
  await page.locator('#patient-records').waitFor();
  seen.url = page.url();
  seen.name = (await page.locator('#patient-name').textContent()).trim();
  seen.records = (await page.locator('#patient-records').textContent()).trim();
  await journey.shot(page, 'patient-index-2-joined');
  return seen;
};
