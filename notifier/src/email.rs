//! E-mail notifications: "You have a voice message from …" with a signed link that plays it.
//!
//! The link is `<public_url>/listen/<token>`, valid for `links.ttl_hours`. The e-mail's
//! Message-ID is derived from the delivery attempt's id, so every try of one e-mail — a retry
//! after the relay timed out having taken it, a repeat after a crash between sending and
//! recording it — carries the same Message-ID and mail systems fold them. A redelivered
//! command that was already handled is acknowledged without sending, and two notifiers never
//! hand the same e-mail to the relay at once (`claim.rs`).

use crate::NotifierError;
use askama::Template;
use hark_core::{
    Deps,
    bus::consume::{self, HandleError},
    channel::Channel,
    config::{LinksConfig, NotifierConfig},
    events::{Command, Envelope, Event, Notify, Outcome, VerifyEmail},
    ids::{AttemptId, EventId, MessageId, UserId},
    link::{LinkSigner, ListenClaim},
    store::{self, StoreError, devices, messages, users},
};
use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Attachment, MultiPart},
    transport::smtp::client::{Certificate, Tls, TlsParameters},
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
        let ca_file = (!config.smtp_ca_file.is_empty()).then_some(config.smtp_ca_file.as_str());
        let tls = tls_policy(url, ca_file)?;
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| NotifierError::Transport(e.to_string()))?
            .tls(tls);
        Ok(Mailer::Smtp(builder.build()))
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

/// The relay's host in `scheme://[user[:password]@]host[:port][/…][?…]`, and whether the URL
/// carries credentials.
fn host_of(url: &str) -> (String, bool) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let (credentials, host_port) = match authority.rsplit_once('@') {
        Some((_, h)) => (true, h),
        None => (false, authority),
    };
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    (host.to_owned(), credentials)
}

/// The TLS for the relay, from the URL: `smtps://` is TLS from the start; `?tls=required`
/// is STARTTLS or nothing; `?tls=none` is plain text; otherwise STARTTLS when the relay
/// offers it (then its certificate must verify). The certificate in `ca_file` is trusted
/// besides the system's roots. Credentials are refused over anything a network attacker could
/// strip TLS from (opportunistic or none) unless the relay is on this machine's loopback.
fn tls_policy(url: &str, ca_file: Option<&str>) -> Result<Tls, NotifierError> {
    let bad = |e: String| NotifierError::Transport(e);
    let (host, credentials) = host_of(url);
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let mode = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("tls="))
        .unwrap_or("opportunistic");
    let wrapper = url.starts_with("smtps://");
    let strong = wrapper || mode == "required";
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if credentials && !strong && !loopback {
        return Err(bad(format!(
            "notifier.smtp_url sends a password to {host} without required TLS: use smtps:// or \
             ?tls=required"
        )));
    }
    if mode == "none" && !wrapper {
        return Ok(Tls::None);
    }
    let mut params = TlsParameters::builder(host);
    if let Some(ca_file) = ca_file {
        let pem = std::fs::read(ca_file).map_err(|e| bad(format!("{ca_file}: {e}")))?;
        let cert = Certificate::from_pem(&pem).map_err(|e| bad(format!("{ca_file}: {e}")))?;
        params = params.add_root_certificate(cert);
    }
    let params = params.build().map_err(|e| bad(e.to_string()))?;
    Ok(if wrapper {
        Tls::Wrapper(params)
    } else if mode == "required" {
        Tls::Required(params)
    } else {
        Tls::Opportunistic(params)
    })
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
                    channel: Channel::Email,
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
        attempt: &AttemptId,
        to: &str,
        letter: Letter<'_>,
    ) -> Result<Message, String> {
        let Letter {
            recipient,
            sender,
            message,
            link,
            audio,
        } = letter;
        let from_name = format!("{} ({})", sender.display_name, sender.extension);
        let tz: chrono_tz::Tz = recipient.timezone.parse().unwrap_or(chrono_tz::UTC);
        let at = message.completed_at.unwrap_or(message.created_at).and_utc();
        let body = || MessageBody {
            recipient: &recipient.display_name,
            sender: &from_name,
            seconds: (message.duration_ms + 999) / 1000,
            urgent: message.urgent,
            when: at
                .with_timezone(&tz)
                .format("%a %-d %b %Y at %H:%M (%Z)")
                .to_string(),
            link,
            attached: audio.is_some(),
            ttl_hours: self.links.ttl_hours,
        };
        let text = body().render().map_err(|e| e.to_string())?;
        let html = MessageHtml { m: body() }
            .render()
            .map_err(|e| e.to_string())?;
        Message::builder()
            .message_id(Some(format!("<{attempt}@hark>")))
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
            .multipart(match audio {
                None => MultiPart::alternative_plain_html(text, html),
                // The recipient asked for the recording itself too.
                Some(wav) => MultiPart::mixed()
                    .multipart(MultiPart::alternative_plain_html(text, html))
                    .singlepart(
                        Attachment::new("voice-message.wav".into())
                            .body(wav, "audio/wav".parse().map_err(|e| format!("{e}"))?),
                    ),
            })
            .map_err(|e| e.to_string())
    }
}

