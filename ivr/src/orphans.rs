//! Recordings whose IVR process died, finished by another.
//!
//! Every recording has a `recordings` row naming the process taking it and its spool file,
//! which that process flushes at every live fragment. Each IVR looks every few seconds for rows
//! whose process has stopped sending heartbeats, takes one over (a conditional update, so only
//! one IVR does), and sends the message as a hang-up would have: the audio held for review if
//! the caller had stopped, else everything in the spool file — all that was said up to the
//! last fragment — with trailing silence cut. A recording with no speech is withdrawn.
//!
//! A process is judged dead only by a sweeper that has itself reached the database for
//! [`STALE`] without a break: after a database outage every heartbeat is old, and a live
//! node's calls must not be taken from it. A spool file this node cannot see (another host's
//! disk) is left for an IVR that can; after [`GIVE_UP`] the message is withdrawn, since what
//! was said is gone with that disk.

use crate::{Ivr, line, recording, voice};
use hark_core::{
    events::{Envelope, Event, Origin},
    ids::{MessageId, UserId},
    store::{self, StoreError, messages, recordings},
};
use std::{path::Path, sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;

/// How often an IVR looks for orphaned recordings.
const SWEEP: Duration = Duration::from_secs(5);
/// A node whose heartbeat (every 5 s) is older than this is gone.
pub const STALE: Duration = Duration::from_secs(20);
/// A recording nobody could finish for this long is withdrawn.
const GIVE_UP: chrono::Duration = chrono::Duration::hours(1);
/// Orphans taken per sweep.
const BATCH: i64 = 20;

#[derive(Debug, thiserror::Error)]
enum OrphanError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("blob: {0}")]
    Blob(#[from] hark_core::blob::BlobError),
    #[error("audio: {0}")]
    Audio(#[from] hark_core::audio::AudioError),
    #[error("spool file {0}: {1}")]
    Spool(String, std::io::Error),
}

/// What became of one orphan.
#[derive(Debug, PartialEq, Eq)]
enum Finished {
    Sent { duration_ms: u32 },
    Withdrawn,
    LeftOver,
}

/// Sweep until `shutdown`.
pub async fn run(ivr: Arc<Ivr>, shutdown: CancellationToken) {
    // Since when this node has reached the database without a failed sweep.
    let mut up_since: Option<tokio::time::Instant> = None;
    let mut tick = tokio::time::interval(SWEEP);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        let steady = up_since.is_some_and(|t| t.elapsed() >= STALE);
        match sweep(&ivr, steady).await {
            Ok(()) => {
                up_since.get_or_insert_with(tokio::time::Instant::now);
            }
            Err(e) => {
                up_since = None;
                tracing::debug!(error = %e, "orphaned recordings not swept");
            }
        }
    }
}

/// One pass. Only looks (and so only proves the database answers) unless `steady`.
async fn sweep(ivr: &Arc<Ivr>, steady: bool) -> Result<(), StoreError> {
    let alive_since =
        store::now() - chrono::Duration::from_std(STALE).unwrap_or(chrono::Duration::MAX);
    let orphans = ivr
        .deps
        .store
        .run(move |c| recordings::list_orphaned(c, alive_since, BATCH))
        .await?;
    if !steady {
        return Ok(());
    }
    for orphan in orphans {
        if orphan.node_id == ivr.deps.node_id {
            // Ours, alive in this process (whatever our own heartbeat row says).
            continue;
        }
        let id = MessageId::from(orphan.message_id.as_str());
        let visible = Path::new(&orphan.spool_path).exists();
        let old = store::now() - orphan.started_at > GIVE_UP;
        let (m, from, to) = (id.clone(), orphan.node_id.clone(), ivr.deps.node_id.clone());
        // Take it only if it can be finished here (or nobody could for too long).
        let held = ivr
            .deps
            .store
            .run(move |c| {
                Ok(messages::find_by_id(c, &m)?
                    .is_some_and(|m| m.state == "recording" && m.blob_key.is_some()))
            })
            .await?;
        if !(visible || held || old) {
            continue;
        }
        let m = id.clone();
        if !ivr
            .deps
            .store
            .run(move |c| recordings::claim(c, &m, &from, &to))
            .await?
        {
            continue;
        }
        match finish(ivr, &id, &orphan).await {
            Ok(Finished::Sent { duration_ms }) => tracing::info!(
                message = %id, node = %orphan.node_id, duration_ms,
                "recording of a stopped IVR sent with what was said"
            ),
            Ok(Finished::Withdrawn) => tracing::warn!(
                message = %id, node = %orphan.node_id,
                "recording of a stopped IVR withdrawn: nothing was said, or its spool file is gone"
            ),
            Ok(Finished::LeftOver) => {}
            Err(e) => {
                // Give it back, so the next sweep (here or elsewhere) tries again.
                tracing::warn!(error = %e, message = %id, "could not finish an orphaned recording");
                let (m, me, prev) = (id.clone(), ivr.deps.node_id.clone(), orphan.node_id.clone());
                ivr.deps
                    .store
                    .run(move |c| recordings::claim(c, &m, &me, &prev))
                    .await?;
            }
        }
    }
    Ok(())
}

