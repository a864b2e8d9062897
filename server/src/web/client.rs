//! The client as the server sends it, prepared once: every file with a
//! validator (its ETag) and, made on first use, its brotli and gzip forms;
//! and `index.html` rewritten so that an island clinic's browser gets the
//! whole client in as few round trips as the link allows.
//!
//! - **One version for the whole client.** `index.html` names its files
//!   under `/v/{version}/` (a hash of every file), and the modules' own
//!   imports are relative (`./lib/ferry.js`), so they land under the same
//!   prefix with no change to the source. Those URLs are answered as
//!   `immutable`: a returning clinician's browser asks for none of them
//!   again until a new build changes the version. `index.html` itself is
//!   revalidated on every load (ETag, 304).
//! - **No import waterfall.** Without help a browser learns of a module
//!   only when the one importing it has arrived: as many round trips as
//!   the import chain is deep (400 ms each on the island link).
//!   `index.html` gets a `<link rel="modulepreload">` for every module the
//!   entry imports, directly or not, so all are asked for at once.
//! - **The rest when first needed.** The shell loads the home, the bell,
//!   the call and each screen with `import()` (`lib/lazy.js`), naming each
//!   by its path as a string (`'screens/patient.js'`). For each module so
//!   named, `index.html` carries, as JSON in `#module-graph`, the modules
//!   it imports that the page has not loaded already, which `lib/lazy.js`
//!   asks for at once before importing it: one round trip for a screen's
//!   first opening, however deep its imports go.
//!
//! Done here rather than in `build.rs` so that `web_dir` (the client read
//! from disk, for work on it) gets the same page.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Write;
use std::sync::OnceLock;

use axum::body::Bytes;
use sha2::{Digest, Sha256};

/// Each file is compressed once per process, on its first request. Not
/// brotli's best (11): that took 130–370 ms a file here, a first visitor's
/// wait of seconds over the whole client, for a few per cent fewer bytes.
const BROTLI_QUALITY: u32 = 9;
const BROTLI_WINDOW: u32 = 22;

/// The client's files by path (no leading `/`), `index.html` rewritten.
pub struct Client {
    version: String,
    files: BTreeMap<String, File>,
}

/// One file of the client.
pub struct File {
    bytes: Bytes,
    etag: String,
    brotli: OnceLock<Bytes>,
    gzip: OnceLock<Bytes>,
}

/// A content coding the client's files are sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

impl Encoding {
    /// The best coding an `Accept-Encoding` allows: brotli, then gzip
    /// (what every browser and `curl --compressed` send), else none.
    pub fn negotiate(accept: Option<&str>) -> Encoding {
        let accepted = |name: &str| {
            accept.into_iter().flat_map(|a| a.split(',')).any(|item| {
                let mut parts = item.split(';');
                let coding = parts.next().unwrap_or_default().trim();
                // `br;q=0` refuses brotli; any other weight accepts it.
                let refused = parts.any(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.trim().parse::<f32>().ok())
                        .is_some_and(|q| q <= 0.0)
                });
                (coding.eq_ignore_ascii_case(name) || coding == "*") && !refused
            })
        };
        if accepted("br") {
            Encoding::Brotli
        } else if accepted("gzip") {
            Encoding::Gzip
        } else {
            Encoding::Identity
        }
    }

    /// Its `Content-Encoding`, none for identity.
    pub fn header(self) -> Option<&'static str> {
        match self {
            Encoding::Brotli => Some("br"),
            Encoding::Gzip => Some("gzip"),
            Encoding::Identity => None,
        }
    }
}

impl File {
    fn new(bytes: Bytes) -> File {
        // Weak: the same validator stands for each coding of the file,
        // which is all `If-None-Match` needs.
        let etag = format!("W/\"{}\"", &hex::encode(Sha256::digest(&bytes))[..20]);
        File {
            bytes,
            etag,
            brotli: OnceLock::new(),
            gzip: OnceLock::new(),
        }
    }

    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// Whether an `If-None-Match` header value names this file as it is.
    pub fn matches(&self, if_none_match: &str) -> bool {
        let ours = self.etag.trim_start_matches("W/");
        if_none_match
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.trim_start_matches("W/") == ours)
    }

    /// The file in `encoding`, compressed on first use and kept: tens of
    /// milliseconds the first time, so call it off the async threads.
    pub fn encoded(&self, encoding: Encoding) -> Bytes {
        match encoding {
            Encoding::Identity => self.bytes.clone(),
            Encoding::Brotli => self
                .brotli
                .get_or_init(|| {
                    let mut out = brotli::CompressorWriter::new(
                        Vec::new(),
                        4096,
                        BROTLI_QUALITY,
                        BROTLI_WINDOW,
                    );
                    out.write_all(&self.bytes)
                        .expect("writing to memory cannot fail");
                    Bytes::from(out.into_inner())
                })
                .clone(),
            Encoding::Gzip => self
                .gzip
                .get_or_init(|| {
                    let mut out =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                    out.write_all(&self.bytes)
                        .and_then(|()| out.finish())
                        .map(Bytes::from)
                        .expect("writing to memory cannot fail")
                })
                .clone(),
        }
    }
}

