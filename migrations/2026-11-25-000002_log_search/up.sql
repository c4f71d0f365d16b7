-- Full-text search over log messages (FTS5, external content: the text is stored once, in
-- server_logs), kept in step by triggers; and the level text as the line wrote it.
ALTER TABLE server_logs ADD COLUMN original_level TEXT;

CREATE INDEX idx_server_logs_server_id ON server_logs(server_id, id);

CREATE VIRTUAL TABLE server_logs_fts USING fts5(
  message,
  content = 'server_logs',
  content_rowid = 'id',
  tokenize = 'unicode61 remove_diacritics 2'
);

INSERT INTO server_logs_fts(rowid, message) SELECT id, message FROM server_logs;

CREATE TRIGGER server_logs_ai AFTER INSERT ON server_logs BEGIN
  INSERT INTO server_logs_fts(rowid, message) VALUES (new.id, new.message);
END;

CREATE TRIGGER server_logs_ad AFTER DELETE ON server_logs BEGIN
  INSERT INTO server_logs_fts(server_logs_fts, rowid, message) VALUES ('delete', old.id, old.message);
END;

CREATE TRIGGER server_logs_au AFTER UPDATE OF message ON server_logs BEGIN
  INSERT INTO server_logs_fts(server_logs_fts, rowid, message) VALUES ('delete', old.id, old.message);
  INSERT INTO server_logs_fts(rowid, message) VALUES (new.id, new.message);
END;
