//! `/mcp`, the aggregate endpoint: the tools, prompts and resources of every running,
//! exposed server behind one MCP session, tools and prompts named `{server}__{name}`
//! ([`super::names`]), resources under their own URIs.
//!
//! An aggregate session is an ordinary gateway [`Session`] (server name
//! [`super::AGGREGATE`]): the same HTTP handling, expiry and shutdown. It is attached to
//! the upstream of each server it lists or calls (re-attached when that server restarts),
//! so requests go through that server's router exactly as from `/mcp/{name}` (ids remapped,
//! progress and server→client requests back to this client), and the server's own
//! `list_changed`, resource updates and logs fan out to it. It ends like any session;
//! [`follow`]'s task ends when the event bus closes or the gateway is gone.
//!
//! Lists are fetched live, from every server in parallel, on each `*/list`: clients list
//! rarely (at connect and after `list_changed`), a live list can never show a server that
//! stopped or a tool it dropped, and there is no cache to invalidate on the many ways a
//! list changes (restart, the server's own `list_changed`, a settings change). A server
//! that does not answer within [`LIST_TIMEOUT`] is left out of that answer (and named in
//! its `_meta`). The names given out are kept ([`Catalog`]) to route calls by; a name not
//! known yet is looked up by listing again.

use super::http::{Hello, json, open_session, reach, respond, unavailable};
use super::jsonrpc::{self, Envelope};
use super::names;
use super::session::{Frame, Session, level_name, level_rank};
use super::{Gateway, Reach, Upstream};
use crate::actors::bus::{EventBus, Subscribe};
use crate::actors::registry::All;
use crate::actors::server::GetUpstream;
use crate::api::AppState;
use actix::Addr;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use rmcp::model::{ErrorCode, ErrorData, Implementation, InitializeResult, ServerCapabilities};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// How long one page of one server's list may take before that server is left out.
pub const LIST_TIMEOUT: Duration = Duration::from_secs(10);

/// Pages gathered from one server at most (a server whose cursor never ends).
const MAX_PAGES: usize = 100;

/// The names and uris the aggregate's last lists gave out, to route requests by.
#[derive(Default)]
pub struct Catalog {
    /// Prefixed name → (server, tool).
    tools: HashMap<String, (String, String)>,
    /// Prefixed name → (server, prompt).
    prompts: HashMap<String, (String, String)>,
    /// Resource uri → server.
    resources: HashMap<String, String>,
    /// (server, uri template), servers in name order.
    templates: Vec<(String, String)>,
}

fn catalog(gw: &Gateway) -> std::sync::MutexGuard<'_, Catalog> {
    gw.catalog.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum List {
    Tools,
    Prompts,
    Resources,
    Templates,
}

impl List {
    fn method(self) -> &'static str {
        match self {
            List::Tools => "tools/list",
            List::Prompts => "prompts/list",
            List::Resources => "resources/list",
            List::Templates => "resources/templates/list",
        }
    }

    fn key(self) -> &'static str {
        match self {
            List::Tools => "tools",
            List::Prompts => "prompts",
            List::Resources => "resources",
            List::Templates => "resourceTemplates",
        }
    }

    /// The server capability the list needs.
    fn capability(self) -> &'static str {
        match self {
            List::Tools => "tools",
            List::Prompts => "prompts",
            List::Resources | List::Templates => "resources",
        }
    }
}

fn invalid_params(message: String) -> ErrorData {
    ErrorData {
        code: ErrorCode::INVALID_PARAMS,
        message: message.into(),
        data: None,
    }
}

/// Answers `initialize` on `/mcp`: the gateway itself is the server here.
pub(super) fn initialize(id: &str, hello: Hello, gw: &Gateway) -> HttpResponse {
    // rmcp's builder is behind a feature this crate does not enable; its type still checks
    // the shape.
    let caps: ServerCapabilities = serde_json::from_value(json!({
        "logging": {},
        "completions": {},
        "prompts": { "listChanged": true },
        "resources": { "listChanged": true, "subscribe": true },
        "tools": { "listChanged": true },
    }))
    .unwrap_or_default();
    let mut result = InitializeResult::new(caps);
    result.server_info = Implementation::new("mcp-manager", env!("CARGO_PKG_VERSION"));
    result.instructions = Some(
        "The tools and prompts of every server that mcp-manager runs, named {server}__{name}."
            .into(),
    );
    open_session(gw, super::AGGREGATE, id, hello, result, None, None, None)
}

