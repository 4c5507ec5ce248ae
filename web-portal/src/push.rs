//! The portal's push path: one WebSocket per open tab (`/ws`), and one bus queue per portal
//! node that follows the people connected to it.
//!
//! The node's queue (`portal.<node>`, transient) is bound to `presence.changed` and
//! `message.recorded` for everyone, and — while someone has a tab open here — to their
//! `receipt.<id>` events and their `user.<id>` frames on `hark.push` (what the notifier sends
//! for pop-ups). So a pop-up for someone connected to node B reaches them even when node A's
//! router planned it, and a node carries only the traffic of the people it serves.
//!
//! Presence: the first tab a person opens on a node makes them present (their chosen status)
//! and a heartbeat keeps their row fresh; closing the last tab makes them offline. Each change
//! goes out as `presence.changed` through the outbox, in the same transaction as the row,
//! so the router (which releases messages held for people coming online) never misses one.
//!
//! Frames to the browser are JSON text: `presence`, `receipt`, `inbox`, and whatever
//! `hark.push` carries for the person. A tab's socket is checked for its Origin (no other
//! site may open it with the visitor's cookie), bounded in frame size and rate, and pinged;
//! one that stops answering is closed.

use crate::{AppState, page::PageError, session::WebUser};
use actix_web::{HttpRequest, HttpResponse, get, http::header, web};
use futures_util::StreamExt;
use hark_core::{
    bus::{Bus, BusError, Exchange, QueueSpec},
    channel::Channel,
    events::{Envelope, Event, Outcome, PresenceStatus, keys},
    ids::{AttemptId, MessageId, UserId},
    push::{Notice, PushFrame, TabFrame, user_key},
    store::{self, Store, StoreError, groups, messages, presence, sessions, users},
};
use serde_json::json;
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How often a connected person's presence row is refreshed (well inside its 120 s life).
const HEARTBEAT: Duration = Duration::from_secs(30);
/// How often a tab is pinged, and how long it may stay silent before it is dropped.
const PING: Duration = Duration::from_secs(20);
const SILENT: Duration = Duration::from_secs(60);
/// Frames waiting for one slow tab before it is dropped (its page reconnects and reloads).
const TAB_QUEUE: usize = 256;
/// How often pop-ups still not seen are sent again to the tabs here, and how old an
/// attempt must be for that. A frame can be lost between the notifier and a tab (the broker
/// restarted, this node's queue was being declared again, the "seen" answer met a database
/// that was down); tabs show each attempt once and answer "seen" again, so a repeat is
/// harmless and the pop-up is not left to expire unseen.
const RESEND_EVERY: Duration = Duration::from_secs(10);
const RESEND_AFTER: chrono::Duration = chrono::Duration::seconds(5);

/// What the hub hands a tab.
#[derive(Debug)]
enum ToTab {
    /// A frame to pass on.
    Frame(String),
    /// Sessions of this person ended here (logout, new password, account disabled): check
    /// that the tab's own session still stands, and close the tab if not.
    CheckSession,
}

/// Close code for a tab whose session ended (in the 4000s, for the application): the page
/// goes to the login form instead of reconnecting.
pub(crate) const SIGNED_OUT: u16 = 4401;

/// One open tab.
struct Tab {
    id: u64,
    tx: mpsc::Sender<ToTab>,
}

