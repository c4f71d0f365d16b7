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
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
               "params": {"name": "test_tool_with_logging", "arguments": {}}})
        .to_string(),
        "not json".to_string(),
    ]
    .join("\n")
        + "\n";
    let out = run_bridge(&d, NAME, Some("s3cret"), &input).await;
    assert!(out.status.success());
    let lines = json_lines(&out.stdout);
    // initialize, tools/list, the parse error, three log notifications and the call's
    // answer (an SSE stream), once.
    assert_eq!(lines.len(), 7, "{lines:?}");
    assert_eq!(lines[0]["id"], 1);
    let call: Vec<&Value> = lines.iter().filter(|l| l["id"] == 3).collect();
    assert_eq!(call.len(), 1, "{lines:?}");
    assert!(call[0]["result"].is_object(), "{lines:?}");
    let logs = lines
        .iter()
        .filter(|l| l["method"] == "notifications/message")
        .count();
    assert_eq!(logs, 3, "{lines:?}");
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

/// GET `/api/servers/NAME/client-config?client=…` with the daemon's token.
async fn client_config(d: &Daemon, token: &str, query: &str) -> (u16, Value) {
    let resp = d
        .http
        .get(format!(
            "{}/api/servers/{NAME}/client-config?{query}",
            d.url
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("client-config");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json"))
}

/// Each client's snippet has the shape that client reads (checked key by key), the token
/// stays out of it unless asked for, an unknown client is a 400 that lists the known ones,
/// and the Claude Desktop snippet's command, spawned as written, answers an initialize.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_snippets_have_each_clients_shape_and_the_bridge_snippet_runs() {
    let token = "t0ken-s3cret";
    let d = daemon_with_fixture(Some(token)).await;
    let endpoint = format!("{}/mcp/{NAME}", d.url);
    let bearer = format!("Bearer {token}");

    // Cursor: {"mcpServers": {NAME: {"url", "headers"}}}.
    let (s, v) = client_config(&d, token, "client=cursor").await;
    assert_eq!(s, 200, "{v}");
    let data = &v["data"];
    assert!(!data.to_string().contains(token), "token leaked: {data}");
    assert_eq!(data["token_required"], true);
    assert_eq!(data["token_included"], false);
    let entry = &data["config"]["mcpServers"][NAME];
    assert_eq!(entry["url"], endpoint.as_str());
    assert_eq!(
        entry["headers"]["Authorization"],
        "Bearer ${env:MCP_MANAGER_TOKEN}"
    );
    assert_eq!(object_keys(&data["config"]), ["mcpServers"]);
    let (_, v) = client_config(&d, token, "client=cursor&include_token=true").await;
    assert_eq!(
        v["data"]["config"]["mcpServers"][NAME]["headers"]["Authorization"],
        bearer.as_str()
    );
    assert_eq!(v["data"]["token_included"], true);

    // VS Code: {"servers": {NAME: {"type": "http", "url", "headers"}}, "inputs": [...]}.
    let (_, v) = client_config(&d, token, "client=vscode").await;
    let data = &v["data"];
    assert!(!data.to_string().contains(token), "token leaked: {data}");
    let entry = &data["config"]["servers"][NAME];
    assert_eq!(entry["type"], "http");
    assert_eq!(entry["url"], endpoint.as_str());
    assert_eq!(
        entry["headers"]["Authorization"],
        "Bearer ${input:mcp-manager-token}"
    );
    let input = &data["config"]["inputs"][0];
    assert_eq!(input["id"], "mcp-manager-token");
    assert_eq!(input["type"], "promptString");
    assert_eq!(input["password"], true);
    let (_, v) = client_config(&d, token, "client=vscode&include_token=true").await;
    assert_eq!(object_keys(&v["data"]["config"]), ["servers"]);
    assert_eq!(
        v["data"]["config"]["servers"][NAME]["headers"]["Authorization"],
        bearer.as_str()
    );

    // Claude Code: the `claude mcp add` line and the .mcp.json form.
    let (_, v) = client_config(&d, token, "client=claude-code").await;
    let data = &v["data"];
    assert!(!data.to_string().contains(token), "token leaked: {data}");
    let entry = &data["config"]["mcpServers"][NAME];
    assert_eq!(entry["type"], "http");
    assert_eq!(entry["url"], endpoint.as_str());
    assert_eq!(
        entry["headers"]["Authorization"],
        "Bearer ${MCP_MANAGER_TOKEN}"
    );
    assert_eq!(
        data["command"],
        format!(
            "claude mcp add --transport http {NAME} {endpoint} \
             --header \"Authorization: Bearer $MCP_MANAGER_TOKEN\""
        )
    );

    // Claude Desktop: {"mcpServers": {NAME: {"command": ABS, "args": ["bridge", …], "env"}}}.
    let (_, v) = client_config(&d, token, "client=claude-desktop").await;
    assert!(!v.to_string().contains(token), "token leaked: {v}");
    let (_, v) = client_config(&d, token, "client=claude-desktop&include_token=true").await;
    let entry = v["data"]["config"]["mcpServers"][NAME].clone();
    let command = entry["command"].as_str().expect("command");
    assert!(std::path::Path::new(command).is_absolute(), "{command}");
    let args: Vec<String> = serde_json::from_value(entry["args"].clone()).expect("args");
    assert_eq!(args, ["bridge", NAME, "--url", d.url.as_str()]);
    assert_eq!(entry["env"]["MCP_MANAGER_TOKEN"], token);

    // Unknown and missing client: 400 naming the four.
    for q in ["client=zed", ""] {
        let (s, v) = client_config(&d, token, q).await;
        assert_eq!(s, 400, "{v}");
        let m = v["error"]["message"].as_str().unwrap_or_default();
        assert!(
            ["claude-desktop", "claude-code", "cursor", "vscode"]
                .iter()
                .all(|c| m.contains(c)),
            "{m}"
        );
    }
    // Unknown server: 404.
    let s = d
        .http
        .get(format!(
            "{}/api/servers/nope/client-config?client=cursor",
            d.url
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("get")
        .status();
    assert_eq!(s.as_u16(), 404);

    // The Claude Desktop entry, run as Claude Desktop would: command, args, env.
    let env: Vec<(String, String)> = entry["env"]
        .as_object()
        .expect("env")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    let out = {
        use tokio::io::AsyncWriteExt;
        let mut child = tokio::process::Command::new(command)
            .args(&args)
            .env_remove("MCP_MANAGER_TOKEN")
            .envs(env)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn the snippet's command");
        let mut stdin = child.stdin.take().expect("stdin");
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "claude-ai", "version": "0.1.0"}}});
        stdin
            .write_all(format!("{init}\n").as_bytes())
            .await
            .expect("write");
        drop(stdin);
        tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
            .await
            .expect("the snippet's bridge did not exit")
            .expect("output")
    };
    assert!(out.status.success());
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["id"], 0);
    assert_eq!(lines[0]["result"]["protocolVersion"], "2025-06-18");
    assert!(lines[0]["result"]["serverInfo"]["name"].is_string());
}

