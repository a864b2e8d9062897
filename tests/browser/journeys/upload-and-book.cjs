// An island clinician registers a patient (a taken record number first,
// which the server refuses), finds them, uploads their study over a link
// that drops (the page is reloaded mid-upload, and the upload resumes
// without sending again what the server holds; a non-DICOM file is refused
// with the server's reason), sees the study on the patient's page, then
// asks for a routine consultation and books a free slot of the week
// calendar, shown in the browser's own time zone; last, asks for a remote
// reading of the study and refers the patient up.
'use strict';

const STOW = '/dicomweb/studies';

async function rowState(page, name, wanted, patience) {
  const row = page.locator(`#upload-files tr[data-file="${name}"]`);
  await row.waitFor({ state: 'visible' });
  await page.waitForFunction(([n, states]) => {
    const r = document.querySelector(`#upload-files tr[data-file="${n}"]`);
    return r && states.includes(r.dataset.state);
  }, [name, wanted], { timeout: patience });
  return row;
}

async function bar(row) {
  return row.locator('progress').evaluate((p) => ({ value: p.value, max: p.max }));
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

module.exports = async function uploadAndBook(journey, browser) {
  const { clinician, patient, files, not_dicom: notDicom, expert, time_zone: timeZone, taken_record: taken } = journey.args;
  const context = await browser.newContext({
    baseURL: journey.args.base, locale: 'en-US', timezoneId: timeZone, viewport: { width: 1024, height: 768 },
  });
  const page = await context.newPage();
  page.setDefaultTimeout(journey.patience);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto('/');
  await page.locator('#login-form input[name=username]').fill(clinician.username);
  await page.locator('#login-form input[name=password]').fill(clinician.password);
  await page.locator('#login-form button[type=submit]').click();
  await page.locator('#nav a[href="#/patients"]').click();

  // Register, first with a record number the clinic already gave someone.
  const form = page.locator('#patient-register');
  await form.locator('input[name=family_name]').fill(patient.family_name);
  await form.locator('input[name=given_name]').fill(patient.given_name);
  await form.locator('select[name=sex]').selectOption(patient.sex);
  await form.locator('input[name=birth_date]').fill(patient.birth_date);
  await form.locator('input[name=national_id]').fill(patient.national_id);
  await form.locator('input[name=record_number]').fill(taken);
  await form.locator('button[type=submit]').click();
  const refusal = form.locator('#patient-register-error[role=alert]');
  await page.waitForFunction(() => document.querySelector('#patient-register-error').textContent.length > 0);
  const refusalText = await refusal.textContent();
  await journey.shot(page, 'upload-1-register-refused');
  await form.locator('input[name=record_number]').fill(patient.record_number);
  await form.locator('button[type=submit]').click();
  await page.waitForURL(/#\/patients\/\d+$/);
  const patientId = Number(page.url().match(/#\/patients\/(\d+)$/)[1]);
  await page.locator('#patient-name').waitFor();

  // Find them again through the search.
  await page.locator('#nav a[href="#/patients"]').click();
  await page.locator('#patients-search input[name=q]').fill(patient.record_number);
  await page.locator('#patients-search button[type=submit]').click();
  const found = page.locator(`#patients-found tr[data-patient="${patientId}"] a`);
  await found.waitFor();
  await journey.shot(page, 'upload-2-found');
  await found.click();
  await page.locator('#patient-name').waitFor();
  const shownName = await page.locator('#patient-name').textContent();
  check(shownName === patient.family_name + patient.given_name, `patient page shows ${shownName}`);
  await page.locator('#patient-studies .empty').waitFor();

  // The first instance goes up over a good link.
  await page.locator('#patient-upload').click();
  await page.locator('#upload-drop').waitFor();
  const input = page.locator('#upload-files-input');
  const name = (path) => path.split('/').pop();
  await input.setInputFiles([files[0]]);
  await rowState(page, name(files[0]), ['stored'], journey.patience);

  // The link drops while the second goes up: it waits and tries again.
  await page.route(`**${STOW}`, (route) => (route.request().method() === 'POST'
    ? route.abort('connectionfailed') : route.continue()));
  await input.setInputFiles([files[1]]);
  const retrying = await rowState(page, name(files[1]), ['retrying'], journey.patience);
  const retryText = await retrying.locator('.upload-status').textContent();
  await journey.shot(page, 'upload-3-link-down');

  // The page is reloaded: it says an upload was left unfinished.
  await page.reload();
  await page.locator('#upload-resume').waitFor({ state: 'visible' });
  const resumeText = await page.locator('#upload-resume').textContent();
  await journey.shot(page, 'upload-4-reloaded');
  await page.unroute(`**${STOW}`);

  // The whole folder again, with a letter that is not DICOM: what the server
  // holds is not sent again.
  const posts = [];
  const gzipped = [];
  page.on('request', (request) => {
    if (request.method() === 'POST' && request.url().endsWith(STOW)) {
      posts.push(request.url());
      if (request.headers()['content-encoding'] === 'gzip') gzipped.push(request.url());
    }
  });
  await page.locator('#upload-files-input').setInputFiles([...files, notDicom]);
  const states = {};
  for (const file of files) {
    const row = await rowState(page, name(file), ['stored', 'present'], journey.patience);
    const { value, max } = await bar(row);
    check(value === max && max > 1, `${name(file)}: bar at ${value} of ${max}`);
    states[name(file)] = await row.getAttribute('data-state');
  }
  check(states[name(files[0])] === 'present', `the stored instance was sent again: ${JSON.stringify(states)}`);
  const refused = await rowState(page, name(notDicom), ['refused'], journey.patience);
  const reason = await refused.locator('[role=alert]').textContent();
  check(/not a DICOM file/.test(reason), `the refusal says: ${reason}`);
  await page.locator('#upload-summary').waitFor({ state: 'visible' });
  const total = await page.locator('#upload-total').evaluate((p) => ({ value: p.value, max: p.max }));
  const totalText = await page.locator('#upload-total-text').textContent();
  const summary = await page.locator('#upload-summary [role=status]').textContent();
  check(posts.length === files.length, `${posts.length} STOW requests for ${files.length - 1} missing instances and the letter`);
  // Uncompressed pixel data shrinks: the instances go gzipped on the link.
  check(gzipped.length >= files.length - 1, `${gzipped.length} of ${posts.length} STOW requests sent gzipped`);
  await journey.shot(page, 'upload-5-done');

  // The study is on the patient's page.
  await page.locator('#upload-summary a.button').click();
  const studyRow = page.locator(`#studies tr[data-study="${journey.args.study_uid}"]`);
  await studyRow.waitFor();
  const studyCells = await studyRow.locator('td').allTextContents();
  await journey.shot(page, 'upload-6-patient-study');

  // A routine consultation, booked on the calendar.
  await page.locator('#patient-consult').click();
  const consult = page.locator('#consult-form');
  await consult.waitFor();
  await consult.locator('select[name=specialty]').selectOption('cardiology');
  await consult.locator('select[name=urgency]').selectOption('routine');
  await consult.locator('textarea[name=reason]').fill('Exertional chest pain; CT attached. Is an angiogram warranted?');
  const attached = await consult.locator('input[name=studies]').count();
  await journey.shot(page, 'upload-7-consult-form');
  await consult.locator('button[type=submit]').click();
  await page.waitForURL(/#\/consultations\/\d+\/book$/);
  const consultationId = Number(page.url().match(/#\/consultations\/(\d+)\/book$/)[1]);
  await page.locator('#book-week').waitFor();
  // Late in the week no slot is left in it: go on a week at a time, each
  // time waiting until the next week is drawn, not just for a calendar.
  for (let week = 0; week < 2 && await page.locator('#book-week button.slot').count() === 0; week += 1) {
    const drawn = await page.locator('#book-week .day').first().getAttribute('data-date');
    await page.locator('#book-next-week').click();
    await page.waitForFunction((before) => {
      const day = document.querySelector('#book-week .day');
      return day !== null && day.dataset.date !== before;
    }, drawn);
  }
  const slot = page.locator('#book-week button.slot').first();
  await slot.waitFor();
  const slotLabel = await slot.locator('strong').textContent();
  const slotStart = await slot.getAttribute('data-start');
  const zoneNote = await page.locator('#screen-book .hint').textContent();
  await journey.shot(page, 'upload-8-calendar');
  await slot.click();
  await page.locator('#book-confirm').waitFor({ state: 'visible' });
  await page.locator('#book-submit').click();
  const booked = page.locator('#book-booked');
  await booked.waitFor();
  const bookedText = await booked.textContent();
  check(bookedText.includes(expert), `the booking names ${expert}: ${bookedText}`);
  await journey.shot(page, 'upload-9-booked');

  // Back on the patient's page the consultation is scheduled.
  await page.goto(`/#/patients/${patientId}`);
  const consultationRow = page.locator(`#consultations-of-patient tr[data-consultation="${consultationId}"]`);
  await consultationRow.waitFor();
  const consultationCells = await consultationRow.locator('td').allTextContents();
  await journey.shot(page, 'upload-10-patient-scheduled');

  // A remote reading of the study, and a referral up to the county hospital.
  await studyRow.locator('button.ask-reading').click();
  const reading = studyRow.locator('form.reading-form');
  await reading.locator('textarea[name=clinical_question]').fill('Pulmonary nodule? Compare with any prior.');
  await reading.locator('select[name=priority]').selectOption('urgent');
  await reading.locator('input[name=body_part]').fill('chest');
  await reading.locator('button[type=submit]').click();
  const readingRow = page.locator('#readings tbody tr').first();
  await readingRow.waitFor();
  const readingCells = await readingRow.locator('td').allTextContents();
  await journey.shot(page, 'upload-11-reading-asked');
  const referral = page.locator('#referral-form');
  await referral.locator('select[name=direction]').selectOption('up');
  await referral.locator('select[name=to_facility_id]').selectOption({ label: journey.args.refer_to_label });
  await referral.locator('textarea[name=reason]').fill('Suspected NSTEMI; needs angiography.');
  await referral.locator('input[name=diagnosis_codes]').fill('I21.4');
  await referral.locator('button[type=submit]').click();
  const referralRow = page.locator('#referrals tbody tr').first();
  await referralRow.waitFor();
  const referralCells = await referralRow.locator('td').allTextContents();
  await journey.shot(page, 'upload-12-referred');
  check(errors.length === 0, `errors in the page: ${errors.join('; ')}`);
  await context.close();
  return {
    patient_id: patientId, refusal: refusalText, retry: retryText, resume: resumeText, states, reason,
    total, total_text: totalText, summary, posts: posts.length, study_cells: studyCells, attached,
    consultation_id: consultationId, slot_label: slotLabel, slot_start: slotStart, zone_note: zoneNote,
    booked: bookedText, consultation_cells: consultationCells, reading_cells: readingCells,
    referral_cells: referralCells,
  };
};
