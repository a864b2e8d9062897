// Three screens that were missing. The administrator (in Chinese)
// registers an island clinic's ultrasound cart as a modality (refused once
// for a host that is none, in the client's own words), changes its port and
// type, registers a second and removes it. The requesting clinician (in
// English) invites two colleagues to a consultation's call and withdraws
// one. A reading lead (in Chinese) hands a claimed reading to another
// reader from the worklist.
//
// Arguments: base, screenshots, admin, clinician, lead {username,
// password}, facility (id), modality {ae_title, type, host, port,
// new_port, new_type}, second_ae, consultation (id), invitees [two
// display names], request (reading request id), to_reader (display name).
'use strict';

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function text(locator) {
  return (await locator.innerText()).replace(/\s+/g, ' ').trim();
}

module.exports = async function adminModalities(journey, browser) {
  const a = journey.args;
  const seen = {};

  // ---- Modality registration, in Chinese --------------------------------
  const admin = await journey.signIn(browser, a.admin, 'zh-CN');
  admin.on('dialog', (dialog) => dialog.accept());
  await admin.locator('#nav a[href="#/admin/facilities"]').click();
  await admin.locator('#screen-admin nav.tabs a[href="#/admin/modalities"]').click();
  const section = admin.locator('#screen-admin-modalities');
  const form = section.locator('#modality-form');
  await form.waitFor();
  seen.tab = await text(section.locator('nav.tabs a.active'));
  const loaded = admin.waitForResponse((r) => r.url().endsWith(`/facilities/${a.facility}/modalities`));
  await section.locator('#modality-facility').selectOption(String(a.facility));
  await loaded;
  await form.locator('input[name=ae_title]').fill(a.modality.ae_title);
  await form.locator('input[name=modality_type]').fill(a.modality.type);
  await form.locator('input[name=allowed_hosts]').fill('island-cart.local');
  await form.locator('input[name=port]').fill(String(a.modality.port));
  await form.locator('button[type=submit]').click();
  const refusal = form.locator('[role=alert]');
  await refusal.filter({ hasText: /\S/ }).waitFor();
  seen.host_refused = await text(refusal);
  await journey.shot(admin, 'modalities-1-refused');
  await form.locator('input[name=allowed_hosts]').fill(a.modality.host);
  await form.locator('button[type=submit]').click();
  const row = section.locator('#modalities tbody tr', { hasText: a.modality.ae_title });
  await row.waitFor();
  seen.registered = await text(row);
  await journey.shot(admin, 'modalities-2-registered');

  await row.locator('button.edit').click();
  check((await form.locator('input[name=ae_title]').inputValue()) === a.modality.ae_title, 'Edit loads the row');
  await form.locator('input[name=port]').fill(String(a.modality.new_port));
  await form.locator('input[name=modality_type]').fill(a.modality.new_type);
  await form.locator('button[type=submit]').click();
  await row.locator('td.port', { hasText: String(a.modality.new_port) }).waitFor();
  seen.edited = await text(row);
  await journey.shot(admin, 'modalities-3-edited');

  await form.locator('input[name=ae_title]').fill(a.second_ae);
  await form.locator('button[type=submit]').click();
  const second = section.locator('#modalities tbody tr', { hasText: a.second_ae });
  await second.waitFor();
  await second.locator('button.delete').click();
  await second.waitFor({ state: 'detached' });
  seen.rows = await section.locator('#modalities tbody tr').count();
  seen.headers = await section.locator('#modalities thead th').allInnerTexts();
  await journey.shot(admin, 'modalities-4-removed');

  // ---- Invitees, in English ----------------------------------------------
  const clinician = await journey.signIn(browser, a.clinician, 'en-US');
  await clinician.evaluate((id) => { location.hash = `#/consultations/${id}`; }, a.consultation);
  const invite = clinician.locator('#invite-form');
  await invite.waitFor();
  for (const [n, { id, name }] of a.invitees.entries()) {
    await invite.locator('select[name=user_id]').selectOption(String(id));
    await invite.locator('input[name=note]').fill(n === 0 ? 'radiologist to show the scan' : 'interpreter (Minnan)');
    await invite.locator('button[type=submit]').click();
    await clinician.locator('#case-invitees li strong', { hasText: name }).waitFor();
  }
  await journey.shot(clinician, 'invitees-1-two');
  const gone = clinician.locator('#case-invitees li', { hasText: a.invitees[1].name });
  await gone.locator('button.uninvite').click();
  await gone.waitFor({ state: 'detached' });
  seen.invitees = await clinician.locator('#case-invitees li').allInnerTexts();
  seen.invitees_heading = await text(clinician.locator('#case-invitees h3'));
  await journey.shot(clinician, 'invitees-2-one-withdrawn');

  // ---- Reassigning a reading, in Chinese ---------------------------------
  const lead = await journey.signIn(browser, a.lead, 'zh-CN');
  await lead.locator('#nav a[href="#/worklist"]').click();
  const request = lead.locator(`table.worklist tr[data-request="${a.request}"]`);
  await request.locator('button[data-action=reassign]').waitFor();
  seen.reassign_button = await text(request.locator('button[data-action=reassign]'));
  await request.locator('select[name=reader_id]').selectOption({ label: a.to_reader });
  await journey.shot(lead, 'reassign-1-choosing');
  const answered = lead.waitForResponse((r) => r.url().endsWith(`/reading-requests/${a.request}/reassign`));
  await request.locator('button[data-action=reassign]').click();
  check((await answered).status() === 200, 'the reassign is taken');
  // Drawn afresh: the new reader is no longer among those to hand it to.
  await lead.waitForFunction(({ id, name }) => {
    const tr = document.querySelector(`table.worklist tr[data-request="${id}"]`);
    return tr && tr.textContent.includes(name)
      && ![...tr.querySelectorAll('select[name=reader_id] option')].some((o) => o.textContent === name);
  }, { id: a.request, name: a.to_reader });
  seen.reassigned = await text(lead.locator(`table.worklist tr[data-request="${a.request}"]`));
  await journey.shot(lead, 'reassign-2-done');
  return seen;
};
