//! Per-session instances (`isolation: "per-session"`): one more child of the server's
//! command (or one more container of its image) for each gateway client session, on top of
//! the server's own run.
//!
//! The ServerActor owns them, as it owns its run: a map gateway session id → instance,
//! each tagged with the generation of the run it was spawned under. The gateway asks for
//! one at the client's `initialize` ([`OpenInstance`]) and gives it back when the session
//! ends ([`EndInstance`]: DELETE, idle expiry, daemon shutdown). A process instance is
//! spawned exactly as the run is (`ServerActor::spawn_command`) and a wait task reaps it; a
//! container instance is created from the run's spec with the session in its labels
//! (`ServerActor::start_session_container`) and its exit comes as the engine's `die` event.
//! Either way its stdout goes through a router of its own (the same
//! `McpSession::connect_stdio` handshake as the run), its stderr into the server's log
//! behind a `[session xxxxxxxx]` marker, and its end is reported as [`InstanceExited`].
//!
//! Shutdown: an instance is stopped like a run (stdin closed, then SIGTERM to its group and
//! SIGKILL after the grace period, or the engine's stop with that grace; a container is
//! removed once it exited); all of them are stopped when the run stops, restarts, crashes,
//! or the server is deleted, and `Shutdown`/`Delete` wait until every one has ended.

use super::{ServerActor, log_pipe_tagged, protocol_channel, stop_group, wait_child};
use crate::error::{AppError, AppResult};
use crate::gateway::Upstream;
use crate::logs::Source;
use crate::mcp::McpSession;
use crate::model::Isolation;
use crate::state::{ExitInfo, Status};
use actix::prelude::*;
use nix::sys::signal::Signal;
use rmcp::model::ServerPeerInfo;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Per-session instances a server may have at once: a client that initializes in a loop
/// gets an error, it does not fork the machine.
pub const MAX_SESSION_INSTANCES: usize = 32;

/// Tells instances apart, so that the exit of an earlier instance of the same session id
/// (or a duplicate report of one exit) finds nothing to end.
static NONCES: AtomicU64 = AtomicU64::new(1);

/// One per-session child.
pub(super) struct Instance {
    /// The server run it belongs to; it does not outlive that run.
    generation: u64,
    nonce: u64,
    what: Runs,
    started: Instant,
    /// Set once its handshake is done.
    session: Option<McpSession>,
    stopping: bool,
    stop_timers: Vec<SpawnHandle>,
}

/// What an instance runs as.
pub(super) enum Runs {
    Process {
        pid: u32,
        pgid: i32,
    },
    /// `None` until the engine has created it.
    Container {
        id: Option<String>,
    },
}

impl Runs {
    fn describe(&self) -> String {
        match self {
            Runs::Process { pid, .. } => format!("pid {pid}"),
            Runs::Container { id } => format!(
                "container {}",
                id.as_deref()
                    .map(super::short_id)
                    .unwrap_or("(not created)")
            ),
        }
    }
}

/// An instance's MCP handshake in progress.
pub(super) type Handshake = futures::future::LocalBoxFuture<'static, Result<McpSession, String>>;

/// The short form of a gateway session id used in log lines.
fn tag(session_id: &str) -> &str {
    &session_id[..session_id.len().min(8)]
}

impl ServerActor {
    /// How many per-session instances run now.
    pub(super) fn instance_count(&self) -> u32 {
        u32::try_from(self.instances.len()).unwrap_or(u32::MAX)
    }

