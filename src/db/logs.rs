//! The log store: lines kept in blocks (`log_blocks`, see migration `000006_log_blocks`),
//! one row per run of up to [`BLOCK`] consecutive lines of one server, with the lines as a
//! JSON array and summary columns (id range, time range, levels, sources, size) that let a
//! query skip a block without decoding it. Each block's `terms` filter (see [`super::terms`])
//! holds its words; a search tests it on the covering index and checks each line of the
//! blocks that pass.
//!
//! Here: writing blocks, filtered pages (newest first, or oldest first for export),
//! clearing and retention (which trim the block on the boundary, so exactly the right lines
//! go). Everything runs on a connection the caller provides: the writer for changes, a
//! pooled reader for queries.

use super::models::LogRow;
use chrono::{DateTime, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Text};
use diesel::sqlite::SqliteConnection;
use serde::Deserialize;

/// Lines per block at most (the migration's 64: `last_id - id < BLOCK`).
pub const BLOCK: usize = 64;
/// Blocks read per round while a page fills.
const BLOCKS_PER_ROUND: i64 = 16;

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

/// A block's bit for a level (the `levels` column).
fn level_bit(level: &str) -> i64 {
    match level {
        "debug" => 1,
        "info" => 2,
        "warn" => 4,
        "error" => 8,
        _ => 16,
    }
}

/// A block's bit for a source (the `sources` column).
fn source_bit(source: Option<&str>) -> i64 {
    match source {
        Some("stdout") => 1,
        Some("stderr") => 2,
        Some("system") => 4,
        Some("mcp") => 8,
        _ => 16,
    }
}

fn micros(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

/// A filter in the terms of the block columns, plus the per-line check.
struct Compiled<'a> {
    f: &'a Filter,
    levels: i64,
    sources: i64,
    since: i64,
    until: i64,
}

impl<'a> Compiled<'a> {
    fn new(f: &'a Filter) -> Compiled<'a> {
        let mask = |list: &Option<Vec<String>>, bit: &dyn Fn(&str) -> i64| {
            list.as_ref()
                .map_or(31, |l| l.iter().fold(0, |m, s| m | bit(s)))
        };
        Compiled {
            f,
            levels: mask(&f.levels, &level_bit),
            sources: mask(&f.sources, &|s| source_bit(Some(s))),
            since: f.since.map_or(i64::MIN, micros),
            until: f.until.map_or(i64::MAX, micros),
        }
    }

    fn may_match(&self, block: &BlockRow) -> bool {
        self.f
            .fts
            .as_ref()
            .is_none_or(|s| s.may_match(&block.lines))
    }

    fn keeps(&self, l: &Stored) -> bool {
        self.f.levels.as_ref().is_none_or(|v| v.contains(&l.2))
            && self
                .f
                .sources
                .as_ref()
                .is_none_or(|v| l.3.as_ref().is_some_and(|s| v.contains(s)))
            && l.1 >= self.since
            && l.1 < self.until
            && self.f.fts.as_ref().is_none_or(|s| s.matches(&l.6))
    }
}

/// A line as a block stores it: `[id, timestamp µs, level, source, truncated, original
/// level, message]`.
#[derive(Debug, Deserialize)]
struct Stored(i64, i64, String, Option<String>, u8, Option<String>, String);

impl Stored {
    fn into_row(self, server_id: &str) -> LogRow {
        LogRow {
            id: i32::try_from(self.0).unwrap_or(i32::MAX),
            server_id: server_id.to_string(),
            level: self.2,
            message: self.6,
            source: self.3,
            timestamp: DateTime::from_timestamp_micros(self.1)
                .unwrap_or_default()
                .naive_utc(),
            truncated: self.4 != 0,
            original_level: self.5,
        }
    }
}

#[derive(QueryableByName)]
struct BlockRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    lines: String,
}

fn decode(block: &BlockRow) -> QueryResult<Vec<Stored>> {
    serde_json::from_str(&block.lines).map_err(|e| {
        diesel::result::Error::DeserializationError(format!("log block {}: {e}", block.id).into())
    })
}

