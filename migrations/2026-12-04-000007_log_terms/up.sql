-- The search index moves from FTS5 into the blocks: each block carries `terms`, a Bloom
-- filter of its lines' words (lower-cased) and of their 3-character prefixes, written by
-- the daemon (src/db/terms.rs). FTS5 cost about half of the store writer's time per line
-- (tokenizing, its hash, sorting at every flush, merging segments); a Bloom filter costs a
-- hash per word, and it holds whole ids and numbers, which the FTS index had to cut to 4
-- characters to keep its vocabulary small. A search tests each block's filter with the SQL
-- function `log_terms_match` (registered on every connection) on the covering index, so a
-- block's lines are read only when its filter may hold every word, then checks each line.
--
-- `terms` comes before `lines` so that reading it never touches the overflow pages of a
-- block's lines. NULL means unknown (blocks written before this migration): such a block
-- is always a candidate, and the daemon fills it in the background.
DROP TRIGGER IF EXISTS log_blocks_ad;
DROP TABLE IF EXISTS log_blocks_fts;
DROP VIEW IF EXISTS server_logs;

CREATE TABLE log_blocks_new (
  id INTEGER PRIMARY KEY,
  server_id TEXT NOT NULL,
  last_id INTEGER NOT NULL,
  first_ts INTEGER NOT NULL,
  last_ts INTEGER NOT NULL,
  levels INTEGER NOT NULL,
  sources INTEGER NOT NULL,
  count INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  terms BLOB,
  lines TEXT NOT NULL,
  FOREIGN KEY (server_id) REFERENCES servers(id) ON DELETE CASCADE
);
INSERT INTO log_blocks_new (id, server_id, last_id, first_ts, last_ts, levels, sources, count, bytes, terms, lines)
  SELECT id, server_id, last_id, first_ts, last_ts, levels, sources, count, bytes, NULL, lines
  FROM log_blocks;
DROP TABLE log_blocks;
ALTER TABLE log_blocks_new RENAME TO log_blocks;
-- Covering for everything a search tests before it reads a block's lines.
CREATE INDEX idx_log_blocks_scan ON log_blocks(server_id, id, levels, sources, first_ts, last_ts, terms);

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
