//! The SQL of the index: one small function per statement or step, the same
//! text on SQLite and PostgreSQL.

use sqlx::any::AnyArguments;
use sqlx::{AnyConnection, AnyPool, Arguments};

use super::{now_ms, search_form, Engine, InstanceRow, NewInstance, SeriesRow, StudyRow};

/// What indexing one instance inside a transaction came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexOutcome {
    /// New rows were written. The value is the consortium patient the
    /// study is linked to, if it is.
    Created(Option<i64>),
    /// The same SOP instance with the same SHA-256 was already indexed; nothing
    /// was written.
    AlreadyStored,
    /// The same SOP instance with other bytes is indexed.
    DuplicateConflict,
    /// The study (or series) is held for another patient or facility; the
    /// value says what differs.
    StudyConflict(&'static str),
}

/// The columns of [`StudyRow`], for `SELECT` lists.
pub const STUDY_COLUMNS: &str = "s.id, s.study_uid, s.facility_id, s.patient_id, \
     s.dicom_patient_id, s.patient_name, s.patient_birth_date, s.patient_sex, s.study_date, \
     s.study_time, s.accession_number, s.study_description, s.referring_physician, s.study_id, \
     s.modalities, s.num_series, s.num_instances";

/// The columns of [`SeriesRow`], for `SELECT` lists over `dicom_series se JOIN dicom_study s`.
pub const SERIES_COLUMNS: &str = "se.id, se.series_uid, s.study_uid, se.modality, \
     se.series_number, se.series_description, se.num_instances";

/// The columns of [`InstanceRow`], for `SELECT` lists over
/// `dicom_instance i JOIN dicom_series se JOIN dicom_study s`.
pub const INSTANCE_COLUMNS: &str = "i.id, i.sop_instance_uid, i.sop_class_uid, \
     se.series_uid, s.study_uid, i.transfer_syntax, i.instance_number, i.rows, i.columns, \
     i.frames, i.size, i.sha256, i.blob_key";

/// What the index already holds of an instance's identity: the instance
/// (its SHA-256), its study and its series.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    /// The SHA-256 of the indexed instance with this SOP Instance UID.
    pub sha256: Option<String>,
    /// The study: id, sending facility, DICOM Patient ID.
    pub study: Option<(i64, i64, String)>,
    /// The consortium patient the study is linked to.
    pub study_patient: Option<i64>,
    /// The series: id, and the study it belongs to.
    pub series: Option<(i64, i64)>,
}

type KnownRow = (
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

/// Looks up an instance's SOP Instance, Study and Series UIDs in one
/// statement (one round trip, where ingest's latency is counted in them).
pub async fn known(
    conn: &mut AnyConnection,
    h: &crate::validate::InstanceHeader,
) -> Result<Known, sqlx::Error> {
    let (sha256, study_id, facility_id, patient_id, study_patient, series_id, series_study): KnownRow =
        sqlx::query_as(
            "SELECT i.sha256, s.id, s.facility_id, s.dicom_patient_id, s.patient_id, se.id, \
             se.study_id \
             FROM (SELECT 1 AS one) o \
             LEFT JOIN dicom_instance i ON i.sop_instance_uid = $1 \
             LEFT JOIN dicom_study s ON s.study_uid = $2 \
             LEFT JOIN dicom_series se ON se.series_uid = $3",
        )
        .bind(&h.sop_instance_uid)
        .bind(&h.study_uid)
        .bind(&h.series_uid)
        .fetch_one(&mut *conn)
        .await?;
    Ok(Known {
        sha256,
        study: match (study_id, facility_id, patient_id) {
            (Some(id), Some(facility), Some(patient)) => Some((id, facility, patient)),
            _ => None,
        },
        study_patient,
        series: series_id.zip(series_study),
    })
}

/// The rule for adding an instance to a study that is already indexed: same
/// sending facility and same Patient ID, or the instance is refused.
pub fn study_conflict(
    owner: &(i64, String),
    facility_id: i64,
    patient_id: &str,
) -> Option<&'static str> {
    if owner.0 != facility_id {
        Some("from another facility")
    } else if owner.1 != patient_id {
        Some("under another Patient ID")
    } else {
        None
    }
}

