//! `GET /api/servers/{ref}/client-config?client=…`: the snippet an AI client's config file
//! expects for a managed server, pointing at the gateway `/mcp/{name}` (or, for Claude
//! Desktop, which only launches commands, at `mcp-manager bridge NAME`); and
//! `GET /api/client-config?client=…`, the same for the aggregate endpoint `/mcp` (entry
//! `mcp-manager`, bridge `--all`).
//!
//! The URLs use the scheme and `Host` the caller reached the daemon with (it passed the Host
//! allow-list, so it names this daemon). With a daemon token the snippet says where the token
//! goes — an environment variable or input the client expands — and holds the token itself
//! only with `include_token=true`.

use super::security::Guard;
use super::{AppState, ok};
use crate::actors::registry::Lookup;
use crate::actors::server::GetView;
use crate::error::{AppError, AppResult, ErrorBody};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The clients a snippet can be made for, as `client=` takes them.
pub const CLIENTS: [&str; 4] = ["claude-desktop", "claude-code", "cursor", "vscode"];

/// The environment variable the snippets name for the token (the CLI's own).
const TOKEN_ENV: &str = "MCP_MANAGER_TOKEN";

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ClientConfigQuery {
    /// `claude-desktop`, `claude-code`, `cursor` or `vscode`.
    pub client: Option<String>,
    /// Put the daemon's token itself in the snippet (default: a reference to it).
    #[serde(default)]
    pub include_token: bool,
}

/// The entry name of the aggregate endpoint's snippet.
pub const AGGREGATE_ENTRY: &str = "mcp-manager";

/// A client's configuration for one managed server (or the aggregate endpoint).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ClientConfig {
    /// The client it is for.
    pub client: String,
    /// The server's name (`mcp-manager` for the aggregate endpoint): the key of the entry
    /// in `config`.
    pub name: String,
    /// The gateway endpoint the client talks to (for Claude Desktop, through the bridge).
    pub url: String,
    /// What to merge into the client's config file.
    #[schema(value_type = Object)]
    pub config: Value,
    /// Where the client reads `config` from.
    pub file: String,
    /// A command line that adds the server instead (Claude Code: `claude mcp add`).
    pub command: Option<String>,
    /// The daemon needs a token (every MCP request carries `Authorization: Bearer`).
    pub token_required: bool,
    /// The snippet holds the token itself (`include_token=true`).
    pub token_included: bool,
    /// Where the token goes when it is not included, and other remarks.
    pub note: Option<String>,
}

/// The snippet for one client (`client=claude-desktop|claude-code|cursor|vscode`).
#[utoipa::path(get, path = "/api/servers/{ref}/client-config", tag = "servers",
    params(("ref" = String, Path, description = "Server id or name"), ClientConfigQuery),
    responses((status = 200, body = ClientConfig),
        (status = 400, description = "Unknown or missing client (the message lists them)", body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn client_config(
    req: HttpRequest,
    state: web::Data<AppState>,
    guard: Option<web::Data<Guard>>,
    path: web::Path<String>,
    query: web::Query<ClientConfigQuery>,
) -> AppResult<HttpResponse> {
    let client = client_of(&query)?;
    let addr = state.registry.send(Lookup(path.to_string())).await??;
    let view = addr.send(GetView).await?;
    Ok(ok(build(&req, guard, client, Some(&view.name), &query)))
}

/// The snippet for the aggregate endpoint `/mcp`: every running, exposed server under one
/// entry, `mcp-manager`.
#[utoipa::path(get, path = "/api/client-config", tag = "servers",
    params(ClientConfigQuery),
    responses((status = 200, body = ClientConfig),
        (status = 400, description = "Unknown or missing client (the message lists them)", body = ErrorBody)))]
pub async fn aggregate_client_config(
    req: HttpRequest,
    guard: Option<web::Data<Guard>>,
    query: web::Query<ClientConfigQuery>,
) -> AppResult<HttpResponse> {
    let client = client_of(&query)?;
    Ok(ok(build(&req, guard, client, None, &query)))
}

fn client_of(query: &ClientConfigQuery) -> AppResult<&str> {
    match query.client.as_deref() {
        Some(c) if CLIENTS.contains(&c) => Ok(c),
        other => Err(AppError::BadRequest(format!(
            "{}: `client` must be one of {}",
            match other {
                Some(c) => format!("unknown client `{c}`"),
                None => "missing client".to_string(),
            },
            CLIENTS.join(", ")
        ))),
    }
}

fn build(
    req: &HttpRequest,
    guard: Option<web::Data<Guard>>,
    client: &str,
    name: Option<&str>,
    query: &ClientConfigQuery,
) -> ClientConfig {
    let info = req.connection_info();
    let base = format!("{}://{}", info.scheme(), info.host());
    let token = guard.as_ref().and_then(|g| g.token.clone());
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "mcp-manager".to_string());
    snippet(
        client,
        name,
        &base,
        &exe,
        token.as_deref(),
        query.include_token,
    )
}

