//! Host processes, done right: spawned without a shell in their own process group, signalled
//! as a group, reaped by their wait task, and never left running unmanaged.
//!
//! Each child gets a parent-death signal (so it dies if the daemon is killed) and two marker
//! variables in its environment (inherited by its grandchildren), which let the next start
//! of the daemon find and end whatever a killed run left behind ([`sweep_orphans`]).

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

/// Environment marker naming the daemon instance (its data dir) that spawned a process.
pub const INSTANCE_ENV: &str = "MCP_MANAGER_INSTANCE";
/// Environment marker naming the server a process belongs to.
pub const SERVER_ENV: &str = "MCP_MANAGER_SERVER_ID";

pub struct SpawnSpec<'a> {
    pub program: PathBuf,
    pub args: &'a [String],
    pub cwd: Option<&'a Path>,
    pub env: Vec<(&'a str, &'a str)>,
    pub instance_id: &'a str,
    pub server_id: &'a str,
}

pub struct Spawned {
    pub child: Child,
    pub pid: u32,
    /// The process group; equal to `pid`, since the child leads its own group.
    pub pgid: i32,
    pub stdin: ChildStdin,
    pub stdout: ChildStdout,
    pub stderr: ChildStderr,
    /// The stderr pipe holds [`LOG_PIPE_BYTES`]: its reader may let lines gather.
    pub stderr_roomy: bool,
}

/// The PATH a server sees: its own `PATH` override, else the daemon's.
pub fn effective_path(env: &BTreeMap<String, String>) -> Option<String> {
    env.get("PATH")
        .cloned()
        .or_else(|| std::env::var("PATH").ok())
}

/// Resolves `command` the way execvp would, but before anything is spawned, so the user
/// reads "command not found: uvx" instead of a vague spawn error.
pub fn resolve_command(
    command: &str,
    path_var: Option<&str>,
    cwd: Option<&Path>,
) -> Result<PathBuf, String> {
    if command.contains('/') {
        let p = Path::new(command);
        let full = match (p.is_absolute(), cwd) {
            (false, Some(dir)) => dir.join(p),
            _ => p.to_path_buf(),
        };
        return if is_executable(&full) {
            Ok(full)
        } else if full.exists() {
            Err(format!("command is not executable: {}", full.display()))
        } else {
            Err(format!("command not found: {}", full.display()))
        };
    }
    for dir in path_var.unwrap_or("").split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(command);
        if is_executable(&candidate) {
            return Ok(candidate);
        }
    }
    Err(format!("command not found: {command} (searched PATH)"))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

pub fn check_working_directory(dir: &Path) -> Result<(), String> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(format!(
            "working directory is not a directory: {}",
            dir.display()
        )),
        Err(_) => Err(format!(
            "working directory does not exist: {}",
            dir.display()
        )),
    }
}

