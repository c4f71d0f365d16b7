//! Queries over `server_logs`: filtered pages (full-text search through the FTS5 index of
//! line chunks, each candidate line then checked against the search), keyset-paged export,
//! clearing and retention (which drop the chunks whose lines are all gone).

use super::models::LogRow;
use super::schema::server_logs::dsl;
use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel::sqlite::{Sqlite, SqliteConnection};

/// What to select; every part optional.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub server_id: String,
    /// A full-text search (see [`Search::parse`]).
    pub fts: Option<Search>,
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

#[derive(QueryableByName)]
struct Chunk {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    last_id: i64,
}

/// How far a chunk's last line may be from its first: a chunk lies within one written batch
/// (at most `logs::BATCH` lines plus a drop note per server), so this is generous.
const MAX_CHUNK_SPAN: i64 = 1 << 20;
/// Candidate chunks fetched from the index per round.
const CHUNKS_PER_ROUND: i64 = 64;

/// A full-text page. The index finds candidate chunks in id order from the cursor; each
/// chunk's lines are read by `(server_id, id)` with the other filters and checked against
/// the search one by one, until the page is full. A word on a million lines therefore
/// costs about a page of lines, and the answer is exact lines, as if lines were indexed.
fn fts_page(
    c: &mut SqliteConnection,
    f: &Filter,
    search: &Search,
    bound: Option<i64>,
    newest_first: bool,
    limit: i64,
) -> QueryResult<Vec<LogRow>> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut out: Vec<LogRow> = Vec::new();
    // Chunks not yet looked at lie beyond `next` (below it newest first, above it oldest
    // first); `bound` is the line cursor itself.
    let mut next = match (newest_first, bound) {
        (true, b) => b.unwrap_or(i64::MAX),
        (false, b) => b.unwrap_or(0).saturating_sub(MAX_CHUNK_SPAN),
    };
    loop {
        let chunks: Vec<Chunk> = if newest_first {
            diesel::sql_query(
                "SELECT k.id, k.last_id FROM log_chunks_fts f CROSS JOIN log_chunks k ON k.id = f.rowid \
                 WHERE log_chunks_fts MATCH ? AND f.rowid < ? AND k.server_id = ? \
                 ORDER BY f.rowid DESC LIMIT ?",
            )
            .bind::<Text, _>(&search.fts)
            .bind::<BigInt, _>(next)
            .bind::<Text, _>(&f.server_id)
            .bind::<BigInt, _>(CHUNKS_PER_ROUND)
            .load(c)?
        } else {
            diesel::sql_query(
                "SELECT k.id, k.last_id FROM log_chunks_fts f CROSS JOIN log_chunks k ON k.id = f.rowid \
                 WHERE log_chunks_fts MATCH ? AND f.rowid > ? AND k.server_id = ? AND k.last_id > ? \
                 ORDER BY f.rowid ASC LIMIT ?",
            )
            .bind::<Text, _>(&search.fts)
            .bind::<BigInt, _>(next)
            .bind::<Text, _>(&f.server_id)
            .bind::<BigInt, _>(bound.unwrap_or(0))
            .bind::<BigInt, _>(CHUNKS_PER_ROUND)
            .load(c)?
        };
        let Some(last) = chunks.last() else {
            return Ok(out);
        };
        next = last.id;
        for chunk in &chunks {
            let mut q = filtered(f)
                .filter(sql::<Bool>("id >= ").bind::<BigInt, _>(chunk.id))
                .filter(sql::<Bool>("id <= ").bind::<BigInt, _>(chunk.last_id));
            q = match (newest_first, bound) {
                (true, Some(b)) => q.filter(sql::<Bool>("id < ").bind::<BigInt, _>(b)),
                (false, Some(a)) => q.filter(sql::<Bool>("id > ").bind::<BigInt, _>(a)),
                _ => q,
            };
            let q = if newest_first {
                q.order(dsl::id.desc())
            } else {
                q.order(dsl::id.asc())
            };
            for row in q.select(LogRow::as_select()).load(c)? {
                if search.matches(&row.message) {
                    out.push(row);
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
        }
    }
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
    let n = diesel::delete(dsl::server_logs.filter(dsl::server_id.eq(server))).execute(c)?;
    drop_stale_chunks(c, server)?;
    Ok(n)
}

/// Forgets the search chunks of a server whose lines are all gone (the index entries go
/// with them, by trigger). A chunk with some lines left stays: searches check lines.
fn drop_stale_chunks(c: &mut SqliteConnection, server: &str) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM log_chunks WHERE server_id = ? AND last_id < \
         COALESCE((SELECT MIN(id) FROM server_logs WHERE server_id = ?), 9223372036854775807)",
    )
    .bind::<Text, _>(server)
    .bind::<Text, _>(server)
    .execute(c)
}

