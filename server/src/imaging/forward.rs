//! Forwarding: instances stored at a member go on to another PACS (the
//! tertiary hospital's) through a durable outbox, one row per instance and
//! destination (`migrations/*/0029_server_forwarding.sql`).
//!
//! Two steps, each safe to run on several nodes at once and to be cut off
//! at any point by `kill -9`:
//!
//! 1. [`consider`]: newly stored instances (`forward_considered IS NULL`)
//!    are matched against the rules; the outbox rows they call for and
//!    the mark that they were considered are written in one transaction,
//!    so an instance is queued exactly once. A rule naming a reading route
//!    also queues a whole study when a reading request is routed by it
//!    ([`queue_for_reading`], in the request's own transaction); the
//!    outbox's unique (destination, instance) makes the two paths meet
//!    without a duplicate.
//! 2. [`deliver`]: due rows are leased (a node holds them for
//!    `forwarding_lease_seconds`), sent over C-STORE, and marked sent once their
//!    destination acknowledged them. A failure backs off (doubling from one
//!    second to an hour) and the row stays pending: nothing is dropped. A
//!    crash between the acknowledgement and the mark sends that instance
//!    again, the one case a duplicate goes out; a receiving PACS takes the
//!    same instance twice as one.

use std::collections::BTreeMap;
use std::time::Duration;

use ferry_dicom_store::dimse::scu::StoreScu;
use ferry_dicom_store::dimse::DimseTlsClient;
use ferry_dicom_store::dimse::MoveDestination;
use sqlx::FromRow;

use super::Imaging;
use crate::time::now_ms;

/// Instances considered in one transaction.
const CONSIDER_BATCH: i64 = 500;
/// Outbox rows one node takes at a time.
const DELIVER_BATCH: i64 = 200;
/// The longest wait between two attempts.
const MAX_BACKOFF_MS: i64 = 3_600_000;
/// How long a destination may take for each step.
const DESTINATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Who this node sends as: its AE title, and its TLS for destinations
/// that take only that.
#[derive(Debug, Clone)]
pub struct Sender {
    pub calling_ae: String,
    pub tls: Option<DimseTlsClient>,
}

#[derive(Debug, FromRow)]
struct Unconsidered {
    id: i64,
    facility_id: i64,
    modality: Option<String>,
    study_uid: String,
}

#[derive(Debug, FromRow)]
struct Rule {
    facility_id: Option<i64>,
    modality: Option<String>,
    reading_route_id: Option<i64>,
    destination_id: i64,
}

impl Rule {
    /// Whether an instance (of `facility_id`, `modality`, in a study with
    /// reading requests routed by `routes`) is forwarded by this rule.
    fn matches(&self, facility_id: i64, modality: Option<&str>, routes: &[i64]) -> bool {
        self.facility_id.is_none_or(|f| f == facility_id)
            && self.modality.as_deref().is_none_or(|m| modality == Some(m))
            && self.reading_route_id.is_none_or(|r| routes.contains(&r))
    }
}

/// The destinations `rules` forward `instance` to, each once, its study
/// having had reading requests routed by `routes`.
fn destinations_of(
    rules: &[Rule],
    instance: &Unconsidered,
    routes: &[i64],
) -> std::collections::BTreeSet<i64> {
    rules
        .iter()
        .filter(|r| r.matches(instance.facility_id, instance.modality.as_deref(), routes))
        .map(|r| r.destination_id)
        .collect()
}

async fn queue(
    tx: &mut crate::db::Tx,
    destination: i64,
    instance: i64,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO dicom_outbox (destination_id, instance_id, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $3) ON CONFLICT (destination_id, instance_id) DO NOTHING",
    )
    .bind(destination)
    .bind(instance)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Queues every stored instance of `study_uid` for the rules that name
/// `route_id`: a reading request was just routed by it. Runs in the
/// request's transaction, so the two are written together; instances
/// arriving later are matched by [`consider`].
pub async fn queue_for_reading(
    tx: &mut crate::db::Tx,
    study_uid: &str,
    route_id: i64,
) -> sqlx::Result<usize> {
    let rules: Vec<Rule> = sqlx::query_as(
        "SELECT facility_id, modality, reading_route_id, destination_id FROM dicom_forward_rule \
         WHERE reading_route_id = $1",
    )
    .bind(route_id)
    .fetch_all(&mut **tx)
    .await?;
    if rules.is_empty() {
        return Ok(0);
    }
    let instances: Vec<Unconsidered> = sqlx::query_as(
        "SELECT i.id, s.facility_id, se.modality, s.study_uid FROM dicom_instance i \
         JOIN dicom_series se ON se.id = i.series_id JOIN dicom_study s ON s.id = se.study_id \
         WHERE s.study_uid = $1",
    )
    .bind(study_uid)
    .fetch_all(&mut **tx)
    .await?;
    let now = now_ms();
    let mut queued = 0;
    for instance in &instances {
        for destination in destinations_of(&rules, instance, &[route_id]) {
            queue(tx, destination, instance.id, now).await?;
            queued += 1;
        }
    }
    Ok(queued)
}

