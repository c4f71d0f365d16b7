//! The one error type of the daemon and its single mapping to HTTP.
//!
//! Every fallible path in the API returns [`AppError`]. Client mistakes (4xx) carry a message
//! meant for the caller; our own failures (5xx) are logged with their detail here and answered
//! with generic text, so internals never leak to a client.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Malformed request: bad JSON syntax, bad query string.
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed but invalid input: wrong types, unknown fields, invalid names.
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    NotFound(String),
    /// A path the API has, with a method it does not take; `allow` lists the ones it does.
    #[error("{message}")]
    MethodNotAllowed { message: String, allow: String },
    /// The request conflicts with the current state (duplicate name, illegal transition).
    #[error("{0}")]
    Conflict(String),
    /// A server could not be started because something it needs is missing on this machine.
    #[error("{0}")]
    Unprocessable(String),
    #[error("request body too large: {0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unauthorized(String),
    /// The upstream MCP server did not answer as expected.
    #[error("{0}")]
    Upstream(String),
    /// The daemon is shutting down or a component is gone.
    #[error("{0}")]
    Unavailable(String),
    /// Our own failure. The detail is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        AppError::Internal(e.to_string())
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest(_) => "bad_request",
            AppError::Validation(_) => "validation_failed",
            AppError::NotFound(_) => "not_found",
            AppError::MethodNotAllowed { .. } => "method_not_allowed",
            AppError::Conflict(_) => "conflict",
            AppError::Unprocessable(_) => "unprocessable",
            AppError::PayloadTooLarge(_) => "payload_too_large",
            AppError::UnsupportedMediaType(_) => "unsupported_media_type",
            AppError::Forbidden(_) => "forbidden",
            AppError::Unauthorized(_) => "unauthorized",
            AppError::Upstream(_) => "upstream_error",
            AppError::Unavailable(_) => "unavailable",
            AppError::Internal(_) => "internal",
        }
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::NotFound => AppError::NotFound("not found".into()),
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                info,
            ) => AppError::Conflict(format!("already exists: {}", info.message())),
            other => AppError::Internal(format!("database: {other}")),
        }
    }
}

impl From<actix::MailboxError> for AppError {
    fn from(e: actix::MailboxError) -> Self {
        AppError::Unavailable(format!("component unavailable: {e}"))
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `not_found`, `conflict`, `validation_failed`.
    pub code: String,
    pub message: String,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Upstream(_) => StatusCode::BAD_GATEWAY,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            AppError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                "internal error; see the daemon log".to_string()
            }
            other => other.to_string(),
        };
        let mut answer = HttpResponse::build(self.status_code());
        if let AppError::MethodNotAllowed { allow, .. } = self {
            answer.insert_header((actix_web::http::header::ALLOW, allow.as_str()));
        }
        answer.json(ErrorBody {
            error: ErrorDetail {
                code: self.code().to_string(),
                message,
            },
        })
    }
}

pub type AppResult<T> = Result<T, AppError>;
