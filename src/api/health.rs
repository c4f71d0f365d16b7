//! Handlers for `/api/servers/{ref}/health`: the current state, history (raw and bucketed),
//! summaries per window, and a check on demand.

use super::{AppState, ok};
use crate::actors::probe::CheckNow;
use crate::actors::registry::Lookup;
use crate::actors::server::{GetHealth, HealthView};
use crate::db::health as q;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::health::{Bucket, CheckResult, CheckRow, Summary, bucketize};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

async fn health_of(state: &AppState, reference: &str) -> AppResult<HealthView> {
    let addr = state.registry.send(Lookup(reference.to_string())).await??;
    Ok(addr.send(GetHealth).await?)
}

fn range(name: &str) -> AppResult<Duration> {
    match name {
        "1h" => Ok(Duration::hours(1)),
        "24h" | "1d" => Ok(Duration::hours(24)),
        "7d" => Ok(Duration::days(7)),
        "30d" => Ok(Duration::days(30)),
        other => Err(AppError::BadRequest(format!(
            "unknown range {other:?}: use 1h, 24h, 7d or 30d (or since/until)"
        ))),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// `1h` (default), `24h`, `7d` or `30d`, ending at `until`.
    pub range: Option<String>,
    /// RFC 3339 start; overrides `range`.
    pub since: Option<DateTime<Utc>>,
    /// RFC 3339 end (default now).
    pub until: Option<DateTime<Utc>>,
    /// Return a series of this many buckets (at most 2000) instead of the checks.
    pub buckets: Option<usize>,
    /// Raw list: continue after this cursor (from `next_cursor`).
    pub cursor: Option<i32>,
    /// Raw list: at most this many checks per page (default 500, at most 5000).
    pub limit: Option<i64>,
}

impl HistoryQuery {
    fn window(&self) -> AppResult<(DateTime<Utc>, DateTime<Utc>)> {
        let until = self.until.unwrap_or_else(Utc::now);
        let since = match self.since {
            Some(s) => s,
            None => until - range(self.range.as_deref().unwrap_or("1h"))?,
        };
        if since >= until {
            return Err(AppError::BadRequest("since must be before until".into()));
        }
        Ok((since, until))
    }
}

/// A page of checks, oldest first.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CheckPage {
    pub data: Vec<CheckRow>,
    pub next_cursor: Option<i32>,
}

/// A bucketed series.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Series {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub buckets: Vec<Bucket>,
}

/// Current health: state, consecutive results, effective settings.
#[utoipa::path(get, path = "/api/servers/{ref}/health", tag = "health",
    params(("ref" = String, Path, description = "Server id or name")),
    responses((status = 200, body = HealthView), (status = 404, body = ErrorBody)))]
pub async fn current(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    Ok(ok(health_of(&state, &path).await?))
}

/// Checks in a window: raw and paginated, or bucketed with `buckets=N`.
#[utoipa::path(get, path = "/api/servers/{ref}/health/history", tag = "health",
    params(("ref" = String, Path, description = "Server id or name"), HistoryQuery),
    responses((status = 200, description = "`{data: [checks], next_cursor}` or, with buckets, `{data: Series}`", body = CheckPage),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn history(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<HistoryQuery>,
) -> AppResult<HttpResponse> {
    let id = health_of(&state, &path).await?.id;
    let (since, until) = query.window()?;
    let (s, u) = (since.naive_utc(), until.naive_utc());
    if let Some(n) = query.buckets {
        if !(1..=2000).contains(&n) {
            return Err(AppError::BadRequest(
                "buckets must be between 1 and 2000".into(),
            ));
        }
        let rows = state
            .store
            .read(move |c| q::series_rows(c, &id, s, u))
            .await?;
        return Ok(ok(Series {
            since,
            until,
            buckets: bucketize(&rows, since, until, n),
        }));
    }
    let limit = query.limit.unwrap_or(500).clamp(1, 5000);
    let cursor = query.cursor.unwrap_or(0);
    let mut rows = state
        .store
        .read(move |c| q::page(c, &id, s, u, cursor, limit + 1))
        .await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = more.then(|| rows.last().map(|r| r.id)).flatten();
    Ok(HttpResponse::Ok().json(CheckPage {
        data: rows,
        next_cursor,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    /// Also summarize this window (`1h`, `24h`, `7d`, `30d`) or `since`/`until` as `custom`.
    pub range: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// Uptime, counts, response times, last check and streak for 24h, 7d and 30d (and a custom
/// window when asked).
#[utoipa::path(get, path = "/api/servers/{ref}/health/summary", tag = "health",
    params(("ref" = String, Path, description = "Server id or name"), SummaryQuery),
    responses((status = 200, description = "Summaries by window name", body = BTreeMap<String, Summary>),
        (status = 404, body = ErrorBody)))]
pub async fn summary(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<SummaryQuery>,
) -> AppResult<HttpResponse> {
    let id = health_of(&state, &path).await?.id;
    let until = query.until.unwrap_or_else(Utc::now);
    let mut windows: Vec<(String, DateTime<Utc>)> = ["24h", "7d", "30d"]
        .iter()
        .map(|w| Ok((w.to_string(), until - range(w)?)))
        .collect::<AppResult<_>>()?;
    if let Some(since) = query.since {
        windows.push(("custom".into(), since));
    } else if let Some(r) = &query.range {
        windows.push((r.clone(), until - range(r)?));
    }
    let u = until.naive_utc();
    let result = state
        .store
        .read(move |c| {
            windows
                .into_iter()
                .map(|(name, since)| Ok((name, q::summary(c, &id, since.naive_utc(), u)?)))
                .collect::<diesel::QueryResult<BTreeMap<String, Summary>>>()
        })
        .await?;
    Ok(ok(result))
}

/// Check now, outside the schedule; the result is recorded like any other check.
#[utoipa::path(post, path = "/api/servers/{ref}/health/check", tag = "health",
    params(("ref" = String, Path, description = "Server id or name")),
    responses((status = 200, body = CheckResult), (status = 404, body = ErrorBody),
        (status = 409, description = "Not running", body = ErrorBody)))]
pub async fn check(state: web::Data<AppState>, path: web::Path<String>) -> AppResult<HttpResponse> {
    let h = health_of(&state, &path).await?;
    match state.probe.send(CheckNow(h.id)).await? {
        Some(result) => Ok(ok(result)),
        None => Err(AppError::Conflict(format!(
            "{} is {}, not running: nothing to check",
            h.name, h.status
        ))),
    }
}
