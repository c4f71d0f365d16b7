//! The OpenAPI document, generated from the handlers' annotations and the model's types.

use actix_web::HttpResponse;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "mcp-manager", description = "Supervisor for MCP servers. Success bodies are `{\"data\": …}`, errors `{\"error\": {\"code\", \"message\"}}`."),
    paths(
        super::servers::list, super::servers::create, super::servers::get,
        super::servers::patch, super::servers::delete, super::servers::start,
        super::servers::stop, super::servers::restart, super::servers::mcp,
        super::logs::recent, super::logs::search, super::logs::export, super::logs::clear,
        super::servers::call_tool, super::system::system,
        super::health::current, super::health::history, super::health::summary,
        super::health::check,
    ),
    components(schemas(
        crate::model::ServerView, crate::model::ServerCreate, crate::model::ServerPatch,
        crate::model::McpInfo, crate::model::McpItem, crate::state::StatusKind,
        crate::state::RestartPolicy, crate::state::BackoffSettings, crate::state::ExitInfo,
        crate::error::ErrorBody, crate::error::ErrorDetail, crate::actors::bus::Event,
        crate::logs::LogEntry, super::logs::LogPage, super::servers::ToolCall, super::system::SystemInfo,
        crate::health::HealthSettings, crate::health::EffectiveHealth, crate::health::HealthState,
        crate::health::CheckResult, crate::health::CheckRow, crate::health::Summary,
        crate::health::Streak, crate::health::Bucket, crate::actors::server::HealthView,
        super::health::CheckPage, super::health::Series,
    )),
    tags((name = "servers"), (name = "health"), (name = "logs"), (name = "system"))
)]
pub struct ApiDoc;

pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    /// The UI's API types are generated from `frontend/openapi.json`; it must be this
    /// document, or the UI compiles against an API the daemon does not have.
    #[test]
    fn the_frontend_copy_of_the_document_is_current() {
        use utoipa::OpenApi;
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/frontend/openapi.json");
        let copy: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("frontend/openapi.json"))
                .expect("JSON");
        let live = serde_json::to_value(super::ApiDoc::openapi()).expect("document");
        assert!(
            copy == live,
            "frontend/openapi.json is stale: run `cd frontend && npm run fetch:api && npm run gen:api` \
             against a daemon built from this tree"
        );
    }
}
