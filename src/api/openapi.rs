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
        super::servers::call_tool, super::system::system, super::system::reload, super::probes::backup,
        super::health::current, super::health::history, super::health::summary,
        super::health::check, super::client_config::client_config,
        super::client_config::aggregate_client_config, super::metrics::server,
    ),
    components(schemas(
        crate::model::ServerView, crate::model::ServerCreate, crate::model::ServerPatch,
        crate::model::McpInfo, crate::model::McpItem, crate::state::StatusKind,
        crate::state::RestartPolicy, crate::state::BackoffSettings, crate::state::ExitInfo,
        crate::model::Isolation, crate::model::ToolFilter,
        crate::error::ErrorBody, crate::error::ErrorDetail, crate::actors::bus::Event,
        crate::actors::bus::EventPayload,
        crate::logs::LogEntry, super::logs::LogPage, super::logs::Deleted, super::servers::ToolCall, super::system::SystemInfo, crate::reload::ReloadReport, crate::reload::Reloaded,
        crate::health::HealthSettings, crate::health::EffectiveHealth, crate::health::HealthState,
        crate::health::CheckResult, crate::health::CheckRow, crate::health::Summary,
        crate::health::Streak, crate::health::Bucket, crate::actors::server::HealthView,
        super::health::CheckPage, super::health::Series, super::client_config::ClientConfig,
        crate::gateway::metrics::ServerMetricsView, crate::gateway::metrics::StatsView,
    )),
    tags((name = "servers"), (name = "health"), (name = "logs"), (name = "system")),
    modifiers(&DataEnvelope)
)]
pub struct ApiDoc;

/// Success bodies are `{"data": …}` (see `super::ok`); the handlers' annotations name the
/// payload, and this wraps every 2xx JSON body in the envelope the client really gets. The
/// paged answers (`LogPage`, `CheckPage`) are written whole and already carry `data`.
struct DataEnvelope;

impl utoipa::Modify for DataEnvelope {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{ObjectBuilder, Schema};
        use utoipa::openapi::{RefOr, path::HttpMethod};
        const WHOLE: [&str; 2] = [
            "#/components/schemas/LogPage",
            "#/components/schemas/CheckPage",
        ];
        for item in doc.paths.paths.values_mut() {
            for method in [
                HttpMethod::Get,
                HttpMethod::Post,
                HttpMethod::Patch,
                HttpMethod::Delete,
            ] {
                let op = match method {
                    HttpMethod::Get => item.get.as_mut(),
                    HttpMethod::Post => item.post.as_mut(),
                    HttpMethod::Patch => item.patch.as_mut(),
                    HttpMethod::Delete => item.delete.as_mut(),
                    _ => None,
                };
                let Some(op) = op else { continue };
                for (status, response) in op.responses.responses.iter_mut() {
                    if !status.starts_with('2') {
                        continue;
                    }
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    let Some(content) = response.content.get_mut("application/json") else {
                        continue;
                    };
                    let Some(schema) = content.schema.take() else {
                        continue;
                    };
                    if matches!(&schema, RefOr::Ref(r) if WHOLE.contains(&r.ref_location.as_str()))
                    {
                        content.schema = Some(schema);
                        continue;
                    }
                    content.schema = Some(RefOr::T(Schema::Object(
                        ObjectBuilder::new()
                            .property("data", schema)
                            .required("data")
                            .build(),
                    )));
                }
            }
        }
        // With `buckets=N` the history is a bucketed series instead of a page of checks.
        if let Some(op) = doc
            .paths
            .paths
            .get_mut("/api/servers/{ref}/health/history")
            .and_then(|item| item.get.as_mut())
            && let Some(RefOr::T(ok)) = op.responses.responses.get_mut("200")
            && let Some(content) = ok.content.get_mut("application/json")
        {
            let series = ObjectBuilder::new()
                .property(
                    "data",
                    RefOr::Ref(utoipa::openapi::Ref::from_schema_name("Series")),
                )
                .required("data")
                .build();
            content.schema = Some(RefOr::T(Schema::OneOf(
                utoipa::openapi::schema::OneOfBuilder::new()
                    .item(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                        "CheckPage",
                    )))
                    .item(Schema::Object(series))
                    .build(),
            )));
        }
        // Objects without declared properties (MCP payloads, tool arguments) take any keys.
        if let Some(components) = doc.components.as_mut() {
            for schema in components.schemas.values_mut() {
                free_form(schema);
            }
        }
    }
}

fn free_form(schema: &mut utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{AdditionalProperties, Schema, SchemaType, Type};
    let RefOr::T(schema) = schema else { return };
    match schema {
        Schema::Object(o) => {
            let object = matches!(o.schema_type, SchemaType::Type(Type::Object));
            if object && o.properties.is_empty() && o.additional_properties.is_none() {
                o.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(true)));
            }
            for p in o.properties.values_mut() {
                free_form(p);
            }
        }
        Schema::Array(a) => {
            if let utoipa::openapi::schema::ArrayItems::RefOrSchema(items) = &mut a.items {
                free_form(items);
            }
        }
        Schema::OneOf(o) => o.items.iter_mut().for_each(free_form),
        Schema::AllOf(o) => o.items.iter_mut().for_each(free_form),
        Schema::AnyOf(o) => o.items.iter_mut().for_each(free_form),
        _ => {}
    }
}

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
        // Numbers compare by value: the copy went through JavaScript, which writes 1.0 as 1.
        fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
            use serde_json::Value::*;
            match (a, b) {
                (Number(x), Number(y)) => x.as_f64() == y.as_f64(),
                (Array(x), Array(y)) => {
                    x.len() == y.len() && x.iter().zip(y).all(|(u, v)| same(u, v))
                }
                (Object(x), Object(y)) => {
                    x.len() == y.len()
                        && x.iter().all(|(k, u)| y.get(k).is_some_and(|v| same(u, v)))
                }
                _ => a == b,
            }
        }
        assert!(
            same(&copy, &live),
            "frontend/openapi.json is stale: run `cd frontend && npm run fetch:api && npm run gen:api` \
             against a daemon built from this tree"
        );
    }
}
