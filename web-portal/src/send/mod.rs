//! Sending a finished recording from the portal or the API: everything is checked first —
//! recipients exist, the audio decodes completely and fits the limits — then the encrypted
//! blobs are written, and the message, its recipients, its attachments and its
//! `message.recorded` event commit in one transaction. If that transaction fails, the blobs
//! are removed again, so nothing is left half-sent.
//!
//! A request may carry an idempotency key (`Idempotency-Key`): the first request with a key
//! makes the message and remembers the key in the same transaction; a later one with the same
//! key and the same content gets that message back instead of a second copy (a client that
//! lost the answer to a dropped connection or a portal node that died can simply send again);
//! the same key with different content is refused.
//!
//! Two doors lead here: [`compose_page`] (`/compose`, the browser's form, and "call me to
//! record") and [`api`] (`/api/v1/messages`, also the sender's view of what was sent).

pub(crate) mod api;
pub(crate) mod compose_page;

use hark_core::{
    Deps,
    audio::{self, AudioError},
    blob::BlobError,
    events::{Envelope, Event, Origin},
    ids::{MessageId, UserId},
    store::{self, StoreError, attachments, groups, messages, upload_keys, users::User},
};

/// Most recipients one message may name.
pub(crate) const MAX_RECIPIENTS: usize = 100;
/// Most files attached to one message.
pub(crate) const MAX_ATTACHMENTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error("this Idempotency-Key was already used for a different message")]
    KeyReused,
}

/// Extensions and group numbers as people type them: separated by commas or spaces.
pub(crate) fn parse_numbers(to: &str) -> Result<Vec<String>, SendError> {
    let mut numbers: Vec<String> = Vec::new();
    for n in to
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        if n.len() > 16 || !n.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SendError::Invalid(format!(
                "{n:?} is not an extension or group number"
            )));
        }
        if !numbers.iter().any(|x| x == n) {
            numbers.push(n.to_owned());
        }
    }
    if numbers.is_empty() {
        return Err(SendError::Invalid("name at least one recipient".into()));
    }
    if numbers.len() > MAX_RECIPIENTS {
        return Err(SendError::Invalid(format!(
            "at most {MAX_RECIPIENTS} recipients per message"
        )));
    }
    Ok(numbers)
}

/// Whom a message goes to.
#[derive(Debug)]
pub(crate) struct Addressed {
    pub people: Vec<User>,
    /// The groups named among them, for the sender's sent list: "Sales (200)".
    pub groups: Option<String>,
}

/// The people `numbers` name, for `sender`, and the groups among them.
pub(crate) async fn resolve(
    deps: &Deps,
    numbers: Vec<String>,
    sender: &User,
) -> Result<Addressed, SendError> {
    let me = sender.user_id();
    let (people, groups) = deps
        .store
        .run(move |c| {
            let people = groups::resolve_recipients(c, &numbers, &me)?;
            Ok((people, groups::names_of(c, &numbers)?))
        })
        .await?;
    if people.is_empty() {
        return Err(SendError::Invalid("nobody to send to".into()));
    }
    Ok(Addressed {
        people,
        groups: (!groups.is_empty()).then(|| groups.join(", ")),
    })
}

/// A file attached to a message.
#[derive(Debug)]
pub(crate) struct Upload {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// What one message is made of.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub sender: UserId,
    pub recipients: Vec<UserId>,
    /// The groups it was sent to, by name ([`Addressed::groups`]).
    pub groups: Option<String>,
    pub origin: Origin,
    pub urgent: bool,
    pub audio: Vec<u8>,
    pub max_seconds: u32,
    pub attachments: Vec<Upload>,
    pub idempotency: Option<Idempotency>,
}

/// A client's idempotency key, and a digest of what it asked for with it.
#[derive(Clone, Debug)]
pub(crate) struct Idempotency {
    pub key: String,
    pub fingerprint: String,
}

/// Most characters of an idempotency key (a UUID is 36).
pub(crate) const MAX_KEY_LEN: usize = 255;

impl Idempotency {
    /// A key as a client sent it: 1 to 255 visible ASCII characters.
    pub(crate) fn parse(key: &str, fingerprint: String) -> Result<Self, SendError> {
        if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SendError::Invalid(format!(
                "an Idempotency-Key is 1 to {MAX_KEY_LEN} visible ASCII characters"
            )));
        }
        Ok(Self {
            key: key.to_owned(),
            fingerprint,
        })
    }
}

/// A message sent, or found already sent with the same idempotency key.
#[derive(Debug)]
pub(crate) struct Sent {
    pub message: messages::Message,
    pub replayed: bool,
}

