//! `mcp-manager serve`: starts the daemon and choreographs its shutdown.
//!
//! Start: data dir → end what a killed previous run left behind → store (migrations) →
//! the servers file (`--config`), applied in one transaction → bus, log sink, registry
//! (servers restore their desired state) → HTTP.
//! Shutdown on SIGINT/SIGTERM: stop accepting HTTP → stop every server (in parallel, each
//! with its grace period) → remove any of our containers still there → flush logs → close
//! the store.

use crate::actors::bus::EventBus;
use crate::actors::registry::{CheckContainers, Load, Registry, RouteContainerEvent, ShutdownAll};
use crate::actors::server::Deps;
use crate::api::{self, AppState, security::Guard};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::db::Store;
use crate::logs::LogSink;
use crate::model::ServerRecord;
use crate::runtime::docker::Engine;
use crate::runtime::process;
use actix::Actor;
use actix_web::{App, HttpServer, web};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

/// The id of this data dir's daemon instance, marking the processes it spawns.
fn instance_id(data_dir: &std::path::Path) -> Result<String, String> {
    let path = data_dir.join("instance-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        let id = id.trim().to_string();
        if !id.is_empty() {
            return Ok(id);
        }
    }
    let id = uuid::Uuid::new_v4().to_string();
    std::fs::write(&path, &id).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(id)
}

fn prepare_data_dir(dir: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create data dir {}: {e}", dir.display()))
}

