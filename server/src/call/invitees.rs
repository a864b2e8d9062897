//! `/consultations/{id}/invitees`: the clinician or the expert of a
//! consultation invites someone else to its call (a radiologist to show the
//! scan, an interpreter). An invitee may join the call; the patient's record
//! stays closed to them unless they have access of their own.

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{self, Action, AuditEntry};
use crate::auth::{Caller, Role};
use crate::consultation::store::{self as consultation_store, ConsultationRow};
use crate::db::Tx;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode, ResultExt};
use crate::extract::{ApiJson, ApiPath};
use crate::notify::Outbox;
use crate::policy::CARE_ROLES;
use crate::state::AppState;
use crate::time::{now_ms, rfc3339};

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list_invitees, invite))
        .routes(routes!(candidates))
        .routes(routes!(uninvite))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InviteeView {
    pub user_id: i64,
    pub display_name: String,
    pub note: String,
    pub invited_by: i64,
    pub created_at: String,
}

/// Someone who may be invited: an active clinician, expert or radiologist
/// of any member of the consortium.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InviteCandidate {
    pub user_id: i64,
    pub display_name: String,
    pub facility_id: i64,
    pub facility_name: String,
    /// Their roles among clinician, expert and radiologist.
    pub roles: Vec<Role>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvitee {
    pub user_id: i64,
    /// Why they are asked, e.g. "interpreter (Minnan)".
    #[serde(default)]
    pub note: String,
}

/// Is the user invited to this consultation's call?
pub async fn is_invited(
    conn: &mut sqlx::AnyConnection,
    consultation_id: i64,
    user_id: i64,
) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT user_id FROM consultation_invitee WHERE consultation_id = $1 AND user_id = $2",
    )
    .bind(consultation_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

fn is_party(consultation: &ConsultationRow, user_id: i64) -> bool {
    consultation.requested_by == user_id || consultation.expert_id == Some(user_id)
}

/// The consultation, if the caller is one of its two parties.
async fn as_party(tx: &mut Tx, caller: &Caller, id: i64) -> ApiResult<ConsultationRow> {
    let consultation = consultation_store::get(tx, id)
        .await?
        .ok_or(ApiError::NotFound {
            what: "consultation",
        })?;
    if is_party(&consultation, caller.user_id) {
        Ok(consultation)
    } else {
        Err(ApiError::forbidden(
            ErrorCode::NotAParticipant,
            "only the consultation's clinician and expert manage who joins its call",
        ))
    }
}

async fn list(tx: &mut Tx, id: i64) -> Result<Vec<InviteeView>, sqlx::Error> {
    let rows: Vec<(i64, String, String, i64, i64)> = sqlx::query_as(
        "SELECT i.user_id, u.display_name, i.note, i.invited_by, i.created_at \
         FROM consultation_invitee i JOIN app_user u ON u.id = i.user_id \
         WHERE i.consultation_id = $1 ORDER BY i.created_at, i.user_id",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(user_id, display_name, note, invited_by, created_at)| InviteeView {
                user_id,
                display_name,
                note,
                invited_by,
                created_at: rfc3339(created_at),
            },
        )
        .collect())
}

/// Who is invited to the call, for its parties and its invitees.
#[utoipa::path(get, path = "/consultations/{id}/invitees", tag = "calls", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<InviteeView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_invitees(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<InviteeView>>> {
    let mut tx = state.db.begin_write().await?;
    if as_party(&mut tx, &caller, id).await.is_err()
        && !is_invited(&mut tx, id, caller.user_id).await?
    {
        return Err(ApiError::forbidden(
            ErrorCode::NotAParticipant,
            "only the call's participants see who is invited",
        ));
    }
    let invitees = list(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(invitees))
}