/// The node's connected people and its bus queue.
pub(crate) struct Hub {
    pub node: String,
    queue: String,
    bus: Arc<dyn Bus>,
    store: Store,
    outbox: hark_core::bus::outbox::OutboxSignal,
    tabs: Mutex<HashMap<String, Vec<Tab>>>,
    next_tab: AtomicU64,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section is a single insert or removal, so a poisoned lock holds
    // consistent data.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Hub {
    /// Declare this node's queue and start relaying it to tabs until `shutdown`.
    pub async fn start(
        deps: &hark_core::Deps,
        shutdown: CancellationToken,
    ) -> Result<Arc<Self>, BusError> {
        let node = format!(
            "portal-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let queue = node.clone();
        deps.bus
            .declare(
                &QueueSpec::transient(&queue)
                    .bind(Exchange::Events, keys::PRESENCE_CHANGED)
                    .bind(Exchange::Events, keys::MESSAGE_RECORDED),
            )
            .await?;
        let hub = Arc::new(Hub {
            node,
            queue,
            bus: deps.bus.clone(),
            store: deps.store.clone(),
            outbox: deps.outbox.clone(),
            tabs: Mutex::new(HashMap::new()),
            next_tab: AtomicU64::new(1),
        });
        let consumer = hub.bus.consume(&hub.queue, 64).await?;
        tokio::spawn(hub.clone().relay(consumer, shutdown.clone()));
        tokio::spawn(hub.clone().resend(shutdown.clone()));
        tokio::spawn(hub.clone().heartbeat(shutdown));
        Ok(hub)
    }

    /// Frames from the bus to the tabs they concern.
    async fn relay(
        self: Arc<Self>,
        mut consumer: hark_core::bus::Consumer,
        stop: CancellationToken,
    ) {
        loop {
            let delivery = tokio::select! {
                d = consumer.next() => match d {
                    Some(d) => d,
                    None => {
                        tracing::warn!(node = %self.node, "portal push queue closed");
                        return;
                    }
                },
                _ = stop.cancelled() => return,
            };
            let key = delivery.message.routing_key.clone();
            if let Some(user) = key.strip_prefix("user.") {
                // A frame for one person, already JSON (from the notifier).
                match String::from_utf8(delivery.message.body.clone()) {
                    Ok(text) => self.send(user, &text),
                    Err(_) => tracing::warn!(%key, "push frame is not text; dropped"),
                }
            } else {
                match serde_json::from_slice::<Envelope<Event>>(&delivery.message.body) {
                    Ok(e) => {
                        if let Err(err) = self.on_event(e.body).await {
                            tracing::warn!(error = %err, "could not relay an event to tabs");
                        }
                    }
                    Err(e) => tracing::warn!(%key, error = %e, "undecodable event on push queue"),
                }
            }
            // Transient: nothing is redelivered, and a frame that could not be shown is only a
            // stale screen (the page reloads what it shows on reconnect).
            let _ = delivery.ack().await;
        }
    }

    async fn on_event(&self, event: Event) -> Result<(), StoreError> {
        match event {
            Event::PresenceChanged { user_id, status } => {
                let connected: Vec<String> = lock(&self.tabs).keys().cloned().collect();
                if connected.is_empty() {
                    return Ok(());
                }
                let who = user_id.clone();
                let (person, owners) = self
                    .store
                    .run(move |c| {
                        Ok((
                            users::find_by_id(c, &who)?,
                            groups::list_contact_owners(c, &who)?,
                        ))
                    })
                    .await?;
                let Some(person) = person else { return Ok(()) };
                let frame = json!({
                    "type": "presence",
                    "extension": person.extension,
                    "status": status,
                })
                .to_string();
                for owner in owners.iter().filter(|o| connected.contains(o)) {
                    self.send(owner, &frame);
                }
            }
            Event::MessageRecorded {
                message_id,
                sender_id,
                recipients,
                ..
            } => {
                let here: Vec<UserId> = {
                    let tabs = lock(&self.tabs);
                    recipients
                        .into_iter()
                        .filter(|r| tabs.contains_key(r.as_str()))
                        .collect()
                };
                if here.is_empty() {
                    return Ok(());
                }
                let sender = self
                    .store
                    .run(move |c| users::find_by_id(c, &sender_id))
                    .await?;
                let frame = json!({
                    "type": "inbox",
                    "message_id": message_id,
                    "from": sender.map(|s| s.display_name).unwrap_or_default(),
                })
                .to_string();
                for r in &here {
                    self.send(r.as_str(), &frame);
                }
            }
            Event::Receipt {
                message_id,
                recipient_id,
                sender_id,
                kind,
                ..
            } => {
                let recipient = self
                    .store
                    .run(move |c| users::find_by_id(c, &recipient_id))
                    .await?;
                let frame = json!({
                    "type": "receipt",
                    "message_id": message_id,
                    "extension": recipient.map(|r| r.extension).unwrap_or_default(),
                    "kind": kind,
                })
                .to_string();
                self.send(sender_id.as_str(), &frame);
            }
            _ => {}
        }
        Ok(())
    }

    /// Queue `frame` for each of `user`'s tabs here; a tab too far behind is dropped.
    fn send(&self, user: &str, frame: &str) {
        let mut tabs = lock(&self.tabs);
        if let Some(list) = tabs.get_mut(user) {
            list.retain(|t| t.tx.try_send(ToTab::Frame(frame.to_owned())).is_ok());
        }
    }

    /// Some of `user`'s sessions ended on this node: their tabs here check theirs at once
    /// (tabs on other nodes find out at their next ping, within 20 s).
    pub fn sessions_ended(&self, user: &str) {
        let mut tabs = lock(&self.tabs);
        if let Some(list) = tabs.get_mut(user) {
            list.retain(|t| t.tx.try_send(ToTab::CheckSession).is_ok());
        }
    }

    /// Whether `user` has a tab open on this node.
    pub fn is_connected(&self, user: &str) -> bool {
        lock(&self.tabs).get(user).is_some_and(|t| !t.is_empty())
    }

    /// A tab opened: the first for its person binds their keys and makes them present.
    async fn open(&self, user: &users::User) -> Result<(u64, mpsc::Receiver<ToTab>), PageError> {
        let id = self.next_tab.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(TAB_QUEUE);
        let first = {
            let mut tabs = lock(&self.tabs);
            let list = tabs.entry(user.id.clone()).or_default();
            list.push(Tab { id, tx });
            list.len() == 1
        };
        if first {
            let uid = user.user_id();
            for (exchange, key) in [
                (Exchange::Events, format!("receipt.{uid}")),
                (Exchange::Push, user_key(&uid)),
            ] {
                self.bus
                    .bind(&self.queue, exchange, &key)
                    .await
                    .map_err(|e| PageError::Internal(e.to_string()))?;
            }
            self.mark_present(&user.id, &user.status).await?;
        }
        Ok((id, rx))
    }

    /// A tab closed: the last for its person unbinds their keys and makes them offline.
    async fn close(&self, user: &str, tab: u64) {
        let last = {
            let mut tabs = lock(&self.tabs);
            let Some(list) = tabs.get_mut(user) else {
                return;
            };
            list.retain(|t| t.id != tab);
            let last = list.is_empty();
            if last {
                tabs.remove(user);
            }
            last
        };
        if !last {
            return;
        }
        let uid = UserId::from(user);
        for (exchange, key) in [
            (Exchange::Events, format!("receipt.{uid}")),
            (Exchange::Push, user_key(&uid)),
        ] {
            if let Err(e) = self.bus.unbind(&self.queue, exchange, &key).await {
                tracing::debug!(error = %e, "unbinding a person who left");
            }
        }
        let (u, node) = (user.to_owned(), self.node.clone());
        let left = self
            .store
            .transaction(move |c| {
                let gone = presence::leave(c, &u, &node)?;
                if gone {
                    announce(c, &u, PresenceStatus::Offline)?;
                }
                Ok(gone)
            })
            .await;
        match left {
            Ok(true) => self.outbox.notify(),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "could not record a person leaving"),
        }
    }

