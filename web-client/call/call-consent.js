// @ts-check
// Ferry web client: the patient's consent to the teleconsultation as the
// call screen shows it, under its title: who gave it and who recorded it,
// and whether the patient agreed to recording; or that none is on record,
// so that neither side goes on without knowing.

/**
 * @typedef {{
 *   kind: string, in_force: boolean, given_by: string, guardian_name: string | null,
 *   recorded_by_name: string, recorded_at_facility_name: string, recorded_at: string
 * }} CareConsent
 * @typedef {{ t: (key: string, params?: Record<string, string>) => string,
 *   when: (iso: string) => string }} Words
 */

/**
 * The line for a consultation's consents, and whether the consent to the
 * teleconsultation is missing.
 * @param {CareConsent[]} consents
 * @param {Words} words
 * @returns {{ text: string, missing: boolean }}
 */
export function consentLine(consents, { t, when }) {
  const given = consents.find((c) => c.kind === 'teleconsultation' && c.in_force);
  if (!given) {
    return { text: t('call.patient_consent.none'), missing: true };
  }
  const giver = given.given_by === 'guardian'
    ? t('call.patient_consent.guardian', { name: given.guardian_name || '' })
    : t('call.patient_consent.patient');
  const recording = consents.some((c) => c.kind === 'recording' && c.in_force);
  const line = t('call.patient_consent.given', {
    giver,
    recorder: given.recorded_by_name,
    facility: given.recorded_at_facility_name,
    at: when(given.recorded_at),
  });
  const agreed = t(recording ? 'call.patient_consent.recording_yes' : 'call.patient_consent.recording_no');
  return { text: `${line} ${agreed}`, missing: false };
}
