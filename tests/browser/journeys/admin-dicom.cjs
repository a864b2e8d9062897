// The administrator sets up the DICOM network, in Chinese: adds a
// destination to a facility (refused for a host that is no host, then
// taken, over DICOM TLS), sees that switching facility carries nothing
// typed for the first one over, forwards another facility's CT there
// (refused for a modality that is none, then taken), stops the rule after
// saying no once to the question, reads the forwarding queue (a failing
// row's error and next attempt, in local time) and, in English, deletes
// the destination.
//
// Arguments: base, screenshots, admin {username, password}, facility and
// other (facility ids), destination {ae_title, host, port}, and optionally
// failing: a study instance UID whose forwarding is failing.
'use strict';

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const ISO = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

module.exports = async function adminDicom(journey, browser) {
  const { admin, facility, other, destination, failing } = journey.args;
  const seen = {};
  const page = await journey.signIn(browser, admin, 'zh-CN');

  await page.locator('#nav a[href="#/admin/facilities"]').click();
  await page.locator('#screen-admin nav.tabs a[href="#/admin/dicom"]').click();
  const section = page.locator('#screen-admin-dicom');
  const form = section.locator('#destination-form');
  await form.waitFor();
  seen.tab = (await section.locator('nav.tabs a.active').textContent()).trim();
  seen.heading = (await section.locator('h2').textContent()).trim();

  // A destination: a URL is no host; then the proper one, over TLS.
  const answered = (id) => page.waitForResponse((r) => r.url().endsWith(`/facilities/${id}/dicom-destinations`)
    && r.request().method() === 'GET');
  let loaded = answered(facility);
  await section.locator('#dicom-facility').selectOption(String(facility));
  await loaded;
  seen.form_title = (await form.locator('h3').textContent()).trim();
  await form.locator('input[name=ae_title]').fill(destination.ae_title);
  await form.locator('input[name=host]').fill(`http://${destination.host}/`);
  await form.locator('input[name=port]').fill(String(destination.port));
  await form.locator('input[name=tls]').check();
  await form.locator('button[type=submit]').click();
  const refusal = form.locator('[role=alert]');
  await refusal.filter({ hasText: /\S/ }).waitFor();
  seen.host_refused = await refusal.textContent();
  await journey.shot(page, 'admin-dicom-1-refused');
  await form.locator('input[name=host]').fill(destination.host);
  await form.locator('button[type=submit]').click();
  const row = section.locator('#dicom-destinations tbody tr', { hasText: destination.ae_title });
  await row.waitFor();
  seen.destination = (await row.innerText()).trim();
  seen.tls = (await row.locator('td.tls').textContent()).trim();
  check((await refusal.textContent()) === '', 'the refusal stays after the destination was added');
  check((await form.locator('input[name=ae_title]').inputValue()) === '', 'the form keeps what was added');

  // The same AE title again at the same facility.
  await form.locator('input[name=ae_title]').fill(destination.ae_title);
  await form.locator('input[name=host]').fill(destination.host);
  await form.locator('input[name=port]').fill(String(destination.port));
  await form.locator('button[type=submit]').click();
  await refusal.filter({ hasText: /\S/ }).waitFor();
  seen.title_taken = await refusal.textContent();

  // Half-typed for this facility, then another: nothing of it follows.
  await form.locator('input[name=ae_title]').fill('HALF-TYPED');
  await form.locator('input[name=tls]').check();
  loaded = answered(other);
  await section.locator('#dicom-facility').selectOption(String(other));
  await loaded;
  seen.switched = {
    title: (await form.locator('h3').textContent()).trim(),
    ae_title: await form.locator('input[name=ae_title]').inputValue(),
    host: await form.locator('input[name=host]').inputValue(),
    tls: await form.locator('input[name=tls]').isChecked(),
    alert: await refusal.textContent(),
    rows: await section.locator('#dicom-destinations tbody tr', { hasText: destination.ae_title }).count(),
  };
  check(seen.switched.ae_title === '' && seen.switched.host === '' && !seen.switched.tls,
    `the form kept another facility's input: ${JSON.stringify(seen.switched)}`);
  check(seen.switched.alert === '', 'the refusal for another facility stays');
  check(seen.switched.rows === 0, 'another facility shows the new destination');
  await journey.shot(page, 'admin-dicom-2-switched');

  // A rule: what `other` stores of CT goes to the new destination.
  const rules = section.locator('#forward-rule-form');
  const option = rules.locator('select[name=destination_id] option', { hasText: destination.ae_title });
  await option.waitFor({ state: 'attached' });
  await rules.locator('select[name=destination_id]').selectOption(await option.getAttribute('value'));
  await rules.locator('select[name=facility_id]').selectOption(String(other));
  await rules.locator('input[name=modality]').fill('XYZ');
  await rules.locator('button[type=submit]').click();
  const ruleRefusal = rules.locator('[role=alert]');
  await ruleRefusal.filter({ hasText: /\S/ }).waitFor();
  seen.modality_refused = await ruleRefusal.textContent();
  await rules.locator('input[name=modality]').fill('CT');
  seen.routes = await rules.locator('select[name=reading_route_id] option').allTextContents();
  await rules.locator('button[type=submit]').click();
  const rule = section.locator('#dicom-rules tbody tr', { hasText: destination.ae_title });
  await rule.waitFor();
  seen.rule = (await rule.innerText()).trim();
  await journey.shot(page, 'admin-dicom-3-rule');

  // Stopping it asks first; "no" keeps it.
  page.once('dialog', (dialog) => { seen.rule_confirm = dialog.message(); dialog.dismiss(); });
  await rule.locator('button').click();
  check(await rule.count() === 1, 'the rule went although the question was answered no');
  page.once('dialog', (dialog) => dialog.accept());
  await rule.locator('button').click();
  await rule.waitFor({ state: 'detached' });

  // The queue.
  const counts = section.locator('#outbox-counts');
  await counts.locator('[data-count=pending]').waitFor();
  seen.counts = (await counts.innerText()).trim();
  if (failing) {
    await section.locator('#outbox-state').selectOption('failing');
    const late = section.locator('#dicom-outbox tbody tr[data-state=failing]', { hasText: failing });
    const until = Date.now() + journey.patience;
    while (await late.count() === 0) {
      check(Date.now() < until, `no failing row for ${failing}`);
      await page.waitForTimeout(1000);
      await section.locator('#outbox-refresh').click();
    }
    seen.failing = {
      state: (await late.locator('td').first().textContent()).trim(),
      error: (await late.locator('td.last-error').textContent()).trim(),
      kind: (await late.locator('td.last-error .error-kind').textContent()).trim(),
      next: (await late.locator('td.next').textContent()).trim(),
    };
  }
  seen.outbox = (await section.locator('#dicom-outbox-part').innerText()).trim();
  check(!ISO.test(seen.outbox), 'the queue shows a time as the server wrote it');
  await journey.shot(page, 'admin-dicom-4-outbox');

  // In English, the destination goes.
  await page.locator('#language').selectOption('en');
  await section.locator('h2', { hasText: 'DICOM network' }).waitFor();
  seen.english = {
    tab: (await section.locator('nav.tabs a.active').textContent()).trim(),
    headings: (await section.locator('h3').allTextContents()).map((h) => h.trim()),
    counts: (await counts.innerText()).trim(),
  };
  await section.locator('#dicom-facility').selectOption(String(facility));
  await row.waitFor();
  seen.english.tls = (await row.locator('td.tls').textContent()).trim();
  page.once('dialog', (dialog) => { seen.destination_confirm = dialog.message(); dialog.accept(); });
  await row.locator('button').click();
  await row.waitFor({ state: 'detached' });
  await journey.shot(page, 'admin-dicom-5-deleted');
  return seen;
};
