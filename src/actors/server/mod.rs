//! The ServerActor: one per managed server, the only writer of its status.
//!
//! It owns the server's definition, its current run (a process group or a container, its
//! pipes, its generation) and
//! the run's upstream MCP session, and it applies the state machine of `crate::state`: user
//! commands, the child's exit (seen at once by a wait task), handshake results, backoff
//! timers and stop deadlines all arrive as messages tagged with the run's generation, and
//! anything from an older generation is ignored. Shutdown: [`Shutdown`] stops the run like
//! a user stop but keeps the desired state, so the next daemon start restores it.

use super::bus::{EventBus, EventPayload, Publish};
use super::probe::{HealthProbe, Monitor, ProbeTarget, Unmonitor};
use crate::clock::SharedClock;
use crate::db::Store;
use crate::db::models::RunStateChange;
use crate::error::{AppError, AppResult};
use crate::health::{CheckResult, HealthDefaults, HealthState, Tracker};
use crate::logs::{LogSender, MAX_LINE, Source};
use crate::mcp::{self, McpSession};
use crate::model::{DesiredState, McpInfo, ServerPatch, ServerRecord, ServerView, Transport};
use crate::runtime::lines::{Line, LineSplitter, read_lines};
use crate::runtime::process::{self, SpawnSpec};
use crate::state::{self, AfterExit, Command, ExitInfo, Status, StatusKind};
use actix::prelude::*;
use chrono::{DateTime, Utc};
use futures::future::LocalBoxFuture;
use nix::sys::signal::Signal;
use rmcp::service::{Peer, RoleClient};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;

mod container;
mod instances;

pub use container::{CheckContainer, ContainerCreated, ContainerEvent as ContainerEventMsg};
pub use instances::{EndInstance, InstanceReady, MAX_SESSION_INSTANCES, OpenInstance};

/// What every ServerActor shares with the daemon.
#[derive(Clone)]
pub struct Deps {
    pub store: Store,
    pub bus: Addr<EventBus>,
    pub logs: Option<LogSender>,
    pub clock: SharedClock,
    pub instance_id: String,
    pub engine: crate::runtime::docker::Engine,
    pub probe: Addr<HealthProbe>,
    pub health_defaults: HealthDefaults,
}

/// What runs: a host process group or a container.
enum Handle {
    Process {
        pid: u32,
        pgid: i32,
    },
    /// `None` until the engine has created it.
    Container {
        id: Option<String>,
    },
    /// A server the manager does not run: the run is the MCP session with its url.
    Remote {
        url: String,
    },
}

/// One live run of the server.
struct Run {
    generation: u64,
    handle: Handle,
    started: Instant,
    session: Option<McpSession>,
    /// Held for http-transport servers (stdio ones hand stdin to the MCP session); dropping
    /// it closes the child's stdin.
    stdin: Option<tokio::process::ChildStdin>,
    handshake: Option<SpawnHandle>,
    /// Why the start was abandoned (timeout, failed handshake): the exit then counts as a
    /// failure whatever its code.
    failed_start: Option<String>,
    /// Escalation timers of a stop in progress.
    stop_timers: Vec<SpawnHandle>,
    /// The engine reported an out-of-memory kill for this run.
    oom: bool,
}

impl Run {
    fn pid(&self) -> Option<u32> {
        match self.handle {
            Handle::Process { pid, .. } => Some(pid),
            Handle::Container { .. } | Handle::Remote { .. } => None,
        }
    }
    fn pgid(&self) -> Option<i32> {
        match self.handle {
            Handle::Process { pgid, .. } => Some(pgid),
            Handle::Container { .. } | Handle::Remote { .. } => None,
        }
    }
    fn container_id(&self) -> Option<&str> {
        match &self.handle {
            Handle::Container { id } => id.as_deref(),
            Handle::Process { .. } | Handle::Remote { .. } => None,
        }
    }
}