/// Whom the consultation's parties may invite to its call: every active
/// clinician, expert and radiologist of the consortium but the two parties
/// themselves, by facility and name.
#[utoipa::path(get, path = "/consultations/{id}/invitees/candidates", tag = "calls", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<InviteCandidate>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn candidates(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<InviteCandidate>>> {
    let mut tx = state.db.begin_write().await?;
    let consultation = as_party(&mut tx, &caller, id).await?;
    let rows: Vec<(i64, String, i64, String, String)> = sqlx::query_as(
        "SELECT u.id, u.display_name, f.id, f.name, r.role \
         FROM app_user u JOIN facility f ON f.id = u.facility_id \
         JOIN user_role r ON r.user_id = u.id \
         WHERE u.active = 1 AND r.role IN ('clinician', 'expert', 'radiologist') \
         ORDER BY f.name, u.display_name, u.id, r.role",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut out: Vec<InviteCandidate> = Vec::new();
    for (user_id, display_name, facility_id, facility_name, role) in rows {
        if is_party(&consultation, user_id) {
            continue;
        }
        let Some(role) = Role::parse(&role) else {
            continue;
        };
        match out.last_mut() {
            Some(last) if last.user_id == user_id => last.roles.push(role),
            _ => out.push(InviteCandidate {
                user_id,
                display_name,
                facility_id,
                facility_name,
                roles: vec![role],
            }),
        }
    }
    Ok(Json(out))
}

/// Invites someone who treats patients (clinician, expert, radiologist) to
/// the call; they are notified.
#[utoipa::path(post, path = "/consultations/{id}/invitees", tag = "calls", params(("id" = i64, Path)),
    request_body = NewInvitee,
    responses((status = 201, body = Vec<InviteeView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Invited already"), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn invite(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewInvitee>,
) -> ApiResult<(StatusCode, Json<Vec<InviteeView>>)> {
    let note = body.note.trim().to_owned();
    if note.chars().count() > 200 {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "note",
            "note may have at most 200 characters",
        ));
    }
    let mut tx = state.db.begin_write().await?;
    let consultation = as_party(&mut tx, &caller, id).await?;
    let roles = crate::auth::store::roles_of(&mut *tx, body.user_id).await?;
    let active: Option<i64> =
        sqlx::query_scalar("SELECT id FROM app_user WHERE id = $1 AND active = 1")
            .bind(body.user_id)
            .fetch_optional(&mut *tx)
            .await?;
    if active.is_none() || !roles.iter().any(|r| CARE_ROLES.contains(r)) {
        return Err(ApiError::invalid(
            ErrorCode::NotInvitable,
            "user_id",
            "invite an active clinician, expert or radiologist",
        ));
    }
    if is_party(&consultation, body.user_id) {
        return Err(ApiError::invalid(
            ErrorCode::NotInvitable,
            "user_id",
            "the consultation's own clinician and expert need no invitation",
        ));
    }
    sqlx::query(
        "INSERT INTO consultation_invitee (consultation_id, user_id, invited_by, note, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(body.user_id)
    .bind(caller.user_id)
    .bind(&note)
    .bind(now_ms())
    .execute(&mut *tx)
    .await
    .on_unique_violation(|| ApiError::conflict(ErrorCode::AlreadyInvited, "this user is invited already"))?;
    let mut outbox = Outbox::new();
    outbox
        .push(
            &mut tx,
            body.user_id,
            "call.invited",
            serde_json::json!({ "consultation_id": id, "invited_by": caller.user_id, "note": note }),
        )
        .await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Update, "call.invited")
            .entity("consultation", id)
            .patient(consultation.patient_id)
            .facility(caller.facility_id)
            .detail(serde_json::json!({ "user_id": body.user_id, "note": note })),
    )
    .await?;
    let invitees = list(&mut tx, id).await?;
    tx.commit().await?;
    outbox.deliver(&state.notifier);
    Ok((StatusCode::CREATED, Json(invitees)))
}

/// Withdraws an invitation; a connection already open stays until it ends.
#[utoipa::path(delete, path = "/consultations/{id}/invitees/{user_id}", tag = "calls",
    params(("id" = i64, Path), ("user_id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn uninvite(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, user_id)): ApiPath<(i64, i64)>,
) -> ApiResult<StatusCode> {
    let mut tx = state.db.begin_write().await?;
    let consultation = as_party(&mut tx, &caller, id).await?;
    let done =
        sqlx::query("DELETE FROM consultation_invitee WHERE consultation_id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::NotFound { what: "invitee" });
    }
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Update, "call.uninvited")
            .entity("consultation", id)
            .patient(consultation.patient_id)
            .facility(caller.facility_id)
            .detail(serde_json::json!({ "user_id": user_id })),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
