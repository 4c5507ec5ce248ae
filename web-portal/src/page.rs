//! HTML responses: every page goes out with the same security headers, and a failed page
//! request shows a page (not JSON) with a status the browser and a person can act on.
//!
//! The Content-Security-Policy allows scripts, styles and media from the portal itself only
//! (no inline script), so text that ever slipped past askama's escaping still could not run.

use actix_web::{
    HttpResponse, HttpResponseBuilder, ResponseError,
    http::{StatusCode, header},
};
use askama::Template;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   media-src 'self' blob:; connect-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// Headers every portal page carries: never cached (pages show private data), never framed.
pub(crate) fn private(mut b: HttpResponseBuilder) -> HttpResponseBuilder {
    b.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP));
    b
}

/// Render `view` with `status`.
pub(crate) fn html(status: StatusCode, view: &impl Template) -> HttpResponse {
    match view.render() {
        Ok(body) => private(HttpResponse::build(status))
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(e) => PageError::Internal(e.to_string()).error_response(),
    }
}

pub(crate) fn ok(view: &impl Template) -> HttpResponse {
    html(StatusCode::OK, view)
}

/// 303 to `to`: the answer to a form post (so reloading does not post again).
pub(crate) fn see_other(to: &str) -> HttpResponse {
    private(HttpResponse::SeeOther())
        .insert_header((header::LOCATION, to))
        .finish()
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    detail: &'a str,
}

/// Why a page request failed.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// Not signed in: go to the login page, and come back to `next` afterwards.
    #[error("sign in first")]
    SignIn { next: String },
    #[error("the form was stale or did not come from this site; reload the page and try again")]
    Csrf,
    #[error("not found")]
    NotFound,
    #[error("this page is for administrators")]
    Forbidden,
    #[error("{0}")]
    BadRequest(String),
    #[error("the upload is larger than the {0}-byte limit")]
    TooLarge(usize),
    #[error("{0}")]
    UnsupportedMedia(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("something went wrong on our side")]
    Internal(String),
    #[error("Hark is briefly unavailable; try again in a few seconds")]
    Unavailable(String),
    #[error("you have sent a lot in the last minute; wait a minute and try again")]
    TooMany,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::SignIn { .. } => StatusCode::SEE_OTHER,
            PageError::Csrf | PageError::Forbidden => StatusCode::FORBIDDEN,
            PageError::NotFound => StatusCode::NOT_FOUND,
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            PageError::UnsupportedMedia(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            PageError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            PageError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            PageError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            PageError::TooMany => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            PageError::SignIn { next } => {
                let to = if next.is_empty() || next == "/" {
                    "/login".to_owned()
                } else {
                    format!("/login?next={}", encode_next(next))
                };
                return see_other(&to);
            }
            PageError::Internal(detail) => tracing::error!(%detail, "page request failed"),
            PageError::Unavailable(detail) => {
                tracing::warn!(%detail, "page refused: database unavailable");
            }
            _ => {}
        }
        let title = match self.status_code() {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Not allowed",
            s if s.is_server_error() => "Sorry",
            _ => "That did not work",
        };
        let mut reply = html(
            self.status_code(),
            &ErrorPage {
                title,
                detail: &self.to_string(),
            },
        );
        if let PageError::TooMany = self {
            reply.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from_static("60"),
            );
        }
        if let PageError::Unavailable(_) = self {
            reply.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from_static("5"),
            );
        }
        reply
    }
}

impl From<crate::error::Fault> for PageError {
    fn from(f: crate::error::Fault) -> Self {
        use crate::error::Fault;
        match f {
            Fault::NotFound => PageError::NotFound,
            Fault::UnsupportedMedia(m) => PageError::UnsupportedMedia(m),
            Fault::Unprocessable(m) => PageError::Unprocessable(m),
            Fault::Unavailable(m) => PageError::Unavailable(m),
            Fault::Internal(m) => PageError::Internal(m),
        }
    }
}

crate::error::through_fault!(PageError);

impl From<tokio::task::JoinError> for PageError {
    fn from(e: tokio::task::JoinError) -> Self {
        PageError::Internal(e.to_string())
    }
}

/// `next` (a path in the portal) for a query string.
pub(crate) fn encode_next(next: &str) -> String {
    let mut out = String::with_capacity(next.len());
    for b in next.bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A moment as `tz` (an IANA zone name; UTC if unknown) shows it, with the zone named
/// ("2026-12-06 14:05 CET"), so nobody has to guess whose clock it is.
pub(crate) fn local_time(at: chrono::DateTime<chrono::Utc>, tz: &str) -> String {
    let zone = tz.parse::<chrono_tz::Tz>().unwrap_or(chrono_tz::UTC);
    at.with_timezone(&zone)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// A duration in milliseconds as "m:ss".
pub(crate) fn clock(ms: i32) -> String {
    let s = (ms.max(0) + 500) / 1000;
    format!("{}:{:02}", s / 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::local_time;

    #[test]
    fn times_name_their_zone() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-06T13:05:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(local_time(at, "Europe/Berlin"), "2026-12-06 14:05 CET");
        assert_eq!(local_time(at, "America/New_York"), "2026-12-06 08:05 EST");
        assert_eq!(local_time(at, "UTC"), "2026-12-06 13:05 UTC");
        assert_eq!(local_time(at, "Not/AZone"), "2026-12-06 13:05 UTC");
    }
}