fn date(value: &Option<String>) -> Option<&str> {
    value
        .as_deref()
        .filter(|d| d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()))
}

/// A value to bind, in placeholder order: one list of values serves a
/// statement run alone and the same statement in a batch
/// ([`super::batch`]).
pub(super) enum Arg<'a> {
    Text(Option<&'a str>),
    Owned(Option<String>),
    Int(Option<i64>),
}

/// The arguments of a statement, from its values.
pub(super) fn arguments<'q>(args: &'q [Arg<'q>]) -> Result<AnyArguments<'q>, sqlx::Error> {
    let mut out = AnyArguments::default();
    for arg in args {
        match arg {
            Arg::Text(value) => out.add(*value),
            Arg::Owned(value) => out.add(value.as_deref()),
            Arg::Int(value) => out.add(*value),
        }
        .map_err(sqlx::Error::Encode)?;
    }
    Ok(out)
}

/// A new study row's `INSERT` up to its values ([`STUDY_VALUES`]).
pub(super) const STUDY_INSERT: &str = "INSERT INTO dicom_study (study_uid, facility_id, \
     patient_id, dicom_patient_id, patient_name, patient_name_search, patient_birth_date, \
     patient_sex, study_date, study_time, accession_number, study_description, \
     referring_physician, referring_physician_search, study_id, modalities, num_series, \
     num_instances, created_at, updated_at)";

/// The values of a new study row, as [`study_insert_args`] binds them.
pub(super) const STUDY_VALUES: &str =
    "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, '', 0, 0, $16, $16";

/// The values of [`STUDY_VALUES`] for the study of `new`.
pub(super) fn study_insert_args(new: &NewInstance, now: i64) -> Vec<Arg<'_>> {
    let h = &new.header;
    vec![
        Arg::Text(Some(&h.study_uid)),
        Arg::Int(Some(new.facility_id)),
        Arg::Int(new.patient_id),
        Arg::Text(Some(&h.patient_id)),
        Arg::Text(h.patient_name.as_deref()),
        Arg::Owned(h.patient_name.as_deref().map(search_form)),
        Arg::Text(date(&h.patient_birth_date)),
        Arg::Text(h.patient_sex.as_deref()),
        Arg::Text(date(&h.study_date)),
        Arg::Text(h.study_time.as_deref()),
        Arg::Text(h.accession_number.as_deref()),
        Arg::Text(h.study_description.as_deref()),
        Arg::Text(h.referring_physician.as_deref()),
        Arg::Owned(h.referring_physician.as_deref().map(search_form)),
        Arg::Text(h.study_id.as_deref()),
        Arg::Int(Some(now)),
    ]
}

/// The instance row's `INSERT` up to its values, shared by both engines'
/// statements below and by the group commit on SQLite.
macro_rules! instance_insert {
    () => {
        "INSERT INTO dicom_instance (sop_instance_uid, series_id, sop_class_uid, \
         transfer_syntax, instance_number, rows, columns, frames, size, sha256, blob_key, \
         created_at, audit_owed_by)"
    };
}

/// As [`instance_insert!`], for statements built at run time.
pub(super) const INSTANCE_INSERT: &str = instance_insert!();

/// The instance row's `INSERT`, values bound in column order.
macro_rules! insert_instance {
    () => {
        concat!(
            instance_insert!(),
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $14)"
        )
    };
}

