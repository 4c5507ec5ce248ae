//! E-mail notifications: "You have a voice message from …" with a signed link that plays it.
//!
//! The link is `<public_url>/listen/<token>`, valid for `links.ttl_hours`. The e-mail's
//! Message-ID is derived from the command's event id, so even a repeat send after a crash
//! between sending and recording it carries the same Message-ID and mail systems fold the two.
//! A redelivered command that was already handled is acknowledged without sending.

use crate::NotifierError;
use hark_core::{
    Deps,
    bus::consume::{self, HandleError},
    config::{LinksConfig, NotifierConfig},
    events::{Command, Envelope, Event, Notify, Outcome},
    ids::{AttemptId, EventId, MessageId, UserId},
    link::{LinkSigner, ListenClaim},
    store::{self, StoreError, messages, users},
};
use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::MultiPart,
};
use std::path::Path;

const CONSUMER: &str = "notifier.email";

/// Where e-mail goes.
#[derive(Debug)]
pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `.eml` files in a folder (embedded default; shown in the portal's outbox).
    Files(AsyncFileTransport<Tokio1Executor>),
}

impl Mailer {
    pub fn from_config(config: &NotifierConfig, outbox_dir: &Path) -> Result<Self, NotifierError> {
        let url = config.smtp_url.expose();
        if url.is_empty() {
            std::fs::create_dir_all(outbox_dir)
                .map_err(|e| NotifierError::Transport(format!("{}: {e}", outbox_dir.display())))?;
            return Ok(Mailer::Files(AsyncFileTransport::new(outbox_dir)));
        }
        let smtp = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| NotifierError::Transport(e.to_string()))?
            .build();
        Ok(Mailer::Smtp(smtp))
    }

    async fn send(&self, email: Message) -> Result<(), SendError> {
        match self {
            Mailer::Smtp(t) => t.send(email).await.map(|_| ()).map_err(|e| {
                if e.is_permanent() {
                    SendError::Permanent(e.to_string())
                } else {
                    SendError::Transient(e.to_string())
                }
            }),
            Mailer::Files(t) => t
                .send(email)
                .await
                .map(|_| ())
                .map_err(|e| SendError::Transient(e.to_string())),
        }
    }
}

enum SendError {
    /// The relay said no for good (5xx): report a failed attempt.
    Permanent(String),
    /// Try again later (connection refused, 4xx, disk full).
    Transient(String),
}

#[derive(Debug)]
pub struct EmailWorker {
    deps: Deps,
    mailer: Mailer,
    config: NotifierConfig,
    links: LinksConfig,
    signer: LinkSigner,
}

impl EmailWorker {
    pub fn new(
        deps: Deps,
        mailer: Mailer,
        config: NotifierConfig,
        links: LinksConfig,
        signer: LinkSigner,
    ) -> Self {
        Self {
            deps,
            mailer,
            config,
            links,
            signer,
        }
    }

    /// Record the attempt's result as a `delivery.outcome`, once.
    async fn report(
        &self,
        event: EventId,
        attempt_id: AttemptId,
        message_id: MessageId,
        recipient_id: UserId,
        outcome: Outcome,
        detail: Option<String>,
    ) -> Result<(), HandleError> {
        let wrote = consume::once(&self.deps.store, CONSUMER, event, move |c| {
            store::outbox::enqueue_event(
                c,
                &Envelope::new(Event::DeliveryOutcome {
                    attempt_id,
                    message_id,
                    recipient_id,
                    channel: "email".into(),
                    outcome,
                    detail,
                }),
            )
        })
        .await?;
        if wrote.is_some() {
            self.deps.outbox.notify();
        }
        Ok(())
    }

