//! The gateway's hot path, served in front of the actix-web App: a `POST` to `/mcp` or
//! `/mcp/{name}` is answered here from actix-http's request, and every other request goes
//! on to the App untouched (the App still routes `POST /mcp…` to the same handler, for
//! paths this does not take and for an App served without this front).
//!
//! Why: at 16 concurrent clients the daemon's CPU per call is what bounds the gateway's
//! throughput on a small machine, and actix-web's own layers (the `HttpRequest`, the
//! router, the middleware chain, the extractors and the handler's boxed future) cost about
//! 2 µs of the 15–17 µs a call costs the daemon (docs/benchmarks.md, "Gateway"). The
//! checks the App would run are run here too: the Host/Origin/token guard
//! (`crate::api::security::Guard`) and the body limit.
//!
//! Requests to an MCP endpoint that carry an `Origin` (web pages) are also answered here,
//! with CORS: the preflight, and the headers that let an allowed page read the answer.
//!
//! Shutdown: nothing of its own; it lives and stops with the HTTP worker that built it.

use super::{Gateway, MAX_BODY, http};
use crate::api::AppState;
use crate::api::security::Guard;
use actix_web::body::BoxBody;
use actix_web::dev::{
    AppConfig, Payload, Response, Service, ServiceFactory, ServiceResponse, forward_ready,
};
use actix_web::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, CONTENT_LENGTH, HeaderValue, ORIGIN,
    VARY,
};
use actix_web::http::{Method, StatusCode};
use actix_web::{Error, HttpMessage, ResponseError, web};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::future::{Either, LocalBoxFuture, MapOk, TryFutureExt};
use rmcp::model::ErrorCode;
use std::rc::Rc;

type Request = actix_http::Request;

/// What the gateway's POST path needs, shared by the worker's connections.
struct Shared {
    gw: web::Data<Gateway>,
    app: web::Data<AppState>,
    guard: web::Data<Guard>,
}

/// Wraps the App's service factory (`HttpServer::new(move || Front::new(App::new()…, …))`).
pub struct Front<F> {
    app: F,
    gw: web::Data<Gateway>,
    state: web::Data<AppState>,
    guard: web::Data<Guard>,
}

impl<F> Front<F> {
    pub fn new(
        app: impl actix_service::IntoServiceFactory<F, Request>,
        gw: web::Data<Gateway>,
        state: web::Data<AppState>,
        guard: web::Data<Guard>,
    ) -> Self
    where
        F: ServiceFactory<Request>,
    {
        Front {
            app: app.into_factory(),
            gw,
            state,
            guard,
        }
    }
}

impl<F> ServiceFactory<Request> for Front<F>
where
    F: ServiceFactory<
            Request,
            Config = AppConfig,
            Response = ServiceResponse<BoxBody>,
            Error = Error,
            InitError = (),
        > + 'static,
{
    type Response = Response<BoxBody>;
    type Error = Error;
    type Config = AppConfig;
    type Service = FrontService<F::Service>;
    type InitError = ();
    type Future = LocalBoxFuture<'static, Result<Self::Service, ()>>;

    fn new_service(&self, cfg: AppConfig) -> Self::Future {
        let app = self.app.new_service(cfg);
        let shared = Rc::new(Shared {
            gw: self.gw.clone(),
            app: self.state.clone(),
            guard: self.guard.clone(),
        });
        Box::pin(async move {
            Ok(FrontService {
                app: app.await?,
                shared,
            })
        })
    }
}

pub struct FrontService<S> {
    app: S,
    shared: Rc<Shared>,
}

type ToResponse = fn(ServiceResponse<BoxBody>) -> Response<BoxBody>;

impl<S> Service<Request> for FrontService<S>
where
    S: Service<Request, Response = ServiceResponse<BoxBody>, Error = Error>,
    S::Future: 'static,
{
    type Response = Response<BoxBody>;
    type Error = Error;
    type Future = Either<
        LocalBoxFuture<'static, Result<Response<BoxBody>, Error>>,
        MapOk<S::Future, ToResponse>,
    >;

    forward_ready!(app);

    fn call(&self, req: Request) -> Self::Future {
        let mcp = http::endpoint_name(req.path()).is_some();
        // A browser's request (it sends Origin) gets CORS headers; other clients' requests
        // take the paths below unchanged.
        if mcp && req.headers().contains_key(ORIGIN) {
            return Either::Left(self.cross_origin(req));
        }
        if mcp && req.method() == Method::POST {
            let shared = self.shared.clone();
            return Either::Left(Box::pin(async move { Ok(post(&shared, req).await) }));
        }
        Either::Right(self.app.call(req).map_ok(Into::into as ToResponse))
    }
}

