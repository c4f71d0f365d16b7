//! The Registry: creates, finds and removes ServerActors, and keeps names unique.
//!
//! Its handlers never wait on a ServerActor (callers talk to the actor they looked up), so
//! the two can never wait on each other. Shutdown: [`ShutdownAll`] stops every server in
//! parallel and answers when all of them are stopped.

use super::bus::{EventPayload, Publish};
use super::server::{self, Deps, ServerActor};
use crate::error::{AppError, AppResult};
use crate::model::{ServerCreate, ServerRecord, ServerView};
use actix::prelude::*;
use std::collections::HashMap;

struct Entry {
    name: String,
    addr: Addr<ServerActor>,
}

pub struct Registry {
    deps: Deps,
    servers: HashMap<String, Entry>,
    shutting_down: bool,
}

impl Registry {
    pub fn new(deps: Deps) -> Registry {
        Registry {
            deps,
            servers: HashMap::new(),
            shutting_down: false,
        }
    }

    fn find(&self, reference: &str) -> Option<(&String, &Entry)> {
        self.servers
            .get_key_value(reference)
            .or_else(|| self.servers.iter().find(|(_, e)| e.name == reference))
    }

    fn name_taken(&self, name: &str, except_id: Option<&str>) -> bool {
        self.servers
            .iter()
            .any(|(id, e)| e.name == name && Some(id.as_str()) != except_id)
    }
}

impl Actor for Registry {
    type Context = Context<Self>;
}

/// Start actors for servers loaded from the store at daemon start.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Load(pub Vec<ServerRecord>);

impl Handler<Load> for Registry {
    type Result = ();
    fn handle(&mut self, msg: Load, _: &mut Self::Context) {
        for rec in msg.0 {
            let name = rec.name.clone();
            let id = rec.id.clone();
            let addr = ServerActor::new(rec, self.deps.clone()).start();
            self.servers.insert(id, Entry { name, addr });
        }
    }
}

/// Create a server: validate, store, start its actor, announce.
#[derive(Message)]
#[rtype(result = "AppResult<(ServerView, Addr<ServerActor>)>")]
pub struct Create(pub ServerCreate);

impl Handler<Create> for Registry {
    type Result = ResponseActFuture<Self, AppResult<(ServerView, Addr<ServerActor>)>>;
    fn handle(&mut self, msg: Create, _: &mut Self::Context) -> Self::Result {
        let prepared = (|| {
            if self.shutting_down {
                return Err(AppError::Unavailable("the daemon is shutting down".into()));
            }
            let rec = ServerRecord::from_create(msg.0, self.deps.clock.now())?;
            if self.name_taken(&rec.name, None) {
                return Err(AppError::Conflict(format!(
                    "a server named {:?} already exists",
                    rec.name
                )));
            }
            Ok(rec)
        })();
        let rec = match prepared {
            Ok(rec) => rec,
            Err(e) => return Box::pin(fut::ready(Err(e))),
        };
        // Reserve the name while the row is written, so two concurrent creates cannot both
        // pass the check above.
        let placeholder = ServerActor::new(rec.clone(), self.deps.clone());
        let store = self.deps.store.clone();
        let row = rec.to_row();
        let id = rec.id.clone();
        let name = rec.name.clone();
        self.servers.insert(
            id.clone(),
            Entry {
                name: name.clone(),
                addr: placeholder.start(),
            },
        );
        Box::pin(
            async move {
                store
                    .write(move |c| {
                        use crate::db::schema::servers::dsl;
                        use diesel::prelude::*;
                        diesel::insert_into(dsl::servers).values(&row).execute(c)
                    })
                    .await
            }
            .into_actor(self)
            .map(move |res, act, _| match res {
                Ok(_) => {
                    let addr = act
                        .servers
                        .get(&id)
                        .map(|e| e.addr.clone())
                        .ok_or_else(|| AppError::internal("created server vanished"))?;
                    let view = ServerView::from_record(&rec);
                    act.deps
                        .bus
                        .do_send(Publish::from(EventPayload::ServerCreated {
                            server: view.clone(),
                        }));
                    Ok((view, addr))
                }
                Err(e) => {
                    if let Some(entry) = act.servers.remove(&id) {
                        entry.addr.do_send(server::Shutdown);
                    }
                    Err(e)
                }
            }),
        )
    }
}

/// Find a server by id or name.
#[derive(Message)]
#[rtype(result = "AppResult<Addr<ServerActor>>")]
pub struct Lookup(pub String);

impl Handler<Lookup> for Registry {
    type Result = AppResult<Addr<ServerActor>>;
    fn handle(&mut self, msg: Lookup, _: &mut Self::Context) -> Self::Result {
        self.find(&msg.0)
            .map(|(_, e)| e.addr.clone())
            .ok_or_else(|| AppError::NotFound(format!("no server with id or name {:?}", msg.0)))
    }
}

/// Every server's actor, in name order.
#[derive(Message)]
#[rtype(result = "Vec<Addr<ServerActor>>")]
pub struct All;

impl Handler<All> for Registry {
    type Result = MessageResult<All>;
    fn handle(&mut self, _: All, _: &mut Self::Context) -> Self::Result {
        let mut entries: Vec<&Entry> = self.servers.values().collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        MessageResult(entries.into_iter().map(|e| e.addr.clone()).collect())
    }
}

/// Reserve a new name for server `id` (a rename by PATCH).
#[derive(Message)]
#[rtype(result = "AppResult<()>")]
pub struct Rename {
    pub id: String,
    pub name: String,
}

impl Handler<Rename> for Registry {
    type Result = AppResult<()>;
    fn handle(&mut self, msg: Rename, _: &mut Self::Context) -> Self::Result {
        if self.name_taken(&msg.name, Some(&msg.id)) {
            return Err(AppError::Conflict(format!(
                "a server named {:?} already exists",
                msg.name
            )));
        }
        let entry = self
            .servers
            .get_mut(&msg.id)
            .ok_or_else(|| AppError::NotFound("server not found".into()))?;
        entry.name = msg.name;
        Ok(())
    }
}

/// Forget a deleted server.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Forget(pub String);

impl Handler<Forget> for Registry {
    type Result = ();
    fn handle(&mut self, msg: Forget, _: &mut Self::Context) {
        self.servers.remove(&msg.0);
    }
}

/// Stop every server (daemon shutdown); answers when all are stopped.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ShutdownAll;

impl Handler<ShutdownAll> for Registry {
    type Result = ResponseFuture<()>;
    fn handle(&mut self, _: ShutdownAll, _: &mut Self::Context) -> Self::Result {
        self.shutting_down = true;
        let stops: Vec<_> = self
            .servers
            .values()
            .map(|e| e.addr.send(server::Shutdown))
            .collect();
        Box::pin(async move {
            futures::future::join_all(stops).await;
        })
    }
}

/// Hand an engine event to the server whose container it concerns.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RouteContainerEvent(pub crate::runtime::docker::ContainerEvent);

impl Handler<RouteContainerEvent> for Registry {
    type Result = ();
    fn handle(&mut self, msg: RouteContainerEvent, _: &mut Self::Context) {
        if let Some(e) = self.servers.get(&msg.0.server_id) {
            e.addr.do_send(server::ContainerEventMsg(msg.0));
        }
    }
}

/// The engine's event stream was (re)established: every container server compares its run
/// with the engine, in case an event was missed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CheckContainers;

impl Handler<CheckContainers> for Registry {
    type Result = ();
    fn handle(&mut self, _: CheckContainers, _: &mut Self::Context) {
        for e in self.servers.values() {
            e.addr.do_send(server::CheckContainer);
        }
    }
}
