//! Critical results (`/critical-results`): a reader signs a report with a
//! critical finding; the requester is alerted at once and must acknowledge.
//! Left unacknowledged for `critical_escalation_seconds`, the alert goes to
//! the requesting facility's other clinicians, any of whom may then
//! acknowledge it. Every step is audited.

use axum::extract::{FromRef, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::requests::{same_patient, ShownPatient};
use super::store::RequestRow;
use crate::audit::{self, Action, Actor, AuditEntry};
use crate::auth::Caller;
use crate::db::{Db, Tx};
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::notify::{Notifier, Outbox};
use crate::policy::{self, reading::Side};
use crate::state::AppState;
use crate::time::{now_ms, rfc3339};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_critical))
        .routes(routes!(acknowledge))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CriticalResultView {
    pub id: i64,
    pub report_id: i64,
    pub reading_request_id: i64,
    pub study_instance_uid: String,
    pub patient_id: Option<i64>,
    pub requested_by: i64,
    pub requesting_facility_id: i64,
    pub raised_by: i64,
    pub raised_by_name: String,
    pub raised_at: String,
    /// The impression of the report that raised it.
    pub impression: String,
    pub acknowledged_by: Option<i64>,
    pub acknowledged_at: Option<String>,
    /// When it went to the facility's other clinicians, if it did.
    pub escalated_at: Option<String>,
    /// Whom it is about: the patient's name as written, and their record
    /// number at the requesting facility (else their first).
    pub patient_name: Option<String>,
    pub patient_record_number: Option<String>,
}

impl CriticalResultView {
    /// What acknowledging it turns on, for `policy::reading`.
    pub fn facts(&self) -> crate::policy::reading::CriticalFacts {
        crate::policy::reading::CriticalFacts {
            requesting_facility: self.requesting_facility_id,
            requested_by: self.requested_by,
            escalated: self.escalated_at.is_some(),
        }
    }
}

// With the patient's name and record number (the requesting facility's,
// which is where the alert goes), so that the alert names whom it is about.
static SELECT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT c.id, c.report_id, c.reading_request_id, r.study_instance_uid, r.patient_id, \
         r.requested_by, r.requesting_facility_id, c.raised_by, u.display_name, c.raised_at, p.impression, \
         c.acknowledged_by, c.acknowledged_at, c.escalated_at, r.reading_facility_id, \
         pt.family_name, pt.given_name, {} \
         FROM critical_result c JOIN reading_request r ON r.id = c.reading_request_id \
         JOIN reading_report p ON p.id = c.report_id JOIN app_user u ON u.id = c.raised_by \
         LEFT JOIN patient pt ON pt.id = r.patient_id",
        crate::patient_label::record_number_sql("r.patient_id", "r.requesting_facility_id")
    )
});

fn view(row: &sqlx::any::AnyRow) -> Result<(CriticalResultView, i64), sqlx::Error> {
    Ok((
        CriticalResultView {
            id: row.try_get(0)?,
            report_id: row.try_get(1)?,
            reading_request_id: row.try_get(2)?,
            study_instance_uid: row.try_get(3)?,
            patient_id: row.try_get(4)?,
            requested_by: row.try_get(5)?,
            requesting_facility_id: row.try_get(6)?,
            raised_by: row.try_get(7)?,
            raised_by_name: row.try_get(8)?,
            raised_at: rfc3339(row.try_get(9)?),
            impression: row.try_get(10)?,
            acknowledged_by: row.try_get(11)?,
            acknowledged_at: row.try_get::<Option<i64>, _>(12)?.map(rfc3339),
            escalated_at: row.try_get::<Option<i64>, _>(13)?.map(rfc3339),
            patient_name: match (
                row.try_get::<Option<String>, _>(15)?,
                row.try_get::<Option<String>, _>(16)?,
            ) {
                (Some(family), given) => Some(crate::patient_label::display_name(
                    &family,
                    given.as_deref().unwrap_or(""),
                )),
                (None, _) => None,
            },
            patient_record_number: row.try_get(17)?,
        },
        row.try_get(14)?,
    ))
}

