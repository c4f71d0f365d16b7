//! The servers file of `serve --config FILE`: an `mcpServers` JSON (Claude Desktop, Cursor,
//! VS Code's `servers`) plus our own fields, turned into server definitions and applied to
//! the store at start, the way `docker compose up` applies a compose file.
//!
//! It owns nothing at run time and has nothing to shut down: [`load`] reads and checks the
//! whole file in `main` (any problem ends `serve` with exit code 2 before the store is
//! opened), and [`plan`] decides, as a pure function of the file and the stored servers,
//! what the daemon writes in one transaction before the registry loads, so before any
//! desired state is restored. On SIGHUP the daemon calls [`load`] again and hands each
//! entry to its server's actor (`crate::daemon`), which owns the running definition. The mapping of the clients' fields agrees with the UI's
//! import (`frontend/src/features/servers/import-model.ts`); docs/servers-file.md says what
//! each field means and why a definition is replaced rather than merged.

use crate::model::{DesiredState, ServerCreate, ServerRecord, ServerType};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// A servers file, read and checked as a whole.
#[derive(Debug)]
pub struct ServersFile {
    pub path: PathBuf,
    pub servers: Vec<FileServer>,
}

/// One entry of the file.
#[derive(Debug, Clone)]
pub struct FileServer {
    /// The key in the file (the name, unless it had to be made valid).
    pub key: String,
    pub create: ServerCreate,
    /// What the entry says about running: `autostart`/`start` true or false, or `disabled`.
    /// `None` says nothing: a new server starts, an existing one keeps its desired state.
    pub desired: Option<DesiredState>,
}

/// Reads and checks `path`; `${VAR}` is expanded from this process's environment.
pub fn load(path: &Path) -> Result<ServersFile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read servers file {}: {e}", path.display()))?;
    let servers = parse(&text, &|name| std::env::var(name).ok())
        .map_err(|e| format!("servers file {}: {e}", path.display()))?;
    Ok(ServersFile {
        path: path.to_path_buf(),
        servers,
    })
}

/// The file's entries, each mapped and validated as a create would be; the first problem
/// is an error naming the server and the field.
pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<FileServer>, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let Value::Object(doc) = doc else {
        return Err("expected a JSON object with an \"mcpServers\" (or \"servers\") key".into());
    };
    // Claude Desktop and Cursor write `mcpServers`, VS Code's mcp.json `servers`, its
    // settings.json `mcp.servers`. Other top-level keys belong to the client and are left
    // alone, so a client's own config file can be used as it is.
    let map = doc
        .get("mcpServers")
        .or_else(|| doc.get("servers"))
        .or_else(|| doc.get("mcp").and_then(|m| m.get("servers")));
    let Some(map) = map else {
        return Err("no \"mcpServers\" (or VS Code \"servers\") object found".into());
    };
    let Value::Object(map) = map else {
        return Err("\"mcpServers\" must be an object of servers by name".into());
    };
    let mut names = HashSet::new();
    let mut servers = Vec::with_capacity(map.len());
    for (key, value) in map {
        let server = entry(key, value, env).map_err(|e| format!("server {key:?}: {e}"))?;
        if !names.insert(server.create.name.clone()) {
            return Err(format!(
                "server {key:?}: another entry is also named {:?}",
                server.create.name
            ));
        }
        servers.push(server);
    }
    Ok(servers)
}

/// Makes a key a valid name the way the UI's import does: runs of other characters become
/// `-`, leading non-alphanumerics go, at most 64 characters.
pub fn sanitize_name(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut replacing = false;
    for c in key.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            out.push(c);
            replacing = false;
        } else if !replacing {
            out.push('-');
            replacing = true;
        }
    }
    out.trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .chars()
        .take(64)
        .collect()
}

/// The UI's type inference: what runs the command says what kind of server it is.
pub fn type_for_command(command: &str) -> ServerType {
    let base = command.rsplit('/').next().unwrap_or(command);
    match base {
        "npx" | "node" | "npm" | "pnpm" | "bunx" | "yarn" => ServerType::Nodejs,
        "uvx" | "uv" | "python" | "python3" | "pipx" => ServerType::Python,
        b if b
            .strip_prefix("python3.")
            .is_some_and(|v| !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit())) =>
        {
            ServerType::Python
        }
        _ => ServerType::Process,
    }
}

/// Fields whose strings may hold `${VAR}`.
const EXPANDED: [&str; 8] = [
    "command",
    "args",
    "env",
    "secret_env",
    "cwd",
    "working_directory",
    "url",
    "serverUrl",
];

