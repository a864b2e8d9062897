//! The graded diagnosis catalogue: which tiers of the consortium treat which
//! conditions. Each entry maps an ICD-10 code, or an inclusive range of codes,
//! to tiers. Referrals are checked against it ([`Catalogue::tiers_for`]):
//! sending a patient up for a condition the referring tier treats needs a
//! written justification, and sending one down to a tier that does not treat
//! it draws a warning.

pub mod csv;
pub mod routes;
pub mod store;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::db::Tx;
use crate::error::{ApiError, ErrorCode};
use crate::facility::Tier;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CatalogueEntryView {
    pub id: i64,
    /// Normalised ICD-10 code, e.g. `I21`.
    pub code_from: String,
    /// The last code of the range, inclusive; equal to `code_from` for a single
    /// code. Its subdivisions are included: `I25` covers `I25.1`.
    pub code_to: String,
    /// In tier order, highest first.
    pub tiers: Vec<Tier>,
    pub label: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCatalogueEntry {
    pub code_from: String,
    /// Omit for a single code.
    pub code_to: Option<String>,
    pub tiers: Vec<Tier>,
    #[serde(default)]
    pub label: String,
}

/// An entry that passed validation: normalised codes, tiers sorted and unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub code_from: String,
    pub code_to: String,
    pub tiers: Vec<Tier>,
    pub label: String,
}

/// Why an entry is refused, and which of its fields is at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryError {
    pub field: &'static str,
    pub message: String,
}

impl From<EntryError> for ApiError {
    fn from(err: EntryError) -> Self {
        ApiError::invalid(ErrorCode::InvalidCatalogueEntry, err.field, err.message)
    }
}

pub fn code(field: &'static str, text: &str) -> Result<String, EntryError> {
    crate::icd10::normalize(text).ok_or_else(|| EntryError {
        field,
        message: format!(
            "{field}: {:?} is not an ICD-10 code such as I21 or E11.9",
            text.trim()
        ),
    })
}

/// Sorted highest tier first, without repeats.
pub fn canonical_tiers(mut tiers: Vec<Tier>) -> Vec<Tier> {
    tiers.sort_by_key(|tier| tier.rank());
    tiers.dedup();
    tiers
}

impl Entry {
    pub fn new(
        code_from: &str,
        code_to: Option<&str>,
        tiers: Vec<Tier>,
        label: &str,
    ) -> Result<Entry, EntryError> {
        let code_from = code("code_from", code_from)?;
        let code_to = match code_to.map(str::trim) {
            None | Some("") => code_from.clone(),
            Some(text) => code("code_to", text)?,
        };
        if code_to < code_from {
            return Err(EntryError {
                field: "code_to",
                message: format!("code_to {code_to} comes before code_from {code_from}"),
            });
        }
        if tiers.is_empty() {
            return Err(EntryError {
                field: "tiers",
                message: "name at least one tier that treats the condition".to_owned(),
            });
        }
        let label = label.trim();
        if label.chars().count() > 200 {
            return Err(EntryError {
                field: "label",
                message: "label may have at most 200 characters".to_owned(),
            });
        }
        Ok(Entry {
            code_from,
            code_to,
            tiers: canonical_tiers(tiers),
            label: label.to_owned(),
        })
    }

    /// Whether `code` (normalised) falls in this entry's range. The upper end
    /// takes its subdivisions along: a range ending at `I25` holds `I25.9`.
    pub fn covers(&self, code: &str) -> bool {
        code >= self.code_from.as_str()
            && (code <= self.code_to.as_str()
                || code
                    .strip_prefix(self.code_to.as_str())
                    .is_some_and(|rest| rest.starts_with('.')))
    }
}

/// The whole catalogue, loaded to judge one referral.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub entries: Vec<Entry>,
}

impl Catalogue {
    /// The tiers that treat `code`, joined over every entry that covers it;
    /// `None` when the catalogue does not know the condition.
    pub fn tiers_for(&self, code: &str) -> Option<Vec<Tier>> {
        let mut found = None::<Vec<Tier>>;
        for entry in self.entries.iter().filter(|entry| entry.covers(code)) {
            found
                .get_or_insert_with(Vec::new)
                .extend(entry.tiers.iter().copied());
        }
        found.map(canonical_tiers)
    }
}

/// Replaces the whole catalogue with `entries`, audited as one import.
/// Returns how many entries it replaced.
pub async fn replace(tx: &mut Tx, actor: &Actor, entries: &[Entry]) -> Result<u64, sqlx::Error> {
    let now = crate::time::now_ms();
    let removed = store::delete_all(tx).await?;
    for entry in entries {
        store::insert(tx, entry, now).await?;
    }
    audit::append(
        tx,
        actor,
        AuditEntry::new(Action::Update, "catalogue.import")
            .entity("diagnosis_catalogue", "*")
            .detail(serde_json::json!({ "removed": removed, "imported": entries.len() })),
    )
    .await?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(from: &str, to: &str) -> Entry {
        Entry::new(from, Some(to), vec![Tier::Primary], "").expect("a valid entry")
    }

    #[test]
    fn a_range_holds_its_ends_and_their_subdivisions() {
        let range = entry("I20", "I25");
        for inside in ["I20", "I21.4", "I25", "I25.10"] {
            assert!(range.covers(inside), "{inside}");
        }
        for outside in ["I19.9", "I26", "I2"] {
            assert!(!range.covers(outside), "{outside}");
        }
        assert!(entry("E11", "E11").covers("E11.9"));
    }

    #[test]
    fn refuses_a_reversed_range_and_no_tiers() {
        assert_eq!(
            Entry::new("I25", Some("I20"), vec![Tier::Primary], "").map_err(|e| e.field),
            Err("code_to")
        );
        assert_eq!(
            Entry::new("I25", None, vec![], "").map_err(|e| e.field),
            Err("tiers")
        );
        assert_eq!(
            Entry::new("25", None, vec![Tier::Primary], "").map_err(|e| e.field),
            Err("code_from")
        );
    }

    #[test]
    fn tiers_of_overlapping_entries_are_joined() {
        let catalogue = Catalogue {
            entries: vec![
                Entry::new("I10", None, vec![Tier::Village], "").expect("valid"),
                Entry::new("I10", Some("I15"), vec![Tier::Primary, Tier::Village], "")
                    .expect("valid"),
            ],
        };
        assert_eq!(
            catalogue.tiers_for("I10"),
            Some(vec![Tier::Primary, Tier::Village])
        );
        assert_eq!(catalogue.tiers_for("I21"), None);
    }
}
