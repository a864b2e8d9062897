//! Accounts: each user belongs to one facility and holds one or more roles;
//! experts and radiologists also have specialties.

pub mod reset;
pub mod routes;
pub mod sign_in;
pub mod store;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::{self, Action, Actor, AuditEntry};
use crate::auth::{password, Role};
use crate::db::Tx;
use crate::error::{ApiError, ErrorCode, ResultExt};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub facility_id: i64,
    pub facility_name: String,
    /// The facility's IANA time zone: the user's times are shown in it,
    /// with no request of its own before the first screen is drawn.
    pub facility_time_zone: String,
    pub roles: Vec<Role>,
    pub specialties: Vec<String>,
    pub active: bool,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 3 to 64 of `a-z 0-9 . _ -`; stored in lower case.
    pub username: String,
    pub display_name: String,
    /// At least 12 characters.
    pub password: String,
    pub facility_id: i64,
    pub roles: Vec<Role>,
    /// Required for experts and radiologists, refused for everyone else.
    #[serde(default)]
    pub specialties: Vec<String>,
}

/// Only the fields present change. Deactivating a user ends their sessions.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub display_name: Option<String>,
    pub password: Option<String>,
    pub facility_id: Option<i64>,
    pub roles: Option<Vec<Role>>,
    pub specialties: Option<Vec<String>>,
    pub active: Option<bool>,
}

pub fn normalize_username(username: &str) -> Result<String, ApiError> {
    let username = username.trim().to_lowercase();
    let valid = (3..=64).contains(&username.len())
        && username
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(username)
    } else {
        Err(ApiError::invalid(
            ErrorCode::InvalidUsername,
            "username",
            "a username has 3 to 64 of the characters a-z, 0-9, '.', '_' and '-'",
        ))
    }
}

fn check_roles(roles: &[Role], specialties: &[String]) -> Result<Vec<String>, ApiError> {
    if roles.is_empty() {
        return Err(ApiError::invalid(
            ErrorCode::NoRole,
            "roles",
            "a user needs at least one role",
        ));
    }
    let specialties: Vec<String> = specialties
        .iter()
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    let needs = roles.iter().any(|role| role.needs_specialty());
    if needs && specialties.is_empty() {
        return Err(ApiError::invalid(
            ErrorCode::SpecialtyRequired,
            "specialties",
            "experts and radiologists need at least one specialty",
        ));
    }
    if !needs && !specialties.is_empty() {
        return Err(ApiError::invalid(
            ErrorCode::SpecialtyWithoutRole,
            "specialties",
            "only experts and radiologists have specialties",
        ));
    }
    Ok(specialties)
}

fn check_display_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid(
            ErrorCode::InvalidDisplayName,
            "display_name",
            "a display name has 1 to 200 characters",
        ));
    }
    Ok(name.to_owned())
}

async fn check_facility(tx: &mut Tx, facility_id: i64) -> Result<(), ApiError> {
    crate::facility::store::get(tx, facility_id)
        .await?
        .map(|_| ())
        .ok_or_else(|| {
            ApiError::invalid(
                ErrorCode::UnknownFacility,
                "facility_id",
                format!("there is no facility {facility_id}"),
            )
        })
}

/// Creates an account and audits it. Shared by the API, the CLI and the demo seed.
pub async fn create(tx: &mut Tx, actor: &Actor, new: NewUser) -> Result<i64, ApiError> {
    let username = normalize_username(&new.username)?;
    let display_name = check_display_name(&new.display_name)?;
    password::check_strength(&new.password)?;
    let specialties = check_roles(&new.roles, &new.specialties)?;
    check_facility(tx, new.facility_id).await?;
    let hash = password::hash(new.password).await?;
    let id = store::insert(
        tx,
        &username,
        &display_name,
        new.facility_id,
        &hash,
        crate::time::now_ms(),
    )
    .await
    .on_unique_violation(|| {
        ApiError::conflict(
            ErrorCode::UsernameTaken,
            format!("the username {username:?} is taken"),
        )
    })?;
    store::set_roles(tx, id, &new.roles, &specialties).await?;
    audit::append(
        tx,
        actor,
        AuditEntry::new(Action::Create, "user.create")
            .entity("user", id)
            .facility(new.facility_id)
            .detail(serde_json::json!({ "roles": new.roles })),
    )
    .await?;
    Ok(id)
}

pub async fn update(tx: &mut Tx, actor: &Actor, id: i64, patch: UserPatch) -> Result<(), ApiError> {
    let current = store::view(tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "user" })?;
    let is_self = actor.user_id == Some(id);
    if is_self && patch.active == Some(false) {
        return Err(ApiError::conflict(
            ErrorCode::SelfLockout,
            "you cannot deactivate your own account",
        ));
    }
    if is_self {
        if let Some(roles) = &patch.roles {
            crate::policy::users::check_own_admin_kept(&current.roles, roles)?;
            crate::policy::check_own_role_grant(&current.roles, roles)?;
        }
    }
    let display_name = match &patch.display_name {
        Some(name) => check_display_name(name)?,
        None => current.display_name.clone(),
    };
    let facility_id = patch.facility_id.unwrap_or(current.facility_id);
    if facility_id != current.facility_id {
        check_facility(tx, facility_id).await?;
    }
    let roles = patch.roles.clone().unwrap_or_else(|| current.roles.clone());
    let specialties = patch
        .specialties
        .clone()
        .unwrap_or_else(|| current.specialties.clone());
    let specialties = check_roles(&roles, &specialties)?;
    let active = patch.active.unwrap_or(current.active);
    if patch.password.is_some()
        && crate::policy::password_set_needs_second_admin(
            actor.user_id,
            id,
            &current.roles,
            patch.roles.as_deref(),
        )
    {
        return Err(ApiError::forbidden(
            ErrorCode::SecondAdminRequired,
            format!(
                "another administrator's password is reset with POST /api/v1/users/{id}/password-resets \
                 and takes effect once a second administrator confirms it"
            ),
        ));
    }
    let new_hash = match patch.password.clone() {
        Some(new_password) => {
            password::check_strength(&new_password)?;
            Some(password::hash(new_password).await?)
        }
        None => None,
    };
    let now = crate::time::now_ms();
    store::update(tx, id, &display_name, facility_id, active, now).await?;
    if let Some(hash) = &new_hash {
        store::set_password(tx, id, hash).await?;
    }
    store::set_roles(tx, id, &roles, &specialties).await?;
    if !active || patch.password.is_some() {
        crate::auth::store::revoke_sessions_of_user(tx, id, now).await?;
    }
    let changed = audit::changed_fields([
        ("display_name", patch.display_name.is_some()),
        ("password", patch.password.is_some()),
        ("facility_id", patch.facility_id.is_some()),
        ("roles", patch.roles.is_some()),
        ("specialties", patch.specialties.is_some()),
        ("active", patch.active.is_some()),
    ]);
    audit::append(
        tx,
        actor,
        AuditEntry::new(Action::Update, "user.update")
            .entity("user", id)
            .facility(facility_id)
            .detail(serde_json::json!({ "changed": changed })),
    )
    .await?;
    Ok(())
}
