//! `mcp-manager bridge NAME`: a stdio MCP server that forwards, byte for byte, to the
//! daemon's gateway endpoint `/mcp/NAME` (Streamable HTTP), for clients that can only
//! launch commands (Claude Desktop and the like).
//!
//! Each newline-delimited JSON-RPC message read on stdin is POSTed as it is (no re-typing);
//! every JSON-RPC message of the answer (a JSON body, or the events of an SSE stream) is
//! written to stdout on its own line, in the order received. After `initialize` the
//! session's `Mcp-Session-Id` and the agreed `MCP-Protocol-Version` go on every request, and
//! the session's GET stream is opened for the server's own messages (list changes, resource
//! updates, server→client requests); the client's answers to those come on stdin as
//! responses and are POSTed like anything else. On stdin EOF the session is DELETEd and the
//! bridge exits 0. Logs go to stderr only: stdout carries the protocol. When the daemon
//! answers 404 (it restarted and lost the session), a new session is opened by replaying
//! the client's `initialize`, unseen by the client, and the message is sent again.
//!
//! Requests are POSTed concurrently (a long tool call must not hold back the response to a
//! sampling request it caused); notifications and responses are POSTed in order, each
//! finished (202) before the next line is read. A request whose POST fails gets a JSON-RPC
//! error under its own id, so the client never waits for an answer that cannot come.

use clap::Args;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{StatusCode, Url};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long in-flight requests may still finish after stdin is closed.
const DRAIN: Duration = Duration::from_secs(5);
const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";

/// Serve one managed server over stdio, forwarding to the daemon's `/mcp/NAME` (or, with
/// `--all`, every exposed server through the aggregate endpoint `/mcp`).
#[derive(Args, Debug)]
#[command(after_help = "\
For MCP clients that only launch commands (Claude Desktop): point them at
`mcp-manager bridge NAME`; the daemon must be running. Logs go to stderr.

Example (claude_desktop_config.json):
  {\"mcpServers\": {\"time\": {\"command\": \"/usr/local/bin/mcp-manager\",
                            \"args\": [\"bridge\", \"time\", \"--url\", \"http://127.0.0.1:7070\"]}}}")]
pub struct BridgeArgs {
    /// Server name (its gateway endpoint is URL/mcp/NAME)
    #[arg(required_unless_present = "all")]
    pub name: Option<String>,
    /// Every running, exposed server at once: the aggregate endpoint URL/mcp
    #[arg(long, conflicts_with = "name")]
    pub all: bool,
    /// Daemon URL
    #[arg(long, env = "MCP_MANAGER_URL", default_value = "http://127.0.0.1:7070")]
    pub url: String,
    /// API token (needed when the daemon has one)
    #[arg(long, env = "MCP_MANAGER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// The session state every task shares.
#[derive(Default)]
struct Session {
    id: Option<String>,
    version: Option<String>,
    /// The client's `initialize`, replayed to open a new session when the daemon no longer
    /// knows this one (it restarted, or the session expired).
    initialize: Option<Vec<u8>>,
}

#[derive(Clone)]
struct Bridge {
    http: reqwest::Client,
    endpoint: Url,
    token: Option<String>,
    session: Arc<Mutex<Session>>,
    /// Held while a new session is opened, so that only one task does it.
    reopening: Arc<tokio::sync::Mutex<()>>,
    out: mpsc::UnboundedSender<Vec<u8>>,
}

/// Runs the bridge until stdin ends; returns the exit code (0, or 1 for a bad URL).
pub async fn run(args: BridgeArgs) -> i32 {
    let endpoint = match endpoint(&args.url, args.name.as_deref().filter(|_| !args.all)) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("mcp-manager bridge: {e}");
            return 1;
        }
    };
    let http = match reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("mcp-manager-bridge/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mcp-manager bridge: cannot set up the HTTP client: {e}");
            return 1;
        }
    };
    let (out, rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write_stdout(rx));
    let bridge = Bridge {
        http,
        endpoint,
        token: args
            .token
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty()),
        session: Arc::default(),
        reopening: Arc::default(),
        out,
    };
    eprintln!(
        "mcp-manager bridge: forwarding stdio to {}",
        bridge.endpoint
    );
    let mut requests = tokio::task::JoinSet::new();
    let mut stream: Option<tokio::task::JoinHandle<()>> = None;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => {
                eprintln!("mcp-manager bridge: reading stdin: {e}");
                break;
            }
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let message: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("mcp-manager bridge: not JSON, answered with a parse error: {e}");
                bridge.emit_error(&Value::Null, -32700, format!("parse error: {e}"));
                continue;
            }
        };
        let body = line.as_bytes().to_vec();
        let method = message.get("method").and_then(Value::as_str);
        let id = message.get("id").cloned();
        match (method, id) {
            (Some("initialize"), Some(id)) => {
                // Everything after depends on the session this opens: wait for it.
                if let Ok(mut s) = bridge.session.lock() {
                    s.initialize = Some(body.clone());
                }
                bridge.post(body, Some(id)).await;
                if stream.is_none() && bridge.session_id().is_some() {
                    let b = bridge.clone();
                    stream = Some(tokio::spawn(async move { b.listen().await }));
                }
            }
            (Some(_), Some(id)) => {
                let b = bridge.clone();
                requests.spawn(async move { b.post(body, Some(id)).await });
            }
            // Notifications and responses (to the server's own requests): in order.
            _ => bridge.post(body, None).await,
        }
        // Reap finished request tasks so the set does not grow.
        while requests.try_join_next().is_some() {}
    }
    // stdin closed: let the answers in flight come (briefly), then end the session.
    let _ = tokio::time::timeout(DRAIN, async {
        while requests.join_next().await.is_some() {}
    })
    .await;
    requests.abort_all();
    if let Some(s) = stream {
        s.abort();
    }
    bridge.delete().await;
    drop(bridge);
    let _ = writer.await;
    0
}

