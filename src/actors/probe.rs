//! The HealthProbe: schedules checks of every running server and runs them, at most
//! `MAX_CONCURRENT` at once, each within its timeout.
//!
//! A ServerActor registers its run when it reaches `running` ([`Monitor`]) and withdraws it
//! when it leaves ([`Unmonitor`]); results go back to that ServerActor, which applies the
//! thresholds and records them. Checks run at a fixed rate per server (the first one at a
//! random offset, so servers started together are not checked in lockstep); a check still in
//! flight when the next is due makes the next one skip. Probes, by what the server is: an
//! MCP round trip over its own session (never a cached call), a GET of its health endpoint
//! (below 500 is healthy), and for containers the engine's state and HEALTHCHECK status.
//! Shutdown: the actor holds nothing that needs closing; timers end with it.

use super::server::{HealthResult, ServerActor};
use crate::health::{CheckResult, EffectiveHealth};
use crate::runtime::docker::Engine;
use actix::prelude::*;
use rmcp::service::{Peer, RoleClient};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

pub const MAX_CONCURRENT: usize = 64;

/// What a check talks to.
#[derive(Clone, Default)]
pub struct ProbeTarget {
    /// A host process group whose leader must be alive.
    pub pid: Option<u32>,
    pub peer: Option<Peer<RoleClient>>,
    pub http_url: Option<String>,
    pub container_id: Option<String>,
}

struct Monitored {
    generation: u64,
    addr: Addr<ServerActor>,
    target: ProbeTarget,
    settings: EffectiveHealth,
    next_at: Instant,
    timer: Option<SpawnHandle>,
    in_flight: bool,
}

pub struct HealthProbe {
    servers: HashMap<String, Monitored>,
    permits: Arc<Semaphore>,
    http: reqwest::Client,
    engine: Engine,
}

impl HealthProbe {
    pub fn new(engine: Engine) -> HealthProbe {
        HealthProbe {
            servers: HashMap::new(),
            permits: Arc::new(Semaphore::new(MAX_CONCURRENT)),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::limited(3))
                .build()
                .unwrap_or_default(),
            engine,
        }
    }

    /// One check of `target` with this actor's client, engine and concurrency bound.
    fn check_of(
        &self,
        target: ProbeTarget,
        timeout_secs: f64,
    ) -> impl Future<Output = CheckResult> + use<> {
        probe(
            target,
            Duration::from_secs_f64(timeout_secs),
            self.http.clone(),
            self.engine.clone(),
            self.permits.clone(),
        )
    }

    fn schedule(&mut self, id: String, ctx: &mut Context<Self>) {
        let Some(m) = self.servers.get_mut(&id) else {
            return;
        };
        let delay = m.next_at.saturating_duration_since(Instant::now());
        let generation = m.generation;
        m.timer = Some(ctx.run_later(delay, move |act, ctx| act.tick(id, generation, ctx)));
    }

    fn tick(&mut self, id: String, generation: u64, ctx: &mut Context<Self>) {
        let Some(m) = self
            .servers
            .get_mut(&id)
            .filter(|m| m.generation == generation)
        else {
            return;
        };
        let interval = Duration::from_secs_f64(m.settings.interval_secs);
        // Fixed rate: the next check is due one interval after this one was due.
        m.next_at += interval;
        if m.next_at < Instant::now() {
            m.next_at = Instant::now() + interval;
        }
        if !m.in_flight {
            m.in_flight = true;
            let (target, timeout, addr) =
                (m.target.clone(), m.settings.timeout_secs, m.addr.clone());
            let check = self.check_of(target, timeout);
            let key = id.clone();
            ctx.spawn(check.into_actor(self).map(move |result, act, _| {
                if let Some(m) = act
                    .servers
                    .get_mut(&key)
                    .filter(|m| m.generation == generation)
                {
                    m.in_flight = false;
                    addr.do_send(HealthResult { generation, result });
                }
            }));
        }
        self.schedule(id, ctx);
    }
}

impl Actor for HealthProbe {
    type Context = Context<Self>;
}

/// Start checking a run that reached `running`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Monitor {
    pub server_id: String,
    pub generation: u64,
    pub addr: Addr<ServerActor>,
    pub target: ProbeTarget,
    pub settings: EffectiveHealth,
}

impl Handler<Monitor> for HealthProbe {
    type Result = ();
    fn handle(&mut self, msg: Monitor, ctx: &mut Self::Context) {
        if let Some(old) = self.servers.remove(&msg.server_id)
            && let Some(t) = old.timer
        {
            ctx.cancel_future(t);
        }
        let interval = msg.settings.interval_secs;
        // The first check comes soon, at a random point of the first tenth of an interval.
        let first = Duration::from_secs_f64(interval * 0.1 * rand::random::<f64>());
        self.servers.insert(
            msg.server_id.clone(),
            Monitored {
                generation: msg.generation,
                addr: msg.addr,
                target: msg.target,
                settings: msg.settings,
                next_at: Instant::now() + first,
                timer: None,
                in_flight: false,
            },
        );
        self.schedule(msg.server_id, ctx);
    }
}

