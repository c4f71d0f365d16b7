//! `mcp-manager bridge NAME` (issue 8, acceptance 6): the official Python SDK's stdio
//! client runs the bridge as its server command and reaches `/mcp/NAME` through it,
//! server→client requests (sampling), log and progress notifications included.
//! The upstream is the conformance fixture (TypeScript SDK) run by the daemon over stdio.

mod common;

use common::{Daemon, repo};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const NAME: &str = "conformance";

/// A daemon (with `token`, if given) running the conformance fixture as NAME.
async fn daemon_with_fixture(token: Option<&str>) -> Daemon {
    assert!(
        repo()
            .join("tests/fixtures/conformance/node_modules/@modelcontextprotocol/sdk")
            .exists(),
        "fixture deps missing: run `bash tests/conformance/setup.sh` first"
    );
    let env: Vec<(&str, &str)> = token
        .map(|t| ("MCP_MANAGER_TOKEN", t))
        .into_iter()
        .collect();
    let d = Daemon::start_env(&env);
    let with_token = |r: reqwest::RequestBuilder| match token {
        Some(t) => r.bearer_auth(t),
        None => r,
    };
    let resp = with_token(d.http.post(format!("{}/api/servers", d.url)))
        .json(&json!({
            "name": NAME,
            "command": "node",
            "args": [repo().join("tests/fixtures/conformance/server.mjs").display().to_string()],
            "working_directory": repo().display().to_string(),
            "start": true,
        }))
        .send()
        .await
        .expect("create");
    assert_eq!(resp.status().as_u16(), 201);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v: Value = with_token(d.http.get(format!("{}/api/servers/{NAME}", d.url)))
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
    d
}

fn python() -> std::path::PathBuf {
    let p = repo().join(".deps/venv/bin/python");
    assert!(
        p.exists(),
        "the Python SDK is missing: run `bash .ci/setup.sh` first"
    );
    p
}

/// The Python SDK's stdio client, with `bridge NAME --url …` as its server command:
/// initialize, list tools, a plain call, a call with log notifications, one with progress,
/// and one that makes the server ask the client for sampling (answered on stdin, POSTed by
/// the bridge) — then a clean exit on stdin EOF.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_stdio_client_works_through_the_bridge() {
    let d = daemon_with_fixture(None).await;
    let script = r#"
import asyncio, sys
from mcp import ClientSession, types
from mcp.client.stdio import stdio_client, StdioServerParameters

async def main(exe, url, name):
    params = StdioServerParameters(command=exe, args=["bridge", name, "--url", url])
    logs, progress = [], []
    async def on_log(p):
        logs.append(p.data)
    async def on_sampling(ctx, p):
        return types.CreateMessageResult(role="assistant", model="test",
            content=types.TextContent(type="text", text="from the client"))
    async def on_progress(done, total, message):
        progress.append(done)
    async with stdio_client(params) as (r, w):
        async with ClientSession(r, w, sampling_callback=on_sampling, logging_callback=on_log) as s:
            init = await s.initialize()
            print("server:", init.server_info.name)
            tools = [t.name for t in (await s.list_tools()).tools]
            print("tools:", len(tools), "test_simple_text" in tools)
            res = await s.call_tool("test_simple_text", {})
            print("simple:", res.content[0].text)
            res = await s.call_tool("test_tool_with_logging", {})
            print("logging:", res.content[0].text, logs)
            res = await s.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
            print("progress:", progress)
            res = await s.call_tool("test_sampling", {"prompt": "hi"})
            print("sampling:", res.content[0].text)
    print("closed")
asyncio.run(main(*sys.argv[1:]))
"#;
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(python())
            .arg("-c")
            .arg(script)
            .arg(env!("CARGO_BIN_EXE_mcp-manager"))
            .arg(&d.url)
            .arg(NAME)
            .output(),
    )
    .await
    .expect("python client timed out")
    .expect("python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}\n{stderr}");
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("tools: ") && stdout.contains(" True"),
        "{stdout}"
    );
    assert!(
        stdout.contains("simple: This is a simple text response for testing."),
        "{stdout}"
    );
    assert!(
        stdout.contains("logging: Tool with logging executed successfully")
            && stdout.contains("Tool execution started")
            && stdout.contains("Tool execution completed"),
        "{stdout}"
    );
    assert!(stdout.contains("progress: [0.0, 50.0, 100.0]"), "{stdout}");
    assert!(
        stdout.contains("sampling: LLM response: from the client"),
        "{stdout}"
    );
    assert!(stdout.contains("closed"), "{stdout}");
    // The bridge logs to stderr only (its stdout is the protocol, the SDK parsed it all).
    assert!(
        stderr.contains("mcp-manager bridge: forwarding"),
        "{stderr}"
    );
}

/// Raw lines through the bridge: answers come back as single JSON lines in order, an
/// unparsable line gets a parse error, a request for an unknown server a JSON-RPC error
/// (not a hang), and EOF ends the bridge with exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridge_forwards_raw_lines_and_exits_on_eof() {
    let d = daemon_with_fixture(Some("s3cret")).await;
    let input = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"}}})
        .to_string(),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
        json!({"jsonrpc": "2.0", "id": "two", "method": "tools/list"}).to_string(),
        "not json".to_string(),
    ]
    .join("\n")
        + "\n";
    let out = run_bridge(&d, NAME, Some("s3cret"), &input).await;
    assert!(out.status.success());
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["id"], 1);
    assert_eq!(lines[0]["result"]["protocolVersion"], "2025-11-25");
    let answer = lines.iter().find(|l| l["id"] == "two").expect("tools/list");
    assert!(
        answer["result"]["tools"]
            .as_array()
            .is_some_and(|t| t.len() > 5)
    );
    assert!(lines.iter().any(|l| l["error"]["code"] == -32700));

    // Without the token: the daemon's 401 becomes a JSON-RPC error for the request.
    let init = json!({"jsonrpc": "2.0", "id": 7, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"}}})
    .to_string()
        + "\n";
    let out = run_bridge(&d, NAME, None, &init).await;
    assert!(out.status.success());
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["id"], 7);
    assert!(
        lines[0]["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("401")),
        "{lines:?}"
    );
}

async fn run_bridge(
    d: &Daemon,
    name: &str,
    token: Option<&str>,
    input: &str,
) -> std::process::Output {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-manager"));
    cmd.args(["bridge", name, "--url", &d.url])
        .env_remove("MCP_MANAGER_TOKEN")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(t) = token {
        cmd.args(["--token", t]);
    }
    let mut child = cmd.spawn().expect("spawn bridge");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).await.expect("write");
    drop(stdin);
    tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("the bridge did not exit on EOF")
        .expect("bridge output")
}

fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line {l:?}: {e}")))
        .collect()
}
