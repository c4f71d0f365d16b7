//! Per-server gateway options on `/mcp/{name}` (issue 8): `exposed`, the tool allow/deny
//! filter and `start_on_demand`, each changed by a PATCH and in force at the next request.
//! The upstream is the Python stdio fixture (`tests/fixtures/mcp_fixture.py`), run by a
//! real daemon; its `crash` tool, which exits the server, proves a refused call never
//! reached it.

mod common;

use common::mcp::{Client, text_of};
use common::{Daemon, py_server};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A fixture server with `settings` merged into its definition.
async fn fixture(d: &Daemon, name: &str, settings: Value) -> Value {
    let mut body = py_server(name, &[]);
    for (k, v) in settings.as_object().into_iter().flatten() {
        body[k] = v.clone();
    }
    d.create(body).await
}

async fn patch(d: &Daemon, name: &str, body: Value) {
    let (s, v) = d
        .req("PATCH", &format!("/api/servers/{name}"), Some(body))
        .await;
    assert_eq!(s, 200, "patch: {v}");
}

fn tool_names(answer: &Value) -> Vec<String> {
    answer["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools in {answer}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn call(tool: &str) -> Value {
    json!({"name": tool, "arguments": {}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unexposed_server_answers_404_until_it_is_exposed_again() {
    let d = Daemon::start();
    fixture(&d, "hidden", json!({"exposed": false, "start": true})).await;
    d.wait_status("hidden", "running", Duration::from_secs(30))
        .await;

    // As for a server that does not exist: 404, with a JSON-RPC error that says why.
    let mut c = Client::new(&d, "hidden");
    let a = c.initialize().await;
    assert_eq!(a.status, 404, "{:?}", a.messages);
    let msg = a.messages[0]["error"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(msg.contains("hidden is not exposed"), "{msg}");
    assert!(c.session.is_none());
    assert_eq!(Client::new(&d, "nobody").initialize().await.status, 404);

    patch(&d, "hidden", json!({"exposed": true})).await;
    let a = c.initialize().await;
    assert_eq!(a.status, 200, "{:?}", a.messages);
    let a = c.call(1, "tools/list", json!({})).await;
    assert!(tool_names(&a.messages[0]).contains(&"echo".to_string()));

    // Hidden again while the session is open: every method of the session answers 404
    // (ping included, which never goes upstream), and the session is over.
    // An open GET stream closes as soon as the server is hidden.
    let stream = c
        .http
        .get(&c.url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", c.session.clone().unwrap_or_default())
        .send()
        .await
        .expect("get");
    assert_eq!(stream.status().as_u16(), 200);
    patch(&d, "hidden", json!({"exposed": false})).await;
    let closed = tokio::time::timeout(Duration::from_secs(10), stream.bytes()).await;
    assert!(closed.is_ok(), "the GET stream stayed open");
    let a = c.call(2, "ping", json!({})).await;
    assert_eq!(a.status, 404);
    assert_eq!(a.messages[0]["id"], 2);
    assert!(
        a.messages[0]["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not exposed"),
        "{:?}",
        a.messages
    );
    assert_eq!(c.call(3, "tools/call", call("pid")).await.status, 404);

    patch(&d, "hidden", json!({"exposed": true})).await;
    let a = c.call(4, "tools/list", json!({})).await;
    assert_eq!(a.status, 404, "the session ended: {:?}", a.messages);
    assert_eq!(a.messages[0]["error"]["code"], -32001);
    assert_eq!(c.initialize().await.status, 200);
    let a = c.call(
        5,
        "tools/call",
        json!({"name": "echo", "arguments": {"message": "back"}}),
    );
    assert_eq!(text_of(&a.await.messages[0]), "Echo: back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_filter_hides_tools_and_refuses_their_calls_before_the_server() {
    let d = Daemon::start();
    let filter = json!({"allow": ["echo", "cwd", "p*", "crash"], "deny": ["crash"]});
    fixture(&d, "filtered", json!({"tools": filter, "start": true})).await;
    d.wait_status("filtered", "running", Duration::from_secs(30))
        .await;
    let mut c = Client::new(&d, "filtered");
    assert_eq!(c.initialize().await.status, 200);

    let listed = c.call(1, "tools/list", json!({})).await.messages[0].clone();
    assert_eq!(tool_names(&listed), ["echo", "cwd", "pid"], "{listed}");
    let pid = text_of(&c.call(2, "tools/call", call("pid")).await.messages[0]);
    assert!(pid.parse::<u32>().is_ok(), "{pid}");

    // Denied (and not allowed): refused by the gateway with invalid params.
    for (id, tool) in [(3, "crash"), (4, "env")] {
        let a = c.call(id, "tools/call", call(tool)).await;
        let err = &a.messages[0]["error"];
        assert_eq!(err["code"], -32602, "{tool}: {:?}", a.messages);
        assert_eq!(
            err["message"],
            format!("tool {tool} is not available through the gateway")
        );
    }
    // The crash tool exits the server: had the call reached it, the process would be gone.
    let again = text_of(&c.call(5, "tools/call", call("pid")).await.messages[0]);
    assert_eq!(again, pid, "the server never saw the refused calls");
    let v = d.server("filtered").await;
    assert_eq!(v["status"], "running");
    assert_eq!(v["restart_count"], 0, "{v}");
    let logs = d.logs("filtered").await;
    assert!(
        !logs
            .iter()
            .any(|l| l["message"].as_str().unwrap_or("").contains("crash tool")),
        "the fixture logged a crash call"
    );

    // The API shows the admin every tool.
    let (s, v) = d.get("/api/servers/filtered/mcp").await;
    assert_eq!(s, 200, "{v}");
    let all: Vec<&str> = v["data"]["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for hidden in ["crash", "env", "argv", "hang"] {
        assert!(
            all.contains(&hidden),
            "{hidden} missing from the API's view: {v}"
        );
    }

    // Lifting the filter applies at the next request, without a restart; the tools kept
    // before were passed through unchanged.
    patch(&d, "filtered", json!({"tools": {}})).await;
    let all = c.call(6, "tools/list", json!({})).await.messages[0].clone();
    assert_eq!(
        tool_names(&all).len(),
        v["data"]["tools"].as_array().map_or(0, Vec::len),
        "every tool the API shows: {all}"
    );
    let full: Vec<&Value> = all["result"]["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| ["echo", "cwd", "pid"].contains(&t["name"].as_str().unwrap_or("")))
        .collect();
    let kept: Vec<&Value> = listed["result"]["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(kept, full);
    let a = c.call(7, "tools/call", call("env")).await;
    assert!(a.messages[0].get("result").is_some(), "{:?}", a.messages);
    let after = text_of(&c.call(8, "tools/call", call("pid")).await.messages[0]);
    assert_eq!(after, pid, "no restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_on_demand_starts_a_stopped_server_and_without_it_the_error_is_immediate() {
    let d = Daemon::start();
    fixture(&d, "lazy", json!({"start_on_demand": true})).await;
    assert_eq!(d.server("lazy").await["status"], "stopped");

    // A server that never ran: the client's initialize starts it.
    let started = Instant::now();
    let (c, _) = Client::connect(&d, "lazy", "mcp-fixture-py").await;
    println!("initialize with a start on demand: {:?}", started.elapsed());
    let v = d.server("lazy").await;
    assert_eq!(v["status"], "running", "{v}");
    assert_eq!(v["desired_state"], "running", "{v}");
    let a = c
        .call(
            1,
            "tools/call",
            json!({"name": "echo", "arguments": {"message": "hi"}}),
        )
        .await;
    assert_eq!(text_of(&a.messages[0]), "Echo: hi");

    // Stopped by the user, then called: started again, and the call succeeds.
    let (s, v) = d.action("lazy", "stop").await;
    assert!(s == 200 || s == 202, "{s} {v}");
    d.wait_status("lazy", "stopped", Duration::from_secs(30))
        .await;
    let a = c
        .call(
            2,
            "tools/call",
            json!({"name": "echo", "arguments": {"message": "again"}}),
        )
        .await;
    assert_eq!(text_of(&a.messages[0]), "Echo: again", "{:?}", a.messages);
    assert_eq!(d.server("lazy").await["status"], "running");

    // Without the option: an error at once, naming the state.
    patch(&d, "lazy", json!({"start_on_demand": false})).await;
    let (s, v) = d.action("lazy", "stop").await;
    assert!(s == 200 || s == 202, "{s} {v}");
    d.wait_status("lazy", "stopped", Duration::from_secs(30))
        .await;
    let started = Instant::now();
    let a = c.call(3, "tools/call", call("pid")).await;
    let took = started.elapsed();
    println!("stopped server without start_on_demand answered in {took:?}");
    let err = &a.messages[0]["error"];
    assert_eq!(err["data"]["status"], "stopped", "{:?}", a.messages);
    assert!(
        err["message"]
            .as_str()
            .unwrap_or_default()
            .contains("lazy is stopped"),
        "{err}"
    );
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert_eq!(d.server("lazy").await["status"], "stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_on_demand_leaves_a_failed_server_failed_and_says_so() {
    let d = Daemon::start();
    // A command that does not exist: the start fails before anything runs.
    d.create(json!({
        "name": "broken", "command": "/nonexistent/mcp-server", "start_on_demand": true
    }))
    .await;
    let mut c = Client::new(&d, "broken");
    let a = c.initialize().await;
    let err = &a.messages[0]["error"];
    assert_eq!(err["data"]["status"], "failed", "{:?}", a.messages);
    assert!(
        err["message"]
            .as_str()
            .unwrap_or_default()
            .contains("broken is failed"),
        "{err}"
    );
    // Failed stays failed: a second client is not a second start.
    let restarts = d.server("broken").await["restart_count"].clone();
    let a = Client::new(&d, "broken").initialize().await;
    assert_eq!(a.messages[0]["error"]["data"]["status"], "failed");
    assert_eq!(d.server("broken").await["restart_count"], restarts);
}
