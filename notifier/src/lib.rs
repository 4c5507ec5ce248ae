//! The notifier: one worker per channel, each consuming its command queue and reporting every
//! attempt's result as a `delivery.outcome` event.
//!
//! - [`email`]: a message with a signed, expiring link to the recording, sent through an SMTP
//!   relay or, on the embedded defaults, written as an `.eml` file to the outbox folder.
//! - [`callback`]: asks an IVR (`ivr.originate`) to ring the recipient's phone; the IVR
//!   reports the outcome.
//!
//! - [`push`]: pop-ups and live streams, as frames for the recipient's open portal tabs.
//!
//! Each channel has its own queue and worker, so a slow SMTP relay never holds up a call.

pub mod callback;
mod claim;
pub mod email;
pub mod push;

use hark_core::{
    Deps,
    bus::{BusError, consume},
    channel::Channel,
    config::{LinksConfig, NotifierConfig},
    events::Command,
    ids::{EventId, MessageId, UserId},
    link::LinkSigner,
    store::{self, DbConnection, StoreError, messages, users},
};
use std::{path::PathBuf, sync::Arc};
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("e-mail transport: {0}")]
    Transport(String),
}

/// A command's message and its sender, or `None` when `consumer` has handled the command
/// already (a redelivery).
pub(crate) fn message_and_sender(
    c: &mut DbConnection,
    consumer: &str,
    event: &EventId,
    message_id: &MessageId,
) -> Result<Option<(messages::Message, users::User)>, StoreError> {
    if store::processed::is_processed(c, consumer, event)? {
        return Ok(None);
    }
    let message = messages::find_by_id(c, message_id)?.ok_or(StoreError::NotFound("message"))?;
    let sender = users::find_by_id(c, &UserId::from(message.sender_id.as_str()))?
        .ok_or(StoreError::NotFound("sender"))?;
    Ok(Some((message, sender)))
}

/// Run every channel's worker until `shutdown`: one consumer per channel's command queue.
pub async fn run(
    config: NotifierConfig,
    links: LinksConfig,
    signer: LinkSigner,
    outbox_dir: PathBuf,
    deps: Deps,
    shutdown: CancellationToken,
) -> Result<(), NotifierError> {
    let mailer = email::Mailer::from_config(&config, &outbox_dir)?;
    let (emails, calls, pushing) = (
        config.email_concurrency,
        config.callback_concurrency,
        config.push_concurrency,
    );
    let email: Arc<dyn consume::Handler<Command>> = Arc::new(email::EmailWorker::new(
        deps.clone(),
        mailer,
        config,
        links,
        signer,
        shutdown.clone(),
    ));
    let callback: Arc<dyn consume::Handler<Command>> =
        Arc::new(callback::CallbackWorker::new(deps.clone()));
    let push: Arc<dyn consume::Handler<Command>> = Arc::new(push::PushWorker::new(deps.clone()));
    let workers = Channel::ALL.map(|channel| {
        let (worker, concurrency) = match channel {
            Channel::Email => (email.clone(), emails),
            Channel::Callback => (callback.clone(), calls),
            Channel::Popup | Channel::Stream => (push.clone(), pushing),
        };
        consume::run_concurrent::<Command, _>(
            &deps,
            channel.command_key(),
            concurrency,
            worker,
            shutdown.clone(),
        )
    });
    futures_util::future::try_join_all(workers).await?;
    Ok(())
}
