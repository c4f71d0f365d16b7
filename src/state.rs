//! The server state machine as data: a status enum whose variants carry their data, one
//! table of allowed transitions, and the pure decisions (what a user command may do, what
//! happens after an exit, how long to back off). Nothing here spawns or sleeps, so all of it
//! is unit-tested without processes; the ServerActor applies the results and is the only
//! writer of a server's status.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A server's lifecycle status. Impossible combinations (a pid while stopped, a generation
/// while in backoff) cannot be written.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Stopped,
    Starting {
        generation: u64,
        since: DateTime<Utc>,
    },
    Running {
        generation: u64,
        pid: Option<u32>,
        since: DateTime<Utc>,
    },
    Stopping {
        generation: u64,
        deadline: DateTime<Utc>,
    },
    Backoff {
        attempt: u32,
        until: DateTime<Utc>,
    },
    /// Gave up; only a user action leaves this state.
    Failed {
        reason: String,
    },
}

/// The name of a status, as it appears in the API and the `servers.status` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatusKind {
    Stopped,
    Starting,
    Running,
    Stopping,
    Backoff,
    Failed,
}

impl StatusKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusKind::Stopped => "stopped",
            StatusKind::Starting => "starting",
            StatusKind::Running => "running",
            StatusKind::Stopping => "stopping",
            StatusKind::Backoff => "backoff",
            StatusKind::Failed => "failed",
        }
    }
}

impl std::fmt::Display for StatusKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Status {
    pub fn kind(&self) -> StatusKind {
        match self {
            Status::Stopped => StatusKind::Stopped,
            Status::Starting { .. } => StatusKind::Starting,
            Status::Running { .. } => StatusKind::Running,
            Status::Stopping { .. } => StatusKind::Stopping,
            Status::Backoff { .. } => StatusKind::Backoff,
            Status::Failed { .. } => StatusKind::Failed,
        }
    }

    /// The generation of the run this status belongs to, if a run is live.
    pub fn generation(&self) -> Option<u64> {
        match self {
            Status::Starting { generation, .. }
            | Status::Running { generation, .. }
            | Status::Stopping { generation, .. } => Some(*generation),
            _ => None,
        }
    }
}

use StatusKind::*;

/// Every allowed transition. Anything else is a bug in the caller (for internal events) or a
/// 409 for the user (for commands, see [`check_command`]).
pub const ALLOWED_TRANSITIONS: &[(StatusKind, StatusKind)] = &[
    (Stopped, Starting),  // start
    (Stopped, Failed),    // start refused before anything was spawned (command missing)
    (Starting, Running),  // MCP handshake succeeded
    (Starting, Stopping), // user stop, or start timeout / handshake failure: kill the run
    (Starting, Backoff),  // exited while starting, policy retries
    (Starting, Failed),   // could not spawn, or exited while starting and we give up
    (Starting, Stopped),  // exited while starting with nothing to retry (policy never, code 0)
    (Running, Stopping),  // user stop or restart
    (Running, Backoff),   // unexpected exit, policy restarts
    (Running, Stopped),   // clean exit the policy does not restart
    (Running, Failed),    // exit the policy does not restart, or too many quick failures
    (Stopping, Stopped),  // the run's process group is gone
    (Stopping, Starting), // restart: the old run is gone, the new one begins
    (Stopping, Failed),   // a failed start was cleaned up
    (Stopping, Backoff),  // a failed start was cleaned up and the policy retries
    (Backoff, Starting),  // backoff elapsed, or user start
    (Backoff, Stopped),   // user stop cancels the pending restart
    (Backoff, Failed),    // the restart was refused before anything was spawned
    (Failed, Starting),   // user start / restart
    (Failed, Stopped),    // user stop acknowledges the failure
];

pub fn transition_allowed(from: StatusKind, to: StatusKind) -> bool {
    ALLOWED_TRANSITIONS.contains(&(from, to))
}

/// What a user (API, CLI, UI) asks of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Start,
    Stop,
    Restart,
}

