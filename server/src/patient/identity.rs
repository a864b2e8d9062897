//! Who may be the same person. Member facilities register patients on their
//! own, often without the resident identity number, and spell names in
//! hanzi or in pinyin; before a registration creates a new person, the
//! patients who may be that person are offered, and joining two records
//! as one person needs details that agree.
//!
//! A candidate outside the caller's scope is offered without anything the
//! caller did not type: which of the given details agree and how many
//! member facilities hold a record, never the name, phone or identifier
//! on file, nor which facilities.

use pinyin::ToPinyin;
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use utoipa::ToSchema;

use super::PatientView;

/// How the clinician knew two records for one person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// The patient's resident identity card was seen.
    ResidentIdCard,
    /// The other facility's patient card (就诊卡) was seen.
    FacilityCard,
    /// The patient (or a guardian) said so.
    PatientStatement,
    /// The two records agree on every detail.
    RecordsAgree,
}

impl Evidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Evidence::ResidentIdCard => "resident_id_card",
            Evidence::FacilityCard => "facility_card",
            Evidence::PatientStatement => "patient_statement",
            Evidence::RecordsAgree => "records_agree",
        }
    }
}

/// Surnames whose reading differs from the character's common one. The
/// pinyin table gives the most common reading of a character, which is
/// wrong for these as family names (曾 is Zeng, not ceng); this short list
/// is the standard set of polyphonic surnames, kept by hand because no
/// crate holds surname readings.
const SURNAME_READINGS: &[(char, &str)] = &[
    ('曾', "zeng"),
    ('单', "shan"),
    ('解', "xie"),
    ('区', "ou"),
    ('仇', "qiu"),
    ('朴', "piao"),
    ('查', "zha"),
    ('盖', "ge"),
    ('覃', "qin"),
    ('尉', "yu"),
    ('乐', "yue"),
    ('缪', "miao"),
    ('翟', "zhai"),
    ('员', "yun"),
    ('秘', "bi"),
    ('种', "chong"),
    ('牟', "mou"),
    ('褚', "chu"),
    ('长', "chang"),
    ('重', "chong"),
];

/// The name as toneless pinyin, lower-case, letters only: 王秀英, "Wang
/// Xiuying" and "WANG Xiu-ying" all give `wangxiuying`. `ü` is written
/// `v`, as Chinese keyboards and ID systems spell it.
pub fn name_key(family_name: &str, given_name: &str) -> String {
    let mut key = String::new();
    let family_first = family_name.trim().chars().next();
    for (position, c) in family_name
        .trim()
        .chars()
        .chain(given_name.trim().chars())
        .enumerate()
    {
        if c.is_ascii_alphabetic() {
            key.push(c.to_ascii_lowercase());
        } else if c == 'ü' || c == 'Ü' {
            key.push('v');
        } else if let Some(reading) = (position == 0 && family_first == Some(c))
            .then(|| SURNAME_READINGS.iter().find(|(s, _)| *s == c))
            .flatten()
        {
            key.push_str(reading.1);
        } else if let Some(reading) = c.to_pinyin() {
            key.extend(
                reading
                    .plain()
                    .chars()
                    .map(|c| if c == 'ü' { 'v' } else { c }),
            );
        }
    }
    key
}

/// The name's initials in pinyin, lower-case: a hanzi gives the first
/// letter of its reading (the surname's own reading for the family name's
/// first character), a Latin word its first letter, so 王秀英 and
/// "Wang Xiu-ying" both give `wxy`: what a clerk types to find a patient
/// fast on a Chinese keyboard.
pub fn name_initials(family_name: &str, given_name: &str) -> String {
    let mut initials = String::new();
    let family_first = family_name.trim().chars().next();
    // Inside a Latin word, letters after the first add nothing.
    let mut in_word = false;
    for (position, c) in family_name
        .trim()
        .chars()
        .chain(std::iter::once(' '))
        .chain(given_name.trim().chars())
        .enumerate()
    {
        if c.is_ascii_alphabetic() || c == 'ü' || c == 'Ü' {
            if !in_word {
                // ü is written v, as in the name key.
                initials.push(if c.is_ascii_alphabetic() {
                    c.to_ascii_lowercase()
                } else {
                    'v'
                });
            }
            in_word = true;
            continue;
        }
        in_word = false;
        let reading = (position == 0 && family_first == Some(c))
            .then(|| SURNAME_READINGS.iter().find(|(s, _)| *s == c))
            .flatten()
            .map(|(_, reading)| reading.chars().next())
            .unwrap_or_else(|| c.to_pinyin().and_then(|p| p.plain().chars().next()));
        if let Some(first) = reading {
            initials.push(first);
        }
    }
    initials
}