fn entry(
    key: &str,
    value: &Value,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<FileServer, String> {
    let Value::Object(fields) = value else {
        return Err("expected an object with \"command\" or \"url\"".into());
    };
    let mut m = fields.clone();
    if m.contains_key("name") {
        return Err("unknown field `name`: the entry's key is its name".into());
    }
    for field in EXPANDED {
        if let Some(v) = m.get_mut(field) {
            expand_value(v, env).map_err(|e| format!("`{field}`: {e}"))?;
        }
    }
    let desired = desired(&mut m)?;

    let client_type = take_string(&mut m, "type")?;
    let url = match (
        take_string(&mut m, "url")?,
        take_string(&mut m, "serverUrl")?,
    ) {
        (Some(_), Some(_)) => return Err("both `url` and `serverUrl`: give one".into()),
        (a, b) => a.or(b).map(|u| u.trim().to_string()),
    };
    if let Some(cwd) = m.remove("cwd") {
        if m.contains_key("working_directory") {
            return Err("both `cwd` and `working_directory`: give one".into());
        }
        m.insert("working_directory".into(), cwd);
    }
    if let Some(headers) = m.remove("headers")
        && !matches!(&headers, Value::Object(h) if h.is_empty())
    {
        return Err(
            "`headers` are not supported yet (a remote server is reached without extra headers)"
                .into(),
        );
    }
    if let Some(Value::Array(items)) = m.get_mut("args") {
        // Numbers are taken as their text, like the UI's import does.
        for a in items.iter_mut() {
            if let Value::Number(n) = a {
                *a = Value::String(n.to_string());
            }
        }
    }
    if let Some(Value::Object(vars)) = m.get_mut("env") {
        // Clients write `"PORT": 8080`; a variable's value is text.
        for v in vars.values_mut() {
            if !v.is_string() {
                *v = Value::String(v.to_string());
            }
        }
    }
    let command = m
        .get("command")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let kind = match client_type.as_deref() {
        Some(t @ ("http" | "sse" | "streamable-http" | "streamableHttp")) => {
            if url.is_none() {
                return Err(format!("type {t:?} needs a `url`"));
            }
            if command.is_some() {
                return Err(format!(
                    "type {t:?} is a server at a `url`; a `command` is run over stdio"
                ));
            }
            ServerType::Remote
        }
        Some("stdio") | None => {
            if m.get("image").is_some() {
                ServerType::Container
            } else if let Some(c) = command {
                type_for_command(c)
            } else if url.is_some() {
                ServerType::Remote
            } else {
                return Err("has neither `command` nor `url`".into());
            }
        }
        Some(t) => ServerType::parse(t).ok_or_else(|| {
            format!(
                "unknown type {t:?} (stdio, http, sse, or one of ours: process, nodejs, \
                 python, container, remote)"
            )
        })?,
    };
    if let Some(c) = command {
        m.insert("command".into(), Value::String(c.to_string()));
    }
    if let Some(url) = url {
        m.insert("url".into(), Value::String(url));
    }
    let name = sanitize_name(key);
    m.insert("name".into(), Value::String(name));
    m.insert("type".into(), Value::String(kind.as_str().into()));
    let create: ServerCreate = serde_json::from_value(Value::Object(m)).map_err(|e| {
        // serde's message names the field and lists the known ones.
        e.to_string()
    })?;
    ServerRecord::from_create(create.clone(), Utc::now()).map_err(|e| e.to_string())?;
    Ok(FileServer {
        key: key.to_string(),
        create,
        desired,
    })
}

/// Takes `disabled` (Cursor, Cline), `autostart` and `start` out of the entry.
fn desired(m: &mut Map<String, Value>) -> Result<Option<DesiredState>, String> {
    let mut flag = |field: &str| -> Result<Option<bool>, String> {
        match m.remove(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(v) => Err(format!("`{field}` must be true or false, got {v}")),
        }
    };
    let disabled = flag("disabled")?;
    let autostart = match (flag("autostart")?, flag("start")?) {
        (Some(a), Some(b)) if a != b => {
            return Err("`autostart` and `start` disagree".into());
        }
        (a, b) => a.or(b),
    };
    match (disabled, autostart) {
        (Some(true), Some(true)) => Err("`disabled` and `autostart` both set".into()),
        (Some(true), _) | (_, Some(false)) => Ok(Some(DesiredState::Stopped)),
        (_, Some(true)) => Ok(Some(DesiredState::Running)),
        _ => Ok(None),
    }
}

fn take_string(m: &mut Map<String, Value>, field: &str) -> Result<Option<String>, String> {
    match m.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(format!("`{field}` must be a string, got {v}")),
    }
}

