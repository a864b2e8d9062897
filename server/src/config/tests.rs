//! The layering of the settings and what each one derives.

// figment's `Jail` closures must return its (large) error type.
#![allow(clippy::result_large_err)]

use super::*;

#[test]
fn defaults_listen_on_loopback_8080_with_sqlite_in_the_data_dir() {
    let settings = Settings::default();
    assert_eq!(settings.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(
        settings.database_url(),
        "sqlite://ferry-data/ferry.db?mode=rwc"
    );
}

#[test]
fn a_config_file_is_overridden_by_the_environment() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "ferry.toml",
            "listen = \"127.0.0.1:9000\"\nbreak_glass_minutes = 30\n",
        )?;
        jail.set_env("FERRY_LISTEN", "127.0.0.1:9100");
        let settings = Settings::load(None).map_err(|e| *e)?;
        assert_eq!(settings.listen.to_string(), "127.0.0.1:9100");
        assert_eq!(settings.break_glass_minutes, 30);
        Ok(())
    });
}

#[test]
fn an_unknown_environment_variable_is_not_fatal() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("FERRY_LISSEN", "127.0.0.1:9100");
        let settings = Settings::load(None).map_err(|e| *e)?;
        assert_eq!(settings.listen.to_string(), "127.0.0.1:8080");
        assert!(Settings::unknown_env_vars().contains(&"FERRY_LISSEN".to_owned()));
        Ok(())
    });
}

#[test]
fn dimse_listens_on_11112_by_default_and_can_be_switched_off() {
    let mut settings = Settings::default();
    assert_eq!(
        settings
            .dimse_listen_addr()
            .expect("valid")
            .map(|a| a.port()),
        Some(11112)
    );
    assert_eq!(settings.dicom_dir(), PathBuf::from("ferry-data/dicom"));
    settings.dimse_listen = "off".to_owned();
    assert_eq!(settings.dimse_listen_addr(), Ok(None));
    settings.dimse_listen = "nowhere".to_owned();
    assert!(settings.dimse_listen_addr().is_err());
}

#[test]
fn cors_origins_come_from_the_environment_as_a_list() {
    figment::Jail::expect_with(|jail| {
        jail.set_env(
            "FERRY_DICOMWEB_CORS_ORIGINS",
            "[\"https://viewer.example\", \"http://localhost:3000\"]",
        );
        jail.set_env("FERRY_DIMSE_LISTEN", "off");
        let settings = Settings::load(None).map_err(|e| *e)?;
        assert_eq!(settings.dicomweb_cors_origins.len(), 2);
        assert_eq!(settings.dimse_listen_addr(), Ok(None));
        Ok(())
    });
}

#[test]
fn an_https_public_url_makes_cookies_secure_and_is_an_own_origin() {
    let mut settings = Settings::default();
    assert!(!settings.secure_cookies());
    assert_eq!(
        settings.own_origins(),
        ["http://127.0.0.1:8080", "http://localhost:8080"]
    );
    settings.public_url = Some("HTTPS://Ferry.Example.org/base/".to_owned());
    assert!(settings.secure_cookies());
    assert_eq!(settings.own_origins()[0], "https://ferry.example.org");
    settings.public_url = Some("http://ferry.lan:8080".to_owned());
    assert!(!settings.secure_cookies());
    assert_eq!(settings.own_origins()[0], "http://ferry.lan:8080");
}

#[test]
fn a_certificate_makes_the_listener_https_and_needs_its_key() {
    let mut settings = Settings::default();
    assert!(matches!(settings.web_tls(), Ok(None)));
    settings.tls_certificate = Some(PathBuf::from("/nonexistent/ferry.crt"));
    let alone = settings.web_tls().err().unwrap_or_default();
    assert!(alone.contains("set both or neither"), "{alone}");
    assert!(settings.secure_cookies());
    assert_eq!(
        settings.own_origins(),
        ["https://127.0.0.1:8080", "https://localhost:8080"]
    );
    settings.tls_private_key = Some(PathBuf::from("/nonexistent/ferry.key"));
    let missing = settings.web_tls().err().unwrap_or_default();
    assert!(missing.contains("/nonexistent/ferry.crt"), "{missing}");
}