/// A person's name as a DICOM PN: `FAMILY^GIVEN` as typed when it is
/// Latin, else its pinyin then its characters as the ideographic group
/// (`Wang^Xiuying=王^秀英`), so a modality that shows only Latin text still
/// shows a name the radiographer can call out.
pub fn dicom_person_name(family_name: &str, given_name: &str) -> String {
    let (family, given) = (family_name.trim(), given_name.trim());
    let clean = |part: &str| part.replace(['^', '=', '\\'], " ");
    if family.is_ascii() && given.is_ascii() {
        return format!("{}^{}", clean(family), clean(given));
    }
    let capital = |key: String| {
        let mut chars = key.chars();
        chars
            .next()
            .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
            .unwrap_or_default()
    };
    format!(
        "{}^{}={}^{}",
        capital(name_key(family, "")),
        capital(name_key("", given)),
        clean(family),
        clean(given)
    )
}

/// A phone number as its digits, so `138-0000 1234` and `13800001234` agree.
pub fn phone_digits(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}

/// The details a registration (or a record to be joined) gives of a person.
#[derive(Debug, Clone)]
pub struct Probe {
    pub name_key: String,
    pub sex: String,
    pub birth_date: String,
    pub phone: String,
    pub national_id: Option<String>,
}

/// A patient as the index holds them, for matching.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IndexRow {
    pub id: i64,
    pub national_id: Option<String>,
    pub sex: String,
    pub birth_date: String,
    pub phone: String,
    pub name_key: Option<String>,
    pub facilities: i64,
    /// The patient this one was merged into, if it was.
    pub merged_into: Option<i64>,
}

/// Which details of `probe` agree with `row`, or `None` when the two
/// cannot be one person: different birth dates, both sexes known and
/// different, or two different identity numbers.
pub fn agreement(row: &IndexRow, probe: &Probe) -> Option<Vec<&'static str>> {
    if row.birth_date != probe.birth_date {
        return None;
    }
    let known = |sex: &str| matches!(sex, "female" | "male");
    if known(&row.sex) && known(&probe.sex) && row.sex != probe.sex {
        return None;
    }
    if let (Some(held), Some(given)) = (&row.national_id, &probe.national_id) {
        if held != given {
            return None;
        }
    }
    let mut matched = vec!["birth_date"];
    if !probe.name_key.is_empty() && row.name_key.as_deref() == Some(probe.name_key.as_str()) {
        matched.push("name");
    }
    if known(&row.sex) && row.sex == probe.sex {
        matched.push("sex");
    }
    let phone = phone_digits(&probe.phone);
    if !phone.is_empty() && phone_digits(&row.phone) == phone {
        matched.push("phone");
    }
    if row.national_id.is_some() && row.national_id == probe.national_id {
        matched.push("national_id");
    }
    Some(matched)
}

/// Whether `probe` says enough to join a record to `row` as one person
/// when the caller cannot see `row`: the same name and birth date, and
/// every identifying detail on file given back: the identity number when
/// `row` holds one, the phone when it has one. What the patient carries
/// or knows, not what anyone could look up.
pub fn proves(row: &IndexRow, probe: &Probe) -> bool {
    let Some(matched) = agreement(row, probe) else {
        return false;
    };
    matched.contains(&"name")
        && (row.national_id.is_none() || matched.contains(&"national_id"))
        && (phone_digits(&row.phone).is_empty() || matched.contains(&"phone"))
}

/// Whether two records the caller can both see may be joined: the same
/// name and birth date, nothing that sets them apart.
pub fn compatible(row: &IndexRow, probe: &Probe) -> bool {
    agreement(row, probe).is_some_and(|matched| matched.contains(&"name"))
}

