//! Sending a finished recording from the portal or the API: everything is checked first —
//! recipients exist, the audio decodes completely and fits the limits — then the encrypted
//! blobs are written, and the message, its recipients, its attachments and its
//! `message.recorded` event commit in one transaction. If that transaction fails, the blobs
//! are removed again, so nothing is left half-sent.

use hark_core::{
    Deps,
    audio::{self, AudioError},
    blob::BlobError,
    events::{Envelope, Event, Origin},
    ids::{MessageId, UserId},
    store::{self, StoreError, attachments, groups, messages, users::User},
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
    #[error("decoding failed: {0}")]
    Task(String),
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

/// The people `numbers` name, for `sender`.
pub(crate) async fn resolve(
    deps: &Deps,
    numbers: Vec<String>,
    sender: &User,
) -> Result<Vec<User>, SendError> {
    let me = sender.user_id();
    let people = deps
        .store
        .run(move |c| groups::resolve_recipients(c, &numbers, &me))
        .await?;
    if people.is_empty() {
        return Err(SendError::Invalid("nobody to send to".into()));
    }
    Ok(people)
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
    pub origin: Origin,
    pub urgent: bool,
    pub audio: Vec<u8>,
    pub max_seconds: u32,
    pub attachments: Vec<Upload>,
}

/// Decode, store and announce a message; returns it as stored.
pub(crate) async fn send(deps: &Deps, out: Outgoing) -> Result<messages::Message, SendError> {
    let Outgoing {
        sender,
        recipients,
        origin,
        urgent,
        audio: bytes,
        max_seconds,
        attachments: files,
    } = out;
    if files.len() > MAX_ATTACHMENTS {
        return Err(SendError::Invalid(format!(
            "at most {MAX_ATTACHMENTS} attachments per message"
        )));
    }
    let recording =
        tokio::task::spawn_blocking(move || audio::normalize_upload(&bytes, max_seconds))
            .await
            .map_err(|e| SendError::Task(e.to_string()))??;
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
    let form = messages::MessageInsertForm {
        id: MessageId::new(),
        sender,
        origin,
        duration_ms: recording.duration_ms,
        blob_key: written[0].clone(),
        urgent,
        recipients,
    };
    let stored = deps
        .store
        .transaction(move |c| {
            let m = messages::create_complete(c, &form)?;
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
        Ok(m) => {
            deps.outbox.notify();
            Ok(m)
        }
        Err(e) => {
            forget(deps, &written).await;
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
