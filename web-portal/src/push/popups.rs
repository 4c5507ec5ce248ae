//! Pop-ups: those still open when a tab opens, sent again until a tab says it saw them, and
//! the "seen" that settles one.

use super::hub::Hub;

use crate::AppState;
use hark_core::{
    channel::Channel,
    events::{Envelope, Event, Outcome},
    ids::{AttemptId, MessageId, UserId},
    push::{Notice, PushFrame},
    store::{self, Store, StoreError, attempts, messages, users},
};
use std::{sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;

/// How often pop-ups still not seen are sent again to the tabs here, and how old an
/// attempt must be for that. A frame can be lost between the notifier and a tab (the broker
/// restarted, this node's queue was being declared again, the "seen" answer met a database
/// that was down); tabs show each attempt once and answer "seen" again, so a repeat is
/// harmless and the pop-up is not left to expire unseen.
const RESEND_EVERY: Duration = Duration::from_secs(10);
const RESEND_AFTER: chrono::Duration = chrono::Duration::seconds(5);

impl Hub {
    /// Send pop-ups still not seen again to the tabs of the people connected here.
    pub(super) async fn resend(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(RESEND_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.cancelled() => return,
            }
            let people = self.people();
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
                            attempts::open_attempts_of(c, chunk, Channel::Popup.name(), before)?
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
}

/// Pop-ups still open for `user` (sent while no tab was open, or to a tab since closed),
/// as frames for a tab that opens now.
pub(super) async fn waiting_popups(store: &Store, user: UserId) -> Result<Vec<String>, StoreError> {
    store
        .run(move |c| {
            let mut frames = Vec::new();
            for a in attempts::open_attempts(c, &user, Channel::Popup.name())? {
                frames.extend(popup_frame(c, &a)?);
            }
            Ok(frames)
        })
        .await
}

/// The pop-up frame of an open attempt (none if its message or sender is gone).
fn popup_frame(
    c: &mut store::DbConnection,
    a: &attempts::Attempt,
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
pub(super) async fn seen(
    state: &AppState,
    user: UserId,
    attempt: AttemptId,
) -> Result<(), StoreError> {
    let wrote = state
        .deps
        .store
        .transaction(move |c| {
            let Some(a) = attempts::find_attempt(c, &attempt)? else {
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
