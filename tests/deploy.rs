//! The files in `deploy/`, exercised rather than only written:
//! - the container image, built from `deploy/docker/Dockerfile` on the base image
//!   `deploy/docker/build-base.sh` makes offline, serves the UI, runs a Python MCP server to
//!   `running`, and keeps that server and its logs across a restart and a new container on
//!   the same volume;
//! - `deploy/compose.yaml` passes the compose tool's `config`;
//! - both systemd units pass `systemd-analyze verify`, and the daemon sends READY=1 and
//!   STOPPING=1 (their `Type=notify`);
//! - the Kubernetes manifests validate against the Kubernetes schemas, offline.
//!
//! `.ci/setup.sh` (through `deploy/ci-setup.sh`) installs the tools and makes the base image;
//! a missing one fails the test with the fix, unless SKIP_DOCKER=1 (which skips that setup).

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BASE_IMAGE: &str = "mcp-manager-base/bookworm:latest";
/// The stdio fixture as an image (tests/images/build.sh), for a container server.
const FIXTURE_IMAGE: &str = "mcp-manager-test/py-fixture:latest";
const TOKEN: &str = "deploy-test-token-0123456789";

fn skip_docker() -> bool {
    std::env::var("SKIP_DOCKER").is_ok_and(|v| v == "1")
}

/// Whether the test can go on without `what`: it is present, or SKIP_DOCKER=1 said the
/// setup that installs it was skipped. Otherwise the test fails with the fix.
fn required(present: bool, what: &str) -> bool {
    if present {
        return true;
    }
    if skip_docker() {
        eprintln!("SKIP_DOCKER=1 and {what} is missing: test skipped");
        return false;
    }
    panic!("{what} is missing: run `bash .ci/setup.sh` (deploy/ci-setup.sh installs it)");
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn docker(args: &[&str]) -> Output {
    run(Command::new("docker").args(args))
}

/// `docker ...` that must succeed; its stdout, trimmed.
fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {} failed: {}",
        args.join(" "),
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Removes what the image test made (containers, then volumes, then images), pass or fail.
#[derive(Default)]
struct DockerCleanup {
    containers: Vec<String>,
    /// Server ids whose containers the daemon under test made.
    servers: Vec<String>,
    volumes: Vec<String>,
    images: Vec<String>,
}

impl Drop for DockerCleanup {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = docker(&["rm", "-f", "-v", c]);
        }
        for id in &self.servers {
            let filter = format!("label=mcp-manager.server={id}");
            let ids = docker(&["ps", "-aq", "--filter", &filter]);
            for c in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                let _ = docker(&["rm", "-f", "-v", c]);
            }
        }
        for v in &self.volumes {
            let _ = docker(&["volume", "rm", "-f", v]);
        }
        for i in &self.images {
            let _ = docker(&["rmi", "-f", i]);
        }
    }
}

/// The daemon in a container, reached through its published loopback port.
struct Remote {
    url: String,
    http: reqwest::Client,
}

impl Remote {
    /// The host port the container's 7070 is published on (it changes across restarts).
    fn of(container: &str) -> Remote {
        let port = docker_ok(&["port", container, "7070/tcp"]);
        let addr = port
            .lines()
            .find(|l| l.starts_with("127.0.0.1:"))
            .unwrap_or_else(|| panic!("7070 not published on 127.0.0.1: {port:?}"));
        Remote {
            url: format!("http://{addr}"),
            http: reqwest::Client::new(),
        }
    }

