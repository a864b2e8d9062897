//! Modalities: the scanners, ultrasound carts and ECG machines of a facility
//! that push images straight to Ferry over DIMSE. A modality is known by its
//! calling AE title; an association from any other title is refused, and what a
//! known one sends is filed under its facility.
//!
//! A title is no secret (it is printed on the machine's set-up screen and sent
//! in the clear), so a modality may also be bound to the hosts it calls from
//! and to a number of associations at once; see [`crate::imaging::dimse`].

pub mod destinations;
pub mod routes;
pub mod store;

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit::{Action, Actor, AuditEntry};
use crate::error::{ApiError, ErrorCode, ResultExt};

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewModality {
    /// The modality's calling AE title: 1 to 16 printable ASCII characters, no
    /// backslash (PS3.5 AE value representation).
    pub ae_title: String,
    #[serde(default)]
    pub description: String,
    /// The hosts it may call from: IP addresses or CIDR blocks
    /// (`10.2.0.0/16`). Empty: any host (the AE title alone admits it).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Associations it may hold at once on one node; unset: the node's
    /// `dimse_max_associations_per_ae`.
    #[serde(default)]
    pub max_associations: Option<u32>,
    /// The kind of machine, a DICOM modality code (`CT`, `MR`, `US`, `DX`,
    /// `ECG`…); empty when not said.
    #[serde(default)]
    pub modality_type: String,
    /// The port its own storage SCP listens on, for sending images back to
    /// it; unset when it only sends.
    #[serde(default)]
    pub port: Option<u16>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModalityView {
    pub id: i64,
    pub facility_id: i64,
    pub ae_title: String,
    pub description: String,
    pub allowed_hosts: Vec<String>,
    pub max_associations: Option<u32>,
    pub modality_type: String,
    pub port: Option<u16>,
    pub created_at: String,
}

/// The most associations one modality may be granted; past this a typo.
pub const MAX_ASSOCIATIONS_LIMIT: u32 = 1000;

/// Checks and normalises the hosts a modality may call from: each an IP
/// address (taken as a /32 or /128) or a CIDR block, kept in canonical form.
pub fn normalise_hosts(raw: &[String]) -> Result<Vec<IpNet>, ApiError> {
    raw.iter()
        .map(|entry| {
            let entry = entry.trim();
            entry
                .parse::<IpNet>()
                .map(|net| net.trunc())
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    ApiError::invalid(
                        ErrorCode::InvalidHost,
                        "allowed_hosts",
                        format!("{entry:?} is neither an IP address nor a CIDR block"),
                    )
                })
        })
        .collect()
}

/// Whether a modality bound to `hosts` may call from `peer` (any when
/// `hosts` is empty). An IPv4 peer seen on an IPv6 socket as `::ffff:a.b.c.d`
/// is compared as the IPv4 address it is.
pub fn host_allowed(hosts: &[IpNet], peer: IpAddr) -> bool {
    let peer = peer.to_canonical();
    hosts.is_empty() || hosts.iter().any(|net| net.contains(&peer))
}

/// Leading and trailing spaces are not significant in an AE title (PS3.5
/// §6.2), so titles are stored trimmed and compared as stored.
pub fn normalise_ae_title(raw: &str) -> Result<String, ApiError> {
    let title = raw.trim();
    let printable = title
        .chars()
        .all(|c| c.is_ascii() && !c.is_ascii_control() && c != '\\');
    if title.is_empty() || title.len() > 16 || !printable {
        return Err(ApiError::invalid(
            ErrorCode::InvalidAeTitle,
            "ae_title",
            "an AE title is 1 to 16 printable ASCII characters without a backslash",
        ));
    }
    Ok(title.to_owned())
}

/// A modality code as DICOM writes it (PS3.3 C.7.3.1.1.1): upper case
/// letters and digits, at most 16; stored upper-cased.
fn normalise_modality_type(raw: &str) -> Result<String, ApiError> {
    let code = raw.trim().to_ascii_uppercase();
    if code.len() > 16
        || !code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return Err(ApiError::invalid(
            ErrorCode::InvalidModality,
            "modality_type",
            "a modality type is a DICOM modality code such as CT, MR, US, DX or ECG",
        ));
    }
    Ok(code)
}

/// The checked columns of a registration, for a new row or an edit.
struct Checked {
    ae_title: String,
    hosts: String,
    modality_type: String,
}

