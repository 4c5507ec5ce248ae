//! E-mail notifications: "You have a voice message from …" with a signed link that plays it.
//!
//! The link is `<public_url>/listen/<token>`, valid for `links.ttl_hours`. The e-mail's
//! Message-ID is derived from the delivery attempt's id, so every try of one e-mail — a retry
//! after the relay timed out having taken it, a repeat after a crash between sending and
//! recording it — carries the same Message-ID and mail systems fold them. A redelivered
//! command that was already handled is acknowledged without sending, and two notifiers never
//! hand the same e-mail to the relay at once (`claim.rs`).
//!
//! - [`transport`]: the SMTP relay (TLS as its URL says) or an outbox folder;
//! - [`letter`]: what the e-mail says, its signed link, the attached recording;
//! - [`verify`]: the e-mail that confirms a new e-mail device.

mod letter;
mod transport;
mod verify;

pub use transport::Mailer;

use hark_core::{
    Deps,
    bus::consume::{self, HandleError},
    channel::Channel,
    config::{LinksConfig, NotifierConfig},
    events::{Command, Envelope, Event, Notify, Outcome},
    ids::EventId,
    link::LinkSigner,
    store::{self, StoreError, users},
};
use letter::{Loaded, address_for};
use transport::SendError;

const CONSUMER: &str = "notifier.email";

#[derive(Debug)]
pub struct EmailWorker {
    deps: Deps,
    mailer: Mailer,
    config: NotifierConfig,
    links: LinksConfig,
    signer: LinkSigner,
    shutdown: tokio_util::sync::CancellationToken,
    /// Commands whose e-mail the relay took but whose outcome is not stored yet (the database
    /// went away in between): trying the command again reports it without sending it twice.
    sent_unrecorded: std::sync::Mutex<std::collections::HashSet<EventId>>,
}

