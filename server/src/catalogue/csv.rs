//! The catalogue as CSV, for administrators who keep it in a spreadsheet:
//! header `code_from,code_to,tiers,label`, tiers joined by `|`
//! (`I10,I15,primary|village,Hypertensive diseases`).
//!
//! An import replaces the whole catalogue, so it is parsed completely before
//! anything is written, and any fault is reported with its line number.
//!
//! A spreadsheet runs a cell that starts with `=`, `+`, `-`, `@`, tab or CR
//! as a formula (CSV injection), so the export writes such a cell with a `'`
//! in front (OWASP's rule), which spreadsheets show as text; the import takes
//! that `'` off again, so what the export writes imports unchanged.

use super::{Catalogue, Entry, EntryError};
use crate::facility::Tier;

pub const HEADER: [&str; 4] = ["code_from", "code_to", "tiers", "label"];

/// A fault in an imported file: the physical line (1 is the header) and, when
/// one column is at fault, its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvError {
    pub line: u64,
    pub field: Option<&'static str>,
    pub message: String,
}

impl CsvError {
    fn at(line: u64, message: impl Into<String>) -> Self {
        Self {
            line,
            field: None,
            message: message.into(),
        }
    }
}

pub fn export(catalogue: &Catalogue) -> Result<String, ::csv::Error> {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    writer.write_record(HEADER)?;
    for entry in &catalogue.entries {
        let tiers: Vec<&str> = entry.tiers.iter().map(|tier| tier.as_str()).collect();
        writer.write_record(
            [
                entry.code_from.as_str(),
                entry.code_to.as_str(),
                tiers.join("|").as_str(),
                entry.label.as_str(),
            ]
            .map(|cell| as_text(cell).into_owned()),
        )?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|err| ::csv::Error::from(err.into_error()))?;
    // Every field written came from a Rust string.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Parses a whole file into entries, or names the first faulty line.
pub fn import(text: &str) -> Result<Vec<Entry>, CsvError> {
    check_quoting(text)?;
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        // Column counts are checked below, where the line number is known.
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut entries = Vec::new();
    let mut saw_header = false;
    for record in reader.records() {
        let record = record.map_err(|err| {
            let line = err.position().map(|p| p.line()).unwrap_or(0);
            CsvError::at(line, format!("unreadable CSV: {err}"))
        })?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if !saw_header {
            if record.iter().map(str::trim).ne(HEADER) {
                return Err(CsvError::at(
                    line,
                    format!("the first line must be the header {}", HEADER.join(",")),
                ));
            }
            saw_header = true;
            continue;
        }
        if record.len() != HEADER.len() {
            return Err(CsvError::at(
                line,
                format!("expected {} columns, found {}", HEADER.len(), record.len()),
            ));
        }
        let field = |n: usize| from_text(&record[n]);
        let tiers = parse_tiers(field(2)).map_err(|message| CsvError {
            line,
            field: Some("tiers"),
            message,
        })?;
        let entry = Entry::new(field(0), Some(field(1)), tiers, field(3)).map_err(
            |EntryError { field, message }| CsvError {
                line,
                field: Some(field),
                message,
            },
        )?;
        entries.push(entry);
    }
    if !saw_header {
        return Err(CsvError::at(
            1,
            format!(
                "the file is empty; it needs the header {}",
                HEADER.join(",")
            ),
        ));
    }
    Ok(entries)
}

/// Whether a spreadsheet would read this cell as a formula. A cell that
/// starts with `'` and would be one after it counts too, so that
/// [`from_text`] can tell an added `'` from one the text had.
fn is_formula(cell: &str) -> bool {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => true,
        Some('\'') => is_formula(&cell[1..]),
        _ => false,
    }
}

/// A cell as the export writes it: a would-be formula behind a `'`.
fn as_text(cell: &str) -> std::borrow::Cow<'_, str> {
    if is_formula(cell) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// A cell as the import reads it: the `'` that [`as_text`] added taken off.
fn from_text(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if is_formula(rest) => rest,
        _ => cell,
    }
}

