//! What one message's e-mail says and where it goes: the words (text and HTML, from
//! `templates/`), the signed link that plays it, the recording attached when the recipient
//! asked for it.

use super::EmailWorker;
use askama::Template;
use hark_core::{
    events::Notify,
    ids::AttemptId,
    link::ListenClaim,
    store::{self, StoreError, devices, messages, users},
};
use lettre::{
    Message,
    message::{Attachment, MultiPart},
};

/// What a message's e-mail is made from, as loaded from the store.
pub(super) struct Loaded {
    pub message: messages::Message,
    pub recipient: users::User,
    pub sender: users::User,
    /// The address, or why there is none.
    pub to: Result<String, String>,
    /// Whether the recipient wants the recording attached.
    pub attach: bool,
}

impl EmailWorker {
    /// The e-mail for `notify`: a fresh signed link, the recording if wanted, the words.
    pub(super) async fn letter(
        &self,
        notify: &Notify,
        loaded: &Loaded,
        to: &str,
    ) -> Result<Message, String> {
        let expires_at = chrono::Utc::now().timestamp() + i64::from(self.links.ttl_hours) * 3600;
        let token = self.signer.sign(&ListenClaim {
            message_id: notify.message_id.clone(),
            recipient_id: notify.recipient_id.clone(),
            expires_at,
        });
        let link = format!(
            "{}/listen/{token}",
            self.links.public_url.trim_end_matches('/')
        );
        let audio = match (loaded.attach, loaded.message.blob_key.as_deref()) {
            (true, Some(key)) => match self.deps.blobs.get(key).await {
                Ok(wav) => Some(wav),
                // Still send the link: the attachment is a convenience.
                Err(e) => {
                    tracing::warn!(error = %e, message_id = %notify.message_id, "recording not attached");
                    None
                }
            },
            _ => None,
        };
        let letter = Letter {
            recipient: &loaded.recipient,
            sender: &loaded.sender,
            message: &loaded.message,
            link: &link,
            audio,
        };
        self.compose(&notify.attempt_id, to, letter)
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

/// Where a message's e-mail goes: the device the plan chose (a verified e-mail device of
/// the recipient's), else the address on their account.
pub(super) fn address_for(
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
