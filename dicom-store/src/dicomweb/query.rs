//! QIDO-RS query parameters (PS3.18 §8.3.4) and the SQL they become.
//!
//! Matching supported on the indexed attributes:
//! - single value, exact: `PatientID=123`;
//! - wildcards `*` and `?` in text and names: `PatientName=smi*`;
//! - ranges on dates and times: `StudyDate=20200101-20201231`, `-20201231`, `20200101-`;
//! - UID lists separated by `,` or `\`: `StudyInstanceUID=1.2.3,1.2.4`;
//! - person names case-insensitively, on both engines (`lower()` of the stored
//!   name is kept in a `*_search` column, the value is lower-cased here).
//!
//! Attributes are named by keyword (`StudyDate`) or tag (`00080020`). A known
//! attribute that is not indexed is ignored, as PS3.18 allows; an unknown one
//! is a 400. `fuzzymatching` is accepted and ignored. The SQL text is the same
//! on SQLite and PostgreSQL: `LIKE … ESCAPE '!'` on columns that are either
//! stored lower-case or matched exactly, so SQLite's ASCII case-insensitive
//! `LIKE` and PostgreSQL's case-sensitive one agree.

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_object::StandardDataDictionary;

use crate::{ScopeValue, StudyScope};

/// The level a query returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Studies.
    Study,
    /// Series.
    Series,
    /// Instances.
    Instance,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Name,
    Date,
    Time,
    Uid,
    Int,
    Modalities,
}

/// An indexed attribute: tag, the level it belongs to, its column and how it matches.
struct Attribute {
    tag: (u16, u16),
    level: Level,
    column: &'static str,
    kind: Kind,
}

const ATTRIBUTES: &[Attribute] = &[
    Attribute {
        tag: (0x0008, 0x0020),
        level: Level::Study,
        column: "s.study_date",
        kind: Kind::Date,
    },
    Attribute {
        tag: (0x0008, 0x0030),
        level: Level::Study,
        column: "s.study_time",
        kind: Kind::Time,
    },
    Attribute {
        tag: (0x0008, 0x0050),
        level: Level::Study,
        column: "s.accession_number",
        kind: Kind::Text,
    },
    Attribute {
        tag: (0x0008, 0x0061),
        level: Level::Study,
        column: "s.modalities",
        kind: Kind::Modalities,
    },
    Attribute {
        tag: (0x0008, 0x0090),
        level: Level::Study,
        column: "s.referring_physician_search",
        kind: Kind::Name,
    },
    Attribute {
        tag: (0x0008, 0x1030),
        level: Level::Study,
        column: "s.study_description",
        kind: Kind::Text,
    },
    Attribute {
        tag: (0x0010, 0x0010),
        level: Level::Study,
        column: "s.patient_name_search",
        kind: Kind::Name,
    },
    Attribute {
        tag: (0x0010, 0x0020),
        level: Level::Study,
        column: "s.dicom_patient_id",
        kind: Kind::Text,
    },
    Attribute {
        tag: (0x0010, 0x0030),
        level: Level::Study,
        column: "s.patient_birth_date",
        kind: Kind::Date,
    },
    Attribute {
        tag: (0x0010, 0x0040),
        level: Level::Study,
        column: "s.patient_sex",
        kind: Kind::Text,
    },
    Attribute {
        tag: (0x0020, 0x000D),
        level: Level::Study,
        column: "s.study_uid",
        kind: Kind::Uid,
    },
    Attribute {
        tag: (0x0020, 0x0010),
        level: Level::Study,
        column: "s.study_id",
        kind: Kind::Text,
    },
    Attribute {
        tag: (0x0008, 0x0060),
        level: Level::Series,
        column: "se.modality",
        kind: Kind::Text,
    },
    Attribute {
        tag: (0x0008, 0x103E),
        level: Level::Series,
        column: "se.series_description",
        kind: Kind::Text,
    },
    Attribute {
        tag: (0x0020, 0x000E),
        level: Level::Series,
        column: "se.series_uid",
        kind: Kind::Uid,
    },
    Attribute {
        tag: (0x0020, 0x0011),
        level: Level::Series,
        column: "se.series_number",
        kind: Kind::Int,
    },
    Attribute {
        tag: (0x0008, 0x0016),
        level: Level::Instance,
        column: "i.sop_class_uid",
        kind: Kind::Uid,
    },
    Attribute {
        tag: (0x0008, 0x0018),
        level: Level::Instance,
        column: "i.sop_instance_uid",
        kind: Kind::Uid,
    },
    Attribute {
        tag: (0x0020, 0x0013),
        level: Level::Instance,
        column: "i.instance_number",
        kind: Kind::Int,
    },
];