fn parse_tiers(text: &str) -> Result<Vec<Tier>, String> {
    text.split('|')
        .map(|name| {
            Tier::parse(name.trim()).ok_or_else(|| {
                format!(
                    "{:?} is not a tier (tertiary, secondary, primary, village, joined by |)",
                    name.trim()
                )
            })
        })
        .collect()
}

/// The `csv` crate reads stray quotes leniently (`a"b` as is, `"a"b` as
/// `ab`, an unclosed quote as the rest of the file). A file that replaces
/// the catalogue must mean exactly what its author sees, so such quoting is
/// refused here, with its line, before the file is read.
fn check_quoting(text: &str) -> Result<(), CsvError> {
    #[derive(Clone, Copy)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted { opened: u64 },
        AfterQuote { opened: u64 },
    }
    let mut line = 1;
    let mut state = State::FieldStart;
    for byte in text.bytes() {
        state =
            match (state, byte) {
                (State::Quoted { opened }, b'"') => State::AfterQuote { opened },
                (State::Quoted { opened }, _) => State::Quoted { opened },
                (State::AfterQuote { opened }, b'"') => State::Quoted { opened },
                (State::FieldStart, b'"') => State::Quoted { opened: line },
                (State::Unquoted, b'"') => return Err(CsvError::at(
                    line,
                    "a quote inside an unquoted field; quote the whole field and double the quote",
                )),
                (_, b',' | b'\n' | b'\r') => State::FieldStart,
                (State::AfterQuote { .. }, _) => {
                    return Err(CsvError::at(line, "text after a field's closing quote"))
                }
                (State::FieldStart | State::Unquoted, _) => State::Unquoted,
            };
        if byte == b'\n' {
            line += 1;
        }
    }
    match state {
        State::Quoted { opened } => Err(CsvError::at(opened, "a quote that is never closed")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "code_from,code_to,tiers,label\n\
                        I10,I15,primary|village,\"Hypertension, all forms\"\n\
                        I21,I21,tertiary|secondary,\"Acute \"\"MI\"\"\"\n";

    #[test]
    fn export_after_import_gives_the_same_file() {
        let entries = import(FILE).expect("a valid file");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].label, "Acute \"MI\"");
        assert_eq!(export(&Catalogue { entries }).expect("export"), FILE);
    }

    #[test]
    fn formulas_are_written_as_text_and_read_back_as_they_were() {
        for label in [
            "=HYPERLINK(\"http://x\")",
            "+1",
            "-2",
            "@SUM(A1)",
            "'=already quoted",
            "''+twice",
            "'plain",
            "plain",
        ] {
            let entry = Entry::new("I10", None, vec![Tier::Primary], label).expect("an entry");
            let label = entry.label.clone();
            let file = export(&Catalogue {
                entries: vec![entry],
            })
            .expect("export");
            let cell = file.lines().nth(1).and_then(|l| l.splitn(4, ',').nth(3));
            let cell = cell.map(|c| c.trim_matches('"'));
            assert!(
                cell.is_some_and(|c| !matches!(c.chars().next(), Some('=' | '+' | '-' | '@'))),
                "{file}"
            );
            let back = import(&file).expect("the export imports");
            assert_eq!(back[0].label, label, "{file}");
        }
    }

    #[test]
    fn faults_name_their_line() {
        let header = "code_from,code_to,tiers,label\n";
        for (body, line, field) in [
            ("I10,I15,primary\n", 2, None),
            ("I10,I15,primary,x\nX,I15,primary,x\n", 3, Some("code_from")),
            ("I10,I15,primary,x\nI10,I15,hamlet,x\n", 3, Some("tiers")),
            ("I15,I10,primary,x\n", 2, Some("code_to")),
            ("I10,I15,primary,a\"b\n", 2, None),
            ("I10,I15,primary,\"ab\"c\n", 2, None),
            ("I10,I15,primary,x\nI10,I15,primary,\"open\n", 3, None),
        ] {
            let err = import(&format!("{header}{body}")).expect_err(body);
            assert_eq!((err.line, err.field), (line, field), "{body:?}: {err:?}");
        }
        assert_eq!(import("").map_err(|e| e.line), Err(1));
        assert_eq!(import("code,tiers\n").map_err(|e| e.line), Err(1));
    }
}
