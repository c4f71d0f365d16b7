//! `/mcp/{name}` and `/mcp`: the Streamable HTTP side of the gateway (the aggregate
//! endpoint's sessions are the same sessions, with [`super::AGGREGATE`] for a server name;
//! what they ask is answered by [`super::aggregate`]).
//!
//! - `POST` a request: answered as `application/json` when the server's answer is the first
//!   thing that comes for it, or as an SSE stream when notifications (progress, logs) or a
//!   server→client request come first, the answer closing the stream. A POST of a
//!   notification or of a client's answer: 202.
//! - `POST initialize` (no session): answered by the gateway from what the server's
//!   handshake recorded, with a new `Mcp-Session-Id`. The server's own session is not
//!   re-initialized; `notifications/initialized` stops here.
//! - `GET`: the session's standalone SSE stream (list changes, resource updates, logs when
//!   no request of the session is in flight, server→client requests).
//! - `DELETE`: ends the session.
//!
//! A server that is not running answers at once with a JSON-RPC error naming its state,
//! unless its `start_on_demand` option is set: then a call to it while it is stopped starts
//! it, and a call while it is stopped, starting or in backoff waits for `running` (bounded
//! by its start timeout, woken by the actor's status channel, not by polling).
//!
//! Per-server options apply on every request: an unexposed server answers 404 to every
//! method (and its sessions end); a tool filter hides tools from `tools/list` (the answer's
//! `tools` array is rewritten, the rest of the bytes left as the server sent them) and
//! refuses a `tools/call` of a hidden tool before it reaches the server.

use super::jsonrpc::{self, Envelope, Kind};
use super::session::{Frame, FrameRx, Session, level_name, level_rank};
use super::{AGGREGATE, Gateway, Reach, Upstream};
use crate::actors::registry::Lookup;
use crate::actors::server::{GetUpstream, ServerActor, StartOnDemand};
use crate::api::AppState;
use crate::model::{Isolation, ToolFilter};
use crate::state::StatusKind;
use actix_web::http::header::{
    ACCEPT, ALLOW, AsHeaderName, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue,
};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::{BufMut, Bytes, BytesMut};
use rmcp::model::{
    ClientCapabilities, ErrorCode, ErrorData, Implementation, InitializeRequestParams,
    InitializeResult, ProtocolVersion, ServerCapabilities,
};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// Methods whose answer the tool filter rewrites.
const TOOLS_LIST: &str = "tools/list";

// As `HeaderName`s: a lookup by a `&str` that is not a standard header allocates.
static SESSION_HEADER: HeaderName = HeaderName::from_static("mcp-session-id");
static VERSION_HEADER: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// SSE comment sent on idle streams, so dead peers and idle proxies are noticed.
const KEEPALIVE: Duration = Duration::from_secs(15);

pub(super) fn json(status: StatusCode, body: Bytes) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(body)
}

fn rpc_error(
    status: StatusCode,
    id: Option<&str>,
    code: ErrorCode,
    message: impl Into<Cow<'static, str>>,
) -> HttpResponse {
    json(status, jsonrpc::error(id, code, message))
}