    /// Make `user` present here with `status`, announcing it when it changed.
    async fn mark_present(&self, user: &str, status: &str) -> Result<(), StoreError> {
        let (u, node, s) = (user.to_owned(), self.node.clone(), status.to_owned());
        let changed = self
            .store
            .transaction(move |c| {
                let before = presence::heartbeat(c, &u, &node, &s)?;
                if before != s {
                    announce(c, &u, parse_status(&s))?;
                }
                Ok(before != s)
            })
            .await?;
        if changed {
            self.outbox.notify();
        }
        Ok(())
    }

    /// Send pop-ups still not seen again to the tabs of the people connected here.
    async fn resend(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(RESEND_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.cancelled() => return,
            }
            let people: Vec<String> = lock(&self.tabs).keys().cloned().collect();
            if people.is_empty() {
                continue;
            }
            let before = store::now() - RESEND_AFTER;
            let frames = self
                .store
                .run(move |c| {
                    let mut frames = Vec::new();
                    for chunk in people.chunks(500) {
                        for a in
                            messages::open_attempts_of(c, chunk, Channel::Popup.name(), before)?
                        {
                            if let Some(f) = popup_frame(c, &a)? {
                                frames.push((a.recipient_id, f));
                            }
                        }
                    }
                    Ok(frames)
                })
                .await;
            match frames {
                Ok(frames) => {
                    if !frames.is_empty() {
                        tracing::debug!(count = frames.len(), "pop-ups not yet seen sent again");
                    }
                    for (user, frame) in frames {
                        self.send(&user, &frame);
                    }
                }
                Err(e) => tracing::debug!(error = %e, "pop-ups not yet seen not looked up"),
            }
        }
    }

    /// Keep everyone connected here present.
    async fn heartbeat(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.cancelled() => break,
            }
            let people: Vec<String> = lock(&self.tabs).keys().cloned().collect();
            if people.is_empty() {
                continue;
            }
            let node = self.node.clone();
            let refreshed = self
                .store
                .transaction(move |c| {
                    let chosen = users::list_statuses(c, &people)?;
                    for (id, status) in &chosen {
                        let before = presence::heartbeat(c, id, &node, status)?;
                        if &before != status {
                            announce(c, id, parse_status(status))?;
                        }
                    }
                    Ok(())
                })
                .await;
            if let Err(e) = refreshed {
                tracing::warn!(error = %e, "presence heartbeat failed");
            }
            self.outbox.notify();
        }
        // Shutting down: everyone here goes offline now rather than in two minutes.
        let node = self.node.clone();
        let gone = self
            .store
            .transaction(move |c| {
                for id in presence::leave_node(c, &node)? {
                    announce(c, &id, PresenceStatus::Offline)?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = gone {
            tracing::warn!(error = %e, "could not mark this node's people offline");
        }
        self.outbox.notify();
    }
}

fn parse_status(s: &str) -> PresenceStatus {
    match s {
        "busy" => PresenceStatus::Busy,
        "dnd" => PresenceStatus::Dnd,
        "offline" => PresenceStatus::Offline,
        _ => PresenceStatus::Available,
    }
}

/// `presence.changed` for `user`, through the outbox in the caller's transaction.
fn announce(
    c: &mut store::DbConnection,
    user: &str,
    status: PresenceStatus,
) -> Result<(), StoreError> {
    store::outbox::enqueue_event(
        c,
        &Envelope::new(Event::PresenceChanged {
            user_id: UserId::from(user),
            status,
        }),
    )
}

/// Set the status `user` shows; if they are present, their contacts see it at once.
pub(crate) async fn set_status(
    state: &AppState,
    user: &users::User,
    status: &str,
) -> Result<(), PageError> {
    let uid = user.user_id();
    let s = status.to_owned();
    state
        .deps
        .store
        .run(move |c| users::set_status(c, &uid, &s))
        .await?;
    if state.hub.is_connected(&user.id) {
        state.hub.mark_present(&user.id, status).await?;
    }
    Ok(())
}

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
    let (tab, rx) = state.hub.open(&me.user).await?;
    let waiting = waiting_popups(&state.deps.store, me.user.user_id())
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
        serve_tab(tab_io, waiting, &me, &state).await;
        hub.close(&user, tab).await;
    });
    Ok(response)
}

