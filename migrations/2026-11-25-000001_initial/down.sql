DROP INDEX IF EXISTS idx_server_logs_timestamp;
DROP INDEX IF EXISTS idx_server_logs_level;
DROP INDEX IF EXISTS idx_server_logs_server_timestamp;
DROP TABLE server_logs;
DROP INDEX IF EXISTS idx_health_metrics_timestamp;
DROP INDEX IF EXISTS idx_health_metrics_server_timestamp;
DROP TABLE health_metrics;
DROP INDEX IF EXISTS idx_servers_status;
DROP TABLE servers;