#[test]
fn every_setting_can_come_from_the_environment() {
    let value = serde_json::to_value(Settings::default()).unwrap_or_default();
    let keys = value
        .as_object()
        .map(|o| o.keys().cloned().collect::<Vec<_>>());
    let keys = keys.unwrap_or_default();
    assert!(keys.len() > 40, "{keys:?}");
    for key in keys {
        let name = key.to_ascii_uppercase();
        assert!(
            KNOWN_KEYS.contains(&name.as_str()),
            "FERRY_{name} is not read from the environment"
        );
    }
}

#[test]
fn an_unknown_key_in_the_file_is_an_error() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("ferry.toml", "lisen = \"127.0.0.1:9000\"\n")?;
        assert!(Settings::load(None).is_err());
        Ok(())
    });
}

#[test]
fn secrets_come_from_files_without_their_last_newline() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("db-url", "postgres://ferry:s3cret@db/ferry\n")?;
        jail.create_file("metrics", "scrape-token")?;
        jail.create_file(
            "ferry.toml",
            "database_url_file = \"db-url\"\nmetrics_token_file = \"metrics\"\n",
        )?;
        let settings = Settings::load(None).map_err(|e| *e)?;
        assert_eq!(settings.database_url(), "postgres://ferry:s3cret@db/ferry");
        assert_eq!(
            settings
                .metrics_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            Some("scrape-token".to_owned())
        );
        jail.create_file("turn", "turn-secret")?;
        jail.set_env("FERRY_TURN_SECRET_FILE", "turn");
        let settings = Settings::load(None).map_err(|e| *e)?;
        assert_eq!(
            settings
                .turn_secret
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            Some("turn-secret".to_owned())
        );
        Ok(())
    });
}

#[test]
fn a_secret_and_its_file_together_or_an_empty_file_are_refused() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("empty", "\n")?;
        jail.create_file("ferry.toml", "turn_secret_file = \"empty\"\n")?;
        let refused = Settings::load(None).err().map(|e| e.to_string());
        assert!(
            refused.as_deref().is_some_and(|e| e.contains("empty")),
            "{refused:?}"
        );
        jail.create_file("secret", "abc")?;
        jail.create_file("ferry.toml", "turn_secret_file = \"secret\"\n")?;
        jail.set_env("FERRY_TURN_SECRET", "xyz");
        let refused = Settings::load(None).err().map(|e| e.to_string());
        assert!(
            refused.as_deref().is_some_and(|e| e.contains("both set")),
            "{refused:?}"
        );
        Ok(())
    });
}

/// The sample configuration the package installs.
const SAMPLE: &str = include_str!("../../../deploy/ferry.toml");

#[test]
fn the_sample_configuration_names_every_setting_and_each_example_loads() {
    let value = serde_json::to_value(Settings::default()).unwrap_or_default();
    let mut keys: Vec<String> = value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    // Secrets are not serialised; they are settings all the same.
    keys.extend(
        [
            "database_url",
            "turn_secret",
            "s3_secret_access_key",
            "metrics_token",
        ]
        .map(String::from),
    );
    for key in &keys {
        assert!(
            SAMPLE.lines().any(|line| line
                .trim_start_matches("# ")
                .starts_with(&format!("{key} = "))),
            "deploy/ferry.toml does not name {key}"
        );
    }
    // Every example with its `#` removed, but the files of secrets (read
    // as the settings load), is a valid setting.
    let uncommented: String = SAMPLE
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(setting)
                if setting.contains(" = ")
                    && !setting.split(' ').next().unwrap_or("").ends_with("_file") =>
            {
                setting.to_owned()
            }
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    figment::Jail::expect_with(|jail| {
        jail.create_file("as-shipped.toml", SAMPLE)?;
        jail.create_file("every-example.toml", &uncommented)?;
        let shipped = Settings::load(Some(Path::new("as-shipped.toml"))).map_err(|e| *e)?;
        assert_eq!(shipped.data_dir, PathBuf::from("/var/lib/ferry"));
        let every = Settings::load(Some(Path::new("every-example.toml"))).map_err(|e| *e)?;
        assert!(every.database_url().starts_with("postgres://"));
        Ok(())
    });
}