impl<S> FrontService<S>
where
    S: Service<Request, Response = ServiceResponse<BoxBody>, Error = Error>,
    S::Future: 'static,
{
    /// A request to an MCP endpoint from a web page (MCP Inspector in the browser, a web
    /// client): the preflight is answered here, and an allowed origin may read the answer
    /// and its `Mcp-Session-Id`. The Host/Origin allow-list stays the gate: a page from an
    /// origin not on it gets a 403 and no CORS headers, so DNS rebinding still fails.
    fn cross_origin(
        &self,
        req: Request,
    ) -> LocalBoxFuture<'static, Result<Response<BoxBody>, Error>> {
        let shared = self.shared.clone();
        let allowed = shared.guard.check_host_and_origin(req.headers());
        let origin = req.headers().get(ORIGIN).cloned();
        if req.method() == Method::OPTIONS {
            let mut res: Response<BoxBody> = match allowed {
                Ok(()) => Response::with_body(StatusCode::NO_CONTENT, BoxBody::new(())),
                Err(e) => e.error_response().into(),
            };
            if let (true, Some(origin)) = (res.status().is_success(), origin) {
                let h = res.headers_mut();
                h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                h.insert(
                    ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static(CORS_METHODS),
                );
                h.insert(
                    ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static(CORS_HEADERS),
                );
                h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
                h.insert(VARY, HeaderValue::from_static("Origin"));
            }
            return Box::pin(futures::future::ready(Ok(res)));
        }
        let answer: LocalBoxFuture<'static, Result<Response<BoxBody>, Error>> =
            if req.method() == Method::POST {
                Box::pin(async move { Ok(post(&shared, req).await) })
            } else {
                Box::pin(self.app.call(req).map_ok(Into::into))
            };
        Box::pin(async move {
            let mut res = answer.await?;
            if let (Ok(()), Some(origin)) = (allowed, origin) {
                let h = res.headers_mut();
                h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                h.insert(
                    ACCESS_CONTROL_EXPOSE_HEADERS,
                    HeaderValue::from_static(CORS_EXPOSED),
                );
                h.append(VARY, HeaderValue::from_static("Origin"));
            }
            Ok(res)
        })
    }
}

/// What a page may send to an MCP endpoint: the transport's methods and headers, and the
/// token as a bearer.
const CORS_METHODS: &str = "GET, POST, DELETE";
const CORS_HEADERS: &str =
    "authorization, content-type, accept, mcp-session-id, mcp-protocol-version, last-event-id";
/// What a page may read of an answer besides the basics: the session it was given.
const CORS_EXPOSED: &str = "mcp-session-id, mcp-protocol-version";

async fn post(shared: &Shared, mut req: Request) -> Response<BoxBody> {
    let query = req.uri().query().unwrap_or("");
    if let Err(e) = shared.guard.check_parts(req.headers(), req.path(), query) {
        return e.error_response().into();
    }
    let body = match read_body(req.take_payload(), declared_length(&req)).await {
        Ok(body) => body,
        Err(refused) => return refused.into(),
    };
    let name = http::endpoint_name(req.path()).unwrap_or(super::AGGREGATE);
    http::post_at(req.headers(), name, &body, &shared.gw, &shared.app)
        .await
        .into()
}

fn declared_length(req: &Request) -> Option<usize> {
    req.headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

fn too_large() -> actix_web::HttpResponse {
    http::json(
        StatusCode::PAYLOAD_TOO_LARGE,
        super::jsonrpc::error(
            None,
            ErrorCode::INVALID_REQUEST,
            format!("the body is larger than the limit of {MAX_BODY} bytes"),
        ),
    )
}

/// The whole body, at most [`MAX_BODY`] bytes; a body that came in one piece is not
/// copied.
async fn read_body(
    mut payload: Payload,
    declared: Option<usize>,
) -> Result<Bytes, actix_web::HttpResponse> {
    if declared.is_some_and(|n| n > MAX_BODY) {
        return Err(too_large());
    }
    let mut whole: Option<Bytes> = None;
    let mut joined = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            http::json(
                StatusCode::BAD_REQUEST,
                super::jsonrpc::error(
                    None,
                    ErrorCode::PARSE_ERROR,
                    format!("could not read the body: {e}"),
                ),
            )
        })?;
        match whole.take() {
            None if joined.is_empty() => whole = Some(chunk),
            earlier => {
                if let Some(earlier) = earlier {
                    joined.reserve(declared.unwrap_or(0).max(earlier.len() + chunk.len()));
                    joined.extend_from_slice(&earlier);
                }
                joined.extend_from_slice(&chunk);
            }
        }
        if whole.as_ref().map_or(joined.len(), Bytes::len) > MAX_BODY {
            return Err(too_large());
        }
    }
    Ok(whole.unwrap_or_else(|| joined.freeze()))
}
