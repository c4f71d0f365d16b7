//! The container runtime of a ServerActor: create, attach and start a container for a run
//! (and one for each per-session instance), stop it with the engine's grace period, react
//! to the engine's events, and adopt a container that a previous daemon left running.
//! Per-session containers are never adopted: their sessions ended with the daemon.

use super::instances::{Handshake, InstanceContainerCreated, InstanceExited, session_prefix};
use super::{Handle, ServerActor, log_pipe_tagged, protocol_channel, short_id};
use crate::logs::Source;
use crate::mcp::McpSession;
use crate::model::Transport;
use crate::runtime::docker::{
    ContainerSpec, LABEL_GENERATION, LABEL_INSTANCE, LABEL_NAME, LABEL_SERVER, LABEL_SESSION,
    Publish,
};
use crate::state::{ExitInfo, Status};
use actix::prelude::*;
use futures::StreamExt;
use futures::future::LocalBoxFuture;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// The engine created the container of run `generation`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ContainerCreated {
    pub generation: u64,
    pub id: String,
}

/// An engine event about one of this server's containers.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ContainerEvent(pub crate::runtime::docker::ContainerEvent);

/// Ask the actor to check its container against the engine (after the event stream was
/// interrupted, events may have been missed).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CheckContainer;

impl ServerActor {
    /// The container of run `generation`, or of the per-session instance of `session`
    /// under that run.
    fn container_spec(&self, generation: u64, session: Option<&str>) -> ContainerSpec {
        let r = &self.rec;
        let mut labels = HashMap::new();
        labels.insert(LABEL_INSTANCE.to_string(), self.deps.instance_id.clone());
        labels.insert(LABEL_SERVER.to_string(), r.id.clone());
        labels.insert(LABEL_NAME.to_string(), r.name.clone());
        labels.insert(LABEL_GENERATION.to_string(), generation.to_string());
        if let Some(session) = session {
            labels.insert(LABEL_SESSION.to_string(), session.to_string());
        }
        // Container env: the user's only. The host-process markers must not enter a
        // container, or the orphan sweep would take its processes for ours.
        let env = r
            .env
            .iter()
            .chain(r.secret_env.iter())
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let instance_short: String = self.deps.instance_id.chars().take(8).collect();
        let mut name = format!("mcpm-{instance_short}-{}-{generation}", r.name);
        if let Some(session) = session {
            // Session ids are visible ASCII; the engine takes [a-zA-Z0-9_.-] in names.
            name.push_str("-s");
            name.extend(
                session
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric())
                    .take(12),
            );
        }
        ContainerSpec {
            name,
            image: r.image.clone().unwrap_or_default(),
            entrypoint: r.command.clone().map(|c| vec![c]),
            cmd: (!r.args.is_empty()).then(|| r.args.clone()),
            env,
            labels,
            // The run's container holds the host ports: a session's would fail to bind them.
            ports: if session.is_some() {
                vec![]
            } else {
                r.settings.published(r.port)
            }
            .iter()
            .map(|p| Publish {
                container_port: p.container_port,
                host_port: p.host_port(),
                host_ip: p.host_ip().to_string(),
            })
            .collect(),
            memory_bytes: r
                .settings
                .memory_mb
                .and_then(|m| i64::try_from(m.saturating_mul(1024 * 1024)).ok()),
            nano_cpus: r.settings.cpus.map(|c| (c * 1e9) as i64),
            working_dir: r.working_directory.clone(),
            stdin: r.transport == Transport::Stdio,
        }
    }

    /// A container run: everything talks to the engine, so it all happens in the handshake
    /// future; the container id is reported as soon as it exists, so a stop can reach it.
    pub(super) fn begin_container_start(&mut self, ctx: &mut Context<Self>) {
        let generation = self.rec.generation + 1;
        self.rec.generation = generation;
        self.rec.last_error = None;
        let engine = self.deps.engine.clone();
        let spec = self.container_spec(generation, None);
        let image = spec.image.clone();
        let stdio = self.rec.transport == Transport::Stdio;
        let server_id = self.rec.id.clone();
        let logs = self.deps.logs.clone();
        let url = self.rec.http_url().unwrap_or_default();
        let deadline = self.start_deadline();
        let addr = ctx.address();
        let bus = self.deps.bus.clone();
        let name = self.rec.name.clone();
        self.log(
            "info",
            format!("starting a container of {image} (run {generation})"),
        );
        let connect: LocalBoxFuture<'static, Result<McpSession, String>> = Box::pin(async move {
            let progress_logs = logs.clone();
            let progress_id = server_id.clone();
            engine
                .ensure_image(&image, |line| {
                    if let Some(l) = &progress_logs {
                        l.system(&progress_id, "info", format!("pull: {line}"));
                    }
                    bus.do_send(crate::actors::bus::Publish::from(
                        crate::actors::bus::EventPayload::ServerPull {
                            id: progress_id.clone(),
                            name: name.clone(),
                            image: image.clone(),
                            progress: line.to_string(),
                        },
                    ));
                })
                .await?;
            let id = engine.create(spec).await?;
            addr.do_send(ContainerCreated {
                generation,
                id: id.clone(),
            });
            // Attach before start, so not a line of output is missed.
            let (output, input) = engine.attach(&id).await?;
            engine.start(&id).await?;
            let how = if stdio {
                Resume::Handshake
            } else {
                Resume::Http(url, deadline)
            };
            session_over(output, input, &server_id, logs, how, None).await
        });
        self.begin_run(
            ctx,
            generation,
            Handle::Container { id: None },
            None,
            connect,
        );
    }

    /// The engine's stop (SIGTERM, grace, SIGKILL). The exit arrives as a `die` event; if the
    /// event stream fails us, a check after the grace period finds the container's state.
    pub(super) fn stop_container(
        &mut self,
        ctx: &mut Context<Self>,
        generation: u64,
        id: Option<String>,
        grace: Duration,
    ) {
        let Some(id) = id else {
            // Not created yet: the start was cancelled; a container created later is removed
            // when its ContainerCreated arrives.
            ctx.notify(super::ChildExited {
                generation,
                exit: ExitInfo {
                    code: None,
                    signal: None,
                    at: self.now(),
                },
            });
            return;
        };
        let engine = self.deps.engine.clone();
        let stop_id = id.clone();
        actix::spawn(async move {
            if let Err(e) = engine.stop(&stop_id, grace).await {
                tracing::warn!(error = %e, "container stop");
            }
        });
        if let Some(run) = self.run.as_mut() {
            run.stop_timers.push(
                ctx.run_later(grace + Duration::from_secs(3), move |act, ctx| {
                    if act.is_stopping(generation) {
                        act.check_container(ctx);
                    }
                }),
            );
        }
    }

    /// Compares the run's container with what the engine says; a container that is gone or
    /// not running ends the run.
    fn check_container(&mut self, ctx: &mut Context<Self>) {
        for (session_id, nonce, id) in self.instance_containers() {
            let engine = self.deps.engine.clone();
            let addr = ctx.address();
            actix::spawn(report_exit(engine, id, addr, session_id, nonce));
        }
        let Some(run) = self.run.as_ref() else {
            return;
        };
        let Some(id) = run.container_id().map(String::from) else {
            return;
        };
        let generation = run.generation;
        let engine = self.deps.engine.clone();
        ctx.spawn(
            async move { engine.inspect(&id).await }
                .into_actor(self)
                .map(move |state, act, ctx| {
                    let exit = match state {
                        Ok(s) if s.running => return,
                        Ok(s) => {
                            if s.oom_killed
                                && let Some(run) = act.run.as_mut()
                            {
                                run.oom = true;
                            }
                            s.exit_code
                        }
                        Err(_) => None,
                    };
                    act.on_exit(
                        super::ChildExited {
                            generation,
                            exit: ExitInfo {
                                code: exit.and_then(|c| i32::try_from(c).ok()),
                                signal: None,
                                at: act.now(),
                            },
                        },
                        ctx,
                    );
                }),
        );
    }

    /// Starts the container of a per-session instance (the run's image is present, so no
    /// pull) and returns its handshake. A start that fails removes what it created, so a
    /// failed handshake leaves no container behind.
    pub(super) fn start_session_container(
        &self,
        session_id: &str,
        nonce: u64,
        generation: u64,
        ctx: &mut Context<Self>,
    ) -> Handshake {
        let engine = self.deps.engine.clone();
        let spec = self.container_spec(generation, Some(session_id));
        let server_id = self.rec.id.clone();
        let logs = self.deps.logs.clone();
        let deadline = self.start_deadline();
        let timeout = self.rec.settings.start_timeout_secs;
        let addr = ctx.address();
        let session_id = session_id.to_string();
        Box::pin(async move {
            let id = engine.create(spec).await?;
            addr.do_send(InstanceContainerCreated {
                session_id: session_id.clone(),
                nonce,
                id: id.clone(),
            });
            let prefix = session_prefix(&session_id);
            let start = async {
                let (output, input) = engine.attach(&id).await?;
                engine.start(&id).await?;
                session_over(
                    output,
                    input,
                    &server_id,
                    logs,
                    Resume::Handshake,
                    Some(prefix),
                )
                .await
            };
            let result = tokio::time::timeout_at(deadline.into(), start)
                .await
                .unwrap_or_else(|_| Err(format!("no MCP handshake within {timeout}s")));
            if result.is_err() {
                let _ = engine.remove(&id).await;
            }
            result
        })
    }

    /// The engine's stop of a per-session container. Its `die` event reports the exit; so
    /// does the state found once the stop returns, in case the event stream missed it.
    pub(super) fn stop_session_container(
        &self,
        id: String,
        session_id: String,
        nonce: u64,
        grace: Duration,
        ctx: &mut Context<Self>,
    ) {
        let engine = self.deps.engine.clone();
        let addr = ctx.address();
        actix::spawn(async move {
            if let Err(e) = engine.stop(&id, grace).await {
                tracing::warn!(error = %e, "per-session container stop");
            }
            report_exit(engine, id, addr, session_id, nonce).await;
        });
    }

    /// Finds this server's containers left by a previous daemon: adopts a running one when
    /// the desired state is running, removes the rest. Falls back to a fresh start.
    pub(super) fn reconcile_containers(&mut self, ctx: &mut Context<Self>) {
        let engine = self.deps.engine.clone();
        let instance = self.deps.instance_id.clone();
        let server_id = self.rec.id.clone();
        let want_running = self.rec.desired_state == crate::model::DesiredState::Running;
        ctx.wait(
            async move {
                let ours = engine.list_ours(&instance).await?;
                let mut mine: Vec<_> = ours
                    .into_iter()
                    .filter(|c| c.server_id == server_id)
                    .collect();
                mine.sort_by_key(|c| std::cmp::Reverse(c.generation));
                let adopt = if want_running {
                    mine.iter()
                        .position(|c| c.running && c.session.is_none())
                        .map(|i| mine.remove(i))
                } else {
                    None
                };
                for c in &mine {
                    let _ = engine.remove(&c.id).await;
                }
                Ok::<_, String>(adopt)
            }
            .into_actor(self)
            .map(move |found, act, ctx| match found {
                Ok(Some(c)) => act.adopt(ctx, c.id, c.generation),
                Ok(None) | Err(_) => {
                    if want_running {
                        let _ = act.begin_start(ctx);
                    }
                }
            }),
        );
    }

    /// Re-attaches to a running container and resumes its MCP session without a new
    /// handshake (the server is already initialized), then proves it answers with a ping.
    fn adopt(&mut self, ctx: &mut Context<Self>, id: String, generation: u64) {
        let Some(info) = self.rec.mcp_info.clone() else {
            // Nothing recorded to resume with: replace the container.
            let engine = self.deps.engine.clone();
            ctx.wait(
                async move {
                    let _ = engine.remove(&id).await;
                }
                .into_actor(self)
                .map(|_, act, ctx| {
                    let _ = act.begin_start(ctx);
                }),
            );
            return;
        };
        self.log(
            "info",
            format!(
                "adopting running container {} (run {generation})",
                short_id(&id)
            ),
        );
        self.rec.generation = self.rec.generation.max(generation);
        let generation = self.rec.generation;
        let engine = self.deps.engine.clone();
        let server_id = self.rec.id.clone();
        let logs = self.deps.logs.clone();
        let stdio = self.rec.transport == Transport::Stdio;
        let url = self.rec.http_url().unwrap_or_default();
        let deadline = self.start_deadline();
        let attach_id = id.clone();
        let connect: LocalBoxFuture<'static, Result<McpSession, String>> = Box::pin(async move {
            let (output, input) = engine.attach(&attach_id).await?;
            let how = if stdio {
                Resume::Recorded(Box::new(info))
            } else {
                Resume::Http(url, deadline)
            };
            session_over(output, input, &server_id, logs, how, None).await
        });
        self.begin_run(
            ctx,
            generation,
            Handle::Container { id: Some(id) },
            None,
            connect,
        );
    }
}