fn header(headers: &HeaderMap, name: impl AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Any protocol revision rmcp knows is accepted in `MCP-Protocol-Version` (clients send
/// older ones, e.g. 2025-03-26 on some requests); an unknown one is refused.
fn check_version(headers: &HeaderMap) -> Option<HttpResponse> {
    let v = headers.get(&VERSION_HEADER)?;
    let v = v.to_str().unwrap_or("?");
    let known = ProtocolVersion::KNOWN_VERSIONS
        .iter()
        .any(|k| k.as_str() == v);
    (!known).then(|| {
        rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            ErrorCode::INVALID_REQUEST,
            format!("unsupported MCP-Protocol-Version {v:?}"),
        )
    })
}

/// The version agreed with a client: the one it asked for when it is a known revision
/// with an `initialize` handshake, else the newest such.
fn negotiate(asked: Option<&ProtocolVersion>) -> ProtocolVersion {
    match asked {
        Some(v) if v.has_initialize() && ProtocolVersion::KNOWN_VERSIONS.contains(v) => v.clone(),
        _ => ProtocolVersion::LATEST_WITH_INITIALIZE,
    }
}

pub(super) fn unavailable(reach: &Reach) -> ErrorData {
    let message = if reach.status == StatusKind::Running {
        format!(
            "server {} is running, but the gateway could not open its session with it (see the daemon's log)",
            reach.name
        )
    } else {
        format!("server {} is {}", reach.name, reach.status)
    };
    ErrorData {
        code: jsonrpc::SERVER_ERROR,
        message: message.into(),
        data: Some(serde_json::json!({ "status": reach.status })),
    }
}

fn internal(e: impl ToString) -> ErrorData {
    ErrorData {
        code: ErrorCode::INTERNAL_ERROR,
        message: e.to_string().into(),
        data: None,
    }
}

/// What a client gets from a server that is not exposed: what it would get for one that
/// does not exist (404), saying why. A 404 on a request that carried a session id tells
/// the client its session is gone; it is.
fn not_exposed(id: Option<&str>, name: &str) -> HttpResponse {
    rpc_error(
        StatusCode::NOT_FOUND,
        id,
        ErrorCode::INVALID_PARAMS,
        format!("server {name} is not exposed through the gateway"),
    )
}

/// Whether the session's server is exposed now; ends the session when it is not.
fn exposed(gw: &Gateway, session: &Session) -> bool {
    let exposed = session.policy().is_none_or(|p| p.exposed);
    if !exposed {
        gw.remove(&session.id);
    }
    exposed
}

/// The server's actor, by name.
async fn actor(app: &AppState, name: &str) -> Result<actix::Addr<ServerActor>, ErrorData> {
    match app.registry.send(Lookup(name.to_string())).await {
        Ok(Ok(addr)) => Ok(addr),
        Ok(Err(_)) => Err(ErrorData {
            code: ErrorCode::INVALID_PARAMS,
            message: format!("no server named {name}").into(),
            data: None,
        }),
        Err(e) => Err(internal(e)),
    }
}

/// Asks the registry and the server's actor where the server stands.
pub(super) async fn reach(app: &AppState, name: &str) -> Result<Reach, ErrorData> {
    actor(app, name)
        .await?
        .send(GetUpstream)
        .await
        .map_err(internal)
}

/// With `start_on_demand`, a server that is stopped is started, and one that is stopped,
/// starting or in backoff is waited for until it runs (at most its start timeout); any
/// other server, or one without the option, is returned as it stands. A failed server
/// stays failed: its error is the answer.
async fn wake(app: &AppState, name: &str, reach: Reach) -> Result<Reach, ErrorData> {
    let policy = reach.policy.borrow().clone();
    let waits = matches!(
        reach.status,
        StatusKind::Stopped | StatusKind::Starting | StatusKind::Backoff
    );
    if !policy.start_on_demand || !waits {
        return Ok(reach);
    }
    let addr = actor(app, name).await?;
    if reach.status == StatusKind::Stopped {
        match addr.send(StartOnDemand).await {
            Ok(Ok(())) => {}
            // The start failed before anything ran (a missing command): the server is
            // now `failed`, which the answer below names.
            Ok(Err(e)) => tracing::debug!(server = %name, error = %e, "start on demand"),
            Err(e) => return Err(internal(e)),
        }
    }
    let mut changes = reach.status_changes.clone();
    let settled = changes.wait_for(|s| !matches!(s, StatusKind::Starting | StatusKind::Backoff));
    let outcome = tokio::time::timeout(policy.start_timeout, settled)
        .await
        .map(|r| r.is_ok());
    match outcome {
        Ok(true) => {}
        Ok(false) => return Err(internal(format!("server {name} was deleted"))),
        Err(_) => {
            let now = *changes.borrow();
            return Err(ErrorData {
                code: jsonrpc::SERVER_ERROR,
                message: format!(
                    "server {name} did not become running within its start timeout ({:?}); it is {now}",
                    policy.start_timeout
                )
                .into(),
                data: Some(serde_json::json!({ "status": now })),
            });
        }
    }
    addr.send(GetUpstream).await.map_err(internal)
}

/// The session's upstream, found again after a restart of the server (or started now, when
/// its options say so).
async fn upstream_of(app: &AppState, session: &Arc<Session>) -> Result<Upstream, ErrorData> {
    if let Some(up) = session.upstream() {
        return Ok(up);
    }
    if session.is_isolated() {
        return Err(super::isolated::gone(session));
    }
    let reach = wake(app, &session.server, reach(app, &session.server).await?).await?;
    let up = reach.upstream.clone().ok_or_else(|| unavailable(&reach))?;
    adopt(session, &up);
    Ok(up)
}

pub(super) fn adopt(session: &Arc<Session>, up: &Upstream) {
    let (changed, old) = session.set_upstream(up.clone());
    if let Some(old) = old {
        old.detach(session);
    }
    if changed {
        up.attach(session);
    }
}

/// `/mcp` (the aggregate) and `/mcp/{name}`, matched here rather than by the router: the
/// gateway's hot path then skips a pattern match per request.
pub async fn endpoint(
    req: HttpRequest,
    body: web::Bytes,
    gw: web::Data<Gateway>,
    app: web::Data<AppState>,
) -> HttpResponse {
    let Some(name) = endpoint_name(req.path()) else {
        return rpc_error(
            StatusCode::NOT_FOUND,
            None,
            ErrorCode::INVALID_REQUEST,
            "no such MCP endpoint: use /mcp/{name} or /mcp",
        );
    };
    match *req.method() {
        Method::POST => post_at(req.headers(), name, &body, &gw, &app).await,
        Method::GET => get_at(&req, name, &gw),
        Method::DELETE => delete_at(&req, name, &gw),
        _ => {
            let mut refused = rpc_error(
                StatusCode::METHOD_NOT_ALLOWED,
                None,
                ErrorCode::INVALID_REQUEST,
                "use POST, GET or DELETE",
            );
            refused
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST, GET, DELETE"));
            refused
        }
    }
}

/// The server a gateway path names: `/mcp` → the aggregate, `/mcp/NAME` → NAME; a trailing
/// slash, as pasted URLs often have, is allowed.
pub(super) fn endpoint_name(path: &str) -> Option<&str> {
    let path = path.strip_suffix('/').unwrap_or(path);
    match path.strip_prefix("/mcp")? {
        "" => Some(AGGREGATE),
        rest => rest
            .strip_prefix('/')
            .filter(|n| !n.is_empty() && !n.contains('/')),
    }
}

/// A POST to a gateway endpoint; also called by [`super::front`], which serves it before
/// actix-web's App.
pub(super) async fn post_at(
    headers: &HeaderMap,
    name: &str,
    body: &[u8],
    gw: &Gateway,
    app: &AppState,
) -> HttpResponse {
    if let Some(refused) = check_version(headers) {
        return refused;
    }
    if let Some(ct) = header(headers, CONTENT_TYPE)
        && !ct.starts_with("application/json")
    {
        return rpc_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
            ErrorCode::INVALID_REQUEST,
            "send JSON-RPC as Content-Type: application/json",
        );
    }
    if body.trim_ascii_start().starts_with(b"[") {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            ErrorCode::INVALID_REQUEST,
            "JSON-RPC batches are not supported (removed in MCP 2025-06-18)",
        );
    }
    let Some(env) = Envelope::parse(body) else {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            ErrorCode::PARSE_ERROR,
            "the body is not a JSON-RPC message",
        );
    };
    if let Kind::Request { id, method } = env.kind()
        && method == jsonrpc::INITIALIZE
    {
        if name == AGGREGATE {
            return super::aggregate::initialize(id.get(), hello(&env), gw);
        }
        // Boxed, as are the other rare paths below: a request's future is allocated and
        // moved whole on every call, and these would make it half as large again.
        return Box::pin(initialize(name, id.get(), &env, gw, app)).await;
    }
    let Some(sid) = header(headers, &SESSION_HEADER) else {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            ErrorCode::INVALID_REQUEST,
            "missing Mcp-Session-Id (send initialize first)",
        );
    };
    let Some(session) = gw.get(sid).filter(|s| s.server == name) else {
        return rpc_error(
            StatusCode::NOT_FOUND,
            None,
            ErrorCode(-32001),
            "session not found (it ended or expired): initialize again",
        );
    };
    if !exposed(gw, &session) {
        let id = match env.kind() {
            Kind::Request { id, .. } => Some(id.get()),
            _ => None,
        };
        return not_exposed(id, name);
    }
    session.touch();
    match env.kind() {
        Kind::Request { id, method } if session.is_aggregate() => {
            Box::pin(super::aggregate::request(
                app,
                gw,
                &session,
                id.get(),
                method,
                &env,
            ))
            .await
        }
        Kind::Request { id, method } => request(app, gw, &session, id.get(), method, &env).await,
        Kind::Response { id } => {
            client_answer(&session, id, &env);
            HttpResponse::Accepted().finish()
        }
        Kind::Notification { method } => {
            client_notification(&session, method, &env);
            HttpResponse::Accepted().finish()
        }
        Kind::Invalid => rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            ErrorCode::INVALID_REQUEST,
            "not a JSON-RPC request, notification or response",
        ),
    }
}

