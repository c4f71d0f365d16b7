-- The search index holds chunks, not lines: up to 64 consecutive lines of one server as
-- one document. Logs repeat themselves (levels, module names, verbs), so a chunk indexes
-- each repeated word once instead of once per line, and the index costs the writer a
-- fraction of what it did. A search finds candidate chunks through the index and then
-- checks each of their lines (src/db/logs.rs), so results are still exact lines.
DROP TRIGGER IF EXISTS server_logs_ad;
DROP TABLE IF EXISTS server_logs_fts;

-- A chunk: the lines of `server_id` with ids in [id, last_id] (other servers' lines may
-- interleave in that range). Its id is its first line's id and the index's rowid.
CREATE TABLE log_chunks (
  id INTEGER PRIMARY KEY,
  server_id TEXT NOT NULL,
  last_id INTEGER NOT NULL,
  FOREIGN KEY (server_id) REFERENCES servers(id) ON DELETE CASCADE
);
CREATE INDEX idx_log_chunks_server ON log_chunks(server_id, id);

-- Contentless: the text lives once, in server_logs. remove_diacritics 0 so that the
-- line check (which folds case but not accents) agrees with the index exactly.
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

-- The lines already stored, chunked by id.
INSERT INTO log_chunks (id, server_id, last_id)
  SELECT MIN(id), server_id, MAX(id) FROM server_logs GROUP BY server_id, id / 64;
INSERT INTO log_chunks_fts (rowid, text)
  SELECT k.id, (SELECT group_concat(l.message, char(10)) FROM server_logs l
                WHERE l.server_id = k.server_id AND l.id BETWEEN k.id AND k.last_id)
  FROM log_chunks k;
