//! The floor of actix-web itself for the gateway benchmark: a one-worker actix-web server
//! (as the daemon runs it) whose `POST /mcp/{name}` answers `initialize` and the echo tool of
//! `../shared/bench/fixtures/echo_server.py` without any upstream, so that mcpload can call
//! it like the gateway. What a gateway call costs above this is ours; below it, the
//! framework's. See docs/benchmarks.md ("Gateway").
//!
//!     cargo build --release --example actix_floor
//!     target/release/examples/actix_floor PORT    # then: mcpload http --url http://127.0.0.1:PORT/mcp/echo …
//!
//! It runs until killed.

use actix_web::{App, HttpResponse, HttpServer, web};
use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Option<&'a str>,
    #[serde(borrow)]
    params: Option<Params<'a>>,
}

#[derive(Deserialize)]
struct Params<'a> {
    #[serde(borrow)]
    arguments: Option<Arguments<'a>>,
}

#[derive(Deserialize)]
struct Arguments<'a> {
    #[serde(borrow)]
    message: Option<&'a str>,
}

fn json(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body)
}

async fn post(_name: web::Path<String>, body: web::Bytes) -> HttpResponse {
    let Ok(m) = serde_json::from_slice::<Message>(&body) else {
        return HttpResponse::BadRequest().finish();
    };
    let Some(id) = m.id.map(RawValue::get) else {
        return HttpResponse::Accepted().finish();
    };
    if m.method == Some("initialize") {
        let mut r = json(format!(
            r#"{{"jsonrpc":"2.0","id":{id},"result":{{"protocolVersion":"2025-03-26","capabilities":{{"tools":{{}}}},"serverInfo":{{"name":"actix-floor","version":"0"}}}}}}"#
        ));
        r.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("mcp-session-id"),
            actix_web::http::header::HeaderValue::from_static("floor"),
        );
        return r;
    }
    // The fixture's messages are plain text; no JSON escaping needed for the benchmark's.
    let text = m
        .params
        .and_then(|p| p.arguments)
        .and_then(|a| a.message)
        .unwrap_or("");
    json(format!(
        r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":"Echo: {text}"}}]}}}}"#
    ))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(7071);
    HttpServer::new(|| {
        App::new().route("/mcp/{name}", web::post().to(post)).route(
            "/mcp/{name}",
            web::delete().to(|| async { HttpResponse::Ok().finish() }),
        )
    })
    .workers(1)
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