/// What a client said at `initialize`: the revision agreed with it, its capabilities and
/// its identity.
pub(super) struct Hello {
    pub version: ProtocolVersion,
    pub caps: ClientCapabilities,
    pub client_info: serde_json::Value,
}

pub(super) fn hello(env: &Envelope<'_>) -> Hello {
    let params: Option<InitializeRequestParams> =
        env.params_str().and_then(|p| serde_json::from_str(p).ok());
    let version = negotiate(params.as_ref().map(|p| &p.protocol_version));
    let client_info = params
        .as_ref()
        .and_then(|p| serde_json::to_value(&p.client_info).ok())
        .unwrap_or_default();
    let caps = params.map(|p| p.capabilities).unwrap_or_default();
    Hello {
        version,
        caps,
        client_info,
    }
}

/// Opens a session of `server` (or [`AGGREGATE`]) and answers the client's `initialize`
/// with `result` and the new `Mcp-Session-Id`.
#[allow(clippy::too_many_arguments)] // each is one fact about the new session
pub(super) fn open_session(
    gw: &Gateway,
    server: &str,
    id: &str,
    hello: Hello,
    mut result: InitializeResult,
    upstream: Option<&Upstream>,
    policy: Option<tokio::sync::watch::Receiver<Arc<super::Policy>>>,
    isolated: Option<(String, super::isolated::Lease)>,
) -> HttpResponse {
    result.protocol_version = hello.version.clone();
    let body = match serde_json::to_string(&result) {
        Ok(b) => b,
        Err(e) => {
            return rpc_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                Some(id),
                ErrorCode::INTERNAL_ERROR,
                e.to_string(),
            );
        }
    };
    // A per-session upstream was opened under the session's id already.
    let (sid, lease) = match isolated {
        Some((sid, lease)) => (sid, Some(lease)),
        None => (uuid::Uuid::new_v4().simple().to_string(), None),
    };
    let mut session = Session::new(
        sid.clone(),
        server.to_string(),
        hello.version.to_string(),
        &hello.caps,
    )
    .with_client_info(hello.client_info);
    if let Some(policy) = policy {
        session = session.with_policy(policy);
    }
    if let Some(lease) = lease {
        session = session.with_lease(lease);
    }
    let session = Arc::new(session);
    if let Some(up) = upstream {
        adopt(&session, up);
    }
    gw.insert(session);
    HttpResponse::Ok()
        .insert_header((SESSION_HEADER.clone(), sid))
        .content_type("application/json")
        .body(jsonrpc::result(id, &body))
}

