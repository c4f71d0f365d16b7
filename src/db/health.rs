//! Queries over `health_metrics`: windows, pages, summaries computed in SQLite (so a 30-day
//! summary does not load 30 days of rows), and pruning.

use super::schema::health_metrics::dsl;
use crate::health::{CheckRow, Streak, Summary};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Integer, Nullable, Text, Timestamp};
use diesel::sqlite::SqliteConnection;

/// Every query below names its index: planner statistics gathered while the table was small
/// would otherwise send a history question over millions of rows through a full scan.
const FROM: &str = "FROM health_metrics INDEXED BY idx_health_metrics_cover \
                    WHERE server_id = ? AND timestamp >= ? AND timestamp < ?";

#[derive(QueryableByName)]
struct FullRow {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<Integer>)]
    response_time: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    error_message: Option<String>,
    #[diesel(sql_type = Timestamp)]
    timestamp: NaiveDateTime,
}

impl From<FullRow> for CheckRow {
    fn from(r: FullRow) -> Self {
        CheckRow {
            id: r.id,
            status: r.status,
            response_time_ms: r.response_time,
            error: r.error_message,
            timestamp: DateTime::from_naive_utc_and_offset(r.timestamp, Utc),
        }
    }
}

/// Checks in `[since, until)` after `cursor` (an id), oldest first, at most `limit`.
pub fn page(
    c: &mut SqliteConnection,
    server: &str,
    since: NaiveDateTime,
    until: NaiveDateTime,
    cursor: i32,
    limit: i64,
) -> QueryResult<Vec<CheckRow>> {
    let rows: Vec<FullRow> = diesel::sql_query(format!(
        "SELECT id, status, response_time, error_message, timestamp {FROM} AND id > ? \
         ORDER BY id LIMIT ?"
    ))
    .bind::<Text, _>(server)
    .bind::<Timestamp, _>(since)
    .bind::<Timestamp, _>(until)
    .bind::<Integer, _>(cursor)
    .bind::<BigInt, _>(limit)
    .load(c)?;
    Ok(rows.into_iter().map(CheckRow::from).collect())
}

/// Every check in `[since, until)`, oldest first.
pub fn window(
    c: &mut SqliteConnection,
    server: &str,
    since: NaiveDateTime,
    until: NaiveDateTime,
) -> QueryResult<Vec<CheckRow>> {
    page(c, server, since, until, 0, i64::MAX)
}

#[derive(QueryableByName)]
struct SeriesRow {
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<Integer>)]
    response_time: Option<i32>,
    #[diesel(sql_type = Timestamp)]
    timestamp: NaiveDateTime,
}

/// The checks of `[since, until)` without their ids and errors, which is all a bucketed
/// series needs: read from the index alone.
pub fn series_rows(
    c: &mut SqliteConnection,
    server: &str,
    since: NaiveDateTime,
    until: NaiveDateTime,
) -> QueryResult<Vec<CheckRow>> {
    let rows: Vec<SeriesRow> = diesel::sql_query(format!(
        "SELECT status, response_time, timestamp {FROM} ORDER BY timestamp"
    ))
    .bind::<Text, _>(server)
    .bind::<Timestamp, _>(since)
    .bind::<Timestamp, _>(until)
    .load(c)?;
    Ok(rows
        .into_iter()
        .map(|r| CheckRow {
            id: 0,
            status: r.status,
            response_time_ms: r.response_time,
            error: None,
            timestamp: DateTime::from_naive_utc_and_offset(r.timestamp, Utc),
        })
        .collect())
}

#[derive(QueryableByName)]
struct Counts {
    #[diesel(sql_type = BigInt)]
    total: i64,
    #[diesel(sql_type = BigInt)]
    healthy: i64,
    #[diesel(sql_type = BigInt)]
    unhealthy: i64,
    #[diesel(sql_type = Nullable<Double>)]
    avg_rt: Option<f64>,
    #[diesel(sql_type = BigInt)]
    timed: i64,
}

#[derive(QueryableByName)]
struct Value {
    #[diesel(sql_type = Integer)]
    v: i32,
}