/// Servers that are running and exposed, in name order.
async fn members(app: &AppState) -> Vec<(Reach, Upstream)> {
    let Ok(addrs) = app.registry.send(All).await else {
        return vec![];
    };
    let reaches = futures::future::join_all(addrs.iter().map(|a| a.send(GetUpstream))).await;
    reaches
        .into_iter()
        .filter_map(Result::ok)
        .filter(|r| r.policy.borrow().exposed)
        .filter_map(|r| {
            let up = r.upstream.clone()?;
            Some((r, up))
        })
        .collect()
}

/// The session starts using `up` for `server` (attached there, so that server's
/// notifications reach it; its subscriptions there made again after a restart).
fn link(session: &Arc<Session>, server: &str, up: &Upstream) {
    if let Some(old) = session.link(server, up) {
        let uris = session.subscriptions_at(server);
        if let Some(old) = old {
            old.detach_with(session, uris.clone());
        }
        up.attach_with(session, uris);
    }
}

/// One page of a list, as the server answered it.
async fn page(
    session: &Arc<Session>,
    up: &Upstream,
    list: List,
    cursor: Option<&Value>,
) -> Result<Value, String> {
    let params = match cursor {
        Some(c) => json!({ "cursor": c }).to_string(),
        None => "{}".to_string(),
    };
    // A string id: never equal to a number the client uses, so its cancellations cannot
    // hit this request.
    let id = format!("\"aggregate-list-{}\"", session.next_request_id());
    let mut rx = up
        .call(session, &id, list.method(), Some(&params), None)
        .await
        .ok_or("its MCP session ended")?;
    let answer = tokio::time::timeout(LIST_TIMEOUT, async {
        loop {
            match rx.recv().await {
                Some(Frame::Final(b)) => return Some(b),
                // Logs and progress of a list: nobody to show them to.
                Some(Frame::Event(_)) => continue,
                None => return None,
            }
        }
    })
    .await;
    let answer = match answer {
        Ok(Some(b)) => b,
        Ok(None) => return Err("the list request was cancelled".into()),
        Err(_) => {
            up.cancel(session, &id, Some("timed out".into()));
            return Err(format!("no answer within {} s", LIST_TIMEOUT.as_secs()));
        }
    };
    let mut v: Value = serde_json::from_slice(&answer).map_err(|e| e.to_string())?;
    if let Some(e) = v.get("error") {
        return Err(format!("{}: {}", list.method(), e["message"]));
    }
    Ok(v["result"].take())
}

/// Every page of one server's list.
async fn fetch(session: &Arc<Session>, up: &Upstream, list: List) -> Result<Vec<Value>, String> {
    let mut items = vec![];
    let mut cursor: Option<Value> = None;
    for _ in 0..MAX_PAGES {
        let mut result = page(session, up, list, cursor.as_ref()).await?;
        if let Value::Array(a) = result[list.key()].take() {
            items.extend(a);
        }
        match result.get("nextCursor") {
            Some(c) if !c.is_null() => cursor = Some(c.clone()),
            _ => return Ok(items),
        }
    }
    Err(format!("more than {MAX_PAGES} pages"))
}

/// One list from every member in parallel: each server's items (name order), and the
/// servers left out, with why.
async fn gather(
    app: &AppState,
    session: &Arc<Session>,
    list: List,
) -> (Vec<(Reach, Vec<Value>)>, Vec<Value>) {
    let members: Vec<(Reach, Upstream)> = members(app)
        .await
        .into_iter()
        .filter(|(r, _)| {
            r.info
                .as_ref()
                .is_some_and(|i| i.capabilities.get(list.capability()).is_some())
        })
        .collect();
    let results = futures::future::join_all(members.iter().map(|(r, up)| {
        link(session, &r.name, up);
        fetch(session, up, list)
    }))
    .await;
    let mut got = vec![];
    let mut skipped = vec![];
    for ((reach, _), result) in members.into_iter().zip(results) {
        match result {
            Ok(items) => got.push((reach, items)),
            Err(e) => {
                tracing::warn!(server = %reach.name, list = list.method(), error = %e,
                    "aggregate endpoint: server left out of the list");
                skipped.push(json!({ "server": reach.name, "error": e }));
            }
        }
    }
    (got, skipped)
}

