DROP VIEW IF EXISTS server_logs;

CREATE TABLE server_logs (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  server_id TEXT NOT NULL,
  level TEXT NOT NULL,
  message TEXT NOT NULL,
  source TEXT,
  timestamp TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  truncated BOOLEAN NOT NULL DEFAULT 0,
  original_level TEXT,
  FOREIGN KEY (server_id) REFERENCES servers(id) ON DELETE CASCADE
);
CREATE INDEX idx_server_logs_server_timestamp ON server_logs(server_id, timestamp);
CREATE INDEX idx_server_logs_server_id ON server_logs(server_id, id);
INSERT INTO server_logs (id, server_id, level, message, source, timestamp, truncated, original_level)
SELECT j.value ->> 0, b.server_id, j.value ->> 2, j.value ->> 6, j.value ->> 3,
       strftime('%Y-%m-%d %H:%M:%S', (j.value ->> 1) / 1000000, 'unixepoch')
         || printf('.%06d', (j.value ->> 1) % 1000000),
       j.value ->> 4, j.value ->> 5
FROM log_blocks b, json_each(b.lines) j;
UPDATE sqlite_sequence SET seq = (SELECT next - 1 FROM log_ids) WHERE name = 'server_logs';
INSERT INTO sqlite_sequence (name, seq)
  SELECT 'server_logs', next - 1 FROM log_ids
  WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'server_logs');

CREATE TABLE log_chunks (
  id INTEGER PRIMARY KEY,
  server_id TEXT NOT NULL,
  last_id INTEGER NOT NULL,
  FOREIGN KEY (server_id) REFERENCES servers(id) ON DELETE CASCADE
);
CREATE INDEX idx_log_chunks_server ON log_chunks(server_id, id);
CREATE VIRTUAL TABLE log_chunks_fts USING fts5(
  text,
  content = '',
  contentless_delete = 1,
  tokenize = 'unicode61 remove_diacritics 0'
);
INSERT INTO log_chunks_fts(log_chunks_fts, rank) VALUES('automerge', 8);
INSERT INTO log_chunks_fts(log_chunks_fts, rank) VALUES('crisismerge', 64);
CREATE TRIGGER log_chunks_ad AFTER DELETE ON log_chunks BEGIN
  DELETE FROM log_chunks_fts WHERE rowid = old.id;
END;
INSERT INTO log_chunks (id, server_id, last_id) SELECT id, server_id, last_id FROM log_blocks;
INSERT INTO log_chunks_fts (rowid, text)
  SELECT b.id, (SELECT group_concat(j.value ->> 6, char(10)) FROM json_each(b.lines) j)
  FROM log_blocks b;

DROP TRIGGER IF EXISTS log_blocks_ad;
DROP TABLE IF EXISTS log_blocks_fts;
DROP TABLE IF EXISTS log_ids;
DROP TABLE IF EXISTS log_blocks;
