// Remote reading: the radiologist finds the request on the worklist with
// its clock ticking, claims it, opens the CT beside the report editor,
// scrolls the series with the wheel, windows by dragging, measures a
// length, writes findings and signs; the requesting clinician (in Chinese)
// then reads the signed report.
'use strict';

const STAGE = '#screen-reading .viewer-stage';

async function text(page, selector) {
  return (await page.locator(selector).first().textContent()).trim();
}

// A fingerprint of what the canvas shows: the sum over a grid of samples.
function canvasSum(page) {
  return page.evaluate(() => {
    const canvas = document.querySelector('#screen-reading .viewer-canvas');
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let sum = 0;
    for (let i = 0; i < data.length; i += 4 * 37) sum += data[i];
    return sum;
  });
}

// Waits until the frame asked for is on the canvas.
async function painted(page) {
  await page.waitForFunction((stage) => {
    const busy = document.querySelector(stage + ' .viewer-busy');
    const wl = document.querySelector(stage + ' .viewer-wl');
    return busy && busy.hidden && wl && wl.textContent.trim() !== '';
  }, STAGE);
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
}

module.exports = async function reading(journey, browser) {
  const { request, slices, spacing, radiologist, clinician, findings, impression } = journey.args;
  const seen = {};

  // The worklist, with a live clock.
  const page = await journey.signIn(browser, radiologist, 'en-US');
  await page.locator('#nav a[href="#/worklist"]').click();
  const row = page.locator(`#screen-worklist tr[data-request="${request}"]`);
  await row.waitFor({ state: 'visible' });
  const clock = row.locator('.clock');
  seen.clock = (await clock.textContent()).trim();
  if (!/^\d+:\d\d:\d\d left$/.test(seen.clock)) throw new Error(`no clock: ${seen.clock}`);
  await page.waitForFunction(([selector, before]) =>
    document.querySelector(selector).textContent.trim() !== before,
  [`#screen-worklist tr[data-request="${request}"] .clock`, seen.clock]);
  await journey.shot(page, 'reading-1-worklist');

  // Claimed, the row offers the reading screen.
  await row.locator('button[data-action=claim]').click();
  await row.locator('a[data-action=read]').waitFor({ state: 'visible' });
  seen.readerShown = (await row.locator('td').nth(7).textContent()).trim();
  await journey.shot(page, 'reading-2-claimed');

  await row.locator('a[data-action=read]').click();
  await page.locator('#screen-reading .report-start').waitFor({ state: 'visible' });
  await painted(page);
  seen.instances = [await text(page, `${STAGE} .viewer-instance`)];
  if (!seen.instances[0].includes(`1/${slices}`)) throw new Error(`first slice not shown: ${seen.instances[0]}`);
  await journey.shot(page, 'reading-3-opened');

  // Two notches of the wheel: two slices on.
  const box = await page.locator(STAGE).boundingBox();
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  await page.mouse.move(cx, cy);
  await page.mouse.wheel(0, 100);
  await page.mouse.wheel(0, 100);
  await page.locator(`${STAGE} .viewer-instance`, { hasText: '(instance 3)' }).waitFor();
  await painted(page);
  seen.instances.push(await text(page, `${STAGE} .viewer-instance`));
  await journey.shot(page, 'reading-4-scrolled');

  // Dragging with the window tool changes width and level, and the picture.
  seen.wl = [await text(page, `${STAGE} .viewer-wl`)];
  const before = await canvasSum(page);
  await page.mouse.move(cx, cy);
  await page.mouse.down();
  await page.mouse.move(cx + 80, cy + 50, { steps: 8 });
  await page.mouse.up();
  await painted(page);
  seen.wl.push(await text(page, `${STAGE} .viewer-wl`));
  const after = await canvasSum(page);
  seen.pixelsChanged = before !== after && after > 0;
  await journey.shot(page, 'reading-5-windowed');

  // A length across the image, in mm from Pixel Spacing.
  await page.locator('#screen-reading button[data-tool=length]').click();
  const [dx, dy] = [120, 60];
  await page.mouse.move(cx - dx / 2, cy - dy / 2);
  await page.mouse.down();
  await page.mouse.move(cx + dx / 2, cy + dy / 2, { steps: 6 });
  await page.mouse.up();
  const measured = await text(page, '#screen-reading .viewer-measurement');
  const m = /([\d.]+) mm/.exec(measured);
  if (!m) throw new Error(`no length in mm: ${measured}`);
  seen.mm = Number(m[1]);
  // The image (128 pixels square) is fitted into the stage.
  const fit = Math.min(box.width / 128, box.height / 128);
  seen.expectedMm = (Math.hypot(dx, dy) / fit) * spacing;
  await journey.shot(page, 'reading-6-measured');

  // The report: from the CT template, edited, saved, signed.
  await page.locator('#screen-reading .report-start button[type=submit]').click();
  const findingsBox = page.locator('#screen-reading textarea[name=findings]');
  await findingsBox.waitFor({ state: 'visible' });
  const template = await findingsBox.inputValue();
  if (!template.startsWith('Technique:')) throw new Error(`not the CT template: ${template}`);
  await findingsBox.fill(findings);
  await page.locator('#screen-reading textarea[name=impression]').fill(impression);
  await page.locator('#screen-reading button[data-action=save]').click();
  await page.locator('#screen-reading .report-saved', { hasText: 'Saved' }).waitFor();
  await page.locator('#screen-reading button[data-action=sign]').click();
  await page.locator('#screen-reading .report-version .report-findings', { hasText: findings }).waitFor();
  seen.signedShown = await text(page, '#screen-reading .report-version h3');
  await journey.shot(page, 'reading-7-signed');

  // The clinician who asked reads it, in Chinese.
  const other = await journey.signIn(browser, clinician, 'zh-CN');
  await other.evaluate((id) => { location.hash = `#/reading-requests/${id}`; }, request);
  const report = other.locator('#screen-reading-report .report-version');
  await report.waitFor({ state: 'visible' });
  seen.clinicianHeading = await text(other, '#screen-reading-report h2');
  if (seen.clinicianHeading !== '阅片报告') throw new Error(`not in Chinese: ${seen.clinicianHeading}`);
  seen.clinicianReads = await text(other, '#screen-reading-report .report-findings');
  seen.clinicianImpression = await text(other, '#screen-reading-report .report-impression');
  await journey.shot(other, 'reading-8-clinician-reads');
  return seen;
};