/// Whether a user command is legal in a status; the error text is what the user reads.
pub fn check_command(status: StatusKind, command: Command) -> Result<(), String> {
    match (command, status) {
        (Command::Start, Stopped | Failed | Backoff) => Ok(()),
        (Command::Start, Starting) => Err("server is already starting".into()),
        (Command::Start, Running) => Err("server is already running".into()),
        (Command::Start, Stopping) => {
            Err("server is stopping; start it once it has stopped".into())
        }
        (Command::Stop, Starting | Running | Backoff | Failed) => Ok(()),
        (Command::Stop, Stopped) => Err("server is already stopped".into()),
        (Command::Stop, Stopping) => Err("server is already stopping".into()),
        (Command::Restart, Stopping) => {
            Err("server is stopping; start it once it has stopped".into())
        }
        (Command::Restart, _) => Ok(()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    Never,
    #[default]
    OnFailure,
    Always,
}

impl RestartPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            RestartPolicy::Never => "never",
            RestartPolicy::OnFailure => "on-failure",
            RestartPolicy::Always => "always",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "never" => Some(RestartPolicy::Never),
            "on-failure" => Some(RestartPolicy::OnFailure),
            "always" => Some(RestartPolicy::Always),
            _ => None,
        }
    }
}

/// Backoff and give-up settings of one server.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BackoffSettings {
    /// First restart delay in seconds (default 1).
    pub initial_secs: f64,
    /// Upper bound of the delay in seconds (default 60).
    pub max_secs: f64,
    /// Delay multiplier per quick failure (default 2).
    pub multiplier: f64,
    /// A run that lasted this long counts as stable and resets the backoff (default 30).
    pub stable_secs: f64,
    /// After this many consecutive quick failures the server is `failed` (default 5).
    pub max_failures: u32,
}

impl Default for BackoffSettings {
    fn default() -> Self {
        BackoffSettings {
            initial_secs: 1.0,
            max_secs: 60.0,
            multiplier: 2.0,
            stable_secs: 30.0,
            max_failures: 5,
        }
    }
}

impl BackoffSettings {
    pub fn validate(&self) -> Result<(), String> {
        let finite = [
            self.initial_secs,
            self.max_secs,
            self.multiplier,
            self.stable_secs,
        ];
        if finite.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err("backoff values must be finite and not negative".into());
        }
        if self.multiplier < 1.0 {
            return Err("backoff.multiplier must be at least 1".into());
        }
        if self.max_secs < self.initial_secs {
            return Err("backoff.max_secs must be at least backoff.initial_secs".into());
        }
        if self.max_secs > 86_400.0 || self.stable_secs > 86_400.0 {
            return Err("backoff durations are limited to one day".into());
        }
        if self.max_failures == 0 {
            return Err("backoff.max_failures must be at least 1".into());
        }
        Ok(())
    }

    /// Delay before restart attempt `attempt` (1-based), without jitter.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let exp = self
            .multiplier
            .powi(attempt.saturating_sub(1).min(64) as i32);
        let secs = (self.initial_secs * exp).min(self.max_secs);
        Duration::from_secs_f64(secs.max(0.0))
    }

    /// The delay with jitter: `jitter` in [0, 1) spreads restarts of many servers by up to
    /// ±20 %, so a crash shared by all of them does not restart them in lockstep.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let base = self.base_delay(attempt).as_secs_f64();
        let factor = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
        Duration::from_secs_f64((base * factor).min(self.max_secs.max(base)))
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExitInfo {
    /// Exit code, when the process exited by itself.
    pub code: Option<i32>,
    /// Signal number, when a signal ended it.
    pub signal: Option<i32>,
    /// When the exit was seen.
    pub at: DateTime<Utc>,
}

impl ExitInfo {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    pub fn describe(&self) -> String {
        match (self.code, self.signal) {
            (Some(code), _) => format!("exited with code {code}"),
            (None, Some(sig)) => {
                let name = nix::sys::signal::Signal::try_from(sig)
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|_| format!("signal {sig}"));
                format!("killed by {name}")
            }
            (None, None) => "exited".to_string(),
        }
    }
}