impl Client {
    /// The client from its files by path; `index.html`, if there, is
    /// rewritten to name the rest under the version and preload every
    /// module.
    pub fn new(files: impl IntoIterator<Item = (String, Bytes)>) -> Client {
        let files: BTreeMap<String, Bytes> = files.into_iter().collect();
        let mut hash = Sha256::new();
        for (name, bytes) in &files {
            hash.update(name.as_bytes());
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        }
        let version = hex::encode(hash.finalize())[..16].to_owned();
        let index = files.get("index.html").map(|html| {
            Bytes::from(rewrite_index(
                &String::from_utf8_lossy(html),
                &version,
                &files,
            ))
        });
        let mut prepared: BTreeMap<String, File> = files
            .into_iter()
            .map(|(name, bytes)| (name, File::new(bytes)))
            .collect();
        if let Some(index) = index {
            prepared.insert("index.html".to_owned(), File::new(index));
        }
        Client {
            version,
            files: prepared,
        }
    }

    /// A hash of every file, the `{version}` of `/v/{version}/…`.
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn get(&self, name: &str) -> Option<&File> {
        self.files.get(name)
    }
}

/// `index.html` with every `src="/…"` and `href="/…"` naming a file of the
/// client moved under `/v/{version}/`, and a modulepreload link for every
/// module the page's module scripts import, directly or not.
fn rewrite_index(html: &str, version: &str, files: &BTreeMap<String, Bytes>) -> String {
    let mut out = String::with_capacity(html.len() + 4096);
    let mut entries = Vec::new();
    let mut rest = html;
    while let Some(at) = ["src=\"/", "href=\"/"]
        .iter()
        .filter_map(|attr| rest.find(attr).map(|i| (i, attr.len())))
        .min()
    {
        let (at, len) = at;
        let start = at + len;
        out.push_str(&rest[..start - 1]);
        let end = rest[start..].find('"').map_or(rest.len(), |i| start + i);
        let target = &rest[start..end];
        if files.contains_key(target) {
            out.push_str(&format!("/v/{version}/{target}"));
            if target.ends_with(".js") {
                entries.push(target.to_owned());
            }
        } else {
            out.push('/');
            out.push_str(target);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    let eager = modules(&entries, files);
    let mut links: String = eager
        .iter()
        .filter(|module| !entries.contains(module))
        .map(|module| format!("  <link rel=\"modulepreload\" href=\"/v/{version}/{module}\">\n"))
        .collect();
    let graph = lazy_graph(&eager, files);
    if !graph.is_empty() {
        // Paths of the client only: nothing in them can close the element.
        let json = serde_json::to_string(&graph).unwrap_or_else(|_| "{}".to_owned());
        links.push_str(&format!(
            "  <script type=\"application/json\" id=\"module-graph\">{json}</script>\n"
        ));
    }
    match out.find("</head>") {
        Some(head_end) => out.insert_str(head_end, &links),
        None => out.push_str(&links),
    }
    out
}

/// Every module reachable from `entries` by static imports, breadth first
/// (the nearest, which the browser needs first, at the top).
fn modules(entries: &[String], files: &BTreeMap<String, Bytes>) -> Vec<String> {
    let mut seen: BTreeSet<String> = entries.iter().cloned().collect();
    let mut order = Vec::new();
    let mut queue: VecDeque<String> = entries.iter().cloned().collect();
    while let Some(module) = queue.pop_front() {
        let Some(source) = files.get(&module) else {
            continue;
        };
        order.push(module.clone());
        for specifier in imports(&String::from_utf8_lossy(source)) {
            if let Some(path) = resolve(&module, specifier) {
                if files.contains_key(&path) && seen.insert(path.clone()) {
                    queue.push_back(path);
                }
            }
        }
    }
    order
}

/// For each module named by its path as a string in the code the page
/// loads (`'screens/patient.js'`, for `import()`), every module it reaches
/// by static imports that is not among `eager`, itself first.
fn lazy_graph(eager: &[String], files: &BTreeMap<String, Bytes>) -> BTreeMap<String, Vec<String>> {
    let loaded: BTreeSet<&String> = eager.iter().collect();
    let mut named = BTreeSet::new();
    for module in eager {
        let Some(source) = files.get(module) else {
            continue;
        };
        for literal in quoted(&String::from_utf8_lossy(source)) {
            if literal.ends_with(".js")
                && files.contains_key(literal)
                && !loaded.contains(&literal.to_owned())
            {
                named.insert(literal.to_owned());
            }
        }
    }
    named
        .into_iter()
        .map(|module| {
            let needs = modules(std::slice::from_ref(&module), files)
                .into_iter()
                .filter(|m| !loaded.contains(m))
                .collect();
            (module, needs)
        })
        .collect()
}

/// Every single- or double-quoted string in `source` without a line break,
/// as written. Enough to find paths named in code; a quote inside a comment
/// or a regular expression may pair with the wrong one, which at worst
/// leaves a path out (the module then loads one level at a time).
fn quoted(source: &str) -> Vec<&str> {
    let mut found = Vec::new();
    for line in source.lines() {
        let mut rest = line;
        while let Some(open) = rest.find(['\'', '"']) {
            let quote = &rest[open..=open];
            let body = &rest[open + 1..];
            let Some(close) = body.find(quote) else {
                break;
            };
            found.push(&body[..close]);
            rest = &body[close + 1..];
        }
    }
    found
}

/// The relative specifiers of a module's static imports and re-exports:
/// `… from './x.js'` and `import './x.js'`. A match inside a comment only
/// adds a preload of a module that exists, which costs nothing; dynamic
/// `import('./x.js')` is left out, being lazy on purpose.
fn imports(source: &str) -> Vec<&str> {
    let mut found = Vec::new();
    for keyword in ["from", "import"] {
        let mut rest = source;
        while let Some(at) = rest.find(keyword) {
            rest = &rest[at + keyword.len()..];
            let after = rest.trim_start();
            let Some(quote) = after.chars().next().filter(|c| *c == '\'' || *c == '"') else {
                continue;
            };
            let body = &after[1..];
            if let Some(end) = body.find(quote) {
                let specifier = &body[..end];
                if specifier.starts_with("./") || specifier.starts_with("../") {
                    found.push(specifier);
                }
            }
        }
    }
    found
}

/// `specifier` relative to the module at `from`, as a path of the client;
/// `None` if it climbs out.
fn resolve(from: &str, specifier: &str) -> Option<String> {
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for segment in specifier.split('/') {
        match segment {
            "." | "" => {}
            ".." => {
                parts.pop()?;
            }
            name => parts.push(name),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(files: &[(&str, &str)]) -> Client {
        Client::new(
            files
                .iter()
                .map(|(name, text)| ((*name).to_owned(), Bytes::from(text.to_string()))),
        )
    }

    #[test]
    fn index_names_the_client_under_its_version_and_preloads_every_module() {
        let c = client(&[
            (
                "index.html",
                "<head><link rel=\"stylesheet\" href=\"/style.css\">\
                 <script type=\"module\" src=\"/app.js\"></script></head>\
                 <a href=\"#/\">home</a><a href=\"/elsewhere\">x</a>",
            ),
            ("style.css", "body{}"),
            (
                "app.js",
                "import { a } from './lib/a.js';\nimport './screens/s.js';\n",
            ),
            ("lib/a.js", "export const a = 1;\n"),
            (
                "screens/s.js",
                "import {\n  a,\n} from \"../lib/a.js\";\nexport * from '../lib/b.js';\nconst later = () => import('../lib/lazy.js');\n",
            ),
            ("lib/b.js", "export const b = 2;\n"),
            ("lib/lazy.js", "export const lazy = 3;\n"),
        ]);
        let v = c.version().to_owned();
        let html = String::from_utf8_lossy(&c.get("index.html").expect("index").bytes).into_owned();
        assert!(
            html.contains(&format!("href=\"/v/{v}/style.css\"")),
            "{html}"
        );
        assert!(html.contains(&format!("src=\"/v/{v}/app.js\"")), "{html}");
        assert!(
            html.contains("href=\"#/\"") && html.contains("href=\"/elsewhere\""),
            "{html}"
        );
        let preloads: Vec<&str> = html
            .match_indices("rel=\"modulepreload\" href=\"")
            .map(|(i, m)| {
                let rest = &html[i + m.len()..];
                &rest[..rest.find('"').expect("closing quote")]
            })
            .collect();
        assert_eq!(
            preloads,
            [
                format!("/v/{v}/lib/a.js"),
                format!("/v/{v}/screens/s.js"),
                format!("/v/{v}/lib/b.js"),
            ]
        );
        assert!(html.find("modulepreload") < html.find("</head>"));
    }

    #[test]
    fn modules_named_for_import_get_their_own_imports_listed_beyond_the_page_s() {
        let c = client(&[
            (
                "index.html",
                "<head><script type=\"module\" src=\"/app.js\"></script></head>",
            ),
            (
                "app.js",
                "import { a } from './lib/a.js';\n\
                 const HOME = 'screens/home.js';\n\
                 // the clinician's page, 'not a path'\n\
                 const later = [\"screens/other.js\", 'screens/missing.js', 'lib/a.js'];\n",
            ),
            ("lib/a.js", "export const a = 1;\n"),
            (
                "screens/home.js",
                "import { a } from '../lib/a.js';\nimport { d } from './deep.js';\n",
            ),
            ("screens/deep.js", "import { e } from '../lib/e.js';\n"),
            ("lib/e.js", "export const e = 1;\n"),
            ("screens/other.js", "export const o = 1;\n"),
            ("screens/unnamed.js", "export const u = 1;\n"),
        ]);
        let html = String::from_utf8_lossy(&c.get("index.html").expect("index").bytes).into_owned();
        let start = html
            .find("<script type=\"application/json\" id=\"module-graph\">")
            .expect("the graph")
            + "<script type=\"application/json\" id=\"module-graph\">".len();
        let end = start + html[start..].find("</script>").expect("its end");
        let graph: serde_json::Value = serde_json::from_str(&html[start..end]).expect("JSON");
        assert_eq!(
            graph,
            serde_json::json!({
                "screens/home.js": ["screens/home.js", "screens/deep.js", "lib/e.js"],
                "screens/other.js": ["screens/other.js"],
            })
        );
        // Loaded lazily, so not preloaded with the page.
        assert!(html.contains("/lib/a.js\">"), "{html}");
        assert!(!html.contains("/screens/home.js\">"), "{html}");
    }

    #[test]
    fn the_version_changes_with_any_file() {
        let a = client(&[("app.js", "1"), ("lib/x.js", "2")]);
        let b = client(&[("app.js", "1"), ("lib/x.js", "3")]);
        assert_ne!(a.version(), b.version());
        assert_eq!(
            a.version(),
            client(&[("app.js", "1"), ("lib/x.js", "2")]).version()
        );
    }

    #[test]
    fn relative_specifiers_resolve_inside_the_client_only() {
        assert_eq!(resolve("app.js", "./lib/a.js").as_deref(), Some("lib/a.js"));
        assert_eq!(
            resolve("screens/s.js", "../lib/a.js").as_deref(),
            Some("lib/a.js")
        );
        assert_eq!(
            resolve("screens/s.js", "./t.js").as_deref(),
            Some("screens/t.js")
        );
        assert_eq!(resolve("app.js", "../../etc/x.js"), None);
    }

    #[test]
    fn encodings_are_negotiated_and_round_trip() {
        assert_eq!(
            Encoding::negotiate(Some("gzip, deflate, br, zstd")),
            Encoding::Brotli
        );
        assert_eq!(Encoding::negotiate(Some("gzip")), Encoding::Gzip);
        assert_eq!(
            Encoding::negotiate(Some("br;q=0, gzip;q=0.5")),
            Encoding::Gzip
        );
        assert_eq!(Encoding::negotiate(Some("identity")), Encoding::Identity);
        assert_eq!(Encoding::negotiate(None), Encoding::Identity);

        let text = "export const words = 'island clinic';\n".repeat(200);
        let file = File::new(Bytes::from(text.clone()));
        let br = file.encoded(Encoding::Brotli);
        let mut plain = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut plain).expect("brotli");
        assert_eq!(plain, text.as_bytes());
        assert!(br.len() * 10 < text.len());
        let gz = file.encoded(Encoding::Gzip);
        let mut plain = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut plain)
            .expect("gzip");
        assert_eq!(plain, text);
    }

    #[test]
    fn if_none_match_compares_weakly_and_takes_lists() {
        let file = File::new(Bytes::from_static(b"x"));
        let tag = file.etag().to_owned();
        assert!(file.matches(&tag));
        assert!(file.matches(tag.trim_start_matches("W/")));
        assert!(file.matches(&format!("\"other\", {tag}")));
        assert!(file.matches("*"));
        assert!(!file.matches("\"other\""));
    }
}
