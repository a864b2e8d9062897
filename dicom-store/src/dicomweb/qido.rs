//! QIDO-RS (PS3.18 §10.6): search for studies, series and instances.
//!
//! Results are DICOM JSON arrays with the required return attributes of each
//! level (PS3.18 Table 10.6.3-3 to -5), built from the index, plus what
//! `includefield` asks for. A search with no results answers `200 []`, which
//! OHIF and dicomweb-client both accept. Only studies in the caller's
//! [`StudyScope`](crate::StudyScope) are ever matched.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query as UrlQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value as Json};
use sqlx::any::AnyArguments;
use sqlx::query::QueryAs;
use sqlx::{Any, AnyPool};

use super::query::{parse, Bind, Include, Level, Query};
use super::{authenticate, dicom_json, WebError};
use crate::index::store::{INSTANCE_COLUMNS, SERIES_COLUMNS, STUDY_COLUMNS};
use crate::index::{InstanceRow, SeriesRow, StudyRow};
use crate::json::JsonDataset;
use crate::{AccessEvent, StoreState};

type Params = UrlQuery<Vec<(String, String)>>;

const STUDY_UID: (u16, u16) = (0x0020, 0x000D);
const SERIES_UID: (u16, u16) = (0x0020, 0x000E);

/// `GET /studies`.
pub async fn studies(
    state: State<StoreState>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, WebError> {
    search(state.0, headers, Level::Study, params.0, Vec::new()).await
}

/// `GET /series`.
pub async fn all_series(
    state: State<StoreState>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, WebError> {
    search(state.0, headers, Level::Series, params.0, Vec::new()).await
}

/// `GET /studies/{study}/series`.
pub async fn study_series(
    state: State<StoreState>,
    Path(study): Path<String>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, WebError> {
    search(
        state.0,
        headers,
        Level::Series,
        params.0,
        vec![(STUDY_UID, study)],
    )
    .await
}

/// `GET /instances`.
pub async fn all_instances(
    state: State<StoreState>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, WebError> {
    search(state.0, headers, Level::Instance, params.0, Vec::new()).await
}

/// `GET /studies/{study}/instances`.
pub async fn study_instances(
    state: State<StoreState>,
    Path(study): Path<String>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, WebError> {
    search(
        state.0,
        headers,
        Level::Instance,
        params.0,
        vec![(STUDY_UID, study)],
    )
    .await
}

/// `GET /studies/{study}/series/{series}/instances`.
pub async fn series_instances(
    state: State<StoreState>,
    Path((study, series)): Path<(String, String)>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, WebError> {
    search(
        state.0,
        headers,
        Level::Instance,
        params.0,
        vec![(STUDY_UID, study), (SERIES_UID, series)],
    )
    .await
}

fn bind_all<'q, O>(
    mut q: QueryAs<'q, Any, O, AnyArguments<'q>>,
    query: &'q Query,
) -> QueryAs<'q, Any, O, AnyArguments<'q>> {
    for bind in &query.binds {
        q = match bind {
            Bind::Text(t) => q.bind(t.as_str()),
            Bind::Int(n) => q.bind(*n),
        };
    }
    q.bind(query.limit).bind(query.offset)
}

fn paging(query: &Query) -> String {
    let n = query.binds.len();
    format!("LIMIT ${} OFFSET ${}", n + 1, n + 2)
}

async fn search(
    state: StoreState,
    headers: HeaderMap,
    level: Level,
    params: Vec<(String, String)>,
    fixed: Vec<((u16, u16), String)>,
) -> Result<Response, WebError> {
    let principal = authenticate(&state, &headers).await?;
    let fixed: Vec<((u16, u16), &str)> = fixed.iter().map(|(t, v)| (*t, v.as_str())).collect();
    let query = parse(level, &params, &fixed, &principal.scope).map_err(WebError::bad_request)?;
    let pool = state.store.index().pool();
    let base = super::root_url(&state, &headers);
    let base = base.as_str();
    let results = match level {
        Level::Study => study_results(pool, base, &query).await,
        Level::Series => series_results(pool, base, &query).await,
        Level::Instance => instance_results(pool, base, &query).await,
    }
    .map_err(|e| WebError::internal(&e))?;
    let study_uids: Vec<String> = {
        let mut uids: Vec<String> = results.iter().map(|(uid, _)| uid.clone()).collect();
        uids.sort();
        uids.dedup();
        uids
    };
    if !study_uids.is_empty() {
        state
            .access
            .audit(&principal, AccessEvent::Searched { study_uids })
            .await
            .map_err(|e| WebError::internal(&e.0))?;
    }
    let body: Vec<Json> = results.into_iter().map(|(_, json)| json).collect();
    Ok(dicom_json(StatusCode::OK, Json::Array(body).to_string()))
}

fn study_json(row: &StudyRow, base: &str) -> JsonDataset {
    let mut d = JsonDataset::new();
    d.text((0x0008, 0x0005), "CS", Some("ISO_IR 192"))
        .text((0x0008, 0x0020), "DA", row.study_date.as_deref())
        .text((0x0008, 0x0030), "TM", row.study_time.as_deref())
        .text((0x0008, 0x0050), "SH", row.accession_number.as_deref())
        .text((0x0008, 0x0056), "CS", Some("ONLINE"))
        .text((0x0008, 0x0061), "CS", Some(&row.modalities))
        .text((0x0008, 0x0090), "PN", row.referring_physician.as_deref())
        .text((0x0008, 0x1030), "LO", row.study_description.as_deref())
        .text(
            (0x0008, 0x1190),
            "UR",
            Some(&format!("{base}/studies/{}", row.study_uid)),
        )
        .text((0x0010, 0x0010), "PN", row.patient_name.as_deref())
        .text((0x0010, 0x0020), "LO", Some(&row.dicom_patient_id))
        .text((0x0010, 0x0030), "DA", row.patient_birth_date.as_deref())
        .text((0x0010, 0x0040), "CS", row.patient_sex.as_deref())
        .text((0x0020, 0x000D), "UI", Some(&row.study_uid))
        .text((0x0020, 0x0010), "SH", row.study_id.as_deref())
        .int((0x0020, 0x1206), "IS", Some(row.num_series))
        .int((0x0020, 0x1208), "IS", Some(row.num_instances));
    d
}

fn series_json(row: &SeriesRow, base: &str) -> JsonDataset {
    let mut d = JsonDataset::new();
    d.text((0x0008, 0x0060), "CS", row.modality.as_deref())
        .text((0x0008, 0x103E), "LO", row.series_description.as_deref())
        .text(
            (0x0008, 0x1190),
            "UR",
            Some(&format!(
                "{base}/studies/{}/series/{}",
                row.study_uid, row.series_uid
            )),
        )
        .text((0x0020, 0x000D), "UI", Some(&row.study_uid))
        .text((0x0020, 0x000E), "UI", Some(&row.series_uid))
        .int((0x0020, 0x0011), "IS", row.series_number)
        .int((0x0020, 0x1209), "IS", Some(row.num_instances));
    d
}

fn instance_json(row: &InstanceRow, base: &str) -> JsonDataset {
    let mut d = JsonDataset::new();
    d.text((0x0008, 0x0016), "UI", Some(&row.sop_class_uid))
        .text((0x0008, 0x0018), "UI", Some(&row.sop_instance_uid))
        .text((0x0008, 0x0056), "CS", Some("ONLINE"))
        .text(
            (0x0008, 0x1190),
            "UR",
            Some(&format!(
                "{base}/studies/{}/series/{}/instances/{}",
                row.study_uid, row.series_uid, row.sop_instance_uid
            )),
        )
        .text((0x0020, 0x000D), "UI", Some(&row.study_uid))
        .text((0x0020, 0x000E), "UI", Some(&row.series_uid))
        .int((0x0020, 0x0013), "IS", row.instance_number)
        .int((0x0028, 0x0008), "IS", row.frames)
        .int((0x0028, 0x0010), "US", row.rows)
        .int((0x0028, 0x0011), "US", row.columns);
    d
}

pub(crate) type Results = Vec<(String, Json)>;

pub(crate) async fn study_results(
    pool: &AnyPool,
    base: &str,
    query: &Query,
) -> Result<Results, sqlx::Error> {
    let sql = format!(
        "SELECT {STUDY_COLUMNS} FROM dicom_study s WHERE {} ORDER BY s.id DESC {}",
        query.where_sql,
        paging(query)
    );
    let rows: Vec<StudyRow> = bind_all(sqlx::query_as(&sql), query)
        .fetch_all(pool)
        .await?;
    let extra = representative_metadata(
        pool,
        &query.include,
        Grouping::Study,
        rows.iter().map(|r| r.id),
    )
    .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let mut d = study_json(row, base);
            if let Some(meta) = extra.get(&row.id) {
                d.merge_missing(meta);
            }
            (row.study_uid.clone(), d.into_json())
        })
        .collect())
}

pub(crate) async fn series_results(
    pool: &AnyPool,
    base: &str,
    query: &Query,
) -> Result<Results, sqlx::Error> {
    let sql = format!(
        "SELECT {SERIES_COLUMNS} FROM dicom_series se JOIN dicom_study s ON s.id = se.study_id \
         WHERE {} ORDER BY s.id, COALESCE(se.series_number, 0), se.id {}",
        query.where_sql,
        paging(query)
    );
    let rows: Vec<SeriesRow> = bind_all(sqlx::query_as(&sql), query)
        .fetch_all(pool)
        .await?;
    let studies = studies_by_uid(pool, rows.iter().map(|r| r.study_uid.as_str())).await?;
    let extra = representative_metadata(
        pool,
        &query.include,
        Grouping::Series,
        rows.iter().map(|r| r.id),
    )
    .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let mut d = series_json(row, base);
            if let Some(meta) = extra.get(&row.id) {
                d.merge_missing(meta);
            }
            if let Some(study) = studies.get(&row.study_uid) {
                merge_study(&mut d, study, base);
            }
            (row.study_uid.clone(), d.into_json())
        })
        .collect())
}

