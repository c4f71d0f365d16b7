//! Containers as a second runtime: the Docker engine at `DOCKER_HOST` (or the local socket),
//! reached through bollard.
//!
//! Containers carry labels that mark them as ours (`mcp-manager.instance`), name their server
//! and run (`mcp-manager.server`, `mcp-manager.generation`). Docker's own restart policy is
//! never set, so one supervisor decides. The engine is connected lazily and re-tried on every
//! use, so a daemon started before the engine (or without one) still works and picks the
//! engine up later. Nothing here holds state beyond the connection.

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, CreateImageOptionsBuilder,
    EventsOptionsBuilder, InspectContainerOptions, KillContainerOptionsBuilder,
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use futures::{Stream, StreamExt};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWrite;
use tokio::sync::Mutex;

pub const LABEL_INSTANCE: &str = "mcp-manager.instance";
pub const LABEL_SERVER: &str = "mcp-manager.server";
pub const LABEL_NAME: &str = "mcp-manager.name";
pub const LABEL_GENERATION: &str = "mcp-manager.generation";
/// Set on a per-session instance's container: the gateway session it serves.
pub const LABEL_SESSION: &str = "mcp-manager.session";

/// Where the engine is expected, for messages.
pub fn engine_address() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

/// A lazily connected engine handle; cheap to clone.
#[derive(Clone, Default)]
pub struct Engine {
    docker: Arc<Mutex<Option<Docker>>>,
}

/// One port published by a container.
#[derive(Debug, Clone)]
pub struct Publish {
    pub container_port: u16,
    pub host_port: u16,
    pub host_ip: String,
}

/// What to run.
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Vec<String>,
    pub labels: HashMap<String, String>,
    pub ports: Vec<Publish>,
    pub memory_bytes: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub working_dir: Option<String>,
    /// stdio MCP servers keep stdin open (like `docker run -i`).
    pub stdin: bool,
}

/// A container's state as the engine reports it.
#[derive(Debug, Clone)]
pub struct ContainerState {
    pub running: bool,
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
    pub pid: Option<i64>,
    pub health: Option<String>,
}

/// One of our containers, found by label.
#[derive(Debug, Clone)]
pub struct Ours {
    pub id: String,
    pub server_id: String,
    pub generation: u64,
    pub running: bool,
    /// A per-session instance's container (its gateway session), not a run's.
    pub session: Option<String>,
}

pub type Output = Pin<
    Box<dyn Stream<Item = Result<bollard::container::LogOutput, bollard::errors::Error>> + Send>,
>;
pub type Input = Pin<Box<dyn AsyncWrite + Send>>;

/// An event of one of our containers.
#[derive(Debug, Clone)]
pub struct ContainerEvent {
    pub container_id: String,
    pub server_id: String,
    pub action: String,
    pub exit_code: Option<i64>,
}

fn unreachable(e: impl std::fmt::Display) -> String {
    format!("Docker engine not reachable at {}: {e}", engine_address())
}

impl Engine {
    /// The connected engine, connecting (and negotiating the API version) if needed.
    pub async fn docker(&self) -> Result<Docker, String> {
        let mut slot = self.docker.lock().await;
        if let Some(d) = slot.as_ref() {
            return Ok(d.clone());
        }
        let d = Docker::connect_with_defaults().map_err(unreachable)?;
        let d = tokio::time::timeout(Duration::from_secs(3), d.negotiate_version())
            .await
            .map_err(|_| unreachable("no answer within 3s"))?
            .map_err(unreachable)?;
        *slot = Some(d.clone());
        Ok(d)
    }

    /// Whether a connection is up (without trying to make one).
    pub async fn connected(&self) -> bool {
        self.docker.lock().await.is_some()
    }

    /// Forget the connection (after an error that suggests the engine went away).
    pub async fn reset(&self) {
        *self.docker.lock().await = None;
    }