impl EmailWorker {
    pub fn new(
        deps: Deps,
        mailer: Mailer,
        config: NotifierConfig,
        links: LinksConfig,
        signer: LinkSigner,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Self {
        Self {
            deps,
            mailer,
            config,
            links,
            signer,
            shutdown,
            sent_unrecorded: Default::default(),
        }
    }

    fn unrecorded(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<EventId>> {
        self.sent_unrecorded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Record the attempt's result as a `delivery.outcome`, once.
    async fn report(
        &self,
        event: EventId,
        notify: &Notify,
        outcome: Outcome,
        detail: Option<String>,
    ) -> Result<(), HandleError> {
        let outcome = Event::DeliveryOutcome {
            attempt_id: notify.attempt_id.clone(),
            message_id: notify.message_id.clone(),
            recipient_id: notify.recipient_id.clone(),
            channel: Channel::Email,
            outcome,
            detail,
        };
        let wrote = consume::once(&self.deps.store, CONSUMER, event, move |c| {
            store::outbox::enqueue_event(c, &Envelope::new(outcome))
        })
        .await?;
        if wrote.is_some() {
            self.deps.outbox.notify();
        }
        Ok(())
    }

    /// What the e-mail for `notify` is made from; `None` when this command was handled.
    async fn load(&self, event: &EventId, notify: &Notify) -> Result<Option<Loaded>, HandleError> {
        let (e2, m2, r2) = (
            event.clone(),
            notify.message_id.clone(),
            notify.recipient_id.clone(),
        );
        let endpoint = notify.endpoint.clone();
        Ok(self
            .deps
            .store
            .run(move |c| {
                let Some((message, sender)) = crate::message_and_sender(c, CONSUMER, &e2, &m2)?
                else {
                    return Ok(None);
                };
                let recipient =
                    users::find_by_id(c, &r2)?.ok_or(StoreError::NotFound("recipient"))?;
                let to = address_for(c, &recipient, endpoint.as_deref())?;
                let attach = store::profiles::find(c, &r2)?.is_some_and(|p| p.attach_audio);
                Ok(Some(Loaded {
                    message,
                    recipient,
                    sender,
                    to,
                    attach,
                }))
            })
            .await?)
    }

    /// Whether `event` was handled (by this notifier or another).
    async fn handled(&self, event: &EventId) -> Result<bool, StoreError> {
        let e = event.clone();
        self.deps
            .store
            .run(move |c| store::processed::is_processed(c, CONSUMER, &e))
            .await
    }

    /// Hand `email` to the relay (unless it already took it) and record the outcome.
    async fn send(
        &self,
        event: EventId,
        notify: Notify,
        email: lettre::Message,
    ) -> Result<(), HandleError> {
        let (message_id, recipient_id) = (&notify.message_id, &notify.recipient_id);
        let sent = if self.unrecorded().contains(&event) {
            tracing::info!(%message_id, %recipient_id, "e-mail already with the relay; recording it");
            Ok(())
        } else {
            self.mailer.send(email).await
        };
        match sent {
            Ok(()) => {
                tracing::info!(%message_id, %recipient_id, "e-mail sent");
                {
                    let mut memo = self.unrecorded();
                    // Bounded: entries go when recorded; this only guards against a leak.
                    if memo.len() >= 10_000 {
                        memo.clear();
                    }
                    memo.insert(event.clone());
                }
                let reported = self
                    .report(event.clone(), &notify, Outcome::Delivered, None)
                    .await;
                if reported.is_ok() {
                    self.unrecorded().remove(&event);
                }
                reported
            }
            Err(SendError::Permanent(why)) => {
                self.report(event, &notify, Outcome::Failed, Some(why))
                    .await
            }
            Err(SendError::Transient(why)) => self.later(event, notify, why).await,
        }
    }
}

#[async_trait::async_trait]
impl consume::Handler<Command> for EmailWorker {
    async fn handle(&self, envelope: Envelope<Command>) -> Result<(), HandleError> {
        let notify = match envelope.body {
            Command::Notify(n) if n.channel == Channel::Email => n,
            Command::VerifyEmail(v) => return self.verify(envelope.id, v).await,
            other => {
                return Err(HandleError::Poison(format!(
                    "the e-mail worker got a {} command",
                    other.routing_key()
                )));
            }
        };
        let event = envelope.id;
        let Some(loaded) = self.load(&event, &notify).await? else {
            tracing::debug!(%event, "e-mail already sent for this command");
            self.unrecorded().remove(&event);
            return Ok(());
        };
        let email = match &loaded.to {
            Ok(to) => self.letter(&notify, &loaded, to).await,
            Err(why) => Err(why.clone()),
        };
        let email = match email {
            Ok(e) => e,
            Err(why) => {
                return self
                    .report(event, &notify, Outcome::Failed, Some(why))
                    .await;
            }
        };
        // One sender at a time for this e-mail, whichever notifier got the command.
        let claim = crate::claim::take(
            &self.deps,
            format!("email:{}", notify.attempt_id),
            &self.shutdown,
            || async { Ok(self.handled(&event).await?) },
        )
        .await?;
        let Some(_claim) = claim else {
            tracing::debug!(%event, "e-mail sent meanwhile by another notifier");
            return Ok(());
        };
        // Whoever held it may have finished it just before letting go.
        if self.handled(&event).await? {
            return Ok(());
        }
        self.send(event, notify, email).await
    }
}

/// Tries of one e-mail before it fails: with the back-off below, about 40 minutes of a relay
/// being down.
const MAX_TRIES: u32 = 12;

/// Wait before try `n + 1`: 2 s, doubling, at most 5 minutes.
fn backoff(tries: u32) -> chrono::Duration {
    chrono::Duration::seconds((2i64 << tries.min(8)).min(300))
}

impl EmailWorker {
    /// The relay could not take it now: try again after a back-off (a new command, due
    /// later, in the same transaction that marks this one handled), or fail the attempt
    /// once it has been tried long enough.
    async fn later(&self, event: EventId, notify: Notify, why: String) -> Result<(), HandleError> {
        if notify.tries + 1 >= MAX_TRIES {
            tracing::warn!(attempt = %notify.attempt_id, %why, "e-mail gave up after retries");
            let why = format!("the mail relay kept refusing: {why}");
            return self
                .report(event, &notify, Outcome::Failed, Some(why))
                .await;
        }
        let wait = backoff(notify.tries);
        tracing::warn!(attempt = %notify.attempt_id, tries = notify.tries + 1, %why,
            retry_in_secs = wait.num_seconds(), "e-mail not sent; will retry");
        let retry = Envelope::new(Command::Notify(Notify {
            tries: notify.tries + 1,
            ..notify
        }));
        let wrote = consume::once(&self.deps.store, CONSUMER, event, move |c| {
            store::outbox::enqueue_command_at(c, &retry, store::now() + wait)
        })
        .await?;
        if wrote.is_some() {
            self.deps.outbox.notify();
        }
        Ok(())
    }
}
