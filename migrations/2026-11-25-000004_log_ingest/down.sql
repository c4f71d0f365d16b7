INSERT INTO server_logs_fts(server_logs_fts, rank) VALUES('automerge', 4);
INSERT INTO server_logs_fts(server_logs_fts, rank) VALUES('crisismerge', 16);
CREATE INDEX idx_server_logs_timestamp ON server_logs(timestamp);
CREATE INDEX idx_server_logs_level ON server_logs(level);
