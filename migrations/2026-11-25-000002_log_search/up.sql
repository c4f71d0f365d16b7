-- Full-text search over log messages, and the level text as the line wrote it.
-- The FTS5 index is contentless (the text is stored once, in server_logs) with
-- contentless_delete, so deleting a row never needs its old text and deleting a row that
-- was never indexed is harmless. New lines are indexed by the log writer in bulk, once per
-- batch (an insert trigger, row by row, is three times slower); deletes follow by trigger.
ALTER TABLE server_logs ADD COLUMN original_level TEXT;

CREATE INDEX idx_server_logs_server_id ON server_logs(server_id, id);

CREATE VIRTUAL TABLE server_logs_fts USING fts5(
  message,
  content = '',
  contentless_delete = 1,
  tokenize = 'unicode61 remove_diacritics 2'
);

INSERT INTO server_logs_fts(rowid, message) SELECT id, message FROM server_logs;

CREATE TRIGGER server_logs_ad AFTER DELETE ON server_logs BEGIN
  DELETE FROM server_logs_fts WHERE rowid = old.id;
END;
