//! Call metrics of the gateway: per server and per tool (`tools/call`), and per method for
//! the other requests, the number of calls, of errors and a latency histogram with fixed
//! buckets. Recorded by the router where an answer is matched to its request (one lock of
//! a small map per call to find the counters, no allocation once a tool has been seen);
//! read by `GET /api/servers/{ref}/metrics` and `GET /metrics`.
//!
//! An error is either a JSON-RPC error answer (including the gateway's own, when the
//! server's session ends mid-call) or a `tools/call` result with `isError: true`; both
//! count in `errors`, and `tool_errors` counts the second kind alone.
//!
//! Labels are bounded: at most [`MAX_TOOLS`] tool names and [`MAX_METHODS`] method names
//! per server; later ones are counted under [`OTHER`], so a client that calls made-up
//! tools cannot grow the daemon's memory.

use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds (`+Inf` is implied). Sub-millisecond
/// ones too: a local stdio server answers in well under a millisecond.
pub const BUCKETS: [f64; 18] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];

/// Tool names kept apart per server; the rest go under [`OTHER`].
pub const MAX_TOOLS: usize = 256;
/// Method names kept apart per server.
pub const MAX_METHODS: usize = 64;
/// The label of whatever is beyond the bounds.
pub const OTHER: &str = "_other";
/// Longest tool or method name kept as a label; longer ones count under [`OTHER`].
const MAX_NAME: usize = 128;

/// The counters of one tool (or method).
#[derive(Default)]
pub struct Stats {
    calls: AtomicU64,
    errors: AtomicU64,
    tool_errors: AtomicU64,
    /// Sum of the latencies, in nanoseconds.
    sum_ns: AtomicU64,
    /// Non-cumulative counts per bucket; the last is `+Inf`.
    buckets: [AtomicU64; BUCKETS.len() + 1],
}

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// A JSON-RPC error answer.
    Error,
    /// A tool result with `isError: true`.
    ToolError,
}