/// Builds the snippet for server `name`, or for the aggregate endpoint when `None`; `base`
/// is the daemon's URL, `exe` the absolute path of this binary.
pub fn snippet(
    client: &str,
    server: Option<&str>,
    base: &str,
    exe: &str,
    token: Option<&str>,
    include_token: bool,
) -> ClientConfig {
    let (name, url, bridge) = match server {
        Some(n) => (
            n,
            format!("{base}/mcp/{n}"),
            json!(["bridge", n, "--url", base]),
        ),
        None => (
            AGGREGATE_ENTRY,
            format!("{base}/mcp"),
            json!(["bridge", "--all", "--url", base]),
        ),
    };
    let given = token.filter(|_| include_token);
    // The `Authorization` header of a URL client: the token, or the client's own way of
    // filling it in (`expansion`), so that the file need not hold it.
    let header = |expansion: &str| -> Option<Value> {
        token.map(|_| json!({"Authorization": format!("Bearer {}", given.unwrap_or(expansion))}))
    };
    let mut command = None;
    let mut note = None;
    let (config, file) = match client {
        "claude-desktop" => {
            let mut entry = Map::new();
            entry.insert("command".into(), exe.into());
            entry.insert("args".into(), bridge);
            if token.is_some() {
                let value = given.unwrap_or("<the daemon's token>");
                entry.insert("env".into(), json!({ TOKEN_ENV: value }));
                if given.is_none() {
                    note = Some(format!(
                        "Replace `<the daemon's token>` in env.{TOKEN_ENV} with the daemon's API token \
                         (Claude Desktop does not expand variables)."
                    ));
                }
            }
            (
                json!({"mcpServers": {name: Value::Object(entry)}}),
                "claude_desktop_config.json (macOS: ~/Library/Application Support/Claude/, \
                 Windows: %APPDATA%\\Claude\\); restart Claude Desktop"
                    .to_string(),
            )
        }
        "claude-code" => {
            let mut entry = Map::new();
            entry.insert("type".into(), "http".into());
            entry.insert("url".into(), url.clone().into());
            let mut line = format!("claude mcp add --transport http {name} {url}");
            if let Some(h) = header(&format!("${{{TOKEN_ENV}}}")) {
                entry.insert("headers".into(), h);
                let value = given.map_or(format!("${TOKEN_ENV}"), str::to_string);
                line.push_str(&format!(" --header \"Authorization: Bearer {value}\""));
                if given.is_none() {
                    note = Some(format!(
                        "Set {TOKEN_ENV} to the daemon's API token in the environment Claude Code \
                         (and the shell running `claude mcp add`) sees; `.mcp.json` expands ${{{TOKEN_ENV}}}."
                    ));
                }
            }
            command = Some(line);
            (
                json!({"mcpServers": {name: Value::Object(entry)}}),
                ".mcp.json at the project root (or run `command`)".to_string(),
            )
        }
        "cursor" => {
            let mut entry = Map::new();
            entry.insert("url".into(), url.clone().into());
            if let Some(h) = header(&format!("${{env:{TOKEN_ENV}}}")) {
                entry.insert("headers".into(), h);
                if given.is_none() {
                    note = Some(format!(
                        "Set {TOKEN_ENV} to the daemon's API token in the environment Cursor starts \
                         in; the config expands ${{env:{TOKEN_ENV}}}."
                    ));
                }
            }
            (
                json!({"mcpServers": {name: Value::Object(entry)}}),
                "~/.cursor/mcp.json (every project) or .cursor/mcp.json (this project)".to_string(),
            )
        }
        _ => {
            // vscode
            let mut entry = Map::new();
            entry.insert("type".into(), "http".into());
            entry.insert("url".into(), url.clone().into());
            let mut config = Map::new();
            if let Some(h) = header("${input:mcp-manager-token}") {
                entry.insert("headers".into(), h);
                if given.is_none() {
                    config.insert(
                        "inputs".into(),
                        json!([{"type": "promptString", "id": "mcp-manager-token",
                                "description": "mcp-manager API token", "password": true}]),
                    );
                    note = Some(
                        "VS Code asks for the daemon's API token once (the `mcp-manager-token` \
                         input) and keeps it in its secret storage."
                            .to_string(),
                    );
                }
            }
            config.insert("servers".into(), json!({ name: Value::Object(entry) }));
            (
                Value::Object(config),
                ".vscode/mcp.json (this workspace) or the user mcp.json (MCP: Open User Configuration)"
                    .to_string(),
            )
        }
    };
    ClientConfig {
        client: client.to_string(),
        name: name.to_string(),
        url,
        config,
        file,
        command,
        token_required: token.is_some(),
        token_included: given.is_some(),
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_token_no_headers() {
        for c in CLIENTS {
            let s = snippet(
                c,
                Some("time"),
                "http://127.0.0.1:7070",
                "/bin/mm",
                None,
                true,
            );
            let text = s.config.to_string();
            assert!(
                !text.contains("headers") && !text.contains("env"),
                "{c}: {text}"
            );
            assert!(!s.token_required && !s.token_included && s.note.is_none());
        }
    }

    #[test]
    fn the_token_only_when_asked() {
        for c in CLIENTS {
            let hidden = snippet(c, Some("t"), "http://h:1", "/bin/mm", Some("s3cret"), false);
            let text = serde_json::to_string(&hidden.config).unwrap()
                + hidden.command.as_deref().unwrap_or("");
            assert!(!text.contains("s3cret"), "{c}: {text}");
            assert!(hidden.note.is_some(), "{c}");
            let shown = snippet(c, Some("t"), "http://h:1", "/bin/mm", Some("s3cret"), true);
            assert!(shown.config.to_string().contains("s3cret"), "{c}");
            assert!(shown.token_included);
        }
    }

    #[test]
    fn the_aggregate_snippet_points_at_mcp() {
        for c in CLIENTS {
            let s = snippet(c, None, "http://h:1", "/bin/mm", None, false);
            assert_eq!(s.name, AGGREGATE_ENTRY);
            assert_eq!(s.url, "http://h:1/mcp");
            let text = s.config.to_string();
            assert!(text.contains(AGGREGATE_ENTRY), "{c}: {text}");
            if c == "claude-desktop" {
                assert_eq!(
                    s.config["mcpServers"][AGGREGATE_ENTRY]["args"],
                    json!(["bridge", "--all", "--url", "http://h:1"])
                );
            } else {
                assert!(text.contains("\"http://h:1/mcp\""), "{c}: {text}");
            }
        }
    }
}
