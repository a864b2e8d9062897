// @ts-check
// Every screen the shell can open, in the order of the menu: where it is
// (its path over the hash), who may open it, its menu entry, and its module
// with the name of the `ScreenModule` (lib/ferry.js) it exports. A module is
// loaded the first time its screen opens (lib/lazy.js). A new screen is a
// module listed here; its words go in i18n/. The paths do not overlap, so
// the order only decides the menu.

const CARE = ['clinician', 'expert', 'radiologist'];

export const HOME = 'screens/home.js';
export const BELL = 'screens/notifications.js';
export const CALL = 'call/call-screen.js';
export const CALL_PATH = /^#\/consultations\/(\d+)\/call$/;

const HOUR_MS = 3600 * 1000;

/**
 * The requests the home (screens/home.js) and the bell make first, by the
 * paths they use, so that a new tab can ask for them with the page
 * (`homeEarly`). The bookings are those from a day ago, to the hour, so
 * that the path stays the same from the page's first moment to the home's.
 */
export const HOME_ASKS = {
  consultations: '/consultations?limit=500',
  bookings: () => `/bookings?from=${encodeURIComponent(new Date(Math.floor((Date.now() - 24 * HOUR_MS) / HOUR_MS) * HOUR_MS).toISOString())}&limit=1000`,
  critical: '/critical-results?open=true',
  referrals: '/referrals?limit=200',
  unlinked: '/unlinked-studies',
  queue: '/on-call/queue',
  worklist: '/worklist?limit=500',
  myWorklist: '/worklist?mine=true&limit=500',
  holds: '/bookings?status=held&limit=1000',
  facilities: '/facilities',
  unread: '/notifications?unread=true&limit=500',
};

/**
 * What the home and the bell ask for first for a user of `roles`, as the
 * home's panels for those roles do (screens/home.js `show`).
 * @param {string[]} roles
 * @returns {string[]}
 */
export function homeEarly(roles) {
  const has = (...any) => any.some((role) => roles.includes(role));
  const paths = [HOME_ASKS.unread];
  if (has('clinician', 'expert', 'scheduler')) paths.push(HOME_ASKS.consultations, HOME_ASKS.bookings());
  if (has('expert', 'scheduler')) paths.push(HOME_ASKS.queue);
  if (has('clinician')) paths.push(HOME_ASKS.critical, HOME_ASKS.referrals, HOME_ASKS.unlinked);
  if (has('radiologist')) paths.push(HOME_ASKS.worklist, HOME_ASKS.myWorklist);
  if (has('scheduler')) paths.push(HOME_ASKS.holds);
  if (has('admin', 'scheduler')) paths.push(HOME_ASKS.facilities);
  return paths;
}

/**
 * What the patient page (screens/patient.js, patient-care.js) asks for
 * first, by the paths it uses: all at once as it opens, or with the page in
 * a new tab, rather than each panel after the one it follows.
 * @param {string | number} id the patient
 * @param {string[]} roles
 * @returns {string[]}
 */
export function patientEarly(id, roles) {
  const paths = [
    `/patients/${id}`,
    `/patients/${id}/examinations`,
    `/consultations?patient_id=${id}`,
    `/patients/${id}/studies`,
    `/patients/${id}/sharing-consents`,
    `/patients/${id}/elsewhere`,
    '/facilities',
  ];
  // The care panels: readings, critical results and referrals.
  if (roles.includes('clinician')) paths.push('/reading-requests?limit=500', '/critical-results', '/referrals?limit=500');
  return paths;
}

