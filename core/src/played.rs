//! A recipient played a message: the one way every channel records it.
//!
//! The e-mail link's page, the portal's inbox player, a live stream that reached its end, the
//! phone's listen menu and a callback call all say the same thing: `message.played`, through
//! the outbox in a transaction of its own, so the router marks the recipient `played`, stops
//! what is left of their plan and gives the sender one "heard" receipt (however many places
//! report the play).

use crate::{
    Deps,
    events::{Envelope, Event},
    ids::{MessageId, UserId},
    store::{self, StoreError},
};

/// Where a message was played.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// The page behind an e-mail's signed link.
    EmailLink,
    /// A player in the portal (inbox, pop-up, message page).
    Portal,
    /// A live stream in the portal, heard to the end.
    Live,
    /// The phone's listen menu.
    Phone,
    /// A callback call placed to the recipient.
    Callback,
    /// A client of the JSON API (a visual-voicemail app, a script) said it was heard.
    Api,
}

impl Via {
    /// Its name in `message.played` (`via`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Via::EmailLink => "email-link",
            Via::Portal => "portal",
            Via::Live => "live",
            Via::Phone => "phone",
            Via::Callback => "callback",
            Via::Api => "api",
        }
    }
}

/// The `message.played` event, for a caller that writes it with other events.
pub fn event(message: &MessageId, recipient: &UserId, via: Via) -> Envelope<Event> {
    Envelope::new(Event::MessagePlayed {
        message_id: message.clone(),
        recipient_id: recipient.clone(),
        via: via.as_str().into(),
    })
}

/// Record that `recipient` played `message`: `message.played` through the outbox, and the
/// relay woken; a message they had marked unheard is no longer shown as new.
pub async fn record(
    deps: &Deps,
    message: &MessageId,
    recipient: &UserId,
    via: Via,
) -> Result<(), StoreError> {
    let played = event(message, recipient, via);
    let (m, r) = (message.clone(), recipient.clone());
    deps.store
        .transaction(move |c| {
            store::inbox::clear_unheard_mark(c, &m, &r)?;
            store::outbox::enqueue_event(c, &played)
        })
        .await?;
    deps.outbox.notify();
    Ok(())
}