/// Indexes one instance inside the caller's write transaction: its study and
/// series rows (created on first sight), the instance row and its metadata.
/// The instance row's trigger counts it into its series and study.
///
/// The checks are `SELECT`s judged here, so a refused instance leaves the
/// transaction usable for the other instances of a group commit.
pub async fn index_instance(
    conn: &mut AnyConnection,
    engine: Engine,
    new: &NewInstance,
) -> Result<IndexOutcome, sqlx::Error> {
    let h = &new.header;
    let now = now_ms();

    let known = known(&mut *conn, h).await?;
    if let Some(sha256) = known.sha256 {
        return Ok(if sha256 == new.sha256 {
            IndexOutcome::AlreadyStored
        } else {
            IndexOutcome::DuplicateConflict
        });
    }

    // A known series under a study that is not: in another study, and
    // refused before the study row is made.
    if known.study.is_none() && known.series.is_some() {
        return Ok(IndexOutcome::StudyConflict(
            "with this series in another study",
        ));
    }
    let (study_id, linked) = match known.study {
        Some((id, facility_id, patient_id)) => {
            if let Some(reason) =
                study_conflict(&(facility_id, patient_id), new.facility_id, &h.patient_id)
            {
                return Ok(IndexOutcome::StudyConflict(reason));
            }
            (id, known.study_patient)
        }
        None => {
            let sql = format!("{STUDY_INSERT} VALUES ({STUDY_VALUES}) RETURNING id");
            let args = study_insert_args(new, now);
            sqlx::query_scalar_with(&sql, arguments(&args)?)
                .fetch_one(&mut *conn)
                .await
                .map(|id| (id, new.patient_id))?
        }
    };

    let series_id = match known.series {
        Some((_, owner)) if owner != study_id => {
            return Ok(IndexOutcome::StudyConflict(
                "with this series in another study",
            ))
        }
        Some((id, _)) => id,
        None => {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO dicom_series (series_uid, study_id, modality, series_number, \
                 series_description, num_instances, created_at, updated_at, body_part) \
                 VALUES ($1, $2, $3, $4, $5, 0, $6, $6, $7) RETURNING id",
            )
            .bind(&h.series_uid)
            .bind(study_id)
            .bind(&h.modality)
            .bind(h.series_number)
            .bind(&h.series_description)
            .bind(now)
            .bind(&h.body_part)
            .fetch_one(&mut *conn)
            .await?;
            add_series_to_study(conn, study_id, h.modality.as_deref(), now).await?;
            id
        }
    };

    // The instance row and its metadata go in one round trip to the
    // database: on a busy ingest each statement's round trip, not its work,
    // is what the group commit waits for. PostgreSQL chains them in one
    // statement; SQLite takes two statements in one call, the second naming
    // the row the first made (`last_insert_rowid()` ignores the rows the
    // instance trigger writes).
    let sql = match engine {
        Engine::Postgres => concat!(
            "WITH i AS (",
            insert_instance!(),
            " RETURNING id) \
             INSERT INTO dicom_instance_metadata (instance_id, series_id, metadata) \
             SELECT id, $2, $13 FROM i"
        ),
        Engine::Sqlite => concat!(
            insert_instance!(),
            "; INSERT INTO dicom_instance_metadata (instance_id, series_id, metadata) \
             VALUES (last_insert_rowid(), $2, $13)"
        ),
    };
    sqlx::query(sql)
        .bind(&h.sop_instance_uid)
        .bind(series_id)
        .bind(&h.sop_class_uid)
        .bind(&h.transfer_syntax)
        .bind(h.instance_number)
        .bind(h.rows)
        .bind(h.columns)
        .bind(h.frames)
        .bind(new.size)
        .bind(&new.sha256)
        .bind(&new.blob_key)
        .bind(now)
        .bind(&new.metadata_json)
        .bind(&new.audit_owed_by)
        .execute(&mut *conn)
        .await?;
    // The trigger `dicom_instance_counted` counted the instance into its
    // series and study. Its journal row stays until a later commit clears
    // it (`CommitJob::settled`), once the blob is known to be durable too.
    Ok(IndexOutcome::Created(linked))
}

/// Counts a new series in its study and adds its modality to Modalities in
/// Study when it is not listed yet.
async fn add_series_to_study(
    conn: &mut AnyConnection,
    study_id: i64,
    modality: Option<&str>,
    now: i64,
) -> Result<(), sqlx::Error> {
    let modalities: String = sqlx::query_scalar("SELECT modalities FROM dicom_study WHERE id = $1")
        .bind(study_id)
        .fetch_one(&mut *conn)
        .await?;
    let mut list: Vec<&str> = modalities.split('\\').filter(|m| !m.is_empty()).collect();
    if let Some(m) = modality {
        if !list.contains(&m) {
            list.push(m);
        }
    }
    sqlx::query(
        "UPDATE dicom_study SET num_series = num_series + 1, modalities = $2, updated_at = $3 \
         WHERE id = $1",
    )
    .bind(study_id)
    .bind(list.join("\\"))
    .bind(now)
    .execute(&mut *conn)
    .await
    .map(drop)
}