impl Stats {
    pub fn record(&self, took: Duration, outcome: Outcome) {
        let secs = took.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(
            u64::try_from(took.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        match outcome {
            Outcome::Ok => {}
            Outcome::Error => {
                self.errors.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::ToolError => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                self.tool_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Last, so a reader that sees the call sees its bucket too (near enough).
        self.calls.fetch_add(1, Ordering::Release);
    }

    pub fn snapshot(&self) -> Snapshot {
        let calls = self.calls.load(Ordering::Acquire);
        let buckets: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        Snapshot {
            calls,
            errors: self.errors.load(Ordering::Relaxed),
            tool_errors: self.tool_errors.load(Ordering::Relaxed),
            sum_seconds: self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9,
            buckets,
        }
    }
}

/// The counters of one tool at one moment.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub calls: u64,
    pub errors: u64,
    pub tool_errors: u64,
    pub sum_seconds: f64,
    /// Non-cumulative counts per bucket of [`BUCKETS`], then `+Inf`.
    pub buckets: Vec<u64>,
}

impl Snapshot {
    /// Calls in the histogram (may trail `calls` by the calls being recorded).
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// The `q` quantile, estimated as Prometheus' `histogram_quantile` does: linear within
    /// the bucket it falls in; the upper bound of the last finite bucket when it falls in
    /// `+Inf`. `None` without calls.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = q * total as f64;
        let mut seen = 0u64;
        for (i, n) in self.buckets.iter().enumerate() {
            let before = seen;
            seen += n;
            if (seen as f64) >= rank && *n > 0 {
                let Some(upper) = BUCKETS.get(i) else {
                    return BUCKETS.last().copied();
                };
                let lower = if i == 0 { 0.0 } else { BUCKETS[i - 1] };
                let within = (rank - before as f64) / *n as f64;
                return Some(lower + (upper - lower) * within.clamp(0.0, 1.0));
            }
        }
        BUCKETS.last().copied()
    }

    pub fn mean(&self) -> Option<f64> {
        let n = self.count();
        (n > 0).then(|| self.sum_seconds / n as f64)
    }
}

/// A bounded map of label → counters.
struct Family {
    max: usize,
    map: Mutex<HashMap<Box<str>, Arc<Stats>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Family {
    fn new(max: usize) -> Family {
        Family {
            max,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The counters of `name`; no allocation when it was seen before.
    fn get(&self, name: &str) -> Arc<Stats> {
        let mut map = lock(&self.map);
        if let Some(s) = map.get(name) {
            return s.clone();
        }
        let name = if map.len() < self.max && name.len() <= MAX_NAME && name != OTHER {
            name
        } else {
            OTHER
        };
        map.entry(name.into()).or_default().clone()
    }

    fn snapshot(&self) -> Vec<(String, Snapshot)> {
        let mut out: Vec<(String, Snapshot)> = lock(&self.map)
            .iter()
            .map(|(k, v)| (k.to_string(), v.snapshot()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// The counters of one server.
pub struct ServerMetrics {
    tools: Family,
    methods: Family,
}

impl ServerMetrics {
    fn new() -> ServerMetrics {
        ServerMetrics {
            tools: Family::new(MAX_TOOLS),
            methods: Family::new(MAX_METHODS),
        }
    }

    pub fn tool(&self, name: &str) -> Arc<Stats> {
        self.tools.get(name)
    }

    pub fn method(&self, method: &str) -> Arc<Stats> {
        self.methods.get(method)
    }

    pub fn tools(&self) -> Vec<(String, Snapshot)> {
        self.tools.snapshot()
    }

    pub fn methods(&self) -> Vec<(String, Snapshot)> {
        self.methods.snapshot()
    }
}

/// The counters of every server, by name (the name in `/mcp/{name}`).
#[derive(Default)]
pub struct Metrics {
    servers: Mutex<HashMap<Box<str>, Arc<ServerMetrics>>>,
}

impl Metrics {
    /// The counters of a server, made on first use. Only names of existing servers get
    /// here (the gateway looked the server up before it forwards a call).
    pub fn server(&self, name: &str) -> Arc<ServerMetrics> {
        let mut map = lock(&self.servers);
        if let Some(s) = map.get(name) {
            return s.clone();
        }
        map.entry(name.into())
            .or_insert_with(|| Arc::new(ServerMetrics::new()))
            .clone()
    }

    /// Drops a server's counters (it was deleted).
    pub fn forget(&self, name: &str) {
        lock(&self.servers).remove(name);
    }

    /// The counters of a server, if it had calls.
    pub fn get(&self, name: &str) -> Option<Arc<ServerMetrics>> {
        lock(&self.servers).get(name).cloned()
    }

    /// Every server with calls, by name.
    pub fn all(&self) -> Vec<(String, Arc<ServerMetrics>)> {
        let mut out: Vec<(String, Arc<ServerMetrics>)> = lock(&self.servers)
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// A call being timed: its counters and when it went upstream.
pub struct Timing {
    pub stats: Arc<Stats>,
    pub started: std::time::Instant,
    /// A `tools/call`: its result is checked for `isError`.
    pub tool: bool,
}

impl Timing {
    pub fn new(stats: Arc<Stats>, tool: bool) -> Timing {
        Timing {
            stats,
            started: std::time::Instant::now(),
            tool,
        }
    }

    pub fn finish(self, outcome: Outcome) {
        self.stats.record(self.started.elapsed(), outcome);
    }
}

/// `isError` of a tool result (top level only), read without building the result.
pub fn is_tool_error(result: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct R {
        #[serde(default, rename = "isError")]
        is_error: Option<bool>,
    }
    // Most results have no such key at all: skip the parse then.
    result.contains("\"isError\"")
        && serde_json::from_str::<R>(result).is_ok_and(|r| r.is_error == Some(true))
}

/// The tool name of a `tools/call`'s params, borrowed when it has no escapes.
pub fn tool_name(params: Option<&str>) -> Option<std::borrow::Cow<'_, str>> {
    #[derive(serde::Deserialize)]
    struct P<'a> {
        #[serde(borrow)]
        name: std::borrow::Cow<'a, str>,
    }
    serde_json::from_str::<P<'_>>(params?).ok().map(|p| p.name)
}

/// JSON view of one tool's (or method's) counters, for the API.
#[derive(Serialize, utoipa::ToSchema, Debug)]
pub struct StatsView {
    /// Tool name (or method name), or `_other` beyond the label bound.
    pub name: String,
    pub calls: u64,
    /// JSON-RPC error answers plus tool results with `isError: true`.
    pub errors: u64,
    /// Tool results with `isError: true` (included in `errors`).
    pub tool_errors: u64,
    /// Mean latency in seconds; null without calls.
    pub mean_seconds: Option<f64>,
    /// Latency quantiles in seconds, estimated from the histogram; null without calls.
    pub p50_seconds: Option<f64>,
    pub p95_seconds: Option<f64>,
    pub p99_seconds: Option<f64>,
    pub sum_seconds: f64,
    /// Upper bounds of the histogram's buckets in seconds (the last bucket, `+Inf`, is
    /// left out here and counted in `bucket_counts`' last entry).
    pub bucket_bounds: Vec<f64>,
    /// Calls per bucket, not cumulative; one more entry than `bucket_bounds` (`+Inf`).
    pub bucket_counts: Vec<u64>,
}

impl StatsView {
    pub fn new(name: String, s: &Snapshot) -> StatsView {
        StatsView {
            name,
            calls: s.calls,
            errors: s.errors,
            tool_errors: s.tool_errors,
            mean_seconds: s.mean(),
            p50_seconds: s.quantile(0.5),
            p95_seconds: s.quantile(0.95),
            p99_seconds: s.quantile(0.99),
            sum_seconds: s.sum_seconds,
            bucket_bounds: BUCKETS.to_vec(),
            bucket_counts: s.buckets.clone(),
        }
    }
}

/// `GET /api/servers/{ref}/metrics`: the gateway's counters of one server since the daemon
/// started.
#[derive(Serialize, utoipa::ToSchema, Debug)]
pub struct ServerMetricsView {
    pub server: String,
    /// `tools/call` per tool name.
    pub tools: Vec<StatsView>,
    /// Other requests per method (`tools/list`, `resources/read`, …).
    pub methods: Vec<StatsView>,
}

impl ServerMetricsView {
    pub fn new(server: String, m: Option<&ServerMetrics>) -> ServerMetricsView {
        let view = |v: Vec<(String, Snapshot)>| {
            v.into_iter()
                .map(|(n, s)| StatsView::new(n, &s))
                .collect::<Vec<_>>()
        };
        ServerMetricsView {
            server,
            tools: m.map(|m| view(m.tools())).unwrap_or_default(),
            methods: m.map(|m| view(m.methods())).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_labels() {
        let m = Metrics::default();
        let s = m.server("a");
        for i in 0..(MAX_TOOLS + 50) {
            s.tool(&format!("t{i}"))
                .record(Duration::from_millis(1), Outcome::Ok);
        }
        let tools = s.tools();
        assert_eq!(tools.len(), MAX_TOOLS + 1);
        let other = tools.iter().find(|(n, _)| n == OTHER).unwrap();
        assert_eq!(other.1.calls, 50);
    }

    #[test]
    fn quantiles_and_errors() {
        let st = Stats::default();
        for _ in 0..90 {
            st.record(Duration::from_micros(2000), Outcome::Ok);
        }
        for _ in 0..10 {
            st.record(Duration::from_millis(200), Outcome::ToolError);
        }
        st.record(Duration::from_secs(100), Outcome::Error);
        let s = st.snapshot();
        assert_eq!(
            (s.calls, s.errors, s.tool_errors, s.count()),
            (101, 11, 10, 101)
        );
        let p50 = s.quantile(0.5).unwrap();
        assert!((0.001..=0.0025).contains(&p50), "{p50}");
        let p95 = s.quantile(0.95).unwrap();
        assert!((0.1..=0.25).contains(&p95), "{p95}");
        assert_eq!(s.quantile(1.0), Some(60.0));
        assert!(
            Snapshot {
                buckets: vec![0; 16],
                ..s
            }
            .quantile(0.5)
            .is_none()
        );
    }

    #[test]
    fn tool_errors_and_names() {
        assert!(is_tool_error(r#"{"content":[],"isError":true}"#));
        assert!(!is_tool_error(
            r#"{"content":[{"type":"text","text":"\"isError\":true"}]}"#
        ));
        assert!(!is_tool_error(
            r#"{"structuredContent":{"isError":true},"content":[]}"#
        ));
        assert_eq!(
            tool_name(Some(r#"{"name":"echo","arguments":{"name":"x"}}"#)).as_deref(),
            Some("echo")
        );
        assert!(tool_name(Some("{}")).is_none());
    }
}