/// What to do once the current run has stopped.
enum AfterStop {
    Restart,
    Delete(oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
}

pub struct ServerActor {
    rec: ServerRecord,
    status: Status,
    deps: Deps,
    run: Option<Run>,
    /// Consecutive quick failures, for backoff.
    attempts: u32,
    after_stop: Vec<AfterStop>,
    backoff_timer: Option<SpawnHandle>,
    deleted: bool,
    /// Health thresholds of the current `running` period.
    health: Option<Tracker>,
    /// The gateway options of the definition, for the gateway to read per request.
    policy: tokio::sync::watch::Sender<std::sync::Arc<crate::gateway::Policy>>,
    /// The status, for callers that wait for a change (a gateway call starting the
    /// server on demand) without asking again and again.
    status_watch: tokio::sync::watch::Sender<StatusKind>,
    /// Per-session instances (isolation `per-session`), by gateway session id.
    instances: std::collections::HashMap<String, instances::Instance>,
    /// Told when the last instance is gone (shutdown and delete wait for it).
    instances_waiters: Vec<oneshot::Sender<()>>,
}

impl ServerActor {
    pub fn new(rec: ServerRecord, deps: Deps) -> ServerActor {
        let policy = std::sync::Arc::new(crate::gateway::Policy::of(&rec.settings));
        ServerActor {
            policy: tokio::sync::watch::Sender::new(policy),
            status_watch: tokio::sync::watch::Sender::new(StatusKind::Stopped),
            rec,
            status: Status::Stopped,
            deps,
            run: None,
            attempts: 0,
            after_stop: vec![],
            backoff_timer: None,
            deleted: false,
            health: None,
            instances: Default::default(),
            instances_waiters: vec![],
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.deps.clock.now()
    }

    fn view(&self) -> ServerView {
        let mut v = ServerView::from_record(&self.rec);
        v.status = self.status.kind();
        v.session_instances = self.instance_count();
        match &self.status {
            Status::Starting { since, .. } | Status::Running { since, .. } => {
                v.status_since = Some(*since)
            }
            Status::Backoff { until, .. } => v.next_start_at = Some(*until),
            _ => {}
        }
        v
    }

    fn log(&self, level: &'static str, message: impl Into<String>) {
        if let Some(logs) = &self.deps.logs {
            logs.system(&self.rec.id, level, message);
        }
    }

    fn publish(&self, event: EventPayload) {
        self.deps.bus.do_send(Publish::from(event));
    }

    /// The single place a status changes: checks the table, persists, announces.
    fn set_status(&mut self, next: Status) {
        let from = self.status.kind();
        let to = next.kind();
        if from != to && !state::transition_allowed(from, to) {
            tracing::error!(server = %self.rec.name, %from, %to, "illegal transition refused");
            return;
        }
        self.status = next;
        self.rec.status = to;
        self.status_watch
            .send_if_modified(|s| std::mem::replace(s, to) != to);
        if from == StatusKind::Running && to != StatusKind::Running {
            self.stop_monitoring();
        }
        // A deliberate stop makes health unknown; after a crash it stays unhealthy until a
        // new run proves otherwise.
        if matches!(to, StatusKind::Stopping | StatusKind::Stopped) {
            self.set_health(HealthState::Unknown);
        }
        let live = matches!(
            self.status,
            Status::Starting { .. } | Status::Running { .. } | Status::Stopping { .. }
        );
        let run = self.run.as_ref().filter(|_| live);
        self.rec.process_id = run.and_then(Run::pid);
        self.rec.process_group = run.and_then(Run::pgid);
        self.rec.container_id = run.and_then(|r| r.container_id().map(String::from));
        self.rec.updated_at = self.now();
        self.persist_run_state();
        if from != to {
            tracing::info!(server = %self.rec.name, %from, %to, "status");
            self.publish(EventPayload::ServerStatus {
                id: self.rec.id.clone(),
                name: self.rec.name.clone(),
                status: to,
                previous: from,
                generation: self.rec.generation,
                server: self.view(),
            });
        }
    }

    fn persist_run_state(&self) {
        let change = RunStateChange {
            status: self.rec.status.as_str().into(),
            process_id: self.rec.process_id.and_then(|p| i32::try_from(p).ok()),
            process_group: self.rec.process_group,
            last_exit: self
                .rec
                .last_exit
                .as_ref()
                .and_then(|e| serde_json::to_string(e).ok()),
            last_error: self.rec.last_error.clone(),
            restart_count: i32::try_from(self.rec.restart_count).unwrap_or(i32::MAX),
            generation: i64::try_from(self.rec.generation).unwrap_or(i64::MAX),
            container_id: self.rec.container_id.clone(),
            updated_at: self.rec.updated_at.naive_utc(),
        };
        let id = self.rec.id.clone();
        self.deps.store.write_detached(move |c| {
            use crate::db::schema::servers::dsl;
            use diesel::prelude::*;
            diesel::update(dsl::servers.find(id))
                .set(&change)
                .execute(c)
        });
    }

    /// Takes `rec` as the server's definition: the gateway's policy follows it, it is
    /// stored, and the change is announced. Returns the new view.
    fn take_definition(&mut self, rec: ServerRecord) -> ServerView {
        self.rec = rec;
        let policy = crate::gateway::Policy::of(&self.rec.settings);
        self.policy.send_if_modified(|p| {
            let changed = **p != policy;
            if changed {
                *p = std::sync::Arc::new(policy);
            }
            changed
        });
        self.persist_definition();
        let view = self.view();
        self.publish(EventPayload::ServerUpdated {
            server: view.clone(),
        });
        view
    }

    fn persist_definition(&self) {
        let row = self.rec.to_row();
        self.deps.store.write_detached(move |c| {
            use crate::db::schema::servers::dsl;
            use diesel::prelude::*;
            diesel::update(dsl::servers.find(row.id.clone()))
                .set(&row)
                .execute(c)
        });
    }

    fn set_desired(&mut self, desired: DesiredState) {
        if self.rec.desired_state != desired {
            self.rec.desired_state = desired;
            let id = self.rec.id.clone();
            self.deps.store.write_detached(move |c| {
                use crate::db::schema::servers::dsl;
                use diesel::prelude::*;
                diesel::update(dsl::servers.find(id))
                    .set(dsl::desired_state.eq(desired.as_str()))
                    .execute(c)
            });
        }
    }

    fn fail(&mut self, reason: String) {
        self.log("error", format!("failed: {reason}"));
        self.rec.last_error = Some(reason.clone());
        self.set_status(Status::Failed { reason });
    }

    /// Begins a new run on the server's runtime.
    fn begin_start(&mut self, ctx: &mut Context<Self>) -> AppResult<()> {
        if let Some(h) = self.backoff_timer.take() {
            ctx.cancel_future(h);
        }
        match self.rec.kind {
            crate::model::ServerType::Container => {
                self.begin_container_start(ctx);
                Ok(())
            }
            crate::model::ServerType::Remote => {
                self.begin_remote_start(ctx);
                Ok(())
            }
            _ => self.begin_process_start(ctx),
        }
    }

    /// A remote run: nothing to spawn, only the MCP handshake with its url. It ends when
    /// the user stops it (or the handshake fails); while it runs, health checks tell
    /// whether the server still answers.
    fn begin_remote_start(&mut self, ctx: &mut Context<Self>) {
        let generation = self.rec.generation + 1;
        self.rec.generation = generation;
        self.rec.last_error = None;
        let url = self.rec.http_url().unwrap_or_default();
        self.log("info", format!("connecting to {url} (run {generation})"));
        let deadline = self.start_deadline();
        let server_id = self.rec.id.clone();
        let logs = self.deps.logs.clone();
        let target = url.clone();
        let connect: LocalBoxFuture<'static, Result<McpSession, String>> =
            Box::pin(
                async move { McpSession::connect_http(&server_id, logs, &target, deadline).await },
            );
        self.begin_run(ctx, generation, Handle::Remote { url }, None, connect);
    }

    /// Spawns the server's command (its args, env with secrets, cwd) the one way the
    /// manager spawns anything: own process group, parent-death signal, orphan markers.
    /// Everything the user can get wrong is checked before the fork. Used for the server's
    /// run and for its per-session instances.
    fn spawn_command(&self) -> Result<(std::path::PathBuf, process::Spawned), String> {
        let cwd = self.rec.working_directory.clone();
        if let Some(dir) = &cwd {
            process::check_working_directory(Path::new(dir))?;
        }
        let command = self.rec.command.clone().unwrap_or_default();
        let path = process::effective_path(&self.rec.env);
        let program =
            process::resolve_command(&command, path.as_deref(), cwd.as_deref().map(Path::new))?;
        let env: Vec<(&str, &str)> = self
            .rec
            .env
            .iter()
            .chain(self.rec.secret_env.iter())
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        process::spawn(SpawnSpec {
            program: program.clone(),
            args: &self.rec.args,
            cwd: cwd.as_deref().map(Path::new),
            env,
            instance_id: &self.deps.instance_id,
            server_id: &self.rec.id,
        })
        .map(|spawned| (program.clone(), spawned))
        .map_err(|e| format!("could not start {}: {e}", program.display()))
    }

    /// Spawns a process run.
    fn begin_process_start(&mut self, ctx: &mut Context<Self>) -> AppResult<()> {
        let generation = self.rec.generation + 1;
        let (program, spawned) = match self.spawn_command() {
            Ok(s) => s,
            Err(reason) => {
                self.run = None;
                self.fail(reason.clone());
                return Err(AppError::Unprocessable(reason));
            }
        };
        self.rec.generation = generation;
        self.rec.last_error = None;
        let process::Spawned {
            child,
            pid,
            pgid,
            stdin,
            stdout,
            stderr,
            stderr_roomy,
        } = spawned;
        self.log(
            "info",
            format!(
                "spawned pid {pid} (run {generation}): {} {}",
                program.display(),
                self.rec.args.join(" ")
            ),
        );

        // Exit is seen at once: the wait task owns the child and reports its status.
        let addr = ctx.address();
        tokio::spawn(async move {
            let exit = wait_child(child).await;
            addr.do_send(ChildExited { generation, exit });
        });

        // stderr is the log.
        tokio::spawn(log_pipe_tagged(
            stderr,
            Source::Stderr,
            self.rec.id.clone(),
            self.deps.logs.clone(),
            None,
            stderr_roomy,
        ));

        let deadline = self.start_deadline();
        let server_id = self.rec.id.clone();
        let logs = self.deps.logs.clone();
        let mut held_stdin = None;
        let connect: LocalBoxFuture<'static, Result<McpSession, String>> = match self.rec.transport
        {
            Transport::Stdio => {
                let from_pump = child_protocol_channel(stdout, &server_id, &logs);
                Box::pin(async move {
                    McpSession::connect_stdio(&server_id, logs, from_pump, stdin).await
                })
            }
            Transport::Http => {
                tokio::spawn(log_pipe(
                    stdout,
                    Source::Stdout,
                    server_id.clone(),
                    logs.clone(),
                ));
                held_stdin = Some(stdin);
                let url = self.rec.http_url().unwrap_or_default();
                Box::pin(
                    async move { McpSession::connect_http(&server_id, logs, &url, deadline).await },
                )
            }
        };
        self.begin_run(
            ctx,
            generation,
            Handle::Process { pid, pgid },
            held_stdin,
            connect,
        );
        Ok(())
    }

    fn start_monitoring(&mut self, ctx: &mut Context<Self>, generation: u64, since: DateTime<Utc>) {
        self.health = Some(Tracker::new(since));
        let peer = self
            .run
            .as_ref()
            .and_then(|r| r.session.as_ref())
            .map(McpSession::peer);
        let container_id = self
            .run
            .as_ref()
            .and_then(|r| r.container_id().map(String::from));
        self.deps.probe.do_send(Monitor {
            server_id: self.rec.id.clone(),
            generation,
            addr: ctx.address(),
            target: ProbeTarget {
                pid: self.run.as_ref().and_then(Run::pid),
                peer,
                http_url: self.rec.health_url(),
                container_id,
            },
            settings: self
                .rec
                .settings
                .health
                .effective(&self.deps.health_defaults),
        });
    }

    fn stop_monitoring(&mut self) {
        self.health = None;
        self.deps.probe.do_send(Unmonitor {
            server_id: self.rec.id.clone(),
            generation: self.rec.generation,
        });
    }

    fn set_health(&mut self, state: HealthState) {
        let previous = HealthState::parse(&self.rec.health_status);
        if previous == state {
            return;
        }
        self.rec.health_status = state.as_str().to_string();
        let id = self.rec.id.clone();
        let value = self.rec.health_status.clone();
        self.deps.store.write_detached(move |c| {
            use crate::db::schema::servers::dsl;
            use diesel::prelude::*;
            diesel::update(dsl::servers.find(id))
                .set(dsl::health_status.eq(value))
                .execute(c)
        });
        self.publish(EventPayload::ServerHealth {
            id: self.rec.id.clone(),
            name: self.rec.name.clone(),
            health: state,
            previous,
            server: self.view(),
        });
    }

    /// Stores one check and announces it.
    fn record_check(&mut self, check: CheckResult) {
        let status = if check.ok { "healthy" } else { "unhealthy" };
        self.rec.last_health_check = Some(check.at);
        let row = crate::db::models::NewHealthRow {
            server_id: self.rec.id.clone(),
            status: status.to_string(),
            response_time: check.response_time_ms,
            error_message: check.error.clone(),
            timestamp: check.at.naive_utc(),
        };
        let id = self.rec.id.clone();
        let at = check.at.naive_utc();
        self.deps.store.write_detached(move |c| {
            use crate::db::schema::{health_metrics, servers::dsl};
            use diesel::prelude::*;
            diesel::insert_into(health_metrics::table)
                .values(&row)
                .execute(c)?;
            diesel::update(dsl::servers.find(id))
                .set(dsl::last_health_check.eq(Some(at)))
                .execute(c)
        });
        self.publish(EventPayload::HealthUpdate {
            id: self.rec.id.clone(),
            name: self.rec.name.clone(),
            status: status.to_string(),
            health: self.rec.health_status.clone(),
            response_time_ms: check.response_time_ms,
            error: check.error,
            probes: check.probes,
            at: check.at,
        });
    }

    fn start_deadline(&self) -> Instant {
        Instant::now() + Duration::from_secs_f64(self.rec.settings.start_timeout_secs)
    }

    /// Runs `connect` then lists what the server offers, within the start timeout; the
    /// result comes back to [`Self::on_handshake`] tagged with the run's generation.
    /// Records a new run (whatever its runtime) and starts its MCP handshake: `starting`.
    fn begin_run(
        &mut self,
        ctx: &mut Context<Self>,
        generation: u64,
        handle: Handle,
        stdin: Option<tokio::process::ChildStdin>,
        connect: LocalBoxFuture<'static, Result<McpSession, String>>,
    ) {
        let handshake = self.spawn_handshake(ctx, generation, connect);
        self.run = Some(Run {
            generation,
            handle,
            started: Instant::now(),
            session: None,
            stdin,
            handshake: Some(handshake),
            failed_start: None,
            stop_timers: vec![],
            oom: false,
        });
        let since = self.now();
        self.set_status(Status::Starting { generation, since });
    }

    fn spawn_handshake(
        &mut self,
        ctx: &mut Context<Self>,
        generation: u64,
        connect: LocalBoxFuture<'static, Result<McpSession, String>>,
    ) -> SpawnHandle {
        let deadline = self.start_deadline();
        let timeout = self.rec.settings.start_timeout_secs;
        // Running means: the handshake succeeded and the server said what it offers.
        let handshake = async move {
            let ready = async {
                let session = connect.await?;
                let info = mcp::describe(&session.peer()).await?;
                Ok((session, info))
            };
            tokio::time::timeout_at(deadline.into(), ready)
                .await
                .unwrap_or_else(|_| {
                    Err(format!(
                        "start timed out after {timeout}s without an MCP handshake"
                    ))
                })
        };
        ctx.spawn(handshake.into_actor(self).map(move |result, act, ctx| {
            act.on_handshake(generation, result, ctx);
        }))
    }

    fn on_handshake(
        &mut self,
        generation: u64,
        result: Result<(McpSession, McpInfo), String>,
        ctx: &mut Context<Self>,
    ) {
        let current =
            matches!(self.status, Status::Starting { generation: g, .. } if g == generation);
        let Some(run) = self
            .run
            .as_mut()
            .filter(|r| r.generation == generation && current)
        else {
            if let Ok((session, _)) = result {
                actix::spawn(session.close());
            }
            return;
        };
        run.handshake = None;
        match result {
            Ok((session, info)) => {
                let pid = run.pid();
                run.session = Some(session);
                let name = info
                    .server_info
                    .as_ref()
                    .and_then(|s| s.get("name"))
                    .and_then(|n| n.as_str())
                    .unwrap_or("?")
                    .to_string();
                self.log(
                    "info",
                    format!(
                        "MCP handshake done: server {name}, protocol {}, {} tools",
                        info.protocol_version.as_deref().unwrap_or("?"),
                        info.tools.len()
                    ),
                );
                self.record_mcp_info(info);
                let since = self.now();
                self.set_status(Status::Running {
                    generation,
                    pid,
                    since,
                });
                self.start_monitoring(ctx, generation, since);
            }
            Err(reason) => {
                run.failed_start = Some(reason.clone());
                self.log("error", reason.clone());
                self.rec.last_error = Some(reason);
                self.begin_stop(ctx);
            }
        }
    }

    fn record_mcp_info(&mut self, mut info: McpInfo) {
        info.live = false;
        let json = serde_json::to_string(&info).ok();
        self.rec.mcp_info = Some(info);
        let id = self.rec.id.clone();
        self.deps.store.write_detached(move |c| {
            use crate::db::schema::servers::dsl;
            use diesel::prelude::*;
            diesel::update(dsl::servers.find(id))
                .set(dsl::mcp_info.eq(json))
                .execute(c)
        });
    }

    /// Graceful stop of the current run: close stdin (the MCP stdio way to ask for an exit),
    /// SIGTERM to the group shortly after, SIGKILL to the group at the grace deadline.
    fn begin_stop(&mut self, ctx: &mut Context<Self>) {
        // Per-session instances belong to this run: they go with it.
        self.stop_all_instances(ctx);
        let grace = Duration::from_secs_f64(self.rec.settings.stop_grace_secs);
        let Some(run) = self.run.as_mut() else {
            return;
        };
        if let Some(h) = run.handshake.take() {
            // Dropping the handshake future drops its transport, closing stdin.
            ctx.cancel_future(h);
        }
        if let Some(session) = run.session.take() {
            actix::spawn(session.close());
        }
        if let Some(mut stdin) = run.stdin.take() {
            actix::spawn(async move {
                let _ = stdin.shutdown().await;
            });
        }
        let generation = run.generation;
        match &run.handle {
            Handle::Process { pgid, .. } => {
                let timers = stop_group(ctx, *pgid, grace, "", move |act| {
                    act.is_stopping(generation)
                });
                run.stop_timers.extend(timers);
            }
            Handle::Container { id } => {
                let id = id.clone();
                self.stop_container(ctx, generation, id, grace);
            }
            // The session was closed above; that is the whole run.
            Handle::Remote { .. } => ctx.notify(ChildExited {
                generation,
                exit: ExitInfo {
                    code: None,
                    signal: None,
                    at: Utc::now(),
                },
            }),
        }
        let deadline = self.now() + chrono::Duration::from_std(grace).unwrap_or_default();
        self.set_status(Status::Stopping {
            generation,
            deadline,
        });
    }

    fn is_stopping(&self, generation: u64) -> bool {
        matches!(self.status, Status::Stopping { generation: g, .. } if g == generation)
    }

    fn on_exit(&mut self, msg: ChildExited, ctx: &mut Context<Self>) {
        let Some(run) = self.run.take_if(|r| r.generation == msg.generation) else {
            tracing::debug!(server = %self.rec.name, generation = msg.generation, "stale exit ignored");
            return;
        };
        // A crash ends the run's per-session instances too (a stop already began theirs).
        self.stop_all_instances(ctx);
        match &run.handle {
            // Whatever the leader left in its group belongs to this run: end it too.
            Handle::Process { pgid, .. } => {
                process::signal_group(*pgid, Signal::SIGKILL);
            }
            // Our containers do not outlive their run.
            Handle::Container { id: Some(id) } => {
                let engine = self.deps.engine.clone();
                let id = id.clone();
                actix::spawn(async move {
                    if let Err(e) = engine.remove(&id).await {
                        tracing::warn!(error = %e, "removing a container");
                    }
                });
            }
            Handle::Container { id: None } | Handle::Remote { .. } => {}
        }
        for h in run.stop_timers {
            ctx.cancel_future(h);
        }
        if let Some(h) = run.handshake {
            ctx.cancel_future(h);
        }
        if let Some(session) = run.session {
            actix::spawn(session.close());
        }
        let ran_for = run.started.elapsed();
        let exit = msg.exit;
        let what = match &run.handle {
            Handle::Process { pid, .. } => format!("pid {pid}"),
            Handle::Container { id } => format!(
                "container {}",
                id.as_deref().map(short_id).unwrap_or("(not created)")
            ),
            Handle::Remote { url } => format!("session with {url}"),
        };
        let oom = if run.oom { " (out of memory)" } else { "" };
        self.log(
            if exit.success() { "info" } else { "warn" },
            format!(
                "{what} {}{oom} after {:.1}s",
                exit.describe(),
                ran_for.as_secs_f64()
            ),
        );
        self.rec.last_exit = Some(exit.clone());
        let was = self.status.kind();
        if was == StatusKind::Stopping {
            let pending = std::mem::take(&mut self.after_stop);
            let restart = pending.iter().any(|p| matches!(p, AfterStop::Restart));
            let deleting = pending.iter().any(|p| matches!(p, AfterStop::Delete(_)));
            if let Some(reason) = run.failed_start.filter(|_| pending.is_empty()) {
                // The run was abandoned because its start failed: the policy decides.
                let reason = format!("{reason}; the process {}{oom}", exit.describe());
                self.after_failure(reason, ran_for, ctx);
            } else if restart && !deleting && !self.deleted {
                self.set_status(Status::Stopped);
                self.status = Status::Stopped;
                if let Err(e) = self.begin_start(ctx) {
                    tracing::warn!(server = %self.rec.name, error = %e, "restart failed");
                }
            } else {
                self.set_status(Status::Stopped);
            }
            for p in pending {
                match p {
                    AfterStop::Delete(tx) | AfterStop::Shutdown(tx) => {
                        let _ = tx.send(());
                    }
                    AfterStop::Restart => {}
                }
            }
            return;
        }
        // An exit nobody asked for.
        if was == StatusKind::Running {
            // A crash is a failed health check known at once, not at the next probe.
            self.record_check(CheckResult {
                ok: false,
                response_time_ms: None,
                error: Some(format!("the server {}{oom}", exit.describe())),
                at: exit.at,
                probes: vec!["exit".into()],
            });
            self.set_health(HealthState::Unhealthy);
        }
        let failed_start = run.failed_start;
        let decision = state::after_exit(
            self.rec.restart_policy,
            &self.rec.settings.backoff,
            &exit,
            self.attempts,
            ran_for,
            rand::random::<f64>(),
        );
        match (decision, failed_start) {
            (AfterExit::Stop, None) => {
                self.attempts = 0;
                self.set_status(Status::Stopped);
            }
            (AfterExit::Stop, Some(reason)) => {
                let reason = format!("{reason}; the process {}{oom}", exit.describe());
                self.after_failure(reason, ran_for, ctx)
            }
            (AfterExit::Fail(reason), _) => {
                self.attempts = 0;
                self.fail(format!("{reason}{oom}"));
            }
            (AfterExit::Restart { attempt, delay }, _) => {
                self.rec.last_error = Some(format!("{}{oom}", exit.describe()));
                self.schedule_restart(attempt, delay, ctx);
            }
        }
    }

    /// A start that did not succeed counts as a failure whatever the exit code was.
    fn after_failure(&mut self, reason: String, ran_for: Duration, ctx: &mut Context<Self>) {
        let failure = ExitInfo {
            code: Some(1),
            signal: None,
            at: self.now(),
        };
        let policy = match self.rec.restart_policy {
            state::RestartPolicy::Never => state::RestartPolicy::Never,
            _ => state::RestartPolicy::OnFailure,
        };
        match state::after_exit(
            policy,
            &self.rec.settings.backoff,
            &failure,
            self.attempts,
            ran_for,
            rand::random::<f64>(),
        ) {
            AfterExit::Restart { attempt, delay } => {
                self.rec.last_error = Some(reason);
                self.schedule_restart(attempt, delay, ctx);
            }
            AfterExit::Fail(why) if why.contains("gave up") => {
                self.attempts = 0;
                self.fail(format!("{reason}; gave up after repeated failures"));
            }
            _ => {
                self.attempts = 0;
                self.fail(reason);
            }
        }
    }

    fn schedule_restart(&mut self, attempt: u32, delay: Duration, ctx: &mut Context<Self>) {
        self.attempts = attempt;
        let until = self.now() + chrono::Duration::from_std(delay).unwrap_or_default();
        self.log(
            "info",
            format!(
                "restarting in {:.2}s (attempt {attempt} of {})",
                delay.as_secs_f64(),
                self.rec.settings.backoff.max_failures
            ),
        );
        self.set_status(Status::Backoff { attempt, until });
        self.backoff_timer = Some(ctx.run_later(delay, move |act, ctx| {
            act.backoff_timer = None;
            if matches!(act.status, Status::Backoff { attempt: a, .. } if a == attempt) {
                act.rec.restart_count += 1;
                if let Err(e) = act.begin_start(ctx) {
                    tracing::warn!(server = %act.rec.name, error = %e, "restart failed");
                }
            }
        }));
    }

    fn command(&mut self, cmd: Command, ctx: &mut Context<Self>) -> AppResult<ServerView> {
        if self.deleted {
            return Err(AppError::NotFound(format!(
                "server {} was deleted",
                self.rec.name
            )));
        }
        state::check_command(self.status.kind(), cmd)
            .map_err(|m| AppError::Conflict(format!("{}: {m}", self.rec.name)))?;
        match cmd {
            Command::Start => {
                self.set_desired(DesiredState::Running);
                self.attempts = 0;
                self.begin_start(ctx)?;
            }
            Command::Stop => {
                self.set_desired(DesiredState::Stopped);
                self.attempts = 0;
                match self.status.kind() {
                    StatusKind::Starting | StatusKind::Running => self.begin_stop(ctx),
                    _ => {
                        if let Some(h) = self.backoff_timer.take() {
                            ctx.cancel_future(h);
                        }
                        self.set_status(Status::Stopped);
                    }
                }
            }
            Command::Restart => {
                self.set_desired(DesiredState::Running);
                self.attempts = 0;
                match self.status.kind() {
                    StatusKind::Starting | StatusKind::Running => {
                        self.after_stop.push(AfterStop::Restart);
                        self.begin_stop(ctx);
                    }
                    _ => self.begin_start(ctx)?,
                }
            }
        }
        Ok(self.view())
    }

    /// Stops the run (if any) and calls back when it is gone.
    fn stop_then(&mut self, then: AfterStop, ctx: &mut Context<Self>) -> Option<AfterStop> {
        if let Some(h) = self.backoff_timer.take() {
            ctx.cancel_future(h);
        }
        match self.status.kind() {
            StatusKind::Starting | StatusKind::Running => {
                self.after_stop.push(then);
                self.begin_stop(ctx);
                None
            }
            StatusKind::Stopping => {
                self.after_stop.push(then);
                None
            }
            StatusKind::Backoff => {
                self.set_status(Status::Stopped);
                Some(then)
            }
            _ => Some(then),
        }
    }
}

impl Actor for ServerActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        if self.rec.status != StatusKind::Stopped {
            // The status column still says what a killed daemon last wrote.
            self.rec.status = StatusKind::Stopped;
            self.rec.process_id = None;
            self.rec.process_group = None;
            self.persist_run_state();
        }
        if self.rec.desired_state == DesiredState::Running {
            self.log("info", "daemon started: restoring desired state running");
        }
        if self.rec.kind == crate::model::ServerType::Container {
            // A container may have outlived the previous daemon: adopt or remove it first.
            self.reconcile_containers(ctx);
        } else if self.rec.desired_state == DesiredState::Running
            && let Err(e) = self.begin_start(ctx)
        {
            tracing::warn!(server = %self.rec.name, error = %e, "could not restore");
        }
    }
}

