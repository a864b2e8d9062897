// Every demo user on a tablet held upright (768×1024): each screen in their
// menu opens from the menu, shows no error, and fits the width of the screen
// without the page scrolling sideways (a wide table may scroll in its own box).
'use strict';

const TABLET = { width: 768, height: 1024 };
// Screens load their data after they show; the notification stream never
// lets the network go idle, so a screen gets a fixed time to settle.
const SETTLE_MS = 1500;

async function check(page, where) {
  await page.waitForTimeout(SETTLE_MS);
  const found = await page.evaluate(() => {
    const shown = document.querySelector('main > section:not([hidden])');
    const errors = [...(shown ? shown.querySelectorAll('.error[role=alert]') : [])]
      .filter((e) => e.offsetParent !== null && e.textContent.trim())
      .map((e) => e.textContent.trim());
    const heading = shown && shown.querySelector('h2');
    return {
      section: shown ? shown.id : null,
      heading: heading ? heading.textContent.trim() : '',
      errors,
      page_width: document.documentElement.scrollWidth,
      screen_width: window.innerWidth,
    };
  });
  if (!found.section) {
    throw new Error(`${where}: no screen shows`);
  }
  if (found.errors.length) {
    throw new Error(`${where}: the screen shows an error: ${found.errors.join(' | ')}`);
  }
  if (found.page_width > found.screen_width + 1) {
    throw new Error(`${where}: the page is ${found.page_width}px wide on a ${found.screen_width}px screen`);
  }
  return found;
}

module.exports = async function tablet(journey, browser) {
  const seen = {};
  for (const user of journey.args.users) {
    const page = await journey.signIn(browser, user, 'en-US', TABLET);
    const screens = [await check(page, `${user.username} home`)];
    await journey.shot(page, `tablet-${user.username}-0-home`);
    const links = await page.locator('#nav a').evaluateAll(
      (anchors) => anchors.map((a) => a.getAttribute('href')));
    for (const [n, href] of links.entries()) {
      if (href === '#/') continue;
      await page.locator(`#nav a[href="${href}"]`).click();
      await page.waitForFunction((h) => location.hash === h, href);
      const found = await check(page, `${user.username} ${href}`);
      screens.push({ href, ...found });
      await journey.shot(page, `tablet-${user.username}-${n}-${href.replace(/[^a-z]+/g, '-')}`);
    }
    seen[user.username] = screens;
    await page.context().close();
  }
  return { seen };
};
