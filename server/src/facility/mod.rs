//! Facilities of the consortium: the tertiary hospital, county hospitals,
//! township health centres and village or island clinics, each with its tier,
//! parent and IANA time zone.

pub mod routes;
pub mod store;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use jiff::tz::TimeZone;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Tertiary,
    Secondary,
    Primary,
    Village,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Tertiary => "tertiary",
            Tier::Secondary => "secondary",
            Tier::Primary => "primary",
            Tier::Village => "village",
        }
    }

    pub fn parse(text: &str) -> Option<Tier> {
        [
            Tier::Tertiary,
            Tier::Secondary,
            Tier::Primary,
            Tier::Village,
        ]
        .into_iter()
        .find(|tier| tier.as_str() == text)
    }

    /// 1 is the top (tertiary); a parent's rank must be smaller than its child's.
    pub fn rank(self) -> u8 {
        match self {
            Tier::Tertiary => 1,
            Tier::Secondary => 2,
            Tier::Primary => 3,
            Tier::Village => 4,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FacilityView {
    pub id: i64,
    pub name: String,
    pub tier: Tier,
    pub parent_id: Option<i64>,
    /// IANA time zone, e.g. `Asia/Shanghai`.
    pub time_zone: String,
    pub contact: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFacility {
    pub name: String,
    pub tier: Tier,
    pub parent_id: Option<i64>,
    pub time_zone: String,
    #[serde(default)]
    pub contact: String,
}

/// Only the fields present change; `"parent_id": null` removes the parent.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FacilityPatch {
    pub name: Option<String>,
    pub tier: Option<Tier>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<i64>)]
    pub parent_id: Option<Option<i64>>,
    pub time_zone: Option<String>,
    pub contact: Option<String>,
}

pub fn validate_time_zone(name: &str) -> Result<(), ApiError> {
    jiff::tz::TimeZone::get(name).map(|_| ()).map_err(|_| {
        ApiError::invalid(
            ErrorCode::InvalidTimeZone,
            "time_zone",
            format!("{name:?} is not an IANA time zone (e.g. Asia/Shanghai)"),
        )
    })
}

pub fn validate_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid(
            ErrorCode::InvalidName,
            "name",
            "a facility name has 1 to 200 characters",
        ));
    }
    Ok(name.to_owned())
}

fn name_taken(name: &str) -> ApiError {
    ApiError::conflict(
        ErrorCode::FacilityNameTaken,
        format!("a facility named {name:?} exists"),
    )
}

pub fn parent_must_be_higher(child: Tier, parent: Tier) -> Result<(), ApiError> {
    if parent.rank() < child.rank() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            ErrorCode::ParentTier,
            "parent_id",
            format!(
                "a {} facility's parent must be of a higher tier, not {}",
                child.as_str(),
                parent.as_str()
            ),
        ))
    }
}

/// Creates a facility after checking its time zone and parent, and audits it.
/// Shared by the API, the command line and the demo seed.
pub async fn create(
    tx: &mut crate::db::Tx,
    actor: &crate::audit::Actor,
    new: NewFacility,
) -> Result<store::FacilityRow, ApiError> {
    use crate::error::ResultExt;
    let name = validate_name(&new.name)?;
    validate_time_zone(&new.time_zone)?;
    let parent = resolve_parent(tx, new.tier, new.parent_id).await?;
    let now = crate::time::now_ms();
    let values = store::FacilityValues {
        name: &name,
        tier: new.tier,
        parent,
        time_zone: &new.time_zone,
        contact: new.contact.trim(),
    };
    let id = store::insert(tx, &values, now)
        .await
        .on_unique_violation(|| name_taken(&name))
        .on_check_violation(|| {
            ApiError::invalid(
                ErrorCode::ParentTier,
                "parent_id",
                "a facility's parent must be of a higher tier",
            )
        })?;
    crate::audit::append(
        tx,
        actor,
        crate::audit::AuditEntry::new(crate::audit::Action::Create, "facility.create")
            .entity("facility", id)
            .facility(id),
    )
    .await?;
    store::get(tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "facility" })
}

