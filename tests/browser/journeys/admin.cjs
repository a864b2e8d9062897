// The administrator: adds a facility with a time zone that does not exist
// and reads the server's refusal, then a proper one; opens the operating
// figures for two months and reads the referral chart's bars and labels,
// and its table, in English and in Chinese.
'use strict';

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function referralBars(page) {
  return page.locator('svg[data-chart="chart-referrals"] rect.bar').evaluateAll((bars) => bars.map((b) => ({
    series: b.dataset.series,
    month: b.dataset.category,
    value: Number(b.dataset.value),
    height: Number(b.getAttribute('height')),
    label: b.parentNode.querySelector(
      `text.value[data-series="${b.dataset.series}"][data-category="${b.dataset.category}"]`).textContent,
  })));
}

module.exports = async function admin(journey, browser) {
  const { admin, from, to, facility } = journey.args;
  const page = await journey.signIn(browser, admin, 'en-US');

  await page.locator('#nav a[href="#/admin/facilities"]').click();
  const form = page.locator('#facility-form');
  await form.waitFor();
  await form.locator('input[name=name]').fill(facility);
  await form.locator('select[name=tier]').selectOption('village');
  await form.locator('input[name=time_zone]').fill('Mars/Olympus_Mons');
  await form.locator('button[type=submit]').click();
  const refusal = form.locator('[role=alert]');
  await refusal.filter({ hasText: 'This time zone is not known' }).waitFor();
  const refused = await refusal.textContent();
  await journey.shot(page, 'admin-1-facility-refused');
  await form.locator('input[name=time_zone]').fill('Asia/Shanghai');
  await form.locator('button[type=submit]').click();
  await page.locator('#admin-facilities tbody tr', { hasText: facility }).waitFor();
  check((await refusal.textContent()) === '', 'the refusal stays after the facility was added');
  await journey.shot(page, 'admin-2-facility-added');

  await page.locator('#nav a[href="#/figures"]').click();
  await page.locator('svg[data-chart="chart-referrals"]').waitFor();
  await page.locator('#figures-from').fill(from);
  await page.locator('#figures-to').fill(to);
  await page.locator('#figures-form button[type=submit]').click();
  await page.waitForFunction(() =>
    document.querySelectorAll('svg[data-chart="chart-referrals"] rect.bar').length === 4);
  const bars = await referralBars(page);
  const months = await page.locator('svg[data-chart="chart-referrals"] text.category').allTextContents();
  const axis = await page.locator('svg[data-chart="chart-referrals"] text.axis-label').allTextContents();
  check(axis.includes('Referrals') && axis.includes('Month'), `axis labels: ${axis}`);
  await journey.shot(page, 'admin-3-figures');

  await page.locator('#chart-referrals details summary').click();
  const table = await page.locator('table[data-chart="chart-referrals"] tbody tr').evaluateAll((rows) =>
    rows.map((r) => ({ month: r.dataset.category, cells: [...r.querySelectorAll('td')].map((td) => td.textContent) })));
  await journey.shot(page, 'admin-4-figures-table');

  await page.locator('#language').selectOption('zh-CN');
  await page.locator('#chart-referrals figcaption', { hasText: '每月上转与下转数量' }).waitFor();
  const chinese = await referralBars(page);
  check(JSON.stringify(chinese.map((b) => b.value)) === JSON.stringify(bars.map((b) => b.value)),
    'the chart changed its numbers with the language');
  const legend = await page.locator('#chart-referrals .legend').textContent();
  await journey.shot(page, 'admin-5-figures-chinese');
  return { refused, bars, months, table, legend };
};