/// Deletes lines older than `before`, server by server along `(server_id, timestamp)`.
pub fn prune_age(c: &mut SqliteConnection, before: NaiveDateTime) -> QueryResult<usize> {
    let servers: Vec<String> = super::schema::servers::table
        .select(super::schema::servers::id)
        .load(c)?;
    let mut deleted = 0;
    for s in servers {
        let n = diesel::delete(
            dsl::server_logs
                .filter(dsl::server_id.eq(&s))
                .filter(dsl::timestamp.lt(before)),
        )
        .execute(c)?;
        if n > 0 {
            drop_stale_chunks(c, &s)?;
        }
        deleted += n;
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
            drop_stale_chunks(c, &s)?;
        }
    }
    Ok(deleted)
}

/// Turns a search box into an FTS5 expression: words must all appear (`error timeout`),
/// `"quoted words"` is a phrase, `word*` a prefix. Only tokens (letters and digits) reach
/// the expression, each phrase quoted, so no input can be an FTS5 syntax error or reach a
/// column filter.
pub fn fts_query(input: &str) -> Option<String> {
    Search::parse(input).map(|s| s.fts)
}

/// A parsed search box: the FTS5 expression that finds candidate chunks, and the terms a
/// line must contain, checked the way the index tokenizes (`unicode61`: runs of letters
/// and digits, case folded, accents kept).
#[derive(Debug, Clone)]
pub struct Search {
    pub fts: String,
    terms: Vec<Term>,
}

/// Consecutive tokens (a word is a phrase of one); the last may be a prefix.
#[derive(Debug, Clone)]
struct Term {
    tokens: Vec<String>,
    prefix: bool,
}

fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

impl Search {
    pub fn parse(input: &str) -> Option<Search> {
        let mut terms = vec![];
        let mut chars = input.chars().peekable();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                chars.next();
                continue;
            }
            if c == '"' {
                chars.next();
                let phrase: String = chars.by_ref().take_while(|c| *c != '"').collect();
                terms.push(Term {
                    tokens: tokens(&phrase),
                    prefix: false,
                });
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
            // Punctuation inside a word splits it, as the tokenizer does: a phrase.
            let (word, prefix) = match word.strip_suffix('*') {
                Some(w) => (w.to_string(), true),
                None => (word, false),
            };
            terms.push(Term {
                tokens: tokens(&word),
                prefix,
            });
        }
        terms.retain(|t| !t.tokens.is_empty());
        if terms.is_empty() {
            return None;
        }
        let fts = terms
            .iter()
            .map(|t| {
                format!(
                    "\"{}\"{}",
                    t.tokens.join(" "),
                    if t.prefix { "*" } else { "" }
                )
            })
            .collect::<Vec<_>>()
            .join(" AND ");
        Some(Search { fts, terms })
    }

    /// Whether one line holds every term.
    pub fn matches(&self, message: &str) -> bool {
        let line = tokens(message);
        self.terms.iter().all(|t| {
            let n = t.tokens.len();
            line.windows(n).any(|w| {
                w.iter()
                    .zip(&t.tokens)
                    .enumerate()
                    .all(|(i, (have, want))| {
                        if t.prefix && i == n - 1 {
                            have.starts_with(want.as_str())
                        } else {
                            have == want
                        }
                    })
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_matches_the_way_the_index_tokenizes() {
        let s = Search::parse("conn* \"broken pipe\" DB").expect("search");
        assert!(s.matches("ERROR db: connection reset: Broken pipe"));
        assert!(s.matches("db_pool conn=3 broken-pipe"));
        assert!(!s.matches("db connection: pipe broken"), "not a phrase");
        assert!(!s.matches("connection broken pipe"), "no db");
        let ids = Search::parse("request_id=42").expect("search");
        assert!(ids.matches("handled request_id=42 in 3 ms"));
        assert!(!ids.matches("handled request_id=421 in 3 ms"));
        assert!(Search::parse("  \"\" * ").is_none());
    }

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
            Some("\"near a\" AND \"b\" AND \"or\" AND \"c d\"".into())
        );
    }
}
