//! The router in front of one upstream MCP session (one run of one server). Drawn here
//! for stdio; for a server reached over HTTP the pipes are POSTs and SSE streams
//! (`super::http_upstream`) and the gateway answers what the manager's client would.
//!
//! It sits between the server's stdio pipes and the manager's own rmcp client
//! ([`crate::mcp::McpSession`]), so the manager, its health probe, the API's tool view and
//! every gateway client share the one process:
//!
//! ```text
//!   child stdout ──► stdout pump (JSON-RPC lines; noise to the log)
//!                ──► reader task ──┬─► rmcp client (the manager: handshake, probes, logs)
//!                                  └─► gateway: the downstream request / session it belongs to
//!   child stdin  ◄── writer task ◄─┬── rmcp client (whole lines)
//!                                  └── gateway (requests with ids of our own)
//! ```
//!
//! The pump, the reader and the writer task run on the gateway's IO thread (the HTTP
//! worker, [`super::spawn_io`]), so an answer reaches its waiting HTTP handler without a
//! wake-up of another thread. They end when the child's stdout closes (reader) and when
//! the manager's client closes its side (writer, which then closes the child's stdin).
//!
//! The manager's client numbers its requests from 0; the gateway numbers its own from
//! [`ID_BASE`] up, so a response tells by its id alone whose it is, and a gateway request
//! id is never a client's id: each downstream request gets a fresh upstream id, and its
//! answer goes back to that client under the client's own id. A `_meta.progressToken` is
//! rewritten to the upstream id on the way up and back to the client's token on the way
//! down. All upstream lines are handled in order by one task, and everything meant for one
//! downstream request goes into that request's channel in that order, so a progress
//! notification read together with its result still arrives first.
//!
//! Attribution rules for what stdio does not link to a request (documented in
//! docs/gateway.md; over HTTP a message on a call's answer stream goes to that call's
//! client, and the rules apply only to the server's GET stream):
//! - a server→client request (`sampling/createMessage`, `elicitation/create`, `roots/list`)
//!   goes to the downstream session whose requests are in flight, when exactly one session
//!   that declared the needed capability has requests in flight (on the stream of its
//!   newest one); when there are gateway requests in flight but no single such session, the
//!   server gets a JSON-RPC error; with no gateway request in flight it is the manager's own
//!   client that answers (sampling: method not found, elicitation: decline, roots: none);
//! - `notifications/message` goes to the one session with requests in flight, else to
//!   every session (each filtered by the level it set);
//! - `list_changed` goes to every session, `resources/updated` to the sessions subscribed
//!   to that uri; both on the session's GET stream, or on its newest request's stream.

use super::http_upstream::HttpSink;
use super::jsonrpc::{self, Envelope, Kind};
use super::session::{Frame, FrameRx, FrameTx, Session, level_rank};
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

/// Gateway request ids start here; the manager's own client never gets this far.
pub const ID_BASE: u64 = 1 << 40;

/// The server's JSON-RPC lines as the stdout pump splits them, without the newline.
pub type Lines = mpsc::Receiver<Bytes>;

/// A channel for [`Lines`]; bounded, so a router that falls behind slows the pump (which
/// then stops reading the child's stdout, as a full pipe would).
pub fn lines() -> (mpsc::Sender<Bytes>, Lines) {
    mpsc::channel(1024)
}

/// A handle on the router of one upstream session; cheap to clone.
#[derive(Clone)]
pub struct Upstream(Arc<Router>);

/// The server's stdin, buffered; `None` once closed.
type Writer = tokio::io::BufWriter<std::pin::Pin<Box<dyn AsyncWrite + Send>>>;

/// The stdin buffer.
const WRITE_BUF: usize = 64 * 1024;

/// Lines up to this size are written by the caller itself (see [`Upstream::call`]).
const DIRECT_MAX: usize = 32 * 1024;

