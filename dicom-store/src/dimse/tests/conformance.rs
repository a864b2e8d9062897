//! The DICOM Conformance Statement (docs/dicom-conformance.md) against what
//! negotiation accepts: every SOP class and transfer syntax it lists is
//! accepted, and everything accepted is listed.

use std::collections::BTreeSet;

use dicom_ul::pdu::{PresentationContextProposed, PresentationContextResultReason};

use super::super::negotiate::{
    decide, Service, EXPLICIT_LE, IMPLICIT_LE, OTHER_STORAGE_CLASSES, SERVICES,
    STORABLE_TRANSFER_SYNTAXES, STORAGE_ROOT,
};

fn statement() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/dicom-conformance.md"
    ))
    .expect("the conformance statement")
}

/// The text between heading `from` and the next heading of the same or a
/// higher level.
fn section<'a>(text: &'a str, from: &str) -> &'a str {
    let start = text.find(from).unwrap_or_else(|| panic!("no {from:?}"));
    let level = from.chars().take_while(|c| *c == '#').count();
    let rest = &text[start + from.len()..];
    let end = rest
        .match_indices("\n#")
        .find(|(at, _)| rest[at + 1..].chars().take_while(|c| *c == '#').count() <= level)
        .map_or(rest.len(), |(at, _)| at);
    &rest[..end]
}

/// The UIDs in backticks in the table rows of `text`.
fn table_uids(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| line.starts_with('|'))
        .flat_map(|line| line.split('`').skip(1).step_by(2))
        .filter(|cell| cell.chars().all(|c| c.is_ascii_digit() || c == '.'))
        .filter(|cell| cell.starts_with("1.2.840.10008."))
        .map(str::to_owned)
        .collect()
}

fn accepts(abstract_syntax: &str, transfer_syntax: &str) -> Option<Service> {
    let proposed = PresentationContextProposed {
        id: 1,
        abstract_syntax: abstract_syntax.to_owned(),
        transfer_syntaxes: vec![transfer_syntax.to_owned()],
    };
    decide(&proposed).ok().map(|context| context.service)
}

#[test]
fn the_conformance_statement_lists_exactly_what_negotiation_accepts() {
    let text = statement();
    let classes = section(&text, "## SOP classes");
    let listed = table_uids(classes);
    let served: BTreeSet<String> = SERVICES
        .iter()
        .map(|(uid, _)| (*uid).to_owned())
        .chain(OTHER_STORAGE_CLASSES.iter().map(|uid| (*uid).to_owned()))
        .collect();
    assert_eq!(
        listed, served,
        "SOP classes: the statement and the code differ"
    );
    assert!(
        classes.contains(&format!("`{STORAGE_ROOT}`")),
        "the statement names the storage root {STORAGE_ROOT}"
    );
    for uid in &listed {
        assert!(
            accepts(uid, IMPLICIT_LE).is_some(),
            "{uid} is listed but refused"
        );
    }
    // Storage classes under the root, an old one and one not yet defined.
    for uid in [
        "1.2.840.10008.5.1.4.1.1.2",
        "1.2.840.10008.5.1.4.1.1.9.1.1",
        "1.2.840.10008.5.1.4.1.1.999",
    ] {
        assert_eq!(accepts(uid, IMPLICIT_LE), Some(Service::Storage), "{uid}");
    }
    // What the statement says is not offered is refused.
    for uid in [
        "1.2.840.10008.5.1.4.33",      // Instance Availability Notification
        "1.2.840.10008.5.1.4.34.6.1",  // Unified Procedure Step - Push
        "1.2.840.10008.5.1.4.1.2.3.1", // Patient/Study Only Q/R (retired)
    ] {
        assert_eq!(
            accepts(uid, IMPLICIT_LE),
            None,
            "{uid} is not listed but accepted"
        );
    }

    let storage = table_uids(section(&text, "### Storage\n"));
    let storable: BTreeSet<String> = STORABLE_TRANSFER_SYNTAXES
        .iter()
        .map(|uid| (*uid).to_owned())
        .collect();
    assert_eq!(storage, storable, "storage transfer syntaxes differ");
    let ct = "1.2.840.10008.5.1.4.1.1.2";
    for ts in &storage {
        assert_eq!(accepts(ct, ts), Some(Service::Storage), "{ts}");
    }
    let others = table_uids(section(&text, "### Every other service"));
    assert_eq!(
        others,
        BTreeSet::from([IMPLICIT_LE.to_owned(), EXPLICIT_LE.to_owned()])
    );
    for (uid, _) in SERVICES {
        for ts in &storable {
            let accepted = accepts(uid, ts).is_some();
            assert_eq!(accepted, others.contains(ts), "{uid} in {ts}");
        }
    }
    // A JPIP syntax, which the statement excludes, is refused for storage.
    let jpip = PresentationContextProposed {
        id: 1,
        abstract_syntax: ct.to_owned(),
        transfer_syntaxes: vec!["1.2.840.10008.1.2.4.94".to_owned()],
    };
    assert_eq!(
        decide(&jpip).err(),
        Some(PresentationContextResultReason::TransferSyntaxesNotSupported)
    );
}
