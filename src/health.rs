//! Health as its own dimension of a server: settings, the threshold logic (pure, driven by
//! timestamps so tests control time), and the arithmetic of summaries and bucketed history.
//!
//! The HealthProbe actor (`actors::probe`) runs the checks; the ServerActor applies the
//! results with [`Tracker`], so it stays the only writer of its server's state.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Per-server health settings; every field optional, defaults from [`HealthDefaults`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct HealthSettings {
    /// Seconds between checks (default 30).
    pub interval_secs: Option<f64>,
    /// Seconds a check may take (default 5).
    pub timeout_secs: Option<f64>,
    /// Consecutive failed checks before `unhealthy` (default 3).
    pub failure_threshold: Option<u32>,
    /// Seconds after reaching `running` during which failures do not count (default 0).
    pub start_period_secs: Option<f64>,
    /// Restart the server after this many consecutive unhealthy checks (default: never).
    pub restart_after_failures: Option<u32>,
}

/// The daemon's defaults for [`HealthSettings`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct HealthDefaults {
    pub interval_secs: f64,
    pub timeout_secs: f64,
    pub failure_threshold: u32,
    pub start_period_secs: f64,
}

impl Default for HealthDefaults {
    fn default() -> Self {
        HealthDefaults {
            interval_secs: 30.0,
            timeout_secs: 5.0,
            failure_threshold: 3,
            start_period_secs: 0.0,
        }
    }
}

/// Settings with every default filled in.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct EffectiveHealth {
    pub interval_secs: f64,
    pub timeout_secs: f64,
    pub failure_threshold: u32,
    pub start_period_secs: f64,
    pub restart_after_failures: Option<u32>,
}

impl HealthSettings {
    pub fn effective(&self, d: &HealthDefaults) -> EffectiveHealth {
        EffectiveHealth {
            interval_secs: self.interval_secs.unwrap_or(d.interval_secs),
            timeout_secs: self.timeout_secs.unwrap_or(d.timeout_secs),
            failure_threshold: self.failure_threshold.unwrap_or(d.failure_threshold),
            start_period_secs: self.start_period_secs.unwrap_or(d.start_period_secs),
            restart_after_failures: self.restart_after_failures,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        let in_range = |v: Option<f64>, lo: f64, hi: f64| {
            v.is_none_or(|v| v.is_finite() && (lo..=hi).contains(&v))
        };
        if !in_range(self.interval_secs, 0.1, 86_400.0) {
            return Err("health.interval_secs must be between 0.1 and 86400".into());
        }
        if !in_range(self.timeout_secs, 0.05, 3600.0) {
            return Err("health.timeout_secs must be between 0.05 and 3600".into());
        }
        if !in_range(self.start_period_secs, 0.0, 86_400.0) {
            return Err("health.start_period_secs must be between 0 and 86400".into());
        }
        if self.failure_threshold == Some(0) {
            return Err("health.failure_threshold must be at least 1".into());
        }
        if self.restart_after_failures == Some(0) {
            return Err("health.restart_after_failures must be at least 1 (or null)".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    #[default]
    Unknown,
    Healthy,
    Unhealthy,
}

impl HealthState {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Unknown => "unknown",
            HealthState::Healthy => "healthy",
            HealthState::Unhealthy => "unhealthy",
        }
    }
    pub fn parse(s: &str) -> HealthState {
        match s {
            "healthy" => HealthState::Healthy,
            "unhealthy" => HealthState::Unhealthy,
            _ => HealthState::Unknown,
        }
    }
}

/// One probe's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CheckResult {
    pub ok: bool,
    /// Milliseconds the probe took; absent when it could not be timed (e.g. no connection).
    pub response_time_ms: Option<i32>,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
    /// Which probes ran: `mcp`, `http`, `container`.
    pub probes: Vec<String>,
}

/// The threshold logic of one monitored run.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracker {
    pub state: HealthState,
    pub consecutive_failures: u32,
    pub consecutive_successes: u32,
    /// When the run reached `running`; failures before `running_since + start_period` do
    /// not count.
    pub running_since: DateTime<Utc>,
}

/// What applying one check changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub previous: HealthState,
    pub state: HealthState,
    /// The failure was inside the start period and did not count.
    pub ignored: bool,
    /// The restart-on-unhealthy policy asks for a restart now.
    pub restart: bool,
}

impl Tracker {
    pub fn new(running_since: DateTime<Utc>) -> Tracker {
        Tracker {
            state: HealthState::Unknown,
            consecutive_failures: 0,
            consecutive_successes: 0,
            running_since,
        }
    }