pub(super) struct Router {
    /// Whole JSON-RPC messages for the server, without the newline, for the writer task.
    out: mpsc::UnboundedSender<Bytes>,
    /// Set for a server reached over HTTP: messages go up as POSTs instead.
    http: Option<Arc<HttpSink>>,
    /// The server's stdin. Whoever holds the lock writes whole lines only.
    writer: tokio::sync::Mutex<Option<Writer>>,
    alive: AtomicBool,
    /// The server speaks 2026-07-28 (stateless): each request carries the client context.
    modern: AtomicBool,
    next_id: AtomicU64,
    state: Mutex<RouterState>,
}

#[derive(Default)]
struct RouterState {
    /// Gateway requests in flight, by upstream id.
    pending: HashMap<u64, Pending>,
    /// Downstream sessions using this upstream (for fan-out and the log level).
    sessions: Vec<Weak<Session>>,
    /// Subscribers per resource uri; the server is subscribed while the count is > 0.
    subscriptions: HashMap<String, usize>,
    /// Server→client requests forwarded to a session: upstream id (raw JSON) → the session
    /// and the id it got there.
    asked: HashMap<String, (Weak<Session>, u64)>,
}

/// A gateway request in flight upstream.
struct Pending {
    /// `None` for the gateway's own requests (a subscription on behalf of many), whose
    /// answers are dropped.
    client: Option<Client>,
}

struct Client {
    session: Arc<Session>,
    /// The client's id, raw JSON.
    id: String,
    /// The client's progress token, if it asked for progress.
    token: Option<serde_json::Value>,
    tx: FrameTx,
    /// The call's counters and start, recorded when its answer comes.
    timing: Option<super::metrics::Timing>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Upstream {
    /// Puts a router between an upstream stdio pair and the manager's rmcp client: returns
    /// the pair the client should use instead.
    pub fn wrap<W>(reader: Lines, writer: W) -> (DuplexStream, DuplexStream, Upstream)
    where
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let (client_read, to_client) = tokio::io::duplex(256 * 1024);
        let (from_client, client_write) = tokio::io::duplex(256 * 1024);
        let (out, out_rx) = mpsc::unbounded_channel();
        let writer: Writer = tokio::io::BufWriter::with_capacity(WRITE_BUF, Box::pin(writer));
        let router = Arc::new(Router {
            out,
            http: None,
            writer: tokio::sync::Mutex::new(Some(writer)),
            alive: AtomicBool::new(true),
            modern: AtomicBool::new(false),
            next_id: AtomicU64::new(ID_BASE),
            state: Mutex::new(RouterState::default()),
        });
        // On the IO thread, beside the stdout pump and the HTTP handlers waiting for answers.
        super::spawn_io(read_loop(reader, to_client, router.clone()));
        super::spawn_io(write_loop(router.clone(), from_client, out_rx));
        (client_read, client_write, Upstream(router))
    }

    /// The gateway's own session with a server reached over Streamable HTTP.
    pub async fn connect_http(url: &str) -> Result<Upstream, String> {
        let sink = Arc::new(super::http_upstream::connect(url).await?);
        let (out, _) = mpsc::unbounded_channel();
        let router = Arc::new(Router {
            out,
            http: Some(sink.clone()),
            writer: tokio::sync::Mutex::new(None),
            alive: AtomicBool::new(true),
            modern: AtomicBool::new(false),
            next_id: AtomicU64::new(ID_BASE),
            state: Mutex::new(RouterState::default()),
        });
        super::http_upstream::listen(sink, Arc::downgrade(&router));
        Ok(Upstream(router))
    }

    /// The manager's handshake found a 2026-07-28 (stateless) server.
    pub fn set_modern(&self, modern: bool) {
        self.0.modern.store(modern, Ordering::Release);
    }

    pub fn is_modern(&self) -> bool {
        self.0.modern.load(Ordering::Acquire)
    }

    pub fn is_alive(&self) -> bool {
        self.0.alive.load(Ordering::Acquire)
    }

    /// The session is ending (stop, restart): new gateway requests go elsewhere.
    pub fn close(&self) {
        self.0.close("the server's MCP session was closed");
    }

    pub fn same(&self, other: &Upstream) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    fn send(&self, line: Bytes) -> bool {
        self.is_alive() && self.0.put_line(line)
    }

