//! The HTTP surface: one route table, the JSON extractor settings that turn bad input into
//! clear 4xx answers, and the shared state handlers see.

pub mod client_config;
pub mod events;
pub mod health;
pub mod logs;
pub mod metrics;
pub mod openapi;
pub mod probes;
pub mod security;
pub mod servers;
pub mod system;
pub mod ui;

use crate::actors::bus::EventBus;
use crate::actors::registry::Registry;
use crate::db::Store;
use crate::error::AppError;
use actix::Addr;
use actix_web::dev::ServiceResponse;
use actix_web::http::{StatusCode, header};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{HttpRequest, HttpResponse, ResponseError, error::JsonPayloadError, guard, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::PathBuf;

/// Largest JSON body accepted.
pub const MAX_BODY: usize = 256 * 1024;

pub struct AppState {
    pub registry: Addr<Registry>,
    pub bus: Addr<EventBus>,
    pub store: Store,
    pub started_at: DateTime<Utc>,
    pub data_dir: PathBuf,
    pub bind: String,
    pub instance_id: String,
    pub engine: crate::runtime::docker::Engine,
    pub probe: actix::Addr<crate::actors::probe::HealthProbe>,
    pub logs: Option<crate::logs::LogSender>,
    /// The servers file of `serve --config`, applied again by `POST /api/system/reload`.
    pub servers_file: Option<PathBuf>,
}

/// `{"data": …}`
#[derive(Serialize)]
pub struct Data<T: Serialize> {
    pub data: T,
}

pub fn ok<T: Serialize>(data: T) -> HttpResponse {
    HttpResponse::Ok().json(Data { data })
}

fn json_error(err: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    let e = match err {
        JsonPayloadError::OverflowKnownLength { length, limit } => {
            AppError::PayloadTooLarge(format!("{length} bytes, the limit is {limit}"))
        }
        JsonPayloadError::Overflow { limit } => {
            AppError::PayloadTooLarge(format!("the limit is {limit} bytes"))
        }
        JsonPayloadError::ContentType => {
            AppError::UnsupportedMediaType("send the body as Content-Type: application/json".into())
        }
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            AppError::Validation(format!("invalid body: {e}"))
        }
        JsonPayloadError::Deserialize(e) => AppError::BadRequest(format!("malformed JSON: {e}")),
        other => AppError::BadRequest(format!("could not read the body: {other}")),
    };
    e.into()
}

/// GET, and HEAD with the same status and headers: an uptime monitor's probe is often a
/// HEAD, and without this route `HEAD /readyz` would reach the UI's fallback and answer 200
/// whatever the daemon's state. Exports, backups and the event stream stay GET only: a HEAD
/// would do all their work for nothing.
fn get() -> actix_web::Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// Turns the router's bare 405 into our error. Not for the whole App: the MCP endpoints
/// answer their own 405 with a JSON-RPC body.
fn not_allowed<B: 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().handler(StatusCode::METHOD_NOT_ALLOWED, method_not_allowed)
}

/// The router's bare 405 (a resource without a route for the method) as our error body,
/// keeping the `Allow` header it computed.
fn method_not_allowed<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let allow = res
        .headers()
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let (req, _) = res.into_parts();
    let answer = AppError::MethodNotAllowed {
        message: format!(
            "{} {} is not allowed; this path takes {}",
            req.method(),
            req.path(),
            if allow.is_empty() {
                "no other method"
            } else {
                &allow
            }
        ),
        allow,
    }
    .error_response();
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, answer).map_into_right_body(),
    ))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(MAX_BODY)
            .error_handler(json_error),
    )
    .app_data(web::PayloadConfig::new(MAX_BODY))
    .app_data(
        web::QueryConfig::default().error_handler(|e, _| {
            AppError::BadRequest(format!("invalid query string: {e}")).into()
        }),
    )
    .service(
        web::scope("/api")
            // A path the API has, with a method it does not take: 405 with `Allow`.
            .wrap(not_allowed())
            .service(
                web::resource("/servers")
                    .route(get().to(servers::list))
                    .route(web::post().to(servers::create)),
            )
            .service(
                web::resource("/servers/{ref}")
                    .route(get().to(servers::get))
                    .route(web::patch().to(servers::patch))
                    .route(web::delete().to(servers::delete)),
            )
            .service(web::resource("/servers/{ref}/start").route(web::post().to(servers::start)))
            .service(web::resource("/servers/{ref}/stop").route(web::post().to(servers::stop)))
            .service(
                web::resource("/servers/{ref}/restart").route(web::post().to(servers::restart)),
            )
            .service(web::resource("/servers/{ref}/mcp").route(get().to(servers::mcp)))
            .service(
                web::resource("/servers/{ref}/client-config")
                    .route(get().to(client_config::client_config)),
            )
            .service(
                web::resource("/client-config")
                    .route(get().to(client_config::aggregate_client_config)),
            )
            .service(
                web::resource("/servers/{ref}/logs")
                    .route(get().to(logs::recent))
                    .route(web::delete().to(logs::clear)),
            )
            .service(web::resource("/servers/{ref}/logs/search").route(get().to(logs::search)))
            .service(web::resource("/servers/{ref}/logs/export").route(web::get().to(logs::export)))
            .service(
                web::resource("/servers/{ref}/tools/{tool}/call")
                    .route(web::post().to(servers::call_tool)),
            )
            .service(web::resource("/servers/{ref}/metrics").route(get().to(metrics::server)))
            .service(web::resource("/servers/{ref}/health").route(get().to(health::current)))
            .service(
                web::resource("/servers/{ref}/health/history").route(get().to(health::history)),
            )
            .service(
                web::resource("/servers/{ref}/health/summary").route(get().to(health::summary)),
            )
            .service(
                web::resource("/servers/{ref}/health/check").route(web::post().to(health::check)),
            )
            .service(web::resource("/system").route(get().to(system::system)))
            .service(web::resource("/system/reload").route(web::post().to(system::reload)))
            .service(web::resource("/system/backup").route(web::get().to(probes::backup)))
            .service(web::resource("/openapi.json").route(get().to(openapi::document)))
            .service(web::resource("/events").route(web::get().to(events::events))),
    )
    .configure(crate::gateway::configure)
    .service(
        web::resource("/metrics")
            .wrap(not_allowed())
            .route(get().to(metrics::prometheus)),
    )
    .service(
        web::resource("/healthz")
            .wrap(not_allowed())
            .route(get().to(probes::healthz)),
    )
    .service(
        web::resource("/readyz")
            .wrap(not_allowed())
            .route(get().to(probes::readyz)),
    )
    .default_service(web::to(ui::serve));
}
