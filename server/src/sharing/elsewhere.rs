//! `GET /patients/{id}/elsewhere`: what other member facilities hold about a
//! patient (signed opinions, signed reports, referrals between them), for
//! the patient page, when the patient is shared with the caller's facility
//! or the caller broke the glass. What the caller's own facility holds is
//! on the page already, through the lists of its own records.

use axum::extract::{FromRef, State};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::AuditEntry;
use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::ApiPath;
use crate::opinion::store::{self as opinions, OpinionElsewhere};
use crate::patient::access::authorize;
use crate::policy::{self, ConsentRule};
use crate::reading::report_store::{self as reports, ReportElsewhere};
use crate::referral::{store as referrals, ReferralView};
use crate::state::AppState;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(elsewhere))
}

/// Other facilities' records of a patient.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Elsewhere {
    /// Whether the caller reads them; when not, the lists are empty and
    /// `reason` says why.
    pub shared: bool,
    /// `needs_consent` (the patient's consent to sharing would open them)
    /// or `not_shared`.
    pub reason: Option<String>,
    pub opinions: Vec<OpinionElsewhere>,
    pub reports: Vec<ReportElsewhere>,
    pub referrals: Vec<ReferralView>,
}

/// What other member facilities hold about a patient: the standing signed
/// opinion of each consultation they asked for, the standing signed report
/// of each reading they asked for, and referrals between them.
#[utoipa::path(get, path = "/patients/{id}/elsewhere", tag = "sharing",
    params(("id" = i64, Path)),
    responses((status = 200, body = Elsewhere), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn elsewhere(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(patient_id): ApiPath<i64>,
) -> ApiResult<Json<Elsewhere>> {
    let tx = state.db.begin_read().await?;
    let (mut tx, access, _) =
        authorize(tx, &state.journal, &caller, patient_id, "patient.elsewhere").await?;
    let rule = ConsentRule::of(&state.settings);
    let shared =
        policy::sharing::reads_shared_record(&mut tx, &caller, access, patient_id, rule).await?;
    if !shared {
        let opened_by_consent = rule == ConsentRule::Required
            && policy::sharing::reads_shared_record(
                &mut tx,
                &caller,
                access,
                patient_id,
                ConsentRule::NotRequired,
            )
            .await?;
        tx.commit().await?;
        return Ok(Json(Elsewhere {
            shared: false,
            reason: Some(
                if opened_by_consent {
                    "needs_consent"
                } else {
                    "not_shared"
                }
                .to_owned(),
            ),
            opinions: Vec::new(),
            reports: Vec::new(),
            referrals: Vec::new(),
        }));
    }
    let facility = caller.facility_id;
    let opinions = opinions::standing_elsewhere(&mut tx, patient_id, facility).await?;
    let reports = reports::standing_elsewhere(&mut tx, patient_id, facility).await?;
    let referrals: Vec<ReferralView> =
        referrals::of_patient_elsewhere(&mut tx, patient_id, facility)
            .await?
            .into_iter()
            .map(|row| row.view())
            .collect();
    tx.commit().await?;
    let mut entry = AuditEntry::list_read(
        "patient.elsewhere",
        caller.facility_id,
        "consultations",
        &opinions
            .iter()
            .map(|o| o.consultation_id)
            .collect::<Vec<_>>(),
        &[patient_id],
    );
    entry.detail["reading_requests"] = serde_json::json!(reports
        .iter()
        .map(|r| r.reading_request_id)
        .collect::<Vec<_>>());
    entry.detail["referrals"] =
        serde_json::json!(referrals.iter().map(|r| r.id).collect::<Vec<_>>());
    entry.detail["access"] = access.describe()["access"].clone();
    state.journal.record_one(&caller.actor(), entry).await?;
    Ok(Json(Elsewhere {
        shared: true,
        reason: None,
        opinions,
        reports,
        referrals,
    }))
}