    fn fresh_id(&self) -> u64 {
        self.0.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Writes a line to the server from the caller's own task when the writer is free (one
    /// task hop fewer on the hot path), else hands it to the writer task. Lines that fit
    /// the buffer cannot be cut short by a cancelled caller: they are copied into it whole.
    async fn write_now(&self, line: Bytes) -> bool {
        if !self.is_alive() {
            return false;
        }
        if line.len() <= DIRECT_MAX
            && self.0.http.is_none()
            && let Ok(mut guard) = self.0.writer.try_lock()
        {
            return match guard.as_mut() {
                Some(w) => put(w, &line).await,
                None => false,
            };
        }
        self.0.put_line(line)
    }

    /// Sends a client's request upstream under a fresh id; its answer (and whatever belongs
    /// to it) comes on the returned channel. `None` when the upstream is gone.
    pub async fn call(
        &self,
        session: &Arc<Session>,
        id: &str,
        method: &str,
        params: Option<&str>,
        timing: Option<super::metrics::Timing>,
    ) -> Option<FrameRx> {
        if !self.is_alive() {
            return None;
        }
        let up = self.fresh_id();
        let token = params.and_then(jsonrpc::progress_token);
        let context = self.is_modern().then(|| session.context_meta());
        let rewritten = (token.is_some() || context.is_some())
            .then(|| jsonrpc::with_meta(params, token.as_ref().map(|_| up.into()), context))
            .flatten();
        let params = rewritten.as_deref().or(params);
        let (tx, rx) = super::session::frames();
        lock(&self.0.state).pending.insert(
            up,
            Pending {
                client: Some(Client {
                    session: session.clone(),
                    id: id.to_string(),
                    token,
                    tx,
                    timing,
                }),
            },
        );
        if !self
            .write_now(jsonrpc::request(&up.to_string(), method, params))
            .await
        {
            lock(&self.0.state).pending.remove(&up);
            return None;
        }
        Some(rx)
    }

    /// Sets the server's log level (a request of the gateway's own).
    pub fn set_level(&self, level: &str) {
        let params = serde_json::json!({ "level": level }).to_string();
        self.call_internal(jsonrpc::SET_LEVEL, &params);
    }

    /// A request of the gateway's own; its answer is dropped.
    fn call_internal(&self, method: &str, params: &str) {
        let up = self.fresh_id();
        lock(&self.0.state)
            .pending
            .insert(up, Pending { client: None });
        self.send(jsonrpc::request(&up.to_string(), method, Some(params)));
    }

    /// Forwards a client's notification unchanged.
    pub fn notify(&self, method: &str, params: Option<&str>) {
        self.send(jsonrpc::notification(method, params));
    }

    /// The client cancelled its request `id`: tell the server, with the server's id, and
    /// end the request here.
    pub fn cancel(&self, session: &Arc<Session>, id: &str, reason: Option<serde_json::Value>) {
        let up = {
            let mut st = lock(&self.0.state);
            let found = st.pending.iter().find_map(|(up, p)| {
                p.client
                    .as_ref()
                    .filter(|c| Arc::ptr_eq(&c.session, session) && c.id == id)
                    .map(|_| *up)
            });
            found.inspect(|up| {
                st.pending.remove(up);
            })
        };
        if let Some(up) = up {
            let mut params = serde_json::json!({ "requestId": up });
            if let Some(reason) = reason {
                params["reason"] = reason;
            }
            self.notify(jsonrpc::CANCELLED, Some(&params.to_string()));
        }
    }

    /// The client's answer to a server→client request: back to the server with its id.
    pub fn answer(&self, upstream_id: &str, env: &Envelope<'_>) {
        lock(&self.0.state).asked.remove(upstream_id);
        self.send(jsonrpc::response(upstream_id, env));
    }

    /// A session starts using this upstream: fan-out reaches it, and its subscriptions
    /// (kept across a server restart) are made here too.
    pub fn attach(&self, session: &Arc<Session>) {
        self.attach_with(session, session.subscriptions());
    }

    /// [`Self::attach`] with the subscriptions `uris` (an aggregate session's at this
    /// server only).
    pub fn attach_with(&self, session: &Arc<Session>, uris: Vec<String>) {
        let mut first = vec![];
        {
            let mut st = lock(&self.0.state);
            st.sessions.retain(|w| w.strong_count() > 0);
            st.sessions.push(Arc::downgrade(session));
            for uri in uris {
                let n = st.subscriptions.entry(uri.clone()).or_default();
                *n += 1;
                if *n == 1 {
                    first.push(uri);
                }
            }
        }
        for uri in first {
            let params = serde_json::json!({ "uri": uri }).to_string();
            self.call_internal(jsonrpc::SUBSCRIBE, &params);
        }
    }

    /// The session is gone: its subscriptions end here, its requests still in flight are
    /// cancelled upstream, and the server's requests to it are answered with an error.
    pub fn detach(&self, session: &Arc<Session>) {
        self.detach_with(session, session.subscriptions());
    }

    /// [`Self::detach`] with the subscriptions `uris` (an aggregate session's at this
    /// server only).
    pub fn detach_with(&self, session: &Arc<Session>, uris: Vec<String>) {
        let mut last = vec![];
        let (cancelled, unanswered) = {
            let mut st = lock(&self.0.state);
            st.sessions
                .retain(|w| w.upgrade().is_some_and(|s| !Arc::ptr_eq(&s, session)));
            for uri in uris {
                if release(&mut st.subscriptions, &uri) {
                    last.push(uri);
                }
            }
            let mine =
                |c: &Option<Client>| c.as_ref().is_some_and(|c| Arc::ptr_eq(&c.session, session));
            let cancelled: Vec<u64> = st
                .pending
                .iter()
                .filter(|(_, p)| mine(&p.client))
                .map(|(up, _)| *up)
                .collect();
            for up in &cancelled {
                st.pending.remove(up);
            }
            let unanswered: Vec<String> = st
                .asked
                .iter()
                .filter(|(_, (s, _))| s.upgrade().is_none_or(|s| Arc::ptr_eq(&s, session)))
                .map(|(id, _)| id.clone())
                .collect();
            for id in &unanswered {
                st.asked.remove(id);
            }
            (cancelled, unanswered)
        };
        for uri in last {
            let params = serde_json::json!({ "uri": uri }).to_string();
            self.call_internal(jsonrpc::UNSUBSCRIBE, &params);
        }
        for up in cancelled {
            let params = serde_json::json!({
                "requestId": up,
                "reason": "the gateway client's session ended",
            });
            self.notify(jsonrpc::CANCELLED, Some(&params.to_string()));
        }
        for id in unanswered {
            self.send(jsonrpc::error(
                Some(&id),
                jsonrpc::SERVER_ERROR,
                "the gateway client's session ended",
            ));
        }
    }

    /// Counts a subscriber of `uri`; true when it is the first (subscribe upstream).
    pub fn subscribe(&self, uri: &str) -> bool {
        let mut st = lock(&self.0.state);
        let n = st.subscriptions.entry(uri.to_string()).or_default();
        *n += 1;
        *n == 1
    }

    /// Drops a subscriber of `uri`; true when it was the last (unsubscribe upstream).
    pub fn unsubscribe(&self, uri: &str) -> bool {
        release(&mut lock(&self.0.state).subscriptions, uri)
    }

    /// The most verbose level any session of this upstream asked for.
    pub fn min_level(&self) -> Option<u8> {
        lock(&self.0.state)
            .sessions
            .iter()
            .filter_map(Weak::upgrade)
            .filter_map(|s| s.log_level())
            .min()
    }
}

fn release(subs: &mut HashMap<String, usize>, uri: &str) -> bool {
    match subs.get_mut(uri) {
        Some(n) if *n > 1 => {
            *n -= 1;
            false
        }
        Some(_) => {
            subs.remove(uri);
            true
        }
        None => false,
    }
}

impl Router {
    /// Hands a line to the writer task, or posts it (HTTP).
    fn put_line(self: &Arc<Self>, line: Bytes) -> bool {
        match &self.http {
            Some(sink) => {
                super::http_upstream::post(sink, self, line);
                true
            }
            None => self.out.send(line).is_ok(),
        }
    }

