//! SQL for `patient` and `patient_record`.

use sqlx::{AnyConnection, FromRow};

use super::{PatientRecordView, PatientView, Sex};
use crate::policy::{FacilityScope, PATIENTS_IN_SCOPE, PATIENT_IN_SCOPE};

#[derive(Debug, Clone, FromRow)]
pub struct PatientRow {
    pub id: i64,
    pub national_id: Option<String>,
    pub family_name: String,
    pub given_name: String,
    pub sex: String,
    pub birth_date: String,
    pub phone: String,
    pub merged_into: Option<i64>,
}

/// `national_id` is the one the patient holds, or else the one their
/// registration gave that is waiting for review (see `register`).
const SELECT: &str =
    "SELECT p.id, COALESCE(p.national_id, p.unverified_national_id) AS national_id, \
     p.family_name, p.given_name, p.sex, p.birth_date, p.phone, p.merged_into FROM patient p";

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<PatientRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE p.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The patients of `ids` that exist, in id order.
pub async fn get_many(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> Result<Vec<PatientRow>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks: Vec<String> = (1..=ids.len()).map(|n| format!("${n}")).collect();
    let sql = format!(
        "{SELECT} WHERE p.id IN ({}) ORDER BY p.id",
        marks.join(", ")
    );
    let mut query = sqlx::query_as(&sql);
    for id in ids {
        query = query.bind(*id);
    }
    query.fetch_all(conn).await
}

pub async fn find_by_national_id(
    conn: &mut AnyConnection,
    national_id: &str,
) -> Result<Option<PatientRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE p.national_id = $1"))
        .bind(national_id)
        .fetch_optional(conn)
        .await
}

pub async fn has_record_at(
    conn: &mut AnyConnection,
    patient_id: i64,
    facility_id: i64,
) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM patient_record WHERE patient_id = $1 AND facility_id = $2",
    )
    .bind(patient_id)
    .bind(facility_id)
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

/// `text` lower-cased, with `%`, `_` and `\` escaped for a LIKE pattern
/// with `ESCAPE '\'`.
fn like_escaped(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// A LIKE pattern matching `text` anywhere ([`like_escaped`]).
fn like_pattern(text: &str) -> String {
    format!("%{}%", like_escaped(text))
}

/// The forms of a name a search matches, lower-cased: family and given
/// name run together (Chinese), and with a space either way round (pinyin).
pub fn search_name(family_name: &str, given_name: &str) -> String {
    format!("{family_name}{given_name} | {family_name} {given_name} | {given_name} {family_name}")
        .to_lowercase()
}

/// What a search query is matched as: the typed text for names, its
/// pinyin key and initials, and its identifier forms.
struct Terms {
    /// `%text%`, lower-case, for `search_name`.
    anywhere: String,
    /// `text |%`: the name exactly as typed, family name first.
    exact: String,
    /// The query as toneless pinyin (`Wang Xiu-ying`, `王秀英` →
    /// `wangxiuying`); empty when it has no letter or hanzi.
    key: String,
    /// Letters only, lower-case, when the query could be initials
    /// (`wxy`): 2 to 8 ASCII letters, spaces ignored; else empty.
    initials: String,
    /// A resident identity number as the index spells it (upper-case X),
    /// else the query as typed.
    national_id: String,
    /// The query as typed, trimmed: record numbers compare folded.
    record_number: String,
    /// Names hold no digits: a query with one looks up identifiers only.
    names: bool,
}

impl Terms {
    fn of(query: &str) -> Terms {
        let query = query.trim();
        let today = jiff::Zoned::now().date();
        let letters: String = query.chars().filter(|c| !c.is_whitespace()).collect();
        let initials = if (2..=8).contains(&letters.len())
            && letters.chars().all(|c| c.is_ascii_alphabetic())
        {
            letters.to_ascii_lowercase()
        } else {
            String::new()
        };
        Terms {
            anywhere: like_pattern(query),
            exact: format!("{} |%", like_escaped(query)),
            key: super::identity::name_key(query, ""),
            initials,
            national_id: super::resident_id::validate(query, today)
                .unwrap_or_else(|_| query.to_owned()),
            record_number: query.to_owned(),
            names: !query.chars().any(|c| c.is_ascii_digit()),
        }
    }
}

/// How well a row of the name half matches, best first: the name exactly
/// as typed, then the same name in pinyin (王秀英 for `wangxiuying`), the
/// initials (`wxy`), a name starting with the pinyin typed, and any other
/// match. Identifier matches come before all of these (see [`search`]).
const NAME_RANK: &str = "CASE WHEN p.search_name LIKE $5 ESCAPE '\\' THEN 1 \
     WHEN $6 <> '' AND p.name_key = $6 THEN 2 \
     WHEN $7 <> '' AND p.name_initials = $7 THEN 3 \
     WHEN $6 <> '' AND p.name_key LIKE $8 THEN 4 ELSE 5 END";

/// Patients in the caller's scope whose national identifier or a record
/// number (in any case) equals `query`, then those whose name matches it:
/// part of the name as typed (hanzi or Latin, either order), its pinyin
/// (`wang xiuying`, `Wang Xiu-ying` find 王秀英), or its initials (`wxy`).
/// Exact identifier matches come first, then the closest names.
///
/// Two queries, each starting from what an index finds: identifiers are
/// looked up by index (the folded record number has its own) and then
/// checked against the scope one by one; names are matched only among
/// the patients in scope ([`PATIENTS_IN_SCOPE`], a union of indexed
/// lookups). A single condition over every patient would test the scope
/// of each of them.
pub async fn search(
    conn: &mut AnyConnection,
    scope_facility: FacilityScope,
    user_id: i64,
    now: i64,
    query: &str,
    limit: i64,
) -> Result<Vec<PatientRow>, sqlx::Error> {
    let terms = Terms::of(query);
    let mut found: Vec<PatientRow> = sqlx::query_as(&format!(
        "{SELECT} WHERE p.id IN (SELECT n.id FROM patient n WHERE n.national_id = $4 \
             UNION SELECT u.id FROM patient u WHERE u.unverified_national_id = $4 \
               AND u.national_id IS NULL \
             UNION SELECT s.patient_id FROM patient_record s \
               WHERE lower(s.record_number) = lower($5)) \
           AND p.merged_into IS NULL AND {PATIENT_IN_SCOPE} \
         ORDER BY p.family_name, p.given_name, p.id LIMIT $6"
    ))
    .bind(scope_facility.id())
    .bind(user_id)
    .bind(now)
    .bind(&terms.national_id)
    .bind(&terms.record_number)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    if !terms.names || found.len() as i64 >= limit {
        return Ok(found);
    }
    let names: Vec<PatientRow> = sqlx::query_as(&format!(
        "{SELECT} WHERE p.id IN ({PATIENTS_IN_SCOPE}) AND p.merged_into IS NULL \
           AND (p.search_name LIKE $4 ESCAPE '\\' \
             OR ($6 <> '' AND p.name_key LIKE $9) \
             OR ($7 <> '' AND p.name_initials LIKE $10)) \
         ORDER BY {NAME_RANK}, p.family_name, p.given_name, p.id LIMIT $11"
    ))
    .bind(scope_facility.id())
    .bind(user_id)
    .bind(now)
    .bind(&terms.anywhere)
    .bind(&terms.exact)
    .bind(&terms.key)
    .bind(&terms.initials)
    .bind(format!("{}%", terms.key))
    .bind(format!("%{}%", terms.key))
    .bind(format!("{}%", terms.initials))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    for row in names {
        if found.len() as i64 >= limit {
            break;
        }
        if !found.iter().any(|seen| seen.id == row.id) {
            found.push(row);
        }
    }
    Ok(found)
}

/// How a patient outside the caller's scope matched an identifier typed
/// into the search: what break-the-glass can name them by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutsideMatch {
    NationalId,
    RecordNumber,
}