    /// Success threshold is 1: one good check makes a server healthy again.
    pub fn apply(&mut self, check: &CheckResult, s: &EffectiveHealth) -> Applied {
        let previous = self.state;
        if check.ok {
            self.consecutive_failures = 0;
            self.consecutive_successes += 1;
            self.state = HealthState::Healthy;
            return Applied {
                previous,
                state: self.state,
                ignored: false,
                restart: false,
            };
        }
        let in_start_period = (check.at - self.running_since).num_milliseconds() as f64 / 1000.0
            < s.start_period_secs;
        if in_start_period {
            return Applied {
                previous,
                state: self.state,
                ignored: true,
                restart: false,
            };
        }
        self.consecutive_successes = 0;
        self.consecutive_failures += 1;
        if self.consecutive_failures >= s.failure_threshold {
            self.state = HealthState::Unhealthy;
        }
        let restart = self.state == HealthState::Unhealthy
            && s.restart_after_failures
                .is_some_and(|n| self.consecutive_failures >= s.failure_threshold + n - 1);
        Applied {
            previous,
            state: self.state,
            ignored: false,
            restart,
        }
    }
}

/// One stored check, as the history and summary read it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CheckRow {
    pub id: i32,
    pub status: String,
    pub response_time_ms: Option<i32>,
    pub error: Option<String>,
    pub timestamp: DateTime<Utc>,
}

/// Figures over a window of checks.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, Default)]
pub struct Summary {
    /// Healthy checks / all checks, in percent; null without checks.
    pub uptime_percent: Option<f64>,
    pub total_checks: u64,
    pub healthy_checks: u64,
    pub unhealthy_checks: u64,
    /// Averaged over the checks that have a response time (the seed divided by all checks).
    pub avg_response_time_ms: Option<f64>,
    pub p95_response_time_ms: Option<i32>,
    pub last_check: Option<CheckRow>,
    /// The status of the latest checks and how many in a row had it.
    pub current_streak: Option<Streak>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Streak {
    pub status: String,
    pub checks: u64,
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[i32], p: f64) -> Option<i32> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// Summary of `rows`, oldest first.
pub fn summarize(rows: &[CheckRow]) -> Summary {
    let total = rows.len() as u64;
    let healthy = rows.iter().filter(|r| r.status == "healthy").count() as u64;
    let unhealthy = rows.iter().filter(|r| r.status == "unhealthy").count() as u64;
    let mut times: Vec<i32> = rows.iter().filter_map(|r| r.response_time_ms).collect();
    times.sort_unstable();
    let avg = (!times.is_empty())
        .then(|| times.iter().map(|t| f64::from(*t)).sum::<f64>() / times.len() as f64);
    let streak = rows.last().map(|last| Streak {
        status: last.status.clone(),
        checks: rows
            .iter()
            .rev()
            .take_while(|r| r.status == last.status)
            .count() as u64,
    });
    Summary {
        uptime_percent: (total > 0).then(|| healthy as f64 * 100.0 / total as f64),
        total_checks: total,
        healthy_checks: healthy,
        unhealthy_checks: unhealthy,
        avg_response_time_ms: avg,
        p95_response_time_ms: percentile(&times, 95.0),
        last_check: rows.last().cloned(),
        current_streak: streak,
    }
}

/// One point of a bucketed history.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Bucket {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub total: u64,
    pub healthy: u64,
    pub unhealthy: u64,
    pub uptime_percent: Option<f64>,
    pub avg_response_time_ms: Option<f64>,
    pub p95_response_time_ms: Option<i32>,
}

