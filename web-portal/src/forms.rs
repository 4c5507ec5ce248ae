//! Forms that change something act once, answer with a redirect and say what they did.
//!
//! Post/redirect/get: a form that did what it was asked answers `303 See Other` to its page,
//! leaving a one-line notice for it ([`done`]: "Saved", "Sent to Bob Baker"), so reloading
//! that page repeats nothing. Every page form also posts to `…?once=<token>`, a fresh random
//! token per form ([`crate::session::Me::once`]); [`act_once`] records it before the handler
//! runs, and a second submission of the same form — a double click, Back and Submit, a reload
//! of a page that answered with a result — finds it used and goes back to the page without
//! acting. A refused submission (a typo in a field) gives its token back, so the corrected
//! form can be sent.
//!
//! The one answer that stays a page is a new API token's: its value is shown once and stored
//! nowhere, so it cannot wait for a redirect; a reload of it makes no second token all the same.

use crate::{AppState, page, page::PageError, session};
use actix_web::{
    Error, HttpResponse, ResponseError,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{Method, header},
    middleware::Next,
    web,
};
use hark_core::store::{forms, sessions};

/// Longest token a form may carry (ours are 32 hex digits).
const TOKEN_MAX: usize = 64;

/// What a repeated form is told on the page it goes back to.
const REPEATED: &str = "That form was already sent; nothing was done twice.";

/// The `once` token of a request's query, if it carries a usable one.
fn token_of(query: &str) -> Option<String> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("once="))
        .filter(|t| !t.is_empty() && t.len() <= TOKEN_MAX)
        .filter(|t| t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .map(str::to_owned)
}

/// The page a repeated form goes back to: the page it was on (its `Referer`, when that is this
/// portal), else the page its action belongs to.
fn back_to(req: &ServiceRequest) -> String {
    let host = req.connection_info().host().to_owned();
    req.headers()
        .get(header::REFERER)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| r.split_once("://"))
        .and_then(|(_, rest)| {
            rest.split_once('/')
                .map(|(h, path)| (h, format!("/{path}")))
        })
        .filter(|(h, path)| *h == host && !path.starts_with("//"))
        .map_or_else(|| page_of(req.path()).to_owned(), |(_, path)| path)
}

/// The page whose forms post to `action`.
fn page_of(action: &str) -> &'static str {
    const PAGES: [&str; 6] = [
        "/account",
        "/profile",
        "/admin/plugins",
        "/admin/groups",
        "/admin",
        "/compose",
    ];
    PAGES
        .into_iter()
        .find(|p| action == *p || action.starts_with(&format!("{p}/")))
        .unwrap_or("/")
}

/// Middleware: a POST carrying a `once` token acts only the first time it is sent. Only a
/// signed-in person's tokens are recorded (a form without a live session is refused by its
/// handler anyway), so strangers cannot fill the table with made-up ones.
pub(crate) async fn act_once(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let token = (req.method() == Method::POST)
        .then(|| token_of(req.query_string()))
        .flatten();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let session = session::token(req.request());
    let (Some(token), Some(state), Some(session)) = (token, state, session) else {
        // No token, or nobody signed in: the handler refuses a stranger itself, and a
        // stranger's made-up tokens are never written down.
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let t = token.clone();
    let s = session.clone();
    let first = state
        .deps
        .store
        .run(move |c| match sessions::find_web(c, &s)? {
            Some(_) => forms::submit(c, &t).map(Some),
            None => Ok(None),
        })
        .await;
    let first = match first {
        Ok(None) => return Ok(next.call(req).await?.map_into_boxed_body()),
        Ok(Some(first)) => first,
        Err(e) => {
            let answer = PageError::from(e).error_response();
            return Ok(req.into_response(answer).map_into_boxed_body());
        }
    };
    if !first {
        tracing::info!(path = %req.path(), "a form sent again was not acted on twice");
        let set = state
            .deps
            .store
            .run(move |c| sessions::set_flash(c, &session, REPEATED))
            .await;
        if let Err(e) = set {
            tracing::debug!(error = %e, "the repeated form's notice was not kept");
        }
        let back = back_to(&req);
        return Ok(req
            .into_response(page::see_other(&back))
            .map_into_boxed_body());
    }
    let answer = next.call(req).await?;
    let status = answer.status();
    if !(status.is_success() || status.is_redirection()) {
        let withdrawn = state
            .deps
            .store
            .run(move |c| forms::withdraw(c, &token))
            .await;
        if let Err(e) = withdrawn {
            tracing::warn!(error = %e, "a refused form's token was not given back");
        }
    }
    Ok(answer.map_into_boxed_body())
}

/// Between a notice and the path that undoes what it reports, where both are kept.
const UNDO_MARK: char = '\u{1e}';

/// A kept notice's text, and the path that undoes it (empty for none).
pub(crate) fn split_notice(kept: &str) -> (&str, &str) {
    match kept.split_once(UNDO_MARK) {
        Some((text, undo)) if undo.starts_with('/') && !undo.starts_with("//") => (text, undo),
        Some((text, _)) => (text, ""),
        None => (kept, ""),
    }
}

/// Go to `to`, which shows `notice` once.
pub(crate) async fn done(
    state: &AppState,
    me: &session::WebUser,
    to: &str,
    notice: &str,
) -> Result<HttpResponse, PageError> {
    keep_notice(state, me, to, notice.to_owned()).await
}

/// Go to `to`, which shows `notice` once with an "Undo" button that posts to `undo`.
pub(crate) async fn done_undoably(
    state: &AppState,
    me: &session::WebUser,
    to: &str,
    notice: &str,
    undo: &str,
) -> Result<HttpResponse, PageError> {
    keep_notice(state, me, to, format!("{notice}{UNDO_MARK}{undo}")).await
}

async fn keep_notice(
    state: &AppState,
    me: &session::WebUser,
    to: &str,
    text: String,
) -> Result<HttpResponse, PageError> {
    let token = me.token.clone();
    state
        .deps
        .store
        .run(move |c| sessions::set_flash(c, &token, &text))
        .await?;
    Ok(page::see_other(to))
}

#[cfg(test)]
mod tests {
    use super::{page_of, token_of};

    #[test]
    fn a_repeated_form_without_a_referer_goes_back_to_its_page() {
        assert_eq!(page_of("/account/tokens"), "/account");
        assert_eq!(page_of("/admin/users/150/pin"), "/admin");
        assert_eq!(page_of("/admin/plugins/x"), "/admin/plugins");
        assert_eq!(page_of("/admin/groups/g1/delete"), "/admin/groups");
        assert_eq!(page_of("/compose"), "/compose");
        assert_eq!(page_of("/profiles"), "/");
        assert_eq!(page_of("/messages/1/delete"), "/");
    }

    #[test]
    fn a_form_token_is_read_from_the_query_and_nothing_else() {
        assert_eq!(token_of("once=ab12"), Some("ab12".into()));
        assert_eq!(token_of("x=1&once=ab-12"), Some("ab-12".into()));
        assert_eq!(token_of("once="), None);
        assert_eq!(token_of("once=a%27b"), None);
        assert_eq!(token_of(&format!("once={}", "a".repeat(65))), None);
        assert_eq!(token_of("notonce=ab"), None);
    }
}