/// A line on its way into a block.
pub struct NewLine<'a> {
    pub server_id: &'a str,
    pub level: &'a str,
    pub source: &'a str,
    /// µs since the epoch, UTC.
    pub timestamp: i64,
    pub truncated: bool,
    pub original_level: Option<&'a str>,
    pub message: &'a str,
}

/// A block ready to be written: encoded, numbered and its words extracted, so that the
/// store's writer only inserts it (the work that needs no connection is done by the caller,
/// on another thread).
#[derive(Debug)]
pub struct PreparedBlock {
    pub id: i64,
    pub server_id: String,
    pub last_id: i64,
    first_ts: i64,
    last_ts: i64,
    levels: i64,
    sources: i64,
    pub count: i64,
    bytes: i64,
    lines: String,
    terms: Vec<u8>,
}

/// The next line id to hand out (see `log_ids`).
pub fn next_id(c: &mut SqliteConnection) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Next {
        #[diesel(sql_type = BigInt)]
        next: i64,
    }
    Ok(diesel::sql_query("SELECT next FROM log_ids WHERE id = 1")
        .get_result::<Next>(c)?
        .next)
}

/// Cuts lines into blocks, each server's lines in order, numbering them from `next` (which
/// it advances); returns the blocks and, for each block, the indexes of its lines in `lines`.
pub fn prepare(lines: &[NewLine], next: &mut i64) -> (Vec<PreparedBlock>, Vec<Vec<usize>>) {
    let mut by_server: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        // The lines of one pipe share one id string: compare addresses before bytes.
        let same = |s: &&str| {
            std::ptr::eq(s.as_ptr(), line.server_id.as_ptr()) && s.len() == line.server_id.len()
                || *s == line.server_id
        };
        match by_server.iter_mut().find(|(s, _)| same(s)) {
            Some((_, idx)) => idx.push(i),
            None => by_server.push((line.server_id, vec![i])),
        }
    }
    let (mut blocks, mut members) = (Vec::new(), Vec::new());
    let mut terms = super::terms::TermsBuilder::default();
    for (server, idx) in &by_server {
        for chunk in idx.chunks(BLOCK) {
            let first = *next;
            *next += chunk.len() as i64;
            let mut json = Vec::with_capacity(chunk.len() * 256);
            json.push(b'[');
            let (mut levels, mut sources, mut bytes) = (0i64, 0i64, 0i64);
            let (mut first_ts, mut last_ts) = (i64::MAX, i64::MIN);
            for (k, &i) in chunk.iter().enumerate() {
                let l = &lines[i];
                if k > 0 {
                    json.push(b',');
                }
                let row = (
                    first + k as i64,
                    l.timestamp,
                    l.level,
                    l.source,
                    u8::from(l.truncated),
                    l.original_level,
                    l.message,
                );
                // Writing plain values into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut json, &row);
                levels |= level_bit(l.level);
                sources |= source_bit(Some(l.source));
                bytes += l.message.len() as i64;
                first_ts = first_ts.min(l.timestamp);
                last_ts = last_ts.max(l.timestamp);
                terms.add(l.message);
            }
            json.push(b']');
            blocks.push(PreparedBlock {
                id: first,
                server_id: server.to_string(),
                last_id: *next - 1,
                first_ts,
                last_ts,
                levels,
                sources,
                count: chunk.len() as i64,
                bytes,
                // serde_json writes UTF-8.
                lines: String::from_utf8(json).unwrap_or_default(),
                terms: terms.finish(),
            });
            members.push(chunk.to_vec());
        }
    }
    (blocks, members)
}