/// Splits `[since, until)` into `n` equal buckets and summarizes the rows in each.
pub fn bucketize(
    rows: &[CheckRow],
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    n: usize,
) -> Vec<Bucket> {
    let n = n.max(1);
    let span = (until - since).num_milliseconds().max(1);
    let mut groups: Vec<Vec<&CheckRow>> = vec![Vec::new(); n];
    for r in rows {
        let offset = (r.timestamp - since).num_milliseconds();
        if offset < 0 || offset >= span {
            continue;
        }
        let i = ((offset as i128 * n as i128) / span as i128) as usize;
        groups[i.min(n - 1)].push(r);
    }
    groups
        .into_iter()
        .enumerate()
        .map(|(i, g)| {
            let at = |k: usize| {
                since
                    + chrono::Duration::milliseconds((span as i128 * k as i128 / n as i128) as i64)
            };
            let owned: Vec<CheckRow> = g.into_iter().cloned().collect();
            let s = summarize(&owned);
            Bucket {
                start: at(i),
                end: at(i + 1),
                total: s.total_checks,
                healthy: s.healthy_checks,
                unhealthy: s.unhealthy_checks,
                uptime_percent: s.uptime_percent,
                avg_response_time_ms: s.avg_response_time_ms,
                p95_response_time_ms: s.p95_response_time_ms,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use std::time::Duration;

    fn check(clock: &ManualClock, ok: bool) -> CheckResult {
        CheckResult {
            ok,
            response_time_ms: ok.then_some(3),
            error: (!ok).then(|| "no answer".into()),
            at: clock.now(),
            probes: vec!["mcp".into()],
        }
    }

    fn settings(threshold: u32, start: f64, restart: Option<u32>) -> EffectiveHealth {
        EffectiveHealth {
            interval_secs: 30.0,
            timeout_secs: 5.0,
            failure_threshold: threshold,
            start_period_secs: start,
            restart_after_failures: restart,
        }
    }

    #[test]
    fn unhealthy_only_after_the_threshold_and_healthy_after_one_success() {
        let clock = ManualClock::new(Utc::now());
        let mut t = Tracker::new(clock.now());
        let s = settings(3, 0.0, None);
        assert_eq!(
            t.apply(&check(&clock, true), &s).state,
            HealthState::Healthy
        );
        for expected in [
            HealthState::Healthy,
            HealthState::Healthy,
            HealthState::Unhealthy,
        ] {
            clock.advance(Duration::from_secs(30));
            assert_eq!(t.apply(&check(&clock, false), &s).state, expected);
        }
        clock.advance(Duration::from_secs(30));
        let a = t.apply(&check(&clock, true), &s);
        assert_eq!(
            (a.previous, a.state),
            (HealthState::Unhealthy, HealthState::Healthy)
        );
    }

    #[test]
    fn failures_inside_the_start_period_do_not_count() {
        let clock = ManualClock::new(Utc::now());
        let mut t = Tracker::new(clock.now());
        let s = settings(1, 60.0, None);
        clock.advance(Duration::from_secs(10));
        let a = t.apply(&check(&clock, false), &s);
        assert!(a.ignored);
        assert_eq!(a.state, HealthState::Unknown);
        assert_eq!(t.consecutive_failures, 0);
        clock.advance(Duration::from_secs(51));
        let a = t.apply(&check(&clock, false), &s);
        assert!(!a.ignored);
        assert_eq!(a.state, HealthState::Unhealthy);
    }

    #[test]
    fn restart_policy_fires_after_n_unhealthy_checks_only_when_enabled() {
        let clock = ManualClock::new(Utc::now());
        let off = settings(2, 0.0, None);
        let on = settings(2, 0.0, Some(2));
        let (mut a, mut b) = (Tracker::new(clock.now()), Tracker::new(clock.now()));
        let mut fired = vec![];
        for _ in 0..4 {
            clock.advance(Duration::from_secs(1));
            assert!(!a.apply(&check(&clock, false), &off).restart);
            fired.push(b.apply(&check(&clock, false), &on).restart);
        }
        // unhealthy at the 2nd failure; 2 unhealthy checks → restart at the 3rd
        assert_eq!(fired, vec![false, false, true, true]);
    }

    fn row(i: i32, status: &str, rt: Option<i32>, at: DateTime<Utc>) -> CheckRow {
        CheckRow {
            id: i,
            status: status.into(),
            response_time_ms: rt,
            error: None,
            timestamp: at,
        }
    }

    #[test]
    fn summary_is_exact_and_averages_only_timed_checks() {
        let t0 = Utc::now();
        let rows = vec![
            row(1, "healthy", Some(10), t0),
            row(2, "healthy", Some(20), t0),
            row(3, "unhealthy", None, t0),
            row(4, "healthy", Some(30), t0),
            row(5, "unhealthy", None, t0),
            row(6, "unhealthy", Some(100), t0),
        ];
        let s = summarize(&rows);
        assert_eq!(s.total_checks, 6);
        assert_eq!(s.healthy_checks, 3);
        assert_eq!(s.unhealthy_checks, 3);
        assert_eq!(s.uptime_percent, Some(50.0));
        // (10+20+30+100)/4 = 40, not 160/6
        assert_eq!(s.avg_response_time_ms, Some(40.0));
        assert_eq!(s.p95_response_time_ms, Some(100));
        assert_eq!(
            s.current_streak,
            Some(Streak {
                status: "unhealthy".into(),
                checks: 2
            })
        );
        assert_eq!(summarize(&[]).uptime_percent, None);
    }

    #[test]
    fn percentiles() {
        let v: Vec<i32> = (1..=100).collect();
        assert_eq!(percentile(&v, 95.0), Some(95));
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&[7], 95.0), Some(7));
    }

    #[test]
    fn buckets_cover_the_range_evenly() {
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let rows: Vec<CheckRow> = (0..120)
            .map(|i| {
                row(
                    i,
                    if i % 5 == 0 { "unhealthy" } else { "healthy" },
                    Some(i),
                    t0 + chrono::Duration::seconds(i64::from(i) * 30),
                )
            })
            .collect();
        let b = bucketize(&rows, t0, t0 + chrono::Duration::hours(1), 4);
        assert_eq!(b.len(), 4);
        assert!(b.iter().all(|x| x.total == 30), "{b:?}");
        assert_eq!(b[0].uptime_percent, Some(80.0));
        assert_eq!(b[0].start, t0);
        assert_eq!(b[3].end, t0 + chrono::Duration::hours(1));
        assert_eq!(b.iter().map(|x| x.total).sum::<u64>(), 120);
    }
}
