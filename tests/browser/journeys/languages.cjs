// Chinese through and through, and English too: each demo user signs in
// with a Chinese browser and walks every screen the menu offers and the
// detail pages those screens link to (one of each kind); on each, the
// visible words are checked in Chinese, then the language is switched to
// English on the same screen and checked again, then switched back. A
// second sign-in with an English browser walks the same screens fresh.
//
// The rule (what counts as the other language):
//   - Data is exempt: any string the page received from the server in a 2xx
//     JSON answer (a name, a facility, a reason someone typed, a DICOM
//     description) is cut out of the text before it is checked, except
//     strings that look like codes (`cardiology`, `consent_withdrawn`: lower
//     case, digits and `_`), which the client must translate. So 王秀英 may
//     appear in English and "Dr. Lin" in Chinese, but only as data.
//   - In Chinese: no run of 3+ Latin letters, except codes in capitals (CT,
//     DICOM, AE titles, HEAD) and the few words in ALLOWED below.
//   - In English: no Chinese character (CJK ideographs and full-width
//     punctuation), except a Chinese term glossed in brackets after its
//     English name, "mutual recognition (互认)".
//   - What the user is shown as an example to type, or the column names of a
//     file to import, are what they type, and are exempt: PHRASES below.
//   - In both: nothing that looks like a catalogue key or an error code
//     (`word.word`, `word_word`).
//   - The language picker, which names each language in its own words, is
//     not checked; nor is the call page (it starts the camera).
'use strict';

// Words that are the same in both languages: the product, units, formats.
const ALLOWED = new Set(['Ferry', 'mmHg', 'QTc', 'DICOMweb', 'WebM', 'WebRTC', 'bpm', 'kBps', 'Mbps', 'kbps',
  'JPEG', 'PNG']);
// Examples of input and file formats, exempt in both languages.
const PHRASES = ['pacs.example.org', 'code_from,code_to,tiers,label', 'wangxiuying', 'wxy', '王秀英', 'patient.read'];
const CODE = /^[a-z][a-z0-9_]*$/;
const GLOSS = /[(（][\u3400-\u9fff]+[)）]/g;
const CJK = /[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]+/g;
const KEY = /\b[a-z][a-z0-9]+(?:[._][a-z0-9]{2,})+\b/g;
const LATIN_WORD = /[A-Za-z]{3,}/g;

function quietWatcher(page) {
  const pending = new Set();
  const long = (request) => /\/notifications\/stream|\/signal\//.test(request.url());
  page.on('request', (r) => { if (!long(r)) pending.add(r); });
  page.on('requestfinished', (r) => pending.delete(r));
  page.on('requestfailed', (r) => pending.delete(r));
  return async function quiet() {
    let still = 0;
    for (let i = 0; i < 200 && still < 3; i += 1) {
      await page.waitForTimeout(100);
      still = pending.size === 0 ? still + 1 : 0;
    }
  };
}

// Every string value of the server's JSON answers, for the data rule.
function dataCollector(page) {
  const data = new Set();
  const add = (value) => {
    if (typeof value === 'string') {
      const text = value.trim();
      if ((text.length >= 2 || /[^\x00-\x7f]/.test(text)) && !CODE.test(text)) data.add(text);
      // "张 小宇" as the server joins a name, 张小宇 as the client shows it.
      if (/[\u3400-\u9fff]\s/.test(text)) data.add(text.replace(/\s+/g, ''));
      // A DICOM person name, 王^秀英, as the viewer writes it.
      if (text.includes('^')) add(text.replace(/\^+/g, ' '));
    } else if (Array.isArray(value)) {
      value.forEach(add);
    } else if (value && typeof value === 'object') {
      // A person's name comes in parts; the screens show it whole.
      if (typeof value.family_name === 'string' && typeof value.given_name === 'string') {
        add(value.family_name + value.given_name);
        add(`${value.given_name} ${value.family_name}`);
      }
      Object.values(value).forEach(add);
    }
  };
  page.on('response', async (response) => {
    const type = response.headers()['content-type'] || '';
    if (response.status() >= 300 || !/json/.test(type)) return;
    try { add(await response.json()); } catch (_) { /* a body we cannot read */ }
  });
  return data;
}

