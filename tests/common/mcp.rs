//! A minimal MCP Streamable HTTP client for tests of the gateway (`/mcp/{name}`, `/mcp`).

use super::Daemon;
use serde_json::{Value, json};
use std::time::Duration;

/// A minimal Streamable HTTP client: one session, JSON or SSE answers.
pub struct Client {
    pub http: reqwest::Client,
    pub url: String,
    pub session: Option<String>,
}

pub struct Answer {
    pub status: u16,
    /// Every JSON-RPC message of the body (one for JSON, each event for SSE).
    pub messages: Vec<Value>,
    pub sse: bool,
}

impl Client {
    /// A client of `/mcp/{name}`.
    pub fn new(d: &Daemon, name: &str) -> Client {
        Client::at(d, &format!("/mcp/{name}"))
    }

    /// A client of the aggregate endpoint `/mcp`.
    pub fn aggregate(d: &Daemon) -> Client {
        Client::at(d, "/mcp")
    }

    fn at(d: &Daemon, path: &str) -> Client {
        Client {
            http: d.http.clone(),
            url: format!("http://127.0.0.1:{}{path}", d.port),
            session: None,
        }
    }

    pub async fn post(&self, body: Value) -> Answer {
        let mut r = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .json(&body);
        if let Some(s) = &self.session {
            r = r.header("mcp-session-id", s);
        }
        let resp = r.send().await.expect("post");
        let status = resp.status().as_u16();
        let sse = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("text/event-stream"));
        let text = resp.text().await.expect("body");
        let messages = if sse {
            text.lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .filter_map(|d| serde_json::from_str(d).ok())
                .collect()
        } else {
            serde_json::from_str(&text).into_iter().collect()
        };
        Answer {
            status,
            messages,
            sse,
        }
    }

    pub async fn initialize(&mut self) -> Answer {
        let resp = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .json(&json!({
                "jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {"sampling": {}, "elicitation": {}},
                    "clientInfo": {"name": "gateway-test", "version": "0"}
                }
            }))
            .send()
            .await
            .expect("initialize");
        let status = resp.status().as_u16();
        self.session = resp
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let v: Value = resp.json().await.expect("json");
        if self.session.is_some() {
            let a = self
                .post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
                .await;
            assert_eq!(a.status, 202);
        }
        Answer {
            status,
            messages: vec![v],
            sse: false,
        }
    }

    /// A client of `/mcp/{name}` with its session initialized, answered by the server
    /// whose `serverInfo.name` is `server`; the initialize result is in `.1`.
    pub async fn connect(d: &Daemon, name: &str, server: &str) -> (Client, Value) {
        let mut c = Client::new(d, name);
        let a = c.initialize().await;
        assert_eq!(a.status, 200, "{:?}", a.messages);
        assert!(c.session.is_some(), "no Mcp-Session-Id: {:?}", a.messages);
        let result = a.messages[0]["result"].clone();
        assert_eq!(result["serverInfo"]["name"], server, "{result}");
        (c, result)
    }

    pub async fn call(&self, id: u64, method: &str, params: Value) -> Answer {
        self.post(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await
    }
}

/// A POST whose SSE answer is read message by message, to answer what the server asks
/// while the call is still open.
pub struct Streaming {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buf: String,
}

impl Streaming {
    pub async fn open(c: &Client, id: u64, method: &str, params: Value) -> Streaming {
        let resp = c
            .http
            .post(&c.url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .header("mcp-session-id", c.session.clone().unwrap_or_default())
            .json(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .send()
            .await
            .expect("post");
        Streaming {
            body: Box::pin(resp.bytes_stream()),
            buf: String::new(),
        }
    }

    /// The session's standalone GET stream.
    pub async fn get(c: &Client) -> Streaming {
        let resp = c
            .http
            .get(&c.url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", c.session.clone().unwrap_or_default())
            .send()
            .await
            .expect("GET");
        assert_eq!(resp.status().as_u16(), 200, "GET stream");
        Streaming {
            body: Box::pin(resp.bytes_stream()),
            buf: String::new(),
        }
    }

    /// The next JSON-RPC message of the stream (waits at most 20 s).
    pub async fn next(&mut self) -> Option<Value> {
        use futures::StreamExt;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let event: String = self.buf.drain(..end + 2).collect();
                if let Some(v) = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .find_map(|d| serde_json::from_str(d).ok())
                {
                    return Some(v);
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.body.next())
                .await
                .expect("the stream went quiet")?
                .ok()?;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

pub fn text_of(result: &Value) -> String {
    result["result"]["content"][0]["text"]
        .as_str()
        .or_else(|| result["result"]["contents"][0]["text"].as_str())
        .unwrap_or_default()
        .to_string()
}
impl Client {
    /// Ends the session (`DELETE`); returns the HTTP status.
    pub async fn delete(&self) -> u16 {
        let mut r = self.http.delete(&self.url);
        if let Some(s) = &self.session {
            r = r.header("mcp-session-id", s);
        }
        r.send().await.expect("delete").status().as_u16()
    }

    /// Calls a tool; the answer's last message (the JSON-RPC response).
    pub async fn tool(&self, id: u64, name: &str, arguments: Value) -> Value {
        let a = self
            .call(
                id,
                "tools/call",
                json!({"name": name, "arguments": arguments}),
            )
            .await;
        assert_eq!(a.status, 200, "{:?}", a.messages);
        a.messages.last().cloned().unwrap_or(Value::Null)
    }
}
