//! Gateway metrics (issue 8, acceptance 7): tool calls made through `/mcp/{name}` show up
//! in `GET /metrics`, which a real Prometheus text-format parser (the Python client's,
//! from .deps/venv) reads, and in `GET /api/servers/{ref}/metrics`; their counts match the
//! calls made. `/metrics` needs the token when the daemon has one.

mod common;

use common::mcp::Client;
use common::{Daemon, repo};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

const NAME: &str = "conformance";

async fn daemon_with_fixture() -> Daemon {
    assert!(
        repo()
            .join("tests/fixtures/conformance/node_modules/@modelcontextprotocol/sdk")
            .exists(),
        "fixture deps missing: run `bash tests/conformance/setup.sh` first"
    );
    let d = Daemon::start();
    d.create(json!({
        "name": NAME,
        "command": "node",
        "args": [repo().join("tests/fixtures/conformance/server.mjs").display().to_string()],
        "working_directory": repo().display().to_string(),
        "start": true,
    }))
    .await;
    d.wait_status(NAME, "running", Duration::from_secs(60))
        .await;
    d
}

/// `/metrics` parsed by prometheus_client: `(family name, type, [(sample name, labels,
/// value)])` per family, as JSON from the Python parser.
fn parse_prometheus(text: &str) -> Value {
    let py = common::deps().join("venv/bin/python");
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for fam in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": fam.name, "type": fam.type,
                "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in fam.samples]})
print(json.dumps(out))
"#;
    let mut child = std::process::Command::new(py)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().expect("parser");
    assert!(
        out.status.success(),
        "prometheus_client could not parse /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("parser output")
}

/// The value of the sample `name` whose labels include all of `labels`.
fn sample(families: &Value, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    families.as_array()?.iter().find_map(|f| {
        f["samples"].as_array()?.iter().find_map(|s| {
            (s["name"] == name
                && labels
                    .iter()
                    .all(|(k, v)| s["labels"][*k].as_str() == Some(*v)))
            .then(|| s["value"].as_f64())
            .flatten()
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_through_the_gateway_are_counted() {
    let d = daemon_with_fixture().await;
    let mut c = Client::new(&d, NAME);
    assert_eq!(c.initialize().await.status, 200);
    // Calls per tool: (tool, calls, of which errors).
    const OK: (&str, u64) = ("test_simple_text", 7);
    const TOOL_ERROR: (&str, u64) = ("test_error_handling", 4);
    const UNKNOWN: (&str, u64) = ("no_such_tool", 3);
    let mut id = 1;
    for (tool, n) in [OK, TOOL_ERROR, UNKNOWN] {
        for _ in 0..n {
            let a = c.tool(id, tool, json!({})).await;
            assert_eq!(a["id"], id, "{a}");
            if tool == OK.0 {
                assert!(a["result"]["isError"] != true, "{a}");
            }
            if tool == TOOL_ERROR.0 {
                assert_eq!(a["result"]["isError"], true, "{a}");
            }
            if tool == UNKNOWN.0 {
                assert!(
                    a["error"].is_object() || a["result"]["isError"] == true,
                    "{a}"
                );
            }
            id += 1;
        }
    }
    // A tool name that needs escaping in the text format.
    const ODD: &str = "odd \"tool\" \\ name\nline";
    let a = c.tool(id, ODD, json!({})).await;
    assert!(
        a["error"].is_object() || a["result"]["isError"] == true,
        "{a}"
    );
    id += 1;
    // Other methods are counted per method.
    for _ in 0..2 {
        let a = c.call(id, "tools/list", json!({})).await;
        assert_eq!(a.status, 200, "{:?}", a.messages);
        let a = a.messages.last().expect("tools/list");
        assert!(a["result"]["tools"].is_array(), "{a}");
        id += 1;
    }

    // Prometheus text.
    let resp = d
        .http
        .get(format!("{}/metrics", d.url))
        .send()
        .await
        .expect("/metrics");
    assert_eq!(resp.status().as_u16(), 200);
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    let text = resp.text().await.expect("body");
    let fams = parse_prometheus(&text);
    let types: HashMap<String, String> = fams
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                f["type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (fam, kind) in [
        ("mcp_manager_tool_calls", "counter"),
        ("mcp_manager_tool_errors", "counter"),
        ("mcp_manager_tool_call_duration_seconds", "histogram"),
        ("mcp_manager_server_state", "gauge"),
        ("mcp_manager_server_healthy", "gauge"),
        ("mcp_manager_server_restarts", "counter"),
        ("mcp_manager_log_lines_stored", "counter"),
        ("mcp_manager_log_lines_dropped", "counter"),
    ] {
        assert_eq!(
            types.get(fam).map(String::as_str),
            Some(kind),
            "{fam} in:\n{text}"
        );
    }
    for (tool, n) in [OK, TOOL_ERROR, UNKNOWN] {
        let l = [("server", NAME), ("tool", tool)];
        let calls = sample(&fams, "mcp_manager_tool_calls_total", &l);
        assert_eq!(calls, Some(n as f64), "calls of {tool}:\n{text}");
        let errors = sample(&fams, "mcp_manager_tool_errors_total", &l);
        let want = if tool == OK.0 { 0 } else { n };
        assert_eq!(errors, Some(want as f64), "errors of {tool}:\n{text}");
        let count = sample(&fams, "mcp_manager_tool_call_duration_seconds_count", &l);
        assert_eq!(count, Some(n as f64), "histogram count of {tool}");
        let inf = sample(
            &fams,
            "mcp_manager_tool_call_duration_seconds_bucket",
            &[("server", NAME), ("tool", tool), ("le", "+Inf")],
        );
        assert_eq!(inf, Some(n as f64), "+Inf bucket of {tool}");
        let sum = sample(&fams, "mcp_manager_tool_call_duration_seconds_sum", &l).unwrap();
        assert!(sum > 0.0 && sum < 60.0 * n as f64, "sum {sum}");
        // Buckets are cumulative.
        let buckets: Vec<f64> = fams
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|f| f["samples"].as_array().unwrap().iter())
            .filter(|s| {
                s["name"] == "mcp_manager_tool_call_duration_seconds_bucket"
                    && s["labels"]["tool"] == tool
            })
            .map(|s| s["value"].as_f64().unwrap())
            .collect();
        assert!(buckets.len() > 10, "{buckets:?}");
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    }
    assert_eq!(
        sample(
            &fams,
            "mcp_manager_tool_calls_total",
            &[("server", NAME), ("tool", ODD)]
        ),
        Some(1.0),
        "escaped label:\n{text}"
    );
    assert_eq!(
        sample(
            &fams,
            "mcp_manager_server_state",
            &[("server", NAME), ("state", "running")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &fams,
            "mcp_manager_server_state",
            &[("server", NAME), ("state", "stopped")]
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &fams,
            "mcp_manager_server_restarts_total",
            &[("server", NAME)]
        ),
        Some(0.0)
    );

    // The JSON endpoint agrees.
    let (status, v) = d.get(&format!("/api/servers/{NAME}/metrics")).await;
    assert_eq!(status, 200, "{v}");
    let tools = v["data"]["tools"].as_array().expect("tools");
    for (tool, n) in [OK, TOOL_ERROR, UNKNOWN] {
        let t = tools
            .iter()
            .find(|t| t["name"] == tool)
            .unwrap_or_else(|| panic!("{tool} in {v}"));
        assert_eq!(t["calls"], n, "{t}");
        let want = if tool == OK.0 { 0 } else { n };
        assert_eq!(t["errors"], want, "{t}");
        let counts: u64 = t["bucket_counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .sum();
        assert_eq!(counts, n, "{t}");
        let (p50, p99) = (t["p50_seconds"].as_f64(), t["p99_seconds"].as_f64());
        assert!(p50.is_some_and(|p| p > 0.0) && p50 <= p99, "{t}");
        assert!(t["mean_seconds"].as_f64().is_some_and(|m| m > 0.0), "{t}");
    }
    assert_eq!(
        tools.iter().find(|t| t["name"] == TOOL_ERROR.0).unwrap()["tool_errors"],
        TOOL_ERROR.1
    );
    let list = v["data"]["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "tools/list")
        .cloned();
    assert_eq!(list.map(|m| m["calls"].clone()), Some(json!(2)), "{v}");

    // An unknown server: 404.
    assert_eq!(d.get("/api/servers/nope/metrics").await.0, 404);

    // A deleted server's counters go with it.
    assert_eq!(
        d.req("DELETE", &format!("/api/servers/{NAME}"), None)
            .await
            .0,
        200
    );
    let text = d
        .http
        .get(format!("{}/metrics", d.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let fams = parse_prometheus(&text);
    assert_eq!(
        sample(&fams, "mcp_manager_tool_calls_total", &[("server", NAME)]),
        None,
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_needs_the_token_when_there_is_one() {
    let d = Daemon::start_env(&[("MCP_MANAGER_TOKEN", "s3cret-token-for-metrics")]);
    let url = format!("{}/metrics", d.url);
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(status(d.http.get(&url).send().await.unwrap()), 401);
    assert_eq!(
        status(d.http.get(&url).bearer_auth("wrong").send().await.unwrap()),
        401
    );
    let resp = d
        .http
        .get(&url)
        .bearer_auth("s3cret-token-for-metrics")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.text().await.unwrap();
    let fams = parse_prometheus(&text);
    assert!(
        sample(&fams, "mcp_manager_log_lines_dropped_total", &[]).is_some(),
        "{text}"
    );
    // A foreign Host is refused as on /api.
    let resp = d
        .http
        .get(&url)
        .header("host", "evil.example")
        .bearer_auth("s3cret-token-for-metrics")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
}
