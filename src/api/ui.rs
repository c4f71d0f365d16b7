//! The web UI: the files of `frontend/dist`, embedded in the binary at compile time (read
//! from disk in debug builds), served at `/` with `index.html` for client-side routes.
//! A binary built without them answers `/` with a page that says how to build them.
//! Nothing to shut down.

use crate::error::AppError;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "frontend/dist"]
#[allow_missing = true]
struct Assets;

const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>mcp-manager</title>\
<body style=\"font-family:system-ui;max-width:40rem;margin:4rem auto;line-height:1.5\">\
<h1>mcp-manager</h1><p>This binary was built without its web UI. Build the UI and then the \
daemon again:</p><pre>make ui        # cd frontend &amp;&amp; npm ci &amp;&amp; npm run build\n\
make run       # rebuilds the daemon with the UI embedded</pre>\
<p>The REST API is at <a href=\"/api/system\">/api</a> \
(<a href=\"/api/openapi.json\">OpenAPI</a>).</p></body>";

/// Whether the binary carries the UI.
pub fn built() -> bool {
    Assets::get("index.html").is_some()
}

pub async fn serve(req: HttpRequest) -> Result<HttpResponse, AppError> {
    let path = req.path().trim_start_matches('/');
    let wanted = req.method() == actix_web::http::Method::GET
        || req.method() == actix_web::http::Method::HEAD;
    if !wanted || path == "api" || path.starts_with("api/") {
        return Err(AppError::NotFound(format!(
            "no route for {} {}",
            req.method(),
            req.path()
        )));
    }
    let (file, name) = match Assets::get(path) {
        Some(file) => (file, path),
        // A client-side route (no file extension) gets the app; a missing asset a 404.
        None if !path.rsplit('/').next().unwrap_or("").contains('.') => {
            match Assets::get("index.html") {
                Some(file) => (file, "index.html"),
                None => {
                    return Ok(HttpResponse::NotFound()
                        .content_type("text/html; charset=utf-8")
                        .body(NOT_BUILT));
                }
            }
        }
        None => return Err(AppError::NotFound(format!("no file {}", req.path()))),
    };
    let etag = format!(
        "\"{}\"",
        file.metadata
            .sha256_hash()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    // Vite names assets by their content: they never change under the same name.
    let cache = if name.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    resp.insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header(("X-Content-Type-Options", "nosniff"));
    if fresh {
        return Ok(resp.finish());
    }
    Ok(resp
        .content_type(file.metadata.mimetype())
        .body(file.data.into_owned()))
}
