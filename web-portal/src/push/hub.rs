//! The node's hub: its bus queue, the tabs open here, and the frames between them.

use chrono::Timelike;
use hark_core::{
    bus::{Bus, BusError, Exchange, QueueSpec},
    events::{Envelope, Event, keys},
    ids::UserId,
    push::user_key,
    store::{Store, StoreError, groups, inbox, profiles, users},
};
use serde_json::json;
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What the hub hands a tab.
#[derive(Debug)]
pub(super) enum ToTab {
    /// A frame to pass on.
    Frame(String),
    /// Sessions of this person ended here (logout, new password, account disabled): check
    /// that the tab's own session still stands, and close the tab if not.
    CheckSession,
}

/// Frames waiting for one slow tab before it is dropped (its page reconnects and reloads).
pub(super) const TAB_QUEUE: usize = 256;

/// Close code for a tab whose session ended (in the 4000s, for the application): the page
/// goes to the login form instead of reconnecting.
pub(super) const SIGNED_OUT: u16 = 4401;

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
    pub(super) store: Store,
    pub(super) outbox: hark_core::bus::outbox::OutboxSignal,
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

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section is a single insert or removal, so a poisoned lock holds
    // consistent data.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Hub {
    /// Declare this node's queue: the hub, and the consumer [`Hub::relay`] reads it with.
    pub(super) async fn new(
        deps: &hark_core::Deps,
    ) -> Result<(Arc<Self>, hark_core::bus::Consumer), BusError> {
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
        Ok((hub, consumer))
    }

    /// Frames from the bus to the tabs they concern.
    pub(super) async fn relay(
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
                duration_ms,
                urgent,
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
                let now = chrono::Utc::now();
                let (sender, each) = self
                    .store
                    .run(move |c| {
                        let sender = users::find_by_id(c, &sender_id)?;
                        let mut each = Vec::with_capacity(here.len());
                        for r in here {
                            let unread = inbox::count_new(c, &r)?;
                            let alert = match users::find_by_id(c, &r)? {
                                Some(u) => {
                                    let tz = u.timezone.parse().unwrap_or(chrono_tz::UTC);
                                    let local = now.with_timezone(&tz);
                                    let minute = u16::try_from(local.hour() * 60 + local.minute())
                                        .unwrap_or(0);
                                    profiles::find(c, &r)?
                                        .is_none_or(|p| p.tab_alerts_at(minute, urgent))
                                }
                                None => false,
                            };
                            each.push((r, unread, alert));
                        }
                        Ok((sender, each))
                    })
                    .await?;
                let (from, from_extension) = sender
                    .map(|s| (s.display_name, s.extension))
                    .unwrap_or_default();
                for (r, unread, alert) in &each {
                    // What arrived, for the tab's alert and title: shown unless the person's
                    // quiet hours keep portal alerts back.
                    let frame = json!({
                        "type": "inbox",
                        "message_id": message_id,
                        "from": from,
                        "from_extension": from_extension,
                        "duration_ms": duration_ms,
                        "urgent": urgent,
                        "unread": unread,
                        "alert": alert,
                    })
                    .to_string();
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
    pub(super) fn send(&self, user: &str, frame: &str) {
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

    /// The people with a tab open on this node.
    pub(super) fn people(&self) -> Vec<String> {
        lock(&self.tabs).keys().cloned().collect()
    }

    /// Whether `user` has a tab open on this node.
    pub fn is_connected(&self, user: &str) -> bool {
        lock(&self.tabs).get(user).is_some_and(|t| !t.is_empty())
    }

    /// Count a new tab of `user`'s: its id, its frames, and whether it is their first here.
    pub(super) fn add_tab(&self, user: &str) -> (u64, mpsc::Receiver<ToTab>, bool) {
        let id = self.next_tab.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(TAB_QUEUE);
        let mut tabs = lock(&self.tabs);
        let list = tabs.entry(user.to_owned()).or_default();
        list.push(Tab { id, tx });
        (id, rx, list.len() == 1)
    }

    /// Forget a tab; whether it was its person's last here.
    pub(super) fn remove_tab(&self, user: &str, tab: u64) -> bool {
        let mut tabs = lock(&self.tabs);
        let Some(list) = tabs.get_mut(user) else {
            return false;
        };
        list.retain(|t| t.id != tab);
        let last = list.is_empty();
        if last {
            tabs.remove(user);
        }
        last
    }

    /// Bind this node's queue to `user`'s receipts and pushed frames (their first tab here).
    pub(super) async fn follow(&self, user: &UserId) -> Result<(), BusError> {
        for (exchange, key) in Self::keys_of(user) {
            self.bus.bind(&self.queue, exchange, &key).await?;
        }
        Ok(())
    }

    /// Unbind them again (their last tab here closed).
    pub(super) async fn unfollow(&self, user: &UserId) {
        for (exchange, key) in Self::keys_of(user) {
            if let Err(e) = self.bus.unbind(&self.queue, exchange, &key).await {
                tracing::debug!(error = %e, "unbinding a person who left");
            }
        }
    }

    fn keys_of(user: &UserId) -> [(Exchange, String); 2] {
        [
            (Exchange::Events, format!("receipt.{user}")),
            (Exchange::Push, user_key(user)),
        ]
    }
}