/// Stop checking a run (it left `running`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unmonitor {
    pub server_id: String,
    pub generation: u64,
}

impl Handler<Unmonitor> for HealthProbe {
    type Result = ();
    fn handle(&mut self, msg: Unmonitor, ctx: &mut Self::Context) {
        if self
            .servers
            .get(&msg.server_id)
            .is_some_and(|m| m.generation == msg.generation)
            && let Some(m) = self.servers.remove(&msg.server_id)
            && let Some(t) = m.timer
        {
            ctx.cancel_future(t);
        }
    }
}

/// Check a server now (outside its schedule); the result is also recorded by its actor.
#[derive(Message)]
#[rtype(result = "Option<CheckResult>")]
pub struct CheckNow(pub String);

impl Handler<CheckNow> for HealthProbe {
    type Result = ResponseFuture<Option<CheckResult>>;
    fn handle(&mut self, msg: CheckNow, _: &mut Self::Context) -> Self::Result {
        let Some(m) = self.servers.get(&msg.0) else {
            return Box::pin(async { None });
        };
        let check = self.check_of(m.target.clone(), m.settings.timeout_secs);
        let addr = m.addr.clone();
        let generation = m.generation;
        Box::pin(async move {
            let result = check.await;
            addr.do_send(HealthResult {
                generation,
                result: result.clone(),
            });
            Some(result)
        })
    }
}

/// Runs every probe that applies to the target; healthy only when all of them pass.
pub async fn probe(
    target: ProbeTarget,
    timeout: Duration,
    http: reqwest::Client,
    engine: Engine,
    permits: Arc<Semaphore>,
) -> CheckResult {
    let _permit = permits.acquire_owned().await;
    let at = chrono::Utc::now();
    let mut probes = vec![];
    let mut errors = vec![];
    let mut response_time = None;
    let mcp = async {
        match &target.peer {
            Some(peer) => Some(
                match tokio::time::timeout(timeout, crate::mcp::ping(peer)).await {
                    Ok(Ok(took)) => Ok(took),
                    Ok(Err(e)) => Err(format!("MCP ping failed: {e}")),
                    Err(_) => Err(format!(
                        "MCP ping: no answer within {}s",
                        timeout.as_secs_f64()
                    )),
                },
            ),
            None => None,
        }
    };
    let endpoint = async {
        let url = target.http_url.as_ref()?;
        let started = Instant::now();
        Some(match http.get(url).timeout(timeout).send().await {
            Ok(r) if r.status().as_u16() < 500 => Ok(started.elapsed()),
            Ok(r) => Err(format!("GET {url} answered {}", r.status())),
            Err(e) if e.is_timeout() => Err(format!(
                "GET {url}: no answer within {}s",
                timeout.as_secs_f64()
            )),
            Err(e) => Err(format!("GET {url} failed: {e}")),
        })
    };
    let container = async {
        let id = target.container_id.as_ref()?;
        Some(
            match tokio::time::timeout(timeout, engine.inspect(id)).await {
                Ok(Ok(s)) if !s.running => Err("container is not running".to_string()),
                Ok(Ok(s)) if s.health.as_deref() == Some("unhealthy") => {
                    Err("Docker HEALTHCHECK reports unhealthy".to_string())
                }
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(e),
                Err(_) => Err("the engine did not answer in time".to_string()),
            },
        )
    };
    let (mcp, endpoint, container) = tokio::join!(mcp, endpoint, container);
    if let Some(r) = mcp {
        probes.push("mcp".to_string());
        match r {
            Ok(t) => response_time = Some(t),
            Err(e) => errors.push(e),
        }
    }
    if let Some(r) = endpoint {
        probes.push("http".to_string());
        match r {
            Ok(t) => {
                response_time.get_or_insert(t);
            }
            Err(e) => errors.push(e),
        }
    }
    if let Some(r) = container {
        probes.push("container".to_string());
        if let Err(e) = r {
            errors.push(e);
        }
    }
    if let Some(pid) = target.pid {
        probes.push("process".to_string());
        let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(0));
        if nix::sys::signal::kill(pid, None).is_err() {
            errors.push(format!("process {pid} is not alive"));
        }
    }
    let ok = errors.is_empty() && !probes.is_empty();
    if probes.is_empty() {
        errors.push("nothing to probe".to_string());
    }
    CheckResult {
        ok,
        response_time_ms: response_time.map(|t| i32::try_from(t.as_millis()).unwrap_or(i32::MAX)),
        error: (!errors.is_empty()).then(|| errors.join("; ")),
        at,
        probes,
    }
}
