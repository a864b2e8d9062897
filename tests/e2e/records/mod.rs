//! The consortium's records: facilities, the patient index, the diagnosis
//! catalogue, referrals and examinations.

mod audit_reads;
mod catalogue;
mod examinations;
mod facilities;
mod fhir_resources;
mod finding;
mod national_ids;
mod patient_index;
mod patient_mismatch;
mod patients;
mod recognition;
mod record_lookup;
mod referrals;