    async fn req(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut r = self
            .http
            .request(m, format!("{}{path}", self.url))
            .bearer_auth(TOKEN);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// Waits for `/readyz` to answer 200; shows the container's output if it never does.
    async fn wait_ready(&self, container: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self.http.get(format!("{}/readyz", self.url)).send().await
                && r.status().as_u16() == 200
            {
                return;
            }
            if Instant::now() > deadline {
                let logs = text(&docker(&["logs", "--tail", "50", container]));
                panic!("{container}: /readyz did not answer 200 within 60 s; logs:\n{logs}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn wait_status(&self, name: &str, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (s, v) = self.req("GET", &format!("/api/servers/{name}"), None).await;
            assert_eq!(s, 200, "{v}");
            if v["data"]["status"] == status {
                return v["data"].clone();
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {name} to be {status}; last: {v}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn log_messages(&self, name: &str) -> Vec<String> {
        let (s, v) = self
            .req("GET", &format!("/api/servers/{name}/logs?limit=5000"), None)
            .await;
        assert_eq!(s, 200, "{v}");
        v["data"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|l| l["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

fn starts(messages: &[String]) -> usize {
    messages
        .iter()
        .filter(|m| m.contains("mcp-fixture-py started"))
        .count()
}

#[tokio::test]
async fn the_image_runs_a_python_server_and_keeps_it_and_its_logs_across_restarts() {
    if !required(docker(&["info"]).status.success(), "a Docker engine") {
        return;
    }
    if !required(
        docker(&["image", "inspect", BASE_IMAGE]).status.success(),
        "the base image (deploy/docker/build-base.sh)",
    ) {
        return;
    }
    let unique = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    let image = format!("mcp-manager-test/deploy:{unique}");
    let volume = format!("mcp-manager-test-deploy-{unique}");
    let (first, second) = (
        format!("mcp-manager-test-deploy-{unique}-a"),
        format!("mcp-manager-test-deploy-{unique}-b"),
    );
    let mut cleanup = DockerCleanup::default();

    // The build context is the binary alone, as docs/deploy.md says; no network, since CI's
    // base already has every tool.
    let ctx = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        env!("CARGO_BIN_EXE_mcp-manager"),
        ctx.path().join("mcp-manager"),
    )
    .expect("copy the binary");
    cleanup.images.push(image.clone());
    let dockerfile = repo().join("deploy/docker/Dockerfile");
    let t0 = Instant::now();
    docker_ok(&[
        "build",
        // No container left behind when a step fails.
        "--force-rm",
        "--network",
        "none",
        "--build-arg",
        &format!("BASE={BASE_IMAGE}"),
        "-t",
        &image,
        "-f",
        dockerfile.to_str().expect("utf-8 path"),
        ctx.path().to_str().expect("utf-8 path"),
    ]);
    eprintln!("image built in {:.1} s", t0.elapsed().as_secs_f64());
    let config: Value = serde_json::from_str(&docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config}}",
        &image,
    ]))
    .expect("image config");
    assert_eq!(config["User"], "10001:10001", "{config}");
    assert!(config["Volumes"].get("/data").is_some(), "{config}");
    assert!(config["Healthcheck"]["Test"].is_array(), "{config}");

    // Container servers: the local engine's socket, usable by the non-root daemon through
    // the socket's group (docs/deploy.md's --group-add). Not with a remote DOCKER_HOST.
    let socket = Path::new("/var/run/docker.sock");
    let socket_gid = match std::env::var_os("DOCKER_HOST") {
        None => {
            use std::os::unix::fs::MetadataExt;
            let meta = std::fs::metadata(socket).expect("/var/run/docker.sock");
            Some(meta.gid().to_string())
        }
        Some(host) => {
            eprintln!("DOCKER_HOST={host:?}: the socket mount is not tested");
            None
        }
    };

    cleanup.volumes.push(volume.clone());
    docker_ok(&["volume", "create", &volume]);
    let run_container = |name: &str, cleanup: &mut DockerCleanup| {
        cleanup.containers.push(name.to_string());
        let data = format!("{volume}:/data");
        let token = format!("MCP_MANAGER_TOKEN={TOKEN}");
        let mut args = vec!["run", "-d", "--name", name, "-p", "127.0.0.1::7070"];
        args.extend(["-v", &data, "-e", &token]);
        // The image's own HEALTHCHECK command, checked sooner than its 30 s interval.
        args.extend(["--health-interval", "1s"]);
        if let Some(gid) = &socket_gid {
            args.extend(["-v", "/var/run/docker.sock:/var/run/docker.sock"]);
            args.extend(["--group-add", gid]);
        }
        args.push(&image);
        docker_ok(&args);
    };
    run_container(&first, &mut cleanup);
    let d = Remote::of(&first);
    d.wait_ready(&first).await;

    // The embedded UI, without a token (only /api/ needs one); the API refuses without it.
    let ui = d.http.get(&d.url).send().await.expect("GET /");
    assert_eq!(ui.status().as_u16(), 200);
    let ctype = ui
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let html = ui.text().await.expect("body");
    assert!(ctype.starts_with("text/html"), "{ctype}");
    assert!(
        html.contains("<div id=\"root\">") && html.contains("<title>mcp-manager</title>"),
        "{html}"
    );
    let anonymous = d
        .http
        .get(format!("{}/api/servers", d.url))
        .send()
        .await
        .expect("GET /api/servers");
    assert_eq!(anonymous.status().as_u16(), 401);

    // The tools npm and PyPI servers need, as the non-root user.
    let tools = docker_ok(&[
        "exec",
        &first,
        "sh",
        "-c",
        "id -u; node --version; npx --version; python3 --version; uv --version; uvx --version",
    ]);
    assert!(tools.starts_with("10001\n"), "{tools}");
    assert_eq!(tools.lines().count(), 6, "{tools}");
    let (s, v) = d.req("GET", "/api/system", None).await;
    assert_eq!(s, 200, "{v}");
    for tool in ["node", "npx", "python3", "uv", "uvx"] {
        assert!(v["data"]["runtimes"][tool].is_string(), "no {tool}: {v}");
    }

    // A container server, through the mounted socket.
    if socket_gid.is_some() {
        assert_eq!(v["data"]["docker"]["reachable"], true, "{v}");
        assert!(
            docker(&["image", "inspect", FIXTURE_IMAGE])
                .status
                .success(),
            "{FIXTURE_IMAGE} is missing: run `bash .ci/setup.sh` (tests/images/build.sh)"
        );
        let (s, v) = d
            .req(
                "POST",
                "/api/servers",
                Some(json!({
                    "name": "ct", "type": "container", "image": FIXTURE_IMAGE,
                    "stop_grace_secs": 3, "start": true,
                })),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        cleanup
            .servers
            .push(v["data"]["id"].as_str().unwrap_or_default().to_string());
        d.wait_status("ct", "running").await;
        let (s, v) = d.req("DELETE", "/api/servers/ct", None).await;
        assert_eq!(s, 200, "{v}");
    }

    // The fixture goes into the volume, as a user's own server script would.
    docker_ok(&[
        "cp",
        &repo()
            .join("tests/fixtures/mcp_fixture.py")
            .display()
            .to_string(),
        &format!("{first}:/data/mcp_fixture.py"),
    ]);
    let (s, v) = d
        .req(
            "POST",
            "/api/servers",
            Some(json!({
                "name": "py", "command": "python3",
                "args": ["/data/mcp_fixture.py", "--stderr-lines", "2"],
                "start": true,
            })),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let before = d.wait_status("py", "running").await;
    let (s, v) = d
        .req(
            "POST",
            "/api/servers/py/tools/echo/call",
            Some(json!({"arguments": {"message": "in a container"}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(v.to_string().contains("Echo: in a container"), "{v}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while starts(&d.log_messages("py").await) < 1 {
        assert!(
            Instant::now() < deadline,
            "the fixture's start line never logged"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Docker's HEALTHCHECK (bash's /dev/tcp on /readyz) says healthy.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = docker_ok(&["inspect", "--format", "{{.State.Health.Status}}", &first]);
        if health == "healthy" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "container health is {health:?}: {}",
            docker_ok(&["inspect", "--format", "{{json .State.Health}}", &first])
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // A restart of the container: the daemon stops the server on SIGTERM (through tini)
    // and brings it back from the volume.
    docker_ok(&["restart", "-t", "30", &first]);
    let d = Remote::of(&first);
    d.wait_ready(&first).await;
    let after = d.wait_status("py", "running").await;
    assert_eq!(after["id"], before["id"], "{after}");
    assert!(after["process_id"].as_i64().is_some(), "{after}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while starts(&d.log_messages("py").await) < 2 {
        assert!(
            Instant::now() < deadline,
            "the first run's log and the second run's start are not both there: {:?}",
            d.log_messages("py").await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // An upgrade: the container replaced by a new one on the same volume.
    docker_ok(&["stop", "-t", "30", &first]);
    docker_ok(&["rm", &first]);
    run_container(&second, &mut cleanup);
    let d = Remote::of(&second);
    d.wait_ready(&second).await;
    let again = d.wait_status("py", "running").await;
    assert_eq!(again["id"], before["id"], "{again}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while starts(&d.log_messages("py").await) < 3 {
        assert!(
            Instant::now() < deadline,
            "logs lost with the container: {:?}",
            d.log_messages("py").await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(cleanup);
}

/// `docker compose` (v2 plugin) when it answers, else Debian's `docker-compose`.
fn compose_command() -> Option<Vec<&'static str>> {
    let ok = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if ok("docker", &["compose", "version"]) {
        Some(vec!["docker", "compose"])
    } else if ok("docker-compose", &["version"]) {
        Some(vec!["docker-compose"])
    } else {
        None
    }
}

#[test]
fn the_compose_tool_accepts_the_compose_file_and_requires_a_token() {
    let compose = compose_command();
    if !required(
        compose.is_some(),
        "a compose tool (docker compose or docker-compose)",
    ) {
        return;
    }
    let compose = compose.expect("checked");
    let file = repo().join("deploy/compose.yaml");
    let config = |token: Option<&str>| {
        let mut cmd = Command::new(compose[0]);
        cmd.args(&compose[1..])
            .arg("-f")
            .arg(&file)
            .args(["-p", "mcp-manager", "config"])
            .env_remove("MCP_MANAGER_TOKEN")
            .env_remove("MCP_MANAGER_PORT")
            .env_remove("MCP_MANAGER_IMAGE")
            .env("DOCKER_GID", "4242");
        if let Some(t) = token {
            cmd.env("MCP_MANAGER_TOKEN", t);
        }
        run(&mut cmd)
    };
    let out = config(Some("compose-test-token"));
    let shown = text(&out);
    assert!(out.status.success(), "compose config failed: {shown}");
    for needle in [
        "compose-test-token",
        "127.0.0.1",
        "7070",
        "/var/run/docker.sock",
        "/data",
        "4242",
    ] {
        assert!(shown.contains(needle), "{needle} missing from:\n{shown}");
    }
    // Without a token the daemon would refuse to start on 0.0.0.0: compose says so first.
    let out = config(None);
    assert!(!out.status.success(), "accepted without a token");
    assert!(text(&out).contains("MCP_MANAGER_TOKEN"), "{}", text(&out));
}

/// `systemd-analyze verify` of a copy of `unit` whose ExecStart runs the binary under test
/// (verify fails when the command does not exist, and the unit's real path is an install
/// path). systemd reports bad settings as warnings with exit code 0, so any line naming
/// the unit fails too.
fn verify_unit(unit: &Path, user: bool) -> Result<(), String> {
    let text_in = std::fs::read_to_string(unit).map_err(|e| e.to_string())?;
    let exec: Vec<&str> = text_in
        .lines()
        .filter(|l| l.starts_with("ExecStart="))
        .collect();
    if exec.len() != 1 || !exec[0].ends_with("/mcp-manager serve") {
        return Err(format!(
            "expected one ExecStart=…/mcp-manager serve, got {exec:?}"
        ));
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let name = unit.file_name().and_then(|n| n.to_str()).unwrap_or("x");
    let copy = dir.path().join(name);
    let rewritten: String = text_in
        .lines()
        .map(|l| {
            if l.starts_with("ExecStart=") {
                format!("ExecStart={} serve\n", env!("CARGO_BIN_EXE_mcp-manager"))
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&copy, rewritten).map_err(|e| e.to_string())?;
    let mut cmd = Command::new("systemd-analyze");
    if user {
        // A user manager needs a runtime dir; CI runs as root without a login session.
        let runtime = dir.path().join("runtime");
        std::fs::create_dir(&runtime).map_err(|e| e.to_string())?;
        cmd.arg("--user").env("XDG_RUNTIME_DIR", &runtime);
    }
    let out = run(cmd.arg("verify").arg(&copy));
    let shown = text(&out);
    let stem = name.trim_end_matches(".service");
    if !out.status.success() || shown.lines().any(|l| l.contains(stem)) {
        return Err(format!(
            "systemd-analyze verify {name} (exit {:?}):\n{shown}",
            out.status.code()
        ));
    }
    Ok(())
}

#[test]
fn systemd_analyze_verifies_both_units() {
    let present = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !required(present, "systemd-analyze (Debian's systemd package)") {
        return;
    }
    let dir = repo().join("deploy/systemd");
    let system = dir.join("mcp-manager.service");
    let user = dir.join("mcp-manager-user.service");
    verify_unit(&system, false).unwrap_or_else(|e| panic!("{e}"));
    verify_unit(&user, true).unwrap_or_else(|e| panic!("{e}"));

    let s = std::fs::read_to_string(&system).expect("unit");
    for line in [
        "Type=notify",
        "KillMode=mixed",
        "Restart=on-failure",
        "StateDirectory=mcp-manager",
        "Environment=MCP_MANAGER_DATA_DIR=%S/mcp-manager",
    ] {
        assert!(s.lines().any(|l| l == line), "{line} missing");
    }
    // node's JIT needs W+X memory: this setting would break every npx server.
    assert!(!s.contains("\nMemoryDenyWriteExecute=yes"));
    let u = std::fs::read_to_string(&user).expect("unit");
    for line in ["Type=notify", "KillMode=mixed", "Restart=on-failure"] {
        assert!(u.lines().any(|l| l == line), "{line} missing (user unit)");
    }

    // The check catches a broken unit (a bad value is only a warning to systemd).
    let tmp = tempfile::tempdir().expect("tempdir");
    let broken = tmp.path().join("mcp-manager.service");
    std::fs::write(&broken, s.replace("KillMode=mixed", "KillMode=bogus")).expect("write");
    assert!(
        verify_unit(&broken, false).is_err(),
        "a bad KillMode passed"
    );
}

#[tokio::test]
async fn the_daemon_tells_systemd_when_it_is_ready_and_when_it_stops() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("notify");
    let socket = std::os::unix::net::UnixDatagram::bind(&path).expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut d = Daemon::start_env(&[("NOTIFY_SOCKET", path.to_str().expect("utf-8"))]);
    let mut buf = [0u8; 256];
    let n = socket.recv(&mut buf).expect("READY=1 within 20 s");
    assert_eq!(String::from_utf8_lossy(&buf[..n]), "READY=1");
    let (status, v) = d.get("/readyz").await;
    assert_eq!(status, 200, "READY=1 sent before /readyz answers: {v}");
    d.stop();
    let n = socket.recv(&mut buf).expect("STOPPING=1");
    assert_eq!(String::from_utf8_lossy(&buf[..n]), "STOPPING=1");
}

fn kubernetes_validate() -> Option<PathBuf> {
    let venv = repo().join(".deps/deploy-venv/bin/kubernetes-validate");
    if venv.exists() {
        return Some(venv);
    }
    Command::new("kubernetes-validate")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        .then(|| PathBuf::from("kubernetes-validate"))
}

fn validate(tool: &Path, file: &Path) -> Result<String, String> {
    let out = run(Command::new(tool).arg("--strict").arg(file));
    let shown = text(&out);
    if out.status.success() && shown.contains("passed") && !shown.contains("WARN") {
        Ok(shown)
    } else {
        Err(shown)
    }
}

#[test]
fn the_kubernetes_manifests_validate_against_the_schemas_offline() {
    let tool = kubernetes_validate();
    if !required(tool.is_some(), "kubernetes-validate (.deps/deploy-venv)") {
        return;
    }
    let tool = tool.expect("checked");
    let dir = repo().join("deploy/kubernetes");
    let mut manifests: Vec<String> = std::fs::read_dir(&dir)
        .expect("deploy/kubernetes")
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
        .collect();
    manifests.sort();
    assert_eq!(
        manifests,
        ["secret.yaml", "service.yaml", "statefulset.yaml"],
        "manifests changed: update this test and kustomization.yaml"
    );
    let mut kinds = String::new();
    for m in &manifests {
        let shown = validate(&tool, &dir.join(m)).unwrap_or_else(|e| panic!("{m}: {e}"));
        kinds.push_str(&shown);
    }
    for kind in ["secret/", "service/", "statefulset/"] {
        assert!(kinds.contains(kind), "no {kind} validated:\n{kinds}");
    }

    // kustomize's own file has no Kubernetes schema: it must list every manifest.
    let k = std::fs::read_to_string(dir.join("kustomization.yaml")).expect("kustomization");
    let listed: Vec<&str> = k
        .split("\nresources:\n")
        .nth(1)
        .expect("resources:")
        .lines()
        .take_while(|l| l.starts_with("  - "))
        .map(|l| l.trim_start_matches("  - ").trim())
        .collect();
    assert_eq!(listed, manifests);

    // The probes are the daemon's own endpoints, the token comes from the Secret.
    let s = std::fs::read_to_string(dir.join("statefulset.yaml")).expect("statefulset");
    for needle in [
        "replicas: 1",
        "path: /healthz",
        "path: /readyz",
        "name: mcp-manager-token",
    ] {
        assert!(s.contains(needle), "{needle} missing from statefulset.yaml");
    }

    // The validation is real: a misspelt field fails.
    let tmp = tempfile::tempdir().expect("tempdir");
    let broken = tmp.path().join("statefulset.yaml");
    std::fs::write(&broken, s.replace("timeoutSeconds:", "timeoutSecs:")).expect("write");
    assert!(validate(&tool, &broken).is_err(), "a misspelt field passed");
}