/// Queries return at most this many results, whatever `limit` asks for.
pub const MAX_LIMIT: i64 = 1000;

/// A value bound to a `$n` placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    /// Text.
    Text(String),
    /// An integer.
    Int(i64),
}

/// What `includefield` asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Include {
    /// Only the required return attributes of the level.
    #[default]
    Required,
    /// These further tags, as JSON keys (`00280100`).
    Tags(Vec<String>),
    /// Every attribute the store has (`includefield=all`).
    All,
}

/// A parsed QIDO-RS query, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The `WHERE` clause (never empty: at least `1 = 1`).
    pub where_sql: String,
    /// The values of its placeholders, `$1` first.
    pub binds: Vec<Bind>,
    /// `limit`, capped at [`MAX_LIMIT`].
    pub limit: i64,
    /// `offset`.
    pub offset: i64,
    /// Extra attributes to return.
    pub include: Include,
}

/// Resolves a keyword (`PatientName`) or tag (`00100010`) to a tag.
pub fn resolve_tag(name: &str) -> Option<(u16, u16)> {
    if name.len() == 8 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
        let group = u16::from_str_radix(&name[..4], 16).ok()?;
        let element = u16::from_str_radix(&name[4..], 16).ok()?;
        return Some((group, element));
    }
    let entry = StandardDataDictionary.by_name(name)?;
    let tag = entry.tag_range().inner();
    Some((tag.group(), tag.element()))
}

struct Builder {
    clauses: Vec<String>,
    binds: Vec<Bind>,
}

impl Builder {
    fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }
}

/// Escapes `!`, `%` and `_` with `!` and turns `*` and `?` into `%` and `_`.
fn like_pattern(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 4);
    for c in value.chars() {
        match c {
            '!' | '%' | '_' => {
                out.push('!');
                out.push(c);
            }
            '*' => out.push('%'),
            '?' => out.push('_'),
            c => out.push(c),
        }
    }
    out
}

fn has_wildcard(value: &str) -> bool {
    value.contains(['*', '?'])
}

fn check_date(value: &str, what: &str) -> Result<(), String> {
    if value.len() == 8 && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!("{what}: {value:?} is not a date YYYYMMDD"))
    }
}

fn check_time(value: &str, what: &str) -> Result<(), String> {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        Ok(())
    } else {
        Err(format!("{what}: {value:?} is not a time HHMMSS"))
    }
}

