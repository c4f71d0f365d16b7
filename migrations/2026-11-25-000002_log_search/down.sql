DROP TRIGGER server_logs_ad;
DROP TABLE server_logs_fts;
DROP INDEX idx_server_logs_server_id;
ALTER TABLE server_logs DROP COLUMN original_level;
