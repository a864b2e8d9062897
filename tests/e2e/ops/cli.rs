//! The command line bootstraps an empty install: a facility, then an account.

use reqwest::StatusCode;

use crate::support::spawn_app;

#[tokio::test]
async fn facility_create_and_user_create_bootstrap_an_empty_install() {
    let app = spawn_app().await;

    let created = app
        .cli(&[
            "facility",
            "create",
            "--name",
            "Harbour Hospital",
            "--tier",
            "tertiary",
            "--time-zone",
            "Asia/Shanghai",
        ])
        .await;
    assert!(created);
    let refused = app
        .cli(&[
            "facility",
            "create",
            "--name",
            "Bad",
            "--tier",
            "village",
            "--time-zone",
            "Nowhere/Atlantis",
        ])
        .await;
    assert!(!refused, "an invalid time zone fails the command");
    let created = app
        .cli(&[
            "user",
            "create",
            "--username",
            "Chief",
            "--display-name",
            "Chief Admin",
            "--facility",
            "Harbour Hospital",
            "--role",
            "admin",
        ])
        .await;
    assert!(created);

    let roles: Vec<String> = sqlx::query_scalar(
        "SELECT r.role FROM user_role r JOIN app_user u ON u.id = r.user_id WHERE u.username = 'chief'",
    )
    .fetch_all(app.db.pool())
    .await
    .expect("roles");
    assert_eq!(roles, ["admin"]);
    assert_eq!(app.count("facility").await, 1);
    // The generated password was printed, not stored: nobody can sign in with a guess.
    assert_eq!(
        app.login("chief", "correct horse battery staple")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn dicom_import_stores_a_folder_counts_repeats_and_fails_on_a_bad_file() {
    let app = spawn_app().await;
    let c = app.consortium().await;
    let folder = tempfile::tempdir().expect("a directory");
    let sent = crate::support::dicom_files::study(
        folder.path(),
        &["CT_small.dcm", "MR_small.dcm"],
        "MRN-5",
    );
    std::fs::create_dir(folder.path().join("copy")).expect("a subfolder");
    std::fs::copy(&sent.files[0], folder.path().join("copy/again.dcm")).expect("a copy");
    std::fs::write(folder.path().join("notes.txt"), "not DICOM").expect("a stray file");
    let facility = c.island_a.to_string();
    let dir = folder.path().to_str().expect("a UTF-8 path");

    let with_stray = app
        .cli(&["dicom", "import", dir, "--facility", &facility])
        .await;
    std::fs::remove_file(folder.path().join("notes.txt")).expect("removed");
    let clean = app
        .cli(&["dicom", "import", dir, "--facility", &facility])
        .await;

    assert!(!with_stray, "a file that is not DICOM fails the import");
    assert!(clean, "a re-run finds everything already stored");
    assert_eq!(app.count("dicom_instance").await, 2);
    assert_eq!(
        crate::support::dicom_files::audit_events(&app, "dicom.store", &sent.uid).await,
        1
    );
    let facility: i64 =
        sqlx::query_scalar("SELECT facility_id FROM dicom_study WHERE study_uid = $1")
            .bind(&sent.uid)
            .fetch_one(app.db.pool())
            .await
            .expect("the study");
    assert_eq!(facility, c.island_a);
}

#[tokio::test]
async fn config_check_passes_a_sound_configuration_and_names_each_problem_of_another() {
    use crate::support::ferry_cli;

    let dir = tempfile::tempdir().expect("a directory");
    let sound = dir.path().join("sound.toml");
    let secret = dir.path().join("metrics-token");
    std::fs::write(&secret, "scrape\n").expect("written");
    std::fs::write(
        &sound,
        format!(
            "data_dir = {:?}\nlog = \"off\"\nmetrics_token_file = {secret:?}\n",
            dir.path().join("data")
        ),
    )
    .expect("written");
    assert!(ferry_cli(&sound, &["config", "check"]).await);
    assert!(
        !dir.path().join("data").exists(),
        "the check creates nothing"
    );

    // A data directory under a file, a certificate that is not there, TURN
    // without its secret: each is a problem, and the check fails.
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "").expect("written");
    let broken = dir.path().join("broken.toml");
    std::fs::write(
        &broken,
        format!(
            "data_dir = {:?}\nlog = \"off\"\ntls_certificate = {:?}\ntls_private_key = {:?}\n\
             turn_urls = [\"turn:turn.example.org:3478\"]\n",
            blocker.join("data"),
            dir.path().join("missing.pem"),
            dir.path().join("missing-key.pem"),
        ),
    )
    .expect("written");
    assert!(!ferry_cli(&broken, &["config", "check"]).await);
    let settings = ferry_server::config::Settings::load(Some(&broken)).expect("it loads");
    let problems = ferry_server::config::check::problems(&settings).await;
    for expected in ["HTTPS", "turn_urls", "data_dir"] {
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{expected} in {problems:?}"
        );
    }

    // A secret both set and named by a file does not load at all.
    let both = dir.path().join("both.toml");
    std::fs::write(
        &both,
        format!("log = \"off\"\nmetrics_token = \"x\"\nmetrics_token_file = {secret:?}\n"),
    )
    .expect("written");
    assert!(!ferry_cli(&both, &["config", "check"]).await);
}
