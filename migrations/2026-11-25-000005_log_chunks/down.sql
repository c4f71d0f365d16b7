DROP TRIGGER IF EXISTS log_chunks_ad;
DROP TABLE IF EXISTS log_chunks_fts;
DROP TABLE IF EXISTS log_chunks;

CREATE VIRTUAL TABLE server_logs_fts USING fts5(
  message,
  content = '',
  contentless_delete = 1,
  tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO server_logs_fts(server_logs_fts, rank) VALUES('automerge', 8);
INSERT INTO server_logs_fts(server_logs_fts, rank) VALUES('crisismerge', 64);
INSERT INTO server_logs_fts(rowid, message) SELECT id, message FROM server_logs;
CREATE TRIGGER server_logs_ad AFTER DELETE ON server_logs BEGIN
  DELETE FROM server_logs_fts WHERE rowid = old.id;
END;