/// `{key: items}`, naming in `_meta` the servers left out.
fn list_result(key: &str, items: Vec<Value>, skipped: Vec<Value>) -> Value {
    let mut result = json!({ key: items });
    if !skipped.is_empty() {
        result["_meta"] = json!({ "mcp-manager/skipped": skipped });
    }
    result
}

/// Tools (filtered by each server's allow/deny list) or prompts, under prefixed names;
/// the names are kept in the catalog.
async fn list_named(app: &AppState, gw: &Gateway, session: &Arc<Session>, list: List) -> Value {
    let (got, skipped) = gather(app, session, list).await;
    let mut kept = vec![];
    for (reach, items) in got {
        for item in items {
            let Some(name) = item.get("name").and_then(Value::as_str).map(String::from) else {
                continue;
            };
            if list == List::Tools && !reach.policy.borrow().tools.allows(&name) {
                continue;
            }
            kept.push((reach.name.clone(), name, item));
        }
    }
    let pairs: Vec<(String, String)> = kept
        .iter()
        .map(|(s, n, _)| (s.clone(), n.clone()))
        .collect();
    let given = names::assign(&pairs);
    let mut routes = HashMap::with_capacity(kept.len());
    let mut out = Vec::with_capacity(kept.len());
    for (server, name, mut item) in kept {
        let Some(full) = given.get(&(server.clone(), name.clone())) else {
            continue;
        };
        if routes.contains_key(full) {
            // The server listed the same name twice.
            continue;
        }
        item["name"] = Value::String(full.clone());
        routes.insert(full.clone(), (server, name));
        out.push(item);
    }
    match list {
        List::Tools => catalog(gw).tools = routes,
        _ => catalog(gw).prompts = routes,
    }
    list_result(list.key(), out, skipped)
}

/// Resources or templates, as the servers gave them; on a clash of URIs (or templates)
/// the server first in name order wins and the others' entry is left out.
async fn list_resources(app: &AppState, gw: &Gateway, session: &Arc<Session>, list: List) -> Value {
    let field = if list == List::Resources {
        "uri"
    } else {
        "uriTemplate"
    };
    let (got, skipped) = gather(app, session, list).await;
    let mut owners: HashMap<String, String> = HashMap::new();
    let mut order = vec![];
    let mut out = vec![];
    for (reach, items) in got {
        for item in items {
            let Some(uri) = item.get(field).and_then(Value::as_str).map(String::from) else {
                continue;
            };
            if let Some(first) = owners.get(&uri) {
                tracing::debug!(%uri, winner = %first, loser = %reach.name, "aggregate endpoint: uri clash");
                continue;
            }
            owners.insert(uri.clone(), reach.name.clone());
            order.push((reach.name.clone(), uri));
            out.push(item);
        }
    }
    match list {
        List::Resources => catalog(gw).resources = owners,
        _ => catalog(gw).templates = order,
    }
    list_result(list.key(), out, skipped)
}

fn lookup(gw: &Gateway, list: List, name: &str) -> Option<(String, String)> {
    let c = catalog(gw);
    match list {
        List::Tools => c.tools.get(name).cloned(),
        _ => c.prompts.get(name).cloned(),
    }
}