pub async fn serve(
    config: Config,
    servers_file: Option<crate::servers_file::ServersFile>,
) -> Result<(), String> {
    prepare_data_dir(&config.data_dir)?;
    let instance = instance_id(&config.data_dir)?;
    let swept = tokio::task::spawn_blocking({
        let instance = instance.clone();
        move || process::sweep_orphans(&instance, Duration::from_secs(3))
    })
    .await
    .unwrap_or(0);
    if swept > 0 {
        tracing::warn!(
            processes = swept,
            "ended processes left running by a previous run"
        );
    }

    let db_path = config.data_dir.join("mcp-manager.db");
    let store = Store::open(&db_path).map_err(|e| e.to_string())?;
    let records = store
        .read(|c| {
            use crate::db::models::ServerRow;
            use crate::db::schema::servers::dsl;
            use diesel::prelude::*;
            dsl::servers.select(ServerRow::as_select()).load(c)
        })
        .await
        .map_err(|e| e.to_string())?;
    let mut records: Vec<ServerRecord> = records.into_iter().map(ServerRecord::from_row).collect();
    let servers_file_path = servers_file.as_ref().map(|f| f.path.clone());
    if let Some(file) = servers_file {
        records = apply_servers_file(&store, &file, records).await?;
    }

    let engine = Engine::default();
    let probe = crate::actors::probe::HealthProbe::new(engine.clone()).start();
    let bus = EventBus::default().start();
    let mut log_sink = LogSink::start(store.clone(), bus.clone());
    let clock = Arc::new(SystemClock);
    let deps = Deps {
        store: store.clone(),
        bus: bus.clone(),
        logs: Some(log_sink.sender()),
        clock: clock.clone(),
        instance_id: instance.clone(),
        engine: engine.clone(),
        probe: probe.clone(),
        health_defaults: config.health_defaults,
    };
    let registry = Registry::new(deps).start();
    let known_ids: std::collections::HashSet<String> =
        records.iter().map(|r| r.id.clone()).collect();
    registry
        .send(Load(records))
        .await
        .map_err(|e| e.to_string())?;

    // Containers of servers deleted while the daemon was down are removed; the engine's
    // events reach the servers from now on.
    {
        let (engine, instance) = (engine.clone(), instance.clone());
        actix_web::rt::spawn(async move {
            remove_containers(&engine, &instance, "of a deleted server", |c| {
                known_ids.contains(&c.server_id)
            })
            .await
        });
    }
    let watcher = actix_web::rt::spawn(watch_engine(
        engine.clone(),
        instance.clone(),
        registry.clone(),
    ));

    // SIGHUP applies the servers file again; a daemon, it does not end on a hangup.
    let reloader = actix_web::rt::spawn(reload_on_hangup(
        servers_file_path.clone(),
        registry.clone(),
    ));

    let pruner = actix_web::rt::spawn(prune(
        store.clone(),
        config.health_retention,
        config.log_retention,
        config.log_max_bytes,
        config.prune_interval,
    ));

    let state = web::Data::new(AppState {
        registry: registry.clone(),
        bus: bus.clone(),
        store: store.clone(),
        started_at: clock.now(),
        data_dir: config.data_dir.clone(),
        bind: config.bind.to_string(),
        instance_id: instance.clone(),
        engine: engine.clone(),
        probe: probe.clone(),
        logs: Some(log_sink.sender()),
        servers_file: servers_file_path,
    });
    let guard = web::Data::new(Guard {
        allowed_hosts: config.allowed_hosts.clone(),
        token: config.token.clone(),
    });
    crate::gateway::http::set_spin(config.gateway_spin);
    // One gateway for all workers: its sessions must be seen by every one of them.
    let gateway = crate::gateway::Gateway::start(crate::gateway::SESSION_IDLE);
    // The aggregate endpoint tells its clients when servers start, stop or change.
    crate::gateway::aggregate::follow(&gateway, bus.clone());
    let gateway = web::Data::from(gateway);
    let gateway_sessions = gateway.clone();
    let server = HttpServer::new(move || {
        crate::gateway::claim_io_thread();
        let app = App::new()
            .app_data(state.clone())
            .app_data(guard.clone())
            .app_data(gateway.clone())
            .wrap(api::security::GuardLayer)
            .configure(api::configure);
        // The gateway's POSTs are served before the App (see crate::gateway::front).
        crate::gateway::front::Front::new(app, gateway.clone(), state.clone(), guard.clone())
    })
    .disable_signals()
    // Clients pool idle connections for a minute or more (reqwest 90 s, browsers 60 s+);
    // closing them after actix's default 5 s makes a client's next request race the close.
    .keep_alive(Duration::from_secs(75))
    .shutdown_timeout(5)
    // One worker: it is also the gateway's IO thread (crate::gateway::spawn_io), so a
    // gateway call never crosses threads. The handlers only await; one thread serves them.
    .workers(1)
    .bind(config.bind)
    .map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
    let addrs = server.addrs();
    let server = server.run();
    let handle = server.handle();
    for a in &addrs {
        // Tests and scripts read this line to find the port when binding port 0.
        println!("mcp-manager listening on http://{a}");
    }
    let _ = std::io::stdout().flush();
    tracing::info!(addrs = ?addrs, data_dir = %config.data_dir.display(), "ready");

    let server_task = actix_web::rt::spawn(server);
    crate::sdnotify::notify("READY=1");
    wait_for_signal().await;
    crate::sdnotify::notify("STOPPING=1");
    reloader.abort();
    tracing::info!("shutting down: no new connections");
    handle.pause().await;
    // Open GET streams of MCP clients would hold the graceful stop for its whole timeout.
    gateway_sessions.close_all();
    tracing::info!("stopping servers");
    // Before the HTTP worker stops: it also reads the servers' stdout (gateway::spawn_io),
    // which must go on until each child has exited.
    let _ = registry.send(ShutdownAll).await;
    // Every run and session container has stopped; the engine may still be removing some
    // of them (a removal follows the container's `die` event). None of ours outlives us.
    // Without an engine there is nothing to remove, and no reason to wait for one.
    if engine.connected().await {
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            remove_containers(&engine, &instance, "left at shutdown", |_| false),
        )
        .await;
    }
    tracing::info!("stopping HTTP");
    handle.stop(true).await;
    let _ = server_task.await;
    tracing::info!("flushing logs");
    watcher.abort();
    pruner.abort();
    drop(registry);
    log_sink.flush_and_close(Duration::from_secs(10)).await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Applies the servers file to the stored servers in one transaction (all of it or, on a
/// store error, none of it) and returns every server as the registry is to load it.
async fn apply_servers_file(
    store: &Store,
    file: &crate::servers_file::ServersFile,
    existing: Vec<ServerRecord>,
) -> Result<Vec<ServerRecord>, String> {
    use crate::servers_file::{Outcome, plan};
    let shown = file.path.display().to_string();
    let plan = plan(&file.servers, existing, chrono::Utc::now())
        .map_err(|e| format!("servers file {shown}: {e}"))?;
    let inserts: Vec<_> = plan
        .inserts
        .iter()
        .map(|&i| plan.records[i].to_row())
        .collect();
    let updates: Vec<_> = plan
        .updates
        .iter()
        .map(|&i| plan.records[i].to_row())
        .collect();
    if !(inserts.is_empty() && updates.is_empty()) {
        store
            .write(move |c| {
                use crate::db::schema::servers::dsl;
                use diesel::prelude::*;
                for row in &inserts {
                    diesel::insert_into(dsl::servers).values(row).execute(c)?;
                }
                for row in &updates {
                    diesel::update(dsl::servers.find(row.id.clone()))
                        .set(row)
                        .execute(c)?;
                }
                Ok(())
            })
            .await
            .map_err(|e| format!("servers file {shown}: cannot apply it to the store: {e}"))?;
    }
    for (name, outcome) in &plan.outcomes {
        match outcome {
            Outcome::Created => {
                tracing::info!(server = %name, file = %shown, "servers file: created")
            }
            Outcome::Updated => {
                tracing::info!(server = %name, file = %shown, "servers file: definition changed, updated")
            }
            Outcome::Unchanged => {
                tracing::debug!(server = %name, file = %shown, "servers file: unchanged")
            }
            Outcome::NotInFile => {
                tracing::info!(server = %name, file = %shown, "servers file: not in the file, left as it is")
            }
        }
    }
    Ok(plan.records)
}

/// Reads the servers file again on every SIGHUP and applies it to the running servers
/// (without a file, says there is none). Ends when the daemon shuts down (aborted).
async fn reload_on_hangup(path: Option<std::path::PathBuf>, registry: actix::Addr<Registry>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangup) = signal(SignalKind::hangup()) else {
        tracing::warn!("no SIGHUP handler: the servers file is applied at start only");
        return;
    };
    while hangup.recv().await.is_some() {
        let Some(path) = &path else {
            tracing::info!("SIGHUP: no servers file to read again (serve --config FILE)");
            continue;
        };
        tracing::info!(file = %path.display(), "SIGHUP: reading the servers file again");
        // What it did is logged by `reload`.
        let _ = crate::reload::reload(path, &registry).await;
    }
}