/// Pop-ups still open for `user` (sent while no tab was open, or to a tab since closed),
/// as frames for a tab that opens now.
async fn waiting_popups(store: &Store, user: UserId) -> Result<Vec<String>, StoreError> {
    store
        .run(move |c| {
            let mut frames = Vec::new();
            for a in messages::open_attempts(c, &user, Channel::Popup.name())? {
                frames.extend(popup_frame(c, &a)?);
            }
            Ok(frames)
        })
        .await
}

/// The pop-up frame of an open attempt (none if its message or sender is gone).
fn popup_frame(
    c: &mut store::DbConnection,
    a: &messages::Attempt,
) -> Result<Option<String>, StoreError> {
    let mid = MessageId::from(a.message_id.as_str());
    let Some(m) = messages::find_by_id(c, &mid)? else {
        return Ok(None);
    };
    let Some(sender) = users::find_by_id(c, &UserId::from(m.sender_id.as_str()))? else {
        return Ok(None);
    };
    let frame = PushFrame::Popup(Notice {
        attempt_id: AttemptId::from(a.id.as_str()),
        message_id: mid,
        from_name: sender.display_name,
        from_extension: sender.extension,
        duration_ms: m.duration_ms,
        urgent: m.urgent,
    });
    Ok(serde_json::to_string(&frame).ok())
}

/// A tab says it showed the pop-up of `attempt`: if that is the person's own open pop-up
/// attempt, it was delivered (the router settles each attempt once, so several tabs saying so
/// change nothing more).
async fn seen(state: &AppState, user: UserId, attempt: AttemptId) -> Result<(), StoreError> {
    let wrote = state
        .deps
        .store
        .transaction(move |c| {
            let Some(a) = messages::find_attempt(c, &attempt)? else {
                return Ok(false);
            };
            if a.recipient_id != user.as_str()
                || a.channel != Channel::Popup.name()
                || a.state != "dispatched"
            {
                return Ok(false);
            }
            store::outbox::enqueue_event(
                c,
                &Envelope::new(Event::DeliveryOutcome {
                    attempt_id: attempt,
                    message_id: MessageId::from(a.message_id.as_str()),
                    recipient_id: user,
                    channel: Channel::Popup,
                    outcome: Outcome::Delivered,
                    detail: Some("seen in the portal".into()),
                }),
            )?;
            Ok(true)
        })
        .await?;
    if wrote {
        state.deps.outbox.notify();
    }
    Ok(())
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
async fn serve_tab(io: TabIo, waiting: Vec<String>, me: &WebUser, state: &AppState) {
    let TabIo {
        mut session,
        mut stream,
        mut rx,
    } = io;
    let hello = json!({"type": "hello", "extension": me.user.extension}).to_string();
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