/// What one message's e-mail says.
struct Letter<'a> {
    recipient: &'a users::User,
    sender: &'a users::User,
    message: &'a messages::Message,
    link: &'a str,
    /// The recording, when the recipient wants it attached.
    audio: Option<Vec<u8>>,
}

/// The e-mail's words, as text (`templates/message.txt`); [`MessageHtml`] renders the same
/// as HTML, escaped.
#[derive(askama::Template)]
#[template(path = "message.txt")]
struct MessageBody<'a> {
    recipient: &'a str,
    sender: &'a str,
    seconds: i32,
    urgent: bool,
    /// When it was sent, in the recipient's timezone.
    when: String,
    link: &'a str,
    attached: bool,
    ttl_hours: u32,
}

#[derive(askama::Template)]
#[template(path = "message.html")]
struct MessageHtml<'a> {
    m: MessageBody<'a>,
}

impl EmailWorker {
    /// Send a device verification link, once per command.
    async fn verify(&self, event: EventId, v: VerifyEmail) -> Result<(), HandleError> {
        let e2 = event.clone();
        let done = self
            .deps
            .store
            .run(move |c| store::processed::is_processed(c, CONSUMER, &e2))
            .await?;
        if done {
            return Ok(());
        }
        let text = format!(
            "Hello,\n\nSomeone (we hope you) added {} to their Hark account as a place to \
             receive voice messages.\n\nConfirm it: {}\n\nIf this was not you, ignore this \
             e-mail: nothing will be sent here.\n",
            v.address, v.link
        );
        let email = Message::builder()
            .message_id(Some(format!("<{event}@hark>")))
            .from(
                self.config
                    .from
                    .parse()
                    .map_err(|e| HandleError::Poison(format!("from address: {e}")))?,
            )
            .to(v
                .address
                .parse()
                .map_err(|e| HandleError::Poison(format!("address {:?}: {e}", v.address)))?)
            .subject("Confirm your e-mail address for Hark")
            .body(text)
            .map_err(|e| HandleError::Poison(e.to_string()))?;
        match self.mailer.send(email).await {
            Ok(()) | Err(SendError::Permanent(_)) => {
                consume::once(&self.deps.store, CONSUMER, event, |_| Ok(())).await?;
                tracing::info!(user = %v.user_id, "verification e-mail sent");
                Ok(())
            }
            Err(SendError::Transient(why)) => Err(HandleError::Retry(why)),
        }
    }
}