/// Spawns the child directly (no shell): arguments reach it verbatim.
///
/// Must be called from a thread that lives as long as the daemon (an actor's arbiter): the
/// parent-death signal fires when the spawning *thread* ends.
pub fn spawn(spec: SpawnSpec<'_>) -> std::io::Result<Spawned> {
    let mut cmd = Command::new(&spec.program);
    cmd.args(spec.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(false)
        .process_group(0);
    if let Some(dir) = spec.cwd {
        cmd.current_dir(dir);
    }
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    cmd.env(INSTANCE_ENV, spec.instance_id)
        .env(SERVER_ENV, spec.server_id);
    let parent = std::process::id();
    // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The daemon may have died between fork and prctl: then nobody would signal us.
            if libc::getppid() as u32 != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    let pid = child
        .id()
        .ok_or_else(|| std::io::Error::other("child exited before its pid was read"))?;
    let take = |what: &str| std::io::Error::other(format!("child {what} was not piped"));
    let stdin = child.stdin.take().ok_or_else(|| take("stdin"))?;
    let stdout = child.stdout.take().ok_or_else(|| take("stdout"))?;
    let stderr = child.stderr.take().ok_or_else(|| take("stderr"))?;
    let stderr_roomy = grow_pipe(&stderr, LOG_PIPE_BYTES);
    Ok(Spawned {
        stderr_roomy,
        pid,
        pgid: pid as i32,
        child,
        stdin,
        stdout,
        stderr,
    })
}

/// The capacity asked for the stderr pipe (Linux's default is 64 KiB). With room for a few
/// milliseconds of a flood, the log reader can let lines gather between reads instead of
/// waking for every line, and the child still never waits for it.
pub const LOG_PIPE_BYTES: i32 = 1 << 20;

/// Asks the kernel for a pipe of `bytes`; false when refused (an unprivileged user past
/// `/proc/sys/fs/pipe-user-pages-soft`, or `pipe-max-size` lower).
fn grow_pipe(pipe: &impl std::os::fd::AsRawFd, bytes: i32) -> bool {
    // SAFETY: fcntl on a descriptor we own; F_SETPIPE_SZ only resizes the pipe's buffer.
    let got = unsafe { libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, bytes) };
    got >= bytes
}

/// Sends `signal` to every process of the group. Returns false when the group is gone.
pub fn signal_group(pgid: i32, signal: Signal) -> bool {
    if pgid <= 1 {
        return false;
    }
    killpg(Pid::from_raw(pgid), signal).is_ok()
}

/// Whether any process of the group is still alive.
pub fn group_alive(pgid: i32) -> bool {
    pgid > 1 && killpg(Pid::from_raw(pgid), None).is_ok()
}

/// Every live process whose environment carries our instance marker, with its process group.
pub fn find_marked(instance_id: &str) -> Vec<(i32, i32)> {
    let needle = format!("{INSTANCE_ENV}={instance_id}");
    let me = std::process::id() as i32;
    let mut found = vec![];
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if !environ
            .split(|b| *b == 0)
            .any(|var| var == needle.as_bytes())
        {
            continue;
        }
        if let Ok(pgid) = nix::unistd::getpgid(Some(Pid::from_raw(pid))) {
            found.push((pid, pgid.as_raw()));
        }
    }
    found
}

/// Ends every process a previous run of this daemon instance left behind: SIGTERM to their
/// groups, then SIGKILL after `grace`. Returns how many processes were found.
pub fn sweep_orphans(instance_id: &str, grace: Duration) -> usize {
    let found = find_marked(instance_id);
    if found.is_empty() {
        return 0;
    }
    let mut groups: Vec<i32> = found.iter().map(|(_, g)| *g).collect();
    groups.sort_unstable();
    groups.dedup();
    for g in &groups {
        tracing::warn!(pgid = g, "ending a process group left by a previous run");
        signal_group(*g, Signal::SIGTERM);
        // A member that left the group (setsid) is signalled by pid.
    }
    for (pid, _) in &found {
        let _ = nix::sys::signal::kill(Pid::from_raw(*pid), Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && !find_marked(instance_id).is_empty() {
        std::thread::sleep(Duration::from_millis(50));
    }
    for (pid, pgid) in find_marked(instance_id) {
        signal_group(pgid, Signal::SIGKILL);
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    found.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_on_path_and_reports_missing_commands() {
        let path = std::env::var("PATH").ok();
        assert!(resolve_command("sh", path.as_deref(), None).is_ok());
        let e = resolve_command("surely-not-a-command-xyz", path.as_deref(), None)
            .expect_err("missing");
        assert!(
            e.contains("command not found: surely-not-a-command-xyz"),
            "{e}"
        );
        let e = resolve_command("./nope", None, Some(Path::new("/tmp"))).expect_err("missing");
        assert!(e.contains("/tmp/./nope"), "{e}");
        assert!(check_working_directory(Path::new("/definitely/not/here")).is_err());
        assert!(check_working_directory(Path::new("/tmp")).is_ok());
    }
}