async fn initialize(
    name: &str,
    id: &str,
    env: &Envelope<'_>,
    gw: &Gateway,
    app: &AppState,
) -> HttpResponse {
    let reach = match reach(app, name).await {
        Ok(r) => r,
        Err(e) => return json(StatusCode::NOT_FOUND, jsonrpc::error_data(Some(id), &e)),
    };
    if !reach.policy.borrow().exposed {
        return not_exposed(Some(id), name);
    }
    // A client connecting means to use the server: start it now rather than at its
    // first call (and a server that never ran has no handshake to answer from yet).
    let reach = match wake(app, name, reach).await {
        Ok(r) => r,
        Err(e) => return json(StatusCode::OK, jsonrpc::error_data(Some(id), &e)),
    };
    let sid = uuid::Uuid::new_v4().simple().to_string();
    // Isolation per-session: an upstream of the session's own, whose handshake answers.
    let own = match reach.isolation {
        Isolation::PerSession => match super::isolated::open(app, &reach, &sid).await {
            Ok(own) => Some(own),
            Err((status, e)) => return json(status, jsonrpc::error_data(Some(id), &e)),
        },
        Isolation::Shared => None,
    };
    // A server that is not running yet (or any more) can still be connected to when its
    // last handshake is known; its calls then answer with its state.
    let Some(info) = own.as_ref().map(|o| &o.info).or_else(|| {
        reach
            .info
            .as_ref()
            .filter(|_| reach.upstream.is_some() || reach.status != StatusKind::Running)
    }) else {
        return json(
            StatusCode::OK,
            jsonrpc::error_data(Some(id), &unavailable(&reach)),
        );
    };
    let capabilities: ServerCapabilities =
        serde_json::from_value(info.capabilities.clone()).unwrap_or_default();
    let mut result = InitializeResult::new(capabilities);
    if let Some(si) = info
        .server_info
        .clone()
        .and_then(|v| serde_json::from_value::<Implementation>(v).ok())
    {
        result.server_info = si;
    }
    result.instructions = info.instructions.clone();
    let (upstream, isolated) = match own {
        Some(own) => (Some(own.upstream), Some((sid, own.lease))),
        None => (reach.upstream.clone(), None),
    };
    open_session(
        gw,
        name,
        id,
        hello(env),
        result,
        upstream.as_ref(),
        Some(reach.policy.clone()),
        isolated,
    )
}