// The visible words of the page, each with where it is.
async function visibleText(page) {
  return page.evaluate(() => {
    const out = [];
    const where = (element) => {
      const owner = element.closest('[id]');
      return `${owner ? '#' + owner.id : 'body'} ${element.tagName.toLowerCase()}`;
    };
    const shown = (element) => {
      const box = element.tagName === 'OPTION' ? element.closest('select') : element;
      return box && box.checkVisibility({ visibilityProperty: true });
    };
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const parent = node.parentElement;
      const text = node.textContent.trim();
      if (!parent || !text || parent.closest('script, style, #language-choice, #call')) continue;
      if (shown(parent)) out.push({ text, where: where(parent) });
    }
    for (const field of document.querySelectorAll('input[placeholder], textarea[placeholder]')) {
      if (field.placeholder && shown(field)) out.push({ text: field.placeholder, where: where(field) + '[placeholder]' });
    }
    return out;
  });
}

function problemsIn(items, language, data) {
  const cuts = [...data, ...PHRASES].sort((a, b) => b.length - a.length);
  const found = [];
  for (const { text, where } of items) {
    let rest = text;
    for (const cut of cuts) {
      if (rest.includes(cut)) rest = rest.split(cut).join(' ');
    }
    const bad = [];
    for (const [key] of rest.matchAll(KEY)) bad.push(key);
    if (language === 'zh-CN') {
      for (const [word] of rest.matchAll(LATIN_WORD)) {
        if (word !== word.toUpperCase() && !ALLOWED.has(word)) bad.push(word);
      }
    } else {
      for (const [run] of rest.replace(GLOSS, ' ').matchAll(CJK)) bad.push(run);
    }
    if (bad.length) found.push({ where, text: text.slice(0, 160), bad: [...new Set(bad)] });
  }
  return found;
}

// A route's kind: `#/patients/12` and `#/patients/40` are one kind.
const kind = (hash) => hash.replace(/\/[0-9][^/]*|\/[0-9.]{12,}[^/]*/g, '/N');

async function links(page) {
  return page.evaluate(() => [...document.querySelectorAll('a[href^="#/"]')]
    .filter((a) => a.checkVisibility())
    .map((a) => a.getAttribute('href')));
}

module.exports = async function languages(journey, browser) {
  const { users } = journey.args;
  const problems = [];
  const visited = {};
  for (const user of users) {
    for (const locale of ['zh-CN', 'en-US']) {
      const first = locale === 'zh-CN' ? 'zh-CN' : 'en';
      const other = first === 'zh-CN' ? 'en' : 'zh-CN';
      const page = await journey.signIn(browser, user, locale);
      const quiet = quietWatcher(page);
      const data = dataCollector(page);
      const errors = [];
      page.on('pageerror', (error) => errors.push(String(error)));
      await page.reload();
      await page.locator('#home').waitFor({ state: 'visible' });
      await quiet();
      const language = await page.evaluate(() => document.documentElement.lang);
      if (language !== first) throw new Error(`${user.username} in ${locale}: the page is in ${language}`);

      const check = async (hash, lang) => {
        const found = problemsIn(await visibleText(page), lang, data);
        for (const p of found) problems.push({ user: user.username, lang, hash, ...p });
      };
      const seen = new Set();
      const queue = ['#/', ...await page.locator('#nav a').evaluateAll((as) => as.map((a) => a.getAttribute('href')))];
      const walked = [];
      while (queue.length) {
        const hash = queue.shift();
        if (seen.has(kind(hash)) || /\/call$/.test(hash)) continue;
        seen.add(kind(hash));
        await page.evaluate((h) => { location.hash = h; }, hash);
        await page.waitForFunction(() => !document.querySelector('main [aria-busy="true"], main .screen-loading'), null, { timeout: 15000 })
          .catch(() => {});
        await quiet();
        walked.push(hash);
        await check(hash, first);
        const name = `${user.username}-${first}-${walked.length}`;
        await journey.shot(page, name);
        for (const link of await links(page)) {
          if (!seen.has(kind(link))) queue.push(link);
        }
        // Only the Chinese sign-in switches on every screen; the English one
        // has seen each fresh.
        if (first === 'zh-CN') {
          await page.selectOption('#language', other);
          await quiet();
          await check(hash, other);
          await journey.shot(page, `${name}-switched`);
          await page.selectOption('#language', first);
          await quiet();
          await check(hash, first);
        }
      }
      visited[`${user.username} ${first}`] = walked;
      if (errors.length) problems.push({ user: user.username, lang: first, hash: '-', where: 'console', text: errors.join(' | '), bad: ['pageerror'] });
      await page.context().close();
    }
  }
  return { problems, visited };
};
