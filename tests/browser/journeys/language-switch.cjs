// The words of codes, and a language switch that must not undo work. A
// clinician with a Chinese browser sees the examination form's modalities
// by name, then sends a study from a patient's upload page over a slow
// link and switches to English while it is being sent: the upload goes on
// to its end on the same page, its rows and summary now in English. An
// administrator with a Chinese browser sees a reading route's body part by
// name, and the audit log's events in words, not as `patient.read`; the
// event filter takes those words, and a switch to English names them anew.
'use strict';

const STOW = '/dicomweb/studies';
const DONE = ['stored', 'present', 'refused', 'failed'];
// How long the server's answer to each upload is held back, so the upload
// is still under way when the language is switched.
const SLOW_MS = 1200;

// The audit table's event column (seq, when, actor, action, event, ...).
async function auditEvents(page) {
  return page.locator('#audit-events tbody tr').evaluateAll((rows) => rows.map((row) => {
    const cell = row.children[4];
    return { text: cell.textContent.trim(), subtype: cell.dataset.subtype || null, title: cell.title || null };
  }));
}

async function quietAudit(page) {
  await page.waitForFunction(() => document.querySelectorAll('#audit-events tbody tr').length > 0);
}

module.exports = async function languageSwitch(journey, browser) {
  const { clinician, admin, patient, files } = journey.args;
  const errors = [];
  const seen = {};

  const page = await journey.signIn(browser, clinician, 'zh-CN');
  page.on('pageerror', (e) => errors.push(String(e)));

  // The examination form: each modality by its name, the code as the value.
  await page.goto(`/#/patients/${patient.id}`);
  const select = page.locator('#exam-form select[name=modality]');
  await select.waitFor();
  seen.modalities = await select.locator('option').evaluateAll((options) =>
    options.map((o) => ({ value: o.value, text: o.textContent.trim() })));
  await journey.shot(page, '1-modalities-zh');

  // The upload page, with every upload's answer held back a little.
  const posts = [];
  await page.route(`**${STOW}`, async (route) => {
    if (route.request().method() !== 'POST') return route.continue();
    posts.push(route.request().url());
    await new Promise((resolve) => setTimeout(resolve, SLOW_MS));
    return route.continue();
  });
  await page.goto(`/#/patients/${patient.id}/upload`);
  await page.locator(`#screen-upload .patient-banner[data-patient-id="${patient.id}"]`).waitFor();
  await page.locator('#upload-drop').waitFor();
  // A mark on this opening's section: drawing the screen again replaces it.
  await page.evaluate(() => { document.querySelector('#screen-upload').dataset.journey = 'this-opening'; });
  await page.locator('#upload-files-input').setInputFiles(files);
  await page.locator('#upload-files tr[data-state="sending"]').first().waitFor();
  seen.busy_during = await page.evaluate(() => document.querySelector('#screen-upload').dataset.busy || null);
  seen.done_at_switch = await page.evaluate((done) => [...document.querySelectorAll('#upload-files tbody tr')]
    .filter((r) => done.includes(r.dataset.state)).length, DONE);
  await journey.shot(page, '2-sending-zh');

  await page.selectOption('#language', 'en');
  // To the upload's end, or until the page shows another opening (the
  // upload it had is then stopped).
  await page.waitForFunction(([n, done]) => {
    const section = document.querySelector('#screen-upload');
    if (!section || section.dataset.journey !== 'this-opening') return true;
    const rows = [...section.querySelectorAll('#upload-files tbody tr')];
    return rows.length === n && rows.every((r) => done.includes(r.dataset.state));
  }, [files.length, DONE], { timeout: journey.patience });
  seen.upload = await page.evaluate(() => {
    const section = document.querySelector('#screen-upload');
    const summary = section.querySelector('#upload-summary');
    return {
      same_opening: section.dataset.journey === 'this-opening',
      busy_after: section.dataset.busy || null,
      lang: document.documentElement.lang,
      states: [...section.querySelectorAll('#upload-files tbody tr')].map((r) => r.dataset.state),
      words: [...section.querySelectorAll('#upload-files tbody .upload-status')].map((s) => s.textContent.trim()),
      summary: summary && !summary.hidden ? summary.querySelector('[role=status]').textContent.trim() : null,
      // A page drawn again may still be loading: no heading yet.
      title: (section.querySelector('h2') || { textContent: '' }).textContent.trim(),
    };
  });
  seen.posts = posts.length;
  await journey.shot(page, '3-stored-en');
  await page.context().close();

  // The administrator, in Chinese: a reading route's body part by name.
  const desk = await journey.signIn(browser, admin, 'zh-CN');
  desk.on('pageerror', (e) => errors.push(String(e)));
  await desk.goto('/#/admin/routes');
  await desk.locator('#admin-routes tbody tr').first().waitFor();
  seen.routes = await desk.locator('#admin-routes tbody tr').evaluateAll((rows) => rows.map((row) => ({
    body_part: row.children[3].textContent.trim(),
    title: row.children[3].title || null,
  })));
  await journey.shot(desk, '4-routes-zh');

  // The audit log, in Chinese: events in words, their raw names kept aside.
  await desk.goto('/#/admin/audit');
  await quietAudit(desk);
  seen.audit_zh = await auditEvents(desk);
  const filter = desk.locator('#audit-filters input[name=subtype]');
  seen.filter_placeholder = await filter.getAttribute('placeholder');
  await journey.shot(desk, '5-audit-zh');

  // Searching by the words the table shows.
  await filter.fill(seen.filter_placeholder);
  await desk.evaluate(() => { document.querySelector('#audit-events tbody').dataset.before = 'filter'; });
  const answered = desk.waitForResponse((r) => r.url().includes('/api/v1/audit-events') && r.url().includes('subtype='));
  await desk.locator('#audit-filters button[type=submit]').click();
  seen.filter_query = new URL((await answered).url()).searchParams.get('subtype');
  await desk.waitForFunction(() => !document.querySelector('#audit-events tbody[data-before]'));
  seen.filtered_zh = await auditEvents(desk);

  // English on the same page: the filter kept, the events named anew.
  await desk.selectOption('#language', 'en');
  await desk.waitForFunction(() => document.documentElement.lang === 'en');
  seen.filter_after_switch = await filter.inputValue();
  seen.filtered_en = await auditEvents(desk);
  await journey.shot(desk, '6-audit-en');
  await desk.context().close();

  seen.errors = errors;
  return seen;
};