/// The server and original name of a prefixed tool or prompt name.
async fn route_name(
    app: &AppState,
    gw: &Gateway,
    session: &Arc<Session>,
    list: List,
    name: &str,
) -> Result<(String, String), ErrorData> {
    if let Some(hit) = lookup(gw, list, name) {
        return Ok(hit);
    }
    // Not given out by a list yet (a client calling before it lists, or after a change).
    list_named(app, gw, session, list).await;
    if let Some(hit) = lookup(gw, list, name) {
        return Ok(hit);
    }
    let what = if list == List::Tools {
        "tool"
    } else {
        "prompt"
    };
    // A server that is not running lists nothing: name its state when the name is its.
    if let Some((server, _)) = name.split_once(names::SEPARATOR)
        && let Ok(r) = reach(app, server).await
        && r.policy.borrow().exposed
        && r.upstream.is_none()
    {
        return Err(unavailable(&r));
    }
    Err(invalid_params(format!("unknown {what} {name:?}")))
}

fn owner_of(gw: &Gateway, uri: &str) -> Option<String> {
    let c = catalog(gw);
    c.resources.get(uri).cloned().or_else(|| {
        c.templates
            .iter()
            .find(|(_, t)| names::template_matches(t, uri))
            .map(|(s, _)| s.clone())
    })
}

/// The server a resource uri belongs to: the one that listed it, else the first (in name
/// order) with a template it matches.
async fn route_uri(
    app: &AppState,
    gw: &Gateway,
    session: &Arc<Session>,
    uri: &str,
) -> Result<String, ErrorData> {
    if let Some(s) = owner_of(gw, uri) {
        return Ok(s);
    }
    list_resources(app, gw, session, List::Resources).await;
    list_resources(app, gw, session, List::Templates).await;
    owner_of(gw, uri).ok_or_else(|| invalid_params(format!("no server has the resource {uri:?}")))
}

/// The server's upstream, if it is running and exposed.
async fn target(
    app: &AppState,
    session: &Arc<Session>,
    server: &str,
    unknown: impl Fn() -> ErrorData,
) -> Result<(Reach, Upstream), ErrorData> {
    let r = reach(app, server).await.map_err(|_| unknown())?;
    if !r.policy.borrow().exposed {
        return Err(unknown());
    }
    let up = r.upstream.clone().ok_or_else(|| unavailable(&r))?;
    link(session, server, &up);
    Ok((r, up))
}

/// `params` with `key` (a field of `params`, or of `params.ref`) set to `value`.
fn rewrite(params: Option<&str>, path: &[&str], value: &str) -> String {
    let mut v: Value = params
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_else(|| json!({}));
    let mut at = &mut v;
    for key in &path[..path.len() - 1] {
        at = &mut at[*key];
    }
    at[path[path.len() - 1]] = Value::String(value.to_string());
    v.to_string()
}

fn str_field(params: Option<&str>, path: &[&str]) -> Option<String> {
    let mut v: Value = serde_json::from_str(params?).ok()?;
    for key in path {
        v = v.get_mut(*key)?.take();
    }
    v.as_str().map(String::from)
}

/// Sends the request to `server`'s upstream as `/mcp/{name}` would; the answer (and
/// what comes before it) goes back to this client.
async fn forward(
    gw: &Gateway,
    session: &Arc<Session>,
    (server, up): (&str, &Upstream),
    id: &str,
    method: &str,
    params: Option<&str>,
    tool: Option<&str>,
) -> HttpResponse {
    let timing = {
        let stats = gw.metrics.server(server);
        let stats = match tool {
            Some(t) => stats.tool(t),
            None => stats.method(method),
        };
        super::metrics::Timing::new(stats, tool.is_some())
    };
    let Some(rx) = up.call(session, id, method, params, Some(timing)).await else {
        return json(
            StatusCode::OK,
            jsonrpc::error(
                Some(id),
                jsonrpc::SERVER_ERROR,
                format!("server {server}: its MCP session just ended"),
            ),
        );
    };
    respond(rx, id, None).await
}

/// A request on an aggregate session.
pub async fn request(
    app: &AppState,
    gw: &Gateway,
    session: &Arc<Session>,
    id: &str,
    method: &str,
    env: &Envelope<'_>,
) -> HttpResponse {
    match handle(app, gw, session, id, method, env).await {
        Ok(r) => r,
        Err(e) => json(StatusCode::OK, jsonrpc::error_data(Some(id), &e)),
    }
}