/// The message an earlier request with the same key made, if any.
async fn replay(
    deps: &Deps,
    sender: &UserId,
    idem: &Idempotency,
) -> Result<Option<messages::Message>, SendError> {
    let (sender, key) = (sender.clone(), idem.key.clone());
    let found = deps
        .store
        .run(move |c| match upload_keys::find(c, &sender, &key)? {
            Some((id, fingerprint)) => Ok(messages::find_by_id(c, &id)?.map(|m| (m, fingerprint))),
            None => Ok(None),
        })
        .await?;
    match found {
        Some((_, fingerprint)) if fingerprint != idem.fingerprint => Err(SendError::KeyReused),
        Some((m, _)) => Ok(Some(m)),
        None => Ok(None),
    }
}

/// Decode, store and announce a message; returns it as stored (or, for a repeated
/// idempotency key, as an earlier request stored it).
pub(crate) async fn send(
    deps: &Deps,
    decoder: &audio::Decoder,
    out: Outgoing,
) -> Result<Sent, SendError> {
    let Outgoing {
        sender,
        recipients,
        groups: sent_to,
        origin,
        urgent,
        audio: bytes,
        max_seconds,
        attachments: files,
        idempotency,
    } = out;
    if let Some(idem) = &idempotency
        && let Some(message) = replay(deps, &sender, idem).await?
    {
        return Ok(Sent {
            message,
            replayed: true,
        });
    }
    if files.len() > MAX_ATTACHMENTS {
        return Err(SendError::Invalid(format!(
            "at most {MAX_ATTACHMENTS} attachments per message"
        )));
    }
    let recording = decoder.normalize_upload(bytes, max_seconds).await?;
    let mut written = vec![deps.blobs.put(recording.wav).await?];
    let mut attached = Vec::new();
    for f in files {
        let size = i64::try_from(f.bytes.len()).unwrap_or(i64::MAX);
        match deps.blobs.put(f.bytes).await {
            Ok(key) => {
                written.push(key.clone());
                attached.push(attachments::AttachmentInsertForm {
                    filename: safe_filename(&f.filename),
                    content_type: f.content_type,
                    size_bytes: size,
                    blob_key: key,
                });
            }
            Err(e) => {
                forget(deps, &written).await;
                return Err(e.into());
            }
        }
    }
    let sender_id = sender.clone();
    let form = messages::MessageInsertForm {
        id: MessageId::new(),
        sender,
        origin,
        duration_ms: recording.duration_ms,
        blob_key: written[0].clone(),
        urgent,
        recipients,
    };
    let key = idempotency.clone();
    let stored = deps
        .store
        .transaction(move |c| {
            let m = messages::create_complete(c, &form)?;
            if let Some(groups) = &sent_to {
                messages::set_sent_to(c, &form.id, groups)?;
            }
            if let Some(k) = &key {
                upload_keys::remember(c, &form.sender, &k.key, &k.fingerprint, &form.id)?;
            }
            for a in &attached {
                attachments::create(c, &form.id, a)?;
            }
            store::outbox::enqueue_event(
                c,
                &Envelope::new(Event::MessageRecorded {
                    message_id: form.id.clone(),
                    sender_id: form.sender.clone(),
                    recipients: form.recipients.clone(),
                    origin: form.origin,
                    duration_ms: form.duration_ms,
                    urgent: form.urgent,
                }),
            )?;
            Ok(m)
        })
        .await;
    match stored {
        Ok(message) => {
            deps.outbox.notify();
            Ok(Sent {
                message,
                replayed: false,
            })
        }
        Err(e) => {
            forget(deps, &written).await;
            // The same key raced in on another request (or node) and won: answer with its
            // message.
            if let Some(idem) = &idempotency
                && e.is_unique_violation()
                && let Some(message) = replay(deps, &sender_id, idem).await?
            {
                return Ok(Sent {
                    message,
                    replayed: true,
                });
            }
            Err(e.into())
        }
    }
}

/// Remove blobs nothing refers to.
async fn forget(deps: &Deps, keys: &[String]) {
    for key in keys {
        if let Err(e) = deps.blobs.delete(key).await {
            tracing::warn!(error = %e, blob = %key, "could not remove an orphan blob");
        }
    }
}

/// A file name safe to store and to offer back in `Content-Disposition`: the last path part,
/// printable characters only, at most 100 of them.
pub(crate) fn safe_filename(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = last
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(100)
        .collect();
    let clean = clean.trim().trim_start_matches('.').to_owned();
    if clean.is_empty() {
        "attachment".into()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_typed() {
        assert_eq!(
            parse_numbers("102, 200 103").unwrap(),
            ["102", "200", "103"]
        );
        assert_eq!(parse_numbers("102,102").unwrap(), ["102"]);
        assert!(parse_numbers(" , ").is_err());
        assert!(parse_numbers("10x").is_err());
    }

    #[test]
    fn file_names_lose_paths_and_quotes() {
        assert_eq!(safe_filename("../../etc/passwd"), "passwd");
        assert_eq!(
            safe_filename("C:\\x\\report \"final\".pdf"),
            "report final.pdf"
        );
        assert_eq!(safe_filename("..."), "attachment");
        assert_eq!(safe_filename("a\r\nb.txt"), "ab.txt");
    }
}