/// `URL/mcp/NAME`, the name as one path segment; `URL/mcp` without a name.
fn endpoint(url: &str, name: Option<&str>) -> Result<Url, String> {
    let mut u = Url::parse(url.trim()).map_err(|e| format!("invalid daemon URL `{url}`: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("invalid daemon URL `{url}`: not http(s)"));
    }
    u.set_query(None);
    u.set_fragment(None);
    u.path_segments_mut()
        .map_err(|()| format!("invalid daemon URL `{url}`"))?
        .pop_if_empty()
        .push("mcp")
        .extend(name);
    Ok(u)
}

/// Writes each message as one line to stdout, flushing after each.
async fn write_stdout(mut rx: mpsc::UnboundedReceiver<Vec<u8>>) {
    let mut stdout = tokio::io::stdout();
    while let Some(mut line) = rx.recv().await {
        line.push(b'\n');
        if stdout.write_all(&line).await.is_err() || stdout.flush().await.is_err() {
            eprintln!("mcp-manager bridge: stdout closed");
            return;
        }
    }
}

/// One message as one line. Raw newlines in valid JSON can only be insignificant whitespace
/// (inside strings they are escaped), so turning them into spaces changes nothing.
fn one_line(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b })
        .collect()
}

impl Bridge {
    fn session_id(&self) -> Option<String> {
        self.session.lock().ok().and_then(|s| s.id.clone())
    }

    fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        if let Ok(s) = self.session.lock() {
            if let Some(id) = s.id.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
                h.insert(SESSION_HEADER, id);
            }
            if let Some(v) = s
                .version
                .as_deref()
                .and_then(|v| HeaderValue::from_str(v).ok())
            {
                h.insert(VERSION_HEADER, v);
            }
        }
        if let Some(token) = &self.token
            && let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}"))
        {
            h.insert(reqwest::header::AUTHORIZATION, v);
        }
        h
    }

    fn emit(&self, message: &[u8]) {
        let _ = self.out.send(one_line(message));
    }

    fn emit_error(&self, id: &Value, code: i64, message: String) {
        let err = json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
        self.emit(err.to_string().as_bytes());
    }

    /// POSTs one message and writes what comes back. `id`: the request's id, for an error
    /// answer when the POST fails (`None` for notifications and responses). When the daemon
    /// no longer knows the session (404), a new one is opened with the client's own
    /// `initialize` and the message is sent once more.
    async fn post(&self, body: Vec<u8>, id: Option<Value>) {
        let initialize = id.is_some() && self.session_id().is_none();
        let mut response = match self.send_post(&body).await {
            Ok(r) => r,
            Err(e) => return self.unreachable(e, id),
        };
        if response.status() == StatusCode::NOT_FOUND
            && !initialize
            && let Some(stale) = self.session_id()
            && self.reopen(&stale).await
        {
            response = match self.send_post(&body).await {
                Ok(r) => r,
                Err(e) => return self.unreachable(e, id),
            };
        }
        self.answer(response, id, initialize).await;
    }

    async fn send_post(&self, body: &[u8]) -> Result<reqwest::Response, reqwest::Error> {
        self.http
            .post(self.endpoint.clone())
            .headers(self.headers())
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send()
            .await
    }

    fn unreachable(&self, e: reqwest::Error, id: Option<Value>) {
        let why = format!(
            "cannot reach the mcp-manager daemon at {}: {}",
            self.endpoint,
            root_cause(&e)
        );
        eprintln!("mcp-manager bridge: {why}");
        if let Some(id) = id {
            self.emit_error(&id, -32000, why);
        }
    }

    /// Opens a new session in place of `stale` by replaying the client's `initialize` (its
    /// answer is not written: the client has had one) and `notifications/initialized`.
    /// True when there is a session other than `stale` afterwards.
    async fn reopen(&self, stale: &str) -> bool {
        let _one = self.reopening.lock().await;
        let (current, init) = match self.session.lock() {
            Ok(s) => (s.id.clone(), s.initialize.clone()),
            Err(_) => return false,
        };
        if current.as_deref() != Some(stale) {
            return current.is_some(); // another task already did it
        }
        let Some(init) = init else { return false };
        if let Ok(mut s) = self.session.lock() {
            s.id = None;
        }
        let opened = self
            .http
            .post(self.endpoint.clone())
            .headers(self.headers())
            .header(CONTENT_TYPE, "application/json")
            .body(init)
            .send()
            .await;
        let sid = match opened {
            Ok(r) if r.status().is_success() => {
                let sid = r
                    .headers()
                    .get(SESSION_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let _ = r.bytes().await; // the answer the client already has
                sid
            }
            Ok(r) => {
                eprintln!(
                    "mcp-manager bridge: reopening the session: HTTP {}",
                    r.status()
                );
                None
            }
            Err(e) => {
                eprintln!(
                    "mcp-manager bridge: reopening the session: {}",
                    root_cause(&e)
                );
                None
            }
        };
        let Some(sid) = sid else {
            // Keep the stale id: the next request tries again.
            if let Ok(mut s) = self.session.lock() {
                s.id = Some(stale.to_string());
            }
            return false;
        };
        if let Ok(mut s) = self.session.lock() {
            s.id = Some(sid);
        }
        let initialized = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
        let _ = self.send_post(initialized).await;
        eprintln!("mcp-manager bridge: the daemon had lost the session; opened a new one");
        true
    }

    /// Writes the answer to a POST: its JSON-RPC messages, or an error for request `id`.
    async fn answer(&self, response: reqwest::Response, id: Option<Value>, initialize: bool) {
        let status = response.status();
        if initialize
            && status.is_success()
            && let Some(sid) = response
                .headers()
                .get(SESSION_HEADER)
                .and_then(|v| v.to_str().ok())
            && let Ok(mut s) = self.session.lock()
        {
            s.id = Some(sid.to_string());
        }
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            let why = format!(
                "the daemon answered HTTP {status}{}{}",
                if text.trim().is_empty() { "" } else { ": " },
                text.trim()
            );
            eprintln!("mcp-manager bridge: {why}");
            // A JSON-RPC error in the body (e.g. for a bad session) is the answer itself.
            if let Ok(v) = serde_json::from_str::<Value>(&text)
                && v.get("jsonrpc").is_some()
                && (v.get("error").is_some() || v.get("result").is_some())
                && v.get("id").is_some_and(|i| !i.is_null())
            {
                self.emit(text.as_bytes());
            } else if let Some(id) = id {
                let code = if status == StatusCode::NOT_FOUND {
                    -32001
                } else {
                    -32000
                };
                self.emit_error(&id, code, why);
            }
            return;
        }
        let is_sse = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("text/event-stream"));
        if is_sse {
            let mut last_id = None;
            let mut answered = false;
            let ended = self
                .read_sse(
                    response,
                    &mut last_id,
                    initialize,
                    id.as_ref(),
                    &mut answered,
                )
                .await;
            let why = match ended {
                Err(e) => format!("answer stream broken: {e}"),
                Ok(()) => "the answer stream ended without the answer".to_string(),
            };
            if let Some(id) = id.filter(|_| !answered) {
                eprintln!("mcp-manager bridge: {why}");
                self.emit_error(&id, -32000, why);
            }
            return;
        }
        match response.bytes().await {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => {} // 202
            Ok(bytes) => {
                if initialize {
                    self.note_version(&bytes);
                }
                self.emit(&bytes);
            }
            Err(e) => {
                eprintln!("mcp-manager bridge: reading the answer: {e}");
                if let Some(id) = id {
                    self.emit_error(&id, -32000, format!("reading the answer: {e}"));
                }
            }
        }
    }

    /// The protocol version agreed in an initialize result, for `MCP-Protocol-Version`.
    fn note_version(&self, message: &[u8]) {
        if let Ok(v) = serde_json::from_slice::<Value>(message)
            && let Some(version) = v.pointer("/result/protocolVersion").and_then(Value::as_str)
            && let Ok(mut s) = self.session.lock()
        {
            s.version = Some(version.to_string());
        }
    }

    /// Writes every message event of an SSE stream until it ends. Events with an empty
    /// data field (priming events) are skipped; `id:` is kept for reconnecting.
    async fn read_sse(
        &self,
        mut response: reqwest::Response,
        last_id: &mut Option<String>,
        initialize: bool,
        answer_to: Option<&Value>,
        answered: &mut bool,
    ) -> Result<(), String> {
        let mut buf: Vec<u8> = Vec::new();
        let mut data: Vec<u8> = Vec::new();
        let mut has_data = false;
        let mut event = String::new();
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) => return Ok(()),
                Err(e) => return Err(root_cause(&e)),
            };
            buf.extend_from_slice(&chunk);
            while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = buf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.is_empty() {
                    // Dispatch.
                    if has_data
                        && (event.is_empty() || event == "message")
                        && !data.iter().all(u8::is_ascii_whitespace)
                    {
                        if initialize {
                            self.note_version(&data);
                        }
                        if let Some(want) = answer_to
                            && !*answered
                            && let Ok(m) = serde_json::from_slice::<Value>(&data)
                            && m.get("id") == Some(want)
                            && m.get("method").is_none()
                        {
                            *answered = true;
                        }
                        self.emit(&data);
                    }
                    data.clear();
                    has_data = false;
                    event.clear();
                    continue;
                }
                if line[0] == b':' {
                    continue; // comment
                }
                let (field, value) = match line.iter().position(|&b| b == b':') {
                    Some(i) => {
                        let v = &line[i + 1..];
                        (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
                    }
                    None => (&line[..], &b""[..]),
                };
                match field {
                    b"data" => {
                        if has_data {
                            data.push(b'\n');
                        }
                        data.extend_from_slice(value);
                        has_data = true;
                    }
                    b"event" => event = String::from_utf8_lossy(value).into_owned(),
                    b"id" => *last_id = Some(String::from_utf8_lossy(value).into_owned()),
                    _ => {}
                }
            }
        }
    }

    /// The session's GET stream: the server's own messages. Reopened (with `Last-Event-ID`
    /// when the server gave ids) when it ends, until the bridge stops; not at all when the
    /// endpoint offers none (405).
    async fn listen(&self) {
        let mut last_id: Option<String> = None;
        let mut delay = Duration::from_millis(500);
        loop {
            let mut request = self
                .http
                .get(self.endpoint.clone())
                .headers(self.headers())
                .header(ACCEPT, "text/event-stream");
            if let Some(id) = &last_id {
                request = request.header("last-event-id", id.as_str());
            }
            match request.send().await {
                Ok(r) if r.status() == StatusCode::METHOD_NOT_ALLOWED => return,
                Ok(r) if r.status() == StatusCode::NOT_FOUND => {
                    let reopened = match self.session_id() {
                        Some(stale) => self.reopen(&stale).await,
                        None => false,
                    };
                    if reopened {
                        last_id = None;
                        continue;
                    }
                }
                Ok(r) if r.status().is_success() => {
                    delay = Duration::from_millis(500);
                    if let Err(e) = self
                        .read_sse(r, &mut last_id, false, None, &mut false)
                        .await
                    {
                        eprintln!("mcp-manager bridge: GET stream broken: {e}");
                    }
                }
                Ok(r) => eprintln!("mcp-manager bridge: GET stream refused: {}", r.status()),
                Err(e) => eprintln!("mcp-manager bridge: GET stream: {}", root_cause(&e)),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    }

    /// Ends the session (DELETE), if one was opened.
    async fn delete(&self) {
        if self.session_id().is_none() {
            return;
        }
        let sent = self
            .http
            .delete(self.endpoint.clone())
            .headers(self.headers())
            .timeout(Duration::from_secs(3))
            .send()
            .await;
        if let Err(e) = sent {
            eprintln!(
                "mcp-manager bridge: DELETE of the session: {}",
                root_cause(&e)
            );
        }
    }
}

/// The innermost cause of an error, e.g. `Connection refused (os error 111)`.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_appends_the_name() {
        assert_eq!(
            endpoint("http://127.0.0.1:7070", Some("time"))
                .unwrap()
                .as_str(),
            "http://127.0.0.1:7070/mcp/time"
        );
        assert_eq!(
            endpoint("http://h:1/base/", Some("a b")).unwrap().as_str(),
            "http://h:1/base/mcp/a%20b"
        );
        assert!(endpoint("ftp://h", Some("x")).is_err());
        assert_eq!(
            endpoint("http://h:1/base", None).unwrap().as_str(),
            "http://h:1/base/mcp"
        );
    }

    #[test]
    fn one_line_keeps_json_meaning() {
        let pretty = b"{\n  \"a\": \"x\\ny\"\r\n}";
        let v: Value = serde_json::from_slice(&one_line(pretty)).unwrap();
        assert_eq!(v, json!({"a": "x\ny"}));
    }
}