    /// A message from a server reached over HTTP. What the manager's client would answer
    /// for a stdio server, the gateway answers here.
    pub(super) fn from_http(self: &Arc<Self>, line: &[u8], origin: Option<u64>) {
        if !self.alive.load(Ordering::Acquire) || !self.dispatch(line, origin) {
            return;
        }
        let Some(env) = Envelope::parse(line) else {
            return;
        };
        if let Kind::Request { id, method } = env.kind() {
            let answer = match method {
                jsonrpc::PING => jsonrpc::result(id.get(), "{}"),
                jsonrpc::ROOTS_LIST => jsonrpc::result(id.get(), r#"{"roots":[]}"#),
                _ => jsonrpc::error(
                    Some(id.get()),
                    rmcp::model::ErrorCode::METHOD_NOT_FOUND,
                    format!("{method}: no gateway client is waiting on this server"),
                ),
            };
            self.put_line(answer);
        }
    }

    fn close(&self, why: &str) {
        if !self.alive.swap(false, Ordering::AcqRel) {
            return;
        }
        if let Some(sink) = &self.http {
            super::http_upstream::close(sink);
        }
        let pending = std::mem::take(&mut lock(&self.state).pending);
        for (_, p) in pending {
            if let Some(c) = p.client {
                if let Some(t) = c.timing {
                    t.finish(super::metrics::Outcome::Error);
                }
                let _ = c.tx.send(Frame::Final(jsonrpc::error(
                    Some(&c.id),
                    jsonrpc::SERVER_ERROR,
                    why.to_string(),
                )));
            }
        }
        let asked = std::mem::take(&mut lock(&self.state).asked);
        drop(asked);
    }

    /// Handles one line from the server; true when the manager's own client should see it.
    ///
    /// `origin`: the upstream id of the request whose answer stream carried the line, when
    /// the transport tells (HTTP); over stdio nothing does.
    fn dispatch(self: &Arc<Self>, line: &[u8], origin: Option<u64>) -> bool {
        let Some(env) = Envelope::parse(line) else {
            return true;
        };
        match env.kind() {
            Kind::Response { id } => {
                let Some(up) = jsonrpc::number(id).filter(|n| *n >= ID_BASE) else {
                    return true;
                };
                let pending = lock(&self.state).pending.remove(&up);
                if let Some(c) = pending.and_then(|p| p.client) {
                    if let Some(t) = c.timing {
                        use super::metrics::{Outcome, is_tool_error};
                        let outcome = match (env.error, env.result) {
                            (Some(_), _) => Outcome::Error,
                            (None, Some(r)) if t.tool && is_tool_error(r.get()) => {
                                Outcome::ToolError
                            }
                            _ => Outcome::Ok,
                        };
                        t.finish(outcome);
                    }
                    let _ = c.tx.send(Frame::Final(jsonrpc::response(&c.id, &env)));
                }
                false
            }
            Kind::Request { id, method } => match method {
                jsonrpc::SAMPLING | jsonrpc::ELICITATION | jsonrpc::ROOTS_LIST => {
                    !self.route_server_request(id.get(), method, &env, origin)
                }
                _ => true,
            },
            Kind::Notification { method } => match method {
                jsonrpc::PROGRESS => !self.route_progress(&env),
                jsonrpc::CANCELLED => !self.route_cancelled(&env),
                jsonrpc::LOG_MESSAGE => {
                    self.route_log(&env, line, origin);
                    true
                }
                jsonrpc::TOOLS_CHANGED | jsonrpc::PROMPTS_CHANGED | jsonrpc::RESOURCES_CHANGED => {
                    self.fan_out(line, |_| true);
                    true
                }
                jsonrpc::RESOURCE_UPDATED => {
                    let uri = jsonrpc::field(env.params_str(), "uri");
                    if let Some(serde_json::Value::String(uri)) = uri {
                        self.fan_out(line, |s| s.is_subscribed(&uri));
                    }
                    true
                }
                _ => true,
            },
            Kind::Invalid => true,
        }
    }

    /// Sessions with gateway requests in flight, each with the sender of its newest one.
    fn active(st: &RouterState) -> Vec<(Arc<Session>, u64, FrameTx)> {
        let mut out: Vec<(Arc<Session>, u64, FrameTx)> = vec![];
        for (up, p) in &st.pending {
            let Some(c) = &p.client else { continue };
            match out.iter_mut().find(|(s, _, _)| Arc::ptr_eq(s, &c.session)) {
                Some(entry) if entry.1 < *up => {
                    entry.1 = *up;
                    entry.2 = c.tx.clone();
                }
                Some(_) => {}
                None => out.push((c.session.clone(), *up, c.tx.clone())),
            }
        }
        out
    }

    /// The client request a message came with, when the transport says (an HTTP server's
    /// answer stream): its session and stream.
    fn origin_of(st: &RouterState, origin: Option<u64>) -> Option<(Arc<Session>, u64, FrameTx)> {
        let up = origin?;
        let c = st.pending.get(&up)?.client.as_ref()?;
        Some((c.session.clone(), up, c.tx.clone()))
    }

    fn route_server_request(
        self: &Arc<Self>,
        id: &str,
        method: &str,
        env: &Envelope<'_>,
        origin: Option<u64>,
    ) -> bool {
        let mut st = lock(&self.state);
        // Over HTTP the request comes on the stream of the call that caused it: exact.
        let active = match Self::origin_of(&st, origin) {
            Some(o) => vec![o],
            None => Self::active(&st),
        };
        if active.is_empty() {
            // Nobody downstream is waiting: the manager's own client answers.
            return false;
        }
        let capable: Vec<_> = active
            .into_iter()
            .filter(|(s, _, _)| s.can(method))
            .collect();
        let [(session, _, tx)] = capable.as_slice() else {
            drop(st);
            let why = if capable.is_empty() {
                format!(
                    "no client of the gateway that is waiting on this server declared the capability for {method}"
                )
            } else {
                format!(
                    "{method} could not be attributed: several gateway clients are waiting on this server"
                )
            };
            self.put_line(jsonrpc::error(Some(id), jsonrpc::SERVER_ERROR, why));
            return true;
        };
        let down = session.next_request_id();
        st.asked
            .insert(id.to_string(), (Arc::downgrade(session), down));
        drop(st);
        session.remember_asked(down, Upstream(self.clone()), id.to_string());
        let msg = jsonrpc::request(&down.to_string(), method, env.params_str());
        if tx.send(Frame::Event(msg.clone())).is_err() && !session.push(msg) {
            session.forget_asked(down);
            lock(&self.state).asked.remove(id);
            self.put_line(jsonrpc::error(
                Some(id),
                jsonrpc::SERVER_ERROR,
                "the gateway client went away",
            ));
        }
        true
    }

    fn route_progress(&self, env: &Envelope<'_>) -> bool {
        let Some(params) = env.params_str() else {
            return false;
        };
        let Ok(serde_json::Value::Object(mut p)) = serde_json::from_str(params) else {
            return false;
        };
        let Some(up) = p
            .get("progressToken")
            .and_then(serde_json::Value::as_u64)
            .filter(|n| *n >= ID_BASE)
        else {
            return false;
        };
        let st = lock(&self.state);
        if let Some(c) = st.pending.get(&up).and_then(|p| p.client.as_ref())
            && let Some(token) = &c.token
        {
            p.insert("progressToken".into(), token.clone());
            let params = serde_json::Value::Object(p).to_string();
            let _ = c.tx.send(Frame::Event(jsonrpc::notification(
                jsonrpc::PROGRESS,
                Some(&params),
            )));
        }
        true
    }

    /// The server cancels a request it sent to a client.
    fn route_cancelled(&self, env: &Envelope<'_>) -> bool {
        let Some(id) = jsonrpc::field(env.params_str(), "requestId") else {
            return false;
        };
        let Some((session, down)) = lock(&self.state).asked.remove(&id.to_string()) else {
            return false;
        };
        if let Some(session) = session.upgrade() {
            session.forget_asked(down);
            let params = serde_json::json!({ "requestId": down }).to_string();
            session.push(jsonrpc::notification(jsonrpc::CANCELLED, Some(&params)));
        }
        true
    }

    fn route_log(&self, env: &Envelope<'_>, line: &[u8], origin: Option<u64>) {
        let level = match jsonrpc::field(env.params_str(), "level") {
            Some(serde_json::Value::String(l)) => level_rank(&l),
            _ => None,
        };
        let wants = |s: &Session| match (s.log_level(), level) {
            (Some(min), Some(l)) => l >= min,
            _ => true,
        };
        let st = lock(&self.state);
        let active = match Self::origin_of(&st, origin) {
            Some(o) => vec![o],
            None => Self::active(&st),
        };
        if let [(session, _, tx)] = active.as_slice() {
            if wants(session.as_ref()) {
                let _ = tx.send(Frame::Event(trimmed(line)));
            }
            return;
        }
        drop(st);
        self.fan_out(line, wants);
    }

    /// Sends `line` to every session of this upstream that `pick` selects, on its GET
    /// stream, or else on the stream of its newest request in flight.
    fn fan_out(&self, line: &[u8], pick: impl Fn(&Session) -> bool) {
        let st = lock(&self.state);
        let msg = trimmed(line);
        let mut active = None;
        for s in st.sessions.iter().filter_map(Weak::upgrade) {
            if !pick(s.as_ref()) || s.push(msg.clone()) {
                continue;
            }
            let active = active.get_or_insert_with(|| Self::active(&st));
            if let Some((_, _, tx)) = active.iter().find(|(a, _, _)| Arc::ptr_eq(a, &s)) {
                let _ = tx.send(Frame::Event(msg.clone()));
            }
        }
    }
}

fn trimmed(line: &[u8]) -> Bytes {
    Bytes::copy_from_slice(line.trim_ascii())
}

/// Reads the server's messages in order and routes each one.
async fn read_loop(mut lines: Lines, mut to_client: DuplexStream, router: Arc<Router>) {
    let mut client_open = true;
    while let Some(line) = lines.recv().await {
        if router.dispatch(&line, None) && client_open {
            client_open = to_client.write_all(&line).await.is_ok()
                && to_client.write_all(b"\n").await.is_ok();
        }
    }
    router.close("the server's MCP session ended (the server exited or was stopped)");
}

/// Writes one line and flushes. Room is made first, so the line and its newline then go
/// into the buffer without a suspension point: a caller dropped mid-way never leaves half a
/// line behind.
async fn put(w: &mut Writer, line: &[u8]) -> bool {
    if w.buffer().len() + line.len() + 1 > WRITE_BUF && w.flush().await.is_err() {
        return false;
    }
    w.write_all(line).await.is_ok() && w.write_all(b"\n").await.is_ok() && w.flush().await.is_ok()
}

/// Writes the manager's lines and the gateway's queued messages to the server, whole lines
/// only. Ends when the manager's client closes its side: that closes the server's stdin.
async fn write_loop(
    router: Arc<Router>,
    mut from_client: DuplexStream,
    mut gateway: mpsc::UnboundedReceiver<Bytes>,
) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        tokio::select! {
            biased;
            n = from_client.read_buf(&mut buf) => {
                match n {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                if let Some(end) = buf.iter().rposition(|b| *b == b'\n') {
                    let whole = buf.split_to(end + 1);
                    let mut guard = router.writer.lock().await;
                    let Some(w) = guard.as_mut() else { break };
                    if w.write_all(&whole).await.is_err() || w.flush().await.is_err() {
                        break;
                    }
                }
            }
            msg = gateway.recv() => {
                // The router holds the sender as long as this task runs.
                let Some(mut msg) = msg else { break };
                let mut guard = router.writer.lock().await;
                let Some(w) = guard.as_mut() else { break };
                let mut ok = true;
                loop {
                    ok = ok
                        && w.write_all(&msg).await.is_ok()
                        && w.write_all(b"\n").await.is_ok();
                    match gateway.try_recv() {
                        Ok(next) => msg = next,
                        Err(_) => break,
                    }
                }
                if !ok || w.flush().await.is_err() {
                    break;
                }
            }
        }
    }
    router.close("the server's MCP session was closed");
    let writer = router.writer.lock().await.take();
    if let Some(mut w) = writer {
        let _ = w.shutdown().await;
    }
}
