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
use actix_web::{HttpRequest, HttpResponse, error::JsonPayloadError, web};
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
            .route("/servers", web::get().to(servers::list))
            .route("/servers", web::post().to(servers::create))
            .route("/servers/{ref}", web::get().to(servers::get))
            .route("/servers/{ref}", web::patch().to(servers::patch))
            .route("/servers/{ref}", web::delete().to(servers::delete))
            .route("/servers/{ref}/start", web::post().to(servers::start))
            .route("/servers/{ref}/stop", web::post().to(servers::stop))
            .route("/servers/{ref}/restart", web::post().to(servers::restart))
            .route("/servers/{ref}/mcp", web::get().to(servers::mcp))
            .route(
                "/servers/{ref}/client-config",
                web::get().to(client_config::client_config),
            )
            .route(
                "/client-config",
                web::get().to(client_config::aggregate_client_config),
            )
            .route("/servers/{ref}/logs", web::get().to(logs::recent))
            .route("/servers/{ref}/logs", web::delete().to(logs::clear))
            .route("/servers/{ref}/logs/search", web::get().to(logs::search))
            .route("/servers/{ref}/logs/export", web::get().to(logs::export))
            .route(
                "/servers/{ref}/tools/{tool}/call",
                web::post().to(servers::call_tool),
            )
            .route("/servers/{ref}/metrics", web::get().to(metrics::server))
            .route("/servers/{ref}/health", web::get().to(health::current))
            .route(
                "/servers/{ref}/health/history",
                web::get().to(health::history),
            )
            .route(
                "/servers/{ref}/health/summary",
                web::get().to(health::summary),
            )
            .route("/servers/{ref}/health/check", web::post().to(health::check))
            .route("/system", web::get().to(system::system))
            .route("/system/reload", web::post().to(system::reload))
            .route("/system/backup", web::get().to(probes::backup))
            .route("/openapi.json", web::get().to(openapi::document))
            .route("/events", web::get().to(events::events)),
    )
    .configure(crate::gateway::configure)
    .route("/metrics", web::get().to(metrics::prometheus))
    .route("/healthz", web::get().to(probes::healthz))
    .route("/readyz", web::get().to(probes::readyz))
    .default_service(web::to(ui::serve));
}
