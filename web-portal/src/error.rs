//! Errors as HTTP responses. API errors are JSON `{"error": "…"}` with the status a client can
//! act on; internal details are logged, never shown.

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use hark_core::{audio::AudioError, blob::BlobError, store::StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error(
        "sign in first: send Authorization: Bearer TOKEN (a token from POST /api/v1/login or \
         the portal's Account page)"
    )]
    Unauthorized,
    #[error("wrong extension or password")]
    BadCredentials,
    #[error("too many wrong passwords: this account is locked for a while")]
    Locked,
    #[error("too many attempts; wait a minute")]
    TooManyRequests,
    #[error("this token is not allowed to {0}: make one with that scope on the Account page")]
    Scope(&'static str),
    #[error("only an admin may do this")]
    NotAdmin,
    #[error("not found")]
    NotFound,
    #[error("the upload is larger than the {0}-byte limit")]
    TooLarge(usize),
    #[error("{0}")]
    UnsupportedMedia(String),
    #[error("{0}")]
    Unprocessable(String),
    /// A value the client sent is not acceptable: the answer names the field.
    #[error("{message}")]
    Field { field: String, message: String },
    #[error("internal error")]
    Internal(String),
    /// The database is unreachable for now; the client should try again shortly.
    #[error("temporarily unavailable; try again shortly")]
    Unavailable(String),
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized | ApiError::BadCredentials => StatusCode::UNAUTHORIZED,
            ApiError::Locked | ApiError::Scope(_) | ApiError::NotAdmin => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMedia(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(_) | ApiError::Field { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(detail) => tracing::error!(%detail, "request failed"),
            ApiError::Unavailable(detail) => {
                tracing::warn!(%detail, "request refused: database unavailable")
            }
            _ => {}
        }
        let mut reply = HttpResponse::build(self.status_code());
        match self {
            // RFC 9110: a 401 names the scheme to use.
            ApiError::Unauthorized | ApiError::BadCredentials => {
                reply.insert_header(("WWW-Authenticate", "Bearer realm=\"hark\""));
            }
            ApiError::TooManyRequests => {
                reply.insert_header(("Retry-After", "60"));
            }
            ApiError::Unavailable(_) => {
                reply.insert_header(("Retry-After", "5"));
            }
            _ => {}
        }
        match self {
            ApiError::Field { field, .. } => {
                reply.json(serde_json::json!({ "error": self.to_string(), "field": field }))
            }
            ApiError::BadRequest(m) => match named_field(m) {
                Some(field) => {
                    reply.json(serde_json::json!({ "error": self.to_string(), "field": field }))
                }
                None => reply.json(serde_json::json!({ "error": self.to_string() })),
            },
            _ => reply.json(serde_json::json!({ "error": self.to_string() })),
        }
    }
}

impl ApiError {
    /// Field `field` is not acceptable, because `message`.
    pub(crate) fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Field {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The field a JSON body's error names (serde says ``missing field `name` `` or ``unknown
/// field `nmae` ``), so a client is told which one even when the body did not parse.
fn named_field(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once("field `")?;
    let (field, _) = rest.split_once('`')?;
    Some(field)
}

/// What went wrong below the portal (the store, the blob store, audio, a send), classified
/// once for whoever is told: [`ApiError`] renders it as JSON, the pages' error type as a page.
#[derive(Debug)]
pub(crate) enum Fault {
    NotFound,
    UnsupportedMedia(String),
    Unprocessable(String),
    Unavailable(String),
    Internal(String),
}

impl From<StoreError> for Fault {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFoundNumbers(_) | StoreError::Conflict(_) | StoreError::Invalid(_) => {
                Fault::Unprocessable(e.to_string())
            }
            e if e.is_not_found() => Fault::NotFound,
            e if e.is_unavailable() => Fault::Unavailable(e.to_string()),
            e => Fault::Internal(e.to_string()),
        }
    }
}

impl From<AudioError> for Fault {
    fn from(e: AudioError) -> Self {
        match e {
            AudioError::NotAudio => Fault::UnsupportedMedia(e.to_string()),
            AudioError::Resample(_) | AudioError::DecoderUnavailable(_) => {
                Fault::Internal(e.to_string())
            }
            _ => Fault::Unprocessable(e.to_string()),
        }
    }
}

impl From<BlobError> for Fault {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::NotFound(_) => Fault::NotFound,
            e => Fault::Internal(e.to_string()),
        }
    }
}

impl From<crate::send::SendError> for Fault {
    fn from(e: crate::send::SendError) -> Self {
        use crate::send::SendError;
        match e {
            SendError::Invalid(why) => Fault::Unprocessable(why),
            SendError::KeyReused => Fault::Unprocessable(e.to_string()),
            SendError::Store(e) => e.into(),
            SendError::Blob(e) => e.into(),
            SendError::Audio(e) => e.into(),
        }
    }
}

impl From<Fault> for ApiError {
    fn from(f: Fault) -> Self {
        match f {
            Fault::NotFound => ApiError::NotFound,
            Fault::UnsupportedMedia(m) => ApiError::UnsupportedMedia(m),
            Fault::Unprocessable(m) => ApiError::Unprocessable(m),
            Fault::Unavailable(m) => ApiError::Unavailable(m),
            Fault::Internal(m) => ApiError::Internal(m),
        }
    }
}

/// Each error below the portal (the store's, the blob store's, audio's, a send's) becomes
/// `$to` through [`Fault`]: the API's error here, the pages' where they are rendered.
macro_rules! through_fault {
    ($to:ty) => {
        crate::error::through_fault!(
            $to: hark_core::store::StoreError,
            hark_core::audio::AudioError,
            hark_core::blob::BlobError,
            crate::send::SendError
        );
    };
    ($to:ty: $($from:ty),*) => {$(
        impl From<$from> for $to {
            fn from(e: $from) -> Self {
                crate::error::Fault::from(e).into()
            }
        }
    )*};
}
pub(crate) use through_fault;
through_fault!(ApiError);

/// Bodies and query strings the API cannot read get the API's JSON error, not actix's text.
pub(crate) fn json_config() -> actix_web::web::JsonConfig {
    actix_web::web::JsonConfig::default()
        .limit(64 * 1024)
        .error_handler(|e, _| ApiError::BadRequest(e.to_string()).into())
}

pub(crate) fn query_config() -> actix_web::web::QueryConfig {
    actix_web::web::QueryConfig::default()
        .error_handler(|e, _| ApiError::BadRequest(e.to_string()).into())
}