/// One study by UID.
pub async fn study(pool: &AnyPool, study_uid: &str) -> Result<Option<StudyRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {STUDY_COLUMNS} FROM dicom_study s WHERE s.study_uid = $1"
    ))
    .bind(study_uid)
    .fetch_optional(pool)
    .await
}

/// One study by UID if `scope` lets its reader see it: the scope's
/// condition is asked in the same query, for this one study.
pub async fn study_in_scope(
    pool: &AnyPool,
    study_uid: &str,
    scope: &crate::StudyScope,
) -> Result<Option<StudyRow>, sqlx::Error> {
    let mut binds = crate::ScopeBinds::default();
    let uid = binds.push(crate::ScopeValue::Text(study_uid.to_owned()));
    let condition = binds.condition(scope).unwrap_or_else(|| "1 = 1".to_owned());
    let sql = format!(
        "SELECT {STUDY_COLUMNS} FROM dicom_study s WHERE s.study_uid = {uid} AND {condition}"
    );
    sqlx::query_as_with(&sql, binds.into_arguments()?)
        .fetch_optional(pool)
        .await
}

/// Instances whose audit event is owed, by owner and study: what
/// [`owed_audits`] finds.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OwedAudit {
    /// Who owes it ([`crate::IngestContext::audit_owed_by`]).
    pub owed_by: String,
    /// The study.
    pub study_uid: String,
    /// The sending facility.
    pub facility_id: i64,
    /// The consortium patient, when linked.
    pub patient_id: Option<i64>,
    /// How many instances.
    pub instances: i64,
}

/// The audit events owed by owners whose name starts with `prefix` (a
/// node's, `node/`), by owner and study.
pub async fn owed_audits(
    conn: &mut AnyConnection,
    prefix: &str,
) -> Result<Vec<OwedAudit>, sqlx::Error> {
    sqlx::query_as(
        "SELECT i.audit_owed_by AS owed_by, s.study_uid, s.facility_id, s.patient_id, \
         COUNT(*) AS instances FROM dicom_instance i \
         JOIN dicom_series se ON se.id = i.series_id JOIN dicom_study s ON s.id = se.study_id \
         WHERE i.audit_owed_by IS NOT NULL AND substr(i.audit_owed_by, 1, length($1)) = $1 \
         GROUP BY i.audit_owed_by, s.study_uid, s.facility_id, s.patient_id \
         ORDER BY i.audit_owed_by, s.study_uid",
    )
    .bind(prefix)
    .fetch_all(conn)
    .await
}

/// Marks the audit events `owed_by` owed for instances of `study_uid` as
/// written: called in the transaction that writes them.
pub async fn settle_owed_audit(
    conn: &mut AnyConnection,
    owed_by: &str,
    study_uid: &str,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE dicom_instance SET audit_owed_by = NULL WHERE audit_owed_by = $1 \
         AND series_id IN (SELECT se.id FROM dicom_series se JOIN dicom_study s ON s.id = se.study_id \
         WHERE s.study_uid = $2)",
    )
    .bind(owed_by)
    .bind(study_uid)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// One series by UID, with its study's UID.
pub async fn series(pool: &AnyPool, series_uid: &str) -> Result<Option<SeriesRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {SERIES_COLUMNS} FROM dicom_series se JOIN dicom_study s ON s.id = se.study_id \
         WHERE se.series_uid = $1"
    ))
    .bind(series_uid)
    .fetch_optional(pool)
    .await
}

/// One instance by SOP Instance UID, with its series' and study's UIDs.
pub async fn instance(pool: &AnyPool, sop_uid: &str) -> Result<Option<InstanceRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {INSTANCE_COLUMNS} FROM dicom_instance i \
         JOIN dicom_series se ON se.id = i.series_id JOIN dicom_study s ON s.id = se.study_id \
         WHERE i.sop_instance_uid = $1"
    ))
    .bind(sop_uid)
    .fetch_optional(pool)
    .await
}

