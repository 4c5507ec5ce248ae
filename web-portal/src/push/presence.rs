//! Presence: the people with a tab open here are present with the status they chose.

use super::hub::Hub;

use crate::AppState;
use hark_core::{
    events::{Envelope, Event, PresenceStatus},
    ids::UserId,
    store::{self, StoreError, presence, users},
};
use std::{sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;

/// How often a connected person's presence row is refreshed (well inside its 120 s life).
pub(super) const HEARTBEAT: Duration = Duration::from_secs(30);

impl Hub {
    /// `user` is present here now (their first tab opened).
    pub(super) async fn arrived(&self, user: &users::User) -> Result<(), StoreError> {
        self.mark_present(&user.id, &user.status).await
    }

    /// `user` left this node (their last tab closed): offline unless present elsewhere.
    pub(super) async fn left(&self, user: &str) {
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
    pub(super) async fn mark_present(&self, user: &str, status: &str) -> Result<(), StoreError> {
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

    /// Keep everyone connected here present.
    pub(super) async fn heartbeat(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.cancelled() => break,
            }
            let people = self.people();
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
) -> Result<(), StoreError> {
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
