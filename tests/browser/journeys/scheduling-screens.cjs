// The scheduler and the expert on the screens that name patients and move
// urgent requests. The scheduler (in English) finds a booking on the board
// under its patient's name, record number and requesting clinic, not a
// bare number; on the on-call desk finds the waiting urgent requests named
// the same way and assigns one to the expert and another one too. The
// expert (in Chinese) finds both offered on the On call page, accepts the
// first (and lands on its case page), declines the second with a reason;
// then, on a booked case, declines it; and, on a case whose slot has
// begun, marks the patient a no-show.
//
// Arguments: base, screenshots, scheduler and expert {username, password},
// week (the board's Monday), booking (id on the board), patient
// {name, record_number}, clinic (its name), urgent [two consultation ids],
// expert_id, declined (a booked consultation id), no_show (consultation id).
'use strict';

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function text(locator) {
  return (await locator.innerText()).replace(/\s+/g, ' ').trim();
}

module.exports = async function schedulingScreens(journey, browser) {
  const a = journey.args;
  const seen = {};

  // ---- The scheduler, in English --------------------------------------
  const desk = await journey.signIn(browser, a.scheduler, 'en-US');
  await desk.evaluate((w) => { location.hash = `#/bookings/${w}`; }, a.week);
  const row = desk.locator(`#board tr[data-booking="${a.booking}"]`);
  await row.waitFor();
  seen.board_patient = await text(row.locator('td.patient-cell'));
  seen.board_clinic = await text(row.locator('td.clinic'));
  seen.board_headers = await desk.locator('#board thead th').allInnerTexts();
  check(seen.board_patient.includes(a.patient.name) && seen.board_patient.includes(a.patient.record_number),
    `the board names the patient: ${seen.board_patient}`);
  check(!/#\d/.test(await text(row)), `the board row still shows a bare number: ${await text(row)}`);
  await journey.shot(desk, 'scheduling-1-board');

  await desk.locator('#nav a[href="#/on-call"]').click();
  const queue = desk.locator('#oncall-queue');
  for (const id of a.urgent) await queue.locator(`tr[data-consultation="${id}"]`).waitFor();
  const first = queue.locator(`tr[data-consultation="${a.urgent[0]}"]`);
  seen.desk_patient = await text(first.locator('td.patient-cell'));
  seen.desk_clinic = await text(first.locator('td.clinic'));
  check(seen.desk_patient.includes(a.patient.name) && seen.desk_patient.includes(a.patient.record_number),
    `the desk names the patient: ${seen.desk_patient}`);
  await journey.shot(desk, 'scheduling-2-desk-queue');
  for (const id of a.urgent) {
    const r = queue.locator(`tr[data-consultation="${id}"]`);
    await r.locator('select[name=expert_id]').selectOption(String(a.expert_id));
    await r.locator('button.assign').click();
    await queue.locator(`tr[data-consultation="${id}"][data-offered="${a.expert_id}"] p.offered`).waitFor();
  }
  seen.desk_offered = await text(queue.locator(`tr[data-consultation="${a.urgent[0]}"] p.offered`));
  await journey.shot(desk, 'scheduling-3-desk-assigned');

  // ---- The expert, in Chinese ------------------------------------------
  const expert = await journey.signIn(browser, a.expert, 'zh-CN');
  await expert.locator('#nav a[href="#/on-call"]').click();
  const mine = expert.locator('#oncall-queue');
  for (const id of a.urgent) await mine.locator(`tr[data-consultation="${id}"] button.accept`).waitFor();
  seen.expert_accept = await text(mine.locator(`tr[data-consultation="${a.urgent[0]}"] button.accept`));
  seen.expert_decline = await text(mine.locator(`tr[data-consultation="${a.urgent[1]}"] button.decline`));
  seen.expert_headers = await expert.locator('#oncall-queue thead th').allInnerTexts();
  await journey.shot(expert, 'scheduling-4-on-call-offered');

  // Declines the second offer with a reason; it leaves their page.
  const second = mine.locator(`tr[data-consultation="${a.urgent[1]}"]`);
  await second.locator('button.decline').click();
  await second.locator('form.decline-offer input[name=reason]').fill('正在手术，两小时内无法接诊');
  await second.locator('form.decline-offer button[type=submit]').click();
  await mine.locator(`tr[data-consultation="${a.urgent[1]}"]`).waitFor({ state: 'detached' });
  await journey.shot(expert, 'scheduling-5-offer-declined');

  // Accepts the first: its case page opens, scheduled.
  await mine.locator(`tr[data-consultation="${a.urgent[0]}"] button.accept`).click();
  await expert.waitForFunction((id) => location.hash === `#/consultations/${id}`, a.urgent[0]);
  const status = expert.locator('#screen-consultation .status');
  await status.filter({ hasText: /\S/ }).first().waitFor();
  seen.accepted_status = await text(status.first());
  await journey.shot(expert, 'scheduling-6-accepted');

  // Declines a booked case on its page.
  await expert.evaluate((id) => { location.hash = `#/consultations/${id}`; }, a.declined);
  const declineForm = expert.locator('#screen-consultation form.reason-form');
  await expert.locator('#screen-consultation .case-actions button.danger').first().click();
  await declineForm.locator('textarea[name=reason]').fill('超出本专科范围，建议转神经内科');
  await declineForm.locator('button[type=submit]').click();
  await expert.locator('#screen-consultation .status.status-declined').waitFor();
  seen.declined_status = await text(expert.locator('#screen-consultation .status.status-declined'));
  await journey.shot(expert, 'scheduling-7-declined');

  // Marks the patient of a begun slot a no-show.
  await expert.evaluate((id) => { location.hash = `#/consultations/${id}`; }, a.no_show);
  await expert.locator('#case-no-show').waitFor();
  seen.no_show_button = await text(expert.locator('#case-no-show'));
  await expert.locator('#case-no-show').click();
  await expert.locator('#case-no-show-confirm').click();
  await expert.locator('#screen-consultation .status.status-requested').waitFor();
  seen.after_no_show = await text(expert.locator('#screen-consultation .status.status-requested'));
  await journey.shot(expert, 'scheduling-8-no-show');
  return seen;
};