/// Send (or withdraw) one orphan this node has claimed.
async fn finish(
    ivr: &Arc<Ivr>,
    id: &MessageId,
    orphan: &recordings::Recording,
) -> Result<Finished, OrphanError> {
    let m = id.clone();
    let found = ivr
        .deps
        .store
        .run(move |c| {
            let Some(msg) = messages::find_by_id(c, &m)? else {
                return Ok(None);
            };
            let recipients: Vec<UserId> = messages::list_recipients(c, &m)?
                .into_iter()
                .map(|r| UserId::from(r.recipient_id))
                .collect();
            Ok(Some((msg, recipients)))
        })
        .await?;
    let Some((msg, recipients)) = found.filter(|(m, _)| m.state == "recording") else {
        let m = id.clone();
        ivr.deps
            .store
            .run(move |c| recordings::finish(c, &m))
            .await?;
        remove_spool(&orphan.spool_path);
        return Ok(Finished::LeftOver);
    };
    // Held for review: the audio is stored already; a hang-up would have sent it.
    let (blob, duration_ms, fresh) = match msg.blob_key.clone() {
        Some(blob) => (blob, u32::try_from(msg.duration_ms).unwrap_or(0), false),
        None => match read_spool(&ivr.deps.blobs, &orphan.spool_path, id.as_str())? {
            Some(pcm) => match trimmed(&pcm) {
                Some(keep) => {
                    let wav = voice::stored_audio(&pcm[..keep])?;
                    (ivr.deps.blobs.put(wav).await?, line::ms(keep), true)
                }
                None => return withdraw(ivr, id, &orphan.spool_path).await,
            },
            None => return withdraw(ivr, id, &orphan.spool_path).await,
        },
    };
    let event = Envelope::new(Event::MessageRecorded {
        message_id: id.clone(),
        sender_id: UserId::from(msg.sender_id.as_str()),
        recipients,
        origin: Origin::Phone,
        duration_ms,
        urgent: msg.urgent,
    });
    let (m, b) = (id.clone(), blob.clone());
    let stored = ivr
        .deps
        .store
        .transaction(move |c| {
            let sent = messages::complete_recording(c, &m, &b, duration_ms)?;
            if sent {
                store::outbox::enqueue_event(c, &event)?;
            }
            recordings::finish(c, &m)?;
            Ok(sent)
        })
        .await;
    let sent = match stored {
        Ok(sent) => sent,
        Err(e) => {
            if fresh {
                let _ = ivr.deps.blobs.delete(&blob).await;
            }
            return Err(e.into());
        }
    };
    ivr.deps.outbox.notify();
    if !sent && fresh {
        // Its own process finished it after all (it was not dead, only silent).
        let _ = ivr.deps.blobs.delete(&blob).await;
    }
    remove_spool(&orphan.spool_path);
    Ok(if sent {
        Finished::Sent { duration_ms }
    } else {
        Finished::LeftOver
    })
}

async fn withdraw(ivr: &Arc<Ivr>, id: &MessageId, spool: &str) -> Result<Finished, OrphanError> {
    let m = id.clone();
    let blob = ivr
        .deps
        .store
        .transaction(move |c| {
            let blob = messages::cancel(c, &m)?;
            recordings::finish(c, &m)?;
            Ok(blob)
        })
        .await?;
    if let Some(blob) = blob {
        let _ = ivr.deps.blobs.delete(&blob).await;
    }
    remove_spool(spool);
    Ok(Finished::Withdrawn)
}

/// The samples in a spool file (sealed records, see `spool.rs`); `None` if it is not there.
fn read_spool(
    blobs: &hark_core::blob::BlobStore,
    path: &str,
    message: &str,
) -> Result<Option<Vec<i16>>, OrphanError> {
    crate::spool::read_file(blobs, Path::new(path), message)
        .map_err(|e| OrphanError::Spool(path.to_owned(), e))
}

fn remove_spool(path: &str) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(error = %e, path, "could not remove a spool file");
    }
}

/// Where the audio ends once trailing silence is cut (as a live recording cuts it); `None`
/// when there is too little speech to be a message.
fn trimmed(pcm: &[i16]) -> Option<usize> {
    let frame = crate::media::LINE_FRAME;
    let voiced_until = pcm
        .chunks(frame)
        .enumerate()
        .rev()
        .find(|(_, f)| line::is_voice(f))
        .map(|(i, f)| i * frame + f.len())?;
    (voiced_until >= recording::MIN_VOICED).then(|| (voiced_until + recording::TAIL).min(pcm.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speech_is_kept_with_its_tail_and_silence_is_not_a_message() {
        let mut pcm = vec![3000i16; 8_000]; // a second of "speech"
        pcm.extend(vec![0i16; 16_000]); // two of silence
        assert_eq!(trimmed(&pcm), Some(8_000 + recording::TAIL));
        assert_eq!(trimmed(&[0i16; 24_000]), None, "silence only");
        assert_eq!(trimmed(&[3000i16; 800]), None, "100 ms is not a message");
        assert_eq!(trimmed(&[3000i16; 8_000]), Some(8_000), "speech to the end");
    }

    #[test]
    fn a_spool_file_reads_back_as_samples() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = hark_core::blob::BlobStore::new(dir.path(), &"ab".repeat(32)).unwrap();
        let mut spool = crate::spool::Spool::create(dir.path(), "m", blobs.clone());
        spool.push(&[1, -1, 7]);
        spool.flush();
        let path = spool.path().to_str().unwrap().to_owned();
        assert_eq!(
            read_spool(&blobs, &path, "m").unwrap(),
            Some(vec![1, -1, 7])
        );
        assert_eq!(
            read_spool(&blobs, dir.path().join("none").to_str().unwrap(), "m").unwrap(),
            None
        );
        drop(spool);
    }
}