/// The patients outside the caller's scope (not merged away) who hold
/// `query` as their national identifier, or as a record number at some
/// facility in any case: the patients break-the-glass would open by that
/// identifier. Ids only, for the caller never to see.
pub async fn outside_scope_by_identifier(
    conn: &mut AnyConnection,
    scope_facility: FacilityScope,
    user_id: i64,
    now: i64,
    query: &str,
) -> Result<Vec<(i64, OutsideMatch)>, sqlx::Error> {
    let terms = Terms::of(query);
    let rows: Vec<(i64, i64)> = sqlx::query_as(&format!(
        "SELECT p.id, CAST(CASE WHEN p.national_id = $4 THEN 1 ELSE 2 END AS BIGINT) AS how \
         FROM patient p \
         WHERE p.id IN (SELECT n.id FROM patient n WHERE n.national_id = $4 \
             UNION SELECT s.patient_id FROM patient_record s \
               WHERE lower(s.record_number) = lower($5)) \
           AND p.merged_into IS NULL AND NOT {PATIENT_IN_SCOPE} ORDER BY p.id LIMIT 20"
    ))
    .bind(scope_facility.id())
    .bind(user_id)
    .bind(now)
    .bind(&terms.national_id)
    .bind(&terms.record_number)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, how)| {
            let how = if how == 1 {
                OutsideMatch::NationalId
            } else {
                OutsideMatch::RecordNumber
            };
            (id, how)
        })
        .collect())
}

