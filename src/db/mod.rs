//! The Store: the SQLite file, its migrations and every query.
//!
//! Diesel is synchronous, so nothing here runs on an actor's thread. Writes go through one
//! [`StoreWriter`] actor on its own thread (SQLite has one writer; serializing writes here
//! avoids `SQLITE_BUSY` storms and keeps each batch in one `BEGIN IMMEDIATE` transaction).
//! Reads use a small pool on the blocking thread pool. Shutdown: when the last [`Store`]
//! handle is dropped the writer's thread ends; [`Store::close`] checkpoints the WAL first.

pub mod health;
pub mod logs;
pub mod models;
pub mod schema;
pub mod terms;

use crate::error::{AppError, AppResult};
use actix::prelude::*;
use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::path::Path;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Pragmas set on every connection: WAL for concurrent readers, foreign keys for the seed's
/// `ON DELETE CASCADE`, a busy timeout instead of immediate `SQLITE_BUSY`.
///
/// 16 KiB pages (only a new file takes them; an existing store keeps its page size until a
/// `VACUUM`): most of the store is log blocks of 10–20 KiB, which with 4 KiB pages each
/// spilled into a chain of overflow pages, written twice (WAL, then checkpoint) a page per
/// system call; and a search scanning the blocks' filters read the index 4 KiB per call.
/// Ingest went from about 270k to 360k lines/s, a one-line search over a million lines from
/// 58 to 12 ms (docs/benchmarks.md, "Logs").
pub const CONNECTION_PRAGMAS: &str = "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;";

#[derive(Debug)]
struct Pragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(CONNECTION_PRAGMAS)
            .and_then(|()| terms::register(conn))
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

pub fn open_connection(path: &Path) -> AppResult<SqliteConnection> {
    let url = path.to_string_lossy().to_string();
    let mut conn = SqliteConnection::establish(&url)
        .map_err(|e| AppError::Internal(format!("cannot open {url}: {e}")))?;
    conn.batch_execute(CONNECTION_PRAGMAS)?;
    terms::register(&mut conn)?;
    Ok(conn)
}

/// The versions of this build's migrations, oldest first.
pub fn known_migrations() -> AppResult<Vec<String>> {
    Ok(
        MigrationSource::<diesel::sqlite::Sqlite>::migrations(&MIGRATIONS)
            .map_err(|e| AppError::Internal(format!("embedded migrations: {e}")))?
            .iter()
            .map(|m| m.name().version().to_string())
            .collect(),
    )
}

/// Refuses a store written by a newer build: one with an applied migration this build does
/// not know. `serve` refuses to start on it; `doctor` reports the same message.
pub fn refuse_newer(applied: &[String]) -> AppResult<()> {
    let known = known_migrations()?;
    match applied.iter().find(|v| !known.contains(v)) {
        Some(unknown) => Err(AppError::Internal(format!(
            "the store was written by a newer mcp-manager (migration {unknown} is unknown to this build); refusing to start"
        ))),
        None => Ok(()),
    }
}

/// Runs pending migrations. A store written by a newer build (it has migrations this binary
/// does not know) is refused rather than damaged.
pub fn migrate(conn: &mut SqliteConnection) -> AppResult<()> {
    let applied: Vec<String> = conn
        .applied_migrations()
        .map_err(|e| AppError::Internal(format!("reading migrations: {e}")))?
        .iter()
        .map(|v| v.to_string())
        .collect();
    refuse_newer(&applied)?;
    conn.run_pending_migrations(MIGRATIONS)
        .map_err(|e| AppError::Internal(format!("running migrations: {e}")))?;
    Ok(())
}

type ExecFn<R> = Box<dyn FnOnce(&mut SqliteConnection) -> QueryResult<R> + Send>;

/// One write, run inside a `BEGIN IMMEDIATE` transaction on the writer's thread.
pub struct Exec<R: Send + 'static>(ExecFn<R>);

impl<R: Send + 'static> Message for Exec<R> {
    type Result = QueryResult<R>;
}

/// The single writer. Runs on its own SyncArbiter thread.
pub struct StoreWriter {
    conn: SqliteConnection,
}

