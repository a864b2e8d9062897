// A clinician drops on one patient's upload page a mix: that patient's
// files, another patient's of the same clinic, one of a patient of another
// clinic (whom the clinician may not reach), one whose Patient ID is in no
// record, and a letter that is not DICOM. Only this patient's files and the
// letter are sent (the letter is refused); the rest are held back and
// listed by the patient they name, or as not in this consortium. The
// clinician sends the other patient's group, which goes up on that
// patient's own page under their banner, and leaves the rest. Each outcome
// has its own colour, mark and words.
'use strict';

const STOW = '/dicomweb/studies';

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function rowState(page, name, wanted, patience) {
  await page.waitForFunction(([n, states]) => {
    const r = document.querySelector(`#upload-files tr[data-file="${n}"]`);
    return r && states.includes(r.dataset.state);
  }, [name, wanted], { timeout: patience });
  return page.locator(`#upload-files tr[data-file="${name}"]`);
}

// What a row shows: its state, words, colour and whether it has a bar.
async function rowSeen(page, name) {
  return page.evaluate((n) => {
    const row = document.querySelector(`#upload-files tr[data-file="${n}"]`);
    const status = row.querySelector('.upload-status');
    const bar = row.querySelector('progress');
    return {
      state: row.dataset.state,
      words: status.textContent.trim(),
      icon: (row.querySelector('.upload-icon') || { textContent: '' }).textContent,
      colour: getComputedStyle(status).color,
      background: getComputedStyle(row).backgroundColor,
      bar: bar ? { value: bar.value, max: bar.max } : null,
      about: row.children[1].textContent,
    };
  }, name);
}

async function heldGroups(page) {
  return page.locator('#upload-held .held-group').evaluateAll((groups) => groups.map((g) => ({
    kind: g.dataset.kind,
    patient: g.dataset.patient,
    text: g.textContent,
    link: (g.querySelector('a[href^="#/patients/"]') || { getAttribute: () => null }).getAttribute('href'),
    send: !!g.querySelector('button.held-send'),
    leave: !!g.querySelector('button.held-leave'),
  })));
}

// Whether the server holds the study, asked as the signed-in user.
async function stored(page, uid) {
  return page.evaluate(async (study) => {
    const answer = await fetch(`/dicomweb/studies?StudyInstanceUID=${study}`,
      { headers: { Accept: 'application/dicom+json' } });
    const text = answer.status === 204 ? '' : await answer.text();
    return text ? JSON.parse(text).length : 0;
  }, uid);
}

async function overflow(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
}