/// The metadata of every instance of a series, in instance-number order, as
/// one DICOM JSON array; `None` when the series is not in that study.
pub async fn series_metadata(
    pool: &AnyPool,
    study_uid: &str,
    series_uid: &str,
) -> Result<Option<String>, sqlx::Error> {
    let series_id: Option<i64> = sqlx::query_scalar(
        "SELECT se.id FROM dicom_series se JOIN dicom_study s ON s.id = se.study_id \
         WHERE se.series_uid = $1 AND s.study_uid = $2",
    )
    .bind(series_uid)
    .bind(study_uid)
    .fetch_optional(pool)
    .await?;
    let Some(series_id) = series_id else {
        return Ok(None);
    };
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT m.metadata FROM dicom_instance_metadata m \
         JOIN dicom_instance i ON i.id = m.instance_id \
         WHERE m.series_id = $1 ORDER BY i.instance_number, i.id",
    )
    .bind(series_id)
    .fetch_all(pool)
    .await?;
    // Each row is already a JSON object: join the text, parse nothing.
    let mut out = String::with_capacity(rows.iter().map(|r| r.len() + 1).sum::<usize>() + 2);
    out.push('[');
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(row);
    }
    out.push(']');
    Ok(Some(out))
}

/// Links a study to a consortium patient (or unlinks it with `None`).
/// Returns whether the study exists.
pub async fn link_patient(
    pool: &AnyPool,
    study_uid: &str,
    patient_id: Option<i64>,
) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE dicom_study SET patient_id = $2, updated_at = $3 WHERE study_uid = $1")
            .bind(study_uid)
            .bind(patient_id)
            .bind(now_ms())
            .execute(pool)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// The instances of a study, or of one of its series, or one instance, in
/// series-number then instance-number order, for WADO-RS.
pub async fn instances_in(
    pool: &AnyPool,
    study_uid: &str,
    series_uid: Option<&str>,
    sop_uid: Option<&str>,
) -> Result<Vec<InstanceRow>, sqlx::Error> {
    // Conditions are added rather than `$2 IS NULL OR …`: PostgreSQL cannot
    // type a parameter that is only ever compared with NULL.
    let mut sql = format!(
        "SELECT {INSTANCE_COLUMNS} FROM dicom_instance i \
         JOIN dicom_series se ON se.id = i.series_id JOIN dicom_study s ON s.id = se.study_id \
         WHERE s.study_uid = $1"
    );
    let mut next = 2;
    if series_uid.is_some() {
        sql.push_str(&format!(" AND se.series_uid = ${next}"));
        next += 1;
    }
    if sop_uid.is_some() {
        sql.push_str(&format!(" AND i.sop_instance_uid = ${next}"));
    }
    sql.push_str(" ORDER BY se.series_number, se.id, i.instance_number, i.id");
    let mut query = sqlx::query_as(&sql).bind(study_uid);
    if let Some(series_uid) = series_uid {
        query = query.bind(series_uid);
    }
    if let Some(sop_uid) = sop_uid {
        query = query.bind(sop_uid);
    }
    query.fetch_all(pool).await
}

/// The stored metadata of the given instances (by row id), in that order.
pub async fn metadata_of(pool: &AnyPool, instance_ids: &[i64]) -> Result<Vec<String>, sqlx::Error> {
    let mut out = Vec::with_capacity(instance_ids.len());
    // One query per chunk keeps the statement small on both engines.
    for chunk in instance_ids.chunks(500) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT instance_id, metadata FROM dicom_instance_metadata WHERE instance_id IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query_as::<_, (i64, String)>(&sql);
        for id in chunk {
            query = query.bind(*id);
        }
        let mut rows: std::collections::HashMap<i64, String> =
            query.fetch_all(pool).await?.into_iter().collect();
        out.extend(chunk.iter().filter_map(|id| rows.remove(id)));
    }
    Ok(out)
}
