//! What the unit tests that damage real files share.

/// A sample file of `tests/fixtures/dicom/`.
pub fn fixture(name: &str) -> Vec<u8> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/dicom/");
    std::fs::read(format!("{dir}{name}")).expect("a fixture")
}

/// A xorshift generator from `seed`: the same damage on every run, so a
/// failure names a round that fails again.
pub fn random(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}