async fn request(
    app: &AppState,
    gw: &Gateway,
    session: &Arc<Session>,
    id: &str,
    method: &str,
    env: &Envelope<'_>,
) -> HttpResponse {
    let ok = |result: &str| json(StatusCode::OK, jsonrpc::result(id, result));
    if method == jsonrpc::PING {
        return ok("{}");
    }
    // The filter in force now; `None` when it lets everything through, so the common
    // case neither looks at tool names nor rewrites lists.
    let filter = session.policy().filter(|p| !p.tools.is_open());
    if method == jsonrpc::TOOLS_CALL
        && let Some(p) = &filter
    {
        let tool = super::metrics::tool_name(env.params_str());
        if !tool.as_deref().is_some_and(|t| p.tools.allows(t)) {
            return json(
                StatusCode::OK,
                jsonrpc::error(
                    Some(id),
                    ErrorCode::INVALID_PARAMS,
                    format!(
                        "tool {} is not available through the gateway",
                        tool.as_deref().unwrap_or("(unnamed)")
                    ),
                ),
            );
        }
    }
    let found = match session.upstream() {
        Some(up) => Ok(up),
        None => Box::pin(upstream_of(app, session)).await,
    };
    let up = match found {
        Ok(up) => up,
        Err(e) => return json(StatusCode::OK, jsonrpc::error_data(Some(id), &e)),
    };
    let mut params: Option<Cow<'_, str>> = env.params_str().map(Cow::Borrowed);
    let uri = || match jsonrpc::field(env.params_str(), "uri") {
        Some(serde_json::Value::String(u)) => Some(u),
        _ => None,
    };
    match method {
        // The level is per session here; the server gets the most verbose one asked for,
        // and each session's notifications are filtered to its own.
        jsonrpc::SET_LEVEL => {
            if let Some(serde_json::Value::String(level)) =
                jsonrpc::field(env.params_str(), "level")
                && let Some(rank) = level_rank(&level)
            {
                session.set_log_level(rank);
                if up.is_modern() {
                    // 2026-07-28 has no setLevel: the level rides in each request's _meta.
                    return ok("{}");
                }
                let min = up.min_level().unwrap_or(rank).min(rank);
                params = Some(Cow::Owned(
                    serde_json::json!({ "level": level_name(min) }).to_string(),
                ));
            }
        }
        // Subscriptions are per session; the server is subscribed once per uri.
        jsonrpc::SUBSCRIBE => {
            if let Some(uri) = uri()
                && !(session.add_subscription(&uri) && up.subscribe(&uri))
            {
                return ok("{}");
            }
        }
        jsonrpc::UNSUBSCRIBE => {
            if let Some(uri) = uri()
                && !(session.remove_subscription(&uri) && up.unsubscribe(&uri))
            {
                return ok("{}");
            }
        }
        _ => {}
    }
    let timing = {
        let server = gw.metrics.server(&session.server);
        let tool = method == jsonrpc::TOOLS_CALL;
        let stats = if tool {
            let name = super::metrics::tool_name(env.params_str());
            server.tool(name.as_deref().unwrap_or(super::metrics::OTHER))
        } else {
            server.method(method)
        };
        super::metrics::Timing::new(stats, tool)
    };
    // Boxed on its own (a small allocation) so that the request's future stays under 1 KiB:
    // glibc serves larger blocks outside its per-thread cache (880 bytes instead of 1216).
    let Some(rx) = Box::pin(up.call(session, id, method, params.as_deref(), Some(timing))).await
    else {
        return json(
            StatusCode::OK,
            jsonrpc::error(
                Some(id),
                jsonrpc::SERVER_ERROR,
                format!("server {}: its MCP session just ended", session.server),
            ),
        );
    };
    let hide = filter.filter(|_| method == TOOLS_LIST);
    respond(rx, id, hide).await
}

