//! A downstream client session (`Mcp-Session-Id`): what the client declared at
//! `initialize`, the upstream it currently uses (an aggregate session of `/mcp`: the
//! upstream of each server it reached, and which server each subscription went to), its standalone GET stream, its resource
//! subscriptions and log level, and the server→client requests waiting for its answer.
//! Locks are held only for a few map operations, never across an await; the router may
//! lock a session while holding its own lock, never the other way round.

use super::Policy;
use super::upstream::Upstream;
use bytes::Bytes;
use rmcp::model::ClientCapabilities;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;
use tokio::sync::{mpsc, watch};

/// What goes to a client on one stream: messages before the answer, then the answer.
pub enum Frame {
    Event(Bytes),
    Final(Bytes),
}

/// The channel that carries one request's frames from the router to the request's HTTP
/// handler. Most requests get one frame, so it is held inline; tokio's unbounded channel
/// allocates a block of 32 slots (1.3 KB, beyond malloc's per-thread cache) per request,
/// which showed in the gateway's CPU per call.
pub fn frames() -> (FrameTx, FrameRx) {
    let shared = Arc::new(FrameChannel {
        state: Mutex::new(FrameState {
            first: None,
            rest: VecDeque::new(),
            waker: None,
            senders: 1,
            receiving: true,
        }),
    });
    (FrameTx(shared.clone()), FrameRx(shared))
}

struct FrameChannel {
    state: Mutex<FrameState>,
}

struct FrameState {
    /// The oldest frame not yet received; `rest` holds the ones after it.
    first: Option<Frame>,
    rest: VecDeque<Frame>,
    waker: Option<Waker>,
    senders: usize,
    receiving: bool,
}

impl FrameChannel {
    fn lock(&self) -> MutexGuard<'_, FrameState> {
        lock(&self.state)
    }
}

/// The router's end; cloned for each place that may write to the request's stream.
pub struct FrameTx(Arc<FrameChannel>);

