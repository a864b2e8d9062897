// @ts-check
// The header on a phone. Under 600 px style.css folds the header into one
// line (the title, the bell, the language and a menu button) and hides the
// menu, #menu: the screens' links, who is signed in, and sign out. The
// button opens it below the header; choosing a screen, tapping elsewhere or
// Escape closes it. On a wider screen the button is not shown and #menu's
// parts sit in the header's row as they always did.
//
// Menu.install() once, from the shell. It hears sign-in and sign-out from
// the shell's events (app.js), as the bell does.

/** @param {string} id */
const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

function install() {
  const header = byId('top');
  const button = byId('menu-button');
  const menu = byId('menu');
  if (!header || !button || !menu) return;

  /** @param {boolean} open */
  const setOpen = (open) => {
    header.classList.toggle('menu-open', open);
    button.setAttribute('aria-expanded', String(open));
  };
  const isOpen = () => header.classList.contains('menu-open');

  button.addEventListener('click', () => setOpen(!isOpen()));
  menu.addEventListener('click', (event) => {
    if (/** @type {Element} */ (event.target).closest('a')) setOpen(false);
  });
  document.addEventListener('click', (event) => {
    if (isOpen() && !header.contains(/** @type {Node} */ (event.target))) setOpen(false);
  });
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && isOpen()) {
      setOpen(false);
      button.focus();
    }
  });
  window.addEventListener('hashchange', () => setOpen(false));
  document.addEventListener('ferry:signedin', () => { button.hidden = false; });
  document.addEventListener('ferry:signedout', () => {
    button.hidden = true;
    setOpen(false);
  });
}

export { install };
