-- Back to 000006: blocks without `terms`, and the FTS5 index rebuilt from the lines.
DROP VIEW IF EXISTS server_logs;

CREATE TABLE log_blocks_old (
  id INTEGER PRIMARY KEY,
  server_id TEXT NOT NULL,
  last_id INTEGER NOT NULL,
  first_ts INTEGER NOT NULL,
  last_ts INTEGER NOT NULL,
  levels INTEGER NOT NULL,
  sources INTEGER NOT NULL,
  count INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  lines TEXT NOT NULL,
  FOREIGN KEY (server_id) REFERENCES servers(id) ON DELETE CASCADE
);
INSERT INTO log_blocks_old (id, server_id, last_id, first_ts, last_ts, levels, sources, count, bytes, lines)
  SELECT id, server_id, last_id, first_ts, last_ts, levels, sources, count, bytes, lines
  FROM log_blocks;
DROP TABLE log_blocks;
ALTER TABLE log_blocks_old RENAME TO log_blocks;
CREATE INDEX idx_log_blocks_server ON log_blocks(server_id, id);

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