impl Handler<ContainerCreated> for ServerActor {
    type Result = ();
    fn handle(&mut self, msg: ContainerCreated, _: &mut Self::Context) {
        let current = self.run.as_mut().filter(|r| {
            r.generation == msg.generation && matches!(r.handle, Handle::Container { id: None })
        });
        match current {
            Some(run) if matches!(self.status, Status::Starting { .. }) => {
                run.handle = Handle::Container {
                    id: Some(msg.id.clone()),
                };
                self.log("info", format!("container {} created", short_id(&msg.id)));
                self.set_status(self.status.clone());
            }
            _ => {
                // The run was cancelled while the engine created its container.
                let engine = self.deps.engine.clone();
                actix::spawn(async move {
                    let _ = engine.remove(&msg.id).await;
                });
            }
        }
    }
}

impl Handler<ContainerEvent> for ServerActor {
    type Result = ();
    fn handle(&mut self, msg: ContainerEvent, ctx: &mut Self::Context) {
        let ev = msg.0;
        if let Some((session_id, nonce)) = self.instance_of_container(&ev.container_id) {
            if ev.action == "die" {
                self.on_instance_exit(
                    InstanceExited {
                        session_id,
                        nonce,
                        exit: ExitInfo {
                            code: ev.exit_code.and_then(|c| i32::try_from(c).ok()),
                            signal: None,
                            at: self.now(),
                        },
                    },
                    ctx,
                );
            }
            return;
        }
        let Some(run) = self.run.as_mut() else {
            return;
        };
        if run.container_id() != Some(ev.container_id.as_str()) {
            return;
        }
        match ev.action.as_str() {
            "oom" => run.oom = true,
            "die" => {
                let (generation, oom) = (run.generation, run.oom);
                let at = self.now();
                let exit = ExitInfo {
                    code: ev.exit_code.and_then(|c| i32::try_from(c).ok()),
                    signal: None,
                    at,
                };
                // The engine does not always send `oom` before `die` (cgroup v2 reports it
                // late or not at all), so a SIGKILL exit asks the container's own record.
                if exit.code == Some(137) && !oom {
                    let engine = self.deps.engine.clone();
                    let id = ev.container_id.clone();
                    ctx.spawn(
                        async move { engine.inspect(&id).await }
                            .into_actor(self)
                            .map(move |state, act, ctx| {
                                if let (Ok(s), Some(run)) = (state, act.run.as_mut())
                                    && s.oom_killed
                                    && run.generation == generation
                                {
                                    run.oom = true;
                                }
                                act.on_exit(super::ChildExited { generation, exit }, ctx);
                            }),
                    );
                } else {
                    self.on_exit(super::ChildExited { generation, exit }, ctx);
                }
            }
            _ => {}
        }
    }
}

