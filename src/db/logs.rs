//! Queries over `server_logs`: filtered pages (full-text search through the FTS5 index),
//! keyset-paged export, clearing and retention.

use super::models::LogRow;
use super::schema::server_logs::dsl;
use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text, Timestamp};
use diesel::sqlite::{Sqlite, SqliteConnection};

/// What to select; every part optional.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub server_id: String,
    /// An FTS5 MATCH expression (see [`fts_query`]).
    pub fts: Option<String>,
    /// Levels to keep (already expanded from "at or above").
    pub levels: Option<Vec<String>>,
    pub sources: Option<Vec<String>>,
    pub since: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
}

type Boxed<'a> = super::schema::server_logs::BoxedQuery<'a, Sqlite>;

fn filtered(f: &Filter) -> Boxed<'static> {
    let mut q = dsl::server_logs
        .filter(dsl::server_id.eq(f.server_id.clone()))
        .into_boxed();
    if let Some(levels) = &f.levels {
        q = q.filter(dsl::level.eq_any(levels.clone()));
    }
    if let Some(sources) = &f.sources {
        q = q.filter(dsl::source.eq_any(sources.clone()));
    }
    if let Some(s) = f.since {
        q = q.filter(dsl::timestamp.ge(s));
    }
    if let Some(u) = f.until {
        q = q.filter(dsl::timestamp.lt(u));
    }
    q
}

