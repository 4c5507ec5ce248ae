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
    config::{LinksConfig, NotifierConfig},
    events::{Command, keys},
    link::LinkSigner,
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

/// Run every channel worker until `shutdown`.
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
    let handler = Arc::new(email::EmailWorker::new(
        deps.clone(),
        mailer,
        config,
        links,
        signer,
        shutdown.clone(),
    ));
    let callbacks = Arc::new(callback::CallbackWorker::new(deps.clone()));
    let pushes = Arc::new(push::PushWorker::new(deps.clone()));
    tokio::try_join!(
        consume::run_concurrent::<Command, _>(
            &deps,
            keys::NOTIFY_EMAIL,
            emails,
            handler,
            shutdown.clone(),
        ),
        consume::run_concurrent::<Command, _>(
            &deps,
            keys::NOTIFY_CALLBACK,
            calls,
            callbacks,
            shutdown.clone(),
        ),
        consume::run_concurrent::<Command, _>(
            &deps,
            keys::NOTIFY_POPUP,
            pushing,
            pushes.clone(),
            shutdown.clone(),
        ),
        consume::run_concurrent::<Command, _>(
            &deps,
            keys::NOTIFY_STREAM,
            pushing,
            pushes,
            shutdown,
        ),
    )?;
    Ok(())
}