    /// Spawns the instance of `session_id` and returns its handshake, to be finished by
    /// [`Self::on_instance_handshake`].
    fn spawn_instance(
        &mut self,
        session_id: &str,
        ctx: &mut Context<Self>,
    ) -> AppResult<(u64, u64, Handshake)> {
        if self.rec.settings.isolation != Isolation::PerSession {
            return Err(AppError::Conflict(format!(
                "{} does not have isolation per-session",
                self.rec.name
            )));
        }
        let Status::Running { generation, .. } = self.status else {
            return Err(AppError::Conflict(format!(
                "server {} is {}",
                self.rec.name,
                self.status.kind()
            )));
        };
        if self.instances.len() >= MAX_SESSION_INSTANCES {
            return Err(AppError::Unavailable(format!(
                "server {} already runs {MAX_SESSION_INSTANCES} per-session instances (the limit): end a session first",
                self.rec.name
            )));
        }
        if self.instances.contains_key(session_id) {
            return Err(AppError::Conflict(format!(
                "session {session_id} already has an instance"
            )));
        }
        let nonce = NONCES.fetch_add(1, Ordering::Relaxed);
        let short = tag(session_id).to_string();
        let (what, handshake) = if self.rec.kind == crate::model::ServerType::Container {
            self.log(
                "info",
                format!(
                    "starting a container for gateway session {short} (per-session instance of run {generation})"
                ),
            );
            let handshake = self.start_session_container(session_id, nonce, generation, ctx);
            (Runs::Container { id: None }, handshake)
        } else {
            self.spawn_instance_process(session_id, nonce, generation, ctx)?
        };
        self.instances.insert(
            session_id.to_string(),
            Instance {
                generation,
                nonce,
                what,
                started: Instant::now(),
                session: None,
                stopping: false,
                stop_timers: vec![],
            },
        );
        self.announce();
        Ok((generation, nonce, handshake))
    }

    /// The process of a new instance, spawned as the run's is.
    fn spawn_instance_process(
        &mut self,
        session_id: &str,
        nonce: u64,
        generation: u64,
        ctx: &mut Context<Self>,
    ) -> AppResult<(Runs, Handshake)> {
        let (program, spawned) = self.spawn_command().map_err(AppError::Unprocessable)?;
        let crate::runtime::process::Spawned {
            child,
            pid,
            pgid,
            stdin,
            stdout,
            stderr,
            stderr_roomy,
        } = spawned;
        let short = tag(session_id);
        self.log(
            "info",
            format!(
                "spawned pid {pid} for gateway session {short} (per-session instance of run {generation}): {}",
                program.display(),
            ),
        );
        let addr = ctx.address();
        let sid = session_id.to_string();
        tokio::spawn(async move {
            let exit = wait_child(child).await;
            addr.do_send(InstanceExited {
                session_id: sid,
                nonce,
                exit,
            });
        });
        tokio::spawn(log_pipe_tagged(
            stderr,
            Source::Stderr,
            self.rec.id.clone(),
            self.deps.logs.clone(),
            Some(session_prefix(session_id)),
            stderr_roomy,
        ));
        let server_id = self.rec.id.clone();
        let logs = self.deps.logs.clone();
        let from_pump = protocol_channel(stdout, &server_id, &logs);
        let deadline = self.start_deadline();
        let timeout = self.rec.settings.start_timeout_secs;
        let handshake: Handshake = Box::pin(async move {
            let connect = McpSession::connect_stdio(&server_id, logs, from_pump, stdin);
            tokio::time::timeout_at(deadline.into(), connect)
                .await
                .unwrap_or_else(|_| Err(format!("no MCP handshake within {timeout}s")))
        });
        Ok((Runs::Process { pid, pgid }, handshake))
    }

    fn on_instance_handshake(
        &mut self,
        session_id: &str,
        generation: u64,
        nonce: u64,
        result: Result<McpSession, String>,
        ctx: &mut Context<Self>,
    ) -> AppResult<InstanceReady> {
        let current =
            matches!(self.status, Status::Running { generation: g, .. } if g == generation);
        let instance = self
            .instances
            .get_mut(session_id)
            .filter(|i| i.nonce == nonce && !i.stopping && current);
        match (instance, result) {
            (Some(instance), Ok(session)) => {
                let upstream = session
                    .upstream()
                    .ok_or_else(|| AppError::Internal("a stdio session without a router".into()))?;
                let peer = session.peer().peer_info();
                instance.session = Some(session);
                Ok(InstanceReady { upstream, peer })
            }
            (_, Ok(session)) => {
                actix::spawn(session.close());
                self.stop_instance(session_id, ctx);
                Err(AppError::Conflict(format!(
                    "server {} stopped while the session's instance was starting",
                    self.rec.name
                )))
            }
            (_, Err(reason)) => {
                let reason = format!(
                    "the per-session instance for gateway session {} failed its start: {reason}",
                    tag(session_id)
                );
                self.log("warn", reason.clone());
                self.stop_instance(session_id, ctx);
                // A container instance whose start failed is gone already (its start
                // removes what it created): nothing will report an exit.
                if self
                    .instances
                    .get(session_id)
                    .is_some_and(|i| i.nonce == nonce && matches!(i.what, Runs::Container { .. }))
                {
                    ctx.notify(InstanceExited {
                        session_id: session_id.to_string(),
                        nonce,
                        exit: ExitInfo {
                            code: None,
                            signal: None,
                            at: self.now(),
                        },
                    });
                }
                Err(AppError::Upstream(reason))
            }
        }
    }

