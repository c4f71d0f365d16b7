-- History and summaries read only these four columns of a server's checks in a time range;
-- with them in the index those queries never touch the table, whose pages interleave every
-- server's rows in time order (one page read per row otherwise).
DROP INDEX IF EXISTS idx_health_metrics_server_timestamp;
CREATE INDEX idx_health_metrics_cover ON health_metrics(server_id, timestamp, status, response_time);