/// The child of run `generation` exited.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ChildExited {
    pub generation: u64,
    pub exit: ExitInfo,
}

impl Handler<ChildExited> for ServerActor {
    type Result = ();
    fn handle(&mut self, msg: ChildExited, ctx: &mut Self::Context) {
        self.on_exit(msg, ctx);
    }
}

/// A user command (start, stop, restart).
#[derive(Message)]
#[rtype(result = "AppResult<ServerView>")]
pub struct UserCommand(pub Command);

impl Handler<UserCommand> for ServerActor {
    type Result = AppResult<ServerView>;
    fn handle(&mut self, msg: UserCommand, ctx: &mut Self::Context) -> Self::Result {
        self.command(msg.0, ctx)
    }
}

/// The server as the API shows it.
#[derive(Message)]
#[rtype(result = "ServerView")]
pub struct GetView;

impl Handler<GetView> for ServerActor {
    type Result = MessageResult<GetView>;
    fn handle(&mut self, _: GetView, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.view())
    }
}

/// Apply a validated patch; the registry has already reserved a new name.
#[derive(Message)]
#[rtype(result = "AppResult<ServerView>")]
pub struct ApplyPatch(pub ServerPatch);

impl Handler<ApplyPatch> for ServerActor {
    type Result = AppResult<ServerView>;
    fn handle(&mut self, msg: ApplyPatch, _: &mut Self::Context) -> Self::Result {
        let updated = self.rec.patched(msg.0, self.now())?;
        Ok(self.take_definition(updated))
    }
}