/// The records of each of `patients` at every facility, in one query.
pub async fn records_of(
    conn: &mut AnyConnection,
    patients: &[i64],
) -> Result<std::collections::HashMap<i64, Vec<PatientRecordView>>, sqlx::Error> {
    let mut by_patient: std::collections::HashMap<i64, Vec<PatientRecordView>> =
        std::collections::HashMap::new();
    if patients.is_empty() {
        return Ok(by_patient);
    }
    let marks: Vec<String> = (1..=patients.len()).map(|n| format!("${n}")).collect();
    let sql = format!(
        "SELECT r.patient_id, r.facility_id, f.name, r.record_number FROM patient_record r \
         JOIN facility f ON f.id = r.facility_id WHERE r.patient_id IN ({}) ORDER BY r.id",
        marks.join(", ")
    );
    let mut query = sqlx::query_as::<_, (i64, i64, String, String)>(&sql);
    for patient in patients {
        query = query.bind(*patient);
    }
    for (patient_id, facility_id, facility_name, record_number) in query.fetch_all(conn).await? {
        by_patient
            .entry(patient_id)
            .or_default()
            .push(PatientRecordView {
                facility_id,
                facility_name,
                record_number,
            });
    }
    Ok(by_patient)
}

/// The views of `rows`, their records read in one query.
pub async fn views(
    conn: &mut AnyConnection,
    rows: Vec<PatientRow>,
) -> Result<Vec<PatientView>, sqlx::Error> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut records = records_of(conn, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let records = records.remove(&row.id).unwrap_or_default();
            view_with(row, records)
        })
        .collect())
}

pub async fn records(
    conn: &mut AnyConnection,
    patient_id: i64,
) -> Result<Vec<PatientRecordView>, sqlx::Error> {
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT r.facility_id, f.name, r.record_number FROM patient_record r \
         JOIN facility f ON f.id = r.facility_id WHERE r.patient_id = $1 ORDER BY r.id",
    )
    .bind(patient_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(facility_id, facility_name, record_number)| PatientRecordView {
                facility_id,
                facility_name,
                record_number,
            },
        )
        .collect())
}

pub async fn view(conn: &mut AnyConnection, row: PatientRow) -> Result<PatientView, sqlx::Error> {
    let records = records(conn, row.id).await?;
    Ok(view_with(row, records))
}

fn view_with(row: PatientRow, records: Vec<PatientRecordView>) -> PatientView {
    PatientView {
        id: row.id,
        national_id: row.national_id,
        family_name: row.family_name,
        given_name: row.given_name,
        sex: Sex::parse(&row.sex),
        birth_date: row.birth_date,
        phone: row.phone,
        merged_into: row.merged_into,
        records,
    }
}

pub struct PatientValues<'a> {
    pub national_id: Option<&'a str>,
    /// Only at registration: held apart from `national_id`, not unique.
    pub unverified_national_id: Option<&'a str>,
    pub family_name: &'a str,
    pub given_name: &'a str,
    pub sex: Sex,
    pub birth_date: &'a str,
    pub phone: &'a str,
}

pub async fn insert(
    conn: &mut AnyConnection,
    values: &PatientValues<'_>,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO patient (national_id, family_name, given_name, sex, birth_date, phone, \
         created_at, updated_at, unverified_national_id, search_name, name_key, name_initials) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(values.national_id)
    .bind(values.family_name)
    .bind(values.given_name)
    .bind(values.sex.as_str())
    .bind(values.birth_date)
    .bind(values.phone)
    .bind(now)
    .bind(values.unverified_national_id)
    .bind(search_name(values.family_name, values.given_name))
    .bind(super::identity::name_key(
        values.family_name,
        values.given_name,
    ))
    .bind(super::identity::name_initials(
        values.family_name,
        values.given_name,
    ))
    .fetch_one(conn)
    .await
}

/// Changes a patient. `set_national_id`: whether `values.national_id` is
/// written (which also settles an identifier waiting for review) or both
/// identifiers stay as they are.
pub async fn update(
    conn: &mut AnyConnection,
    id: i64,
    values: &PatientValues<'_>,
    set_national_id: bool,
    now: i64,
) -> Result<(), sqlx::Error> {
    let national_id = if set_national_id {
        "national_id = $1, unverified_national_id = NULL"
    } else {
        "national_id = national_id"
    };
    sqlx::query(&format!(
        "UPDATE patient SET {national_id}, family_name = $2, given_name = $3, sex = $4, \
         birth_date = $5, phone = $6, updated_at = $7, search_name = $9, name_key = $10, \
         name_initials = $11 WHERE id = $8"
    ))
    .bind(values.national_id)
    .bind(values.family_name)
    .bind(values.given_name)
    .bind(values.sex.as_str())
    .bind(values.birth_date)
    .bind(values.phone)
    .bind(now)
    .bind(id)
    .bind(search_name(values.family_name, values.given_name))
    .bind(super::identity::name_key(
        values.family_name,
        values.given_name,
    ))
    .bind(super::identity::name_initials(
        values.family_name,
        values.given_name,
    ))
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn insert_record(
    conn: &mut AnyConnection,
    patient_id: i64,
    facility_id: i64,
    record_number: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO patient_record (patient_id, facility_id, record_number, created_at) \
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(patient_id)
    .bind(facility_id)
    .bind(record_number)
    .bind(now)
    .fetch_one(conn)
    .await
}