fn check(new: &NewModality) -> Result<Checked, ApiError> {
    let ae_title = normalise_ae_title(&new.ae_title)?;
    let hosts = normalise_hosts(&new.allowed_hosts)?;
    if let Some(n) = new.max_associations {
        if n == 0 || n > MAX_ASSOCIATIONS_LIMIT {
            return Err(ApiError::invalid(
                ErrorCode::InvalidMaxAssociations,
                "max_associations",
                format!("max_associations is 1 to {MAX_ASSOCIATIONS_LIMIT}"),
            ));
        }
    }
    if new.port == Some(0) {
        return Err(ApiError::invalid(
            ErrorCode::InvalidField,
            "port",
            "a port is 1 to 65535",
        ));
    }
    Ok(Checked {
        ae_title,
        hosts: store::hosts_text(&hosts),
        modality_type: normalise_modality_type(&new.modality_type)?,
    })
}

fn title_taken(ae_title: &str) -> ApiError {
    ApiError::conflict(
        ErrorCode::AeTitleTaken,
        format!("the AE title {ae_title} is already registered"),
    )
}

pub async fn create(
    tx: &mut crate::db::Tx,
    actor: &Actor,
    facility_id: i64,
    new: NewModality,
) -> Result<store::ModalityRow, ApiError> {
    let checked = check(&new)?;
    crate::facility::store::get(tx, facility_id)
        .await?
        .ok_or(ApiError::NotFound { what: "facility" })?;
    let id = store::insert(
        tx,
        store::NewRow {
            facility_id,
            ae_title: &checked.ae_title,
            description: new.description.trim(),
            allowed_hosts: &checked.hosts,
            max_associations: new.max_associations.map(i64::from),
            modality_type: &checked.modality_type,
            port: new.port.map(i64::from),
        },
        crate::time::now_ms(),
    )
    .await
    .on_unique_violation(|| title_taken(&checked.ae_title))?;
    crate::audit::append(
        tx,
        actor,
        AuditEntry::new(Action::Create, "modality.create")
            .entity("modality", id)
            .facility(facility_id),
    )
    .await?;
    store::get(tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "modality" })
}

/// Replaces what is registered of a modality; it stays with its facility.
/// Its next association is judged by the new terms.
pub async fn update(
    tx: &mut crate::db::Tx,
    actor: &Actor,
    id: i64,
    new: NewModality,
) -> Result<store::ModalityRow, ApiError> {
    let checked = check(&new)?;
    let row = store::get(tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "modality" })?;
    store::update(
        tx,
        id,
        store::NewRow {
            facility_id: row.facility_id,
            ae_title: &checked.ae_title,
            description: new.description.trim(),
            allowed_hosts: &checked.hosts,
            max_associations: new.max_associations.map(i64::from),
            modality_type: &checked.modality_type,
            port: new.port.map(i64::from),
        },
    )
    .await
    .on_unique_violation(|| title_taken(&checked.ae_title))?;
    crate::audit::append(
        tx,
        actor,
        AuditEntry::new(Action::Update, "modality.update")
            .entity("modality", id)
            .facility(row.facility_id)
            .detail(
                serde_json::json!({ "from_ae_title": row.ae_title, "ae_title": checked.ae_title }),
            ),
    )
    .await?;
    store::get(tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "modality" })
}

pub async fn delete(tx: &mut crate::db::Tx, actor: &Actor, id: i64) -> Result<(), ApiError> {
    let row = store::get(tx, id)
        .await?
        .ok_or(ApiError::NotFound { what: "modality" })?;
    store::delete(tx, id).await?;
    crate::audit::append(
        tx,
        actor,
        AuditEntry::new(Action::Delete, "modality.delete")
            .entity("modality", id)
            .facility(row.facility_id),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{host_allowed, normalise_ae_title, normalise_hosts};

    #[test]
    fn hosts_are_addresses_or_cidr_blocks() {
        let hosts = normalise_hosts(&[
            " 10.2.3.4 ".to_owned(),
            "192.168.7.9/24".to_owned(),
            "::1".to_owned(),
        ])
        .expect("valid");
        assert_eq!(
            hosts.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["10.2.3.4/32", "192.168.7.0/24", "::1/128"]
        );
        assert!(host_allowed(&hosts, "192.168.7.200".parse().expect("ip")));
        assert!(host_allowed(&hosts, "::ffff:10.2.3.4".parse().expect("ip")));
        assert!(!host_allowed(&hosts, "10.2.3.5".parse().expect("ip")));
        assert!(host_allowed(&[], "203.0.113.1".parse().expect("ip")));
        for bad in ["", "10.2.3", "10.0.0.0/33", "ct-room.local"] {
            assert!(normalise_hosts(&[bad.to_owned()]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ae_titles_are_trimmed_and_checked() {
        assert_eq!(
            normalise_ae_title("  DEMO-MODALITY ").expect("valid"),
            "DEMO-MODALITY"
        );
        for bad in [
            "",
            "   ",
            "SEVENTEEN-CHARS-X",
            "BACK\\SLASH",
            "TAB\tX",
            "超声",
        ] {
            assert!(normalise_ae_title(bad).is_err(), "{bad:?}");
        }
    }
}