/// Queues newly stored instances for the rules they match; the number
/// considered (0 when there was nothing new).
pub async fn consider(imaging: &Imaging) -> anyhow::Result<usize> {
    let pool = imaging.db.pool();
    // Read first: most rounds find nothing, and take no write lock.
    let new: Vec<Unconsidered> = sqlx::query_as(
        "SELECT i.id, s.facility_id, se.modality, s.study_uid FROM dicom_instance i \
         JOIN dicom_series se ON se.id = i.series_id JOIN dicom_study s ON s.id = se.study_id \
         WHERE i.forward_considered IS NULL ORDER BY i.id LIMIT $1",
    )
    .bind(CONSIDER_BATCH)
    .fetch_all(pool)
    .await?;
    if new.is_empty() {
        return Ok(0);
    }
    let mut tx = imaging.db.begin_write().await?;
    let rules: Vec<Rule> = sqlx::query_as(
        "SELECT facility_id, modality, reading_route_id, destination_id FROM dicom_forward_rule",
    )
    .fetch_all(&mut *tx)
    .await?;
    let routes = if rules.iter().any(|r| r.reading_route_id.is_some()) {
        routes_of(&mut tx, &new).await?
    } else {
        BTreeMap::new()
    };
    let now = now_ms();
    for instance in &new {
        let routed = routes
            .get(&instance.study_uid)
            .map_or(&[][..], Vec::as_slice);
        for destination in destinations_of(&rules, instance, routed) {
            queue(&mut tx, destination, instance.id, now).await?;
        }
    }
    // Only those read above, by id: one committed since (even with a lower
    // id, on PostgreSQL) is considered next round.
    let marks: Vec<String> = (1..=new.len()).map(|n| format!("${n}")).collect();
    let sql = format!(
        "UPDATE dicom_instance SET forward_considered = 1 WHERE id IN ({})",
        marks.join(", ")
    );
    let mut update = sqlx::query(&sql);
    for instance in &new {
        update = update.bind(instance.id);
    }
    update.execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(new.len())
}

/// The reading routes the studies of `instances` have had requests
/// routed by. The reading area owns `reading_request`, but it builds on
/// imaging, so this one read of it lives here rather than as a call back.
async fn routes_of(
    tx: &mut crate::db::Tx,
    instances: &[Unconsidered],
) -> sqlx::Result<BTreeMap<String, Vec<i64>>> {
    let studies: std::collections::BTreeSet<&str> =
        instances.iter().map(|i| i.study_uid.as_str()).collect();
    let marks: Vec<String> = (1..=studies.len()).map(|n| format!("${n}")).collect();
    let sql = format!(
        "SELECT DISTINCT study_instance_uid, route_id FROM reading_request \
         WHERE route_id IS NOT NULL AND study_instance_uid IN ({})",
        marks.join(", ")
    );
    let mut query = sqlx::query_as::<_, (String, i64)>(&sql);
    for study in &studies {
        query = query.bind(*study);
    }
    let mut out: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (study, route) in query.fetch_all(&mut **tx).await? {
        out.entry(study).or_default().push(route);
    }
    Ok(out)
}

#[derive(Debug, Clone, FromRow)]
struct Due {
    id: i64,
    attempts: i32,
    sop_class_uid: String,
    sop_instance_uid: String,
    transfer_syntax: String,
    blob_key: String,
    destination_id: i64,
    ae_title: String,
    host: String,
    port: i32,
    tls: i32,
}

