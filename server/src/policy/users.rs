//! Accounts: what administrators may do to their own and each other's.

use super::{require_admin, CARE_ROLES};
use crate::auth::{Caller, Role};
use crate::error::{ApiError, ErrorCode};

/// Separation of duties: whoever manages accounts does not hand themselves
/// the right to read patients. An account may keep the clinical roles it
/// has, but only another administrator can add one to it.
pub fn check_own_role_grant(current: &[Role], wanted: &[Role]) -> Result<(), ApiError> {
    let added: Vec<&str> = wanted
        .iter()
        .filter(|role| CARE_ROLES.contains(role) && !current.contains(role))
        .map(|role| role.as_str())
        .collect();
    if added.is_empty() {
        return Ok(());
    }
    Err(ApiError::forbidden(
        ErrorCode::SelfGrantRefused,
        format!(
            "you cannot grant yourself a clinical role ({}); another administrator must",
            added.join(", ")
        ),
    ))
}

/// Whether setting this account's password takes a second administrator:
/// it is (or is being made) another administrator's. Then a password reset
/// request waits for a second administrator's confirmation
/// (`crate::user::reset`), so that no one administrator can take over
/// another's account.
pub fn password_set_needs_second_admin(
    actor_user_id: Option<i64>,
    target_user_id: i64,
    target_roles: &[Role],
    new_roles: Option<&[Role]>,
) -> bool {
    let is_admin =
        target_roles.contains(&Role::Admin) || new_roles.is_some_and(|r| r.contains(&Role::Admin));
    is_admin && actor_user_id != Some(target_user_id)
}

/// The administrator who confirms a password reset is neither the one who
/// asked for it nor its target.
pub fn check_reset_confirmer(
    caller: &Caller,
    requested_by: i64,
    target_user_id: i64,
) -> Result<(), ApiError> {
    require_admin(caller)?;
    if caller.user_id == requested_by || caller.user_id == target_user_id {
        return Err(ApiError::forbidden(
            ErrorCode::SecondAdminRequired,
            "another administrator than the one who asked for this reset, and than its target, must confirm it",
        ));
    }
    Ok(())
}

/// An administrator does not take their own admin role away: the last one
/// would lock the consortium out of its own management.
pub fn check_own_admin_kept(current: &[Role], wanted: &[Role]) -> Result<(), ApiError> {
    if current.contains(&Role::Admin) && !wanted.contains(&Role::Admin) {
        return Err(ApiError::conflict(
            ErrorCode::SelfLockout,
            "you cannot remove your own admin role",
        ));
    }
    Ok(())
}
