//! Measures the log store's write path alone (no pipe, no bus): lines per second through
//! `logs::write`, in batches like the LogSink's, into a fresh store.
//!
//!     cargo run --release --example ingest_writer -- LINES_FILE [TOTAL] [BATCH]
//!
//! LINES_FILE is any text file (e.g. `mcpload spew --lines 500000 2> lines.txt`); its lines
//! are sent in order, repeated until TOTAL (default 500 000) lines are written.

use mcp_manager::db::Store;
use mcp_manager::logs::{self, LogLine, Source};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let file = args
        .get(1)
        .expect("usage: ingest_writer LINES_FILE [TOTAL] [BATCH]");
    let total: usize = args.get(2).map_or(500_000, |s| s.parse().expect("TOTAL"));
    let batch: usize = args
        .get(3)
        .map_or(logs::BATCH, |s| s.parse().expect("BATCH"));
    let text = std::fs::read(file).expect("read LINES_FILE");
    let lines: Vec<&[u8]> = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    actix_rt::System::new().block_on(async move {
        let store = Store::open(&dir.path().join("bench.db")).expect("open store");
        store
            .write(|c| {
                use diesel::connection::SimpleConnection;
                c.batch_execute(
                    "INSERT INTO servers (id, name, type) VALUES ('s1', 's1', 'process')",
                )
            })
            .await
            .expect("server row");
        let started = std::time::Instant::now();
        let mut prep = std::time::Duration::ZERO;
        let mut written = 0usize;
        let mut next = None;
        let mut i = 0usize;
        let mut last_report = std::time::Instant::now();
        while written < total {
            let t = std::time::Instant::now();
            let n = batch.min(total - written);
            let chunk: Vec<LogLine> = (0..n)
                .map(|k| {
                    let raw = lines[(i + k) % lines.len()];
                    let message = logs::sanitize(raw);
                    let detected = logs::level::detect(&message);
                    LogLine {
                        server_id: std::sync::Arc::from("s1"),
                        level: detected.level,
                        original_level: detected.original,
                        message,
                        source: Source::Stderr,
                        timestamp: chrono::Utc::now(),
                        truncated: false,
                        raw: None,
                    }
                })
                .collect();
            prep += t.elapsed();
            i += n;
            let stored = logs::write(&store, &mut next, chunk).await.len();
            assert_eq!(stored, n, "lines not stored");
            written += n;
            if last_report.elapsed().as_secs_f64() > 1.0 {
                last_report = std::time::Instant::now();
                eprintln!(
                    "{written} lines, {:.0} lines/s",
                    written as f64 / started.elapsed().as_secs_f64()
                );
            }
        }
        let secs = started.elapsed().as_secs_f64();
        let prep = prep.as_secs_f64();
        println!(
            "{total} lines in batches of {batch}: {secs:.2} s, {:.0} lines/s in all; \
             store only {:.0} lines/s (line preparation {prep:.2} s)",
            total as f64 / secs,
            total as f64 / (secs - prep)
        );
        let size = std::fs::metadata(dir.path().join("bench.db")).map_or(0, |m| m.len());
        println!("database {:.1} MB", size as f64 / 1e6);
    });
}