pub(crate) async fn instance_results(
    pool: &AnyPool,
    base: &str,
    query: &Query,
) -> Result<Results, sqlx::Error> {
    let sql = format!(
        "SELECT {INSTANCE_COLUMNS} FROM dicom_instance i JOIN dicom_series se ON se.id = i.series_id \
         JOIN dicom_study s ON s.id = se.study_id \
         WHERE {} ORDER BY s.id, se.id, COALESCE(i.instance_number, 0), i.id {}",
        query.where_sql,
        paging(query)
    );
    let rows: Vec<InstanceRow> = bind_all(sqlx::query_as(&sql), query)
        .fetch_all(pool)
        .await?;
    let studies = studies_by_uid(pool, rows.iter().map(|r| r.study_uid.as_str())).await?;
    let metadata = match &query.include {
        Include::Required => HashMap::new(),
        include => metadata_of(pool, rows.iter().map(|r| r.id), include).await?,
    };
    let mut series_cache: BTreeMap<String, Option<SeriesRow>> = BTreeMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut d = instance_json(row, base);
        if let Some(meta) = metadata.get(&row.id) {
            d.merge_missing(meta);
        }
        if !series_cache.contains_key(&row.series_uid) {
            let series = crate::index::store::series(pool, &row.series_uid).await?;
            series_cache.insert(row.series_uid.clone(), series);
        }
        if let Some(Some(series)) = series_cache.get(&row.series_uid) {
            d.merge_missing(&json_object(series_json(series, base)));
        }
        if let Some(study) = studies.get(&row.study_uid) {
            merge_study(&mut d, study, base);
        }
        out.push((row.study_uid.clone(), d.into_json()));
    }
    Ok(out)
}

