// @ts-check
// Every screen the shell can open, in the order of the menu. A new screen is
// a module exporting a `Screen` (lib/ferry.js), listed here; its words go in
// lib/i18n.js. The paths do not overlap, so the order only decides the menu.

import { rosterScreen } from './roster.js';
import { bookingsScreen } from './bookings-board.js';
import { oncallScreen } from './oncall.js';
import { figuresScreen } from './figures.js';
import { adminScreen } from './admin.js';
import { adminSetupScreen } from './admin-setup.js';
import { adminAuditScreen } from './admin-audit.js';
import { adminBreakGlassScreen } from './admin-breakglass.js';
import { adminDicomScreen } from './admin-dicom.js';
import { adminModalitiesScreen } from './admin-modalities.js';
import { consultationScreen } from './consultation.js';
import { patientScreen } from './patient.js';
import { patientsScreen } from './patient-search.js';
import { uploadScreen } from './upload.js';
import { consultScreen, bookScreen } from './booking.js';
import { viewerScreen } from '../viewer/viewer.js';
import { worklistScreen } from './worklist.js';
import { readingScreen, readingReportScreen } from './report.js';

/** @type {import('../lib/ferry.js').Screen[]} */
export const screens = [
  rosterScreen,
  bookingsScreen,
  oncallScreen,
  figuresScreen,
  adminScreen,
  adminSetupScreen,
  adminAuditScreen,
  adminBreakGlassScreen,
  adminDicomScreen,
  adminModalitiesScreen,
  consultationScreen,
  patientsScreen,
  patientScreen,
  uploadScreen,
  consultScreen,
  bookScreen,
  viewerScreen,
  worklistScreen,
  readingScreen,
  readingReportScreen,
];