/// Writes prepared blocks and moves `log_ids` past them; returns which were stored (a
/// block of a server deleted meanwhile fails its foreign key and is skipped, the others
/// are kept).
pub fn insert_blocks(c: &mut SqliteConnection, blocks: &[PreparedBlock]) -> QueryResult<Vec<bool>> {
    let mut stored = Vec::with_capacity(blocks.len());
    for b in blocks {
        let ok = diesel::sql_query(
            "INSERT INTO log_blocks (id, server_id, last_id, first_ts, last_ts, levels, \
             sources, count, bytes, terms, lines) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind::<BigInt, _>(b.id)
        .bind::<Text, _>(&b.server_id)
        .bind::<BigInt, _>(b.last_id)
        .bind::<BigInt, _>(b.first_ts)
        .bind::<BigInt, _>(b.last_ts)
        .bind::<BigInt, _>(b.levels)
        .bind::<BigInt, _>(b.sources)
        .bind::<BigInt, _>(b.count)
        .bind::<BigInt, _>(b.bytes)
        .bind::<Binary, _>(&b.terms)
        .bind::<Text, _>(&b.lines)
        .execute(c)
        .is_ok();
        stored.push(ok);
    }
    if let Some(last) = blocks.iter().map(|b| b.last_id).max() {
        diesel::sql_query("UPDATE log_ids SET next = MAX(next, ?) WHERE id = 1")
            .bind::<BigInt, _>(last + 1)
            .execute(c)?;
    }
    Ok(stored)
}

/// Writes lines as blocks, each server's lines in order, and returns each line's id (in
/// the order given), or `None` for lines of a server that no longer exists. Ids are
/// consecutive within a block and never reused (`log_ids`).
pub fn insert(c: &mut SqliteConnection, lines: &[NewLine]) -> QueryResult<Vec<Option<i64>>> {
    let mut next = next_id(c)?;
    let (blocks, members) = prepare(lines, &mut next);
    let stored = insert_blocks(c, &blocks)?;
    let mut ids = vec![None; lines.len()];
    for ((b, idx), ok) in blocks.iter().zip(&members).zip(stored) {
        if ok {
            for (k, &i) in idx.iter().enumerate() {
                ids[i] = Some(b.id + k as i64);
            }
        }
    }
    Ok(ids)
}

/// Blocks of a server, newest first below `before` or oldest first from `from`, that may
/// hold lines the filter keeps; with a search, only the index's candidates.
fn blocks(
    c: &mut SqliteConnection,
    k: &Compiled,
    newest_first: bool,
    from: i64,
    after_line: i64,
) -> QueryResult<Vec<BlockRow>> {
    let summary = "b.server_id = ? AND (b.levels & ?) != 0 AND (b.sources & ?) != 0 \
                   AND b.last_ts >= ? AND b.first_ts < ?";
    let (source, order) = if newest_first {
        ("b.id < ?", "b.id DESC")
    } else {
        ("b.id > ? AND b.last_id > ?", "b.id ASC")
    };
    // The filter test runs on the covering index: a block's lines (overflow pages) are read
    // only for the blocks that pass it.
    let probe = k.f.fts.as_ref().filter(|s| !s.probe.is_empty());
    let terms = if probe.is_some() {
        " AND log_terms_match(b.terms, ?)"
    } else {
        ""
    };
    let sql = format!(
        "SELECT b.id, b.lines FROM log_blocks b INDEXED BY idx_log_blocks_scan \
         WHERE {summary} AND {source}{terms} ORDER BY {order} LIMIT ?"
    );
    let mut q = diesel::sql_query(sql)
        .into_boxed()
        .bind::<Text, _>(k.f.server_id.clone())
        .bind::<BigInt, _>(k.levels)
        .bind::<BigInt, _>(k.sources)
        .bind::<BigInt, _>(k.since)
        .bind::<BigInt, _>(k.until)
        .bind::<BigInt, _>(from);
    if !newest_first {
        q = q.bind::<BigInt, _>(after_line);
    }
    if let Some(s) = probe {
        q = q.bind::<Binary, _>(s.probe.encode());
    }
    q.bind::<BigInt, _>(BLOCKS_PER_ROUND).load(c)
}

/// The newest matching lines older than `before` (an id), newest first, at most `limit`.
pub fn page_back(
    c: &mut SqliteConnection,
    f: &Filter,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<LogRow>> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let before = before.unwrap_or(i64::MAX);
    let k = Compiled::new(f);
    let mut out = Vec::new();
    let mut next = before;
    loop {
        let found = blocks(c, &k, true, next, 0)?;
        let Some(last) = found.last() else {
            return Ok(out);
        };
        next = last.id;
        for block in &found {
            if !k.may_match(block) {
                continue;
            }
            for line in decode(block)?.into_iter().rev() {
                if line.0 < before && k.keeps(&line) {
                    out.push(line.into_row(&f.server_id));
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
        }
    }
}

/// Matching lines after `after` (an id), oldest first, at most `limit` (for export).
pub fn page_forward(
    c: &mut SqliteConnection,
    f: &Filter,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<LogRow>> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let k = Compiled::new(f);
    let mut out = Vec::new();
    // A block holding lines after `after` starts less than BLOCK ids before it.
    let mut next = after.saturating_sub(BLOCK as i64);
    loop {
        let found = blocks(c, &k, false, next, after)?;
        let Some(last) = found.last() else {
            return Ok(out);
        };
        next = last.id;
        for block in &found {
            if !k.may_match(block) {
                continue;
            }
            for line in decode(block)? {
                if line.0 > after && k.keeps(&line) {
                    out.push(line.into_row(&f.server_id));
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
        }
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Deletes every line of a server; returns how many there were.
pub fn clear(c: &mut SqliteConnection, server: &str) -> QueryResult<usize> {
    let n = diesel::sql_query(
        "SELECT COALESCE(SUM(count), 0) AS n FROM log_blocks WHERE server_id = ?",
    )
    .bind::<Text, _>(server)
    .get_result::<Count>(c)?
    .n;
    diesel::sql_query("DELETE FROM log_blocks WHERE server_id = ?")
        .bind::<Text, _>(server)
        .execute(c)?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Replaces a block's lines by `kept` (a subset, in order), or deletes it when none are
/// left; its summary and index entry follow.
fn rewrite(c: &mut SqliteConnection, id: i64, kept: &[Stored]) -> QueryResult<()> {
    let Some(newest) = kept.last() else {
        diesel::sql_query("DELETE FROM log_blocks WHERE id = ?")
            .bind::<BigInt, _>(id)
            .execute(c)?;
        return Ok(());
    };
    let rows: Vec<_> = kept
        .iter()
        .map(|l| (l.0, l.1, &l.2, &l.3, l.4, &l.5, &l.6))
        .collect();
    let lines = serde_json::to_string(&rows)
        .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
    diesel::sql_query(
        "UPDATE log_blocks SET last_id = ?, first_ts = ?, last_ts = ?, levels = ?, sources = ?, \
         count = ?, bytes = ?, terms = ?, lines = ? WHERE id = ?",
    )
    .bind::<BigInt, _>(newest.0)
    .bind::<BigInt, _>(kept.iter().map(|l| l.1).min().unwrap_or(newest.1))
    .bind::<BigInt, _>(kept.iter().map(|l| l.1).max().unwrap_or(newest.1))
    .bind::<BigInt, _>(kept.iter().fold(0, |m, l| m | level_bit(&l.2)))
    .bind::<BigInt, _>(kept.iter().fold(0, |m, l| m | source_bit(l.3.as_deref())))
    .bind::<BigInt, _>(kept.len() as i64)
    .bind::<BigInt, _>(kept.iter().map(|l| l.6.len() as i64).sum::<i64>())
    .bind::<Binary, _>(super::terms::filter_of(kept.iter().map(|l| l.6.as_str())))
    .bind::<Text, _>(lines)
    .bind::<BigInt, _>(id)
    .execute(c)?;
    Ok(())
}

/// Filters for up to `limit` blocks written before blocks had them (migration 000007), as
/// `(id, filter)`; empty when every block has one.
pub fn missing_terms(c: &mut SqliteConnection, limit: i64) -> QueryResult<Vec<(i64, Vec<u8>)>> {
    let blocks: Vec<BlockRow> =
        diesel::sql_query("SELECT id, lines FROM log_blocks WHERE terms IS NULL LIMIT ?")
            .bind::<BigInt, _>(limit)
            .load(c)?;
    blocks
        .iter()
        .map(|b| {
            let lines = decode(b)?;
            Ok((
                b.id,
                super::terms::filter_of(lines.iter().map(|l| l.6.as_str())),
            ))
        })
        .collect()
}

/// Stores filters made by [`missing_terms`] (a block rewritten meanwhile keeps its own).
pub fn set_terms(c: &mut SqliteConnection, filters: &[(i64, Vec<u8>)]) -> QueryResult<()> {
    for (id, terms) in filters {
        diesel::sql_query("UPDATE log_blocks SET terms = ? WHERE id = ? AND terms IS NULL")
            .bind::<Binary, _>(terms)
            .bind::<BigInt, _>(id)
            .execute(c)?;
    }
    Ok(())
}

fn servers_with_logs(c: &mut SqliteConnection) -> QueryResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct S {
        #[diesel(sql_type = Text)]
        server_id: String,
    }
    Ok(
        diesel::sql_query("SELECT DISTINCT server_id FROM log_blocks")
            .load::<S>(c)?
            .into_iter()
            .map(|s| s.server_id)
            .collect(),
    )
}

/// Deletes lines older than `before`: whole blocks, and the older lines of a block that
/// straddles the limit.
pub fn prune_age(c: &mut SqliteConnection, before: NaiveDateTime) -> QueryResult<usize> {
    let before = micros(before);
    let mut deleted = 0;
    for s in servers_with_logs(c)? {
        deleted += diesel::sql_query(
            "SELECT COALESCE(SUM(count), 0) AS n FROM log_blocks WHERE server_id = ? AND last_ts < ?",
        )
        .bind::<Text, _>(&s)
        .bind::<BigInt, _>(before)
        .get_result::<Count>(c)?
        .n;
        diesel::sql_query("DELETE FROM log_blocks WHERE server_id = ? AND last_ts < ?")
            .bind::<Text, _>(&s)
            .bind::<BigInt, _>(before)
            .execute(c)?;
        let straddling: Vec<BlockRow> = diesel::sql_query(
            "SELECT id, lines FROM log_blocks WHERE server_id = ? AND first_ts < ?",
        )
        .bind::<Text, _>(&s)
        .bind::<BigInt, _>(before)
        .load(c)?;
        for block in straddling {
            let lines = decode(&block)?;
            let n = lines.len();
            let kept: Vec<Stored> = lines.into_iter().filter(|l| l.1 >= before).collect();
            deleted += (n - kept.len()) as i64;
            rewrite(c, block.id, &kept)?;
        }
    }
    Ok(usize::try_from(deleted).unwrap_or(0))
}

/// Keeps each server's newest lines within `max_bytes` of message text; deletes the rest.
pub fn prune_size(c: &mut SqliteConnection, max_bytes: i64) -> QueryResult<usize> {
    #[derive(QueryableByName)]
    struct Cut {
        #[diesel(sql_type = BigInt)]
        id: i64,
        /// Bytes of the blocks newer than this one.
        #[diesel(sql_type = BigInt)]
        newer: i64,
    }
    let mut deleted = 0;
    for s in servers_with_logs(c)? {
        // The newest block whose running total (newest first) passes the limit.
        let cut: Option<Cut> = diesel::sql_query(
            "SELECT id, acc - bytes AS newer FROM (SELECT id, bytes, SUM(bytes) \
             OVER (ORDER BY id DESC) AS acc FROM log_blocks WHERE server_id = ?) \
             WHERE acc > ? ORDER BY id DESC LIMIT 1",
        )
        .bind::<Text, _>(&s)
        .bind::<BigInt, _>(max_bytes)
        .get_result(c)
        .optional()?;
        let Some(cut) = cut else { continue };
        deleted += diesel::sql_query(
            "SELECT COALESCE(SUM(count), 0) AS n FROM log_blocks WHERE server_id = ? AND id < ?",
        )
        .bind::<Text, _>(&s)
        .bind::<BigInt, _>(cut.id)
        .get_result::<Count>(c)?
        .n;
        diesel::sql_query("DELETE FROM log_blocks WHERE server_id = ? AND id < ?")
            .bind::<Text, _>(&s)
            .bind::<BigInt, _>(cut.id)
            .execute(c)?;
        let block: BlockRow = diesel::sql_query("SELECT id, lines FROM log_blocks WHERE id = ?")
            .bind::<BigInt, _>(cut.id)
            .get_result(c)?;
        // Of the straddling block, its newest lines that still fit.
        let mut room = max_bytes - cut.newer;
        let mut lines = decode(&block)?;
        let n = lines.len();
        let mut keep_from = n;
        while keep_from > 0 && room >= lines[keep_from - 1].6.len() as i64 {
            room -= lines[keep_from - 1].6.len() as i64;
            keep_from -= 1;
        }
        let kept = lines.split_off(keep_from);
        deleted += (n - kept.len()) as i64;
        rewrite(c, block.id, &kept)?;
    }
    Ok(usize::try_from(deleted).unwrap_or(0))
}

/// A parsed search box: words must all appear (`error timeout`), `"quoted words"` is a
/// phrase, `word*` a prefix; words are runs of letters and digits, compared case-folded.
/// Blocks are tested with the words' filter terms (see [`super::terms`]), and each line of
/// a block that passes is checked for the search itself (phrases, prefixes). Nothing of the
/// input reaches SQL but hashes, so no search box is a syntax error.
#[derive(Debug, Clone)]
pub struct Search {
    /// What a block's filter must hold.
    pub probe: super::terms::Probe,
    terms: Vec<Term>,
    /// The longest run of digits in the search (3 or more), which a matching line holds
    /// verbatim: blocks and lines without it are passed over before they are decoded and
    /// tokenized.
    needle: Option<memchr::memmem::Finder<'static>>,
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

impl Term {
    fn new(text: &str, prefix: bool) -> Term {
        Term {
            tokens: tokens(text),
            prefix,
        }
    }
}

impl Search {
    pub fn parse(input: &str) -> Option<Search> {
        use super::terms::{PREFIX, prefix_hash, word_hash};
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
                terms.push(Term::new(&phrase, false));
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
            // Punctuation inside a word splits it, as the index does: a phrase.
            let (word, prefix) = match word.strip_suffix('*') {
                Some(w) => (w.to_string(), true),
                None => (word, false),
            };
            terms.push(Term::new(&word, prefix));
        }
        terms.retain(|t| !t.tokens.is_empty());
        if terms.is_empty() {
            return None;
        }
        // Each whole word must be in a block's filter. A prefix needs a word starting with
        // it: one of exactly PREFIX characters is a word or a prefix term; a longer one
        // narrows to its first PREFIX characters; a shorter one tests nothing (every block
        // is read and its lines checked).
        let mut probe = super::terms::Probe::default();
        for t in &terms {
            let n = t.tokens.len();
            for (i, w) in t.tokens.iter().enumerate() {
                if !(t.prefix && i == n - 1) {
                    probe.any_of(vec![word_hash(w)]);
                    continue;
                }
                match w.chars().count() {
                    k if k < PREFIX => {}
                    k if k == PREFIX => probe.any_of(vec![word_hash(w), prefix_hash(w)]),
                    _ => probe.any_of(vec![prefix_hash(w)]),
                }
            }
        }
        let needle = terms
            .iter()
            .flat_map(|t| &t.tokens)
            .flat_map(|w| w.split(|c: char| !c.is_ascii_digit()))
            .max_by_key(|run| run.len())
            .filter(|run| run.len() >= 3)
            .map(|run| memchr::memmem::Finder::new(run.as_bytes()).into_owned());
        Some(Search {
            probe,
            terms,
            needle,
        })
    }

    /// Whether a block's encoded lines may hold a match (see `needle`).
    fn may_match(&self, text: &str) -> bool {
        self.needle
            .as_ref()
            .is_none_or(|n| n.find(text.as_bytes()).is_some())
    }

    /// Whether one line holds every term.
    pub fn matches(&self, message: &str) -> bool {
        if !self.may_match(message) {
            return false;
        }
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
    fn long_ids_and_prefixes_are_found_through_cut_terms() {
        use diesel::connection::SimpleConnection;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = super::super::open_connection(&dir.path().join("t.db")).expect("open");
        super::super::migrate(&mut c).expect("migrate");
        c.batch_execute("INSERT INTO servers (id, name, type) VALUES ('s', 's', 'process')")
            .expect("server");
        let messages = [
            "request_id=492117 done",
            "request_id=492118 done",
            "session=8a794779 retrying upstream",
            "session=8a79 short",
            "path=/srv/module_12.rs retrieved",
            "Überprüfung 12345Ä fertig",
        ];
        let lines: Vec<NewLine> = messages
            .iter()
            .map(|m| NewLine {
                server_id: "s",
                level: "info",
                source: "stderr",
                timestamp: 0,
                truncated: false,
                original_level: None,
                message: m,
            })
            .collect();
        insert(&mut c, &lines).expect("insert");
        let find = |c: &mut SqliteConnection, q: &str| -> Vec<String> {
            let f = Filter {
                server_id: "s".into(),
                fts: Search::parse(q),
                ..Default::default()
            };
            let mut rows = page_back(c, &f, None, 100).expect("search");
            rows.reverse();
            rows.into_iter().map(|r| r.message).collect()
        };
        assert_eq!(find(&mut c, "request_id=492117"), vec![messages[0]]);
        assert_eq!(find(&mut c, "492118"), vec![messages[1]]);
        assert_eq!(find(&mut c, "49211*"), vec![messages[0], messages[1]]);
        assert_eq!(find(&mut c, "4921179"), Vec::<String>::new());
        assert_eq!(find(&mut c, "8a794779"), vec![messages[2]]);
        assert_eq!(find(&mut c, "8A79*"), vec![messages[2], messages[3]]);
        assert_eq!(find(&mut c, "8a794*"), vec![messages[2]]);
        assert_eq!(find(&mut c, "retr*"), vec![messages[2], messages[4]]);
        assert_eq!(find(&mut c, "retrying"), vec![messages[2]]);
        assert_eq!(find(&mut c, "module_1*"), vec![messages[4]]);
        assert_eq!(find(&mut c, "\"upstream session\""), Vec::<String>::new());
        assert_eq!(find(&mut c, "\"retrying upstream\""), vec![messages[2]]);
        assert_eq!(find(&mut c, "überprüfung 12345ä"), vec![messages[5]]);
        assert_eq!(find(&mut c, "12345*"), vec![messages[5]]);
    }

    #[test]
    fn search_boxes_become_filter_probes() {
        use super::super::terms::{Probe, prefix_hash, word_hash};
        let probe = |q: &str| Search::parse(q).map(|s| s.probe);
        let mut want = Probe::default();
        want.any_of(vec![word_hash("timeout")]);
        assert_eq!(probe("Timeout"), Some(want));
        let mut want = Probe::default();
        want.any_of(vec![prefix_hash("conn")]);
        want.any_of(vec![word_hash("broken")]);
        want.any_of(vec![word_hash("pipe")]);
        want.any_of(vec![word_hash("db")]);
        assert_eq!(probe("conn* \"broken pipe\" db"), Some(want));
        let mut want = Probe::default();
        want.any_of(vec![word_hash("ret"), prefix_hash("ret")]);
        assert_eq!(probe("ret*"), Some(want));
        assert!(
            probe("re*").is_some_and(|p| p.is_empty()),
            "too short to test"
        );
        assert_eq!(probe("  \"\" *** "), None);
        assert!(probe("NEAR(a b) OR c:d").is_some());
    }
}
