DROP INDEX IF EXISTS idx_health_metrics_cover;
CREATE INDEX idx_health_metrics_server_timestamp ON health_metrics(server_id, timestamp);