async fn handle(
    app: &AppState,
    gw: &Gateway,
    session: &Arc<Session>,
    id: &str,
    method: &str,
    env: &Envelope<'_>,
) -> Result<HttpResponse, ErrorData> {
    let params = env.params_str();
    let ok = |result: Value| json(StatusCode::OK, jsonrpc::result(id, &result.to_string()));
    let uri_param = || {
        str_field(params, &["uri"]).ok_or_else(|| invalid_params("params.uri is missing".into()))
    };
    match method {
        jsonrpc::PING => Ok(ok(json!({}))),
        "tools/list" => Ok(ok(list_named(app, gw, session, List::Tools).await)),
        "prompts/list" => Ok(ok(list_named(app, gw, session, List::Prompts).await)),
        "resources/list" => Ok(ok(list_resources(app, gw, session, List::Resources).await)),
        "resources/templates/list" => {
            Ok(ok(list_resources(app, gw, session, List::Templates).await))
        }
        jsonrpc::TOOLS_CALL | "prompts/get" => {
            let list = if method == jsonrpc::TOOLS_CALL {
                List::Tools
            } else {
                List::Prompts
            };
            let name = str_field(params, &["name"])
                .ok_or_else(|| invalid_params("params.name is missing".into()))?;
            let (server, original) = route_name(app, gw, session, list, &name).await?;
            let unknown = || invalid_params(format!("unknown tool or prompt {name:?}"));
            let (reach, up) = target(app, session, &server, unknown).await?;
            if list == List::Tools && !reach.policy.borrow().tools.allows(&original) {
                return Err(invalid_params(format!("unknown tool {name:?}")));
            }
            let params = rewrite(params, &["name"], &original);
            let tool = (list == List::Tools).then_some(original.as_str());
            Ok(forward(gw, session, (&server, &up), id, method, Some(&params), tool).await)
        }
        "completion/complete" => {
            let kind = str_field(params, &["ref", "type"]).unwrap_or_default();
            let (server, params) = if kind == "ref/prompt" {
                let name = str_field(params, &["ref", "name"])
                    .ok_or_else(|| invalid_params("params.ref.name is missing".into()))?;
                let (server, original) = route_name(app, gw, session, List::Prompts, &name).await?;
                (server, rewrite(params, &["ref", "name"], &original))
            } else {
                let uri = str_field(params, &["ref", "uri"])
                    .ok_or_else(|| invalid_params("params.ref.uri is missing".into()))?;
                let server = route_uri(app, gw, session, &uri).await?;
                (server, params.unwrap_or("{}").to_string())
            };
            let unknown = || invalid_params(format!("unknown server {server:?}"));
            let (_, up) = target(app, session, &server, unknown).await?;
            Ok(forward(gw, session, (&server, &up), id, method, Some(&params), None).await)
        }
        "resources/read" => {
            let uri = uri_param()?;
            let server = route_uri(app, gw, session, &uri).await?;
            let unknown = || invalid_params(format!("no server has the resource {uri:?}"));
            let (_, up) = target(app, session, &server, unknown).await?;
            Ok(forward(gw, session, (&server, &up), id, method, params, None).await)
        }
        // Subscriptions are per session; the server is subscribed once per uri (as on
        // `/mcp/{name}`).
        jsonrpc::SUBSCRIBE => {
            let uri = uri_param()?;
            let server = route_uri(app, gw, session, &uri).await?;
            let unknown = || invalid_params(format!("no server has the resource {uri:?}"));
            let (_, up) = target(app, session, &server, unknown).await?;
            if session.add_subscription_at(&uri, &server) && up.subscribe(&uri) {
                return Ok(forward(gw, session, (&server, &up), id, method, params, None).await);
            }
            Ok(ok(json!({})))
        }
        jsonrpc::UNSUBSCRIBE => {
            let uri = uri_param()?;
            let owner = session
                .links()
                .into_iter()
                .find(|(s, _)| session.subscriptions_at(s).contains(&uri));
            if let Some((server, up)) = owner
                && session.remove_subscription(&uri)
                && up.unsubscribe(&uri)
            {
                return Ok(forward(gw, session, (&server, &up), id, method, params, None).await);
            }
            Ok(ok(json!({})))
        }
        // Per session, as on `/mcp/{name}`: each server is set to the most verbose level
        // any of its sessions asked for.
        jsonrpc::SET_LEVEL => {
            let level = str_field(params, &["level"])
                .ok_or_else(|| invalid_params("params.level is missing".into()))?;
            let rank = level_rank(&level)
                .ok_or_else(|| invalid_params(format!("unknown level {level:?}")))?;
            session.set_log_level(rank);
            for (r, up) in members(app).await {
                link(session, &r.name, &up);
                if !up.is_modern() {
                    let min = up.min_level().unwrap_or(rank).min(rank);
                    up.set_level(level_name(min));
                }
            }
            Ok(ok(json!({})))
        }
        _ => Err(ErrorData {
            code: ErrorCode::METHOD_NOT_FOUND,
            message: format!("{method} is not served on the aggregate endpoint /mcp").into(),
            data: None,
        }),
    }
}

