-- Every secondary index is one more B-tree written per log line. Lines are only ever read
-- per server (by id or by time), and retention walks each server's lines by time, so the
-- indexes on level alone and on timestamp alone cost ingest speed and serve no query.
DROP INDEX IF EXISTS idx_server_logs_level;
DROP INDEX IF EXISTS idx_server_logs_timestamp;

-- FTS5 merges its segments as it goes; with the default (merge every 4 segments of a level,
-- force at 16) a log flood spends most of its time re-merging. Merge wider, and let the
-- writer merge the rest when it is idle.
INSERT INTO server_logs_fts(server_logs_fts, rank) VALUES('automerge', 8);
INSERT INTO server_logs_fts(server_logs_fts, rank) VALUES('crisismerge', 64);