/// Removes the containers of this daemon instance that `keep` does not claim.
async fn remove_containers(
    engine: &Engine,
    instance: &str,
    which: &str,
    keep: impl Fn(&crate::runtime::docker::Ours) -> bool,
) {
    let Ok(ours) = engine.list_ours(instance).await else {
        return;
    };
    for c in ours.into_iter().filter(|c| !keep(c)) {
        tracing::info!(container = %c.id, "removing a container {which}");
        let _ = engine.remove(&c.id).await;
    }
}

/// Follows the engine's event stream for our containers, reconnecting when it breaks (or
/// when the engine appears later than the daemon).
async fn watch_engine(engine: Engine, instance: String, registry: actix::Addr<Registry>) {
    use futures::StreamExt;
    loop {
        if let Ok(stream) = engine.events(&instance).await {
            tracing::info!("following the Docker engine's events");
            registry.do_send(CheckContainers);
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                registry.do_send(RouteContainerEvent(event));
            }
            tracing::warn!("the Docker engine's event stream ended; reconnecting");
            engine.reset().await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Retention, at start and then every `interval` (hourly by default): health checks and log lines past their age, and
/// each server's log beyond its size. Freed pages are reused by SQLite, and the WAL is
/// truncated after a prune, so the file stops growing at its steady size.
async fn prune(
    store: Store,
    health_age: chrono::Duration,
    log_age: chrono::Duration,
    log_bytes: i64,
    interval: Duration,
) {
    let mut every = tokio::time::interval(interval);
    loop {
        every.tick().await;
        let now = chrono::Utc::now();
        let (h, l) = ((now - health_age).naive_utc(), (now - log_age).naive_utc());
        let result = store
            .write(move |c| {
                Ok((
                    crate::db::health::prune(c, h)?,
                    crate::db::logs::prune_age(c, l)? + crate::db::logs::prune_size(c, log_bytes)?,
                ))
            })
            .await;
        match result {
            Ok((checks, lines)) if checks + lines > 0 => {
                tracing::info!(checks, lines, "pruned old health checks and log lines");
                store.checkpoint().await;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning failed"),
        }
        store.optimize().await;
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the daemon still serves; it ends when killed.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM"),
        _ = int.recv() => tracing::info!("SIGINT"),
    }
}
