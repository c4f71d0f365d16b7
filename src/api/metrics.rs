//! Metrics: `GET /api/servers/{ref}/metrics` (the gateway's counters of one server, JSON)
//! and `GET /metrics` (Prometheus text exposition format 0.0.4: the gateway's counters of
//! every server, server states, health, restarts, log lines stored and dropped).
//!
//! `/metrics` sits behind the same guard as `/api`: Host and Origin checks, and the bearer
//! token when the daemon has one (a scraper sends `Authorization: Bearer TOKEN`).

use super::{AppState, ok};
use crate::actors::server::GetView;
use crate::error::{AppResult, ErrorBody};
use crate::gateway::Gateway;
use crate::gateway::metrics::{BUCKETS, ServerMetricsView, Snapshot};
use crate::state::StatusKind;
use actix_web::{HttpResponse, web};
use std::fmt::Write;

/// The gateway's call metrics of one server since the daemon started: per tool of
/// `tools/call` and per method of the other requests, calls, errors and latency.
#[utoipa::path(get, path = "/api/servers/{ref}/metrics", tag = "servers",
    params(("ref" = String, Path, description = "Server id or name")),
    responses((status = 200, body = ServerMetricsView), (status = 404, body = ErrorBody)))]
pub async fn server(
    state: web::Data<AppState>,
    gw: web::Data<Gateway>,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    let addr = state
        .registry
        .send(crate::actors::registry::Lookup(path.to_string()))
        .await??;
    let view = addr.send(GetView).await?;
    let m = gw.metrics.get(&view.name);
    Ok(ok(ServerMetricsView::new(view.name, m.as_deref())))
}

/// A label value escaped as the text format wants: `\`, `"` and newlines.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A float as the text format writes it.
fn num(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

const ALL_STATES: [StatusKind; 6] = [
    StatusKind::Stopped,
    StatusKind::Starting,
    StatusKind::Running,
    StatusKind::Stopping,
    StatusKind::Backoff,
    StatusKind::Failed,
];

/// The Prometheus text of everything `/metrics` shows.
pub fn render(
    servers: &[crate::model::ServerView],
    calls: &[(String, Vec<(String, Snapshot)>)],
    log_stored: Option<u64>,
    log_dropped: Option<u64>,
) -> String {
    let mut out = String::with_capacity(4096);

    header(
        &mut out,
        "mcp_manager_server_state",
        "gauge",
        "1 for the state the server is in, 0 for the others.",
    );
    for s in servers {
        let name = escape(&s.name);
        for st in ALL_STATES {
            let _ = writeln!(
                out,
                "mcp_manager_server_state{{server=\"{name}\",state=\"{}\"}} {}",
                st.as_str(),
                u8::from(s.status == st)
            );
        }
    }
    header(
        &mut out,
        "mcp_manager_server_up",
        "gauge",
        "1 while the server is running.",
    );
    for s in servers {
        let _ = writeln!(
            out,
            "mcp_manager_server_up{{server=\"{}\"}} {}",
            escape(&s.name),
            u8::from(s.status == StatusKind::Running)
        );
    }
    header(
        &mut out,
        "mcp_manager_server_healthy",
        "gauge",
        "1 when the last health check passed, 0 when it failed or none ran.",
    );
    for s in servers {
        let _ = writeln!(
            out,
            "mcp_manager_server_healthy{{server=\"{}\",health=\"{}\"}} {}",
            escape(&s.name),
            escape(&s.health_status),
            u8::from(s.health_status == "healthy")
        );
    }
    header(
        &mut out,
        "mcp_manager_server_restarts_total",
        "counter",
        "Restarts of the server after it exited (its restart count).",
    );
    for s in servers {
        let _ = writeln!(
            out,
            "mcp_manager_server_restarts_total{{server=\"{}\"}} {}",
            escape(&s.name),
            s.restart_count
        );
    }

    header(
        &mut out,
        "mcp_manager_tool_calls_total",
        "counter",
        "tools/call requests answered through the gateway, per server and tool.",
    );
    for (server, tools) in calls {
        for (tool, s) in tools {
            let _ = writeln!(
                out,
                "mcp_manager_tool_calls_total{{server=\"{}\",tool=\"{}\"}} {}",
                escape(server),
                escape(tool),
                s.calls
            );
        }
    }
    header(
        &mut out,
        "mcp_manager_tool_errors_total",
        "counter",
        "tools/call answered with a JSON-RPC error or a result with isError: true.",
    );
    for (server, tools) in calls {
        for (tool, s) in tools {
            let _ = writeln!(
                out,
                "mcp_manager_tool_errors_total{{server=\"{}\",tool=\"{}\"}} {}",
                escape(server),
                escape(tool),
                s.errors
            );
        }
    }
    header(
        &mut out,
        "mcp_manager_tool_result_errors_total",
        "counter",
        "tools/call results with isError: true (also counted in mcp_manager_tool_errors_total).",
    );
    for (server, tools) in calls {
        for (tool, s) in tools {
            let _ = writeln!(
                out,
                "mcp_manager_tool_result_errors_total{{server=\"{}\",tool=\"{}\"}} {}",
                escape(server),
                escape(tool),
                s.tool_errors
            );
        }
    }
    header(
        &mut out,
        "mcp_manager_tool_call_duration_seconds",
        "histogram",
        "Time from forwarding a tools/call upstream to its answer.",
    );
    for (server, tools) in calls {
        for (tool, s) in tools {
            let labels = format!("server=\"{}\",tool=\"{}\"", escape(server), escape(tool));
            let mut cum = 0u64;
            for (i, n) in s.buckets.iter().enumerate() {
                cum += n;
                let le = BUCKETS.get(i).copied().unwrap_or(f64::INFINITY);
                let _ = writeln!(
                    out,
                    "mcp_manager_tool_call_duration_seconds_bucket{{{labels},le=\"{}\"}} {cum}",
                    num(le)
                );
            }
            let _ = writeln!(
                out,
                "mcp_manager_tool_call_duration_seconds_sum{{{labels}}} {}",
                num(s.sum_seconds)
            );
            let _ = writeln!(
                out,
                "mcp_manager_tool_call_duration_seconds_count{{{labels}}} {cum}"
            );
        }
    }

    if let Some(n) = log_stored {
        header(
            &mut out,
            "mcp_manager_log_lines_stored_total",
            "counter",
            "Log lines written to the store since the daemon started.",
        );
        let _ = writeln!(out, "mcp_manager_log_lines_stored_total {n}");
    }
    if let Some(n) = log_dropped {
        header(
            &mut out,
            "mcp_manager_log_lines_dropped_total",
            "counter",
            "Log lines dropped because the store fell behind, since the daemon started.",
        );
        let _ = writeln!(out, "mcp_manager_log_lines_dropped_total {n}");
    }
    out
}

/// Prometheus text exposition (format 0.0.4).
pub async fn prometheus(
    state: web::Data<AppState>,
    gw: web::Data<Gateway>,
) -> AppResult<HttpResponse> {
    let servers = super::servers::views(&state).await?;
    let calls: Vec<(String, Vec<(String, Snapshot)>)> = gw
        .metrics
        .all()
        .into_iter()
        .map(|(name, m)| (name, m.tools()))
        .collect();
    let body = render(
        &servers,
        &calls,
        state.logs.as_ref().map(|l| l.stored_total()),
        state.logs.as_ref().map(|l| l.dropped_total()),
    );
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_label_values() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(num(f64::INFINITY), "+Inf");
        assert_eq!(num(0.25), "0.25");
        assert_eq!(num(1.0), "1");
    }
}