/// The answer alone as JSON, or an SSE stream when something comes before it. With a
/// policy, the answer is a `tools/list` result to filter.
pub(super) async fn respond(
    mut rx: FrameRx,
    id: &str,
    hide: Option<Arc<super::Policy>>,
) -> HttpResponse {
    let filtered = move |frame: Frame| match (frame, &hide) {
        (Frame::Final(b), Some(p)) => Frame::Final(filter_tools(b, &p.tools)),
        (frame, _) => frame,
    };
    // The server's answer, then the client's next request, usually come within
    // microseconds: the thread stays awake for them (see `keep_awake`).
    let first = {
        let _waiting = Waiting::start();
        rx.recv().await
    };
    match first.map(&filtered) {
        Some(Frame::Final(b)) => json(StatusCode::OK, b),
        Some(Frame::Event(first)) => sse(
            Some(first),
            futures::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|f| f.map(&filtered))),
        ),
        None => json(
            StatusCode::OK,
            jsonrpc::error(Some(id), jsonrpc::SERVER_ERROR, "the request was cancelled"),
        ),
    }
}

/// How long, in µs, the gateway's thread stays awake after it forwards a request or an
/// answer (`--gateway-spin-us`; 0: never).
static SPIN_US: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(200);

/// Sets how long the gateway's thread stays awake (see [`keep_awake`]).
pub fn set_spin(span: std::time::Duration) {
    SPIN_US.store(
        span.as_micros().min(u128::from(u64::MAX)) as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
}

/// With more answers than this awaited on the thread (now or within [`LOADED_FOR`]), it
/// does not spin: under load there is always work, and the spin would take CPU from the
/// servers and clients.
const SPIN_MAX_WAITING: usize = 2;

thread_local! {
    /// Until when the spinner keeps this thread awake, and whether it runs.
    static AWAKE: std::cell::Cell<(std::time::Instant, bool)> =
        std::cell::Cell::new((std::time::Instant::now(), false));
    /// Requests on this thread waiting for their server's answer.
    static WAITING: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// Until when the thread counts as loaded: more than [`SPIN_MAX_WAITING`] answers were
    /// awaited within [`LOADED_FOR`] (between two calls of a loaded thread the count dips).
    static LOADED: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
}

/// How long a thread counts as loaded after it last awaited many answers at once.
const LOADED_FOR: std::time::Duration = std::time::Duration::from_millis(5);

fn loaded() -> bool {
    LOADED
        .get()
        .is_some_and(|until| std::time::Instant::now() < until)
}

/// A request waiting for its answer (ends when dropped, also when the client goes away).
struct Waiting;

impl Waiting {
    fn start() -> Waiting {
        let n = WAITING.get() + 1;
        WAITING.set(n);
        if n > SPIN_MAX_WAITING {
            LOADED.set(Some(std::time::Instant::now() + LOADED_FOR));
        } else {
            keep_awake();
        }
        Waiting
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let n = WAITING.get().saturating_sub(1);
        WAITING.set(n);
        // Nothing else awaited: what comes next is most likely this client's next request.
        if n == 0 {
            keep_awake();
        }
    }
}

/// Keeps this thread polling its sockets and pipes without sleeping for the spin time
/// ([`set_spin`]) from now.
///
/// Why: a call through the gateway crosses four sleeps and wake-ups (client → gateway →
/// server → gateway → client) where a direct stdio call crosses two, and on an idle
/// (virtual) machine each wake-up from sleep costs tens of microseconds, more than the
/// gateway's own work. A server's answer and a client's next request usually come within
/// that window, so for a moment the thread polls instead of sleeping, the way Go's
/// scheduler spins before it parks: one task per thread that yields until the newest
/// deadline (a yielding task makes the runtime poll its I/O driver without blocking), then
/// ends. The cost is CPU while calls come back to back (the thread never sleeps then), and
/// at most `span` of it after the last one; an idle gateway does not spin at all.
fn keep_awake() {
    let span = SPIN_US.load(std::sync::atomic::Ordering::Relaxed);
    if span == 0 || loaded() {
        return;
    }
    let until = std::time::Instant::now() + std::time::Duration::from_micros(span);
    let (_, running) = AWAKE.get();
    AWAKE.set((until, true));
    if !running {
        actix_rt::spawn(async {
            while std::time::Instant::now() < AWAKE.get().0 && !loaded() {
                // The CPU goes first to whatever else is runnable on it (the server this
                // thread waits for, when the scheduler put it here).
                std::thread::yield_now();
                tokio::task::yield_now().await;
            }
            AWAKE.set((AWAKE.get().0, false));
        });
    }
}

fn event(msg: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(msg.len() + 24);
    b.put_slice(b"event: message\n");
    // Messages are single lines; split anyway, as SSE requires.
    for line in msg.split(|c| *c == b'\n') {
        b.put_slice(b"data: ");
        b.put_slice(line);
        b.put_u8(b'\n');
    }
    b.put_u8(b'\n');
    b.freeze()
}

/// An SSE response: `first`, then every frame of `rx` until the answer (or until `rx`
/// closes), with keep-alive comments while idle.
fn sse<S>(first: Option<Bytes>, rx: S) -> HttpResponse
where
    S: futures::Stream<Item = Frame> + Unpin + 'static,
{
    use futures::StreamExt;
    struct St<S> {
        first: Option<Bytes>,
        rx: S,
        done: bool,
    }
    let st = St {
        first: Some(first.map_or_else(|| Bytes::from_static(b": open\n\n"), |f| event(&f))),
        rx,
        done: false,
    };
    let stream = futures::stream::unfold(st, |mut st| async move {
        if let Some(f) = st.first.take() {
            return Some((Ok::<_, Infallible>(f), st));
        }
        if st.done {
            return None;
        }
        tokio::select! {
            frame = st.rx.next() => match frame? {
                Frame::Event(b) => Some((Ok(event(&b)), st)),
                Frame::Final(b) => {
                    st.done = true;
                    Some((Ok(event(&b)), st))
                }
            },
            _ = tokio::time::sleep(KEEPALIVE) => Some((Ok(Bytes::from_static(b": keepalive\n\n")), st)),
        }
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .streaming(stream)
}

/// A `tools/list` answer without the tools `filter` hides. Only the `tools` array is
/// rebuilt (from the server's own bytes for each tool kept); the rest of the message is
/// left as it came. An answer that is not a list of tools (an error) passes unchanged.
fn filter_tools(msg: Bytes, filter: &ToolFilter) -> Bytes {
    #[derive(serde::Deserialize)]
    struct Msg<'a> {
        #[serde(borrow)]
        result: Option<&'a RawValue>,
    }
    #[derive(serde::Deserialize)]
    struct List<'a> {
        #[serde(borrow)]
        tools: Option<&'a RawValue>,
    }
    #[derive(serde::Deserialize)]
    struct Tool<'a> {
        #[serde(borrow)]
        name: Cow<'a, str>,
    }
    let Some(tools) = serde_json::from_slice::<Msg<'_>>(&msg)
        .ok()
        .and_then(|m| m.result)
        .and_then(|r| serde_json::from_str::<List<'_>>(r.get()).ok())
        .and_then(|l| l.tools)
    else {
        return msg;
    };
    let Ok(all) = serde_json::from_str::<Vec<&RawValue>>(tools.get()) else {
        return msg;
    };
    let kept: Vec<&RawValue> = all
        .iter()
        .copied()
        .filter(|t| serde_json::from_str::<Tool<'_>>(t.get()).is_ok_and(|t| filter.allows(&t.name)))
        .collect();
    if kept.len() == all.len() {
        return msg;
    }
    // The borrowed raw value is a slice of `msg`: its place there is where it starts.
    let start = (tools.get().as_ptr() as usize).wrapping_sub(msg.as_ptr() as usize);
    let end = start + tools.get().len();
    if end > msg.len() {
        return msg;
    }
    let mut b = BytesMut::with_capacity(msg.len());
    b.put_slice(&msg[..start]);
    b.put_u8(b'[');
    for (i, t) in kept.iter().enumerate() {
        if i > 0 {
            b.put_u8(b',');
        }
        b.put_slice(t.get().as_bytes());
    }
    b.put_u8(b']');
    b.put_slice(&msg[end..]);
    b.freeze()
}

/// The client answers a request the server sent it through us.
fn client_answer(session: &Arc<Session>, id: &RawValue, env: &Envelope<'_>) {
    if let Some((up, upstream_id)) = jsonrpc::number(id).and_then(|n| session.take_asked(n)) {
        up.answer(&upstream_id, env);
    }
}

/// The upstreams a session uses: its one, or an aggregate session's every one.
fn upstreams(session: &Session) -> Vec<Upstream> {
    if session.is_aggregate() {
        session.links().into_iter().map(|(_, up)| up).collect()
    } else {
        session.upstream().into_iter().collect()
    }
}

fn client_notification(session: &Arc<Session>, method: &str, env: &Envelope<'_>) {
    match method {
        jsonrpc::CANCELLED => {
            if let Some(rid) = jsonrpc::field(env.params_str(), "requestId") {
                let reason = jsonrpc::field(env.params_str(), "reason");
                // Only the upstream that has the request in flight does anything.
                for up in upstreams(session) {
                    up.cancel(session, &rid.to_string(), reason.clone());
                }
            }
        }
        jsonrpc::ROOTS_CHANGED => {
            for up in upstreams(session) {
                up.notify(method, env.params_str());
            }
        }
        // `initialized` ends here: the server's own session was initialized long ago.
        _ => {}
    }
}

fn session_of(
    headers: &HeaderMap,
    name: &str,
    gw: &Gateway,
) -> Result<Arc<Session>, Box<HttpResponse>> {
    let Some(sid) = header(headers, &SESSION_HEADER) else {
        return Err(Box::new(rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            ErrorCode::INVALID_REQUEST,
            "missing Mcp-Session-Id",
        )));
    };
    gw.get(sid).filter(|s| s.server == name).ok_or_else(|| {
        Box::new(rpc_error(
            StatusCode::NOT_FOUND,
            None,
            ErrorCode(-32001),
            "session not found (it ended or expired)",
        ))
    })
}

fn get_at(req: &HttpRequest, name: &str, gw: &Gateway) -> HttpResponse {
    if let Some(refused) = check_version(req.headers()) {
        return refused;
    }
    let accepts = header(req.headers(), ACCEPT).is_some_and(|a| a.contains("text/event-stream"));
    if !accepts {
        return rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            None,
            ErrorCode::INVALID_REQUEST,
            "GET opens an SSE stream: send Accept: text/event-stream",
        );
    }
    let session = match session_of(req.headers(), name, gw) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    if !exposed(gw, &session) {
        return not_exposed(None, name);
    }
    session.touch();
    let mut rx = session.open_stream();
    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    // The stream ends when the server stops being exposed; the client's next request
    // then gets the 404 that ends its session.
    let Some(mut policy) = session.policy_changes() else {
        return sse(None, stream);
    };
    let hidden = Box::pin(async move {
        let _ = policy.wait_for(|p| !p.exposed).await;
    });
    sse(None, futures::StreamExt::take_until(stream, hidden))
}

