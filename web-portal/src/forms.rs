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
    const PAGES: [&str; 5] = [
        "/account",
        "/profile",
        "/admin/plugins",
        "/admin",
        "/compose",
    ];
    PAGES
        .into_iter()
        .find(|p| action == *p || action.starts_with(&format!("{p}/")))
        .unwrap_or("/")
}

/// Middleware: a POST carrying a `once` token acts only the first time it is sent.
pub(crate) async fn act_once(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let token = (req.method() == Method::POST)
        .then(|| token_of(req.query_string()))
        .flatten();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (Some(token), Some(state)) = (token, state) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let t = token.clone();
    let first = match state.deps.store.run(move |c| forms::submit(c, &t)).await {
        Ok(first) => first,
        Err(e) => {
            let answer = PageError::from(e).error_response();
            return Ok(req.into_response(answer).map_into_boxed_body());
        }
    };
    if !first {
        tracing::info!(path = %req.path(), "a form sent again was not acted on twice");
        if let Some(session) = session::token(req.request()) {
            let set = state
                .deps
                .store
                .run(move |c| sessions::set_flash(c, &session, REPEATED))
                .await;
            if let Err(e) = set {
                tracing::debug!(error = %e, "the repeated form's notice was not kept");
            }
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

/// Go to `to`, which shows `notice` once.
pub(crate) async fn done(
    state: &AppState,
    me: &session::WebUser,
    to: &str,
    notice: &str,
) -> Result<HttpResponse, PageError> {
    let (token, text) = (me.token.clone(), notice.to_owned());
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