fn add_match(
    b: &mut Builder,
    attribute: &Attribute,
    name: &str,
    value: &str,
) -> Result<(), String> {
    let column = attribute.column;
    match attribute.kind {
        Kind::Text | Kind::Name => {
            let value = if attribute.kind == Kind::Name {
                crate::index::search_form(value)
            } else {
                value.to_owned()
            };
            if value.chars().all(|c| c == '*') {
                return Ok(()); // universal match
            }
            if has_wildcard(&value) {
                let p = b.bind(Bind::Text(like_pattern(&value)));
                b.clauses.push(format!("{column} LIKE {p} ESCAPE '!'"));
            } else {
                let p = b.bind(Bind::Text(value));
                b.clauses.push(format!("{column} = {p}"));
            }
        }
        Kind::Date | Kind::Time => {
            let check = if attribute.kind == Kind::Date {
                check_date
            } else {
                check_time
            };
            match value.split_once('-') {
                Some((from, to)) => {
                    if from.is_empty() && to.is_empty() {
                        return Err(format!("{name}: an empty range"));
                    }
                    if !from.is_empty() {
                        check(from, name)?;
                        let p = b.bind(Bind::Text(from.to_owned()));
                        b.clauses.push(format!("{column} >= {p}"));
                    }
                    if !to.is_empty() {
                        check(to, name)?;
                        // A time range's upper end covers its fractions: 1200 covers 120059.
                        let to = if attribute.kind == Kind::Time {
                            format!("{to}\u{7f}")
                        } else {
                            to.to_owned()
                        };
                        let p = b.bind(Bind::Text(to));
                        b.clauses.push(format!("{column} <= {p}"));
                    }
                }
                None => {
                    check(value, name)?;
                    let p = b.bind(Bind::Text(value.to_owned()));
                    b.clauses.push(format!("{column} = {p}"));
                }
            }
        }
        Kind::Uid => {
            let uids: Vec<&str> = value
                .split([',', '\\'])
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .collect();
            if uids.is_empty() {
                return Ok(());
            }
            for uid in &uids {
                crate::uid::validate(uid).map_err(|e| format!("{name}: {e}"))?;
            }
            let params: Vec<String> = uids
                .iter()
                .map(|u| b.bind(Bind::Text((*u).to_owned())))
                .collect();
            b.clauses
                .push(format!("{column} IN ({})", params.join(", ")));
        }
        Kind::Int => {
            let n: i64 = value
                .trim()
                .parse()
                .map_err(|_| format!("{name}: {value:?} is not an integer"))?;
            let p = b.bind(Bind::Int(n));
            b.clauses.push(format!("{column} = {p}"));
        }
        Kind::Modalities => {
            // Modalities in Study is stored `CT\MR`; match any listed modality
            // as a whole `\`-delimited item.
            let mut any = Vec::new();
            for modality in value
                .split([',', '\\'])
                .map(str::trim)
                .filter(|m| !m.is_empty())
            {
                let p = b.bind(Bind::Text(format!("%\\{}\\%", like_pattern(modality))));
                any.push(format!("('\\' || {column} || '\\') LIKE {p} ESCAPE '!'"));
            }
            if !any.is_empty() {
                b.clauses.push(format!("({})", any.join(" OR ")));
            }
        }
    }
    Ok(())
}

/// Parses the query parameters of a request at `level`. `fixed` are matches
/// the path imposes (`/studies/{study}/series` fixes the study UID); `scope`
/// restricts the studies the caller may see.
pub fn parse(
    level: Level,
    params: &[(String, String)],
    fixed: &[((u16, u16), &str)],
    scope: &StudyScope,
) -> Result<Query, String> {
    let mut b = Builder {
        clauses: Vec::new(),
        binds: Vec::new(),
    };
    let mut limit = MAX_LIMIT;
    let mut offset = 0;
    let mut include = Include::Required;
    for (key, value) in params {
        match key.as_str() {
            "limit" => {
                limit = value
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| format!("limit: {value:?} is not a count"))?
                    .min(MAX_LIMIT);
            }
            "offset" => {
                offset = value
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| format!("offset: {value:?} is not a count"))?;
            }
            "fuzzymatching" => {}
            "includefield" => {
                for field in value.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                    if field == "all" {
                        include = Include::All;
                        continue;
                    }
                    let (g, e) = resolve_tag(field)
                        .ok_or_else(|| format!("includefield: unknown attribute {field:?}"))?;
                    if let Include::Tags(tags) = &mut include {
                        tags.push(crate::json::tag_key(g, e));
                    } else if include == Include::Required {
                        include = Include::Tags(vec![crate::json::tag_key(g, e)]);
                    }
                }
            }
            name => {
                let tag = resolve_tag(name).ok_or_else(|| format!("unknown attribute {name:?}"))?;
                let Some(attribute) = ATTRIBUTES.iter().find(|a| a.tag == tag && a.level <= level)
                else {
                    // Known to DICOM but not matchable here: ignored (PS3.18 §8.3.4.1).
                    continue;
                };
                if !value.is_empty() {
                    add_match(&mut b, attribute, name, value)?;
                }
            }
        }
    }
    for (tag, value) in fixed {
        let attribute = ATTRIBUTES
            .iter()
            .find(|a| a.tag == *tag)
            .expect("path parameters are indexed attributes");
        let p = b.bind(Bind::Text((*value).to_owned()));
        b.clauses.push(format!("{} = {p}", attribute.column));
    }
    if let Some(condition) = scope.sql(|value| {
        b.bind(match value {
            ScopeValue::Int(n) => Bind::Int(*n),
            ScopeValue::Text(t) => Bind::Text(t.clone()),
        })
    }) {
        b.clauses.push(condition);
    }
    let where_sql = if b.clauses.is_empty() {
        "1 = 1".to_owned()
    } else {
        b.clauses.join(" AND ")
    };
    Ok(Query {
        where_sql,
        binds: b.binds,
        limit,
        offset,
        include,
    })
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
