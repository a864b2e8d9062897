//! Tests that need PostgreSQL (several nodes share one) are compiled as
//! ignored unless the suite is built for it, so the SQLite pass lists them
//! as skipped, with the reason, instead of passing them without running.

fn main() {
    println!("cargo::rerun-if-env-changed=FERRY_TEST_DATABASE_URL");
    println!("cargo::rustc-check-cfg=cfg(ferry_postgres)");
    let url = std::env::var("FERRY_TEST_DATABASE_URL").unwrap_or_default();
    if url.starts_with("postgres") {
        println!("cargo::rustc-cfg=ferry_postgres");
    }
}