/// The servers file, read again on SIGHUP, has an entry for this server: its definition
/// (`wanted`, a record made from the entry) and what it says about running. Answers whether
/// the definition changed.
#[derive(Message)]
#[rtype(result = "AppResult<bool>")]
pub struct Redefine {
    pub wanted: ServerRecord,
    pub desired: Option<DesiredState>,
}

impl Handler<Redefine> for ServerActor {
    type Result = AppResult<bool>;
    fn handle(&mut self, msg: Redefine, ctx: &mut Self::Context) -> Self::Result {
        if self.deleted {
            return Err(AppError::NotFound(format!(
                "server {} was deleted",
                self.rec.name
            )));
        }
        let changed = !self.rec.same_definition(&msg.wanted);
        if changed {
            let redefined = self.rec.redefined(&msg.wanted, self.now());
            self.take_definition(redefined);
            self.log("info", "definition changed in the servers file");
        }
        let active = matches!(
            self.status.kind(),
            StatusKind::Starting | StatusKind::Running
        );
        // As `docker compose up` after an edit: what runs with an old definition is
        // restarted with the new one; a stopped server is started only when the entry says
        // so, and one the entry wants stopped is stopped.
        let command = match msg.desired.unwrap_or(self.rec.desired_state) {
            DesiredState::Running if changed && active => Some(Command::Restart),
            DesiredState::Running
                if msg.desired.is_some()
                    && matches!(self.status.kind(), StatusKind::Stopped | StatusKind::Failed) =>
            {
                Some(Command::Start)
            }
            DesiredState::Stopped
                if msg.desired.is_some()
                    && (active || self.status.kind() == StatusKind::Backoff) =>
            {
                Some(Command::Stop)
            }
            _ => None,
        };
        if let Some(command) = command {
            self.command(command, ctx)?;
        }
        Ok(changed)
    }
}

