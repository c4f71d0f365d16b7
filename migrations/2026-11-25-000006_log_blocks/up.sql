-- Log lines are stored in blocks: one row per run of up to 64 consecutive lines of one
-- server, the lines themselves a JSON array in `lines`. A row per line cost SQLite about
-- 4 µs to insert here, which capped ingest near 150 000 lines/s before any indexing; a
-- block costs about as much as one line did. The block's summary columns let queries skip
-- blocks without decoding them; the search index holds each block's distinct words.
--
-- `lines`: [[id, timestamp µs since the epoch (UTC), level, source, truncated 0|1,
--            original level or null, message], …], oldest first. Ids only grow; a block's
-- `id` is at most its first line's id and `last_id` its last line's, and a block spans
-- fewer than 64 ids (`last_id - id < 64`).
CREATE TABLE log_blocks (
  id INTEGER PRIMARY KEY,
  server_id TEXT NOT NULL,
  last_id INTEGER NOT NULL,
  first_ts INTEGER NOT NULL,
  last_ts INTEGER NOT NULL,
  -- Bit per level present: debug 1, info 2, warn 4, error 8, any other 16.
  levels INTEGER NOT NULL,
  -- Bit per source present: stdout 1, stderr 2, system 4, mcp 8, none or other 16.
  sources INTEGER NOT NULL,
  -- Lines, and bytes of message text (for retention by size).
  count INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  lines TEXT NOT NULL,
  FOREIGN KEY (server_id) REFERENCES servers(id) ON DELETE CASCADE
);
CREATE INDEX idx_log_blocks_server ON log_blocks(server_id, id);

-- The next line id: ids are never reused, even after the newest lines are cleared.
CREATE TABLE log_ids (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  next INTEGER NOT NULL
);
INSERT INTO log_ids (id, next) VALUES (1, 1 + MAX(
  COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'server_logs'), 0),
  COALESCE((SELECT MAX(id) FROM server_logs), 0)));

INSERT INTO log_blocks (id, server_id, last_id, first_ts, last_ts, levels, sources, count, bytes, lines)
SELECT MIN(id), server_id, MAX(id), MIN(ts), MAX(ts),
       SUM(DISTINCT CASE level WHEN 'debug' THEN 1 WHEN 'info' THEN 2 WHEN 'warn' THEN 4
                               WHEN 'error' THEN 8 ELSE 16 END),
       SUM(DISTINCT CASE source WHEN 'stdout' THEN 1 WHEN 'stderr' THEN 2 WHEN 'system' THEN 4
                                WHEN 'mcp' THEN 8 ELSE 16 END),
       COUNT(*), SUM(LENGTH(CAST(message AS BLOB))),
       json_group_array(json_array(id, ts, level, source, truncated, original_level, message)
                        ORDER BY id)
FROM (
  SELECT l.*,
         CAST(strftime('%s', substr(l.timestamp, 1, 19)) AS INTEGER) * 1000000
         + CASE WHEN substr(l.timestamp, 20, 1) = '.'
                THEN CAST(substr(substr(l.timestamp, 21) || '000000', 1, 6) AS INTEGER)
                ELSE 0 END AS ts
  FROM server_logs l
)
GROUP BY server_id, id / 64;

-- The index: each block's words. Searches check each candidate line, so positions are not
-- needed and a word is listed once per block. Words are cut by the daemon (runs of what
-- Rust calls alphanumeric); the tokenizer's categories include every such character, so
-- it never cuts a word again.
CREATE VIRTUAL TABLE log_blocks_fts USING fts5(
  words,
  content = '',
  contentless_delete = 1,
  detail = none,
  tokenize = "unicode61 remove_diacritics 0 categories 'L* N* Co M* So'"
);
INSERT INTO log_blocks_fts(log_blocks_fts, rank) VALUES('automerge', 8);
INSERT INTO log_blocks_fts(log_blocks_fts, rank) VALUES('crisismerge', 64);
INSERT INTO log_blocks_fts (rowid, words)
  SELECT b.id, (SELECT group_concat(j.value ->> 6, char(10)) FROM json_each(b.lines) j)
  FROM log_blocks b;
CREATE TRIGGER log_blocks_ad AFTER DELETE ON log_blocks BEGIN
  DELETE FROM log_blocks_fts WHERE rowid = old.id;
END;

DROP TRIGGER IF EXISTS log_chunks_ad;
DROP TABLE IF EXISTS log_chunks_fts;
DROP TABLE IF EXISTS log_chunks;
DROP TABLE server_logs;

-- The seed's table, as a view over the blocks, for reading with the sqlite3 shell.
CREATE VIEW server_logs AS
SELECT j.value ->> 0 AS id,
       b.server_id AS server_id,
       j.value ->> 2 AS level,
       j.value ->> 6 AS message,
       j.value ->> 3 AS source,
       strftime('%Y-%m-%d %H:%M:%S', (j.value ->> 1) / 1000000, 'unixepoch')
         || printf('.%06d', (j.value ->> 1) % 1000000) AS timestamp,
       j.value ->> 4 AS truncated,
       j.value ->> 5 AS original_level
FROM log_blocks b, json_each(b.lines) j;