/// Where a message's e-mail goes: the device the plan chose (a verified e-mail device of
/// the recipient's), else the address on their account.
fn address_for(
    c: &mut store::DbConnection,
    recipient: &users::User,
    endpoint: Option<&str>,
) -> Result<Result<String, String>, StoreError> {
    Ok(match endpoint {
        None | Some("email") => recipient
            .email
            .clone()
            .filter(|e| !e.trim().is_empty())
            .ok_or_else(|| "the recipient has no e-mail address".to_owned()),
        Some(device) => match devices::find_for_user(c, &recipient.user_id(), device)? {
            Some(d) if d.kind == "email" && d.verified_at.is_some() => Ok(d.address),
            Some(d) if d.kind == "email" => Err(format!("{} is not verified yet", d.address)),
            Some(d) => Err(format!("device {device} is a {}, not e-mail", d.kind)),
            None => Err(format!("the recipient has no device {device}")),
        },
    })
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
        let (attempt_id, message_id, recipient_id) = (
            notify.attempt_id.clone(),
            notify.message_id.clone(),
            notify.recipient_id.clone(),
        );
        let endpoint = notify.endpoint.clone();
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
                let to = address_for(c, &recipient, endpoint.as_deref())?;
                let attach = store::profiles::find(c, &r2)?.is_some_and(|p| p.attach_audio);
                Ok(Some((message, recipient, sender, to, attach)))
            })
            .await?;
        let Some((message, recipient, sender, to, attach)) = loaded else {
            tracing::debug!(%event, "e-mail already sent for this command");
            self.unrecorded().remove(&event);
            return Ok(());
        };
        let to = match to {
            Ok(to) => to,
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
        let audio = match (attach, message.blob_key.as_deref()) {
            (true, Some(key)) => match self.deps.blobs.get(key).await {
                Ok(wav) => Some(wav),
                // Still send the link: the attachment is a convenience.
                Err(e) => {
                    tracing::warn!(error = %e, %message_id, "recording not attached");
                    None
                }
            },
            _ => None,
        };
        let letter = Letter {
            recipient: &recipient,
            sender: &sender,
            message: &message,
            link: &link,
            audio,
        };
        let email = match self.compose(&attempt_id, &to, letter) {
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
        // One sender at a time for this e-mail, whichever notifier got the command.
        let (store, e3) = (self.deps.store.clone(), event.clone());
        let claim = crate::claim::take(
            &self.deps,
            format!("email:{attempt_id}"),
            &self.shutdown,
            || {
                let (store, e) = (store.clone(), e3.clone());
                async move {
                    Ok(store
                        .run(move |c| store::processed::is_processed(c, CONSUMER, &e))
                        .await?)
                }
            },
        )
        .await?;
        let Some(_claim) = claim else {
            tracing::debug!(%event, "e-mail sent meanwhile by another notifier");
            return Ok(());
        };
        // Whoever held it may have finished it just before letting go.
        let e4 = event.clone();
        if self
            .deps
            .store
            .run(move |c| store::processed::is_processed(c, CONSUMER, &e4))
            .await?
        {
            return Ok(());
        }
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
                    .report(
                        event.clone(),
                        attempt_id,
                        message_id,
                        recipient_id,
                        Outcome::Delivered,
                        None,
                    )
                    .await;
                if reported.is_ok() {
                    self.unrecorded().remove(&event);
                }
                reported
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
            Err(SendError::Transient(why)) => self.later(event, notify, why).await,
        }
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
            return self
                .report(
                    event,
                    notify.attempt_id,
                    notify.message_id,
                    notify.recipient_id,
                    Outcome::Failed,
                    Some(format!("the mail relay kept refusing: {why}")),
                )
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

#[cfg(test)]
mod tls_tests {
    use super::*;

    fn kind(url: &str) -> Result<&'static str, String> {
        tls_policy(url, None)
            .map(|t| match t {
                Tls::None => "none",
                Tls::Opportunistic(_) => "opportunistic",
                Tls::Required(_) => "required",
                Tls::Wrapper(_) => "wrapper",
            })
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_url_chooses_tls_and_passwords_never_go_in_clear() {
        assert_eq!(kind("smtp://relay.example.org:25"), Ok("opportunistic"));
        assert_eq!(kind("smtp://relay.example.org:25?tls=none"), Ok("none"));
        assert_eq!(
            kind("smtp://u:p@relay.example.org:587?tls=required"),
            Ok("required")
        );
        assert_eq!(kind("smtps://u:p@relay.example.org:465"), Ok("wrapper"));
        // A password over STARTTLS-if-offered (or none) could be read by whoever strips the
        // offer: refused, except to a relay on loopback.
        for url in [
            "smtp://u:p@relay.example.org:587",
            "smtp://u:p@relay.example.org:587?tls=opportunistic",
            "smtp://u:p@relay.example.org:25?tls=none",
        ] {
            let e = kind(url).unwrap_err();
            assert!(
                e.contains("without required TLS") && !e.contains(":p@"),
                "{e}"
            );
        }
        assert_eq!(kind("smtp://u:p@127.0.0.1:2525"), Ok("opportunistic"));
        assert_eq!(kind("smtp://u:p@[::1]:2525?tls=none"), Ok("none"));
    }
}