/// Takes due rows for this node, sends them, and records each outcome;
/// the number sent.
pub async fn deliver(imaging: &Imaging, sender: &Sender, lease_ms: i64) -> anyhow::Result<usize> {
    let now = now_ms();
    // Read first: an idle outbox costs no write lock.
    let any: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM dicom_outbox WHERE state = 'pending' AND next_attempt_at <= $1 \
         AND (lease_until IS NULL OR lease_until < $1) LIMIT 1",
    )
    .bind(now)
    .fetch_optional(imaging.db.pool())
    .await?;
    if any.is_none() {
        return Ok(0);
    }
    let mut tx = imaging.db.begin_write().await?;
    // The outer condition is checked again on the row as it is when it is
    // locked, so two nodes racing for a row cannot both take it.
    let taken: Vec<i64> = sqlx::query_scalar(
        "UPDATE dicom_outbox SET lease_until = $1 \
         WHERE id IN (SELECT id FROM dicom_outbox WHERE state = 'pending' \
           AND next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until < $2) \
           ORDER BY id LIMIT $3) \
         AND state = 'pending' AND (lease_until IS NULL OR lease_until < $2) RETURNING id",
    )
    .bind(now + lease_ms)
    .bind(now)
    .bind(DELIVER_BATCH)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    if taken.is_empty() {
        return Ok(0);
    }
    let marks: Vec<String> = (1..=taken.len()).map(|n| format!("${n}")).collect();
    let sql = format!(
        "SELECT o.id, o.attempts, i.sop_class_uid, i.sop_instance_uid, i.transfer_syntax, \
         i.blob_key, o.destination_id, d.ae_title, d.host, d.port, d.tls \
         FROM dicom_outbox o JOIN dicom_instance i ON i.id = o.instance_id \
         JOIN dicom_destination d ON d.id = o.destination_id \
         WHERE o.id IN ({}) ORDER BY o.id",
        marks.join(", ")
    );
    let mut query = sqlx::query_as::<_, Due>(&sql);
    for id in &taken {
        query = query.bind(*id);
    }
    let due = query.fetch_all(imaging.db.pool()).await?;
    let mut by_destination: BTreeMap<i64, Vec<Due>> = BTreeMap::new();
    for row in due {
        by_destination
            .entry(row.destination_id)
            .or_default()
            .push(row);
    }
    let mut sent = 0;
    for rows in by_destination.values() {
        sent += deliver_to(imaging, sender, rows).await?;
    }
    Ok(sent)
}

/// Sends `rows` (all to one destination) over one association.
async fn deliver_to(imaging: &Imaging, sender: &Sender, rows: &[Due]) -> anyhow::Result<usize> {
    let Some(first) = rows.first() else {
        return Ok(0);
    };
    let destination = MoveDestination {
        ae_title: first.ae_title.clone(),
        host: first.host.clone(),
        port: u16::try_from(first.port).unwrap_or_default(),
        tls: first.tls != 0,
    };
    let pairs: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.sop_class_uid.clone(), r.transfer_syntax.clone()))
        .collect();
    let connecting = StoreScu::connect(
        &sender.calling_ae,
        &destination,
        &pairs,
        DESTINATION_TIMEOUT,
        sender.tls.as_ref(),
    );
    let mut scu = match connecting.await {
        Ok(scu) => scu,
        Err(error) => {
            tracing::warn!(%error, destination = %destination.ae_title, "forwarding: destination unreachable");
            retry_all_later(imaging, rows, Failure::of(&error)).await?;
            return Ok(0);
        }
    };
    // Acknowledged rows are recorded by a writer of their own, which
    // commits whatever has come in since its last commit: one commit (and
    // one fsync) per few instances rather than per instance, and none in
    // the way of the next C-STORE.
    let (acked, marks) = tokio::sync::mpsc::unbounded_channel();
    let recorder = tokio::spawn(record_sent(imaging.clone(), marks));
    let sent = send_rows(imaging, &mut scu, &destination, rows, &acked).await;
    drop(acked);
    match recorder.await {
        Ok(Ok(())) => {}
        // Unrecorded rows stay leased, and go again once the lease lapses.
        Ok(Err(error)) => tracing::warn!(%error, "forwarding: recording sent rows failed"),
        Err(error) => tracing::warn!(%error, "forwarding: the recorder stopped"),
    }
    let (sent, association_up) = sent?;
    if association_up {
        scu.release().await;
    }
    Ok(sent)
}

/// Sends `rows` over `scu`, handing each acknowledged one to `acked`; the
/// number sent, and whether the association is still up.
async fn send_rows(
    imaging: &Imaging,
    scu: &mut StoreScu,
    destination: &MoveDestination,
    rows: &[Due],
    acked: &tokio::sync::mpsc::UnboundedSender<(i64, u16)>,
) -> anyhow::Result<(usize, bool)> {
    let mut sent = 0;
    for (n, row) in rows.iter().enumerate() {
        let bytes = match imaging.store.blobs().read(&row.blob_key, 0).await {
            Ok(bytes) => bytes,
            Err(error) => {
                let failure = Failure {
                    kind: "unreadable",
                    status: None,
                    why: format!("reading the instance: {error}"),
                };
                retry_later(imaging, row, failure).await?;
                continue;
            }
        };
        let answer = scu
            .store(
                &row.sop_class_uid,
                &row.sop_instance_uid,
                &row.transfer_syntax,
                &bytes,
                None,
            )
            .await;
        match answer {
            // Success, and the warnings (coercion, elements discarded):
            // the destination holds the instance.
            Ok(status) if status == 0x0000 || (0xB000..=0xBFFF).contains(&status) => {
                // The recorder only stops when this sender is dropped.
                let _ = acked.send((row.id, status));
                sent += 1;
            }
            Ok(status) => {
                let why = format!("the destination refused it (status 0x{status:04X})");
                let failure = Failure {
                    kind: "refused",
                    status: Some(status),
                    why,
                };
                retry_later(imaging, row, failure).await?;
            }
            Err(error) if error.is_instance_failure() => {
                retry_later(imaging, row, Failure::of(&error)).await?;
            }
            Err(error) => {
                tracing::warn!(%error, destination = %destination.ae_title, "forwarding: association failed");
                retry_all_later(imaging, &rows[n..], Failure::of(&error)).await?;
                return Ok((sent, false));
            }
        }
    }
    Ok((sent, true))
}

