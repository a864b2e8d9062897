//! Reading reports: signed, refused an edit and amended; the SR each signed
//! version files into the study, read back by dcmtk and pydicom; FHIR
//! DiagnosticReport; preliminary then final; turnaround figures; critical
//! results, acknowledged or escalated.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::dicom_files::dcmtk;
use crate::support::reading::{ask, desk, kinds, stored_study, Desk};
use crate::support::wait_until;
use crate::support::{assert_error, spawn_app, spawn_app_with, TestApp};
use ferry_server::auth::Role;

/// Claims, drafts and signs a report; returns (request id, report id).
async fn read_and_sign(app: &TestApp, d: &Desk, uid: &str, report: Value) -> (i64, i64) {
    let (_, request) = ask(app, &d.clinician, uid, json!({})).await;
    let id = request["id"].as_i64().expect("an id");
    let (status, body) = app
        .post(
            &format!("/api/v1/reading-requests/{id}/claim"),
            &d.reader.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, draft) = app
        .post(
            &format!("/api/v1/reading-requests/{id}/reports"),
            &d.reader.token,
            report,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    let report_id = draft["id"].as_i64().expect("an id");
    let (status, signed) = app
        .post(
            &format!("/api/v1/reading-reports/{report_id}/sign"),
            &d.reader.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{signed}");
    (id, report_id)
}

/// The SR instances stored in a study, oldest first: (SOP Instance UID, series UID).
async fn srs_in(app: &TestApp, study_uid: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT i.sop_instance_uid, se.series_uid FROM dicom_instance i \
         JOIN dicom_series se ON se.id = i.series_id JOIN dicom_study s ON s.id = se.study_id \
         WHERE s.study_uid = $1 AND i.sop_class_uid = '1.2.840.10008.5.1.4.1.1.88.11' ORDER BY i.id",
    )
    .bind(study_uid)
    .fetch_all(app.db.pool())
    .await
    .expect("the SR rows")
}

/// Fetches an instance over WADO-URI into a file of a fresh directory.
async fn retrieve(
    app: &TestApp,
    token: &str,
    study: &str,
    (sop, series): &(String, String),
) -> (tempfile::TempDir, std::path::PathBuf) {
    let response = app
        .request(
            Method::GET,
            &format!(
                "/dicomweb/wado?requestType=WADO&studyUID={study}&seriesUID={series}&objectUID={sop}&contentType=application/dicom"
            ),
            Some(token),
        )
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.bytes().await.expect("the instance");
    let dir = tempfile::tempdir().expect("a directory");
    let path = dir.path().join("report.dcm");
    std::fs::write(&path, &bytes).expect("written");
    (dir, path)
}

/// dcmtk's `dsrdump` of an SR file, long texts in full.
async fn dsrdump(path: &std::path::Path) -> String {
    let out = dcmtk("dsrdump", &["+Pl", path.to_str().expect("a path")]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn a_signed_report_is_immutable_and_an_amendment_supersedes_it_in_the_api_the_study_and_fhir()
{
    let app = spawn_app().await;
    let d = desk(&app).await;
    let uid = stored_study(&app, &d.clinician, "CT_small.dcm", "A-1").await;
    let (id, first) = read_and_sign(
        &app,
        &d,
        &uid,
        json!({ "findings": "Spiculated 2 cm nodule, right upper lobe.", "impression": "Suspicious for carcinoma." }),
    )
    .await;

    let (_, request) = app
        .get(
            &format!("/api/v1/reading-requests/{id}"),
            &d.clinician.token,
        )
        .await;
    assert_eq!(request["status"], "completed");
    assert!(request["minutes_left"].is_null());
    assert!(kinds(&app, &d.clinician)
        .await
        .contains(&"reading.report_signed".to_owned()));

    let (status, body) = app
        .patch(
            &format!("/api/v1/reading-reports/{first}"),
            &d.reader.token,
            json!({ "impression": "Benign." }),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "report_signed");
    let sql = sqlx::query("UPDATE reading_report SET impression = 'x' WHERE id = $1")
        .bind(first)
        .execute(app.db.pool())
        .await;
    assert!(
        sql.is_err(),
        "the database refuses to change a signed version too"
    );

    let reports = format!("/api/v1/reading-requests/{id}/reports");
    let (status, body) = app
        .post(
            &reports,
            &d.reader.token,
            json!({ "findings": "Nodule 2 cm.", "impression": "Likely granuloma." }),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "amendment_reason_required",
    );
    let (status, amendment) = app
        .post(
            &reports,
            &d.reader.token,
            json!({ "findings": "Spiculated 2 cm nodule, right upper lobe; calcified.",
                    "impression": "Calcified granuloma; no follow-up needed.",
                    "amendment_reason": "compared with the 2019 CT" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{amendment}");
    // The requester does not see a draft.
    let (_, seen) = app.get(&reports, &d.clinician.token).await;
    assert_eq!(seen.as_array().map(Vec::len), Some(1), "{seen}");
    let (status, _) = app
        .post(
            &format!("/api/v1/reading-reports/{}/sign", amendment["id"]),
            &d.reader.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (_, versions) = app.get(&reports, &d.clinician.token).await;
    let versions = versions.as_array().expect("a list").clone();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["superseded"], true);
    assert_eq!(versions[0]["superseded_by_version"], 2);
    assert_eq!(versions[1]["superseded"], false);
    assert_eq!(versions[1]["amendment_reason"], "compared with the 2019 CT");
    assert!(
        versions.iter().all(|v| v["sr_filed"] == true),
        "{versions:?}"
    );
    assert!(kinds(&app, &d.clinician)
        .await
        .contains(&"reading.report_amended".to_owned()));

    // Both versions are in the study as SRs, each in its own series; the
    // amendment names the version it supersedes.
    let srs = srs_in(&app, &uid).await;
    assert_eq!(srs.len(), 2, "{srs:?}");
    assert_ne!(srs[0].1, srs[1].1);
    assert_eq!(
        Some(srs[0].0.as_str()),
        versions[0]["sr_sop_instance_uid"].as_str()
    );
    let (_old_dir, old) = retrieve(&app, &d.clinician.token, &uid, &srs[0]).await;
    let old = dsrdump(&old).await;
    assert!(old.contains("Suspicious for carcinoma."), "{old}");
    let (_new_dir, new_path) = retrieve(&app, &d.clinician.token, &uid, &srs[1]).await;
    let new = dsrdump(&new_path).await;
    assert!(
        new.contains("Calcified granuloma; no follow-up needed."),
        "{new}"
    );
    assert!(new.contains("cough for three weeks; mass?"), "{new}");
    let out = tokio::process::Command::from(ferry_test_tools::command("python3"))
        .args([
            "-c",
            "import sys, pydicom\n\
             d = pydicom.dcmread(sys.argv[1])\n\
             print(d.PredecessorDocumentsSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID)\n\
             print(d.CurrentRequestedProcedureEvidenceSequence[0].StudyInstanceUID)",
            new_path.to_str().expect("a path"),
        ])
        .output()
        .await
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        vec![srs[0].0.as_str(), uid.as_str()],
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // FHIR shows the standing version.
    let response = app
        .request(
            Method::GET,
            &format!("/api/v1/fhir/DiagnosticReport?based-on=Task/{id}"),
            Some(&d.clinician.token),
        )
        .send()
        .await
        .expect("an answer");
    let bundle: Value = response.json().await.expect("json");
    assert_eq!(bundle["total"], 1, "{bundle}");
    let report = &bundle["entry"][0]["resource"];
    assert_eq!(report["status"], "amended");
    assert_eq!(
        report["conclusion"],
        "Calcified granuloma; no follow-up needed."
    );
    assert_eq!(report["basedOn"][0]["reference"], format!("Task/{id}"));
    assert_eq!(report["meta"]["versionId"], "2");

    let events: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_event WHERE subtype IN ('reading.report_signed', 'reading.report_amended')",
    )
    .fetch_one(app.db.pool())
    .await
    .expect("a count");
    assert_eq!(events, 2);
}

#[tokio::test]
async fn a_preliminary_report_comes_first_and_the_final_completes_the_request() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let uid = stored_study(&app, &d.clinician, "CT_small.dcm", "A-1").await;
    let (id, _) = read_and_sign(
        &app,
        &d,
        &uid,
        json!({ "kind": "preliminary", "impression": "No bleed on a first look." }),
    )
    .await;
    let (_, request) = app
        .get(
            &format!("/api/v1/reading-requests/{id}"),
            &d.clinician.token,
        )
        .await;
    assert_eq!(request["status"], "in-progress");
    let (_, seen) = app
        .get(
            &format!("/api/v1/reading-requests/{id}/reports"),
            &d.clinician.token,
        )
        .await;
    assert_eq!(
        seen[0]["kind"], "preliminary",
        "the requester sees it at once"
    );

    // The final starts from the request's template when no text is given.
    let (status, draft) = app
        .post(
            &format!("/api/v1/reading-requests/{id}/reports"),
            &d.reader.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    assert_eq!(draft["template"], "ct");
    assert!(draft["findings"]
        .as_str()
        .is_some_and(|f| f.contains("Technique:")));
    let (status, _) = app
        .post(
            &format!("/api/v1/reading-reports/{}/sign", draft["id"]),
            &d.reader.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, request) = app
        .get(
            &format!("/api/v1/reading-requests/{id}"),
            &d.clinician.token,
        )
        .await;
    assert_eq!(request["status"], "completed");

    // Turnaround appears in the figures, within the routine target.
    let (status, figures) = app.get("/api/v1/figures", &d.admin.token).await;
    assert_eq!(status, StatusCode::OK, "{figures}");
    let row = &figures["reading_turnaround"][0];
    assert_eq!(row["priority"], "routine", "{figures}");
    assert_eq!(row["reading_facility_id"], d.c.tertiary);
    assert_eq!(row["completed"]["count"], 1);
    assert_eq!(row["within_target_share"], 1.0);
    assert_eq!(row["target_minutes"], 1440);
}

#[tokio::test]
async fn a_critical_result_is_acknowledged_by_the_requester_or_escalates_to_the_facility() {
    let app = spawn_app_with(|s| s.critical_escalation_seconds = 1).await;
    let d = desk(&app).await;
    let colleague = app.user("colleague", Role::Clinician, d.c.island_a).await;
    let uid = stored_study(&app, &d.clinician, "CT_small.dcm", "A-1").await;
    read_and_sign(
        &app,
        &d,
        &uid,
        json!({ "impression": "Tension pneumothorax, left.", "critical": true }),
    )
    .await;
    assert!(kinds(&app, &d.clinician)
        .await
        .contains(&"reading.critical_result".to_owned()));
    let (_, open) = app
        .get("/api/v1/critical-results?open=true", &d.clinician.token)
        .await;
    assert_eq!(open.as_array().map(Vec::len), Some(1), "{open}");
    let critical = open[0]["id"].as_i64().expect("an id");
    assert_eq!(open[0]["impression"], "Tension pneumothorax, left.");

    // Nobody acknowledges: within a few sweeps it escalates to the colleague.
    wait_until(
        "the colleague is alerted",
        std::time::Duration::from_secs(10),
        async || {
            kinds(&app, &colleague)
                .await
                .contains(&"reading.critical_escalated".to_owned())
        },
    )
    .await;
    assert!(kinds(&app, &d.reader)
        .await
        .contains(&"reading.critical_escalated".to_owned()));
    let path = format!("/api/v1/critical-results/{critical}/acknowledge");
    let (status, body) = app.post(&path, &d.reader.token, json!({})).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, acked) = app.post(&path, &colleague.token, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{acked}");
    assert_eq!(acked["acknowledged_by"], colleague.id);
    assert!(acked["escalated_at"].is_string());
    let (status, body) = app.post(&path, &d.clinician.token, json!({})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "already_acknowledged");
    let (_, open) = app
        .get("/api/v1/critical-results?open=true", &d.clinician.token)
        .await;
    assert_eq!(open, json!([]));
    let steps: Vec<String> = sqlx::query_scalar(
        "SELECT subtype FROM audit_event WHERE entity_type = 'critical_result' ORDER BY seq",
    )
    .fetch_all(app.db.pool())
    .await
    .expect("events");
    assert_eq!(
        steps,
        [
            "reading.critical_raised",
            "reading.critical_escalated",
            "reading.critical_acknowledged"
        ]
    );
}

#[tokio::test]
async fn before_escalation_only_the_requester_acknowledges_a_critical_result() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let colleague = app.user("colleague", Role::Clinician, d.c.island_a).await;
    let uid = stored_study(&app, &d.clinician, "CT_small.dcm", "A-1").await;
    read_and_sign(
        &app,
        &d,
        &uid,
        json!({ "impression": "Free air.", "critical": true }),
    )
    .await;
    let (_, open) = app
        .get("/api/v1/critical-results", &d.clinician.token)
        .await;
    let path = format!("/api/v1/critical-results/{}/acknowledge", open[0]["id"]);
    let (status, body) = app.post(&path, &colleague.token, json!({})).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, acked) = app.post(&path, &d.clinician.token, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{acked}");
    assert!(acked["escalated_at"].is_null());
    assert!(kinds(&app, &d.reader)
        .await
        .contains(&"reading.critical_acknowledged".to_owned()));
}
