//! The consortium administrator keeps the DICOM network in Chinese: a
//! destination at the county hospital (over DICOM TLS), a forwarding rule
//! for a clinic's CT, and the forwarding queue, where a row that cannot be
//! delivered shows its error and next attempt in local time. Checked
//! against the database and the audit trail.

use std::time::Duration;

use serde_json::json;

use crate::support::dicom_files::{dcmtk, port, study};
use crate::support::journeys::{journey, screenshots};
use crate::support::orthanc::free_port;
use crate::support::{spawn_app, wait_until, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_keeps_destinations_rules_and_the_forwarding_queue() {
    let app = spawn_app().await;
    app.with_demo().await;
    let pool = app.db.pool();
    let facility_named = async |name: &str| -> i64 {
        sqlx::query_scalar("SELECT id FROM facility WHERE name = $1")
            .bind(name)
            .fetch_one(pool)
            .await
            .expect("a demo facility")
    };
    let county = facility_named("海安县人民医院").await;
    let dongji = facility_named("东极岛卫生室").await;

    // Dongji's images also go to a workstation that is switched off.
    let off = free_port();
    let now = ferry_server::time::now_ms();
    let workstation: i64 = sqlx::query_scalar(
        "INSERT INTO dicom_destination (facility_id, ae_title, host, port, created_at) \
         VALUES ($1, 'DONGJI-WS', '127.0.0.1', $2, $3) RETURNING id",
    )
    .bind(dongji)
    .bind(i32::from(off))
    .bind(now)
    .fetch_one(pool)
    .await
    .expect("a destination");
    sqlx::query(
        "INSERT INTO dicom_forward_rule (facility_id, destination_id, created_at) VALUES ($1, $2, $3)",
    )
    .bind(dongji)
    .bind(workstation)
    .bind(now)
    .execute(pool)
    .await
    .expect("a rule");
    let files = tempfile::tempdir().expect("a directory");
    let sent = study(files.path(), &["CT_small.dcm"], "DJ-0001");
    let port = port(&app);
    let mut args = vec!["-aet", "DEMO-MODALITY", "-aec", "FERRY", "127.0.0.1", &port];
    args.extend(sent.files.iter().map(|p| p.to_str().expect("UTF-8")));
    let out = dcmtk("storescu", &args).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(
        "the first attempt fails",
        Duration::from_secs(30),
        async || {
            let failing: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM dicom_outbox WHERE state = 'pending' AND attempts > 0",
            )
            .fetch_one(pool)
            .await
            .expect("a count");
            (failing > 0).then_some(())
        },
    )
    .await;

    let shots = screenshots("admin-dicom");
    let _ = std::fs::remove_dir_all(&shots);
    let result = journey(
        "admin-dicom",
        json!({
            "base": app.url(""),
            "screenshots": shots,
            "admin": { "username": "demo-admin", "password": PASSWORD },
            "facility": county,
            "other": dongji,
            "destination": { "ae_title": "COUNTY-WS", "host": "ws1.county.local", "port": 11112 },
            "failing": sent.uid,
        }),
    )
    .await;
    let seen = &result["result"];
    assert_eq!(seen["tab"], "影像网络", "{seen}");
    assert_eq!(seen["tls"], "是", "{seen}");
    assert_eq!(
        seen["host_refused"], "这既不是主机名，也不是 IP 地址。",
        "{seen}"
    );
    assert_eq!(
        seen["title_taken"], "该机构已有使用此 AE 名称的目的地。",
        "{seen}"
    );
    assert_eq!(seen["english"]["tls"], "yes", "{seen}");
    // The workstation is off: said in Chinese, the detail kept beneath.
    assert_eq!(
        seen["failing"]["kind"], "无法连接目的地（未能建立关联）",
        "{seen}"
    );

    // What the screen did is what the database holds.
    let left: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM dicom_destination WHERE ae_title = 'COUNTY-WS'")
            .fetch_one(pool)
            .await
            .expect("a count");
    assert_eq!(left, 0, "the destination was deleted at the end");
    for subtype in [
        "dicom_destination.create",
        "dicom_destination.delete",
        "forward_rule.create",
        "forward_rule.delete",
    ] {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_event WHERE subtype = $1")
            .bind(subtype)
            .fetch_one(pool)
            .await
            .expect("a count");
        assert!(n >= 1, "no {subtype} event");
    }
}
