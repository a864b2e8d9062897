//! Which consultations a caller sees, and how much of each: shared by the
//! consultation routes and by the areas that hang off a consultation
//! (bookings, opinions, calls, FHIR views).

use super::store::{self, ConsultationRow};
use super::ConsultationView;
use crate::auth::Caller;
use crate::db::Tx;
use crate::error::{ApiError, ApiResult};
// Decided in `policy`; the areas that hang off a consultation take them from here.
pub use crate::policy::consultation::{sees_clinical, viewer};

/// Loads a consultation the caller may see, or 404 (a consultation the caller
/// cannot see is not acknowledged to exist).
pub async fn load_visible(
    tx: &mut Tx,
    caller: &Caller,
    id: i64,
    now: i64,
) -> ApiResult<ConsultationRow> {
    let visible = store::is_visible(tx, viewer(caller, now), id).await?;
    let row = store::get(tx, id).await?;
    match row {
        Some(row) if visible => Ok(row),
        _ => Err(ApiError::NotFound {
            what: "consultation",
        }),
    }
}

/// `open_before_ms` is the call's opening margin
/// (`Settings::call_open_before_ms`), for its `call_opens_at`.
pub async fn view(
    tx: &mut Tx,
    caller: &Caller,
    row: &ConsultationRow,
    open_before_ms: i64,
) -> ApiResult<ConsultationView> {
    let studies = store::studies(tx, row.id).await?;
    Ok(row.view(studies, sees_clinical(caller), open_before_ms))
}

/// As [`view`], for a list: the studies of every row in one query.
pub async fn views(
    tx: &mut Tx,
    caller: &Caller,
    rows: &[ConsultationRow],
    open_before_ms: i64,
) -> ApiResult<Vec<ConsultationView>> {
    let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
    let mut studies = store::studies_of(tx, &ids).await?;
    Ok(rows
        .iter()
        .map(|row| {
            let of_row = studies.remove(&row.id).unwrap_or_default();
            row.view(of_row, sees_clinical(caller), open_before_ms)
        })
        .collect())
}