fn object_keys(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// `mcp-manager connect NAME --client cursor` prints the API's snippet as JSON on stdout
/// (hints on stderr); `--json` prints the whole answer; a bad client is a usage error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_prints_the_snippet() {
    let token = "c0nnect";
    let d = daemon_with_fixture(Some(token)).await;
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_mcp-manager"))
            .args(["connect", NAME, "--url", &d.url, "--token", token])
            .args(args)
            .env_remove("MCP_MANAGER_TOKEN")
            .output()
            .expect("connect")
    };
    let out = run(&["--client", "cursor"]);
    assert!(out.status.success(), "{out:?}");
    let printed: Value = serde_json::from_slice(&out.stdout).expect("stdout is the JSON snippet");
    let (_, api) = client_config(&d, token, "client=cursor").await;
    assert_eq!(printed, api["data"]["config"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(".cursor/mcp.json"), "{stderr}");

    let out = run(&["--client", "claude-code", "--include-token", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let printed: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(printed["client"], "claude-code");
    assert!(
        printed["command"]
            .as_str()
            .is_some_and(|c| c.contains(&format!("Bearer {token}"))),
        "{printed}"
    );

    let out = run(&["--client", "zed"]);
    assert_eq!(out.status.code(), Some(2));
}

/// The daemon restarts under a running bridge (same port, same data dir): the next request
/// finds the session gone (404), and the bridge opens a new one with the client's own
/// `initialize` and sends the request again — the client sees only its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridge_reopens_its_session_after_a_daemon_restart() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut d = daemon_with_fixture(None).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-manager"))
        .args(["bridge", NAME, "--url", &d.url])
        .env_remove("MCP_MANAGER_TOKEN")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn bridge");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut ask = async |message: Value| -> Value {
        stdin
            .write_all(format!("{message}\n").as_bytes())
            .await
            .expect("write");
        if message.get("id").is_none() {
            return Value::Null;
        }
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("no answer from the bridge")
            .expect("read")
            .expect("bridge stdout ended");
        serde_json::from_str(&line).expect("json line")
    };
    let init = ask(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"}}}),
    )
    .await;
    assert_eq!(init["id"], 1, "{init}");
    ask(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "test_simple_text", "arguments": {}}});
    let first = ask(call.clone()).await;
    assert!(first["result"].is_object(), "{first}");

    // A new daemon on the same port and data dir: it restores the server it ran.
    d.kill9();
    let port = d.port;
    let mut again = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-manager"))
        .env("MCP_MANAGER_SETTINGS", "")
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(&d.dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("restart the daemon");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = d
            .http
            .get(format!("{}/api/servers/{NAME}", d.url))
            .send()
            .await
            && let Ok(v) = r.json::<Value>().await
            && v["data"]["status"] == "running"
        {
            break;
        }
        assert!(Instant::now() < deadline, "not running again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut call = call;
    call["id"] = json!(3);
    let second = ask(call).await;
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("the bridge did not exit on EOF")
        .expect("output");
    let _ = again.kill();
    let _ = again.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("opened a new one"), "{stderr}");
    assert_eq!(second["id"], 3, "{second}");
    assert_eq!(
        second["result"]["content"][0]["text"], first["result"]["content"][0]["text"],
        "{second}"
    );
}