    /// Stops one instance with the project's stop sequence; its exit removes it.
    pub(super) fn stop_instance(&mut self, session_id: &str, ctx: &mut Context<Self>) {
        let grace = Duration::from_secs_f64(self.rec.settings.stop_grace_secs);
        let Some(instance) = self.instances.get_mut(session_id).filter(|i| !i.stopping) else {
            return;
        };
        instance.stopping = true;
        // Closing the session closes the child's stdin: the MCP stdio way to ask for an exit.
        if let Some(session) = instance.session.take() {
            actix::spawn(session.close());
        }
        let (sid, nonce) = (session_id.to_string(), instance.nonce);
        match &instance.what {
            Runs::Process { pid, pgid } => {
                let who = format!(
                    "per-session instance pid {pid} (session {}) ",
                    tag(session_id)
                );
                let timers = stop_group(ctx, *pgid, grace, &who, move |act| {
                    act.instances.get(&sid).is_some_and(|i| i.nonce == nonce)
                });
                instance.stop_timers.extend(timers);
            }
            Runs::Container { id: Some(id) } => {
                let id = id.clone();
                self.stop_session_container(id, sid, nonce, grace, ctx);
            }
            // Its start is still creating it: the container is stopped as soon as it exists
            // (`InstanceContainerCreated`).
            Runs::Container { id: None } => {}
        }
    }

    /// A container of a per-session instance was created; stopped at once when its session
    /// ended meanwhile.
    fn on_instance_container(&mut self, msg: InstanceContainerCreated, ctx: &mut Context<Self>) {
        let grace = Duration::from_secs_f64(self.rec.settings.stop_grace_secs);
        let Some(instance) = self
            .instances
            .get_mut(&msg.session_id)
            .filter(|i| i.nonce == msg.nonce)
        else {
            // Its instance is gone already: so is the container.
            let engine = self.deps.engine.clone();
            actix::spawn(async move {
                let _ = engine.remove(&msg.id).await;
            });
            return;
        };
        instance.what = Runs::Container {
            id: Some(msg.id.clone()),
        };
        if instance.stopping {
            self.stop_session_container(msg.id, msg.session_id, msg.nonce, grace, ctx);
        }
    }

    /// The instance whose container is `container_id`, if any.
    pub(super) fn instance_of_container(&self, container_id: &str) -> Option<(String, u64)> {
        self.instances.iter().find_map(|(sid, i)| match &i.what {
            Runs::Container { id: Some(id) } if id == container_id => Some((sid.clone(), i.nonce)),
            _ => None,
        })
    }

    /// The containers of the per-session instances, for a check against the engine.
    pub(super) fn instance_containers(&self) -> Vec<(String, u64, String)> {
        self.instances
            .iter()
            .filter_map(|(sid, i)| match &i.what {
                Runs::Container { id: Some(id) } => Some((sid.clone(), i.nonce, id.clone())),
                _ => None,
            })
            .collect()
    }

    /// Stops every instance (the run they belong to ends, or the server goes away).
    pub(super) fn stop_all_instances(&mut self, ctx: &mut Context<Self>) {
        let ids: Vec<String> = self.instances.keys().cloned().collect();
        for id in ids {
            self.stop_instance(&id, ctx);
        }
    }

    /// Resolves once no instance is left (at once when there is none).
    pub(super) fn instances_gone(&mut self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        if self.instances.is_empty() {
            let _ = tx.send(());
        } else {
            self.instances_waiters.push(tx);
        }
        rx
    }

