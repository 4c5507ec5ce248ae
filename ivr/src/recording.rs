//! A message as a caller records it.
//!
//! At the beep the message exists (`recording`, with its recipients) and `message.started`
//! goes out through the outbox, so live delivery can begin while the caller speaks. Every
//! 100 ms of audio becomes a fragment on `hark.live`. When the caller stops, the audio —
//! trailing silence cut — is encrypted into a blob and the message waits in `review`; sending
//! it makes it `complete` and publishes `message.recorded`; cancelling it (or re-recording)
//! withdraws it and tells live listeners so. A hang-up during the recording or the review
//! sends what was said: nothing a caller said is ever dropped by the IVR. While they speak the
//! audio goes to a [`Spool`] file, not memory, so a call costs little however long it records.
//! The message's `recordings` row names this process and the spool file, and the file is
//! flushed at every fragment: should the process die, another IVR sends the message with
//! everything said up to the last fragment (`orphans.rs`).

use crate::{
    Ivr, line,
    media::{LINE_FRAME, LINE_RATE},
    spool::Spool,
    voice,
};
use hark_core::{
    bus::{BusMessage, Exchange},
    events::{Envelope, Event, Origin},
    ids::{EventId, MessageId, UserId},
    live::{self, End, Fragment},
    store::{self, messages},
};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Samples per live fragment (100 ms of line audio).
const FRAGMENT: usize = LINE_RATE as usize / 10;
/// Speech kept after the last voiced frame, so words are not clipped.
pub(crate) const TAIL: usize = 2_400;
/// Less speech than this (300 ms) is no message.
pub(crate) const MIN_VOICED: usize = 2_400;
/// Live fragments waiting to be published; past this they are dropped (live is best
/// effort, the stored message is whole).
const LIVE_QUEUE: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    #[error("blob: {0}")]
    Blob(#[from] hark_core::blob::BlobError),
    #[error("audio: {0}")]
    Audio(#[from] hark_core::audio::AudioError),
}

/// What stopping a recording left.
#[derive(Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Stored and waiting for the caller's decision.
    Held { duration_ms: u32 },
    /// Nothing but silence was recorded; the message was withdrawn.
    Empty,
}