/// Records acknowledged rows as sent until `marks` closes, each commit
/// taking every row that came in meanwhile.
async fn record_sent(
    imaging: Imaging,
    mut marks: tokio::sync::mpsc::UnboundedReceiver<(i64, u16)>,
) -> anyhow::Result<()> {
    while let Some(first) = marks.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = marks.try_recv() {
            batch.push(more);
        }
        mark_sent(&imaging, &batch).await?;
    }
    Ok(())
}

async fn mark_sent(imaging: &Imaging, rows: &[(i64, u16)]) -> anyhow::Result<()> {
    let now = now_ms();
    let mut tx = imaging.db.begin_write().await?;
    for (id, status) in rows {
        sqlx::query(
            "UPDATE dicom_outbox SET state = 'sent', sent_at = $1, lease_until = NULL, \
             last_status = $2, last_error = NULL, last_error_kind = NULL WHERE id = $3",
        )
        .bind(now)
        .bind(i32::from(*status))
        .bind(*id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The delay before attempt `attempts + 1`: one second, doubled each time,
/// at most an hour.
fn backoff_ms(attempts: i32) -> i64 {
    let doublings = u32::try_from(attempts.clamp(0, 22)).unwrap_or(0);
    (1_000i64 << doublings).min(MAX_BACKOFF_MS)
}

/// Why an attempt failed: its kind (`dicom_outbox.last_error_kind`), the
/// destination's status when it answered one, and the detail.
struct Failure {
    kind: &'static str,
    status: Option<u16>,
    why: String,
}

impl Failure {
    fn of(error: &ferry_dicom_store::dimse::scu::ScuError) -> Failure {
        Failure {
            kind: error.kind(),
            status: None,
            why: error.to_string(),
        }
    }
}

async fn retry_later(imaging: &Imaging, row: &Due, failure: Failure) -> anyhow::Result<()> {
    retry_all_later(imaging, std::slice::from_ref(row), failure).await
}

/// [`retry_later`] for several rows that failed alike (the destination
/// unreachable, the association lost), in one commit.
async fn retry_all_later(imaging: &Imaging, rows: &[Due], failure: Failure) -> anyhow::Result<()> {
    let why: String = failure.why.chars().take(500).collect();
    let now = now_ms();
    let mut tx = imaging.db.begin_write().await?;
    for row in rows {
        sqlx::query(
            "UPDATE dicom_outbox SET attempts = attempts + 1, next_attempt_at = $1, \
             lease_until = NULL, last_status = $2, last_error = $3, last_error_kind = $4 \
             WHERE id = $5",
        )
        .bind(now + backoff_ms(row.attempts))
        .bind(failure.status.map(i32::from))
        .bind(&why)
        .bind(failure.kind)
        .bind(row.id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The forwarding loop of a node: considers and delivers every
/// `period`, and at once again while there is more to do.
/// Rows of the outbox still to send, by every node, for the metrics.
pub async fn pending(pool: &sqlx::AnyPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM dicom_outbox WHERE state = 'pending'")
        .fetch_one(pool)
        .await
}

pub async fn run(imaging: Imaging, sender: Sender, period: Duration, lease: Duration) {
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        loop {
            let considered = consider(&imaging).await.unwrap_or_else(|error| {
                tracing::warn!(%error, "forwarding: considering new instances failed");
                0
            });
            let sent = deliver(&imaging, &sender, lease_ms)
                .await
                .unwrap_or_else(|error| {
                    tracing::warn!(%error, "forwarding: delivering failed");
                    0
                });
            if considered == 0 && sent == 0 {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::backoff_ms;

    #[test]
    fn retries_back_off_from_a_second_to_an_hour() {
        assert_eq!(backoff_ms(0), 1_000);
        assert_eq!(backoff_ms(1), 2_000);
        assert_eq!(backoff_ms(10), 1_024_000);
        assert_eq!(backoff_ms(12), 3_600_000);
        assert_eq!(backoff_ms(10_000), 3_600_000);
    }
}