/// What to do after a run ended without the user asking for it.
#[derive(Debug, Clone, PartialEq)]
pub enum AfterExit {
    /// Stay stopped (a clean exit the policy does not restart).
    Stop,
    /// Give up, with the reason the user will read.
    Fail(String),
    /// Restart after the delay; `attempt` is the new consecutive-failure count.
    Restart { attempt: u32, delay: Duration },
}

/// The restart decision. `prior_attempts` counts the quick failures before this one;
/// `ran_for` is how long this run lasted. A run longer than the stable period resets the count,
/// so a server that crashes once a day is restarted promptly forever, while one that crashes
/// at once is given up after `max_failures` tries.
pub fn after_exit(
    policy: RestartPolicy,
    backoff: &BackoffSettings,
    exit: &ExitInfo,
    prior_attempts: u32,
    ran_for: Duration,
    jitter: f64,
) -> AfterExit {
    let restart = match policy {
        RestartPolicy::Never => false,
        RestartPolicy::OnFailure => !exit.success(),
        RestartPolicy::Always => true,
    };
    if !restart {
        return if exit.success() {
            AfterExit::Stop
        } else {
            AfterExit::Fail(exit.describe())
        };
    }
    let stable = ran_for.as_secs_f64() >= backoff.stable_secs;
    let attempt = if stable { 1 } else { prior_attempts + 1 };
    if attempt > backoff.max_failures {
        return AfterExit::Fail(format!(
            "{}; gave up after {} quick failures in a row",
            exit.describe(),
            prior_attempts
        ));
    }
    AfterExit::Restart {
        attempt,
        delay: backoff.delay(attempt, jitter),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [StatusKind; 6] = [Stopped, Starting, Running, Stopping, Backoff, Failed];

    fn exit(code: Option<i32>, signal: Option<i32>) -> ExitInfo {
        ExitInfo {
            code,
            signal,
            at: Utc::now(),
        }
    }

    #[test]
    fn table_has_no_self_loops_or_duplicates() {
        for (i, (a, b)) in ALLOWED_TRANSITIONS.iter().enumerate() {
            assert_ne!(a, b, "self loop {a}");
            assert!(
                !ALLOWED_TRANSITIONS[i + 1..].contains(&(*a, *b)),
                "duplicate {a}->{b}"
            );
        }
    }

    #[test]
    fn only_a_user_action_leaves_failed() {
        let from_failed: Vec<_> = ALL
            .iter()
            .filter(|to| transition_allowed(Failed, **to))
            .collect();
        assert_eq!(from_failed, vec![&Stopped, &Starting]);
        // and the automatic paths never lead out of Failed: Backoff is not reachable from it
        assert!(!transition_allowed(Failed, Backoff));
        assert!(!transition_allowed(Failed, Running));
    }

    #[test]
    fn running_is_reached_only_from_starting() {
        for from in ALL {
            assert_eq!(
                transition_allowed(from, Running),
                from == Starting,
                "{from}"
            );
        }
    }

    #[test]
    fn stopped_cannot_jump_to_running_or_backoff() {
        assert!(!transition_allowed(Stopped, Running));
        assert!(!transition_allowed(Stopped, Backoff));
        assert!(!transition_allowed(Stopped, Stopping));
    }

    #[test]
    fn every_state_is_reachable_and_leavable() {
        for s in ALL {
            assert!(
                ALL.iter().any(|f| transition_allowed(*f, s)),
                "{s} unreachable"
            );
            assert!(
                ALL.iter().any(|t| transition_allowed(s, *t)),
                "{s} is a trap"
            );
        }
    }

    #[test]
    fn user_commands() {
        assert!(check_command(Stopped, Command::Stop).is_err());
        assert!(check_command(Stopping, Command::Stop).is_err());
        assert!(check_command(Running, Command::Start).is_err());
        assert!(check_command(Starting, Command::Start).is_err());
        assert!(check_command(Stopped, Command::Start).is_ok());
        assert!(check_command(Failed, Command::Start).is_ok());
        assert!(check_command(Backoff, Command::Stop).is_ok());
        assert!(check_command(Running, Command::Restart).is_ok());
        assert!(check_command(Stopping, Command::Restart).is_err());
        // every legal command leads along an allowed edge
        for s in ALL {
            if check_command(s, Command::Start).is_ok() {
                assert!(transition_allowed(s, Starting), "start from {s}");
            }
            if check_command(s, Command::Stop).is_ok() {
                assert!(
                    transition_allowed(s, Stopping) || transition_allowed(s, Stopped),
                    "stop from {s}"
                );
            }
        }
    }

    #[test]
    fn backoff_doubles_to_the_cap() {
        let b = BackoffSettings::default();
        let d: Vec<u64> = (1..=8).map(|a| b.base_delay(a).as_secs()).collect();
        assert_eq!(d, vec![1, 2, 4, 8, 16, 32, 60, 60]);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let b = BackoffSettings::default();
        for j in [0.0, 0.25, 0.5, 0.99, 1.0] {
            let d = b.delay(3, j).as_secs_f64();
            assert!((3.2..=4.8).contains(&d), "{d}");
        }
        assert!(b.delay(3, 0.0) < b.delay(3, 0.99));
    }

    #[test]
    fn policy_never_and_on_failure() {
        let b = BackoffSettings::default();
        let ok = exit(Some(0), None);
        let bad = exit(Some(2), None);
        let killed = exit(None, Some(9));
        let short = Duration::from_secs(1);
        assert_eq!(
            after_exit(RestartPolicy::Never, &b, &ok, 0, short, 0.5),
            AfterExit::Stop
        );
        assert!(matches!(
            after_exit(RestartPolicy::Never, &b, &bad, 0, short, 0.5),
            AfterExit::Fail(r) if r == "exited with code 2"
        ));
        assert_eq!(
            after_exit(RestartPolicy::OnFailure, &b, &ok, 0, short, 0.5),
            AfterExit::Stop
        );
        assert!(matches!(
            after_exit(RestartPolicy::OnFailure, &b, &killed, 0, short, 0.5),
            AfterExit::Restart { attempt: 1, .. }
        ));
        assert!(matches!(
            after_exit(RestartPolicy::Always, &b, &ok, 0, short, 0.5),
            AfterExit::Restart { attempt: 1, .. }
        ));
    }

    #[test]
    fn quick_failures_grow_then_give_up_and_stable_runs_reset() {
        let b = BackoffSettings::default();
        let bad = exit(Some(1), None);
        let quick = Duration::from_secs(2);
        let mut attempts = 0;
        let mut delays = vec![];
        loop {
            match after_exit(RestartPolicy::OnFailure, &b, &bad, attempts, quick, 0.5) {
                AfterExit::Restart { attempt, delay } => {
                    attempts = attempt;
                    delays.push(delay);
                }
                AfterExit::Fail(reason) => {
                    assert!(reason.contains("gave up after 5"), "{reason}");
                    break;
                }
                AfterExit::Stop => panic!("stopped"),
            }
        }
        assert_eq!(delays.len(), 5);
        assert!(delays.windows(2).all(|w| w[0] < w[1]), "{delays:?}");
        // a stable run resets the count
        let stable = Duration::from_secs(31);
        assert!(matches!(
            after_exit(RestartPolicy::OnFailure, &b, &bad, 4, stable, 0.5),
            AfterExit::Restart { attempt: 1, .. }
        ));
    }

    #[test]
    fn exit_descriptions() {
        assert_eq!(exit(Some(3), None).describe(), "exited with code 3");
        assert_eq!(exit(None, Some(9)).describe(), "killed by SIGKILL");
    }

    #[test]
    fn backoff_validation() {
        assert!(BackoffSettings::default().validate().is_ok());
        let bad = BackoffSettings {
            multiplier: 0.5,
            ..Default::default()
        };
        assert!(bad.validate().is_err());
        let bad = BackoffSettings {
            initial_secs: f64::NAN,
            ..Default::default()
        };
        assert!(bad.validate().is_err());
    }
}