/// Applies a patch, keeping every child below the facility's (new) tier.
pub async fn update(
    tx: &mut crate::db::Tx,
    actor: &crate::audit::Actor,
    id: i64,
    patch: FacilityPatch,
) -> Result<store::FacilityRow, ApiError> {
    use crate::error::ResultExt;
    let current = store::get(tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "facility" })?;
    let name = match &patch.name {
        Some(name) => validate_name(name)?,
        None => current.name.clone(),
    };
    let time_zone = patch
        .time_zone
        .clone()
        .unwrap_or_else(|| current.time_zone.clone());
    validate_time_zone(&time_zone)?;
    let tier = patch.tier.unwrap_or(current.tier());
    let parent_id = patch.parent_id.unwrap_or(current.parent_id);
    if parent_id == Some(id) {
        return Err(ApiError::invalid(
            ErrorCode::ParentTier,
            "parent_id",
            "a facility cannot be its own parent",
        ));
    }
    let parent = resolve_parent(tx, tier, parent_id).await?;
    if tier != current.tier() {
        let below: Vec<String> = store::children(tx, id)
            .await?
            .into_iter()
            .filter(|child| child.tier().rank() <= tier.rank())
            .map(|child| child.name)
            .collect();
        if !below.is_empty() {
            return Err(ApiError::Conflict {
                code: ErrorCode::ChildrenTier,
                message: format!(
                    "{} child facilities would no longer be of a lower tier",
                    below.len()
                ),
                details: serde_json::json!({ "children": below }),
            });
        }
    }
    let contact = patch
        .contact
        .clone()
        .unwrap_or_else(|| current.contact.clone());
    let values = store::FacilityValues {
        name: &name,
        tier,
        parent,
        time_zone: &time_zone,
        contact: contact.trim(),
    };
    store::update(tx, id, &values, crate::time::now_ms())
        .await
        .on_unique_violation(|| name_taken(&name))
        .on_check_violation(|| {
            ApiError::conflict(
                ErrorCode::ChildrenTier,
                "a child facility would no longer be of a lower tier",
            )
        })?;
    crate::audit::append(
        tx,
        actor,
        crate::audit::AuditEntry::new(crate::audit::Action::Update, "facility.update")
            .entity("facility", id)
            .facility(id),
    )
    .await?;
    store::get(tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "facility" })
}

async fn resolve_parent(
    tx: &mut crate::db::Tx,
    tier: Tier,
    parent_id: Option<i64>,
) -> Result<Option<(i64, Tier)>, ApiError> {
    let Some(parent_id) = parent_id else {
        return Ok(None);
    };
    let parent = store::get(tx, parent_id).await?.ok_or_else(|| {
        ApiError::invalid(
            ErrorCode::UnknownParent,
            "parent_id",
            format!("there is no facility {parent_id}"),
        )
    })?;
    parent_must_be_higher(tier, parent.tier())?;
    Ok(Some((parent.id, parent.tier())))
}

/// The zone to answer in: `tz` if given, else the caller's facility's.
pub async fn caller_zone(
    conn: &mut sqlx::AnyConnection,
    caller: &Caller,
    tz: Option<&str>,
) -> ApiResult<TimeZone> {
    if let Some(name) = tz.map(str::trim).filter(|n| !n.is_empty()) {
        return TimeZone::get(name).map_err(|_| {
            ApiError::invalid(
                ErrorCode::InvalidTimeZone,
                "tz",
                "tz must be an IANA time zone, e.g. Asia/Shanghai",
            )
        });
    }
    let name = store::time_zone_of(conn, caller.facility_id).await?;
    Ok(name
        .and_then(|n| TimeZone::get(&n).ok())
        .unwrap_or(TimeZone::UTC))
}
