//! The gateway's upstream for a server reached over Streamable HTTP (transport `http`, or
//! `remote`): one MCP session of the gateway's own with the server's URL, shared by every
//! client session like the stdio pipes are. Each message goes up as its own POST; what
//! comes back (a JSON answer, or an SSE stream of notifications, server→client requests and
//! the answer) and what comes on the session's GET stream is fed, in arrival order per
//! stream, to the same router as a stdio server's lines. The client's HTTP headers are
//! never forwarded: the gateway sends its own.

use super::jsonrpc::{self, Envelope, Kind};
use super::upstream::{ID_BASE, Router};
use bytes::Bytes;
use futures::StreamExt;
use rmcp::model::ProtocolVersion;
use std::sync::{Arc, Weak};

pub struct HttpSink {
    url: String,
    client: reqwest::Client,
    session: Option<String>,
    version: String,
}

impl HttpSink {
    fn post(&self, line: Bytes) -> reqwest::RequestBuilder {
        let mut r = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", &self.version)
            .body(line);
        if let Some(s) = &self.session {
            r = r.header("mcp-session-id", s);
        }
        r
    }
}

/// Opens the gateway's session with the server at `url`: `initialize` (declaring
/// sampling, elicitation and roots), `notifications/initialized`.
pub(super) async fn connect(url: &str) -> Result<HttpSink, String> {
    let client = reqwest::Client::new();
    let version = ProtocolVersion::LATEST_WITH_INITIALIZE.to_string();
    let init = serde_json::json!({
        "protocolVersion": version,
        "capabilities": {"sampling": {}, "elicitation": {}, "roots": {"listChanged": true}},
        "clientInfo": {"name": "mcp-manager-gateway", "version": env!("CARGO_PKG_VERSION")},
    })
    .to_string();
    let mut sink = HttpSink {
        url: url.to_string(),
        client,
        session: None,
        version,
    };
    let id = (ID_BASE - 1).to_string();
    let resp = sink
        .post(jsonrpc::request(&id, jsonrpc::INITIALIZE, Some(&init)))
        .send()
        .await
        .map_err(|e| format!("gateway initialize with {url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!(
            "gateway initialize with {url}: HTTP {}",
            resp.status()
        ));
    }
    sink.session = resp
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let mut answer = None;
    read_messages(resp, |line| {
        if let Some(env) = Envelope::parse(line)
            && let Kind::Response { .. } = env.kind()
        {
            answer = Some(
                jsonrpc::field(env.result.map(|r| r.get()), "protocolVersion")
                    .and_then(|v| v.as_str().map(String::from)),
            );
        }
    })
    .await;
    match answer {
        Some(Some(v)) => sink.version = v,
        Some(None) => {}
        None => return Err(format!("gateway initialize with {url}: no result")),
    }
    let _ = sink
        .post(jsonrpc::notification(jsonrpc::INITIALIZED, None))
        .send()
        .await;
    Ok(sink)
}

/// Feeds every JSON-RPC message of a response (JSON body or SSE) to `f`, in order.
async fn read_messages(resp: reqwest::Response, mut f: impl FnMut(&[u8])) {
    let sse = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/event-stream"));
    if !sse {
        if let Ok(body) = resp.bytes().await
            && !body.trim_ascii().is_empty()
        {
            f(&body);
        }
        return;
    }
    let mut stream = resp.bytes_stream();
    let mut buf: Vec<u8> = Vec::new();
    let mut data: Vec<u8> = Vec::new();
    while let Some(Ok(chunk)) = stream.next().await {
        buf.extend_from_slice(&chunk);
        while let Some(end) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=end).collect();
            let line = line.strip_suffix(b"\n").unwrap_or(&line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                if !data.is_empty() {
                    f(&data);
                    data.clear();
                }
            } else if let Some(d) = line.strip_prefix(b"data:") {
                if !data.is_empty() {
                    data.push(b'\n');
                }
                data.extend_from_slice(d.strip_prefix(b" ").unwrap_or(d));
            }
        }
    }
    if !data.is_empty() {
        f(&data);
    }
}

/// Sends one message up; what comes back goes to the router. A request that fails at the
/// HTTP level is answered with an error under its upstream id.
pub(super) fn post(sink: &Arc<HttpSink>, router: &Arc<Router>, line: Bytes) {
    let sink = sink.clone();
    let router = router.clone();
    actix_rt::spawn(async move {
        let id = Envelope::parse(&line).and_then(|env| match env.kind() {
            Kind::Request { id, .. } => Some(id.get().to_string()),
            _ => None,
        });
        match sink.post(line).send().await {
            Ok(resp) if resp.status().is_success() => {
                let origin = id.as_deref().and_then(|i| i.parse().ok());
                read_messages(resp, |m| router.from_http(m, origin)).await;
            }
            Ok(resp) => {
                if let Some(id) = id {
                    let why = format!("the server answered HTTP {}", resp.status());
                    router.from_http(&jsonrpc::error(Some(&id), jsonrpc::SERVER_ERROR, why), None);
                }
            }
            Err(e) => {
                if let Some(id) = id {
                    let why = format!("the server could not be reached: {e}");
                    router.from_http(&jsonrpc::error(Some(&id), jsonrpc::SERVER_ERROR, why), None);
                }
            }
        }
    });
}

/// The session's GET stream (list changes, resource updates), while the router lives.
pub(super) fn listen(sink: Arc<HttpSink>, router: Weak<Router>) {
    actix_rt::spawn(async move {
        let mut r = sink
            .client
            .get(&sink.url)
            .header("accept", "text/event-stream")
            .header("mcp-protocol-version", &sink.version);
        if let Some(s) = &sink.session {
            r = r.header("mcp-session-id", s);
        }
        let Ok(resp) = r.send().await else { return };
        if !resp.status().is_success() {
            return;
        }
        read_messages(resp, |m| {
            if let Some(router) = router.upgrade() {
                router.from_http(m, None);
            }
        })
        .await;
    });
}

/// Ends the gateway's session with the server (best effort).
pub(super) fn close(sink: &Arc<HttpSink>) {
    let Some(session) = sink.session.clone() else {
        return;
    };
    let sink = sink.clone();
    actix_rt::spawn(async move {
        let _ = sink
            .client
            .delete(&sink.url)
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", &sink.version)
            .send()
            .await;
    });
}