/// Tells every aggregate session that all three lists may have changed.
pub fn lists_changed(gw: &Gateway) {
    let sessions = gw.aggregate_sessions();
    if sessions.is_empty() {
        return;
    }
    let msgs = [
        jsonrpc::TOOLS_CHANGED,
        jsonrpc::PROMPTS_CHANGED,
        jsonrpc::RESOURCES_CHANGED,
    ]
    .map(|m| jsonrpc::notification(m, None));
    for s in sessions {
        for m in &msgs {
            s.push(m.clone());
        }
    }
}

/// Whether a bus event changes what the aggregate shows: a server starts or stops
/// running, is deleted, or its settings (`exposed`, its tool filter) or name change.
fn changes_lists(event: &str) -> bool {
    let Ok(v) = serde_json::from_str::<Value>(event) else {
        return false;
    };
    match v["type"].as_str() {
        Some("server:status") => {
            let (now, before) = (&v["data"]["status"], &v["data"]["previous"]);
            now != before && (now == "running" || before == "running")
        }
        Some("server:deleted" | "server:updated") => true,
        _ => false,
    }
}

/// Follows the event bus and pushes `list_changed` to aggregate sessions when a server
/// starts, stops, is deleted or changes its settings. Ends when the bus closes the
/// subscription or the gateway is dropped.
pub fn follow(gw: &Arc<Gateway>, bus: Addr<EventBus>) {
    let weak = Arc::downgrade(gw);
    actix_rt::spawn(async move {
        let (tx, mut rx) = tokio::sync::mpsc::channel(256);
        let lagged = Arc::new(AtomicBool::new(false));
        let subscribed = bus
            .send(Subscribe {
                tx,
                lagged: lagged.clone(),
            })
            .await;
        if subscribed.is_err() {
            return;
        }
        while let Some(event) = rx.recv().await {
            let Some(gw) = weak.upgrade() else { break };
            // Missed events may have been any of those: tell the clients anyway.
            let missed = lagged.swap(false, std::sync::atomic::Ordering::Relaxed);
            if missed || changes_lists(&event) {
                lists_changed(&gw);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_changes_to_and_from_running_change_the_lists() {
        let ev = |t: &str, now: &str, before: &str| {
            json!({"type": t, "seq": 1, "data": {"status": now, "previous": before}}).to_string()
        };
        assert!(changes_lists(&ev("server:status", "running", "starting")));
        assert!(changes_lists(&ev("server:status", "stopping", "running")));
        assert!(!changes_lists(&ev("server:status", "starting", "stopped")));
        assert!(changes_lists(&ev("server:deleted", "", "")));
        assert!(!changes_lists(&ev("health:update", "", "")));
    }

    #[test]
    fn rewrite_sets_nested_fields() {
        let p = rewrite(
            Some(r#"{"ref":{"type":"ref/prompt","name":"a__b"},"x":1}"#),
            &["ref", "name"],
            "b",
        );
        let v: Value = serde_json::from_str(&p).unwrap_or_default();
        assert_eq!(v["ref"]["name"], "b");
        assert_eq!(v["x"], 1);
        assert_eq!(
            str_field(Some(&p), &["ref", "type"]).as_deref(),
            Some("ref/prompt")
        );
    }
}