fn entry(action: Action, subtype: &str, critical_id: i64, patient: Option<i64>) -> AuditEntry {
    let entry = AuditEntry::new(action, subtype).entity("critical_result", critical_id);
    match patient {
        Some(patient) => entry.patient(patient),
        None => entry,
    }
}

/// Raises a critical result for a report being signed, in its transaction.
pub async fn raise(
    tx: &mut Tx,
    outbox: &mut Outbox,
    caller: &Caller,
    request: &RequestRow,
    report_id: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO critical_result (report_id, reading_request_id, raised_by, raised_at) \
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(report_id)
    .bind(request.id)
    .bind(caller.user_id)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    outbox
        .push(
            tx,
            request.requested_by,
            "reading.critical_result",
            serde_json::json!({
                "critical_result_id": id, "reading_request_id": request.id, "report_id": report_id,
                "acknowledge": format!("/api/v1/critical-results/{id}/acknowledge"),
            }),
        )
        .await?;
    audit::append(
        tx,
        &caller.actor(),
        entry(
            Action::Create,
            "reading.critical_raised",
            id,
            request.patient_id,
        )
        .facility(caller.facility_id)
        .detail(
            serde_json::json!({ "report_id": report_id, "requested_by": request.requested_by }),
        ),
    )
    .await?;
    Ok(())
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CriticalQuery {
    /// Only those not yet acknowledged.
    pub open: Option<bool>,
}

/// Critical results of the caller's facility: those its requests received
/// (clinicians) or its readers raised (radiologists), newest first.
#[utoipa::path(get, path = "/critical-results", tag = "reading", params(CriticalQuery),
    responses((status = 200, body = Vec<CriticalResultView>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_critical(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<CriticalQuery>,
) -> ApiResult<Json<Vec<CriticalResultView>>> {
    policy::reading::require_party(&caller)?;
    let column = match policy::reading::critical_list_side(&caller) {
        Side::Requester => "r.requesting_facility_id",
        Side::Reader => "r.reading_facility_id",
    };
    let open = if query.open.unwrap_or(false) {
        " AND c.acknowledged_at IS NULL"
    } else {
        ""
    };
    let mut tx = state.db.begin_read().await?;
    let rows = sqlx::query(&format!(
        "{} WHERE {column} = $1{open} ORDER BY c.raised_at DESC, c.id DESC LIMIT 500",
        *SELECT
    ))
    .bind(caller.facility_id)
    .fetch_all(&mut *tx)
    .await?;
    let views: Vec<CriticalResultView> = rows
        .iter()
        .map(|row| view(row).map(|(v, _)| v))
        .collect::<Result<_, _>>()?;
    tx.commit().await?;
    if !views.is_empty() {
        let ids: Vec<i64> = views.iter().map(|v| v.id).collect();
        let patients: Vec<i64> = views.iter().filter_map(|v| v.patient_id).collect();
        state
            .journal
            .record_one(
                &caller.actor(),
                AuditEntry::list_read(
                    "critical.list",
                    caller.facility_id,
                    "critical_results",
                    &ids,
                    &patients,
                ),
            )
            .await?;
    }
    Ok(Json(views))
}

/// Acknowledges a critical result: the requester, or once it has escalated,
/// any clinician of the requesting facility. The body is optional; a
/// client that sends none names no patient.
#[utoipa::path(post, path = "/critical-results/{id}/acknowledge", tag = "reading", params(("id" = i64, Path)),
    request_body(content = Option<ShownPatient>, description = "Optional: the patient the screen showed"),
    responses((status = 200, body = CriticalResultView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Already acknowledged, or `patient_id` is not its patient (`patient_mismatch`)")),
    security(("bearer" = [])))]
async fn acknowledge(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    body: Option<ApiJson<Option<ShownPatient>>>,
) -> ApiResult<Json<CriticalResultView>> {
    let body = ShownPatient::or_none(body);
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let row = sqlx::query(&format!("{} WHERE c.id = $1", *SELECT))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    let (critical, reading_facility) = match row.as_ref().map(view).transpose()? {
        Some(found) => found,
        None => {
            return Err(ApiError::NotFound {
                what: "critical result",
            })
        }
    };
    policy::reading::check_acknowledge(&caller, critical.facts(), reading_facility)?;
    same_patient(critical.patient_id, body.patient_id)?;
    let done = sqlx::query(
        "UPDATE critical_result SET acknowledged_by = $1, acknowledged_at = $2 \
         WHERE id = $3 AND acknowledged_at IS NULL",
    )
    .bind(caller.user_id)
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::Conflict {
            code: ErrorCode::AlreadyAcknowledged,
            message: "this critical result was acknowledged already".to_owned(),
            details: serde_json::json!({ "acknowledged_by": critical.acknowledged_by }),
        });
    }
    let mut outbox = Outbox::new();
    outbox
        .push(
            &mut tx,
            critical.raised_by,
            "reading.critical_acknowledged",
            serde_json::json!({ "critical_result_id": id, "acknowledged_by": caller.user_id }),
        )
        .await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        entry(
            Action::Update,
            "reading.critical_acknowledged",
            id,
            critical.patient_id,
        )
        .facility(caller.facility_id)
        .detail(serde_json::json!({
            "raised_at": critical.raised_at,
            "after_escalation": critical.escalated_at.is_some(),
        })),
    )
    .await?;
    let row = sqlx::query(&format!("{} WHERE c.id = $1", *SELECT))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    let (critical, _) = view(&row)?;
    tx.commit().await?;
    outbox.deliver(&state.notifier);
    Ok(Json(critical))
}

