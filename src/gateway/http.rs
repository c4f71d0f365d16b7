//! `/mcp/{name}`: the Streamable HTTP side of the gateway.
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
//! A server that is not running answers at once with a JSON-RPC error naming its state.

use super::jsonrpc::{self, Envelope, Kind};
use super::session::{Frame, Session, level_name, level_rank};
use super::{Gateway, Reach, Upstream};
use crate::actors::registry::Lookup;
use crate::actors::server::GetUpstream;
use crate::api::AppState;
use crate::model::Isolation;
use crate::state::StatusKind;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::{BufMut, Bytes, BytesMut};
use rmcp::model::{
    ErrorCode, ErrorData, Implementation, InitializeRequestParams, InitializeResult,
    ProtocolVersion, ServerCapabilities,
};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";
/// SSE comment sent on idle streams, so dead peers and idle proxies are noticed.
const KEEPALIVE: Duration = Duration::from_secs(15);

fn json(status: StatusCode, body: Bytes) -> HttpResponse {
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

fn header<'r>(req: &'r HttpRequest, name: &str) -> Option<&'r str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Any protocol revision rmcp knows is accepted in `MCP-Protocol-Version` (clients send
/// older ones, e.g. 2025-03-26 on some requests); an unknown one is refused.
fn check_version(req: &HttpRequest) -> Option<HttpResponse> {
    let v = req.headers().get(VERSION_HEADER)?;
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

/// Asks the registry and the server's actor where the server stands.
async fn reach(app: &AppState, name: &str) -> Result<Reach, ErrorData> {
    let internal = |e: String| ErrorData {
        code: ErrorCode::INTERNAL_ERROR,
        message: e.into(),
        data: None,
    };
    let addr = match app.registry.send(Lookup(name.to_string())).await {
        Ok(Ok(addr)) => addr,
        Ok(Err(_)) => {
            return Err(ErrorData {
                code: ErrorCode::INVALID_PARAMS,
                message: format!("no server named {name}").into(),
                data: None,
            });
        }
        Err(e) => return Err(internal(e.to_string())),
    };
    addr.send(GetUpstream)
        .await
        .map_err(|e| internal(e.to_string()))
}

/// The session's upstream, found again after a restart of the server.
async fn upstream_of(app: &AppState, session: &Arc<Session>) -> Result<Upstream, ErrorData> {
    if let Some(up) = session.upstream() {
        return Ok(up);
    }
    if session.is_isolated() {
        return Err(super::isolated::gone(session));
    }
    let reach = reach(app, &session.server).await?;
    let up = reach.upstream.clone().ok_or_else(|| unavailable(&reach))?;
    adopt(session, &up);
    Ok(up)
}

fn adopt(session: &Arc<Session>, up: &Upstream) {
    let (changed, old) = session.set_upstream(up.clone());
    if let Some(old) = old {
        old.detach(session);
    }
    if changed {
        up.attach(session);
    }
}

pub async fn post(
    req: HttpRequest,
    name: web::Path<String>,
    body: web::Bytes,
    gw: web::Data<Gateway>,
    app: web::Data<AppState>,
) -> HttpResponse {
    if let Some(refused) = check_version(&req) {
        return refused;
    }
    if let Some(ct) = header(&req, "content-type")
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
    let Some(env) = Envelope::parse(&body) else {
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
        return initialize(&name, id.get(), &env, &gw, &app).await;
    }
    let Some(sid) = header(&req, SESSION_HEADER) else {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            None,
            ErrorCode::INVALID_REQUEST,
            "missing Mcp-Session-Id (send initialize first)",
        );
    };
    let Some(session) = gw.get(sid).filter(|s| s.server == *name) else {
        return rpc_error(
            StatusCode::NOT_FOUND,
            None,
            ErrorCode(-32001),
            "session not found (it ended or expired): initialize again",
        );
    };
    session.touch();
    match env.kind() {
        Kind::Request { id, method } => request(&app, &gw, &session, id.get(), method, &env).await,
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

async fn initialize(
    name: &str,
    id: &str,
    env: &Envelope<'_>,
    gw: &Gateway,
    app: &AppState,
) -> HttpResponse {
    let params: Option<InitializeRequestParams> =
        env.params_str().and_then(|p| serde_json::from_str(p).ok());
    let version = negotiate(params.as_ref().map(|p| &p.protocol_version));
    let client_info = params
        .as_ref()
        .and_then(|p| serde_json::to_value(&p.client_info).ok())
        .unwrap_or_default();
    let caps = params.map(|p| p.capabilities).unwrap_or_default();
    let reach = match reach(app, name).await {
        Ok(r) => r,
        Err(e) => return json(StatusCode::NOT_FOUND, jsonrpc::error_data(Some(id), &e)),
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
    result.protocol_version = version.clone();
    if let Some(si) = info
        .server_info
        .clone()
        .and_then(|v| serde_json::from_value::<Implementation>(v).ok())
    {
        result.server_info = si;
    }
    result.instructions = info.instructions.clone();
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
    let mut session = Session::new(sid.clone(), name.to_string(), version.to_string(), &caps)
        .with_client_info(client_info);
    let upstream = match own {
        Some(own) => {
            session = session.with_lease(own.lease);
            Some(own.upstream)
        }
        None => reach.upstream.clone(),
    };
    let session = Arc::new(session);
    if let Some(up) = &upstream {
        adopt(&session, up);
    }
    gw.insert(session);
    HttpResponse::Ok()
        .insert_header((SESSION_HEADER, sid))
        .content_type("application/json")
        .body(jsonrpc::result(id, &body))
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
    let up = match upstream_of(app, session).await {
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
    let Some(rx) = up
        .call(session, id, method, params.as_deref(), Some(timing))
        .await
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
    respond(rx, id).await
}

/// The answer alone as JSON, or an SSE stream when something comes before it.
async fn respond(mut rx: mpsc::UnboundedReceiver<Frame>, id: &str) -> HttpResponse {
    match rx.recv().await {
        Some(Frame::Final(b)) => json(StatusCode::OK, b),
        Some(Frame::Event(first)) => sse(
            Some(first),
            futures::stream::poll_fn(move |cx| rx.poll_recv(cx)),
        ),
        None => json(
            StatusCode::OK,
            jsonrpc::error(Some(id), jsonrpc::SERVER_ERROR, "the request was cancelled"),
        ),
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

/// The client answers a request the server sent it through us.
fn client_answer(session: &Arc<Session>, id: &RawValue, env: &Envelope<'_>) {
    if let Some((up, upstream_id)) = jsonrpc::number(id).and_then(|n| session.take_asked(n)) {
        up.answer(&upstream_id, env);
    }
}

fn client_notification(session: &Arc<Session>, method: &str, env: &Envelope<'_>) {
    match method {
        jsonrpc::CANCELLED => {
            if let (Some(up), Some(rid)) = (
                session.upstream(),
                jsonrpc::field(env.params_str(), "requestId"),
            ) {
                let reason = jsonrpc::field(env.params_str(), "reason");
                up.cancel(session, &rid.to_string(), reason);
            }
        }
        jsonrpc::ROOTS_CHANGED => {
            if let Some(up) = session.upstream() {
                up.notify(method, env.params_str());
            }
        }
        // `initialized` ends here: the server's own session was initialized long ago.
        _ => {}
    }
}

fn session_of(
    req: &HttpRequest,
    name: &str,
    gw: &Gateway,
) -> Result<Arc<Session>, Box<HttpResponse>> {
    let Some(sid) = header(req, SESSION_HEADER) else {
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

pub async fn get(
    req: HttpRequest,
    name: web::Path<String>,
    gw: web::Data<Gateway>,
) -> HttpResponse {
    if let Some(refused) = check_version(&req) {
        return refused;
    }
    let accepts = header(&req, "accept").is_some_and(|a| a.contains("text/event-stream"));
    if !accepts {
        return rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            None,
            ErrorCode::INVALID_REQUEST,
            "GET opens an SSE stream: send Accept: text/event-stream",
        );
    }
    let session = match session_of(&req, &name, &gw) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    session.touch();
    let mut rx = session.open_stream();
    sse(None, futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

pub async fn delete(
    req: HttpRequest,
    name: web::Path<String>,
    gw: web::Data<Gateway>,
) -> HttpResponse {
    match session_of(&req, &name, &gw) {
        Ok(s) => {
            gw.remove(&s.id);
            HttpResponse::Ok().finish()
        }
        Err(r) => *r,
    }
}