/// Check a patch without applying it (used by the registry before it reserves a name).
#[derive(Message)]
#[rtype(result = "AppResult<String>")]
pub struct CheckPatch(pub ServerPatch);

impl Handler<CheckPatch> for ServerActor {
    type Result = AppResult<String>;
    fn handle(&mut self, msg: CheckPatch, _: &mut Self::Context) -> Self::Result {
        Ok(self.rec.patched(msg.0, self.now())?.name)
    }
}

/// The upstream MCP session's peer, for anyone who needs to talk to the server.
#[derive(Message)]
#[rtype(result = "AppResult<(Peer<RoleClient>, McpInfo)>")]
pub struct GetPeer;

impl Handler<GetPeer> for ServerActor {
    type Result = AppResult<(Peer<RoleClient>, McpInfo)>;
    fn handle(&mut self, _: GetPeer, _: &mut Self::Context) -> Self::Result {
        match (
            &self.status,
            self.run.as_ref().and_then(|r| r.session.as_ref()),
        ) {
            (Status::Running { .. }, Some(session)) => Ok((
                session.peer(),
                self.rec.mcp_info.clone().unwrap_or_default(),
            )),
            _ => Err(AppError::Conflict(format!(
                "{} is {}, not running",
                self.rec.name,
                self.status.kind()
            ))),
        }
    }
}

