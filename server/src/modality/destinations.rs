//! C-MOVE destinations: the storage SCPs (a radiologist's workstation, a
//! county PACS) that callers at a facility may have Ferry send images to.
//! A C-MOVE names its destination by AE title alone; the title is looked up
//! among the calling facility's own destinations, so a modality of one
//! facility can never steer images to another facility's address.

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, FromRow};
use utoipa::ToSchema;

use crate::audit::{Action, Actor, AuditEntry};
use crate::error::{ApiError, ErrorCode, ResultExt};
use crate::time::rfc3339;

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDestination {
    /// The destination's AE title, as a C-MOVE names it.
    pub ae_title: String,
    /// Its host name or IP address.
    pub host: String,
    /// Its DICOM port.
    pub port: u16,
    #[serde(default)]
    pub description: String,
    /// It takes associations over DICOM TLS only: Ferry checks its
    /// certificate against `dimse_tls_trusted_ca` and presents its own.
    #[serde(default)]
    pub tls: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DestinationView {
    pub id: i64,
    pub facility_id: i64,
    pub ae_title: String,
    pub host: String,
    pub port: u16,
    pub description: String,
    /// Sent to over DICOM TLS.
    pub tls: bool,
    pub created_at: String,
}

#[derive(Debug, Clone, FromRow)]
pub struct DestinationRow {
    pub id: i64,
    pub facility_id: i64,
    pub ae_title: String,
    pub host: String,
    pub port: i32,
    pub description: String,
    pub tls: i32,
    pub created_at: i64,
}

impl DestinationRow {
    /// Where a C-MOVE or the forwarder sends to.
    pub fn target(&self) -> ferry_dicom_store::dimse::MoveDestination {
        ferry_dicom_store::dimse::MoveDestination {
            ae_title: self.ae_title.clone(),
            host: self.host.clone(),
            port: u16::try_from(self.port).unwrap_or_default(),
            tls: self.tls != 0,
        }
    }

    pub fn view(&self) -> DestinationView {
        DestinationView {
            id: self.id,
            facility_id: self.facility_id,
            ae_title: self.ae_title.clone(),
            host: self.host.clone(),
            port: u16::try_from(self.port).unwrap_or_default(),
            description: self.description.clone(),
            tls: self.tls != 0,
            created_at: rfc3339(self.created_at),
        }
    }
}

/// A host name (RFC 1123 labels) or an IP address.
fn normalise_host(raw: &str) -> Result<String, ApiError> {
    let host = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let is_ip = host.parse::<std::net::IpAddr>().is_ok();
    let is_name = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if is_ip || is_name {
        Ok(host)
    } else {
        Err(ApiError::invalid(
            ErrorCode::InvalidHost,
            "host",
            format!("{raw:?} is neither a host name nor an IP address"),
        ))
    }
}

const SELECT: &str = "SELECT id, facility_id, ae_title, host, port, description, tls, created_at \
                      FROM dicom_destination";

pub async fn of_facility(
    conn: &mut AnyConnection,
    facility_id: i64,
) -> Result<Vec<DestinationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE facility_id = $1 ORDER BY ae_title"
    ))
    .bind(facility_id)
    .fetch_all(conn)
    .await
}

/// The destination a C-MOVE from `facility_id` to `ae_title` goes to.
pub async fn find(
    conn: &mut AnyConnection,
    facility_id: i64,
    ae_title: &str,
) -> Result<Option<DestinationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE facility_id = $1 AND ae_title = $2"
    ))
    .bind(facility_id)
    .bind(ae_title)
    .fetch_optional(conn)
    .await
}

async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<DestinationRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn create(
    tx: &mut crate::db::Tx,
    actor: &Actor,
    facility_id: i64,
    new: NewDestination,
) -> Result<DestinationRow, ApiError> {
    let ae_title = super::normalise_ae_title(&new.ae_title)?;
    let host = normalise_host(&new.host)?;
    if new.port == 0 {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "port",
            "a port is 1 to 65535",
        ));
    }
    crate::facility::store::get(tx, facility_id)
        .await?
        .ok_or(ApiError::NotFound { what: "facility" })?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO dicom_destination (facility_id, ae_title, host, port, description, tls, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(facility_id)
    .bind(&ae_title)
    .bind(&host)
    .bind(i32::from(new.port))
    .bind(new.description.trim())
    .bind(i32::from(new.tls))
    .bind(crate::time::now_ms())
    .fetch_one(&mut **tx)
    .await
    .on_unique_violation(|| {
        ApiError::conflict(
            ErrorCode::AeTitleTaken,
            format!("the facility already has a destination {ae_title}"),
        )
    })?;
    crate::audit::append(
        tx,
        actor,
        AuditEntry::new(Action::Create, "dicom_destination.create")
            .entity("dicom_destination", id)
            .facility(facility_id),
    )
    .await?;
    get(tx, id).await?.ok_or(ApiError::NotFound {
        what: "destination",
    })
}

pub async fn delete(tx: &mut crate::db::Tx, actor: &Actor, id: i64) -> Result<(), ApiError> {
    let row = get(tx, id).await?.ok_or(ApiError::NotFound {
        what: "destination",
    })?;
    sqlx::query("DELETE FROM dicom_destination WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    crate::audit::append(
        tx,
        actor,
        AuditEntry::new(Action::Delete, "dicom_destination.delete")
            .entity("dicom_destination", id)
            .facility(row.facility_id),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::normalise_host;

    #[test]
    fn hosts_are_names_or_addresses() {
        assert_eq!(
            normalise_host(" PACS.County.local. ").expect("valid"),
            "pacs.county.local"
        );
        assert_eq!(normalise_host("10.2.3.4").expect("valid"), "10.2.3.4");
        assert_eq!(normalise_host("::1").expect("valid"), "::1");
        for bad in ["", "-pacs", "pa cs", "a..b", "http://pacs", "超声"] {
            assert!(normalise_host(bad).is_err(), "{bad:?}");
        }
    }
}
