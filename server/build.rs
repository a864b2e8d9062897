//! Lists the files of `web-client/` for `src/web.rs` to embed, so a file of
//! the client is served because it is in that directory, with no second list
//! to keep. Only the kinds `web.rs` serves are embedded: the type checker's
//! `jsconfig.json` and the `*.test.mjs` files stay out of the binary.
//!
//! A build script rather than `include_dir`: cargo reruns this whenever a
//! file under the directory is added, removed or changed, where the macro
//! only notices changes to files it already embeds.

use std::fs;
use std::path::{Path, PathBuf};

/// The extensions `web::content_type` knows; keep the two in step.
const SERVED: &[&str] = &["html", "js", "css", "svg"];

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web-client");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    let mut out = String::from("&[\n");
    for path in files {
        let name = path
            .strip_prefix(&root)
            .expect("under web-client")
            .components()
            .map(|part| part.as_os_str().to_str().expect("UTF-8 file names"))
            .collect::<Vec<_>>()
            .join("/");
        let absolute = fs::canonicalize(&path).expect("readable");
        out.push_str(&format!("    ({name:?}, include_bytes!({absolute:?})),\n"));
    }
    out.push_str("]\n");
    let target =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("web_assets.rs");
    fs::write(target, out).expect("OUT_DIR is writable");
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("web-client/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect(&path, files);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| SERVED.contains(&e))
        {
            files.push(path);
        }
    }
}