impl Handler<CheckContainer> for ServerActor {
    type Result = ();
    fn handle(&mut self, _: CheckContainer, ctx: &mut Self::Context) {
        self.check_container(ctx);
    }
}

/// How a container's MCP session begins.
enum Resume {
    /// A new stdio handshake.
    Handshake,
    /// An adopted stdio server: resume with what was recorded at its handshake.
    Recorded(Box<crate::model::McpInfo>),
    /// An HTTP server: connect to its published endpoint.
    Http(String, Instant),
}

/// The MCP session over an attached container: stderr is logged; for stdio stdout is the
/// protocol channel, for HTTP it is logged and the endpoint is the channel.
async fn session_over(
    output: crate::runtime::docker::Output,
    input: crate::runtime::docker::Input,
    server_id: &str,
    logs: Option<crate::logs::LogSender>,
    how: Resume,
    stderr_prefix: Option<String>,
) -> Result<McpSession, String> {
    let (stdout, stderr) = demux(output);
    tokio::spawn(log_pipe_tagged(
        stderr,
        Source::Stderr,
        server_id.to_string(),
        logs.clone(),
        stderr_prefix,
        false,
    ));
    match how {
        Resume::Handshake => {
            let from_pump = protocol_channel(stdout, server_id, &logs);
            McpSession::connect_stdio(server_id, logs, from_pump, input).await
        }
        Resume::Recorded(info) => {
            let from_pump = protocol_channel(stdout, server_id, &logs);
            McpSession::resume_stdio(server_id, logs, from_pump, input, &info).await
        }
        Resume::Http(url, deadline) => {
            tokio::spawn(super::log_pipe(
                stdout,
                Source::Stdout,
                server_id.to_string(),
                logs.clone(),
            ));
            drop(input);
            McpSession::connect_http(server_id, logs, &url, deadline).await
        }
    }
}