/// What the gateway needs to reach the server: its status and, while it runs over stdio,
/// the router of its upstream session.
#[derive(Message)]
#[rtype(result = "crate::gateway::Reach")]
pub struct GetUpstream;

impl Handler<GetUpstream> for ServerActor {
    type Result = MessageResult<GetUpstream>;
    fn handle(&mut self, _: GetUpstream, _: &mut Self::Context) -> Self::Result {
        let running = matches!(self.status, Status::Running { .. });
        MessageResult(crate::gateway::Reach {
            name: self.rec.name.clone(),
            status: self.status.kind(),
            upstream: self
                .run
                .as_ref()
                .and_then(|r| r.session.as_ref())
                .filter(|_| running)
                .and_then(McpSession::upstream),
            info: self.rec.mcp_info.clone(),
            policy: self.policy.subscribe(),
            status_changes: self.status_watch.subscribe(),
            isolation: self.rec.settings.isolation,
        })
    }
}

/// A gateway call found the server stopped and its settings say start on demand: start it
/// as `POST /api/servers/{ref}/start` would. Decided here, not by the caller, so that
/// concurrent calls start it once, and a server that has meanwhile failed or started is
/// left as it is.
#[derive(Message)]
#[rtype(result = "AppResult<()>")]
pub struct StartOnDemand;

impl Handler<StartOnDemand> for ServerActor {
    type Result = AppResult<()>;
    fn handle(&mut self, _: StartOnDemand, ctx: &mut Self::Context) -> Self::Result {
        if self.status.kind() != StatusKind::Stopped || !self.rec.settings.start_on_demand {
            return Ok(());
        }
        self.log("info", "started on demand by a gateway call");
        self.command(Command::Start, ctx).map(|_| ())
    }
}