/// One patient who may be the person being registered.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Candidate {
    pub patient_id: i64,
    /// The details given that agree: `name`, `birth_date`, `sex`, `phone`,
    /// `national_id`.
    pub matched: Vec<String>,
    /// How many member facilities hold a record of this patient.
    pub facilities: i64,
    /// Whether the caller may open this patient; only then is `patient` given.
    pub in_scope: bool,
    pub patient: Option<PatientView>,
}

const INDEX_SELECT: &str = "SELECT p.id, p.national_id, p.sex, p.birth_date, p.phone, \
     p.name_key, (SELECT COUNT(*) FROM patient_record r WHERE r.patient_id = p.id) AS facilities, \
     p.merged_into FROM patient p";

/// At most this many candidates are offered.
const MOST: i64 = 20;

/// The patients (not merged away, other than `except`) who may be the
/// person `probe` describes: the same birth date and the same name or
/// phone, nothing setting them apart; each with the details that agree.
pub async fn candidates(
    conn: &mut AnyConnection,
    probe: &Probe,
    except: Option<i64>,
) -> Result<Vec<(IndexRow, Vec<&'static str>)>, sqlx::Error> {
    let rows: Vec<IndexRow> = sqlx::query_as(&format!(
        "{INDEX_SELECT} WHERE p.birth_date = $1 AND p.merged_into IS NULL \
         AND (p.name_key = $2 OR ($3 <> '' AND p.phone <> '' AND p.phone = $4)) \
         AND p.id <> $5 ORDER BY p.id LIMIT {MOST}"
    ))
    .bind(&probe.birth_date)
    .bind(&probe.name_key)
    .bind(phone_digits(&probe.phone))
    .bind(probe.phone.trim())
    .bind(except.unwrap_or(0))
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let matched = agreement(&row, probe)?;
            (matched.contains(&"name") || matched.contains(&"phone")).then_some((row, matched))
        })
        .collect())
}

