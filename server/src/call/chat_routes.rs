//! `/consultations/{id}/chat`: text written in a consultation's call, kept
//! with the consultation. The call's participants write while the
//! consultation is open and read it during the call (the client asks for
//! what is newer than the last message it has) and afterwards on the
//! consultation's page. Who may is [`policy::call`]'s decision.

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use ferry_signaling::protocol::ServerMessage;
use ferry_signaling::room::Rooms;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::chat_store::{self, ChatRow};
use super::invitees::is_invited;
use crate::audit::{self, Action, AuditEntry};
use crate::auth::Caller;
use crate::consultation::store::{self as consultation_store, ConsultationRow};
use crate::consultation::Status;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::policy::{self, call::CallParties};
use crate::state::AppState;
use crate::time::{now_ms, rfc3339};

/// The longest message, in characters (the table holds the same bound).
const MAX_CHARS: usize = 2000;
/// The most messages one answer carries; a client pages on with `after`.
const PAGE: i64 = 500;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
    Rooms: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(list_chat, post_chat))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChatMessageView {
    pub id: i64,
    pub author_id: i64,
    /// The author's display name.
    pub author_name: String,
    pub body: String,
    pub sent_at: String,
}

impl From<ChatRow> for ChatMessageView {
    fn from(row: ChatRow) -> Self {
        Self {
            id: row.id,
            author_id: row.author_id,
            author_name: row.author_name,
            body: row.body,
            sent_at: rfc3339(row.sent_at),
        }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChatQuery {
    /// Only messages with a larger id (the last one the client has).
    pub after: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChatMessage {
    pub body: String,
}

/// The consultation, if the caller takes part in its call.
async fn as_participant(
    conn: &mut sqlx::AnyConnection,
    caller: &Caller,
    id: i64,
) -> ApiResult<ConsultationRow> {
    let consultation = consultation_store::get(conn, id)
        .await?
        .ok_or(ApiError::NotFound {
            what: "consultation",
        })?;
    let parties = CallParties {
        requested_by: consultation.requested_by,
        expert_id: consultation.expert_id,
        caller_invited: is_invited(conn, id, caller.user_id).await?,
    };
    policy::call::call_participant(caller, parties)?;
    Ok(consultation)
}

/// The call's chat, oldest first. Not audited per read: the call screen
/// asks every few seconds, and the messages were audited as they were written.
#[utoipa::path(get, path = "/consultations/{id}/chat", tag = "calls",
    params(("id" = i64, Path), ChatQuery),
    responses((status = 200, body = Vec<ChatMessageView>), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_chat(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<ChatQuery>,
) -> ApiResult<Json<Vec<ChatMessageView>>> {
    let mut conn = state.db.pool().acquire().await?;
    as_participant(&mut conn, &caller, id).await?;
    let rows = chat_store::list(&mut conn, id, query.after.unwrap_or(0).max(0), PAGE).await?;
    Ok(Json(rows.into_iter().map(ChatMessageView::from).collect()))
}

/// Writes a message in the call's chat.
#[utoipa::path(post, path = "/consultations/{id}/chat", tag = "calls",
    params(("id" = i64, Path)),
    request_body = NewChatMessage,
    responses((status = 201, body = ChatMessageView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The consultation is closed"),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn post_chat(
    State(state): State<AppState>,
    State(rooms): State<Rooms>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(message): ApiJson<NewChatMessage>,
) -> ApiResult<(StatusCode, Json<ChatMessageView>)> {
    let body = message.body.trim();
    if body.is_empty() || body.chars().count() > MAX_CHARS {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "body",
            format!("a message has 1 to {MAX_CHARS} characters"),
        ));
    }
    let mut tx = state.db.begin_write().await?;
    let consultation = as_participant(&mut tx, &caller, id).await?;
    let closed = matches!(
        consultation.status,
        Status::Completed | Status::Cancelled | Status::Declined
    );
    policy::call::may_post_chat(closed.then(|| consultation.status.as_str()))?;
    let row = chat_store::insert(&mut tx, id, caller.user_id, body, now_ms()).await?;
    audit::append(
        &mut tx,
        &caller.actor(),
        AuditEntry::new(Action::Create, "call.chat_posted")
            .entity("consultation", id)
            .patient(consultation.patient_id)
            .facility(caller.facility_id)
            .detail(serde_json::json!({ "message_id": row.id })),
    )
    .await?;
    tx.commit().await?;
    // Those in the call fetch it now rather than at their next look.
    rooms.announce(
        &id.to_string(),
        ServerMessage::Chat {
            id: row.id,
            from: caller.user_id.to_string(),
        },
    );
    Ok((StatusCode::CREATED, Json(row.into())))
}