fn json_object(d: JsonDataset) -> Map<String, Json> {
    match d.into_json() {
        Json::Object(map) => map,
        _ => Map::new(),
    }
}

/// Adds a study's attributes to a series or instance result, keeping the
/// lower level's own Retrieve URL.
fn merge_study(d: &mut JsonDataset, study: &StudyRow, base: &str) {
    let mut study = json_object(study_json(study, base));
    study.remove("00081190");
    study.remove("00080056");
    d.merge_missing(&study);
}

async fn studies_by_uid<'a>(
    pool: &AnyPool,
    uids: impl Iterator<Item = &'a str>,
) -> Result<HashMap<String, StudyRow>, sqlx::Error> {
    let mut uids: Vec<&str> = uids.collect();
    uids.sort_unstable();
    uids.dedup();
    let mut out = HashMap::new();
    for chunk in uids.chunks(100) {
        let params: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {STUDY_COLUMNS} FROM dicom_study s WHERE s.study_uid IN ({})",
            params.join(", ")
        );
        let mut q = sqlx::query_as::<_, StudyRow>(&sql);
        for uid in chunk {
            q = q.bind(*uid);
        }
        for row in q.fetch_all(pool).await? {
            out.insert(row.study_uid.clone(), row);
        }
    }
    Ok(out)
}