    pub(super) fn on_instance_exit(&mut self, msg: InstanceExited, ctx: &mut Context<Self>) {
        // Not this one when the nonce differs: an earlier instance's late report.
        if self.instances.get(&msg.session_id).map(|i| i.nonce) != Some(msg.nonce) {
            return;
        }
        let Some(instance) = self.instances.remove(&msg.session_id) else {
            return;
        };
        match &instance.what {
            // Whatever it left in its group ends with it.
            Runs::Process { pgid, .. } => {
                crate::runtime::process::signal_group(*pgid, Signal::SIGKILL);
            }
            // Our containers do not outlive their instance.
            Runs::Container { id: Some(id) } => {
                let engine = self.deps.engine.clone();
                let id = id.clone();
                actix::spawn(async move {
                    if let Err(e) = engine.remove(&id).await {
                        tracing::warn!(error = %e, "removing a per-session container");
                    }
                });
            }
            Runs::Container { id: None } => {}
        }
        for h in instance.stop_timers {
            ctx.cancel_future(h);
        }
        if let Some(session) = instance.session {
            actix::spawn(session.close());
        }
        let how = if instance.stopping {
            "stopped"
        } else {
            "exited on its own"
        };
        self.log(
            if instance.stopping || msg.exit.success() {
                "info"
            } else {
                "warn"
            },
            format!(
                "per-session instance {} (gateway session {}, run {}) {how}: {} after {:.1}s",
                instance.what.describe(),
                tag(&msg.session_id),
                instance.generation,
                msg.exit.describe(),
                instance.started.elapsed().as_secs_f64()
            ),
        );
        if self.instances.is_empty() {
            for tx in self.instances_waiters.drain(..) {
                let _ = tx.send(());
            }
        }
        self.announce();
    }

    /// The view changed (its instance count): tell the UI.
    fn announce(&self) {
        self.publish(super::EventPayload::ServerUpdated {
            server: self.view(),
        });
    }
}

/// What the gateway gets for a new client session: the router on its own instance's pipes,
/// and that instance's handshake (the client's `initialize` answer).
pub struct InstanceReady {
    pub upstream: Upstream,
    pub peer: Option<Arc<ServerPeerInfo>>,
}

/// The gateway's client session `session_id` initializes: spawn its instance and do the
/// handshake (answered once the instance is ready, or with why it is not).
#[derive(Message)]
#[rtype(result = "AppResult<InstanceReady>")]
pub struct OpenInstance {
    pub session_id: String,
}

impl Handler<OpenInstance> for ServerActor {
    type Result = ResponseActFuture<Self, AppResult<InstanceReady>>;
    fn handle(&mut self, msg: OpenInstance, ctx: &mut Self::Context) -> Self::Result {
        match self.spawn_instance(&msg.session_id, ctx) {
            Err(e) => Box::pin(fut::ready(Err(e))),
            Ok((generation, nonce, handshake)) => {
                let sid = msg.session_id;
                Box::pin(handshake.into_actor(self).map(move |result, act, ctx| {
                    act.on_instance_handshake(&sid, generation, nonce, result, ctx)
                }))
            }
        }
    }
}

/// The gateway's client session `session_id` ended: stop its instance.
#[derive(Message)]
#[rtype(result = "()")]
pub struct EndInstance {
    pub session_id: String,
}

impl Handler<EndInstance> for ServerActor {
    type Result = ();
    fn handle(&mut self, msg: EndInstance, ctx: &mut Self::Context) {
        self.stop_instance(&msg.session_id, ctx);
    }
}

/// The instance `nonce` of `session_id` ended: its process was reaped, or its container
/// died (or was found not running).
#[derive(Message)]
#[rtype(result = "()")]
pub struct InstanceExited {
    pub session_id: String,
    pub nonce: u64,
    pub exit: ExitInfo,
}

/// The engine created the container of instance `nonce` of `session_id`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct InstanceContainerCreated {
    pub session_id: String,
    pub nonce: u64,
    pub id: String,
}

impl Handler<InstanceContainerCreated> for ServerActor {
    type Result = ();
    fn handle(&mut self, msg: InstanceContainerCreated, ctx: &mut Self::Context) {
        self.on_instance_container(msg, ctx);
    }
}

/// The marker in front of an instance's stderr lines in the server's log.
pub(super) fn session_prefix(session_id: &str) -> String {
    format!("[session {}] ", tag(session_id))
}

impl Handler<InstanceExited> for ServerActor {
    type Result = ();
    fn handle(&mut self, msg: InstanceExited, ctx: &mut Self::Context) {
        self.on_instance_exit(msg, ctx);
    }
}