    fn compose(
        &self,
        event: &EventId,
        to: &str,
        recipient: &users::User,
        sender: &users::User,
        message: &messages::Message,
        link: &str,
    ) -> Result<Message, String> {
        let seconds = (message.duration_ms + 999) / 1000;
        let from_name = format!("{} ({})", sender.display_name, sender.extension);
        let text = format!(
            "Hello {},\n\n{from_name} sent you a voice message ({seconds} s).\n\n\
             Listen: {link}\n\nThe link works for {} hours.\n",
            recipient.display_name, self.links.ttl_hours
        );
        let html = format!(
            "<p>Hello {},</p><p>{} sent you a voice message ({seconds}&nbsp;s).</p>\
             <p><a href=\"{link}\">Listen to the message</a></p>\
             <p>The link works for {} hours.</p>",
            html_escape(&recipient.display_name),
            html_escape(&from_name),
            self.links.ttl_hours
        );
        Message::builder()
            .message_id(Some(format!("<{event}@hark>")))
            .from(
                self.config
                    .from
                    .parse()
                    .map_err(|e| format!("from address: {e}"))?,
            )
            .to(to
                .parse()
                .map_err(|e| format!("recipient address {to:?}: {e}"))?)
            .subject(format!("Voice message from {from_name}"))
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| e.to_string())
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[async_trait::async_trait]
impl consume::Handler<Command> for EmailWorker {
    async fn handle(&self, envelope: Envelope<Command>) -> Result<(), HandleError> {
        let Command::NotifyEmail(Notify {
            attempt_id,
            message_id,
            recipient_id,
            ..
        }) = envelope.body
        else {
            return Err(HandleError::Poison(format!(
                "the e-mail worker got a {} command",
                envelope.body.routing_key()
            )));
        };
        let event = envelope.id;
        let (e2, m2, r2) = (event.clone(), message_id.clone(), recipient_id.clone());
        let loaded = self
            .deps
            .store
            .run(move |c| {
                if store::processed::is_processed(c, CONSUMER, &e2)? {
                    return Ok(None);
                }
                let message =
                    messages::find_by_id(c, &m2)?.ok_or(StoreError::NotFound("message"))?;
                let recipient =
                    users::find_by_id(c, &r2)?.ok_or(StoreError::NotFound("recipient"))?;
                let sender = users::find_by_id(c, &UserId::from(message.sender_id.as_str()))?
                    .ok_or(StoreError::NotFound("sender"))?;
                Ok(Some((message, recipient, sender)))
            })
            .await?;
        let Some((message, recipient, sender)) = loaded else {
            tracing::debug!(%event, "e-mail already sent for this command");
            return Ok(());
        };
        let Some(to) = recipient.email.clone().filter(|e| !e.trim().is_empty()) else {
            return self
                .report(
                    event,
                    attempt_id,
                    message_id,
                    recipient_id,
                    Outcome::Failed,
                    Some("the recipient has no e-mail address".into()),
                )
                .await;
        };
        let expires_at = chrono::Utc::now().timestamp() + i64::from(self.links.ttl_hours) * 3600;
        let token = self.signer.sign(&ListenClaim {
            message_id: message_id.clone(),
            recipient_id: recipient_id.clone(),
            expires_at,
        });
        let link = format!(
            "{}/listen/{token}",
            self.links.public_url.trim_end_matches('/')
        );
        let email = match self.compose(&event, &to, &recipient, &sender, &message, &link) {
            Ok(e) => e,
            Err(why) => {
                return self
                    .report(
                        event,
                        attempt_id,
                        message_id,
                        recipient_id,
                        Outcome::Failed,
                        Some(why),
                    )
                    .await;
            }
        };
        match self.mailer.send(email).await {
            Ok(()) => {
                tracing::info!(%message_id, %recipient_id, "e-mail sent");
                self.report(
                    event,
                    attempt_id,
                    message_id,
                    recipient_id,
                    Outcome::Delivered,
                    None,
                )
                .await
            }
            Err(SendError::Permanent(why)) => {
                self.report(
                    event,
                    attempt_id,
                    message_id,
                    recipient_id,
                    Outcome::Failed,
                    Some(why),
                )
                .await
            }
            Err(SendError::Transient(why)) => Err(HandleError::Retry(why)),
        }
    }
}
