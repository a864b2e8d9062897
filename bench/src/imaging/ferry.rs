//! Ferry as a benchmark peer: the server in this process, on SQLite and the
//! local disk, or on PostgreSQL and an S3 bucket.

use anyhow::Context;

use super::workload::Peer;

/// Ferry as a [`Peer`]: the server in this process, with a clinician's
/// token and a registered modality.
pub struct FerryPeer {
    pub server: crate::harness::Server,
    token: String,
    dimse_port: u16,
    /// The facility the benchmark's modalities are registered at.
    facility: i64,
}

impl Peer for FerryPeer {
    fn name(&self) -> &'static str {
        "Ferry"
    }
    fn dimse(&self) -> (u16, &str) {
        (self.dimse_port, "FERRY")
    }
    fn dicomweb(&self) -> String {
        self.server.url("/dicomweb")
    }
    fn bearer(&self) -> Option<&str> {
        Some(&self.token)
    }
}

pub const CALLING_AE: &str = "BENCH";

impl FerryPeer {
    /// On SQLite and the local disk, or in the several-node configuration.
    pub async fn start(several: Option<&super::several::SeveralNode>) -> anyhow::Result<FerryPeer> {
        use crate::harness::{Engine, Server};
        use ferry_server::auth::Role;
        use ferry_server::facility::{NewFacility, Tier};
        let server = match several {
            None => Server::start_with(&Engine::Sqlite, true).await?,
            Some(several) => {
                let engine = Engine::Postgres(several.postgres.url.clone());
                Server::start_configured(&engine, true, |s| several.configure(s), None).await?
            }
        };
        let dimse_port = server.dimse_addr.context("the DIMSE listener")?.port();
        let actor = crate::harness::Server::actor();
        let mut tx = server.db.begin_write().await?;
        let island = ferry_server::facility::create(
            &mut tx,
            &actor,
            NewFacility {
                name: "Island".into(),
                tier: Tier::Village,
                parent_id: None,
                time_zone: "Asia/Shanghai".into(),
                contact: String::new(),
            },
        )
        .await?
        .id;
        ferry_server::modality::create(
            &mut tx,
            &actor,
            island,
            ferry_server::modality::NewModality {
                ae_title: CALLING_AE.into(),
                ..Default::default()
            },
        )
        .await?;
        ferry_server::user::create(
            &mut tx,
            &actor,
            ferry_server::user::NewUser {
                username: "clinician".into(),
                display_name: "clinician".into(),
                password: "bench password 1".into(),
                facility_id: island,
                roles: vec![Role::Clinician],
                specialties: vec![],
            },
        )
        .await?;
        tx.commit().await?;
        let token = server.login("clinician", "bench password 1").await?;
        Ok(FerryPeer {
            server,
            token,
            dimse_port,
            facility: island,
        })
    }

    /// Registers another modality at the benchmark's facility.
    pub async fn register_modality(&self, ae_title: &str) -> anyhow::Result<()> {
        let mut tx = self.server.db.begin_write().await?;
        ferry_server::modality::create(
            &mut tx,
            &crate::harness::Server::actor(),
            self.facility,
            ferry_server::modality::NewModality {
                ae_title: ae_title.into(),
                ..Default::default()
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Registers a C-MOVE destination for the facility; its id.
    pub async fn destination(&self, ae_title: &str, port: u16) -> anyhow::Result<i64> {
        let mut tx = self.server.db.begin_write().await?;
        let row = ferry_server::modality::destinations::create(
            &mut tx,
            &crate::harness::Server::actor(),
            self.facility,
            ferry_server::modality::destinations::NewDestination {
                ae_title: ae_title.into(),
                host: "127.0.0.1".into(),
                port,
                ..Default::default()
            },
        )
        .await?;
        tx.commit().await?;
        Ok(row.id)
    }

    /// A rule forwarding what the facility stores from now on.
    pub async fn forward_everything_to(&self, destination_id: i64) -> anyhow::Result<()> {
        let mut tx = self.server.db.begin_write().await?;
        ferry_server::imaging::forward_rules::create(
            &mut tx,
            &crate::harness::Server::actor(),
            ferry_server::imaging::forward_rules::NewForwardRule {
                facility_id: Some(self.facility),
                destination_id,
                ..Default::default()
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn count(&self) -> anyhow::Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dicom_instance")
            .fetch_one(self.server.db.pool())
            .await?;
        Ok(n as u64)
    }
}