fn delete_at(req: &HttpRequest, name: &str, gw: &Gateway) -> HttpResponse {
    match session_of(req.headers(), name, gw) {
        Ok(s) => {
            gw.remove(&s.id);
            if s.policy().is_none_or(|p| p.exposed) {
                HttpResponse::Ok().finish()
            } else {
                not_exposed(None, name)
            }
        }
        Err(r) => *r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(allow: &[&str], deny: &[&str]) -> ToolFilter {
        ToolFilter {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            deny: deny.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn endpoint_names() {
        assert_eq!(endpoint_name("/mcp"), Some(AGGREGATE));
        assert_eq!(endpoint_name("/mcp/time"), Some("time"));
        assert_eq!(endpoint_name("/mcp/"), Some(AGGREGATE));
        assert_eq!(endpoint_name("/mcp/time/"), Some("time"));
        assert_eq!(endpoint_name("/mcp/time//"), None);
        assert_eq!(endpoint_name("/mcp/a/b"), None);
        assert_eq!(endpoint_name("/mcpx"), None);
    }

    #[test]
    fn tools_list_answers_lose_only_the_hidden_tools() {
        let msg = Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"get_a","inputSchema":{"type":"object"}}, {"name":"rm\u0046","x":[1,2]},{"name":"get_b"}],"nextCursor":"c2"}}"#,
        );
        let out = filter_tools(msg.clone(), &filter(&[], &["rm*"]));
        assert_eq!(
            &out[..],
            br#"{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"get_a","inputSchema":{"type":"object"}},{"name":"get_b"}],"nextCursor":"c2"}}"#
        );
        let out = filter_tools(msg.clone(), &filter(&["get_b"], &[]));
        assert_eq!(
            &out[..],
            br#"{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"get_b"}],"nextCursor":"c2"}}"#
        );
        // Nothing hidden: the very same bytes.
        let same = filter_tools(msg.clone(), &filter(&["*"], &[]));
        assert_eq!(same.as_ptr(), msg.as_ptr());
        // Errors and other shapes pass unchanged.
        for other in [
            &br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no"}}"#[..],
            br#"{"jsonrpc":"2.0","id":1,"result":{"tools":"not a list"}}"#,
            br#"not json"#,
        ] {
            let b = Bytes::copy_from_slice(other);
            assert_eq!(filter_tools(b.clone(), &filter(&[], &["*"])), b);
        }
    }
}