/// Escalates critical results unacknowledged for `limit_ms`: each is marked
/// once (a conditional UPDATE, so several nodes may run this) and sent to the
/// requesting facility's other active clinicians and to its reader.
pub async fn escalate_overdue(
    db: &Db,
    notifier: &Notifier,
    limit_ms: i64,
    now: i64,
) -> Result<usize, sqlx::Error> {
    let due: Vec<(i64, i64, i64, i64, Option<i64>, i64)> = sqlx::query_as(
        "SELECT c.id, r.requesting_facility_id, r.requested_by, c.raised_by, r.patient_id, c.reading_request_id \
         FROM critical_result c JOIN reading_request r ON r.id = c.reading_request_id \
         WHERE c.acknowledged_at IS NULL AND c.escalated_at IS NULL AND c.raised_at <= $1",
    )
    .bind(now.saturating_sub(limit_ms))
    .fetch_all(db.pool())
    .await?;
    let mut escalated = 0;
    for (id, facility, requester, raised_by, patient, request_id) in due {
        let mut tx = db.begin_write().await?;
        let done = sqlx::query(
            "UPDATE critical_result SET escalated_at = $1 \
             WHERE id = $2 AND acknowledged_at IS NULL AND escalated_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            continue;
        }
        let clinicians: Vec<i64> = sqlx::query_scalar(
            "SELECT u.id FROM app_user u JOIN user_role ur ON ur.user_id = u.id AND ur.role = 'clinician' \
             WHERE u.facility_id = $1 AND u.active = 1 AND u.id <> $2 ORDER BY u.id",
        )
        .bind(facility)
        .bind(requester)
        .fetch_all(&mut *tx)
        .await?;
        let mut outbox = Outbox::new();
        let payload = serde_json::json!({
            "critical_result_id": id, "reading_request_id": request_id,
            "unacknowledged_since_ms": limit_ms,
            "acknowledge": format!("/api/v1/critical-results/{id}/acknowledge"),
        });
        for user in clinicians.iter().copied().chain([raised_by]) {
            outbox
                .push(&mut tx, user, "reading.critical_escalated", payload.clone())
                .await?;
        }
        audit::append(
            &mut tx,
            &Actor::system("escalation"),
            entry(Action::Update, "reading.critical_escalated", id, patient)
                .facility(facility)
                .detail(serde_json::json!({ "notified": clinicians })),
        )
        .await?;
        tx.commit().await?;
        outbox.deliver(notifier);
        escalated += 1;
    }
    Ok(escalated)
}
