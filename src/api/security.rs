//! Request guards that run before any handler: Host and Origin allow-lists (DNS rebinding:
//! a web page must not be able to drive the daemon from a developer's browser) and the API
//! token. They apply to REST and to the WebSocket upgrade alike.

use crate::error::AppError;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header;
use actix_web::{Error, web};
use futures::future::{Either, Ready, ready};

#[derive(Clone)]
pub struct Guard {
    pub allowed_hosts: Vec<String>,
    pub token: Option<String>,
}

/// The host part of a `Host` header or an origin's authority, without port (compared
/// case-insensitively; borrowed, since this runs on every request).
fn host_of(authority: &str) -> &str {
    let a = authority.trim();
    if a.starts_with('[') {
        return a.find(']').map_or("", |end| &a[..=end]);
    }
    match a.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => a,
    }
}

impl Guard {
    fn host_allowed(&self, host: &str) -> bool {
        let h = host_of(host);
        self.allowed_hosts.iter().any(|a| a.eq_ignore_ascii_case(h))
    }

    fn check(&self, req: &ServiceRequest) -> Result<(), AppError> {
        self.check_parts(req.headers(), req.path(), req.query_string())
    }

    /// The checks on a request's parts, for the gateway's POST path, which is served
    /// before actix-web builds a `ServiceRequest` (`crate::gateway::front`).
    pub fn check_parts(
        &self,
        headers: &header::HeaderMap,
        path: &str,
        query: &str,
    ) -> Result<(), AppError> {
        self.check_host_and_origin(headers)?;
        self.check_token(headers, path, query)
    }

    /// Host and Origin only: what a browser's CORS preflight is checked against (it never
    /// carries the token; the request it clears must).
    pub fn check_host_and_origin(&self, headers: &header::HeaderMap) -> Result<(), AppError> {
        match headers.get(header::HOST).map(|v| v.to_str()) {
            Some(Ok(host)) if self.host_allowed(host) => {}
            Some(Ok(host)) => {
                return Err(AppError::Forbidden(format!(
                    "host {host:?} is not allowed (use --allowed-host to add it)"
                )));
            }
            _ => return Err(AppError::Forbidden("missing or invalid Host header".into())),
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            let authority = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"));
            match authority {
                Some(a) if self.host_allowed(a) => {}
                _ => {
                    return Err(AppError::Forbidden(format!(
                        "origin {origin:?} is not allowed"
                    )));
                }
            }
        }
        Ok(())
    }

    fn check_token(
        &self,
        headers: &header::HeaderMap,
        path: &str,
        query: &str,
    ) -> Result<(), AppError> {
        // The MCP gateway takes the token as a bearer only; what the client sends is never
        // passed upstream (the gateway forwards JSON-RPC bodies, not headers).
        let mcp = path == "/mcp" || path.starts_with("/mcp/");
        if let Some(token) = &self.token
            && (path.starts_with("/api/") || mcp || path == "/metrics")
        {
            let bearer = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            // Browsers cannot set headers on a WebSocket upgrade or on a download link; the
            // token may ride in the query string there.
            let query_token = (path == "/api/events"
                || path == "/api/system/backup"
                || (path.starts_with("/api/servers/") && path.ends_with("/logs/export")))
            .then(|| {
                web::Query::<std::collections::HashMap<String, String>>::from_query(query)
                    .ok()
                    .and_then(|q| q.get("token").cloned())
            })
            .flatten();
            let given = bearer.map(str::to_string).or(query_token);
            if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
                return Err(AppError::Unauthorized(
                    "missing or wrong API token (send Authorization: Bearer TOKEN)".into(),
                ));
            }
        }
        Ok(())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The guard as middleware (`App::wrap(GuardLayer)`): a refused request gets the
/// [`AppError`] answer, the rest go on. Written out rather than with `from_fn`, which boxes
/// two futures per request; this runs on every gateway call.
pub struct GuardLayer;

impl<S, B> Transform<S, ServiceRequest> for GuardLayer
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = GuardService<S>;
    type InitError = ();
    type Future = Ready<Result<GuardService<S>, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(GuardService { service }))
    }
}

pub struct GuardService<S> {
    service: S,
}

impl<S, B> Service<ServiceRequest> for GuardService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = Either<S::Future, Ready<Result<ServiceResponse<B>, Error>>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        // Liveness and readiness come from probes that name the host by its address (a
        // kubelet, a container engine); they reveal nothing and change nothing.
        let probe = matches!(req.path(), "/healthz" | "/readyz");
        if !probe
            && let Some(g) = req.app_data::<web::Data<Guard>>()
            && let Err(e) = g.check(&req)
        {
            return Either::Right(ready(Err(e.into())));
        }
        Either::Left(self.service.call(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(host_of("127.0.0.1:7070"), "127.0.0.1");
        assert_eq!(host_of("LocalHost"), "LocalHost");
        assert_eq!(host_of("[::1]:80"), "[::1]");
        assert_eq!(host_of("evil.example:7070"), "evil.example");
        let g = Guard {
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "[::1]".into()],
            token: None,
        };
        assert!(g.host_allowed("localhost:7070"));
        assert!(g.host_allowed("LocalHost:7070"));
        assert!(g.host_allowed("[::1]:7070"));
        assert!(!g.host_allowed("[::1"));
        assert!(!g.host_allowed("localhost.evil.example"));
        assert!(!g.host_allowed("127.0.0.1.nip.io"));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
    }
}
