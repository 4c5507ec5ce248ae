//! One tab's WebSocket: origin check, frame size and rate limits, pings, sign-out.

use super::{
    hub::{Hub, SIGNED_OUT, TAB_QUEUE, ToTab},
    popups::{seen, waiting_popups},
};
use crate::{AppState, page::PageError, session::WebUser};
use actix_web::{HttpRequest, HttpResponse, get, http::header, web};
use futures_util::StreamExt;
use hark_core::{
    ids::UserId,
    push::TabFrame,
    store::{sessions, users},
};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How often a tab is pinged, and how long it may stay silent before it is dropped.
const PING: Duration = Duration::from_secs(20);
const SILENT: Duration = Duration::from_secs(60);

/// Whether the request's Origin is this site (browsers always send it on WebSocket
/// handshakes; a page elsewhere must not open a socket with the visitor's cookie): its host
/// is the one the browser asked for (the `Host`, or a trusted proxy's `X-Forwarded-Host`).
pub(crate) fn same_origin(state: &AppState, req: &HttpRequest) -> bool {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    let host = crate::forwarded::client(req, &state.trusted_proxies).host;
    match (origin, host) {
        (Some(o), Some(h)) => {
            let o = o
                .strip_prefix("http://")
                .or_else(|| o.strip_prefix("https://"))
                .unwrap_or("");
            o == h
        }
        _ => false,
    }
}

#[get("/ws")]
pub(crate) async fn socket(
    state: web::Data<AppState>,
    me: WebUser,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    if !same_origin(&state, &req) {
        return Err(PageError::Csrf.into());
    }
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let (tab, rx) = open(&state.hub, &me.user).await?;
    let waiting = waiting_popups(&state.deps.store, me.user.user_id())
        .await
        .map_err(PageError::from)?;
    let uid = me.user.user_id();
    let unread = state
        .deps
        .store
        .run(move |c| hark_core::store::inbox::count_new(c, &uid))
        .await
        .map_err(PageError::from)?;
    let hub = state.hub.clone();
    actix_web::rt::spawn(async move {
        let user = me.user.id.clone();
        let tab_io = TabIo {
            session,
            stream: stream.max_frame_size(state.config.ws_max_frame_bytes),
            rx,
        };
        serve_tab(tab_io, (unread, waiting), &me, &state).await;
        close(&hub, &user, tab).await;
    });
    Ok(response)
}

/// A tab opened: the first for its person binds their keys and makes them present.
async fn open(hub: &Hub, user: &users::User) -> Result<(u64, mpsc::Receiver<ToTab>), PageError> {
    let (tab, rx, first) = hub.add_tab(&user.id);
    if first {
        hub.follow(&user.user_id())
            .await
            .map_err(|e| PageError::Internal(e.to_string()))?;
        hub.arrived(user).await?;
    }
    Ok((tab, rx))
}

/// A tab closed: the last for its person unbinds their keys and makes them offline.
async fn close(hub: &Hub, user: &str, tab: u64) {
    if hub.remove_tab(user, tab) {
        hub.unfollow(&UserId::from(user)).await;
        hub.left(user).await;
    }
}

/// A tab's socket halves and its queue of frames from the hub.
struct TabIo {
    session: actix_ws::Session,
    stream: actix_ws::MessageStream,
    rx: mpsc::Receiver<ToTab>,
}

/// Whether the session that opened a tab still stands (not signed out, not expired, its
/// person not disabled). A database that cannot answer does not close anyone's tab.
async fn still_signed_in(state: &AppState, token: &str) -> bool {
    let token = token.to_owned();
    match state
        .deps
        .store
        .run(move |c| sessions::find_web(c, &token))
        .await
    {
        Ok(found) => found.is_some(),
        Err(e) => {
            tracing::debug!(error = %e, "could not check a tab's session");
            true
        }
    }
}

/// One tab's socket until it closes, goes silent, floods or its session ends.
/// `unread` is how many messages the person has not heard (the tab's title shows it);
/// `waiting` the pop-ups they have not seen yet.
async fn serve_tab(
    io: TabIo,
    (unread, waiting): (i64, Vec<String>),
    me: &WebUser,
    state: &AppState,
) {
    let TabIo {
        mut session,
        mut stream,
        mut rx,
    } = io;
    let hello =
        json!({"type": "hello", "extension": me.user.extension, "unread": unread}).to_string();
    if session.text(hello).await.is_err() {
        return;
    }
    let already_sent = u32::try_from(waiting.len()).unwrap_or(u32::MAX);
    for frame in waiting {
        if session.text(frame).await.is_err() {
            return;
        }
    }
    let mut ping = tokio::time::interval(PING);
    let mut heard = Instant::now();
    let (mut window, mut frames) = (Instant::now(), 0u32);
    // Each pop-up sent to the tab earns it one "seen" outside the rate limit: a busy person's
    // answers are not a flood.
    let mut owed: u32 = already_sent;
    let mut pongs_owed: u32 = 0;
    let reason = loop {
        tokio::select! {
            frame = rx.recv() => match frame {
                Some(ToTab::Frame(text)) => {
                    if text.starts_with(r#"{"type":"popup""#) {
                        owed = owed.saturating_add(1).min(TAB_QUEUE as u32 * 4);
                    }
                    if session.text(text).await.is_err() { break None }
                }
                Some(ToTab::CheckSession) => {
                    if !still_signed_in(state, &me.token).await {
                        break Some(actix_ws::CloseCode::Other(SIGNED_OUT));
                    }
                }
                None => break Some(actix_ws::CloseCode::Again),
            },
            _ = ping.tick() => {
                if heard.elapsed() > SILENT {
                    break Some(actix_ws::CloseCode::Away);
                }
                if !still_signed_in(state, &me.token).await {
                    break Some(actix_ws::CloseCode::Other(SIGNED_OUT));
                }
                if session.ping(b"").await.is_err() { break None }
                pongs_owed = pongs_owed.saturating_add(1).min(3);
            }
            msg = stream.next() => {
                let msg = match msg {
                    Some(Ok(msg)) => msg,
                    // Past `portal.ws_max_frame_bytes`: 1009, "message too big".
                    Some(Err(actix_ws::ProtocolError::Overflow)) => {
                        break Some(actix_ws::CloseCode::Size);
                    }
                    _ => break Some(actix_ws::CloseCode::Protocol),
                };
                heard = Instant::now();
                if window.elapsed() > Duration::from_secs(1) {
                    (window, frames) = (Instant::now(), 0);
                }
                // The answer to our own ping is not the tab's to spend.
                if matches!(msg, actix_ws::Message::Pong(_)) && pongs_owed > 0 {
                    pongs_owed -= 1;
                } else {
                    frames += 1;
                }
                if frames > state.config.ws_frames_per_sec {
                    break Some(actix_ws::CloseCode::Policy);
                }
                match msg {
                    actix_ws::Message::Ping(p) if session.pong(&p).await.is_err() => break None,
                    actix_ws::Message::Close(_) => break None,
                    actix_ws::Message::Text(text) => match serde_json::from_str::<TabFrame>(&text) {
                        Ok(TabFrame::Seen { attempt_id }) => {
                            if owed > 0 {
                                owed -= 1;
                                frames -= 1;
                            }
                            if let Err(e) = seen(state, me.user.user_id(), attempt_id).await {
                                tracing::warn!(error = %e, "could not record a seen pop-up");
                            }
                        }
                        Err(_) => tracing::debug!("a tab sent a frame this portal does not know"),
                    },
                    _ => {}
                }
            }
        }
    };
    if let Some(code) = reason {
        let _ = session.close(Some(code.into())).await;
    }
}