/// The exit code of a container that is not running (`Some(None)` when the engine no
/// longer knows it); `None` while it runs.
async fn exited(engine: &crate::runtime::docker::Engine, id: &str) -> Option<Option<i32>> {
    match engine.inspect(id).await {
        Ok(s) if s.running => None,
        Ok(s) => Some(s.exit_code.and_then(|c| i32::try_from(c).ok())),
        Err(_) => Some(None),
    }
}

/// Tells the actor that a per-session container has exited, once the engine says so.
async fn report_exit(
    engine: crate::runtime::docker::Engine,
    id: String,
    addr: actix::Addr<ServerActor>,
    session_id: String,
    nonce: u64,
) {
    if let Some(code) = exited(&engine, &id).await {
        addr.do_send(InstanceExited {
            session_id,
            nonce,
            exit: ExitInfo {
                code,
                signal: None,
                at: chrono::Utc::now(),
            },
        });
    }
}

/// Splits the engine's multiplexed attach stream into stdout and stderr pipes.
fn demux(
    mut output: crate::runtime::docker::Output,
) -> (tokio::io::DuplexStream, tokio::io::DuplexStream) {
    let (mut out_w, out_r) = tokio::io::duplex(256 * 1024);
    let (mut err_w, err_r) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        use bollard::container::LogOutput;
        while let Some(Ok(frame)) = output.next().await {
            let ok = match frame {
                LogOutput::StdOut { message } | LogOutput::Console { message } => {
                    out_w.write_all(&message).await.is_ok()
                }
                LogOutput::StdErr { message } => err_w.write_all(&message).await.is_ok(),
                LogOutput::StdIn { .. } => true,
            };
            if !ok {
                break;
            }
        }
    });
    (out_r, err_r)
}
