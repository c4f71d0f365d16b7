//! Handlers for `/api/servers/{ref}/logs`: recent lines (from memory when it can answer),
//! search with filters and cursors, streamed export in four formats, and clearing.

use super::{AppState, ok};
use crate::actors::registry::Lookup;
use crate::actors::server::GetView;
use crate::db::logs::{self as q, Filter};
use crate::error::{AppError, AppResult, ErrorBody};
use crate::logs::LogEntry;
use actix_web::{HttpResponse, web};
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

const LEVELS: [&str; 4] = ["debug", "info", "warn", "error"];
const SOURCES: [&str; 4] = ["stdout", "stderr", "system", "mcp"];

#[derive(Deserialize, utoipa::IntoParams, Default)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// Words (all must appear), `"a phrase"`, `prefix*`.
    pub q: Option<String>,
    /// Minimum level: `debug`, `info`, `warn` or `error` (that level and above).
    pub level: Option<String>,
    /// Comma-separated sources: `stdout`, `stderr`, `system`, `mcp`.
    pub source: Option<String>,
    /// RFC 3339 time, or an age like `15m`, `1h`, `2d`.
    pub since: Option<String>,
    /// RFC 3339 time, or an age like `15m`.
    pub until: Option<String>,
    /// Lines older than this cursor (from `next_cursor`).
    pub cursor: Option<i64>,
    /// Instead: the lines newer than this id, oldest first (catching up after a gap, e.g. a
    /// dropped event connection); page on with the last id returned. `next_cursor` is then
    /// the last id when more lines follow.
    pub after: Option<i64>,
    /// Lines per page (default 200, at most 5000).
    pub limit: Option<i64>,
    /// Export only: `json` (default), `ndjson`, `csv` or `txt`.
    pub format: Option<String>,
}

/// `1h`-style ages and RFC 3339 times.
fn parse_time(value: &str) -> AppResult<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    let (num, unit) = value.split_at(value.len().saturating_sub(1));
    let n: i64 = num.parse().map_err(|_| {
        AppError::BadRequest(format!(
            "invalid time {value:?}: use RFC 3339 or an age like 15m, 1h, 2d"
        ))
    })?;
    let age = match unit {
        "s" => Duration::seconds(n),
        "m" => Duration::minutes(n),
        "h" => Duration::hours(n),
        "d" => Duration::days(n),
        _ => {
            return Err(AppError::BadRequest(format!(
                "invalid time unit in {value:?}: use s, m, h or d"
            )));
        }
    };
    Ok(Utc::now() - age)
}

impl LogQuery {
    fn filter(&self, server_id: String) -> AppResult<Filter> {
        let levels = match self.level.as_deref() {
            None | Some("") => None,
            Some(l) => {
                let i = LEVELS.iter().position(|x| *x == l).ok_or_else(|| {
                    AppError::BadRequest(format!(
                        "unknown level {l:?}: use debug, info, warn or error"
                    ))
                })?;
                Some(LEVELS[i..].iter().map(|s| s.to_string()).collect())
            }
        };
        let sources = match self.source.as_deref() {
            None | Some("") => None,
            Some(list) => Some(
                list.split(',')
                    .map(|s| {
                        let s = s.trim();
                        SOURCES.contains(&s).then(|| s.to_string()).ok_or_else(|| {
                            AppError::BadRequest(format!(
                                "unknown source {s:?}: use stdout, stderr, system or mcp"
                            ))
                        })
                    })
                    .collect::<AppResult<Vec<_>>>()?,
            ),
        };
        Ok(Filter {
            server_id,
            fts: self.q.as_deref().and_then(q::Search::parse),
            levels,
            sources,
            since: self
                .since
                .as_deref()
                .map(parse_time)
                .transpose()?
                .map(|t| t.naive_utc()),
            until: self
                .until
                .as_deref()
                .map(parse_time)
                .transpose()?
                .map(|t| t.naive_utc()),
        })
    }