impl FrameTx {
    /// Queues `frame`; gives it back when the handler has gone (the client left).
    pub fn send(&self, frame: Frame) -> Result<(), Frame> {
        let waker = {
            let mut st = self.0.lock();
            if !st.receiving {
                return Err(frame);
            }
            if st.first.is_none() && st.rest.is_empty() {
                st.first = Some(frame);
            } else {
                st.rest.push_back(frame);
            }
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }
}

impl Clone for FrameTx {
    fn clone(&self) -> Self {
        self.0.lock().senders += 1;
        FrameTx(self.0.clone())
    }
}

impl Drop for FrameTx {
    fn drop(&mut self) {
        let waker = {
            let mut st = self.0.lock();
            st.senders -= 1;
            if st.senders > 0 {
                return;
            }
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The handler's end: frames in order, then `None` once every sender has gone.
pub struct FrameRx(Arc<FrameChannel>);

impl FrameRx {
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Frame>> {
        let mut st = self.0.lock();
        if let Some(f) = st.first.take().or_else(|| st.rest.pop_front()) {
            return Poll::Ready(Some(f));
        }
        if st.senders == 0 {
            return Poll::Ready(None);
        }
        match &mut st.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    pub async fn recv(&mut self) -> Option<Frame> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }
}

impl Drop for FrameRx {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.receiving = false;
        st.first = None;
        st.rest.clear();
        st.waker = None;
    }
}

pub struct Session {
    pub id: String,
    /// The server name of the URL; [`super::AGGREGATE`] for a session of `/mcp`.
    pub server: String,
    /// The protocol version agreed with this client.
    pub protocol: String,
    sampling: bool,
    elicitation: bool,
    roots: bool,
    /// What the client declared, as sent to a 2026-era server in every request's `_meta`.
    capabilities: serde_json::Value,
    client_info: serde_json::Value,
    next_id: AtomicU64,
    /// The server's gateway options (exposed, tool filter, start on demand), as the
    /// ServerActor updates them; `None` only in unit tests.
    policy: Option<watch::Receiver<Arc<Policy>>>,
    state: Mutex<State>,
    /// Isolation per-session: the session's claim on its own upstream process.
    lease: Option<super::isolated::Lease>,
}

struct State {
    upstream: Option<Upstream>,
    last_active: Instant,
    /// Bounded: a client that does not read its GET stream loses messages, it does not
    /// make the daemon hold them.
    stream: Option<mpsc::Sender<Frame>>,
    subscriptions: HashSet<String>,
    log_level: Option<u8>,
    /// Server→client requests sent to this client: its id here → the upstream and the
    /// server's id.
    asked: HashMap<u64, (Upstream, String)>,
    /// Aggregate sessions: the upstream in use per server name.
    links: HashMap<String, Upstream>,
    /// Aggregate sessions: the server each subscribed uri was routed to.
    sub_owner: HashMap<String, String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Messages a GET stream holds for a client that does not read them.
const STREAM_BACKLOG: usize = 1024;

/// MCP log levels, least severe first (rank = index).
const LEVELS: [&str; 8] = [
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

pub fn level_rank(level: &str) -> Option<u8> {
    LEVELS
        .iter()
        .position(|l| *l == level)
        .and_then(|i| u8::try_from(i).ok())
}

pub fn level_name(rank: u8) -> &'static str {
    LEVELS.get(usize::from(rank)).copied().unwrap_or("debug")
}

impl Session {
    pub fn new(id: String, server: String, protocol: String, caps: &ClientCapabilities) -> Self {
        Session {
            id,
            server,
            protocol,
            sampling: caps.sampling.is_some(),
            elicitation: caps.elicitation.is_some(),
            roots: caps.roots.is_some(),
            capabilities: serde_json::to_value(caps).unwrap_or_default(),
            client_info: serde_json::Value::Null,
            next_id: AtomicU64::new(1),
            policy: None,
            state: Mutex::new(State {
                upstream: None,
                last_active: Instant::now(),
                stream: None,
                subscriptions: HashSet::new(),
                log_level: None,
                asked: HashMap::new(),
                links: HashMap::new(),
                sub_owner: HashMap::new(),
            }),
            lease: None,
        }
    }

    pub fn with_client_info(mut self, info: serde_json::Value) -> Self {
        self.client_info = info;
        self
    }

    pub fn with_policy(mut self, policy: watch::Receiver<Arc<Policy>>) -> Self {
        self.policy = Some(policy);
        self
    }

    /// The server's gateway options as they stand now.
    pub fn policy(&self) -> Option<Arc<Policy>> {
        self.policy.as_ref().map(|p| p.borrow().clone())
    }

    /// Follows the server's gateway options (for a stream that must end when the server
    /// stops being exposed).
    pub fn policy_changes(&self) -> Option<watch::Receiver<Arc<Policy>>> {
        self.policy.clone()
    }

    /// The session runs on an upstream process of its own.
    pub fn with_lease(mut self, lease: super::isolated::Lease) -> Self {
        self.lease = Some(lease);
        self
    }

    /// Whether the session has (or had) an upstream process of its own.
    pub fn is_isolated(&self) -> bool {
        self.lease.is_some()
    }

    /// The session ended: its own upstream process, if it has one, is stopped.
    pub fn release_instance(&self) {
        if let Some(lease) = &self.lease {
            lease.release();
        }
    }

    /// The client context a 2026-07-28 server needs in each request's `_meta` (SEP-2575):
    /// this client's capabilities and identity, and its log level.
    pub fn context_meta(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert(
            "io.modelcontextprotocol/protocolVersion".into(),
            rmcp::model::ProtocolVersion::V_2026_07_28
                .to_string()
                .into(),
        );
        m.insert(
            "io.modelcontextprotocol/clientCapabilities".into(),
            self.capabilities.clone(),
        );
        if !self.client_info.is_null() {
            m.insert(
                "io.modelcontextprotocol/clientInfo".into(),
                self.client_info.clone(),
            );
        }
        if let Some(level) = self.log_level() {
            m.insert(
                "io.modelcontextprotocol/logLevel".into(),
                level_name(level).into(),
            );
        }
        m
    }

    /// Whether the client declared what a server→client `method` needs.
    pub fn can(&self, method: &str) -> bool {
        match method {
            super::jsonrpc::SAMPLING => self.sampling,
            super::jsonrpc::ELICITATION => self.elicitation,
            super::jsonrpc::ROOTS_LIST => self.roots,
            _ => false,
        }
    }

    pub fn touch(&self) {
        lock(&self.state).last_active = Instant::now();
    }

    /// Idle for `idle` with no GET stream open.
    pub fn expired(&self, idle: std::time::Duration) -> bool {
        let st = lock(&self.state);
        let streaming = st.stream.as_ref().is_some_and(|s| !s.is_closed());
        !streaming && st.last_active.elapsed() >= idle
    }

    /// The upstream in use, if it is still alive.
    pub fn upstream(&self) -> Option<Upstream> {
        lock(&self.state)
            .upstream
            .clone()
            .filter(Upstream::is_alive)
    }

    /// Switches to `up`: whether it is a change, and the upstream it replaces.
    pub fn set_upstream(&self, up: Upstream) -> (bool, Option<Upstream>) {
        let mut st = lock(&self.state);
        match &st.upstream {
            Some(old) if old.same(&up) => (false, None),
            _ => (true, st.upstream.replace(up)),
        }
    }

    pub fn take_upstream(&self) -> Option<Upstream> {
        lock(&self.state).upstream.take()
    }

    pub fn is_aggregate(&self) -> bool {
        self.server == super::AGGREGATE
    }

    /// Aggregate sessions: switches to `up` for `server`; `None` when it is already in use,
    /// else the upstream it replaces (if any).
    pub fn link(&self, server: &str, up: &Upstream) -> Option<Option<Upstream>> {
        let mut st = lock(&self.state);
        match st.links.get(server) {
            Some(old) if old.same(up) => None,
            _ => Some(st.links.insert(server.to_string(), up.clone())),
        }
    }

    /// Aggregate sessions: the upstreams in use, by server name.
    pub fn links(&self) -> Vec<(String, Upstream)> {
        lock(&self.state)
            .links
            .iter()
            .map(|(s, u)| (s.clone(), u.clone()))
            .collect()
    }

    pub fn take_links(&self) -> Vec<(String, Upstream)> {
        lock(&self.state).links.drain().collect()
    }

    /// Aggregate sessions: records a subscription to `uri` of `server`; false if it
    /// existed.
    pub fn add_subscription_at(&self, uri: &str, server: &str) -> bool {
        let mut st = lock(&self.state);
        st.sub_owner.insert(uri.to_string(), server.to_string());
        st.subscriptions.insert(uri.to_string())
    }

    /// Aggregate sessions: the uris subscribed at `server`.
    pub fn subscriptions_at(&self, server: &str) -> Vec<String> {
        lock(&self.state)
            .sub_owner
            .iter()
            .filter(|(_, s)| *s == server)
            .map(|(u, _)| u.clone())
            .collect()
    }

    pub fn next_request_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn remember_asked(&self, id: u64, up: Upstream, upstream_id: String) {
        lock(&self.state).asked.insert(id, (up, upstream_id));
    }

    pub fn forget_asked(&self, id: u64) {
        lock(&self.state).asked.remove(&id);
    }

    pub fn take_asked(&self, id: u64) -> Option<(Upstream, String)> {
        lock(&self.state).asked.remove(&id)
    }

    /// Opens the standalone stream (a new GET replaces the previous one).
    pub fn open_stream(&self) -> mpsc::Receiver<Frame> {
        let (tx, rx) = mpsc::channel(STREAM_BACKLOG);
        lock(&self.state).stream = Some(tx);
        rx
    }

    /// Sends a message on the GET stream; false when none is open (a message that finds
    /// the stream's backlog full is dropped, and counts as sent).
    pub fn push(&self, msg: Bytes) -> bool {
        let st = lock(&self.state);
        let Some(s) = st.stream.as_ref() else {
            return false;
        };
        match s.try_send(Frame::Event(msg)) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(session = %self.id, "GET stream backlog full: message dropped");
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    pub fn close_stream(&self) {
        lock(&self.state).stream = None;
    }

    pub fn subscriptions(&self) -> Vec<String> {
        lock(&self.state).subscriptions.iter().cloned().collect()
    }

    pub fn is_subscribed(&self, uri: &str) -> bool {
        lock(&self.state).subscriptions.contains(uri)
    }

    /// Records a subscription; false if it existed.
    pub fn add_subscription(&self, uri: &str) -> bool {
        lock(&self.state).subscriptions.insert(uri.to_string())
    }

    pub fn remove_subscription(&self, uri: &str) -> bool {
        let mut st = lock(&self.state);
        st.sub_owner.remove(uri);
        st.subscriptions.remove(uri)
    }

    pub fn log_level(&self) -> Option<u8> {
        lock(&self.state).log_level
    }

    pub fn set_log_level(&self, rank: u8) {
        lock(&self.state).log_level = Some(rank);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts the wake-ups the channel gives its receiver.
    struct Count(AtomicUsize);

    impl futures::task::ArcWake for Count {
        fn wake_by_ref(me: &Arc<Self>) {
            me.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn text(f: Option<Frame>) -> Option<(bool, Bytes)> {
        f.map(|f| match f {
            Frame::Event(b) => (false, b),
            Frame::Final(b) => (true, b),
        })
    }

    fn poll(rx: &mut FrameRx, count: &Arc<Count>) -> Poll<Option<(bool, Bytes)>> {
        let waker = futures::task::waker(count.clone());
        rx.poll_recv(&mut Context::from_waker(&waker)).map(text)
    }

    #[test]
    fn frames_arrive_in_order_then_none_once_every_sender_is_gone() {
        let (tx, mut rx) = frames();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        assert!(poll(&mut rx, &count).is_pending());
        let tx2 = tx.clone();
        assert!(tx.send(Frame::Event(Bytes::from_static(b"a"))).is_ok());
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            1,
            "a send wakes the waiting receiver"
        );
        assert!(tx2.send(Frame::Event(Bytes::from_static(b"b"))).is_ok());
        assert!(tx.send(Frame::Final(Bytes::from_static(b"c"))).is_ok());
        drop(tx);
        for (fin, body) in [(false, "a"), (false, "b"), (true, "c")] {
            assert_eq!(
                poll(&mut rx, &count),
                Poll::Ready(Some((fin, Bytes::from(body))))
            );
        }
        // One sender is left: the receiver waits rather than ending.
        assert!(poll(&mut rx, &count).is_pending());
        let before = count.0.load(Ordering::SeqCst);
        drop(tx2);
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            before + 1,
            "the last sender's drop wakes it"
        );
        assert_eq!(poll(&mut rx, &count), Poll::Ready(None));
    }

    #[test]
    fn a_frame_sent_after_the_first_was_taken_goes_behind_the_rest() {
        let (tx, mut rx) = frames();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        tx.send(Frame::Event(Bytes::from_static(b"1"))).ok();
        tx.send(Frame::Event(Bytes::from_static(b"2"))).ok();
        assert_eq!(
            poll(&mut rx, &count),
            Poll::Ready(Some((false, Bytes::from("1"))))
        );
        // `first` is empty again but `rest` is not: a new frame goes behind "2".
        tx.send(Frame::Final(Bytes::from_static(b"3"))).ok();
        assert_eq!(
            poll(&mut rx, &count),
            Poll::Ready(Some((false, Bytes::from("2"))))
        );
        assert_eq!(
            poll(&mut rx, &count),
            Poll::Ready(Some((true, Bytes::from("3"))))
        );
    }

    #[test]
    fn a_send_after_the_receiver_left_gives_the_frame_back() {
        let (tx, rx) = frames();
        tx.send(Frame::Event(Bytes::from_static(b"queued"))).ok();
        drop(rx);
        match tx.send(Frame::Final(Bytes::from_static(b"late"))) {
            Err(Frame::Final(b)) => assert_eq!(b, "late"),
            _ => panic!("a send to a dropped receiver must fail and return the frame"),
        }
    }
}