impl Actor for StoreWriter {
    type Context = SyncContext<Self>;
}

impl<R: Send + 'static> Handler<Exec<R>> for StoreWriter {
    type Result = QueryResult<R>;

    fn handle(&mut self, msg: Exec<R>, _: &mut Self::Context) -> Self::Result {
        self.conn.immediate_transaction(|c| (msg.0)(c))
    }
}

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    writer: Addr<StoreWriter>,
    pool: Pool<ConnectionManager<SqliteConnection>>,
}

impl Store {
    /// Opens (creating if needed) the database file, runs migrations, starts the writer.
    /// Must be called inside an actix System.
    pub fn open(path: &Path) -> AppResult<Store> {
        let mut conn = open_connection(path)?;
        migrate(&mut conn)?;
        // The writer reads back pages it just wrote (B-tree inserts, retention's rewrites):
        // from its own cache and a memory map that costs no system call.
        // (Only the writer: readers streaming an export would map the whole file into RSS.)
        conn.batch_execute("PRAGMA cache_size = -32768; PRAGMA mmap_size = 1073741824;")?;
        restrict_permissions(path);
        let url = path.to_string_lossy().to_string();
        let pool = Pool::builder()
            .max_size(4)
            .min_idle(Some(1))
            .connection_customizer(Box::new(Pragmas))
            .build(ConnectionManager::<SqliteConnection>::new(url))
            .map_err(|e| AppError::Internal(format!("connection pool: {e}")))?;
        // SyncArbiter wants a factory; the migrated connection is handed to its one thread.
        let slot = std::sync::Mutex::new(Some(conn));
        let path_again = path.to_path_buf();
        let writer = SyncArbiter::start(1, move || {
            let taken = slot.lock().ok().and_then(|mut s| s.take());
            let conn = match taken {
                Some(conn) => conn,
                None => match open_connection(&path_again) {
                    Ok(conn) => conn,
                    Err(e) => panic!("store writer cannot reopen the database: {e}"),
                },
            };
            StoreWriter { conn }
        });
        Ok(Store { writer, pool })
    }

    /// Runs `f` as one write transaction on the writer thread.
    pub async fn write<R, F>(&self, f: F) -> AppResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> QueryResult<R> + Send + 'static,
    {
        self.writer
            .send(Exec(Box::new(f)))
            .await
            .map_err(|e| AppError::Unavailable(format!("store writer: {e}")))?
            .map_err(AppError::from)
    }

    /// Queues a write without waiting for it; writes queued by one caller apply in order.
    /// Failures are logged (the caller has nobody to tell).
    pub fn write_detached<R, F>(&self, f: F)
    where
        R: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> QueryResult<R> + Send + 'static,
    {
        self.writer.do_send(Exec(Box::new(move |c| {
            let result = f(c);
            if let Err(e) = &result {
                tracing::error!(error = %e, "store write failed");
            }
            result
        })));
    }

    /// Runs `f` on a pooled read connection on the blocking thread pool.
    pub async fn read<R, F>(&self, f: F) -> AppResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> QueryResult<R> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool
                .get()
                .map_err(|e| AppError::Internal(format!("store pool: {e}")))?;
            f(&mut conn).map_err(AppError::from)
        })
        .await
        .map_err(|e| AppError::Internal(format!("store task: {e}")))?
    }

    /// Moves the WAL into the database and truncates it.
    pub async fn checkpoint(&self) {
        let _ = self
            .read(|c| c.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);"))
            .await;
    }

    /// Refreshes the planner's statistics where tables changed a lot since they were
    /// gathered, bounded (`analysis_limit`) so it costs milliseconds even on a big store.
    /// Run at start and after each prune: statistics taken at shutdown would describe the
    /// table as it was, and a table that grows while the daemon runs would keep them for
    /// weeks.
    pub async fn optimize(&self) {
        let result = self
            .write(|c| c.batch_execute("PRAGMA analysis_limit = 1000; PRAGMA optimize = 0x10002;"))
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "PRAGMA optimize failed");
        }
    }

    /// Checkpoints the WAL so the file is complete on its own after shutdown.
    pub async fn close(&self) {
        let _ = self
            .read(|c| c.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);"))
            .await;
    }
}

fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    // The store holds secret env values: only the daemon's user may read it.
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema_dump(conn: &mut SqliteConnection) -> Vec<String> {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            sql: String,
        }
        diesel::sql_query(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL \
             AND name NOT LIKE '__diesel%' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .load::<Row>(conn)
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.sql)
        .collect()
    }

    #[test]
    fn migrations_go_up_down_and_up_again_to_the_same_schema() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = open_connection(&dir.path().join("t.db")).expect("open");
        migrate(&mut conn).expect("up");
        let up = schema_dump(&mut conn);
        assert!(up.iter().any(|s| s.contains("CREATE TABLE servers")));
        assert!(up.iter().any(|s| s.contains("CREATE TABLE health_metrics")));
        assert!(up.iter().any(|s| s.contains("CREATE TABLE \"log_blocks\"")));
        conn.revert_all_migrations(MIGRATIONS).expect("down");
        assert_eq!(
            schema_dump(&mut conn),
            Vec::<String>::new(),
            "down.sql left objects behind"
        );
        migrate(&mut conn).expect("up again");
        assert_eq!(schema_dump(&mut conn), up);
    }

    #[test]
    fn foreign_keys_cascade() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = open_connection(&dir.path().join("t.db")).expect("open");
        migrate(&mut conn).expect("up");
        conn.batch_execute("INSERT INTO servers (id, name, type) VALUES ('a', 'a', 'process');")
            .expect("exec");
        let line = logs::NewLine {
            server_id: "a",
            level: "info",
            source: "stderr",
            timestamp: 0,
            truncated: false,
            original_level: None,
            message: "x",
        };
        let ids = logs::insert(&mut conn, &[line]).expect("insert");
        assert_eq!(ids, vec![Some(1)]);
        conn.batch_execute("DELETE FROM servers WHERE id = 'a';")
            .expect("exec");
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let count = |conn: &mut SqliteConnection, sql: &str| {
            diesel::sql_query(sql)
                .get_result::<N>(conn)
                .expect("count")
                .n
        };
        assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM log_blocks"), 0);
    }

    #[test]
    fn lines_stored_as_rows_are_kept_when_the_store_moves_to_blocks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = open_connection(&dir.path().join("t.db")).expect("open");
        // The store as the build before log blocks left it.
        while !conn
            .applied_migrations()
            .expect("applied")
            .iter()
            .any(|v| v.to_string().ends_with("000005"))
        {
            conn.run_next_migration(MIGRATIONS).expect("migration");
        }
        conn.batch_execute(
            "INSERT INTO servers (id, name, type) VALUES ('a', 'a', 'process'), ('b', 'b', 'process');
             INSERT INTO server_logs (id, server_id, level, message, source, timestamp, truncated, original_level)
             VALUES (5, 'a', 'info', 'first line', 'stderr', '2026-11-25 10:00:00.250000', 0, NULL),
                    (6, 'b', 'warn', 'other server', 'stdout', '2026-11-25 10:00:01', 0, 'WARNING'),
                    (7, 'a', 'error', 'boom \"quoted\"', NULL, '2026-11-25 10:00:02.000001', 1, 'E');
             DELETE FROM server_logs WHERE id = 7;
             INSERT INTO server_logs (id, server_id, level, message, source, timestamp, truncated, original_level)
             VALUES (8, 'a', 'error', 'boom \"quoted\"', NULL, '2026-11-25 10:00:02.000001', 1, 'E');",
        )
        .expect("rows");
        migrate(&mut conn).expect("to blocks");
        let f = logs::Filter {
            server_id: "a".into(),
            ..Default::default()
        };
        let rows = logs::page_back(&mut conn, &f, None, 10).expect("page");
        let seen: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.id,
                    r.message.as_str(),
                    r.level.as_str(),
                    r.source.as_deref(),
                    r.timestamp.to_string(),
                    r.truncated,
                    r.original_level.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                (
                    8,
                    "boom \"quoted\"",
                    "error",
                    None,
                    "2026-11-25 10:00:02.000001".into(),
                    true,
                    Some("E")
                ),
                (
                    5,
                    "first line",
                    "info",
                    Some("stderr"),
                    "2026-11-25 10:00:00.250".into(),
                    false,
                    None
                ),
            ]
        );
        let search = logs::Filter {
            server_id: "a".into(),
            fts: logs::Search::parse("boom"),
            ..Default::default()
        };
        let found = logs::page_back(&mut conn, &search, None, 10).expect("search");
        assert_eq!(found.iter().map(|r| r.id).collect::<Vec<_>>(), vec![8]);
        // Blocks from before search filters get theirs (the sink does this at start), and
        // are found the same way.
        let filters = logs::missing_terms(&mut conn, 256).expect("missing");
        assert_eq!(filters.len(), 2, "one block per server");
        logs::set_terms(&mut conn, &filters).expect("set");
        assert!(
            logs::missing_terms(&mut conn, 256)
                .expect("again")
                .is_empty()
        );
        let found = logs::page_back(&mut conn, &search, None, 10).expect("search");
        assert_eq!(found.iter().map(|r| r.id).collect::<Vec<_>>(), vec![8]);
        let absent = logs::Filter {
            fts: logs::Search::parse("absent"),
            ..search.clone()
        };
        assert!(
            logs::page_back(&mut conn, &absent, None, 10)
                .expect("search")
                .is_empty()
        );
        // New lines never reuse an id, not even the deleted 7's successor's.
        let line = logs::NewLine {
            server_id: "a",
            level: "info",
            source: "stderr",
            timestamp: 0,
            truncated: false,
            original_level: None,
            message: "after",
        };
        assert_eq!(
            logs::insert(&mut conn, &[line]).expect("insert"),
            vec![Some(9)]
        );
    }

    #[test]
    fn filters_of_the_old_hash_are_dropped_and_refilled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = open_connection(&dir.path().join("t.db")).expect("open");
        while !conn
            .applied_migrations()
            .expect("applied")
            .iter()
            .any(|v| v.to_string().ends_with("000007"))
        {
            conn.run_next_migration(MIGRATIONS).expect("migration");
        }
        #[derive(diesel::QueryableByName)]
        struct Page {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            page_size: i32,
        }
        let page = diesel::sql_query("PRAGMA page_size")
            .get_result::<Page>(&mut conn)
            .expect("page size");
        assert_eq!(page.page_size, 16384, "a new store takes 16 KiB pages");
        // A filter of the FNV hash (all zeros: it would rule every word out).
        conn.batch_execute(
            "INSERT INTO servers (id, name, type) VALUES ('a', 'a', 'process');
             INSERT INTO log_blocks (id, server_id, last_id, first_ts, last_ts, levels, sources,
               count, bytes, terms, lines)
             VALUES (1, 'a', 1, 0, 0, 2, 2, 1, 10, zeroblob(32),
               '[[1,0,\"info\",\"stderr\",0,null,\"needle here\"]]');",
        )
        .expect("rows");
        migrate(&mut conn).expect("to 000008");
        let search = logs::Filter {
            server_id: "a".into(),
            fts: logs::Search::parse("needle"),
            ..Default::default()
        };
        let found = logs::page_back(&mut conn, &search, None, 10).expect("search");
        assert_eq!(found.len(), 1, "an unknown filter rules nothing out");
        let filters = logs::missing_terms(&mut conn, 256).expect("missing");
        assert_eq!(filters.len(), 1);
        logs::set_terms(&mut conn, &filters).expect("set");
        let found = logs::page_back(&mut conn, &search, None, 10).expect("search");
        assert_eq!(found.len(), 1, "found through the new filter");
    }

    #[test]
    fn a_store_from_a_newer_build_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conn = open_connection(&dir.path().join("t.db")).expect("open");
        migrate(&mut conn).expect("up");
        conn.batch_execute(
            "INSERT INTO __diesel_schema_migrations (version) VALUES ('29991231000000')",
        )
        .expect("insert");
        let err = migrate(&mut conn).expect_err("must refuse");
        assert!(err.to_string().contains("newer mcp-manager"), "{err}");
    }
}