    fn is_plain_tail(&self) -> bool {
        self.q.is_none()
            && self.level.is_none()
            && self.source.is_none()
            && self.since.is_none()
            && self.until.is_none()
            && self.cursor.is_none()
            && self.after.is_none()
    }
}

/// A page of lines, oldest first; `next_cursor` fetches the older ones.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LogPage {
    pub data: Vec<LogEntry>,
    pub next_cursor: Option<i64>,
}

async fn server_id(state: &AppState, reference: &str) -> AppResult<String> {
    let addr = state.registry.send(Lookup(reference.to_string())).await??;
    Ok(addr.send(GetView).await?.id)
}

async fn page(state: &AppState, reference: &str, query: &LogQuery) -> AppResult<LogPage> {
    let id = server_id(state, reference).await?;
    let limit = query.limit.unwrap_or(200).clamp(1, 5000);
    if query.is_plain_tail()
        && let Some(lines) = state
            .logs
            .as_ref()
            .and_then(|l| l.recent(&id, limit as usize))
    {
        let next_cursor = lines.first().map(|l| l.id);
        return Ok(LogPage {
            data: lines,
            next_cursor,
        });
    }
    let filter = query.filter(id)?;
    if let Some(after) = query.after {
        if query.cursor.is_some() {
            return Err(AppError::BadRequest(
                "use either cursor (older lines) or after (newer lines), not both".into(),
            ));
        }
        let mut rows = state
            .store
            .read(move |c| q::page_forward(c, &filter, after, limit + 1))
            .await?;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let data: Vec<LogEntry> = rows.into_iter().map(LogEntry::from_row).collect();
        let next_cursor = more.then(|| data.last().map(|l| l.id)).flatten();
        return Ok(LogPage { data, next_cursor });
    }
    let cursor = query.cursor;
    let mut rows = state
        .store
        .read(move |c| q::page_back(c, &filter, cursor, limit + 1))
        .await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    rows.reverse();
    let data: Vec<LogEntry> = rows.into_iter().map(LogEntry::from_row).collect();
    let next_cursor = more.then(|| data.first().map(|l| l.id)).flatten();
    Ok(LogPage { data, next_cursor })
}

/// The newest lines (same filters as search).
#[utoipa::path(get, path = "/api/servers/{ref}/logs", tag = "logs",
    params(("ref" = String, Path, description = "Server id or name"), LogQuery),
    responses((status = 200, body = LogPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn recent(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<LogQuery>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(page(&state, &path, &query).await?))
}

/// Full-text search with level (at or above), source, time and cursor.
#[utoipa::path(get, path = "/api/servers/{ref}/logs/search", tag = "logs",
    params(("ref" = String, Path, description = "Server id or name"), LogQuery),
    responses((status = 200, body = LogPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn search(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<LogQuery>,
) -> AppResult<HttpResponse> {
    let mut query = query.into_inner();
    // A search always asks the store (the memory tail is not searchable).
    if query.after.is_none() {
        query.cursor = Some(query.cursor.unwrap_or(i64::MAX));
    }
    Ok(HttpResponse::Ok().json(page(&state, &path, &query).await?))
}

/// How many lines a clear deleted.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Deleted {
    pub deleted: u64,
}

/// Delete every stored line of the server.
#[utoipa::path(delete, path = "/api/servers/{ref}/logs", tag = "logs",
    params(("ref" = String, Path, description = "Server id or name")),
    responses((status = 200, body = Deleted), (status = 404, body = ErrorBody)))]
pub async fn clear(state: web::Data<AppState>, path: web::Path<String>) -> AppResult<HttpResponse> {
    let id = server_id(&state, &path).await?;
    if let Some(l) = &state.logs {
        l.forget(&id);
    }
    let n = state.store.write(move |c| q::clear(c, &id)).await?;
    Ok(ok(Deleted { deleted: n as u64 }))
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Json,
    Ndjson,
    Csv,
    Txt,
}