pub struct Outgoing {
    ivr: Arc<Ivr>,
    pub id: MessageId,
    sender: UserId,
    recipients: Vec<UserId>,
    /// Everything said, on disk as it arrives.
    spool: Spool,
    /// Samples not yet sent live (less than a fragment).
    pending: Vec<i16>,
    /// Samples sent live so far.
    published: usize,
    /// Where the recording ends once trailing silence was cut.
    kept: Option<usize>,
    seq: u32,
    live: mpsc::Sender<Fragment>,
    duration_ms: u32,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Outgoing {
    /// The beep: the message starts to exist.
    pub async fn begin(
        ivr: Arc<Ivr>,
        sender: UserId,
        recipients: Vec<UserId>,
        sent_to: Option<String>,
    ) -> Result<Self, RecordingError> {
        let id = MessageId::new();
        let dir = if ivr.config.spool_dir.is_empty() {
            std::env::temp_dir().join("hark-spool")
        } else {
            std::path::PathBuf::from(&ivr.config.spool_dir)
        };
        let spool = Spool::create(&dir, id.as_str(), ivr.deps.blobs.clone());
        let (mid, s, rs) = (id.clone(), sender.clone(), recipients.clone());
        let row = store::recordings::Recording {
            message_id: id.to_string(),
            node_id: ivr.deps.node_id.clone(),
            spool_path: spool.path().display().to_string(),
            started_at: store::now(),
        };
        ivr.deps
            .store
            .transaction(move |c| {
                messages::create_recording(c, &mid, &s, Origin::Phone, false, &rs)?;
                if let Some(groups) = &sent_to {
                    messages::set_sent_to(c, &mid, groups)?;
                }
                store::recordings::start(c, &row)?;
                store::outbox::enqueue_event(
                    c,
                    &Envelope::new(Event::MessageStarted {
                        message_id: mid.clone(),
                        sender_id: s.clone(),
                        recipients: rs.clone(),
                        urgent: false,
                    }),
                )
            })
            .await?;
        ivr.deps.outbox.notify();
        let (live, rx) = mpsc::channel(LIVE_QUEUE);
        tokio::spawn(publish_live(ivr.clone(), id.clone(), rx));
        Ok(Self {
            ivr,
            id,
            sender,
            recipients,
            spool,
            pending: Vec::with_capacity(FRAGMENT + LINE_FRAME),
            published: 0,
            kept: None,
            seq: 0,
            live,
            duration_ms: 0,
        })
    }

    /// Audio as it arrives; whole fragments go out live.
    pub fn push(&mut self, frame: &[i16]) {
        self.spool.push(frame);
        self.pending.extend_from_slice(frame);
        while self.pending.len() >= FRAGMENT {
            let pcm: Vec<i16> = self.pending.drain(..FRAGMENT).collect();
            self.spool.flush();
            self.emit(pcm, None);
        }
    }

    fn emit(&mut self, pcm: Vec<i16>, end: Option<End>) {
        let n = pcm.len();
        let f = Fragment {
            seq: self.seq,
            offset_ms: line::ms(self.published),
            rate: LINE_RATE as u16, // 8 or 16 kHz: fits
            pcm,
            end,
        };
        self.seq += 1;
        self.published += n;
        if self.live.try_send(f).is_err() {
            tracing::debug!(message = %self.id, "live fragment dropped (bus slow)");
        }
    }

    /// The recorded audio (for "listen to it" in review), read back from the spool.
    pub fn audio(&mut self) -> Vec<i16> {
        let mut pcm = self.spool.read();
        if let Some(kept) = self.kept {
            pcm.truncate(kept);
        }
        pcm
    }

    /// The caller stopped: cut trailing silence, store the audio encrypted, hold for review.
    pub async fn stop(&mut self, recorded: line::Recorded) -> Result<Stopped, RecordingError> {
        if recorded.voiced_until < MIN_VOICED {
            return Ok(Stopped::Empty);
        }
        let mut pcm = self.spool.read();
        let keep = (recorded.voiced_until + TAIL).min(pcm.len());
        pcm.truncate(keep.max(self.published));
        self.kept = Some(pcm.len());
        self.pending.clear();
        let rest = pcm[self.published.min(pcm.len())..].to_vec();
        self.emit(rest, Some(End::Complete));
        let wav = voice::stored_audio(&pcm)?;
        drop(pcm);
        let blob = self.ivr.deps.blobs.put(wav).await?;
        self.duration_ms = line::ms(self.kept.unwrap_or_default());
        let (id, b, d) = (self.id.clone(), blob.clone(), self.duration_ms);
        let held = self
            .ivr
            .deps
            .store
            .transaction(move |c| messages::hold_for_review(c, &id, &b, d))
            .await?;
        if !held {
            // Withdrawn meanwhile (cannot happen within one call, but never leave an orphan).
            let _ = self.ivr.deps.blobs.delete(&blob).await;
        }
        Ok(Stopped::Held {
            duration_ms: self.duration_ms,
        })
    }

    /// Send the held message: it is complete and the router plans its delivery.
    pub async fn send(self) -> Result<(), RecordingError> {
        let event = Envelope::new(Event::MessageRecorded {
            message_id: self.id.clone(),
            sender_id: self.sender.clone(),
            recipients: self.recipients.clone(),
            origin: Origin::Phone,
            duration_ms: self.duration_ms,
            urgent: false, // the phone has no urgent flag yet
        });
        let (id, d) = (self.id.clone(), self.duration_ms);
        let sent = self
            .ivr
            .deps
            .store
            .transaction(move |c| {
                let Some(m) = messages::find_by_id(c, &id)? else {
                    return Ok(false);
                };
                let Some(blob) = m.blob_key else {
                    return Ok(false);
                };
                let sent = messages::complete_recording(c, &id, &blob, d)?;
                if sent {
                    store::outbox::enqueue_event(c, &event)?;
                }
                store::recordings::finish(c, &id)?;
                Ok(sent)
            })
            .await?;
        if !sent {
            // Another IVR took it for a dead node's (this one could not reach the database
            // for a while) and sent what the spool held then.
            tracing::warn!(message = %self.id, "message was already sent by another IVR");
            return Ok(());
        }
        self.ivr.deps.outbox.notify();
        tracing::info!(message = %self.id, recipients = self.recipients.len(), "message sent from the phone");
        Ok(())
    }

    /// Withdraw the message (cancel, re-record, or nothing said).
    pub async fn cancel(mut self) -> Result<(), RecordingError> {
        let rest = std::mem::take(&mut self.pending);
        self.emit(rest, Some(End::Cancelled));
        let id = self.id.clone();
        let blob = self
            .ivr
            .deps
            .store
            .transaction(move |c| {
                let blob = messages::cancel(c, &id)?;
                store::recordings::finish(c, &id)?;
                Ok(blob)
            })
            .await?;
        if let Some(blob) = blob
            && let Err(e) = self.ivr.deps.blobs.delete(&blob).await
        {
            tracing::warn!(error = %e, "could not remove a cancelled recording");
        }
        Ok(())
    }
}

/// Fragments at which the IVR asks whether anyone streams the message (the router sets a
/// listener up within milliseconds of `message.started`, before the beep ends, so usually
/// the first answer is yes or no for good); until the last check they are held in memory.
const STREAM_CHECKS: [u32; 4] = [0, 2, 5, 15];
/// Kept fragments outlive the recording this long, for a listener connecting just then.
const KEEP_AFTER_END: std::time::Duration = std::time::Duration::from_secs(30);

/// Publish fragments on `hark.live` as they come; and, when someone streams the message, keep
/// them in the store too — each one before it is published, so a listener who subscribes and
/// then reads what was kept misses nothing — so one who joins late or reconnects starts from
/// the first word.
async fn publish_live(ivr: Arc<Ivr>, id: MessageId, mut rx: mpsc::Receiver<Fragment>) {
    let key = live::routing_key(&id);
    let mut held: Vec<(u32, Vec<u8>)> = Vec::new();
    // None: not known yet; Some(keep).
    let mut streamed: Option<bool> = None;
    while let Some(f) = rx.recv().await {
        let body = f.encode();
        let (seq, ended) = (f.seq, f.end.is_some());
        if streamed != Some(false) {
            held.push((seq, body.clone()));
        }
        if streamed.is_none() && (STREAM_CHECKS.contains(&seq) || ended) {
            let m = id.clone();
            match ivr
                .deps
                .store
                .run(move |c| store::live_chunks::is_streamed(c, &m))
                .await
            {
                Ok(true) => {
                    tracing::debug!(message = %id, seq, "streamed live: keeping fragments");
                    streamed = Some(true);
                }
                Ok(false) if ended || seq >= STREAM_CHECKS[STREAM_CHECKS.len() - 1] => {
                    streamed = Some(false);
                    held = Vec::new();
                }
                Ok(false) => {}
                Err(e) => tracing::debug!(error = %e, "could not ask whether anyone streams"),
            }
        }
        if streamed == Some(true) {
            let (m, batch) = (id.clone(), std::mem::take(&mut held));
            let blobs = ivr.deps.blobs.clone();
            if let Err(e) = ivr
                .deps
                .store
                .run(move |c| store::live_chunks::add(c, &blobs, &m, &batch))
                .await
            {
                tracing::warn!(error = %e, message = %id, "live fragments not kept");
            }
        }
        let message = BusMessage {
            id: EventId::new().into_string(),
            routing_key: key.clone(),
            body,
        };
        if let Err(e) = ivr.deps.bus.publish(Exchange::Live, message).await {
            tracing::debug!(error = %e, "live fragment not published");
        }
    }
    // The recording is over (the sender dropped): forget the kept fragments a little later.
    if streamed == Some(true) {
        tokio::time::sleep(KEEP_AFTER_END).await;
        let m = id.clone();
        if let Err(e) = ivr
            .deps
            .store
            .run(move |c| store::live_chunks::remove(c, &m))
            .await
        {
            tracing::warn!(error = %e, message = %id, "kept live fragments not removed");
        }
    }
}
