//! Modalities: the scanners, ultrasound carts and ECG machines of a facility
//! that push images straight to Ferry over DIMSE. A modality is known by its
//! calling AE title; an association from any other title is refused, and what a
//! known one sends is filed under its facility.

pub mod routes;
pub mod store;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::{Action, Actor, AuditEntry};
use crate::error::{ApiError, ResultExt};

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewModality {
    /// The modality's calling AE title: 1 to 16 printable ASCII characters, no
    /// backslash (PS3.5 AE value representation).
    pub ae_title: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModalityView {
    pub id: i64,
    pub facility_id: i64,
    pub ae_title: String,
    pub description: String,
    pub created_at: String,
}

/// Leading and trailing spaces are not significant in an AE title (PS3.5
/// §6.2), so titles are stored trimmed and compared as stored.
pub fn normalise_ae_title(raw: &str) -> Result<String, ApiError> {
    let title = raw.trim();
    let printable = title
        .chars()
        .all(|c| c.is_ascii() && !c.is_ascii_control() && c != '\\');
    if title.is_empty() || title.len() > 16 || !printable {
        return Err(ApiError::invalid(
            "invalid_ae_title",
            "ae_title",
            "an AE title is 1 to 16 printable ASCII characters without a backslash",
        ));
    }
    Ok(title.to_owned())
}

pub async fn create(
    tx: &mut crate::db::Tx,
    actor: &Actor,
    facility_id: i64,
    new: NewModality,
) -> Result<store::ModalityRow, ApiError> {
    let ae_title = normalise_ae_title(&new.ae_title)?;
    crate::facility::store::get(tx, facility_id)
        .await?
        .ok_or(ApiError::NotFound { what: "facility" })?;
    let id = store::insert(
        tx,
        facility_id,
        &ae_title,
        new.description.trim(),
        crate::time::now_ms(),
    )
    .await
    .on_unique_violation(|| {
        ApiError::conflict(
            "ae_title_taken",
            format!("the AE title {ae_title} is already registered"),
        )
    })?;
    crate::audit::append(
        tx,
        actor,
        AuditEntry::new(Action::Create, "modality.create")
            .entity("modality", id)
            .facility(facility_id),
    )
    .await?;
    store::get(tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "modality" })
}

pub async fn delete(tx: &mut crate::db::Tx, actor: &Actor, id: i64) -> Result<(), ApiError> {
    let row = store::get(tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "modality" })?;
    store::delete(tx, id).await?;
    crate::audit::append(
        tx,
        actor,
        AuditEntry::new(Action::Delete, "modality.delete")
            .entity("modality", id)
            .facility(row.facility_id),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::normalise_ae_title;

    #[test]
    fn ae_titles_are_trimmed_and_checked() {
        assert_eq!(
            normalise_ae_title("  DEMO-MODALITY ").expect("valid"),
            "DEMO-MODALITY"
        );
        for bad in [
            "",
            "   ",
            "SEVENTEEN-CHARS-X",
            "BACK\\SLASH",
            "TAB\tX",
            "超声",
        ] {
            assert!(normalise_ae_title(bad).is_err(), "{bad:?}");
        }
    }
}