fn csv_field(s: &str) -> String {
    if s.contains(['"', ',', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn render(e: &LogEntry, f: Format, first: bool) -> String {
    match f {
        Format::Json => {
            let json = serde_json::to_string(e).unwrap_or_default();
            if first { json } else { format!(",{json}") }
        }
        Format::Ndjson => format!("{}\n", serde_json::to_string(e).unwrap_or_default()),
        Format::Csv => format!(
            "{},{},{},{},{},{},{}\r\n",
            e.id,
            e.timestamp
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            e.level,
            csv_field(e.original_level.as_deref().unwrap_or("")),
            e.source.as_deref().unwrap_or(""),
            csv_field(&e.message),
            e.truncated
        ),
        Format::Txt => format!(
            "{} {:<5} [{}] {}\n",
            e.timestamp
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            e.level.to_uppercase(),
            e.source.as_deref().unwrap_or(""),
            e.message
        ),
    }
}

/// Every matching line, oldest first, streamed page by page (no row cap, bounded memory).
#[utoipa::path(get, path = "/api/servers/{ref}/logs/export", tag = "logs",
    params(("ref" = String, Path, description = "Server id or name"), LogQuery),
    responses((status = 200, description = "The lines as JSON, NDJSON, CSV (RFC 4180) or text"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn export(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<LogQuery>,
) -> AppResult<HttpResponse> {
    let format = match query.format.as_deref().unwrap_or("json") {
        "json" => Format::Json,
        "ndjson" => Format::Ndjson,
        "csv" => Format::Csv,
        "txt" | "text" => Format::Txt,
        other => {
            return Err(AppError::BadRequest(format!(
                "unknown format {other:?}: use json, ndjson, csv or txt"
            )));
        }
    };
    let view = state
        .registry
        .send(Lookup(path.into_inner()))
        .await??
        .send(GetView)
        .await?;
    // Named after the server (names are [A-Za-z0-9._-], safe in a header), not its id.
    let name = view.name;
    let filter = query.filter(view.id)?;
    let store = state.store.clone();
    let (ctype, ext) = match format {
        Format::Json => ("application/json", "json"),
        Format::Ndjson => ("application/x-ndjson", "ndjson"),
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Txt => ("text/plain; charset=utf-8", "txt"),
    };
    let head = match format {
        Format::Json => "[".to_string(),
        Format::Csv => "id,timestamp,level,original_level,source,message,truncated\r\n".to_string(),
        _ => String::new(),
    };
    struct Cursor {
        after: i64,
        done: bool,
        first: bool,
    }
    let body = futures::stream::unfold(
        (
            Cursor {
                after: 0,
                done: false,
                first: true,
            },
            Some(head),
        ),
        move |(mut cur, head)| {
            let store = store.clone();
            let filter = filter.clone();
            async move {
                if let Some(h) = head {
                    return Some((Ok::<_, actix_web::Error>(Bytes::from(h)), (cur, None)));
                }
                if cur.done {
                    return None;
                }
                let after = cur.after;
                let rows = match store
                    .read(move |c| q::page_forward(c, &filter, after, 2000))
                    .await
                {
                    Ok(rows) => rows,
                    Err(e) => {
                        tracing::error!(error = %e, "log export failed mid-stream");
                        return None;
                    }
                };
                let mut out = String::new();
                if rows.len() < 2000 {
                    cur.done = true;
                }
                for r in rows {
                    cur.after = i64::from(r.id);
                    out.push_str(&render(&LogEntry::from_row(r), format, cur.first));
                    cur.first = false;
                }
                if cur.done && format == Format::Json {
                    out.push(']');
                }
                Some((Ok(Bytes::from(out)), (cur, None)))
            }
        },
    );
    Ok(HttpResponse::Ok()
        .content_type(ctype)
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{name}-logs.{ext}\""),
        ))
        .streaming(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn ages_and_times() {
        assert!(parse_time("2026-01-01T00:00:00Z").is_ok());
        let t = parse_time("1h").expect("age");
        assert!((Utc::now() - t - Duration::hours(1)).num_seconds().abs() < 2);
        assert!(parse_time("1y").is_err());
        assert!(parse_time("abc").is_err());
    }
}
