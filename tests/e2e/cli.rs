//! The command line bootstraps an empty install: a facility, then an account.

use reqwest::StatusCode;

use crate::helpers::spawn_app;

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