/// Expands `${VAR}` and `${VAR:-default}` in every string of `v` (as Claude Code does for
/// its `.mcp.json`). A variable that is not set and has no default is an error, so a
/// missing secret is found at start rather than by a server failing later.
fn expand_value(v: &mut Value, env: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
    match v {
        Value::String(s) => *s = expand(s, env)?,
        Value::Array(items) => {
            for i in items {
                expand_value(i, env)?;
            }
        }
        Value::Object(map) => {
            for i in map.values_mut() {
                expand_value(i, env)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// `${VAR}` / `${VAR:-default}` in `s`; `$` anywhere else is kept as it is.
pub fn expand(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!("unclosed `${{` in {s:?}"));
        };
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "`${{{inner}}}` is not an environment variable (only ${{VAR}} and \
                 ${{VAR:-default}} are expanded)"
            ));
        }
        match (env(name), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => {
                return Err(format!(
                    "${{{name}}} is not set in the daemon's environment (give a default with \
                     ${{{name}:-value}})"
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// What happens to one server when the file is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// In the file, not in the store.
    Created,
    /// In both, with a different definition: replaced by the file's.
    Updated,
    /// In both, the same definition; at most its desired state changed.
    Unchanged,
    /// In the store, not in the file: left alone (compose without `--remove-orphans`).
    NotInFile,
}

/// The store after the file is applied, and what to write to get there.
#[derive(Debug)]
pub struct Plan {
    /// Every server, as the registry will load it.
    pub records: Vec<ServerRecord>,
    /// Indexes into `records` of rows to insert.
    pub inserts: Vec<usize>,
    /// Indexes into `records` of rows to update (definition or desired state).
    pub updates: Vec<usize>,
    /// Each server's name and outcome, in the file's order, then the ones not in it.
    pub outcomes: Vec<(String, Outcome)>,
}

/// Matches the file's servers with the stored ones by name. A definition that differs
/// replaces the stored one (`updated_at = now`); one that does not leaves the row as it is.
pub fn plan(
    file: &[FileServer],
    existing: Vec<ServerRecord>,
    now: DateTime<Utc>,
) -> Result<Plan, String> {
    let mut records = existing;
    let mut inserts = vec![];
    let mut updates = vec![];
    let mut outcomes = vec![];
    let mut in_file = HashSet::new();
    for server in file {
        let wanted = ServerRecord::from_create(server.create.clone(), now)
            .map_err(|e| format!("server {:?}: {e}", server.key))?;
        in_file.insert(wanted.name.clone());
        match records.iter().position(|r| r.name == wanted.name) {
            None => {
                let mut rec = wanted;
                rec.desired_state = server.desired.unwrap_or(DesiredState::Running);
                outcomes.push((rec.name.clone(), Outcome::Created));
                inserts.push(records.len());
                records.push(rec);
            }
            Some(i) => {
                let current = &records[i];
                let same = current.same_definition(&wanted);
                let mut rec = if same {
                    current.clone()
                } else {
                    current.redefined(&wanted, now)
                };
                let desired = server.desired.unwrap_or(current.desired_state);
                let moved = desired != current.desired_state;
                rec.desired_state = desired;
                outcomes.push((
                    rec.name.clone(),
                    if same {
                        Outcome::Unchanged
                    } else {
                        Outcome::Updated
                    },
                ));
                if !same || moved {
                    updates.push(i);
                }
                records[i] = rec;
            }
        }
    }
    for r in &records {
        if !in_file.contains(&r.name) {
            outcomes.push((r.name.clone(), Outcome::NotInFile));
        }
    }
    Ok(Plan {
        records,
        inserts,
        updates,
        outcomes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cret".into()),
            "HOME" => Some("/home/u".into()),
            _ => None,
        }
    }

    fn one(entry: Value) -> Result<FileServer, String> {
        let text = serde_json::json!({"mcpServers": {"s": entry}}).to_string();
        parse(&text, &env).map(|mut v| v.remove(0))
    }

    #[test]
    fn the_clients_shapes_map_like_the_ui_import() {
        let s = one(
            serde_json::json!({"command": "npx", "args": ["-y", "pkg", 3], "env": {"PORT": 8080}}),
        )
        .unwrap();
        assert_eq!(s.create.kind, ServerType::Nodejs);
        assert_eq!(s.create.args, ["-y", "pkg", "3"]);
        assert_eq!(s.create.env["PORT"], "8080");
        assert_eq!(s.desired, None);
        let s = one(serde_json::json!({"command": "/usr/bin/python3.12", "cwd": "/tmp"})).unwrap();
        assert_eq!(s.create.kind, ServerType::Python);
        assert_eq!(s.create.working_directory.as_deref(), Some("/tmp"));
        assert_eq!(
            one(serde_json::json!({"command": "uvx", "args": ["mcp-server-time"]}))
                .unwrap()
                .create
                .kind,
            ServerType::Python
        );
        assert_eq!(
            one(serde_json::json!({"command": "docker", "args": ["run", "-i", "x"]}))
                .unwrap()
                .create
                .kind,
            ServerType::Process
        );
        let r = one(serde_json::json!({"url": "https://example.com/mcp"})).unwrap();
        assert_eq!(r.create.kind, ServerType::Remote);
        let r = one(serde_json::json!({"type": "http", "url": "http://127.0.0.1:1/mcp"})).unwrap();
        assert_eq!(r.create.kind, ServerType::Remote);
        let r = one(serde_json::json!({"serverUrl": "http://h/mcp", "headers": {}})).unwrap();
        assert_eq!(r.create.url.as_deref(), Some("http://h/mcp"));
        let c = one(serde_json::json!({"image": "mcp/fetch", "memory_mb": 64})).unwrap();
        assert_eq!(c.create.kind, ServerType::Container);
        // VS Code's file, and its settings form.
        let text = r#"{"servers": {"t": {"type": "stdio", "command": "uvx", "args": ["x"]}}}"#;
        assert_eq!(
            parse(text, &env).unwrap()[0].create.kind,
            ServerType::Python
        );
        let text = r#"{"mcp": {"servers": {"t": {"command": "x"}}}, "editor.fontSize": 14}"#;
        assert_eq!(parse(text, &env).unwrap()[0].create.name, "t");
    }

    #[test]
    fn our_own_fields_and_the_desired_state() {
        let s = one(serde_json::json!({
            "command": "x", "restart_policy": "always", "exposed": false,
            "tools": {"deny": ["rm*"]}, "health": {"interval_secs": 5},
            "secret_env": {"KEY": "${TOKEN}"}, "autostart": true
        }))
        .unwrap();
        assert!(!s.create.tools.allows("rm"));
        assert_eq!(s.create.secret_env["KEY"], "s3cret");
        assert_eq!(s.desired, Some(DesiredState::Running));
        for (entry, want) in [
            (
                serde_json::json!({"command": "x", "disabled": true}),
                Some(DesiredState::Stopped),
            ),
            (serde_json::json!({"command": "x", "disabled": false}), None),
            (
                serde_json::json!({"command": "x", "start": false}),
                Some(DesiredState::Stopped),
            ),
        ] {
            assert_eq!(one(entry.clone()).unwrap().desired, want, "{entry}");
        }
    }

    #[test]
    fn problems_name_the_server_and_the_field() {
        for (entry, needle) in [
            (
                serde_json::json!({"command": "x", "comand": "y"}),
                "unknown field `comand`",
            ),
            (serde_json::json!({"command": "x", "name": "y"}), "`name`"),
            (
                serde_json::json!({"args": ["x"]}),
                "neither `command` nor `url`",
            ),
            (
                serde_json::json!({"type": "http", "command": "x", "url": "http://h"}),
                "`command`",
            ),
            (serde_json::json!({"type": "sse"}), "needs a `url`"),
            (
                serde_json::json!({"type": "grpc", "command": "x"}),
                "unknown type",
            ),
            (
                serde_json::json!({"url": "http://h", "headers": {"A": "b"}}),
                "`headers`",
            ),
            (
                serde_json::json!({"command": "x", "env": {"A": "${NOPE}"}}),
                "${NOPE} is not set",
            ),
            (
                serde_json::json!({"command": "x", "args": ["${input:key}"]}),
                "`args`",
            ),
            (
                serde_json::json!({"command": "x", "cwd": "rel"}),
                "absolute",
            ),
            (
                serde_json::json!({"command": "x", "disabled": "yes"}),
                "`disabled`",
            ),
            (
                serde_json::json!({"command": "x", "start": true, "disabled": true}),
                "`disabled`",
            ),
            (
                serde_json::json!({"url": "http://h", "env": {"A": "1"}}),
                "env",
            ),
            (serde_json::json!("npx x"), "expected an object"),
        ] {
            let e = one(entry.clone()).expect_err(&entry.to_string());
            assert!(e.starts_with("server \"s\": "), "{e}");
            assert!(e.contains(needle), "{entry}: {e}");
        }
        for (text, needle) in [
            ("{", "not valid JSON"),
            ("[]", "JSON object"),
            (r#"{"mcpServer": {}}"#, "no \"mcpServers\""),
            (r#"{"mcpServers": []}"#, "must be an object"),
            (
                r#"{"mcpServers": {"a b": {"command": "x"}, "a-b": {"command": "y"}}}"#,
                "also named",
            ),
        ] {
            let e = parse(text, &env).expect_err(text);
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn the_example_file_and_the_docs_example_are_valid() {
        let env = |name: &str| matches!(name, "HOME" | "GITHUB_TOKEN").then(|| "/x".to_string());
        let example = parse(include_str!("../deploy/mcp-servers.example.json"), &env).unwrap();
        assert_eq!(example.len(), 6);
        let doc = include_str!("../docs/servers-file.md");
        let json = doc
            .split("```json\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .unwrap_or_default();
        assert_eq!(parse(json, &env).unwrap().len(), 4);
    }

    #[test]
    fn variables() {
        assert_eq!(
            expand("${HOME}/x $1 $HOME", &env).unwrap(),
            "/home/u/x $1 $HOME"
        );
        assert_eq!(expand("${NOPE:-d}-${TOKEN:-d}", &env).unwrap(), "d-s3cret");
        assert!(expand("${HOME", &env).is_err());
        assert!(expand("${workspaceFolder}/x", &env).is_err());
    }

    #[test]
    fn names_are_made_valid_like_the_ui_does() {
        assert_eq!(sanitize_name("My Server!"), "My-Server-");
        assert_eq!(sanitize_name("@scope/pkg"), "scope-pkg");
        assert_eq!(sanitize_name("a-@b"), "a--b");
        assert_eq!(sanitize_name(&"x".repeat(70)).len(), 64);
    }

    #[test]
    fn applying_twice_changes_nothing_and_a_change_replaces_the_definition() {
        let t0 = Utc::now();
        let file = parse(
            r#"{"mcpServers": {"a": {"command": "x", "args": ["1"]}, "b": {"command": "y", "disabled": true}}}"#,
            &env,
        )
        .unwrap();
        let first = plan(&file, vec![], t0).unwrap();
        assert_eq!(first.inserts, [0, 1]);
        assert_eq!(first.records[0].desired_state, DesiredState::Running);
        assert_eq!(first.records[1].desired_state, DesiredState::Stopped);

        let t1 = t0 + chrono::Duration::seconds(5);
        let mut stored = first.records.clone();
        stored[0].desired_state = DesiredState::Stopped; // the user stopped it
        stored.push(
            ServerRecord::from_create(one(serde_json::json!({"command": "z"})).unwrap().create, t0)
                .unwrap(),
        );
        stored[2].name = "manual".into();
        let again = plan(&file, stored.clone(), t1).unwrap();
        assert!(
            again.inserts.is_empty() && again.updates.is_empty(),
            "{again:?}"
        );
        assert_eq!(again.records[0].updated_at, t0);
        assert_eq!(
            again.records[0].desired_state,
            DesiredState::Stopped,
            "a user's stop stays"
        );
        assert_eq!(
            again.outcomes,
            [
                ("a".to_string(), Outcome::Unchanged),
                ("b".to_string(), Outcome::Unchanged),
                ("manual".to_string(), Outcome::NotInFile)
            ]
        );

        let changed = parse(
            r#"{"mcpServers": {"a": {"command": "x", "args": ["2"], "autostart": true}}}"#,
            &env,
        )
        .unwrap();
        let p = plan(&changed, stored, t1).unwrap();
        assert_eq!(p.updates, [0]);
        let a = &p.records[0];
        assert_eq!(
            (a.args.clone(), a.updated_at, a.created_at),
            (vec!["2".to_string()], t1, t0)
        );
        assert_eq!(a.id, first.records[0].id);
        assert_eq!(a.desired_state, DesiredState::Running);
        assert_eq!(p.outcomes[0], ("a".to_string(), Outcome::Updated));
    }
}
