//! The aggregate MCP endpoint `/mcp` (issue 8, acceptance 3): three real servers behind
//! one session (mcp-server-time, server-everything, our Python fixture), their tools under
//! valid prefixed names, calls routed to the right one, the allow/deny list and `exposed`
//! applied, `list_changed` when one of them stops; prompts and resources routed too; the
//! official Python SDK client on it.

mod common;

use common::mcp::{Client, Streaming, text_of};
use common::{Daemon, py_server};
use serde_json::json;
use std::time::Duration;

/// `time`, `everything` and `fixture` (its `crash` and `hang` denied) exposed, and
/// `hidden` (another fixture) not, all running.
async fn daemon_with_three_servers() -> Daemon {
    let deps = common::deps();
    let d = Daemon::start();
    d.create(json!({"name": "time",
                    "command": deps.join("venv/bin/python").display().to_string(),
                    "args": ["-m", "mcp_server_time"], "start": true}))
        .await;
    d.create(json!({"name": "everything",
                    "command": deps.join("npm/node_modules/.bin/mcp-server-everything").display().to_string(),
                    "start": true}))
        .await;
    let mut fixture = py_server("fixture", &[]);
    fixture["start"] = json!(true);
    fixture["tools"] = json!({"deny": ["crash", "hang"]});
    fixture["env"] = json!({"WHO": "the fixture"});
    d.create(fixture).await;
    let mut hidden = py_server("hidden", &[]);
    hidden["start"] = json!(true);
    hidden["exposed"] = json!(false);
    d.create(hidden).await;
    for n in ["time", "everything", "fixture", "hidden"] {
        d.wait_status(n, "running", Duration::from_secs(60)).await;
    }
    d
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

async fn tool_names(c: &Client, id: u64) -> Vec<String> {
    let r = c.call(id, "tools/list", json!({})).await;
    assert_eq!(r.status, 200);
    let tools = r.messages[0]["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools: {:?}", r.messages))
        .clone();
    tools
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn error_of(r: &common::mcp::Answer) -> (i64, String) {
    let e = &r.messages.last().expect("an answer")["error"];
    (
        e["code"].as_i64().unwrap_or_default(),
        e["message"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_behind_one_endpoint_and_list_changed_when_one_stops() {
    let d = daemon_with_three_servers().await;
    let mut c = Client::aggregate(&d);
    let init = c.initialize().await;
    assert_eq!(init.status, 200);
    let result = &init.messages[0]["result"];
    assert_eq!(result["serverInfo"]["name"], "mcp-manager", "{result}");
    assert_eq!(result["capabilities"]["tools"]["listChanged"], true);
    let mut stream = Streaming::get(&c).await;

    // Every name valid and prefixed; all three exposed servers there, the hidden one and
    // the denied tools not.
    let names = tool_names(&c, 1).await;
    for n in &names {
        assert!(valid_name(n), "invalid name {n:?}");
        assert!(
            ["time__", "everything__", "fixture__"]
                .iter()
                .any(|p| n.starts_with(p)),
            "unprefixed {n:?}"
        );
    }
    for want in [
        "time__get_current_time",
        "everything__echo",
        "fixture__echo",
        "fixture__env",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    assert!(
        !names.iter().any(|n| n.starts_with("hidden__")),
        "{names:?}"
    );
    assert!(
        !names
            .iter()
            .any(|n| n == "fixture__crash" || n == "fixture__hang"),
        "{names:?}"
    );

    // Calls go to the right server, under the tool's own name there.
    let r = c
        .call(
            2,
            "tools/call",
            json!({"name": "time__get_current_time", "arguments": {"timezone": "UTC"}}),
        )
        .await;
    let text = text_of(r.messages.last().expect("answer"));
    assert!(text.contains("\"timezone\": \"UTC\""), "{text}");
    let r = c
        .call(
            3,
            "tools/call",
            json!({"name": "everything__echo", "arguments": {"message": "from everything"}}),
        )
        .await;
    assert_eq!(
        text_of(r.messages.last().expect("answer")),
        "Echo: from everything"
    );
    let r = c
        .call(
            4,
            "tools/call",
            json!({"name": "fixture__env", "arguments": {"name": "WHO"}}),
        )
        .await;
    assert_eq!(text_of(r.messages.last().expect("answer")), "the fixture");
    assert_eq!(r.messages.last().expect("answer")["id"], 4);

    // Denied, hidden and unknown tools are refused as unknown.
    for (id, name) in [
        (5, "fixture__crash"),
        (6, "hidden__echo"),
        (7, "nobody__nothing"),
    ] {
        let r = c
            .call(id, "tools/call", json!({"name": name, "arguments": {}}))
            .await;
        let (code, message) = error_of(&r);
        assert_eq!(code, -32602, "{name}: {message}");
        assert!(message.contains(name), "{message}");
    }
    assert_eq!(
        d.server("fixture").await["status"],
        "running",
        "crash was refused"
    );

    // Stopping a server: list_changed on the GET stream, its tools gone from the list,
    // and a call to one names the server's state.
    let (status, _) = d.action("everything", "stop").await;
    assert!(status < 300, "stop: {status}");
    let note = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let m = stream.next().await.expect("the GET stream ended");
            if m["method"] == "notifications/tools/list_changed" {
                return m;
            }
        }
    })
    .await
    .expect("list_changed within 20 s");
    assert!(note.get("id").is_none());
    d.wait_status("everything", "stopped", Duration::from_secs(20))
        .await;
    let names = tool_names(&c, 8).await;
    assert!(
        !names.iter().any(|n| n.starts_with("everything__")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n == "time__get_current_time"),
        "{names:?}"
    );
    let r = c
        .call(
            9,
            "tools/call",
            json!({"name": "everything__echo", "arguments": {"message": "x"}}),
        )
        .await;
    let (code, message) = error_of(&r);
    assert_eq!(
        (code, message.as_str()),
        (-32000, "server everything is stopped")
    );

    // Started again: list_changed again, and its tools are back.
    d.action("everything", "start").await;
    d.wait_status("everything", "running", Duration::from_secs(60))
        .await;
    let names = tool_names(&c, 10).await;
    assert!(names.iter().any(|n| n == "everything__echo"), "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompts_and_resources_are_routed_and_the_python_sdk_client_works() {
    let d = daemon_with_three_servers().await;
    let mut c = Client::aggregate(&d);
    c.initialize().await;

    let r = c.call(1, "prompts/list", json!({})).await;
    let prompts: Vec<&str> = r.messages[0]["result"]["prompts"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["name"].as_str()).collect())
        .unwrap_or_default();
    assert!(prompts.contains(&"fixture__greet"), "{prompts:?}");
    assert!(
        prompts.contains(&"everything__simple-prompt"),
        "{prompts:?}"
    );
    let r = c
        .call(
            2,
            "prompts/get",
            json!({"name": "fixture__greet", "arguments": {"who": "aggregate"}}),
        )
        .await;
    assert!(
        r.messages[0]["result"].to_string().contains("aggregate"),
        "{:?}",
        r.messages
    );

    // Resources keep their URIs; a read goes to the server that listed it, or whose
    // template it matches.
    let r = c.call(3, "resources/list", json!({})).await;
    let uris: Vec<&str> = r.messages[0]["result"]["resources"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["uri"].as_str()).collect())
        .unwrap_or_default();
    assert!(uris.contains(&"fixture://hello"), "{uris:?}");
    let r = c
        .call(4, "resources/read", json!({"uri": "fixture://hello"}))
        .await;
    assert_eq!(text_of(&r.messages[0]), "hello");
    let r = c.call(5, "resources/templates/list", json!({})).await;
    let templates = r.messages[0]["result"]["resourceTemplates"].to_string();
    assert!(
        templates.contains("demo://resource/dynamic/text/{resourceId}"),
        "{templates}"
    );
    let r = c
        .call(
            6,
            "resources/read",
            json!({"uri": "demo://resource/dynamic/text/7"}),
        )
        .await;
    assert!(text_of(&r.messages[0]).contains('7'), "{:?}", r.messages);
    let r = c
        .call(7, "resources/read", json!({"uri": "nowhere://x"}))
        .await;
    assert_eq!(error_of(&r).0, -32602);
    let r = c.call(8, "ping", json!({})).await;
    assert_eq!(r.messages[0]["result"], json!({}));

    // Its client snippet.
    let (status, v) = d.get("/api/client-config?client=cursor").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["data"]["config"]["mcpServers"]["mcp-manager"]["url"],
        format!("http://127.0.0.1:{}/mcp", d.port)
    );

    // The official Python SDK client, on the aggregate endpoint.
    let script = r#"
import asyncio, sys
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
async def main(url):
    async with streamable_http_client(url) as streams:
        async with ClientSession(streams[0], streams[1]) as s:
            init = await s.initialize()
            print("server", init.server_info.name)
            tools = [t.name for t in (await s.list_tools()).tools]
            print("tools", len(tools), ",".join(sorted(set(t.split("__")[0] for t in tools))))
            r = await s.call_tool("time__get_current_time", {"timezone": "UTC"})
            print("time ->", r.content[0].text.replace("\n", " ")[:80])
            r = await s.call_tool("fixture__echo", {"message": "sdk"})
            print("fixture ->", r.content[0].text)
asyncio.run(main(sys.argv[1]))
"#;
    let stdout = common::run_python(script, &format!("http://127.0.0.1:{}/mcp", d.port)).await;
    assert!(stdout.contains("server mcp-manager"), "{stdout}");
    assert!(stdout.contains(" everything,fixture,time\n"), "{stdout}");
    assert!(
        stdout.contains("time -> {") && stdout.contains("\"timezone\": \"UTC\""),
        "{stdout}"
    );
    assert!(stdout.contains("fixture -> Echo: sdk"), "{stdout}");
}