/// A full-text page: the FTS index drives, in rowid order from the cursor, and each hit is
/// joined to its line by primary key and filtered, so a page of a word found on a million
/// lines reads about a page of them (`id IN (SELECT rowid … MATCH)` would collect all).
fn fts_page(
    c: &mut SqliteConnection,
    f: &Filter,
    fts: &str,
    bound: Option<i64>,
    newest_first: bool,
    limit: i64,
) -> QueryResult<Vec<LogRow>> {
    let (cmp, order) = if newest_first {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    let mut sql = String::from(
        "SELECT l.id, l.server_id, l.level, l.message, l.source, l.timestamp, l.truncated, \
         l.original_level FROM server_logs_fts f CROSS JOIN server_logs l ON l.id = f.rowid \
         WHERE server_logs_fts MATCH ? AND l.server_id = ?",
    );
    if bound.is_some() {
        sql.push_str(&format!(" AND f.rowid {cmp} ?"));
    }
    let placeholders = |n: usize| vec!["?"; n].join(", ");
    if let Some(levels) = &f.levels {
        sql.push_str(&format!(" AND l.level IN ({})", placeholders(levels.len())));
    }
    if let Some(sources) = &f.sources {
        sql.push_str(&format!(
            " AND l.source IN ({})",
            placeholders(sources.len())
        ));
    }
    if f.since.is_some() {
        sql.push_str(" AND l.timestamp >= ?");
    }
    if f.until.is_some() {
        sql.push_str(" AND l.timestamp < ?");
    }
    sql.push_str(&format!(" ORDER BY f.rowid {order} LIMIT ?"));
    let mut q = diesel::sql_query(sql)
        .into_boxed::<Sqlite>()
        .bind::<Text, _>(fts.to_string())
        .bind::<Text, _>(f.server_id.clone());
    if let Some(b) = bound {
        q = q.bind::<BigInt, _>(b);
    }
    for v in f.levels.iter().flatten().chain(f.sources.iter().flatten()) {
        q = q.bind::<Text, _>(v.clone());
    }
    if let Some(s) = f.since {
        q = q.bind::<Timestamp, _>(s);
    }
    if let Some(u) = f.until {
        q = q.bind::<Timestamp, _>(u);
    }
    q.bind::<BigInt, _>(limit).load(c)
}

/// The newest matching lines older than `before` (an id), newest first, at most `limit`.
pub fn page_back(
    c: &mut SqliteConnection,
    f: &Filter,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<LogRow>> {
    if let Some(m) = &f.fts {
        return fts_page(c, f, m, before, true, limit);
    }
    let mut q = filtered(f);
    if let Some(b) = before {
        q = q.filter(sql::<Bool>("id < ").bind::<BigInt, _>(b));
    }
    q.order(dsl::id.desc())
        .limit(limit)
        .select(LogRow::as_select())
        .load(c)
}

/// Matching lines after `after` (an id), oldest first, at most `limit` (for export).
pub fn page_forward(
    c: &mut SqliteConnection,
    f: &Filter,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<LogRow>> {
    if let Some(m) = &f.fts {
        return fts_page(c, f, m, Some(after), false, limit);
    }
    filtered(f)
        .filter(sql::<Bool>("id > ").bind::<BigInt, _>(after))
        .order(dsl::id.asc())
        .limit(limit)
        .select(LogRow::as_select())
        .load(c)
}

pub fn clear(c: &mut SqliteConnection, server: &str) -> QueryResult<usize> {
    diesel::delete(dsl::server_logs.filter(dsl::server_id.eq(server))).execute(c)
}

/// Deletes lines older than `before`, server by server along `(server_id, timestamp)`.
pub fn prune_age(c: &mut SqliteConnection, before: NaiveDateTime) -> QueryResult<usize> {
    let servers: Vec<String> = super::schema::servers::table
        .select(super::schema::servers::id)
        .load(c)?;
    let mut deleted = 0;
    for s in servers {
        deleted += diesel::delete(
            dsl::server_logs
                .filter(dsl::server_id.eq(&s))
                .filter(dsl::timestamp.lt(before)),
        )
        .execute(c)?;
    }
    Ok(deleted)
}

#[derive(QueryableByName)]
struct Cut {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Keeps each server's newest lines within `max_bytes` of message text; deletes the rest.
pub fn prune_size(c: &mut SqliteConnection, max_bytes: i64) -> QueryResult<usize> {
    let servers: Vec<String> = dsl::server_logs.select(dsl::server_id).distinct().load(c)?;
    let mut deleted = 0;
    for s in servers {
        // The newest line whose running total (newest first) passes the limit: it and
        // everything older goes.
        let cut: Option<Cut> = diesel::sql_query(
            "SELECT id FROM (SELECT id, SUM(LENGTH(CAST(message AS BLOB))) \
             OVER (ORDER BY id DESC) AS acc FROM server_logs WHERE server_id = ?) \
             WHERE acc > ? ORDER BY id DESC LIMIT 1",
        )
        .bind::<Text, _>(&s)
        .bind::<BigInt, _>(max_bytes)
        .get_result(c)
        .optional()?;
        if let Some(cut) = cut {
            deleted += diesel::delete(
                dsl::server_logs
                    .filter(dsl::server_id.eq(&s))
                    .filter(sql::<Bool>("id <= ").bind::<BigInt, _>(cut.id)),
            )
            .execute(c)?;
        }
    }
    Ok(deleted)
}

/// Turns a search box into an FTS5 expression: words must all appear (`error timeout`),
/// `"quoted words"` is a phrase, `word*` a prefix. Everything is quoted, so no input can be
/// an FTS5 syntax error or reach a column filter.
pub fn fts_query(input: &str) -> Option<String> {
    let mut parts = vec![];
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '"' {
            chars.next();
            let phrase: String = chars.by_ref().take_while(|c| *c != '"').collect();
            if !phrase.trim().is_empty() {
                parts.push(format!("\"{}\"", phrase.replace('"', "\"\"")));
            }
            continue;
        }
        let mut word = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            word.push(c);
            chars.next();
        }
        let (word, prefix) = match word.strip_suffix('*') {
            Some(w) => (w.to_string(), true),
            None => (word, false),
        };
        // Words are what the tokenizer indexes; punctuation inside a word splits it.
        let tokens: Vec<&str> = word
            .split(|c: char| !c.is_alphanumeric())
            .filter(|t| !t.is_empty())
            .collect();
        if tokens.is_empty() {
            continue;
        }
        let phrase = format!("\"{}\"", tokens.join(" "));
        parts.push(if prefix { format!("{phrase}*") } else { phrase });
    }
    (!parts.is_empty()).then(|| parts.join(" AND "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_boxes_become_safe_fts_expressions() {
        assert_eq!(fts_query("timeout"), Some("\"timeout\"".into()));
        assert_eq!(
            fts_query("conn* \"broken pipe\" db"),
            Some("\"conn\"* AND \"broken pipe\" AND \"db\"".into())
        );
        assert_eq!(fts_query("error_count=0"), Some("\"error count 0\"".into()));
        assert_eq!(fts_query("  \"\" *** "), None);
        assert_eq!(
            fts_query("NEAR(a b) OR c:d"),
            Some("\"NEAR a\" AND \"b\" AND \"OR\" AND \"c d\"".into())
        );
    }
}
