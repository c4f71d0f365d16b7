//! `GET /api/events`: the WebSocket of live events.
//!
//! On connect the client gets `{"type":"snapshot","data":{"servers":[…]}}`, then every event
//! of the bus as `{type, seq, ts, data}`. A client may send `{"type":"subscribe_logs",
//! "servers":[id…]}` (or `["*"]`) to receive `logs:new` for those servers. Each session has
//! a bounded queue; when it overflows the client gets `{"type":"lagged"}` and a fresh
//! snapshot. Pings every 10 s; a peer silent for 30 s is closed. The session ends when the
//! client closes, the peer dies, or the bus goes away (daemon shutdown).

use super::AppState;
use crate::actors::bus::{SetLogTopics, Subscribe, Unsubscribe};
use actix_web::{HttpRequest, HttpResponse, web};
use futures::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub const QUEUE: usize = 1024;
const PING_EVERY: Duration = Duration::from_secs(10);
const PEER_TIMEOUT: Duration = Duration::from_secs(30);

async fn snapshot(state: &AppState, seq: u64) -> String {
    let servers = super::servers::views(state).await.unwrap_or_default();
    let event = crate::actors::bus::EventPayload::Snapshot { servers };
    serde_json::json!({
        "type": event.kind(),
        "seq": seq,
        "ts": chrono::Utc::now(),
        "data": event.data(),
    })
    .to_string()
}

pub async fn events(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let (response, mut session, stream) = actix_ws::handle(&req, body)?;
    let mut stream = stream
        .max_frame_size(64 * 1024)
        .aggregate_continuations()
        .max_continuation_size(64 * 1024);
    let (tx, mut rx) = mpsc::channel(QUEUE);
    let lagged = Arc::new(AtomicBool::new(false));
    let bus = state.bus.clone();
    let (sub_id, seq) = bus
        .send(Subscribe {
            tx,
            lagged: lagged.clone(),
        })
        .await
        .map_err(|e| crate::error::AppError::Unavailable(e.to_string()))?;
    let state = state.into_inner();
    actix_web::rt::spawn(async move {
        let mut last_heard = Instant::now();
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        if session.text(snapshot(&state, seq).await).await.is_err() {
            bus.do_send(Unsubscribe(sub_id));
            return;
        }
        let reason = loop {
            tokio::select! {
                event = rx.recv() => {
                    let Some(event) = event else { break None };
                    if lagged.swap(false, Ordering::Relaxed) {
                        // Events were dropped for this client: tell it and resync.
                        while rx.try_recv().is_ok() {}
                        let lag = serde_json::json!({"type": "lagged", "ts": chrono::Utc::now()});
                        if session.text(lag.to_string()).await.is_err()
                            || session.text(snapshot(&state, 0).await).await.is_err() {
                            break None;
                        }
                        continue;
                    }
                    if session.text(event.to_string()).await.is_err() { break None; }
                }
                msg = stream.next() => {
                    let Some(Ok(msg)) = msg else { break None };
                    last_heard = Instant::now();
                    match msg {
                        actix_ws::AggregatedMessage::Ping(bytes)
                            if session.pong(&bytes).await.is_err() => break None,
                        actix_ws::AggregatedMessage::Text(text) => {
                            handle_client_message(&text, sub_id, &bus);
                        }
                        actix_ws::AggregatedMessage::Close(reason) => break reason,
                        _ => {}
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > PEER_TIMEOUT { break None; }
                    if session.ping(b"").await.is_err() { break None; }
                }
            }
        };
        bus.do_send(Unsubscribe(sub_id));
        let _ = session.close(reason).await;
    });
    Ok(response)
}

fn handle_client_message(text: &str, sub_id: u64, bus: &actix::Addr<crate::actors::bus::EventBus>) {
    #[derive(serde::Deserialize)]
    struct ClientMessage {
        #[serde(rename = "type")]
        kind: String,
        #[serde(default)]
        servers: Vec<String>,
    }
    if let Ok(m) = serde_json::from_str::<ClientMessage>(text)
        && m.kind == "subscribe_logs"
    {
        bus.do_send(SetLogTopics {
            id: sub_id,
            servers: m.servers,
        });
    }
}
