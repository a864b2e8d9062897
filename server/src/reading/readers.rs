//! `GET /readers`: the radiologists of a reading lead's facility, whom the
//! lead may hand a request to (`POST /reading-requests/{id}/reassign`).

use axum::extract::{FromRef, State};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::store;
use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::policy;
use crate::state::AppState;

pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(list_readers))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReaderView {
    pub user_id: i64,
    pub display_name: String,
}

/// The active radiologists of the caller's facility, by name. Reading leads
/// only; anyone else is 403, which tells the worklist to offer no reassigning.
#[utoipa::path(get, path = "/readers", tag = "reading",
    responses((status = 200, body = Vec<ReaderView>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_readers(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<ReaderView>>> {
    policy::reading::require_radiologist(&caller)?;
    let mut conn = state.db.pool().acquire().await?;
    policy::reading::check_lead(&caller, store::is_lead(&mut conn, caller.user_id).await?)?;
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT u.id, u.display_name FROM app_user u \
         JOIN user_role ur ON ur.user_id = u.id AND ur.role = 'radiologist' \
         WHERE u.facility_id = $1 AND u.active = 1 ORDER BY u.display_name, u.id",
    )
    .bind(caller.facility_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Json(
        rows.into_iter()
            .map(|(user_id, display_name)| ReaderView {
                user_id,
                display_name,
            })
            .collect(),
    ))
}