/// One patient as the index holds them.
pub async fn index_row(conn: &mut AnyConnection, id: i64) -> Result<Option<IndexRow>, sqlx::Error> {
    sqlx::query_as(&format!("{INDEX_SELECT} WHERE p.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Gives every patient stored before names were keyed (or before their
/// initials were) its key and initials. Names are keyed in Rust (pinyin),
/// so a migration cannot; this runs at start-up and finds nothing to do
/// once done.
pub async fn key_unkeyed_names(conn: &mut AnyConnection) -> Result<u64, sqlx::Error> {
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT id, family_name, given_name FROM patient \
         WHERE name_key IS NULL OR name_initials IS NULL",
    )
    .fetch_all(&mut *conn)
    .await?;
    for (id, family_name, given_name) in &rows {
        sqlx::query("UPDATE patient SET name_key = $1, name_initials = $2 WHERE id = $3")
            .bind(name_key(family_name, given_name))
            .bind(name_initials(family_name, given_name))
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(rows.len() as u64)
}

/// The candidates as the caller is shown them: in full when the caller may
/// open the patient, otherwise only what agreed and how many facilities
/// hold a record. One audit event names every candidate offered.
pub async fn offer(
    tx: &mut crate::db::Tx,
    caller: &crate::auth::Caller,
    subject: Option<i64>,
    found: Vec<(IndexRow, Vec<&'static str>)>,
) -> crate::error::ApiResult<Vec<Candidate>> {
    let now = crate::time::now_ms();
    let mut offered = Vec::with_capacity(found.len());
    let mut visible = Vec::new();
    for (row, matched) in found {
        let in_scope = crate::policy::patient_access(tx, caller, row.id, now)
            .await?
            .is_some();
        if in_scope {
            visible.push(row.id);
        }
        offered.push(Candidate {
            patient_id: row.id,
            matched: matched.into_iter().map(str::to_owned).collect(),
            facilities: row.facilities,
            in_scope,
            patient: None,
        });
    }
    let rows = super::store::get_many(tx, &visible).await?;
    let mut views: std::collections::HashMap<i64, PatientView> = super::store::views(tx, rows)
        .await?
        .into_iter()
        .map(|view| (view.id, view))
        .collect();
    for candidate in &mut offered {
        candidate.patient = views.remove(&candidate.patient_id);
    }
    let all: Vec<i64> = offered.iter().map(|c| c.patient_id).collect();
    let mut entry = crate::audit::AuditEntry::new(crate::audit::Action::Read, "patient.candidates")
        .facility(caller.facility_id)
        .detail(serde_json::json!({ "candidates": all, "shown": visible }));
    if let Some(subject) = subject {
        entry = entry.entity("patient", subject).patient(subject);
    }
    crate::audit::append(tx, &caller.actor(), entry).await?;
    Ok(offered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_go_to_dicom_with_pinyin_and_characters() {
        assert_eq!(
            super::dicom_person_name("王", "秀英"),
            "Wang^Xiuying=王^秀英"
        );
        assert_eq!(
            super::dicom_person_name("曾", "小宇"),
            "Zeng^Xiaoyu=曾^小宇"
        );
        assert_eq!(super::dicom_person_name("Smith", "Anna"), "Smith^Anna");
    }

    #[test]
    fn hanzi_and_pinyin_spellings_give_one_key() {
        assert_eq!(name_key("王", "秀英"), "wangxiuying");
        assert_eq!(name_key("Wang", "Xiuying"), "wangxiuying");
        assert_eq!(name_key("WANG", "Xiu-ying"), "wangxiuying");
        assert_eq!(name_key(" 王 ", " 秀 英"), "wangxiuying");
    }

    #[test]
    fn polyphonic_surnames_read_as_surnames() {
        assert_eq!(name_key("曾", "小明"), "zengxiaoming");
        assert_eq!(name_key("单", "丽"), name_key("Shan", "Li"));
        // Only as the family name's first character.
        assert_eq!(name_key("李", "曾"), "liceng");
    }

    #[test]
    fn initials_come_from_pinyin_or_from_each_latin_word() {
        assert_eq!(name_initials("王", "秀英"), "wxy");
        assert_eq!(name_initials("Wang", "Xiu-ying"), "wxy");
        assert_eq!(name_initials("WANG", "Xiuying"), "wx");
        assert_eq!(name_initials("曾", "小明"), "zxm");
        assert_eq!(name_initials("Lin", "Hai"), "lh");
        assert_eq!(name_initials("吕", ""), "l");
    }

    #[test]
    fn u_umlaut_is_v() {
        assert_eq!(name_key("吕", "方"), "lvfang");
        assert_eq!(name_key("Lü", "Fang"), "lvfang");
    }

    fn row(national_id: Option<&str>, phone: &str) -> IndexRow {
        IndexRow {
            id: 1,
            national_id: national_id.map(str::to_owned),
            sex: "female".to_owned(),
            birth_date: "1958-03-12".to_owned(),
            phone: phone.to_owned(),
            name_key: Some("wangxiuying".to_owned()),
            facilities: 1,
            merged_into: None,
        }
    }

    fn probe(national_id: Option<&str>, phone: &str) -> Probe {
        Probe {
            name_key: "wangxiuying".to_owned(),
            sex: "female".to_owned(),
            birth_date: "1958-03-12".to_owned(),
            phone: phone.to_owned(),
            national_id: national_id.map(str::to_owned),
        }
    }

    #[test]
    fn different_identity_numbers_or_sexes_are_different_people() {
        assert!(agreement(&row(Some("A"), ""), &probe(Some("B"), "")).is_none());
        let mut male = probe(None, "");
        male.sex = "male".to_owned();
        assert!(agreement(&row(None, ""), &male).is_none());
        male.sex = "unknown".to_owned();
        assert!(agreement(&row(None, ""), &male).is_some());
    }

    #[test]
    fn joining_an_unseen_record_needs_every_identifier_on_file() {
        assert!(proves(&row(None, ""), &probe(None, "")));
        assert!(!proves(&row(Some("A"), ""), &probe(None, "")));
        assert!(proves(&row(Some("A"), ""), &probe(Some("A"), "")));
        assert!(!proves(&row(None, "138 0000 1234"), &probe(None, "")));
        assert!(proves(
            &row(None, "138 0000 1234"),
            &probe(None, "13800001234")
        ));
        // A record the caller can see needs only the name and birth date.
        assert!(compatible(&row(Some("A"), "1"), &probe(None, "")));
    }
}
