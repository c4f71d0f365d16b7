-- The seed's Phase 1 `servers` table, its Phase 2 columns, `health_metrics` and `server_logs`,
-- plus what the supervisor's model needs (transport, restart policy, desired state, env, runs).
CREATE TABLE servers (
  id TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  image TEXT,
  status TEXT NOT NULL DEFAULT 'stopped',
  port INTEGER,
  container_id TEXT,
  config TEXT NOT NULL DEFAULT '{}',
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  -- Phase 2
  command TEXT,
  args TEXT NOT NULL DEFAULT '[]',
  working_directory TEXT,
  process_id INTEGER,
  health_endpoint TEXT,
  last_health_check TIMESTAMP,
  health_status TEXT NOT NULL DEFAULT 'unknown',
  -- the supervisor's model
  transport TEXT NOT NULL DEFAULT 'stdio',
  url TEXT,
  env TEXT NOT NULL DEFAULT '{}',
  secret_env TEXT NOT NULL DEFAULT '{}',
  restart_policy TEXT NOT NULL DEFAULT 'on-failure',
  desired_state TEXT NOT NULL DEFAULT 'stopped',
  last_exit TEXT,
  last_error TEXT,
  restart_count INTEGER NOT NULL DEFAULT 0,
  generation BIGINT NOT NULL DEFAULT 0,
  process_group INTEGER,
  mcp_info TEXT,
  CHECK (status IN ('stopped', 'starting', 'running', 'stopping', 'backoff', 'failed')),
  CHECK (desired_state IN ('running', 'stopped')),
  CHECK (transport IN ('stdio', 'http'))
);

CREATE INDEX idx_servers_status ON servers(status);

CREATE TABLE health_metrics (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  server_id TEXT NOT NULL,
  status TEXT NOT NULL,
  response_time INTEGER,
  error_message TEXT,
  timestamp TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  FOREIGN KEY (server_id) REFERENCES servers(id) ON DELETE CASCADE
);

CREATE INDEX idx_health_metrics_server_timestamp ON health_metrics(server_id, timestamp);
CREATE INDEX idx_health_metrics_timestamp ON health_metrics(timestamp);

CREATE TABLE server_logs (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  server_id TEXT NOT NULL,
  level TEXT NOT NULL,
  message TEXT NOT NULL,
  source TEXT,
  timestamp TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  truncated BOOLEAN NOT NULL DEFAULT 0,
  FOREIGN KEY (server_id) REFERENCES servers(id) ON DELETE CASCADE
);

CREATE INDEX idx_server_logs_server_timestamp ON server_logs(server_id, timestamp);
CREATE INDEX idx_server_logs_level ON server_logs(level);
CREATE INDEX idx_server_logs_timestamp ON server_logs(timestamp);