    /// Engine version, or why it cannot be reached.
    pub async fn version(&self) -> Result<String, String> {
        let d = self.docker().await?;
        match tokio::time::timeout(Duration::from_secs(3), d.version()).await {
            Ok(Ok(v)) => Ok(v.version.unwrap_or_default()),
            Ok(Err(e)) => {
                self.reset().await;
                Err(unreachable(e))
            }
            Err(_) => Err(unreachable("no answer within 3s")),
        }
    }

    /// Makes sure the image is present, pulling it when missing; `progress` hears the pull.
    pub async fn ensure_image(
        &self,
        image: &str,
        mut progress: impl FnMut(String),
    ) -> Result<(), String> {
        let d = self.docker().await?;
        if d.inspect_image(image).await.is_ok() {
            return Ok(());
        }
        progress(format!("image {image} is not present; pulling it"));
        let opts = CreateImageOptionsBuilder::new().from_image(image).build();
        let mut pull = d.create_image(Some(opts), None, None);
        let mut last = String::new();
        while let Some(item) = pull.next().await {
            match item {
                Ok(info) => {
                    let detail = info
                        .progress_detail
                        .and_then(|p| Some(format!("{}/{}", p.current?, p.total?)));
                    let line = [info.id, info.status, detail]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" ");
                    if !line.is_empty() && line != last {
                        progress(line.clone());
                        last = line;
                    }
                }
                Err(e) => {
                    return Err(format!(
                        "could not pull image {image}: {e} (is a registry reachable from the engine?)"
                    ));
                }
            }
        }
        d.inspect_image(image)
            .await
            .map(|_| ())
            .map_err(|e| format!("image {image} is still missing after the pull: {e}"))
    }

    pub async fn create(&self, spec: ContainerSpec) -> Result<String, String> {
        let d = self.docker().await?;
        let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        for p in &spec.ports {
            bindings
                .entry(format!("{}/tcp", p.container_port))
                .or_insert_with(|| Some(vec![]))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: Some(p.host_ip.clone()),
                    host_port: Some(p.host_port.to_string()),
                });
        }
        let exposed: Vec<String> = bindings.keys().cloned().collect();
        let body = ContainerCreateBody {
            image: Some(spec.image),
            entrypoint: spec.entrypoint,
            cmd: spec.cmd,
            env: Some(spec.env),
            labels: Some(spec.labels),
            working_dir: spec.working_dir,
            open_stdin: Some(spec.stdin),
            // stdin stays open when our attach goes away, so a restarted daemon can re-attach.
            stdin_once: Some(false),
            attach_stdin: Some(spec.stdin),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(false),
            exposed_ports: (!exposed.is_empty()).then_some(exposed),
            host_config: Some(HostConfig {
                port_bindings: (!bindings.is_empty()).then_some(bindings),
                memory: spec.memory_bytes,
                // A memory limit is a limit: no swap beyond it.
                memory_swap: spec.memory_bytes,
                nano_cpus: spec.nano_cpus,
                ..Default::default()
            }),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::new()
            .name(&spec.name)
            .build();
        d.create_container(Some(opts), body)
            .await
            .map(|r| r.id)
            .map_err(|e| format!("could not create the container: {e}"))
    }

    /// Attaches to stdin (when open), stdout and stderr, as a stream of frames.
    pub async fn attach(&self, id: &str) -> Result<(Output, Input), String> {
        let d = self.docker().await?;
        let opts = AttachContainerOptionsBuilder::new()
            .stdin(true)
            .stdout(true)
            .stderr(true)
            .stream(true)
            .logs(false)
            .build();
        let r = d
            .attach_container(id, Some(opts))
            .await
            .map_err(|e| format!("could not attach to the container: {e}"))?;
        Ok((r.output, r.input))
    }

    pub async fn start(&self, id: &str) -> Result<(), String> {
        let d = self.docker().await?;
        d.start_container(id, None)
            .await
            .map_err(|e| format!("could not start the container: {e}"))
    }

    /// The engine's stop: SIGTERM, then SIGKILL after `grace`; a refused stop falls back to a
    /// kill, so an `Err` means the container may still run.
    pub async fn stop(&self, id: &str, grace: Duration) -> Result<(), String> {
        let d = self.docker().await?;
        let t = i32::try_from(grace.as_secs_f64().ceil() as i64).unwrap_or(i32::MAX);
        let opts = StopContainerOptionsBuilder::new().t(t).build();
        match d.stop_container(id, Some(opts)).await {
            Ok(()) => Ok(()),
            // 304: already stopped; 404: already gone.
            Err(bollard::errors::Error::DockerResponseServerError { status_code, .. })
                if status_code == 304 || status_code == 404 =>
            {
                Ok(())
            }
            Err(e) => {
                // A stop the engine refused must still end the container: kill it.
                tracing::warn!(error = %e, container = id, "container stop failed; killing it");
                self.kill(id)
                    .await
                    .map_err(|k| format!("could not stop the container: {e}; nor kill it: {k}"))
            }
        }
    }

    pub async fn kill(&self, id: &str) -> Result<(), String> {
        let d = self.docker().await?;
        let opts = KillContainerOptionsBuilder::new().signal("SIGKILL").build();
        d.kill_container(id, Some(opts))
            .await
            .map_err(|e| format!("could not kill the container: {e}"))
    }

    pub async fn remove(&self, id: &str) -> Result<(), String> {
        let d = self.docker().await?;
        let opts = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        match d.remove_container(id, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(format!("could not remove the container: {e}")),
        }
    }

    pub async fn inspect(&self, id: &str) -> Result<ContainerState, String> {
        let d = self.docker().await?;
        let info = d
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(|e| format!("could not inspect the container: {e}"))?;
        let state = info.state.unwrap_or_default();
        Ok(ContainerState {
            running: state.running.unwrap_or(false),
            exit_code: state.exit_code,
            oom_killed: state.oom_killed.unwrap_or(false),
            pid: state.pid,
            health: state.health.and_then(|h| h.status).map(|s| s.to_string()),
        })
    }

    /// Every container of this daemon instance, running or not.
    pub async fn list_ours(&self, instance: &str) -> Result<Vec<Ours>, String> {
        let d = self.docker().await?;
        let mut filters = HashMap::new();
        filters.insert("label", vec![format!("{LABEL_INSTANCE}={instance}")]);
        let opts = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let list = d
            .list_containers(Some(opts))
            .await
            .map_err(|e| format!("could not list containers: {e}"))?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                let labels = c.labels.unwrap_or_default();
                Some(Ours {
                    id: c.id?,
                    server_id: labels.get(LABEL_SERVER)?.clone(),
                    generation: labels
                        .get(LABEL_GENERATION)
                        .and_then(|g| g.parse().ok())
                        .unwrap_or(0),
                    running: c.state.map(|s| s.to_string()) == Some("running".into()),
                    session: labels.get(LABEL_SESSION).cloned(),
                })
            })
            .collect())
    }

    /// The engine's event stream, limited to our containers. Ends when the engine goes away.
    pub async fn events(
        &self,
        instance: &str,
    ) -> Result<impl Stream<Item = ContainerEvent> + use<>, String> {
        let d = self.docker().await?;
        let mut filters = HashMap::new();
        filters.insert("type", vec!["container".to_string()]);
        filters.insert("label", vec![format!("{LABEL_INSTANCE}={instance}")]);
        let opts = EventsOptionsBuilder::new().filters(&filters).build();
        Ok(d.events(Some(opts)).filter_map(|e| async move {
            let e = e.ok()?;
            let actor = e.actor?;
            let attrs = actor.attributes.unwrap_or_default();
            Some(ContainerEvent {
                container_id: actor.id?,
                server_id: attrs.get(LABEL_SERVER)?.clone(),
                action: e.action.unwrap_or_default(),
                exit_code: attrs.get("exitCode").and_then(|c| c.parse().ok()),
            })
        }))
    }
}