/// The stored metadata of these instances, reduced to what `include` asks for.
async fn metadata_of(
    pool: &AnyPool,
    ids: impl Iterator<Item = i64>,
    include: &Include,
) -> Result<HashMap<i64, Map<String, Json>>, sqlx::Error> {
    let ids: Vec<i64> = ids.collect();
    let mut out = HashMap::new();
    for chunk in ids.chunks(100) {
        let params: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT instance_id, metadata FROM dicom_instance_metadata WHERE instance_id IN ({})",
            params.join(", ")
        );
        let mut q = sqlx::query_as::<_, (i64, String)>(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for (id, text) in q.fetch_all(pool).await? {
            let Ok(Json::Object(mut map)) = serde_json::from_str::<Json>(&text) else {
                continue;
            };
            if let Include::Tags(tags) = include {
                map.retain(|key, _| tags.contains(key));
            }
            out.insert(id, map);
        }
    }
    Ok(out)
}

/// A study or series result, for [`representative_metadata`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grouping {
    Study,
    Series,
}

/// What `includefield=all` returns at study level besides the index's own
/// attributes: the Patient and Study modules' attributes (PS3.3 C.7.1,
/// C.7.2), as JSON keys. Specific Character Set comes too, since a client
/// needs it to read the text.
const STUDY_LEVEL_KEYS: &[&str] = &[
    "00080005", "00080020", "00080030", "00080050", "00080051", "00080090", "00080096", "00081030",
    "00081032", "00081048", "00081049", "00081060", "00081080", "00081110", "0020000D", "00200010",
    "00321032", "00321033", "00321060", "00321064", "00401001", "00401002", "00401003",
];

/// As [`STUDY_LEVEL_KEYS`], for the General Series, General Equipment and
/// Frame of Reference modules (PS3.3 C.7.3.1, C.7.5.1, C.7.4.1).
const SERIES_LEVEL_KEYS: &[&str] = &[
    "00080021", "00080031", "00080060", "00080070", "00080080", "00080081", "00081010", "0008103E",
    "00081040", "00081050", "00081070", "00081090", "00081111", "00180015", "00181000", "00181020",
    "00181030", "00185100", "0020000E", "00200011", "00200052", "00200060", "00201040", "00400244",
    "00400245", "00400253", "00400254", "00400275",
];

impl Grouping {
    fn column(self) -> &'static str {
        match self {
            Self::Study => "se.study_id",
            Self::Series => "se.id",
        }
    }

    /// Whether `includefield=all` returns this attribute at this level.
    fn holds(self, key: &str) -> bool {
        // Group 0010 is the Patient module and its relatives.
        let patient = key.starts_with("0010");
        let study = patient || STUDY_LEVEL_KEYS.contains(&key);
        match self {
            Self::Study => study,
            Self::Series => study || SERIES_LEVEL_KEYS.contains(&key),
        }
    }
}

/// For `includefield` of attributes the index does not hold, at study or
/// series level: the requested attributes from one instance of each study or
/// series. `all` returns that instance's attributes of the level
/// ([`Grouping::holds`]), not the instance's own ones.
async fn representative_metadata(
    pool: &AnyPool,
    include: &Include,
    grouping: Grouping,
    ids: impl Iterator<Item = i64>,
) -> Result<HashMap<i64, Map<String, Json>>, sqlx::Error> {
    if *include == Include::Required {
        return Ok(HashMap::new());
    }
    let group_column = grouping.column();
    let ids: Vec<i64> = ids.collect();
    let mut representative = HashMap::new();
    for chunk in ids.chunks(100) {
        let params: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {group_column}, MIN(i.id) FROM dicom_instance i \
             JOIN dicom_series se ON se.id = i.series_id \
             WHERE {group_column} IN ({}) GROUP BY {group_column}",
            params.join(", ")
        );
        let mut q = sqlx::query_as::<_, (i64, i64)>(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for (group, instance) in q.fetch_all(pool).await? {
            representative.insert(instance, group);
        }
    }
    let metadata = metadata_of(pool, representative.keys().copied(), include).await?;
    Ok(metadata
        .into_iter()
        .filter_map(|(instance, mut meta)| {
            if *include == Include::All {
                meta.retain(|key, _| grouping.holds(key));
            }
            representative.get(&instance).map(|group| (*group, meta))
        })
        .collect())
}