#[derive(QueryableByName)]
struct Stamp {
    #[diesel(sql_type = Timestamp)]
    t: NaiveDateTime,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The summary of `[since, until)`, computed by SQLite.
pub fn summary(
    c: &mut SqliteConnection,
    server: &str,
    since: NaiveDateTime,
    until: NaiveDateTime,
) -> QueryResult<Summary> {
    let counts: Counts = diesel::sql_query(format!(
        "SELECT COUNT(*) AS total, \
         COALESCE(SUM(status = 'healthy'), 0) AS healthy, \
         COALESCE(SUM(status = 'unhealthy'), 0) AS unhealthy, \
         AVG(response_time) AS avg_rt, COUNT(response_time) AS timed {FROM}"
    ))
    .bind::<Text, _>(server)
    .bind::<Timestamp, _>(since)
    .bind::<Timestamp, _>(until)
    .get_result(c)?;
    let p95 = if counts.timed > 0 {
        // nearest rank: the ceil(0.95 n)-th smallest
        let rank = ((0.95 * counts.timed as f64).ceil() as i64).clamp(1, counts.timed);
        diesel::sql_query(format!(
            "SELECT response_time AS v {FROM} AND response_time IS NOT NULL \
             ORDER BY response_time LIMIT 1 OFFSET ?"
        ))
        .bind::<Text, _>(server)
        .bind::<Timestamp, _>(since)
        .bind::<Timestamp, _>(until)
        .bind::<BigInt, _>(rank - 1)
        .get_result::<Value>(c)
        .optional()?
        .map(|v| v.v)
    } else {
        None
    };
    let last: Option<CheckRow> = diesel::sql_query(format!(
        "SELECT id, status, response_time, error_message, timestamp {FROM} \
         ORDER BY timestamp DESC, id DESC LIMIT 1"
    ))
    .bind::<Text, _>(server)
    .bind::<Timestamp, _>(since)
    .bind::<Timestamp, _>(until)
    .get_result::<FullRow>(c)
    .optional()?
    .map(CheckRow::from);
    let streak = match &last {
        Some(l) => {
            // The streak is every check after the newest one of another status: two index
            // walks from the end instead of loading the window's statuses.
            let broke: Option<Stamp> = diesel::sql_query(format!(
                "SELECT timestamp AS t {FROM} AND status <> ? ORDER BY timestamp DESC LIMIT 1"
            ))
            .bind::<Text, _>(server)
            .bind::<Timestamp, _>(since)
            .bind::<Timestamp, _>(until)
            .bind::<Text, _>(&l.status)
            .get_result(c)
            .optional()?;
            let from = broke.map(|b| b.t);
            let n: Count =
                diesel::sql_query(format!("SELECT COUNT(*) AS n {FROM} AND timestamp > ?"))
                    .bind::<Text, _>(server)
                    .bind::<Timestamp, _>(since)
                    .bind::<Timestamp, _>(until)
                    .bind::<Timestamp, _>(from.unwrap_or(since - chrono::Duration::seconds(1)))
                    .get_result(c)?;
            Some(Streak {
                status: l.status.clone(),
                checks: u64::try_from(n.n).unwrap_or(0),
            })
        }
        None => None,
    };
    let total = u64::try_from(counts.total).unwrap_or(0);
    let healthy = u64::try_from(counts.healthy).unwrap_or(0);
    Ok(Summary {
        uptime_percent: (total > 0).then(|| healthy as f64 * 100.0 / total as f64),
        total_checks: total,
        healthy_checks: healthy,
        unhealthy_checks: u64::try_from(counts.unhealthy).unwrap_or(0),
        avg_response_time_ms: counts.avg_rt,
        p95_response_time_ms: p95,
        last_check: last,
        current_streak: streak,
    })
}

/// Deletes checks older than `before`; returns how many.
pub fn prune(c: &mut SqliteConnection, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(dsl::health_metrics.filter(dsl::timestamp.lt(before))).execute(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::models::NewHealthRow;
    use crate::health::summarize;

    #[test]
    fn sql_summary_matches_the_reference_on_a_known_series() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut c = crate::db::open_connection(&dir.path().join("h.db")).expect("open");
        crate::db::migrate(&mut c).expect("migrate");
        diesel::sql_query("INSERT INTO servers (id, name, type) VALUES ('s', 's', 'process')")
            .execute(&mut c)
            .expect("server");
        let t0 = Utc::now().naive_utc() - chrono::Duration::days(10);
        // 10 days of 30 s checks: every 7th unhealthy without a time, every 13th slow.
        let rows: Vec<NewHealthRow> = (0..28_800)
            .map(|i: i32| NewHealthRow {
                server_id: "s".into(),
                status: if i % 7 == 0 { "unhealthy" } else { "healthy" }.into(),
                response_time: (i % 7 != 0).then_some(if i % 13 == 0 { 500 } else { i % 50 }),
                error_message: None,
                timestamp: t0 + chrono::Duration::seconds(i64::from(i) * 30),
            })
            .collect();
        for chunk in rows.chunks(5000) {
            diesel::insert_into(dsl::health_metrics)
                .values(chunk)
                .execute(&mut c)
                .expect("insert");
        }
        let now = Utc::now().naive_utc();
        for days in [1, 7, 30] {
            let since = now - chrono::Duration::days(days);
            let sql = summary(&mut c, "s", since, now).expect("summary");
            let reference = summarize(&window(&mut c, "s", since, now).expect("window"));
            assert_eq!(sql.total_checks, reference.total_checks, "{days}d");
            assert_eq!(sql.healthy_checks, reference.healthy_checks);
            assert_eq!(sql.unhealthy_checks, reference.unhealthy_checks);
            assert_eq!(sql.p95_response_time_ms, reference.p95_response_time_ms);
            assert_eq!(sql.current_streak, reference.current_streak);
            assert_eq!(sql.last_check, reference.last_check);
            let (a, b) = (
                sql.avg_response_time_ms.unwrap_or(-1.0),
                reference.avg_response_time_ms.unwrap_or(-2.0),
            );
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
        let cutoff = now - chrono::Duration::days(5);
        let older = window(&mut c, "s", t0, cutoff).expect("older").len();
        assert!(older > 14_000);
        assert_eq!(prune(&mut c, cutoff).expect("prune"), older);
        assert_eq!(window(&mut c, "s", t0, cutoff).expect("after").len(), 0);
    }
}
