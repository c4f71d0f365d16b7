//! A minimal MCP Streamable HTTP client for the gateway tests (`/mcp/{name}`).

use super::Daemon;
use serde_json::{Value, json};

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
    pub fn new(d: &Daemon, name: &str) -> Client {
        Client {
            http: d.http.clone(),
            url: format!("http://127.0.0.1:{}/mcp/{name}", d.port),
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

    pub async fn call(&self, id: u64, method: &str, params: Value) -> Answer {
        self.post(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await
    }
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