/// The outcome of one health check of run `generation`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct HealthResult {
    pub generation: u64,
    pub result: CheckResult,
}

impl Handler<HealthResult> for ServerActor {
    type Result = ();
    fn handle(&mut self, msg: HealthResult, ctx: &mut Self::Context) {
        let running = matches!(self.status, Status::Running { generation, .. } if generation == msg.generation);
        let settings = self
            .rec
            .settings
            .health
            .effective(&self.deps.health_defaults);
        let Some(tracker) = self.health.as_mut().filter(|_| running) else {
            return;
        };
        let applied = tracker.apply(&msg.result, &settings);
        if applied.ignored {
            return;
        }
        let failures = tracker.consecutive_failures;
        self.record_check(msg.result);
        self.set_health(applied.state);
        if applied.restart {
            self.log(
                "warn",
                format!(
                    "{failures} failed health checks in a row: restarting (restart_after_failures)"
                ),
            );
            self.rec.restart_count += 1;
            self.rec.last_error = Some(format!("restarted after {failures} failed health checks"));
            self.after_stop.push(AfterStop::Restart);
            self.begin_stop(ctx);
        }
    }
}

/// The server's health as its actor knows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct HealthView {
    pub id: String,
    pub name: String,
    pub status: StatusKind,
    pub health: HealthState,
    /// Whether checks are running (only while the server is `running`).
    pub monitored: bool,
    pub consecutive_failures: u32,
    pub consecutive_successes: u32,
    pub last_health_check: Option<DateTime<Utc>>,
    pub settings: crate::health::EffectiveHealth,
}

#[derive(Message)]
#[rtype(result = "HealthView")]
pub struct GetHealth;

impl Handler<GetHealth> for ServerActor {
    type Result = MessageResult<GetHealth>;
    fn handle(&mut self, _: GetHealth, _: &mut Self::Context) -> Self::Result {
        MessageResult(HealthView {
            id: self.rec.id.clone(),
            name: self.rec.name.clone(),
            status: self.status.kind(),
            health: HealthState::parse(&self.rec.health_status),
            monitored: self.health.is_some(),
            consecutive_failures: self.health.as_ref().map_or(0, |t| t.consecutive_failures),
            consecutive_successes: self.health.as_ref().map_or(0, |t| t.consecutive_successes),
            last_health_check: self.rec.last_health_check,
            settings: self
                .rec
                .settings
                .health
                .effective(&self.deps.health_defaults),
        })
    }
}

/// The MCP info recorded at the last successful handshake.
#[derive(Message)]
#[rtype(result = "Option<McpInfo>")]
pub struct GetRecordedMcp;

impl Handler<GetRecordedMcp> for ServerActor {
    type Result = Option<McpInfo>;
    fn handle(&mut self, _: GetRecordedMcp, _: &mut Self::Context) -> Self::Result {
        self.rec.mcp_info.clone()
    }
}

/// Stop the run and remove the server from the store; the actor ends after.
#[derive(Message)]
#[rtype(result = "AppResult<()>")]
pub struct Delete;

impl Handler<Delete> for ServerActor {
    type Result = ResponseActFuture<Self, AppResult<()>>;
    fn handle(&mut self, _: Delete, ctx: &mut Self::Context) -> Self::Result {
        self.deleted = true;
        self.set_desired(DesiredState::Stopped);
        let (tx, rx) = oneshot::channel();
        if let Some(AfterStop::Delete(tx)) = self.stop_then(AfterStop::Delete(tx), ctx) {
            let _ = tx.send(());
        }
        self.stop_all_instances(ctx);
        let instances = self.instances_gone();
        let store = self.deps.store.clone();
        let id = self.rec.id.clone();
        Box::pin(
            async move {
                let _ = rx.await;
                let _ = instances.await;
                store
                    .write(move |c| {
                        use crate::db::schema::servers::dsl;
                        use diesel::prelude::*;
                        diesel::delete(dsl::servers.find(id)).execute(c)
                    })
                    .await
                    .map(|_| ())
            }
            .into_actor(self)
            .map(|res, act, ctx| {
                if res.is_ok() {
                    act.publish(EventPayload::ServerDeleted {
                        id: act.rec.id.clone(),
                        name: act.rec.name.clone(),
                    });
                    ctx.stop();
                }
                res
            }),
        )
    }
}

/// Daemon shutdown: stop the run, keep the desired state.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

impl Handler<Shutdown> for ServerActor {
    type Result = ResponseFuture<()>;
    fn handle(&mut self, _: Shutdown, ctx: &mut Self::Context) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        if let Some(AfterStop::Shutdown(tx)) = self.stop_then(AfterStop::Shutdown(tx), ctx) {
            let _ = tx.send(());
        }
        self.stop_all_instances(ctx);
        let instances = self.instances_gone();
        Box::pin(async move {
            let _ = rx.await;
            let _ = instances.await;
        })
    }
}

/// Splits a stdio server's stdout: returns the JSON-RPC lines (for the MCP session's
/// router); everything else is logged.
fn protocol_channel<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
    stdout: R,
    server_id: &str,
    logs: &Option<LogSender>,
) -> crate::gateway::upstream::Lines {
    // stdout is the protocol channel: JSON-RPC lines go to the MCP session, anything else is
    // logged. The pump keeps reading even when the session is gone, so the child never
    // blocks on a full pipe. Lines are handed over whole, without a copy.
    let (to_client, from_pump) = crate::gateway::upstream::lines();
    crate::gateway::spawn_io(pump_stdout(
        stdout,
        to_client,
        server_id.to_string(),
        logs.clone(),
    ));
    from_pump
}

/// [`protocol_channel`] for a child process: its stdout pipe is registered anew on the
/// gateway's IO thread, so that the child's writes wake that thread directly (a pipe
/// registered here would wake this thread first, which would then wake that one).
fn child_protocol_channel(
    stdout: tokio::process::ChildStdout,
    server_id: &str,
    logs: &Option<LogSender>,
) -> crate::gateway::upstream::Lines {
    let (to_client, from_pump) = crate::gateway::upstream::lines();
    let (server_id, logs) = (server_id.to_string(), logs.clone());
    match stdout.into_owned_fd() {
        Ok(fd) => crate::gateway::spawn_io(async move {
            match tokio::net::unix::pipe::Receiver::from_owned_fd(fd) {
                Ok(pipe) => pump_stdout(pipe, to_client, server_id, logs).await,
                // Dropping `to_client` ends the session: the start fails and says so.
                Err(e) => {
                    tracing::error!(server = %server_id, "cannot read the child's stdout: {e}")
                }
            }
        }),
        Err(e) => tracing::error!(server = %server_id, "cannot read the child's stdout: {e}"),
    }
    from_pump
}

