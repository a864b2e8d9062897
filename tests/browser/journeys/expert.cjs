// The expert's day: the clinician waits on their home page; the expert
// signs in, finds today's consultation at its local time, opens the case,
// sees the attached study's thumbnail, is told off for a faulty diagnosis
// code, then writes and signs the opinion. The clinician's bell rings live,
// and from it the clinician opens the case and reads the signed opinion.
'use strict';

async function text(locator) {
  return (await locator.textContent() || '').replace(/\s+/g, ' ').trim();
}

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

async function bellCount(page) {
  return Number(await text(page.locator('#notifications .bell-count')) || 0);
}

module.exports = async function expert(journey, browser) {
  const { consultation, clinician, expert, patient, time, question, facility, findings } = journey.args;
  const seen = {};

  // The clinician's home, with the consultation booked for today.
  const desk = await journey.signIn(browser, clinician, 'en-US');
  const own = desk.locator(`#consultations tr[data-consultation="${consultation}"]`);
  await own.waitFor({ state: 'visible' });
  seen.clinician_row = await text(own);
  expect(seen.clinician_row.includes(patient), `the clinician's row lacks the patient: ${seen.clinician_row}`);
  expect(seen.clinician_row.includes(time), `the clinician's row lacks the time ${time}: ${seen.clinician_row}`);
  await desk.locator('#notifications .bell-button').waitFor({ state: 'visible' });
  seen.clinician_bell_before = await bellCount(desk);
  await journey.shot(desk, 'expert-1-clinician-home');

  // The expert's home: today's consultation at its local time, with Join.
  const page = await journey.signIn(browser, expert, 'en-US');
  const today = page.locator(`#today-panel #consultations tr[data-consultation="${consultation}"]`);
  await today.waitFor({ state: 'visible' });
  seen.expert_row = await text(today);
  expect(seen.expert_row.includes(time), `today's row lacks the local time ${time}: ${seen.expert_row}`);
  expect(seen.expert_row.includes(patient), `today's row lacks the patient: ${seen.expert_row}`);
  expect(seen.expert_row.includes(facility), `today's row lacks the facility: ${seen.expert_row}`);
  await today.locator('a.button', { hasText: 'Join the call' }).waitFor({ state: 'visible' });
  // The booking was announced to the expert: the bell shows it unread.
  await page.waitForFunction(() => Number(document.querySelector('#notifications .bell-count').textContent) > 0);
  seen.expert_bell = await bellCount(page);
  await journey.shot(page, 'expert-2-expert-home');

  // The case: who asks, what, and the study's thumbnail, drawn.
  await today.locator('a.case-link').click();
  const section = page.locator('#screen-consultation');
  await section.locator('.case-details').waitFor({ state: 'visible' });
  seen.case = await text(section.locator('.case-details'));
  for (const want of [patient, clinician.display_name, facility, question, time]) {
    expect(seen.case.includes(want), `the case page lacks ${want}: ${seen.case}`);
  }
  const thumb = section.locator('.study img.thumb');
  await thumb.waitFor({ state: 'visible' });
  await page.waitForFunction(() => {
    const img = document.querySelector('#screen-consultation .study img.thumb');
    return img && img.complete && img.naturalWidth > 0;
  });
  seen.thumbnail = await thumb.evaluate((img) => ({ width: img.naturalWidth, height: img.naturalHeight }));
  const viewerHref = await section.locator('.study a.thumb-link').getAttribute('href');
  expect(viewerHref.startsWith('#/studies/'), `the thumbnail does not open the viewer: ${viewerHref}`);
  await page.waitForFunction(() => /CT/.test(document.querySelector('#screen-consultation .study figcaption').textContent));
  await journey.shot(page, 'expert-3-case');

  // No call in this journey: the expert starts the consultation by hand.
  await section.locator('#case-start').click();
  const form = section.locator('#opinion-form');
  await form.waitFor({ state: 'visible' });
  await form.locator('textarea[name=findings]').fill(findings);
  await form.locator('input[name=diagnosis_codes]').fill('I20.0, angina');
  await form.locator('select[name=recommendation]').selectOption('treat_locally');
  await form.locator('#opinion-sign').click();
  const refusal = form.locator('#opinion-error');
  await page.waitForFunction(() => document.querySelector('#opinion-error').textContent.length > 0);
  seen.refusal = await text(refusal);
  expect(/ICD-10/.test(seen.refusal), `a faulty code is not explained: ${seen.refusal}`);
  expect(await refusal.getAttribute('role') === 'alert', 'the refusal is not an alert');
  await journey.shot(page, 'expert-4-faulty-code');

  await form.locator('input[name=diagnosis_codes]').fill('I20.0, I10');
  await form.locator('#opinion-save').click();
  await form.locator('#opinion-saved', { hasText: 'Draft saved' }).waitFor({ state: 'visible' });
  await form.locator('#opinion-sign').click();
  await form.locator('.sign-confirm').waitFor({ state: 'visible' });
  await journey.shot(page, 'expert-5-confirm-signature');
  await form.locator('#opinion-sign-now').click();
  const signed = section.locator('article.opinion.signed');
  await signed.waitFor({ state: 'visible' });
  seen.signed = await text(signed);
  expect(seen.signed.includes(findings), `the signed opinion lacks the findings: ${seen.signed}`);
  expect(seen.signed.includes('I20.0, I10'), `the signed opinion lacks the codes: ${seen.signed}`);
  expect(seen.signed.includes('Signed by'), `the opinion does not say who signed: ${seen.signed}`);
  await section.locator('.status-completed').waitFor({ state: 'visible' });
  await journey.shot(page, 'expert-6-signed');

  // Meanwhile, on the clinician's untouched page, the bell rang.
  await desk.waitForFunction((before) =>
    Number(document.querySelector('#notifications .bell-count').textContent || 0) > before,
  seen.clinician_bell_before, { timeout: journey.patience });
  seen.clinician_bell_after = await bellCount(desk);
  const toast = desk.locator('#notifications .bell-toast');
  await toast.waitFor({ state: 'visible' });
  seen.toast = await text(toast);
  expect(seen.toast.includes('signed the opinion'), `the toast says: ${seen.toast}`);
  // The home page's new results list it too.
  await desk.locator('#results-panel #results li').first().waitFor({ state: 'visible' });
  await desk.locator('#notifications .bell-button').click();
  const item = desk.locator('#notifications .bell-items li.unread[data-kind="opinion.signed"]');
  await item.waitFor({ state: 'visible' });
  await journey.shot(desk, 'expert-7-clinician-bell');

  // From the bell, the case: the signed opinion, and the bell read.
  await item.locator('a').click();
  const theirs = desk.locator('#screen-consultation article.opinion.signed');
  await theirs.waitFor({ state: 'visible' });
  seen.clinician_reads = await text(theirs);
  expect(seen.clinician_reads.includes(findings), `the clinician reads: ${seen.clinician_reads}`);
  expect(seen.clinician_reads.includes('Treat locally'), `no recommendation: ${seen.clinician_reads}`);
  await desk.waitForFunction((before) =>
    Number(document.querySelector('#notifications .bell-count').textContent || 0) <= before,
  seen.clinician_bell_before);
  seen.clinician_bell_read = await bellCount(desk);
  // The clinician has nothing to write: no editor on their page.
  expect(await desk.locator('#opinion-form').count() === 0, 'the clinician is offered the editor');
  await journey.shot(desk, 'expert-8-clinician-reads');
  return seen;
};
