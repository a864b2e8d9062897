//! Arbitrary bytes through the ingest path's parser and the readers that open
//! stored instances again (frames, rendering): each must answer with a value
//! or an error, never panic, loop or exhaust memory.

#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;

static QUIET_PANICS: std::sync::Once = std::sync::Once::new();

fuzz_target!(|data: &[u8]| {
    // The store turns a parser panic into a refusal (catch_unwind); the
    // default hook would abort on it first. Panics that escape the store still
    // reach libFuzzer's own guard and are reported.
    QUIET_PANICS.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let Ok(mut file) = tempfile::NamedTempFile::new() else {
        return;
    };
    if file.write_all(data).is_err() {
        return;
    }
    // The check every door runs before anything is stored.
    if ferry_dicom_store::validate::read_instance(file.path()).is_ok() {
        // What WADO-RS would do with it once stored.
        let _ = ferry_dicom_store::pixels::read_frames(data);
        let how = ferry_dicom_store::render::Rendering {
            frame: 0,
            window: None,
            viewport: Some((64, 64)),
            format: ferry_dicom_store::render::Format::Png,
            quality: 80,
        };
        let _ = ferry_dicom_store::render::render(data, &how);
    }
});
