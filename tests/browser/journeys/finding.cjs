// Finding people fast, on the demo consortium. In English on a laptop, the
// island clinician finds 王秀英 by her initials, her pinyin and her record
// number typed in lower case, opens her, and sees her on "Today / my
// patients"; then looks up a record number of another island's patient,
// is told that a patient outside their scope has it (and nothing of who),
// breaks the glass right there with a reason and lands on the patient's
// page. In Chinese on a phone (390×844) the county clinician does the same.
// The administrator then reviews both openings, with what was opened.
'use strict';

const PHONE = { width: 390, height: 844 };

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function text(locator) {
  return ((await locator.textContent()) || '').trim();
}

async function search(page, q) {
  const form = page.locator('#patients-search');
  await form.locator('input[name=q]').fill(q);
  await form.locator('button[type=submit]').click();
  // An empty table is hidden; its being there says the answer came.
  await page.locator('#patients-found').waitFor({ state: 'attached' });
  return page.locator('#patients-found tbody tr');
}

// Searches each query and notes the first name found for it.
async function firstNames(page, queries) {
  const found = {};
  for (const q of queries) {
    const rows = await search(page, q);
    found[q] = (await rows.count()) ? await text(rows.first().locator('td').first()) : '';
  }
  return found;
}

async function breakGlassFor(journey, page, q, reason, shot) {
  const rows = await search(page, q);
  check((await rows.count()) === 0, `${q} is in scope already`);
  const offer = page.locator('#patients-outside form.break-glass-offer');
  await offer.waitFor();
  const said = await text(offer.locator('.banner'));
  await offer.locator('textarea[name=reason]').fill(reason);
  await journey.shot(page, shot);
  await offer.locator('button[type=submit]').click();
  await page.waitForURL(/#\/patients\/\d+$/);
  await page.locator('#patient-name').waitFor();
  return { said, name: await text(page.locator('#patient-name')), url: page.url() };
}

async function today(page) {
  await page.goto('/#/patients');
  await page.locator('#patients-recent').waitFor();
  const rows = page.locator('#patients-recent tbody tr');
  const names = [];
  for (let i = 0; i < await rows.count(); i++) names.push(await text(rows.nth(i).locator('td').first()));
  return { names, title: await text(page.locator('#patients-today h3')) };
}

async function clinician(journey, browser, who, locale, viewport, plan) {
  const seen = {};
  const page = await journey.signIn(browser, who, locale, viewport);
  await page.goto('/#/patients');
  await page.locator('#patients-today').waitFor();
  seen.placeholder = await page.locator('#patients-search input[name=q]').getAttribute('placeholder');
  seen.found = await firstNames(page, plan.queries);
  await journey.shot(page, `${plan.prefix}-1-found`);
  // Open the patient the first query found: she joins today's list.
  await search(page, plan.queries[0]);
  await page.locator('#patients-found tbody tr a').first().click();
  await page.locator('#patient-name').waitFor();
  seen.today = await today(page);
  await journey.shot(page, `${plan.prefix}-2-today`);
  seen.outside = await breakGlassFor(journey, page, plan.outside, plan.reason, `${plan.prefix}-3-outside`);
  await journey.shot(page, `${plan.prefix}-4-opened`);
  seen.page_width = await page.evaluate(() => document.documentElement.scrollWidth);
  seen.lang = await page.evaluate(() => document.documentElement.lang);
  await page.context().close();
  return seen;
}

async function review(journey, browser, admin, locale, note) {
  const page = await journey.signIn(browser, admin, locale);
  await page.goto('/#/admin/break-glass');
  const table = page.locator('#break-glass-grants');
  await table.locator('tbody tr[data-grant]').first().waitFor();
  const seen = {
    title: await text(page.locator('#screen-admin-break-glass h2')),
    grants: await table.locator('tbody tr[data-grant]').count(),
    first: await text(table.locator('tbody tr[data-grant]').first()),
  };
  const row = table.locator('tbody tr[data-grant]').first();
  await row.locator('button.show-opened').click();
  const activity = table.locator('ul.breakglass-activity').first();
  await activity.waitFor();
  seen.opened = await text(activity);
  await journey.shot(page, `finding-review-${locale}-1`);
  await row.locator('form.breakglass-review input[name=note]').fill(note);
  await row.locator('form.breakglass-review button[type=submit]').click();
  // Reviewed grants leave the pending list.
  await page.waitForFunction((n) => document.querySelectorAll('#break-glass-grants tbody tr[data-grant]').length === n - 1,
    seen.grants);
  await page.locator('#screen-admin-break-glass input[name=pending]').uncheck();
  await page.locator('#break-glass-grants td.reviewed').first().waitFor();
  seen.reviewed = await text(page.locator('#break-glass-grants td.reviewed').first());
  await journey.shot(page, `finding-review-${locale}-2`);
  await page.context().close();
  return seen;
}

module.exports = async function finding(journey, browser) {
  const { island, county, admin } = journey.args;
  const en = await clinician(journey, browser, island, 'en', null, {
    prefix: 'finding-en',
    queries: ['wxy', 'wangxiuying', 'Wang Xiu-ying', 'dj-0001'],
    outside: 'xy-0001',
    reason: 'Unconscious after a fall; brought to Dongji by boat',
  });
  const zh = await clinician(journey, browser, county, 'zh-CN', PHONE, {
    prefix: 'finding-zh',
    queries: ['wxy', 'wang xiuying', 'ha-2024-1187'],
    outside: 'np-0001',
    reason: '胸痛急诊，患者意识不清，需查看既往病历',
  });
  const reviewEn = await review(journey, browser, admin, 'en', 'Justified: emergency confirmed');
  const reviewZh = await review(journey, browser, admin, 'zh-CN', '理由成立');
  return { en, zh, review: { en: reviewEn, zh: reviewZh } };
};