module.exports = async function uploadOtherPatients(journey, browser) {
  const { clinician, locale, viewport, tag, wang, li, files, copy, not_dicom: notDicom } = journey.args;
  const page = await journey.signIn(browser, clinician, locale, viewport);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const posts = [];
  page.on('request', (request) => {
    if (request.method() === 'POST' && request.url().endsWith(STOW)) posts.push(page.url());
  });
  const name = (path) => path.split('/').pop();
  const shot = (step) => journey.shot(page, `${tag}-${step}`);

  // This patient's upload page: her banner, then the form.
  await page.goto(`/#/patients/${wang.id}/upload`);
  await page.locator(`#screen-upload .patient-banner[data-patient-id="${wang.id}"]`).waitFor();
  await page.locator('#upload-drop').waitFor();
  const banner = await page.locator('#screen-upload .patient-banner').textContent();

  const all = [...files.wang, ...files.li, ...files.zhao, ...files.nobody, notDicom];
  await page.locator('#upload-files-input').setInputFiles(all);
  for (const file of files.wang) await rowState(page, name(file), ['stored'], journey.patience);
  await rowState(page, name(notDicom), ['refused'], journey.patience);
  for (const file of [...files.li, ...files.zhao, ...files.nobody]) {
    await rowState(page, name(file), ['held'], journey.patience);
  }
  await page.locator('#upload-summary').waitFor({ state: 'visible' });
  const groups = await heldGroups(page);
  const first = {
    stored: await rowSeen(page, name(files.wang[0])),
    refused: await rowSeen(page, name(notDicom)),
    held_li: await rowSeen(page, name(files.li[0])),
    held_nobody: await rowSeen(page, name(files.nobody[0])),
    summary: await page.locator('#upload-summary [role=status]').textContent(),
    total_text: await page.locator('#upload-total-text').textContent(),
    total: await page.locator('#upload-total').evaluate((p) => ({ value: p.value, max: p.max })),
  };
  // Held back means not sent: the server has none of the others' studies.
  const heldStored = {
    li: await stored(page, journey.args.studies.li),
    zhao: await stored(page, journey.args.studies.zhao),
    nobody: await stored(page, journey.args.studies.nobody),
  };
  const postsBefore = posts.length;
  await shot('1-held-back');

  // The same instance again, under another file name: skipped.
  await page.locator('#upload-files-input').setInputFiles([copy]);
  await rowState(page, name(copy), ['present'], journey.patience);
  const present = await rowSeen(page, name(copy));
  check(posts.length === postsBefore, 'the copy was sent again');
  const wideBefore = await overflow(page);
  await shot('2-skipped');

  // Send the other patient's group: his own page, under his banner.
  await page.locator(`#upload-held .held-group[data-patient="${li.id}"] button.held-send`).click();
  await page.waitForURL(new RegExp(`#/patients/${li.id}/upload$`));
  await page.locator(`#screen-upload .patient-banner[data-patient-id="${li.id}"]`).waitFor();
  const liBanner = await page.locator('#screen-upload .patient-banner').textContent();
  for (const file of files.li) await rowState(page, name(file), ['stored'], journey.patience);
  for (const file of [...files.zhao, ...files.nobody]) {
    await rowState(page, name(file), ['held'], journey.patience);
  }
  await page.locator('#upload-summary').waitFor({ state: 'visible' });
  const brought = await page.locator('#upload-brought').textContent();
  const second = {
    stored: await rowSeen(page, name(files.li[0])),
    summary: await page.locator('#upload-summary [role=status]').textContent(),
    groups: await heldGroups(page),
    li_stored: await stored(page, journey.args.studies.li),
  };
  await shot('3-sent-to-other');

  // Leave the rest: nothing more is sent.
  const sentBeforeLeaving = posts.length;
  for (;;) {
    const leave = page.locator('#upload-held .held-group button.held-leave').first();
    if (await leave.count() === 0) break;
    await leave.click();
  }
  for (const file of [...files.zhao, ...files.nobody]) {
    await rowState(page, name(file), ['left'], journey.patience);
  }
  const left = await rowSeen(page, name(files.nobody[0]));
  const wideAfter = await overflow(page);
  await shot('4-left');
  check(posts.length === sentBeforeLeaving, 'leaving a group sent it');

  // Her page again, files dropped while the question "whose are these?" is
  // slow to come back, and the user moves to his page before it does:
  // nothing is sent for her, nor shown on his page.
  await page.goto(`/#/patients/${wang.id}/upload`);
  await page.locator(`#screen-upload .patient-banner[data-patient-id="${wang.id}"]`).waitFor();
  let answered = null;
  const slow = new Promise((resolve) => { answered = resolve; });
  await page.route('**/api/v1/patients/lookup-records', async (route) => {
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await route.continue();
    answered();
  });
  const beforeLate = posts.length;
  await page.locator('#upload-files-input').setInputFiles(files.late);
  await page.locator(`#upload-files tr[data-file="${name(files.late[0])}"][data-state="checking"]`).waitFor();
  await page.evaluate((id) => { location.hash = `#/patients/${id}/upload`; }, li.id);
  await page.locator(`#screen-upload .patient-banner[data-patient-id="${li.id}"]`).waitFor();
  await slow;
  // Give a stray upload the time to start, had the answer started one (an absence).
  await page.waitForTimeout(1000);
  const late = {
    posts: posts.length - beforeLate,
    rows: await page.locator('#upload-files tbody tr').count(),
    stored: await stored(page, journey.args.studies.late),
  };
  await shot('5-moved-on');
  check(errors.length === 0, `errors in the page: ${errors.join('; ')}`);
  await page.context().close();
  return {
    banner, li_banner: liBanner, groups, first, held_stored: heldStored, posts_before: postsBefore,
    present, brought, second, left, late, posts: posts.length, overflow: Math.max(wideBefore, wideAfter),
  };
};