/** @type {import('../lib/ferry.js').Screen[]} */
export const screens = [
  {
    name: 'roster',
    path: /^#\/roster(?:\/(\d+)(?:\/(\d{4}-\d{2}-\d{2}))?)?$/,
    roles: ['scheduler'],
    nav: { key: 'nav.roster', href: '#/roster' },
    module: 'screens/roster.js',
    exported: 'rosterScreen',
  },
  {
    name: 'bookings',
    path: /^#\/bookings(?:\/(\d{4}-\d{2}-\d{2}))?(?:\?(.*))?$/,
    roles: ['scheduler'],
    nav: { key: 'nav.bookings', href: '#/bookings' },
    module: 'screens/bookings-board.js',
    exported: 'bookingsScreen',
  },
  {
    name: 'oncall',
    path: /^#\/on-call$/,
    roles: ['scheduler', 'expert'],
    nav: { key: 'nav.oncall', href: '#/on-call' },
    module: 'screens/oncall.js',
    exported: 'oncallScreen',
  },
  {
    name: 'figures',
    path: /^#\/figures$/,
    roles: ['admin'],
    nav: { key: 'nav.figures', href: '#/figures' },
    module: 'screens/figures.js',
    exported: 'figuresScreen',
  },
  {
    name: 'admin',
    path: /^#\/admin(?:\/(facilities|users))?$/,
    roles: ['admin'],
    nav: { key: 'nav.admin', href: '#/admin/facilities' },
    module: 'screens/admin.js',
    exported: 'adminScreen',
  },
  {
    name: 'admin-setup',
    path: /^#\/admin\/(routes|catalogue|recognition|merges)$/,
    roles: ['admin'],
    module: 'screens/admin-setup.js',
    exported: 'adminSetupScreen',
  },
  {
    name: 'admin-audit',
    path: /^#\/admin\/audit$/,
    roles: ['admin'],
    module: 'screens/admin-audit.js',
    exported: 'adminAuditScreen',
  },
  {
    name: 'admin-break-glass',
    path: /^#\/admin\/break-glass$/,
    roles: ['admin'],
    module: 'screens/admin-breakglass.js',
    exported: 'adminBreakGlassScreen',
  },
  {
    name: 'admin-dicom',
    path: /^#\/admin\/dicom$/,
    roles: ['admin'],
    module: 'screens/admin-dicom.js',
    exported: 'adminDicomScreen',
  },
  {
    name: 'admin-modalities',
    path: /^#\/admin\/modalities$/,
    roles: ['admin'],
    module: 'screens/admin-modalities.js',
    exported: 'adminModalitiesScreen',
  },
  {
    name: 'consultation',
    path: /^#\/consultations\/(\d+)$/,
    roles: ['clinician', 'expert', 'scheduler'],
    module: 'screens/consultation.js',
    exported: 'consultationScreen',
  },
  {
    name: 'patients',
    path: /^#\/patients(?:\?q=(.*))?$/,
    roles: CARE,
    nav: { key: 'nav.patients', href: '#/patients' },
    module: 'screens/patient-search.js',
    exported: 'patientsScreen',
  },
  {
    name: 'patient',
    path: /^#\/patients\/(\d+)$/,
    roles: CARE,
    module: 'screens/patient.js',
    exported: 'patientScreen',
    early: ([, id], roles) => patientEarly(id, roles),
  },
  {
    name: 'upload',
    path: /^#\/(?:patients\/(\d+)\/)?upload$/,
    roles: ['clinician'],
    nav: { key: 'nav.upload', href: '#/upload' },
    module: 'screens/upload.js',
    exported: 'uploadScreen',
  },
  {
    name: 'consult',
    path: /^#\/patients\/(\d+)\/consult$/,
    roles: ['clinician'],
    module: 'screens/booking.js',
    exported: 'consultScreen',
  },
  {
    name: 'book',
    path: /^#\/consultations\/(\d+)\/book$/,
    roles: ['clinician'],
    module: 'screens/booking.js',
    exported: 'bookScreen',
  },
  {
    name: 'viewer',
    path: /^#\/studies\/([^/?#]+)$/,
    module: 'viewer/viewer.js',
    exported: 'viewerScreen',
  },
  {
    name: 'worklist',
    path: /^#\/worklist$/,
    roles: ['radiologist'],
    nav: { key: 'nav.worklist', href: '#/worklist' },
    module: 'screens/worklist.js',
    exported: 'worklistScreen',
  },
  {
    name: 'reading',
    path: /^#\/reading-requests\/(\d+)\/read$/,
    roles: ['radiologist'],
    module: 'screens/report.js',
    exported: 'readingScreen',
  },
  {
    name: 'reading-report',
    path: /^#\/reading-requests\/(\d+)$/,
    module: 'screens/report.js',
    exported: 'readingReportScreen',
  },
];
