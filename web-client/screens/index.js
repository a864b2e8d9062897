// @ts-check
// Every screen the shell can open, in the order of the menu: where it is
// (its path over the hash), who may open it, its menu entry, and its module
// with the name of the `ScreenModule` (lib/ferry.js) it exports. A module is
// loaded the first time its screen opens (lib/lazy.js). A new screen is a
// module listed here; its words go in i18n/. The paths do not overlap, so
// the order only decides the menu.

const CARE = ['clinician', 'expert', 'radiologist'];

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
    early: ([, id]) => [
      `/patients/${id}`,
      `/patients/${id}/examinations`,
      `/consultations?patient_id=${id}`,
      `/patients/${id}/studies`,
      `/patients/${id}/sharing-consents`,
      `/patients/${id}/elsewhere`,
    ],
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
