// The scheduler's week: opens the expert's roster on a week with bookings,
// enters leave the wrong way round and reads the server's refusal, enters it
// properly and is shown the bookings in the way, moves each to a free slot,
// enters the leave again, and finds the bookings at their new times on the
// bookings board.
'use strict';

function check(condition, message) {
  if (!condition) throw new Error(message);
}

module.exports = async function scheduler(journey, browser) {
  const { scheduler, expert, week, leave, bookings } = journey.args;
  const page = await journey.signIn(browser, scheduler, 'en-US');

  await page.goto(`/#/roster/${expert}/${week}`);
  for (const id of bookings) {
    await page.locator(`#roster-grid .booking[data-booking="${id}"]`).waitFor();
  }
  const days = await page.locator('#roster-grid thead th').allTextContents();
  check(days.length === 7 && days[0].includes(week), `the week shown: ${days}`);
  await journey.shot(page, 'scheduler-1-roster-week');

  // Until before from: the client's words for the refusal, under the form.
  const form = page.locator('#leave-form');
  await form.locator('input[name=starts_at]').fill(leave.to);
  await form.locator('input[name=ends_at]').fill(leave.from);
  await form.locator('input[name=reason]').fill('Cardiology congress');
  await form.locator('button[type=submit]').click();
  const refusal = form.locator('[role=alert]');
  await refusal.filter({ hasText: 'the end must come after the start' }).waitFor();
  const refused = await refusal.textContent();
  await journey.shot(page, 'scheduler-2-leave-refused');

  await form.locator('input[name=starts_at]').fill(leave.from);
  await form.locator('input[name=ends_at]').fill(leave.to);
  await form.locator('button[type=submit]').click();
  const clashes = page.locator('#roster-clashes');
  await clashes.waitFor({ state: 'visible' });
  const listed = await clashes.locator('tbody tr').evaluateAll((rows) => rows.map((r) => Number(r.dataset.booking)));
  check(JSON.stringify([...listed].sort()) === JSON.stringify([...bookings].sort()),
    `the clashing bookings listed: ${listed}, expected ${bookings}`);
  const warning = await clashes.locator('[role=alert]').first().textContent();
  await journey.shot(page, 'scheduler-3-clashes');

  const moved = [];
  for (const id of bookings) {
    const row = clashes.locator(`tbody tr[data-booking="${id}"]`);
    const go = row.locator('button.move-confirm');
    await page.waitForFunction((b) => {
      const button = document.querySelector(`#roster-clashes tr[data-booking="${b}"] button.move-confirm`);
      return button && !button.disabled;
    }, id);
    const offered = await row.locator('select[name=slot] option').evaluateAll((o) => o.map((x) => x.value));
    const start = await row.locator('select[name=slot]').inputValue();
    check(!moved.some((m) => m.start === start), `booking ${id} is offered a slot already taken: ${start}`);
    check(Date.parse(start) >= Date.parse(leave.to_instant), `booking ${id} is offered a slot in the leave: ${start}`);
    await go.click();
    const note = row.locator('.moved-to');
    await note.waitFor();
    moved.push({ id, start: await note.getAttribute('data-start'), offered: offered.length, note: await note.textContent() });
  }
  await journey.shot(page, 'scheduler-4-moved');

  await clashes.locator('button.retry').click();
  await clashes.waitFor({ state: 'hidden' });
  const entered = page.locator('#roster-exceptions tbody tr');
  await entered.first().waitFor();
  const exceptionRows = await entered.allTextContents();
  check(exceptionRows.some((r) => r.includes('Cardiology congress')), `the leave listed: ${exceptionRows}`);
  const onLeave = await page.locator('#roster-grid td').evaluateAll((cells) =>
    cells.filter((c) => c.querySelector('.leave')).map((c) => c.dataset.date));
  await journey.shot(page, 'scheduler-5-on-leave');

  await page.locator('#nav a[href="#/bookings"]').click();
  await page.locator('#board').waitFor();
  await page.evaluate((w) => { location.hash = `#/bookings/${w}`; }, week);
  const board = [];
  for (const m of moved) {
    const row = page.locator(`#board tr[data-booking="${m.id}"]`);
    await row.waitFor();
    const seen = await row.evaluate((tr) => {
      let day = tr.previousElementSibling;
      while (day && !day.classList.contains('day')) day = day.previousElementSibling;
      return {
        date: day && day.dataset.date,
        time: tr.querySelector('td.time').textContent,
        status: tr.querySelector('td.status').textContent,
      };
    });
    // The board speaks the facility's clock, as the reschedule answer did.
    check(seen.date === m.start.slice(0, 10) && seen.time.startsWith(m.start.slice(11, 16)),
      `booking ${m.id} on the board at ${seen.date} ${seen.time}, moved to ${m.start}`);
    check(seen.status === 'booked', `booking ${m.id} shows ${seen.status}`);
    board.push(Object.assign({ id: m.id }, seen));
  }
  await journey.shot(page, 'scheduler-6-board');
  return { refused, warning, moved, onLeave, board };
};
