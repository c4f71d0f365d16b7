//! The MCP gateway `/mcp/{name}` (issue 8): the official conformance suite through it,
//! sessions that share one upstream, errors for servers that do not run, and its guards.
//! The upstream is the conformance fixture (TypeScript SDK) run by the daemon over stdio.

mod common;

use common::mcp::{Answer, Client, Streaming, text_of};
use common::{Daemon, repo};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const NAME: &str = "conformance";

fn fixture() -> Value {
    json!({
        "name": NAME,
        "command": "node",
        "args": [repo().join("tests/fixtures/conformance/server.mjs").display().to_string()],
        "working_directory": repo().display().to_string(),
        "start": true,
    })
}

async fn daemon_with_fixture(env: &[(&str, &str)]) -> Daemon {
    daemon_running(fixture(), env).await
}

/// A daemon (with `env`, where `MCP_MANAGER_TOKEN` is also used for its API) running the
/// server `spec` (a conformance fixture), once it is `running`.
async fn daemon_running(spec: Value, env: &[(&str, &str)]) -> Daemon {
    assert!(
        repo()
            .join("tests/fixtures/conformance/node_modules/@modelcontextprotocol/sdk")
            .exists(),
        "fixture deps missing: run `bash tests/conformance/setup.sh` first"
    );
    let name = spec["name"].as_str().expect("name").to_string();
    let d = Daemon::start_env(env);
    let token = env
        .iter()
        .find(|(k, _)| *k == "MCP_MANAGER_TOKEN")
        .map(|(_, v)| v.to_string());
    let mut r = d.http.post(format!("{}/api/servers", d.url)).json(&spec);
    if let Some(t) = &token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.expect("create");
    assert_eq!(
        resp.status().as_u16(),
        201,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    if token.is_none() {
        d.wait_status(&name, "running", Duration::from_secs(60))
            .await;
    } else {
        // The harness' helpers do not send the token: poll with it here.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v: Value = d
                .http
                .get(format!("{}/api/servers/{name}", d.url))
                .bearer_auth(token.as_deref().unwrap_or_default())
                .send()
                .await
                .expect("get")
                .json()
                .await
                .expect("json");
            if v["data"]["status"] == "running" {
                break;
            }
            assert!(Instant::now() < deadline, "not running: {v}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    d
}

/// Calls `test_simple_text` as request `id` and checks its answer.
async fn simple_call_works(c: &Client, id: u64) {
    let r = c
        .call(
            id,
            "tools/call",
            json!({"name": "test_simple_text", "arguments": {}}),
        )
        .await;
    assert_eq!(
        text_of(&r.messages[0]),
        "This is a simple text response for testing."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conformance_suite_passes_through_the_gateway() {
    let d = daemon_with_fixture(&[]).await;
    conformance_passes(&d, NAME, "stdio", &[]).await;
}

/// Runs the official suite (`tests/conformance/run.sh`) against `/mcp/{name}` and asserts
/// every scenario passed. Its `Total:` and `conformance:` lines also go to
/// `target/conformance-summary-{upstream}.txt`, which CI prints (nextest shows only
/// failing tests' output), pass or fail.
async fn conformance_passes(d: &Daemon, name: &str, upstream: &str, env: &[(&str, PathBuf)]) {
    let url = format!("http://127.0.0.1:{}/mcp/{name}", d.port);
    let out = tokio::process::Command::new("bash")
        .arg(repo().join("tests/conformance/run.sh"))
        .arg(&url)
        .current_dir(repo())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .await
        .expect("run.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    let line = |prefix: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or("(no such line)")
            .to_string()
    };
    let (total, summary) = (line("Total:"), line("conformance:"));
    let report = format!(
        "conformance suite through /mcp/{name} ({upstream} upstream): {summary}; checks {total}\n"
    );
    print!("{report}");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"));
    std::fs::write(
        target.join(format!("conformance-summary-{upstream}.txt")),
        &report,
    )
    .expect("write the conformance summary");
    assert!(
        out.status.success() && summary.contains("30/30"),
        "conformance through /mcp/{name}: {summary}\n{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sessions_get_only_their_own_answers() {
    let d = daemon_with_fixture(&[]).await;
    let mut a = Client::new(&d, NAME);
    let mut b = Client::new(&d, NAME);
    assert_eq!(a.initialize().await.status, 200);
    assert_eq!(b.initialize().await.status, 200);
    assert_ne!(a.session, b.session);
    let init = &a.initialize().await.messages[0];
    assert_eq!(
        init["result"]["serverInfo"]["name"],
        "mcp-conformance-fixture"
    );

    // Both sessions use the same JSON-RPC ids, at the same time.
    let run = |c: &Client, tag: &'static str| {
        let c = Client {
            http: c.http.clone(),
            url: c.url.clone(),
            session: c.session.clone(),
        };
        async move {
            for i in 1..=15u64 {
                let id = format!("{tag}-{i}");
                let r = c
                    .call(
                        i,
                        "resources/read",
                        json!({"uri": format!("test://template/{id}/data")}),
                    )
                    .await;
                assert_eq!(r.status, 200);
                let answer = r.messages.last().expect("an answer").clone();
                assert_eq!(answer["id"], i, "{answer}");
                let body: Value = serde_json::from_str(&text_of(&answer)).expect("json");
                assert_eq!(
                    body["id"], id,
                    "session {tag} got another's answer: {answer}"
                );
            }
            // Progress with the same token in both sessions: each gets its own three.
            let r = c
                .call(
                    100,
                    "tools/call",
                    json!({"name": "test_tool_with_progress", "arguments": {},
                           "_meta": {"progressToken": 1}}),
                )
                .await;
            assert!(r.sse, "progress comes as SSE before the answer");
            let (progress, rest): (Vec<&Value>, Vec<&Value>) = r
                .messages
                .iter()
                .partition(|m| m["method"] == "notifications/progress");
            assert_eq!(progress.len(), 3, "session {tag}: {:?}", r.messages);
            assert!(progress.iter().all(|p| p["params"]["progressToken"] == 1));
            assert_eq!(rest.len(), 1);
            assert_eq!(rest[0]["id"], 100);
            assert_eq!(r.messages.last().map(|m| &m["id"]), Some(&json!(100)));
        }
    };
    tokio::join!(run(&a, "A"), run(&b, "B"));

    // A sampling request raised during a's call reaches a, and a's answer gets back.
    let mut call = Streaming::open(
        &a,
        7,
        "tools/call",
        json!({"name": "test_sampling", "arguments": {"prompt": "hi"}}),
    )
    .await;
    let asked = call
        .next()
        .await
        .expect("the sampling request on a's stream");
    assert_eq!(asked["method"], "sampling/createMessage", "{asked}");
    assert_eq!(
        asked["params"]["messages"][0]["content"]["text"], "hi",
        "params pass unchanged"
    );
    let reply = a
        .post(json!({"jsonrpc": "2.0", "id": asked["id"], "result": {
            "role": "assistant", "model": "test",
            "content": {"type": "text", "text": "from A"}}}))
        .await;
    assert_eq!(reply.status, 202);
    let answer = call.next().await.expect("the answer");
    assert_eq!(answer["id"], 7);
    assert_eq!(text_of(&answer), "LLM response: from A");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_answers_at_once_with_its_state() {
    let d = daemon_with_fixture(&[]).await;
    let mut c = Client::new(&d, NAME);
    assert_eq!(c.initialize().await.status, 200);
    simple_call_works(&c, 1).await;

    let (s, v) = d.action(NAME, "stop").await;
    assert!(s == 200 || s == 202, "{s} {v}");
    d.wait_status(NAME, "stopped", Duration::from_secs(30))
        .await;
    let started = Instant::now();
    let r = c
        .call(
            2,
            "tools/call",
            json!({"name": "test_simple_text", "arguments": {}}),
        )
        .await;
    let took = started.elapsed();
    println!("stopped server answered in {took:?}: {}", r.messages[0]);
    let err = &r.messages[0]["error"];
    assert_eq!(r.messages[0]["id"], 2);
    assert!(
        err["message"].as_str().unwrap_or("").contains("is stopped"),
        "{err}"
    );
    assert_eq!(err["data"]["status"], "stopped");
    assert!(took < Duration::from_millis(500), "took {took:?}");

    // A new client can still connect (from the recorded handshake) and gets the same.
    let mut fresh = Client::new(&d, NAME);
    assert_eq!(fresh.initialize().await.status, 200);
    let r = fresh.call(1, "tools/list", json!({})).await;
    assert_eq!(r.messages[0]["error"]["data"]["status"], "stopped");

    // After a start, the old session works again.
    let (s, v) = d.action(NAME, "start").await;
    assert!(s == 200 || s == 202, "{s} {v}");
    d.wait_status(NAME, "running", Duration::from_secs(60))
        .await;
    simple_call_works(&c, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_origins_are_refused_and_the_token_is_required() {
    let init = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "0"}}
    });
    let d = Daemon::start();
    let url = format!("http://127.0.0.1:{}/mcp/{NAME}", d.port);
    let status = |r: reqwest::RequestBuilder| async move {
        r.header("accept", "application/json, text/event-stream")
            .send()
            .await
            .expect("send")
            .status()
            .as_u16()
    };
    assert_eq!(
        status(
            d.http
                .post(&url)
                .header("origin", "http://evil.example.com")
                .json(&init)
        )
        .await,
        403
    );
    assert_eq!(
        status(
            d.http
                .post(&url)
                .header("host", "evil.example.com")
                .json(&init)
        )
        .await,
        403
    );
    drop(d);

    let token = "s3cret-token";
    let d = daemon_with_fixture(&[("MCP_MANAGER_TOKEN", token)]).await;
    let url = format!("http://127.0.0.1:{}/mcp/{NAME}", d.port);
    assert_eq!(status(d.http.post(&url).json(&init)).await, 401);
    assert_eq!(
        status(d.http.post(&url).bearer_auth("wrong").json(&init)).await,
        401
    );
    assert_eq!(
        status(d.http.post(format!("{url}?token={token}")).json(&init)).await,
        401,
        "the MCP endpoint takes the token as a bearer only"
    );
    assert_eq!(
        status(d.http.post(&url).bearer_auth(token).json(&init)).await,
        200
    );
}

/// A web page on an allowed origin (the MCP Inspector in a browser, on localhost) can use
/// the endpoint: its preflight is answered without the token, and it may read the answer
/// and the session id; a page from elsewhere gets neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_on_allowed_origins_get_cors_and_foreign_ones_do_not() {
    let token = "cors-token";
    let d = daemon_with_fixture(&[("MCP_MANAGER_TOKEN", token)]).await;
    let url = format!("http://127.0.0.1:{}/mcp/{NAME}", d.port);
    let page = "http://localhost:6274";
    let preflight = |origin: &'static str| {
        d.http
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type, mcp-session-id, mcp-protocol-version",
            )
            .send()
    };
    let r = preflight(page).await.expect("preflight");
    assert_eq!(r.status().as_u16(), 204, "a preflight carries no token");
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], page);
    let methods = h["access-control-allow-methods"].to_str().unwrap_or("");
    for m in ["GET", "POST", "DELETE"] {
        assert!(methods.contains(m), "{methods}");
    }
    let allowed = h["access-control-allow-headers"].to_str().unwrap_or("");
    for name in [
        "authorization",
        "content-type",
        "mcp-session-id",
        "mcp-protocol-version",
    ] {
        assert!(allowed.contains(name), "{allowed}");
    }
    let r = preflight("http://evil.example.com")
        .await
        .expect("preflight");
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.headers().get("access-control-allow-origin").is_none());

    let init = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "page", "version": "0"}}
    });
    let post = |origin: &'static str, bearer: &'static str| {
        d.http
            .post(&url)
            .header("origin", origin)
            .header("accept", "application/json, text/event-stream")
            .bearer_auth(bearer)
            .json(&init)
            .send()
    };
    let r = post(page, token).await.expect("post");
    assert_eq!(r.status().as_u16(), 200);
    let h = r.headers().clone();
    assert_eq!(h["access-control-allow-origin"], page);
    let exposed = h["access-control-expose-headers"].to_str().unwrap_or("");
    assert!(exposed.contains("mcp-session-id"), "{exposed}");
    let session = h["mcp-session-id"].to_str().expect("session").to_string();
    let body = r.text().await.expect("body");
    assert!(body.contains("serverInfo"), "{body}");
    // The request a preflight clears still needs the token.
    assert_eq!(
        post(page, "wrong").await.expect("post").status().as_u16(),
        401
    );
    let r = post("http://evil.example.com", token).await.expect("post");
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // DELETE (served by the App) gets the headers too.
    let r = d
        .http
        .delete(&url)
        .header("origin", page)
        .header("mcp-session-id", session)
        .bearer_auth(token)
        .send()
        .await
        .expect("delete");
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(r.headers()["access-control-allow-origin"], page);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_updates_reach_only_the_subscribed_session_on_its_get_stream() {
    use futures::StreamExt;
    let d = daemon_with_fixture(&[]).await;
    let mut a = Client::new(&d, NAME);
    let mut b = Client::new(&d, NAME);
    a.initialize().await;
    b.initialize().await;
    let uri = "test://watched-resource";
    let r = a
        .call(1, "resources/subscribe", json!({ "uri": uri }))
        .await;
    assert_eq!(r.messages[0]["result"], json!({}));

    // Both open their GET stream; only a subscribed.
    let open = |c: &Client| {
        c.http
            .get(&c.url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", c.session.clone().unwrap_or_default())
            .send()
    };
    let sa = open(&a).await.expect("GET a");
    let sb = open(&b).await.expect("GET b");
    assert_eq!(sa.status().as_u16(), 200);
    let mut sa = sa.bytes_stream();
    let mut sb = sb.bytes_stream();
    // Skip the opening comment of each stream.
    let _ = sa.next().await;
    let _ = sb.next().await;

    // b's call makes the server send the update: it is not b's business.
    let r = b
        .call(
            1,
            "tools/call",
            json!({"name": "fixture_resource_updated", "arguments": {"uri": uri}}),
        )
        .await;
    assert!(text_of(r.messages.last().expect("answer")).starts_with("sent"));
    assert!(
        r.messages
            .iter()
            .all(|m| m["method"] != "notifications/resources/updated"),
        "{:?}",
        r.messages
    );
    let got = tokio::time::timeout(Duration::from_secs(5), sa.next())
        .await
        .expect("a gets the update")
        .expect("stream")
        .expect("bytes");
    let got = String::from_utf8_lossy(&got);
    assert!(
        got.contains("notifications/resources/updated") && got.contains(uri),
        "{got}"
    );
    let none = tokio::time::timeout(Duration::from_millis(300), sb.next()).await;
    assert!(none.is_err(), "b got {none:?}");

    // After a unsubscribes, nobody gets one.
    let r = a
        .call(2, "resources/unsubscribe", json!({ "uri": uri }))
        .await;
    assert_eq!(r.messages[0]["result"], json!({}));
    let r = b
        .call(
            2,
            "tools/call",
            json!({"name": "fixture_resource_updated", "arguments": {"uri": uri}}),
        )
        .await;
    assert!(text_of(r.messages.last().expect("answer")).starts_with("not subscribed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_call_fails_the_call_and_the_next_call_after_the_restart_works() {
    let d = daemon_with_fixture(&[]).await;
    let mut c = Client::new(&d, NAME);
    c.initialize().await;
    let pid = d.server(NAME).await["process_id"].as_i64().expect("pid");
    // The progress tool takes 100 ms: kill the server once the first progress came.
    let mut call = Streaming::open(
        &c,
        1,
        "tools/call",
        json!({"name": "test_tool_with_progress", "arguments": {},
               "_meta": {"progressToken": "p"}}),
    )
    .await;
    let first = call.next().await.expect("first progress");
    assert_eq!(first["params"]["progressToken"], "p", "{first}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9");
    let started = Instant::now();
    let mut last = call.next().await.expect("an answer");
    while last["method"] == "notifications/progress" {
        last = call.next().await.expect("an answer");
    }
    println!(
        "the call failed {:?} after kill -9: {last}",
        started.elapsed()
    );
    assert_eq!(last["id"], 1);
    assert!(last["error"]["message"].is_string(), "{last}");

    // on-failure: back after the backoff; the same session works again.
    d.wait_for(NAME, Duration::from_secs(60), "running again", |v| {
        v["status"] == "running" && v["process_id"].as_i64() != Some(pid)
    })
    .await;
    simple_call_works(&c, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sampling_request_that_cannot_be_attributed_is_refused_not_guessed() {
    let d = daemon_with_fixture(&[]).await;
    let mut a = Client::new(&d, NAME);
    let mut b = Client::new(&d, NAME);
    a.initialize().await;
    b.initialize().await;
    // b's call waits on its own sampling request (b is the only session in flight, so it
    // gets it) while a's call asks for sampling too: both sessions are in flight and
    // declared sampling, so the gateway cannot tell whose it is and refuses.
    let mut slow = Streaming::open(
        &b,
        1,
        "tools/call",
        json!({"name": "test_sampling", "arguments": {"prompt": "b's"}}),
    )
    .await;
    let asked_b = slow.next().await.expect("b's sampling request");
    assert_eq!(asked_b["params"]["messages"][0]["content"]["text"], "b's");
    let r = a
        .call(
            1,
            "tools/call",
            json!({"name": "test_sampling", "arguments": {"prompt": "whose?"}}),
        )
        .await;
    let last = r.messages.last().expect("answer");
    assert!(
        r.messages
            .iter()
            .all(|m| m["method"] != "sampling/createMessage"),
        "{:?}",
        r.messages
    );
    assert_eq!(last["result"]["isError"], true, "{last}");
    assert!(text_of(last).contains("could not be attributed"), "{last}");
    // b answers its own and gets its result.
    let reply = b
        .post(json!({"jsonrpc": "2.0", "id": asked_b["id"], "result": {
            "role": "assistant", "model": "test",
            "content": {"type": "text", "text": "for b"}}}))
        .await;
    assert_eq!(reply.status, 202);
    let answer = slow.next().await.expect("b's answer");
    assert_eq!(answer["id"], 1);
    assert_eq!(text_of(&answer), "LLM response: for b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_levels_are_per_session() {
    let d = daemon_with_fixture(&[]).await;
    let mut a = Client::new(&d, NAME);
    let mut b = Client::new(&d, NAME);
    a.initialize().await;
    b.initialize().await;
    let r = a
        .call(1, "logging/setLevel", json!({"level": "error"}))
        .await;
    assert_eq!(r.messages[0]["result"], json!({}));
    let logs = |r: &Answer| {
        r.messages
            .iter()
            .filter(|m| m["method"] == "notifications/message")
            .count()
    };
    let tool = json!({"name": "test_tool_with_logging", "arguments": {}});
    // The fixture's info lines are below a's level: a gets none, b (no level set) all 3,
    // each on the stream of its own call.
    let ra = a.call(2, "tools/call", tool.clone()).await;
    assert_eq!(logs(&ra), 0, "{:?}", ra.messages);
    let rb = b.call(2, "tools/call", tool).await;
    assert_eq!(logs(&rb), 3, "{:?}", rb.messages);
    assert_eq!(rb.messages.last().map(|m| &m["id"]), Some(&json!(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdio_container_is_served_too() {
    let image = "mcp-manager-test/py-fixture:latest";
    let present = std::process::Command::new("docker")
        .args(["image", "inspect", image])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        present,
        "the test image is missing: run `bash .ci/setup.sh` (it starts the engine and builds it)"
    );
    let d = Daemon::start();
    d.create(json!({
        "name": "ct", "type": "container", "image": image,
        "stop_grace_secs": 3, "start": true
    }))
    .await;
    d.wait_status("ct", "running", Duration::from_secs(60))
        .await;
    let mut a = Client::new(&d, "ct");
    let mut b = Client::new(&d, "ct");
    assert_eq!(a.initialize().await.status, 200);
    assert_eq!(b.initialize().await.status, 200);
    let echo = |c: Client, tag: &'static str| async move {
        for i in 1..=10u64 {
            let r = c
                .call(
                    i,
                    "tools/call",
                    json!({"name": "echo", "arguments": {"message": format!("{tag}{i}")}}),
                )
                .await;
            assert_eq!(r.messages[0]["id"], i);
            assert_eq!(text_of(&r.messages[0]), format!("Echo: {tag}{i}"));
        }
    };
    tokio::join!(echo(a, "a"), echo(b, "b"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_sessions_at_once_and_the_session_rules() {
    let d = daemon_with_fixture(&[]).await;
    let mut clients = vec![];
    for _ in 0..20 {
        let mut c = Client::new(&d, NAME);
        assert_eq!(c.initialize().await.status, 200);
        clients.push(c);
    }
    let runs = clients.iter().enumerate().map(|(n, c)| {
        let c = Client {
            http: c.http.clone(),
            url: c.url.clone(),
            session: c.session.clone(),
        };
        async move {
            for i in 1..=5u64 {
                let tag = format!("s{n}-{i}");
                let r = c
                    .call(
                        i,
                        "resources/read",
                        json!({"uri": format!("test://template/{tag}/data")}),
                    )
                    .await;
                let answer = &r.messages[0];
                assert_eq!(answer["id"], i);
                let body: Value = serde_json::from_str(&text_of(answer)).expect("json");
                assert_eq!(body["id"], tag, "{answer}");
            }
        }
    });
    futures::future::join_all(runs).await;

    // An unknown protocol revision is refused; an older known one is accepted.
    let c = &clients[0];
    let raw = |version: &'static str| {
        c.http
            .post(&c.url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", c.session.clone().unwrap_or_default())
            .header("mcp-protocol-version", version)
            .json(&json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"}))
            .send()
    };
    assert_eq!(
        raw("1999-01-01").await.expect("post").status().as_u16(),
        400
    );
    assert_eq!(
        raw("2025-03-26").await.expect("post").status().as_u16(),
        200
    );
    // No session header: 400; after DELETE the session is gone: 404.
    let none = c
        .http
        .post(&c.url)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .expect("post");
    assert_eq!(none.status().as_u16(), 400);
    let del = c
        .http
        .delete(&c.url)
        .header("mcp-session-id", c.session.clone().unwrap_or_default())
        .send()
        .await
        .expect("delete");
    assert_eq!(del.status().as_u16(), 200);
    assert_eq!(c.call(10, "tools/list", json!({})).await.status, 404);
    // An unknown server: 404 with a JSON-RPC error.
    let mut nobody = Client::new(&d, "nobody");
    let r = nobody.initialize().await;
    assert_eq!(r.status, 404);
    assert!(r.messages[0]["error"]["message"].is_string());
    // Other methods: 405 naming the allowed ones; paths below a server's: 404 with a message.
    let put = c.http.put(&c.url).send().await.expect("put");
    assert_eq!(put.status().as_u16(), 405);
    assert_eq!(put.headers()["allow"], "POST, GET, DELETE");
    let below = c
        .http
        .post(format!("{}/x", c.url))
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .expect("post");
    assert_eq!(below.status().as_u16(), 404);
    let body: Value = below.json().await.expect("a JSON-RPC error");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("/mcp/{name}"))
    );
}

/// One raw HTTP/1.1 exchange: `head` (request line and headers, no blank line), then the
/// body in `pieces` written apart, as a slow client or a proxy would; the answer's status
/// line, headers and body as text.
async fn raw_exchange(d: &Daemon, head: &str, pieces: &[&[u8]]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", d.port))
        .await
        .expect("connect");
    s.set_nodelay(true).expect("nodelay");
    s.write_all(format!("{head}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("head");
    for piece in pieces {
        s.write_all(piece).await.expect("piece");
        s.flush().await.expect("flush");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let mut out = vec![];
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("an answer in time")
        .expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_in_pieces_are_joined_and_bodies_over_the_limit_refused() {
    let d = daemon_with_fixture(&[]).await;
    let mut c = Client::new(&d, NAME);
    assert_eq!(c.initialize().await.status, 200);
    let sid = c.session.clone().expect("session");
    let head = |len: usize, extra: &str| {
        format!(
            "POST /mcp/{NAME} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nMcp-Session-Id: {sid}\r\n\
             Content-Length: {len}{extra}",
            d.port
        )
    };
    // A body that arrives in three reads is answered as if it came in one.
    let body = json!({"jsonrpc": "2.0", "id": 41, "method": "tools/call",
        "params": {"name": "test_simple_text", "arguments": {}}})
    .to_string();
    let b = body.as_bytes();
    let (one, rest) = b.split_at(10);
    let (two, three) = rest.split_at(rest.len() / 2);
    let answer = raw_exchange(&d, &head(b.len(), ""), &[one, two, three]).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains(r#""id":41"#) && answer.contains("simple text response"),
        "{answer}"
    );
    // The same in chunked transfer encoding.
    let mut chunked = vec![];
    for piece in [one, two, three] {
        chunked.push(format!("{:x}\r\n", piece.len()).into_bytes());
        chunked.push(piece.to_vec());
        chunked.push(b"\r\n".to_vec());
    }
    chunked.push(b"0\r\n\r\n".to_vec());
    let pieces: Vec<&[u8]> = chunked.iter().map(Vec::as_slice).collect();
    let chunked_head = head(0, "").replace("Content-Length: 0", "Transfer-Encoding: chunked");
    let answer = raw_exchange(&d, &chunked_head, &pieces).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""id":41"#), "{answer}");
    // A body declared larger than the limit (8 MiB) is refused before it is read.
    let answer = raw_exchange(&d, &head(9 << 20, ""), &[]).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("limit"), "{answer}");
    // One that says nothing of its length and goes over it is refused too.
    let mut big = vec![b"800000\r\n".to_vec()];
    big.push(vec![b' '; 0x80_0000]);
    big.push(b"\r\n".to_vec());
    big.push(b"1\r\n \r\n0\r\n\r\n".to_vec());
    let pieces: Vec<&[u8]> = big.iter().map(Vec::as_slice).collect();
    let answer = raw_exchange(&d, &chunked_head, &pieces).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // The session still works.
    simple_call_works(&c, 42).await;
}

/// A daemon running the conformance fixture in its own HTTP mode (transport http).
async fn daemon_with_http_fixture() -> Daemon {
    daemon_running(http_fixture(), &[]).await
}

/// The conformance fixture as `http-fixture`, serving Streamable HTTP on a free port.
fn http_fixture() -> Value {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    json!({
        "name": "http-fixture",
        "command": "node",
        "args": [
            repo().join("tests/fixtures/conformance/server.mjs").display().to_string(),
            "--http", port.to_string(), "--http-host", "127.0.0.1",
        ],
        "working_directory": repo().display().to_string(),
        "transport": "http",
        "port": port,
        "start": true,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conformance_suite_passes_through_the_gateway_to_an_http_server() {
    let d = daemon_with_http_fixture().await;
    let results = repo().join(".deps/conformance");
    conformance_passes(
        &d,
        "http-fixture",
        "http",
        &[
            ("CONFORMANCE_RESULTS", results.join("results-http")),
            ("CONFORMANCE_LOG", results.join("last-run-http.log")),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_a_sampling_request_goes_to_the_client_whose_call_caused_it() {
    let d = daemon_with_http_fixture().await;
    let mut a = Client::new(&d, "http-fixture");
    let mut b = Client::new(&d, "http-fixture");
    a.initialize().await;
    b.initialize().await;
    // Both sessions wait on a sampling request of their own at the same time: over HTTP
    // each arrives on the stream of the call that caused it, so nothing is ambiguous.
    let sampling = |prompt: &str| json!({"name": "test_sampling", "arguments": {"prompt": prompt}});
    let mut call_b = Streaming::open(&b, 1, "tools/call", sampling("for b")).await;
    let asked_b = call_b.next().await.expect("b's sampling request");
    let mut call_a = Streaming::open(&a, 1, "tools/call", sampling("for a")).await;
    let asked_a = call_a.next().await.expect("a's sampling request");
    assert_eq!(asked_a["params"]["messages"][0]["content"]["text"], "for a");
    assert_eq!(asked_b["params"]["messages"][0]["content"]["text"], "for b");
    for (c, asked, text) in [(&a, &asked_a, "A"), (&b, &asked_b, "B")] {
        let reply = c
            .post(json!({"jsonrpc": "2.0", "id": asked["id"], "result": {
                "role": "assistant", "model": "test",
                "content": {"type": "text", "text": text}}}))
            .await;
        assert_eq!(reply.status, 202);
    }
    let answer_a = call_a.next().await.expect("a's answer");
    let answer_b = call_b.next().await.expect("b's answer");
    assert_eq!(text_of(&answer_a), "LLM response: A");
    assert_eq!(text_of(&answer_b), "LLM response: B");
}

/// The official Python SDK client (from `.deps/venv`, installed by `.ci/setup.sh`) through
/// the gateway to two real servers: mcp-server-time (a 2026-07-28 server over stdio) and
/// server-everything.
/// A daemon running two published servers over stdio: mcp-server-time (`time`, a
/// 2026-07-28 server, from `.deps/venv`) and server-everything (`everything`, `.deps/npm`).
async fn daemon_with_real_servers() -> Daemon {
    let deps = common::deps();
    let python = deps.join("venv/bin/python");
    let d = Daemon::start();
    d.create(
        json!({"name": "time", "command": python.display().to_string(),
                    "args": ["-m", "mcp_server_time"], "start": true}),
    )
    .await;
    d.create(json!({"name": "everything",
                    "command": deps.join("npm/node_modules/.bin/mcp-server-everything").display().to_string(),
                    "start": true}))
        .await;
    for n in ["time", "everything"] {
        d.wait_status(n, "running", Duration::from_secs(60)).await;
    }
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_client_uses_real_servers_through_the_gateway() {
    let d = daemon_with_real_servers().await;
    let script = r#"
import asyncio, sys
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
async def main(base):
    for name, tool, args in [("time", "get_current_time", {"timezone": "UTC"}),
                             ("everything", "echo", {"message": "hi"})]:
        async with streamable_http_client(f"{base}/mcp/{name}") as streams:
            async with ClientSession(streams[0], streams[1]) as s:
                await s.initialize()
                tools = [t.name for t in (await s.list_tools()).tools]
                assert tool in tools, tools
                r = await s.call_tool(tool, args)
                print(name, "->", r.content[0].text.replace("\n", " ")[:80])
asyncio.run(main(sys.argv[1]))
"#;
    let stdout = common::run_python(script, &format!("http://127.0.0.1:{}", d.port)).await;
    assert!(stdout.contains("time -> {") && stdout.contains("\"timezone\": \"UTC\""));
    assert!(stdout.contains("everything -> Echo: hi"), "{stdout}");
}

/// The official TypeScript SDK client (`tests/fixtures/ts_client.mjs`: `Client` over
/// `StreamableHTTPClientTransport`) through the gateway to the same two real servers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_sdk_client_uses_real_servers_through_the_gateway() {
    let d = daemon_with_real_servers().await;
    let time = ts_client(
        &d,
        "time",
        "get_current_time",
        json!({"timezone": "UTC"}),
        None,
    )
    .await;
    assert!(
        time["tools"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("get_current_time"))),
        "{time}"
    );
    let now: Value = serde_json::from_str(
        time["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("get_current_time gave no JSON ({e}): {time}"));
    assert_eq!(now["timezone"], "UTC", "{time}");
    assert!(
        now["datetime"]
            .as_str()
            .is_some_and(|t| t.starts_with("20")),
        "{time}"
    );

    let echo = ts_client(
        &d,
        "everything",
        "echo",
        json!({"message": "from ts"}),
        None,
    )
    .await;
    assert!(
        echo["tools"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("echo"))),
        "{echo}"
    );
    assert_eq!(
        echo["result"]["content"][0]["text"], "Echo: from ts",
        "{echo}"
    );
    assert_ne!(echo["result"]["isError"], true, "{echo}");
}

/// Runs `tests/fixtures/ts_client.mjs` against `/mcp/{name}` (with `token` as a bearer)
/// and returns what it printed: `{server, tools, result}`.
async fn ts_client(d: &Daemon, name: &str, tool: &str, args: Value, token: Option<&str>) -> Value {
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(repo().join("tests/fixtures/ts_client.mjs"))
        .arg(format!("http://127.0.0.1:{}/mcp/{name}", d.port))
        .arg(tool)
        .arg(args.to_string())
        .env("TEST_NODE_MODULES", common::deps().join("npm/node_modules"))
        .env_remove("MCP_MANAGER_TOKEN");
    if let Some(t) = token {
        cmd.env("MCP_MANAGER_TOKEN", t);
    }
    json_output(cmd, &format!("ts_client.mjs {name} {tool}")).await
}

/// Runs a client script (at most 60 s) that prints one JSON line; panics with its output
/// unless it succeeds.
async fn json_output(mut cmd: tokio::process::Command, what: &str) -> Value {
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.kill_on_drop(true).output())
        .await
        .unwrap_or_else(|_| panic!("{what} took over 60 s"))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{what}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{what}: {e}: {stdout}"))
}

/// Runs `tests/fixtures/sampling_clients.py` (three Python SDK clients, see there) against
/// `/mcp/{name}` and returns what it printed.
async fn sampling_clients(d: &Daemon, name: &str, b_calls: bool) -> Value {
    let mut cmd = tokio::process::Command::new(common::deps().join("venv/bin/python"));
    cmd.arg(repo().join("tests/fixtures/sampling_clients.py"))
        .arg(format!("http://127.0.0.1:{}/mcp/{name}", d.port));
    if b_calls {
        cmd.arg("--b-calls");
    }
    json_output(cmd, "sampling_clients.py").await
}

/// Acceptance 2 with the Python SDK over a stdio upstream: A's call raises a sampling
/// request while B (which declared sampling too, but has nothing in flight) is connected
/// and C (no sampling) has a slow call in flight. Only A is asked, once, and A's answer
/// is what the server got back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sampling_request_reaches_only_the_client_whose_call_raised_it() {
    let d = daemon_with_fixture(&[]).await;
    let r = sampling_clients(&d, NAME, false).await;
    println!("{r}");
    assert_eq!(r["asked"]["A"], json!(["from A"]), "{r}");
    assert_eq!(r["asked"]["B"], json!([]), "{r}");
    assert_eq!(r["a"], "LLM response: answer of A", "{r}");
    assert_eq!(r["a_is_error"], false, "{r}");
    assert_eq!(r["c"], "slept 4000", "{r}");
    assert_eq!(r["c_in_flight_during_a"], true, "{r}");
}

/// The same over an HTTP upstream, where each server request arrives on the answer stream
/// of the call that raised it: B may even have a sampling call of its own in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_sampling_requests_of_concurrent_sdk_clients_each_reach_their_own() {
    let d = daemon_with_http_fixture().await;
    let r = sampling_clients(&d, "http-fixture", true).await;
    println!("{r}");
    assert_eq!(r["asked"]["A"], json!(["from A"]), "{r}");
    assert_eq!(r["asked"]["B"], json!(["from B"]), "{r}");
    assert_eq!(r["a"], "LLM response: answer of A", "{r}");
    assert_eq!(r["b"], "LLM response: answer of B", "{r}");
    assert_eq!(r["c"], "slept 4000", "{r}");
    assert_eq!(r["c_in_flight_during_a"], true, "{r}");
}

/// Acceptance 4: the client's credentials never go upstream. A daemon with a token fronts
/// the HTTP fixture, which records the headers of every request it gets; a client calls
/// through `/mcp/http-fixture` with `Authorization: Bearer TOKEN` (the TypeScript SDK
/// client, then a raw request with a cookie too): the fixture saw neither the header nor
/// the token anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clients_credentials_never_reach_the_upstream_server() {
    let token = "tok-3f9a1c-never-upstream";
    let d = daemon_running(http_fixture(), &[("MCP_MANAGER_TOKEN", token)]).await;
    let simple = ts_client(
        &d,
        "http-fixture",
        "test_simple_text",
        json!({}),
        Some(token),
    )
    .await;
    assert_eq!(
        simple["result"]["content"][0]["text"], "This is a simple text response for testing.",
        "{simple}"
    );
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
    );
    headers.insert(
        "cookie",
        format!("session={token}").parse().expect("header"),
    );
    let mut raw = Client {
        http: reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .expect("client"),
        url: format!("http://127.0.0.1:{}/mcp/http-fixture", d.port),
        session: None,
    };
    assert_eq!(raw.initialize().await.status, 200);
    simple_call_works(&raw, 1).await;
    let seen = ts_client(
        &d,
        "http-fixture",
        "fixture_http_requests",
        json!({}),
        Some(token),
    )
    .await;
    let requests: Value = serde_json::from_str(
        seen["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("fixture_http_requests gave no JSON ({e}): {seen}"));
    let requests = requests.as_array().expect("a list");
    // The recorder works: the gateway's own POSTs are there, with their headers.
    assert!(
        requests.iter().any(|r| r["method"] == "POST"
            && r["headers"]["mcp-session-id"].is_string()
            && r["headers"]["content-type"].is_string()),
        "{requests:?}"
    );
    for r in requests {
        assert!(
            r["headers"]["authorization"].is_null(),
            "went upstream: {r}"
        );
        assert!(r["headers"]["cookie"].is_null(), "went upstream: {r}");
    }
    assert!(!Value::Array(requests.clone()).to_string().contains(token));
}