/// How long the stderr reader waits after a short read, so that a child writing a line
/// per write(2) is read a batch at a time (one wake-up and one read for hundreds of lines
/// instead of each) while a quiet child's line still arrives at once. A 1 MiB pipe holds
/// about 5 ms of a 1M-lines/s flood, so the child never waits for the reader.
const GATHER: std::time::Duration = std::time::Duration::from_millis(1);

fn short_id(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// The signals of the stop sequence, once stdin is closed: SIGTERM to the group shortly
/// after, SIGKILL at the grace deadline, each only while `still` says that group is the one
/// being stopped (a timer outliving its process must not hit a successor).
fn stop_group(
    ctx: &mut Context<ServerActor>,
    pgid: i32,
    grace: Duration,
    who: &str,
    still: impl Fn(&ServerActor) -> bool + Clone + 'static,
) -> Vec<SpawnHandle> {
    let term_after = (grace / 2).min(Duration::from_secs(1));
    let term = still.clone();
    let who = who.to_string();
    vec![
        ctx.run_later(term_after, move |act, _| {
            if term(act) {
                tracing::debug!(pgid, "SIGTERM to group");
                process::signal_group(pgid, Signal::SIGTERM);
            }
        }),
        ctx.run_later(grace, move |act, _| {
            if still(act) {
                act.log(
                    "warn",
                    format!(
                        "{who}still running after the {}s grace period: SIGKILL",
                        grace.as_secs_f64()
                    ),
                );
                process::signal_group(pgid, Signal::SIGKILL);
            }
        }),
    ]
}

/// Waits for the child (reaping it) and says how it ended.
async fn wait_child(mut child: tokio::process::Child) -> ExitInfo {
    match child.wait().await {
        Ok(s) => ExitInfo {
            code: s.code(),
            signal: s.signal(),
            at: Utc::now(),
        },
        Err(_) => ExitInfo {
            code: None,
            signal: None,
            at: Utc::now(),
        },
    }
}

/// Logs every line of a pipe until EOF.
async fn log_pipe<R: tokio::io::AsyncRead + Unpin>(
    pipe: R,
    source: Source,
    server_id: String,
    logs: Option<LogSender>,
) {
    log_pipe_tagged(pipe, source, server_id, logs, None, false).await
}

/// Logs every line of a pipe until EOF, each behind `prefix` when one is given (a
/// per-session instance's lines, told apart from the server's own). With `gather`, for a
/// pipe with room for a few milliseconds of a flood (`process::LOG_PIPE_BYTES`), lines
/// are let gather a moment after a short read.
async fn log_pipe_tagged<R: tokio::io::AsyncRead + Unpin>(
    pipe: R,
    source: Source,
    server_id: String,
    logs: Option<LogSender>,
    prefix: Option<String>,
    gather: bool,
) {
    let server_id: std::sync::Arc<str> = server_id.into();
    let pause = gather.then_some(GATHER);
    read_lines(pipe, MAX_LINE, pause, |lines: &mut Vec<Line>| {
        if let Some(prefix) = &prefix {
            for l in lines.iter_mut() {
                l.bytes.splice(0..0, prefix.bytes());
            }
        }
        if let Some(logs) = &logs {
            logs.lines(&server_id, source, lines);
        }
    })
    .await;
}

/// Reads the child's stdout: JSON-RPC lines go to the MCP client, other lines to the log.
/// Never stops reading before EOF, so the child cannot block on a full pipe.
async fn pump_stdout<R: tokio::io::AsyncRead + Unpin>(
    mut stdout: R,
    to_client: tokio::sync::mpsc::Sender<bytes::Bytes>,
    server_id: String,
    logs: Option<LogSender>,
) {
    use tokio::io::AsyncReadExt;
    let mut client_open = true;
    let mut noise = 0u64;
    // Protocol messages can be large (a tools list with schemas); only log lines are capped.
    let mut splitter = LineSplitter::new(64 * 1024 * 1024);
    let mut buf = vec![0u8; 64 * 1024];
    let mut lines = Vec::new();
    let mut eof = false;
    while !eof {
        match stdout.read(&mut buf).await {
            Ok(0) | Err(_) => {
                eof = true;
                lines.extend(splitter.finish());
            }
            Ok(n) => splitter.feed(&buf[..n], &mut lines),
        }
        for l in lines.drain(..) {
            if is_json_rpc(&l.bytes) {
                if client_open {
                    client_open = to_client.send(l.bytes.into()).await.is_ok();
                }
            } else if !l.bytes.iter().all(u8::is_ascii_whitespace) {
                noise += 1;
                if let Some(logs) = &logs {
                    let cut = l.bytes.len() > MAX_LINE;
                    let bytes = &l.bytes[..l.bytes.len().min(MAX_LINE)];
                    logs.line(&server_id, Source::Stdout, bytes, l.truncated || cut);
                }
            }
        }
    }
    if noise > 0
        && let Some(logs) = &logs
    {
        logs.system(
            &server_id,
            "warn",
            format!("{noise} non-JSON-RPC lines on stdout (logged with source stdout)"),
        );
    }
}

fn is_json_rpc(line: &[u8]) -> bool {
    let trimmed = line.trim_ascii();
    if !(trimmed.starts_with(b"{") || trimmed.starts_with(b"[")) {
        return false;
    }
    // Validated without building a value: this runs on every line of every server, and the
    // gateway's hot path goes through it.
    #[derive(serde::Deserialize)]
    struct Probe {
        jsonrpc: Option<serde::de::IgnoredAny>,
    }
    if trimmed.starts_with(b"[") {
        return serde_json::from_slice::<Vec<Probe>>(trimmed)
            .is_ok_and(|a| a.first().is_some_and(|p| p.jsonrpc.is_some()));
    }
    serde_json::from_slice::<Probe>(trimmed).is_ok_and(|p| p.jsonrpc.is_some())
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_rpc_detection() {
        assert!(super::is_json_rpc(
            br#"{"jsonrpc":"2.0","id":1,"result":{}}"#
        ));
        assert!(super::is_json_rpc(br#"  [{"jsonrpc":"2.0","method":"x"}]"#));
        assert!(!super::is_json_rpc(b"Starting server on stdio..."));
        assert!(!super::is_json_rpc(br#"{"level":"info","msg":"hi"}"#));
    }
}
