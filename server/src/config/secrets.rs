//! Secrets from files. `database_url_file`, `turn_secret_file`,
//! `s3_secret_access_key_file` and `metrics_token_file` (or `FERRY_*_FILE`)
//! name a file holding the secret, the way container runtimes and systemd's
//! credentials hand secrets over, so that a password need not sit in the
//! environment (which `/proc/<pid>/environ` and crash reports show) or in
//! `ferry.toml`.

use std::path::Path;

use secrecy::SecretString;

use super::Settings;

impl Settings {
    /// Reads each secret that names a file. The setting and its file
    /// together are refused: which one was meant is not ours to guess.
    pub(super) fn read_secret_files(&mut self) -> Result<(), String> {
        from_file(
            &mut self.database_url,
            self.database_url_file.as_deref(),
            "database_url",
        )?;
        from_file(
            &mut self.turn_secret,
            self.turn_secret_file.as_deref(),
            "turn_secret",
        )?;
        from_file(
            &mut self.s3_secret_access_key,
            self.s3_secret_access_key_file.as_deref(),
            "s3_secret_access_key",
        )?;
        from_file(
            &mut self.metrics_token,
            self.metrics_token_file.as_deref(),
            "metrics_token",
        )
    }
}

fn from_file(
    secret: &mut Option<SecretString>,
    file: Option<&Path>,
    name: &str,
) -> Result<(), String> {
    let Some(path) = file else {
        return Ok(());
    };
    if secret.is_some() {
        return Err(format!("{name} and {name}_file are both set: keep one"));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{name}_file: cannot read {}: {e}", path.display()))?;
    // Files written by `echo` or an editor end with a newline that is not
    // part of the secret.
    let value = text.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        return Err(format!("{name}_file: {} is empty", path.display()));
    }
    *secret = Some(SecretString::from(value.to_owned()));
    Ok(())
}
