//! `/messages/{id}/live`: a recipient hears a message while it is still being spoken.
//!
//! One WebSocket per listener. The portal first subscribes to the message's fragments on
//! `hark.live` (a transient queue of its own), then sends the fragments the IVR kept so far
//! (so a listener who joins late or reconnects starts from the first word), then the live
//! ones in order, skipping any it already sent. Frames are binary, in the `hark.live` wire
//! format ([`hark_core::live::Fragment`]). When the recording is over — its end fragment
//! arrives, or the stored message appears (an end fragment lost on the way) — the rest comes
//! from the stored message, a text frame `{"type":"end","state":"complete","gaps":N}` closes
//! the stream (`gaps`: fragments that never arrived), and the listener has the complete
//! message. A withdrawn message ends with `"state":"cancelled"`.
//!
//! Hearing it live delivers the recipient's stream attempt (when the first audio goes out)
//! and, heard to its end, gives the sender the "heard" receipt.

use crate::{AppState, page::PageError, push, session::WebUser};
use actix_web::{HttpRequest, HttpResponse, get, web};
use futures_util::StreamExt;
use hark_core::{
    audio,
    bus::{Consumer, Exchange, QueueSpec},
    channel::Channel,
    events::{Envelope, Event, Outcome},
    ids::{AttemptId, MessageId, UserId},
    live::{self, End, Fragment},
    played::{self, Via},
    store::{self, StoreError, attempts, live_chunks, messages},
};
use serde_json::json;
use std::time::Duration;

/// How often the stream looks for the stored message, in case the end fragment was lost.
const CHECK: Duration = Duration::from_secs(2);
/// Longest a live stream stays open (a message is at most a few minutes long).
const MAX_STREAM: Duration = Duration::from_secs(15 * 60);
/// How long a gap in the live fragments is waited for from the store.
const FILL_WAITS: u32 = 20;
const FILL_WAIT: Duration = Duration::from_millis(100);
/// Samples per fragment sent from the stored message (100 ms at 16 kHz).
const STORED_FRAGMENT: usize = 1_600;

/// What the stream knows of its message when it starts.
struct Listening {
    message: MessageId,
    user: UserId,
    /// The recipient's live attempt, if the plan made one.
    attempt: Option<AttemptId>,
}

#[get("/messages/{id}/live")]
pub(crate) async fn socket(
    state: web::Data<AppState>,
    me: WebUser,
    req: HttpRequest,
    body: web::Payload,
    id: web::Path<String>,
) -> Result<HttpResponse, actix_web::Error> {
    if !push::same_origin(&state, &req) {
        return Err(PageError::Csrf.into());
    }
    let message = MessageId::from(id.into_inner());
    let user = me.user.user_id();
    let (m, u) = (message.clone(), user.clone());
    let attempt = state
        .deps
        .store
        .run(move |c| {
            let Some(msg) = messages::find_by_id(c, &m)? else {
                return Ok(None);
            };
            let Some(r) = messages::find_recipient(c, &m, &u)? else {
                return Ok(None);
            };
            if r.deleted_at.is_some() || msg.cancelled_at.is_some() {
                return Ok(None);
            }
            let attempt = attempts::list_attempts(c, &m)?
                .into_iter()
                .find(|a| {
                    a.recipient_id == u.as_str()
                        && a.channel().is_some_and(Channel::live)
                        && a.state == "dispatched"
                })
                .map(|a| AttemptId::from(a.id.as_str()));
            Ok(Some(attempt))
        })
        .await
        .map_err(PageError::from)?
        .ok_or(PageError::NotFound)?;
    // Subscribe before reading what was kept, so nothing falls between the two.
    let queue = format!("live-{}", uuid::Uuid::new_v4().simple());
    state
        .deps
        .bus
        .declare(&QueueSpec::transient(&queue).bind(Exchange::Live, live::routing_key(&message)))
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?;
    let consumer = state
        .deps
        .bus
        .consume(&queue, 64)
        .await
        .map_err(|e| PageError::Internal(e.to_string()))?;
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let listening = Listening {
        message,
        user,
        attempt,
    };
    actix_web::rt::spawn(async move {
        let _ = tokio::time::timeout(
            MAX_STREAM,
            serve(&state, listening, session, stream, consumer),
        )
        .await;
    });
    Ok(response)
}

/// Where the stream stands.
#[derive(Default)]
struct Progress {
    next_seq: u32,
    /// Milliseconds of the message sent so far.
    sent_ms: u32,
    gaps: u32,
    started: bool,
    /// Waits for missing fragments left in this stream (see [`fill`]).
    fill_waits: u32,
}

async fn serve(
    state: &AppState,
    l: Listening,
    mut session: actix_ws::Session,
    mut stream: actix_ws::MessageStream,
    mut consumer: Consumer,
) {
    let mut p = Progress {
        fill_waits: FILL_WAITS,
        ..Progress::default()
    };
    let (m, blobs) = (l.message.clone(), state.deps.blobs.clone());
    let kept = state
        .deps
        .store
        .run(move |c| live_chunks::list(c, &blobs, &m, 0))
        .await
        .unwrap_or_default();
    let mut end = None;
    for body in kept {
        match relay(state, &l, &mut session, &mut p, &body).await {
            Ok(None) => {}
            Ok(Some(e)) => {
                end = Some(e);
                break;
            }
            Err(()) => return,
        }
    }
    let mut check = tokio::time::interval(CHECK);
    while end.is_none() {
        tokio::select! {
            d = consumer.next() => {
                let Some(d) = d else { break };
                let body = d.message.body.clone();
                let _ = d.ack().await;
                match relay(state, &l, &mut session, &mut p, &body).await {
                    Ok(None) => {}
                    Ok(Some(e)) => end = Some(e),
                    Err(()) => return,
                }
            }
            _ = check.tick() => {
                match stored(state, &l.message).await {
                    Ok(Some(_)) => end = Some(End::Complete),
                    Ok(None) => {}
                    Err(()) => end = Some(End::Cancelled),
                }
            }
            msg = stream.next() => match msg {
                Some(Ok(actix_ws::Message::Ping(b))) => {
                    if session.pong(&b).await.is_err() { return }
                }
                Some(Ok(actix_ws::Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
    let state_name = match end {
        Some(End::Cancelled) | None => "cancelled",
        Some(End::Complete) => {
            // Whatever did not come live comes from the stored message.
            if finish_from_store(state, &l, &mut session, &mut p)
                .await
                .is_err()
            {
                return;
            }
            "complete"
        }
    };
    let frame = json!({"type": "end", "state": state_name, "gaps": p.gaps}).to_string();
    if session.text(frame).await.is_ok() && state_name == "complete" {
        heard(state, &l).await;
    }
    let _ = session.close(None).await;
}

/// Send one encoded fragment unless it was sent already; returns its end, if it is the last.
async fn relay(
    state: &AppState,
    l: &Listening,
    session: &mut actix_ws::Session,
    p: &mut Progress,
    body: &[u8],
) -> Result<Option<End>, ()> {
    let Ok(f) = Fragment::decode(body) else {
        return Ok(None);
    };
    if f.seq < p.next_seq {
        return Ok(f.end); // Already sent (kept and live overlap).
    }
    if f.seq > p.next_seq && !fill(state, l, session, p, f.seq).await? {
        p.gaps = p.gaps.saturating_add(f.seq - p.next_seq);
    }
    p.next_seq = f.seq.saturating_add(1);
    if !f.pcm.is_empty() {
        session.binary(body.to_vec()).await.map_err(|_| ())?;
        p.sent_ms = f.offset_ms.saturating_add(ms(f.pcm.len(), f.rate));
        if !p.started {
            p.started = true;
            delivered(state, l).await;
        }
    }
    Ok(f.end)
}

/// Fragments before `upto` that did not come live (this listener subscribed before the IVR
/// knew anyone streams, so it kept them only a moment later): send them from the store,
/// waiting a little for them (at most [`FILL_WAITS`] times in a whole stream, so fragments
/// truly lost on the way cost little). Returns whether the gap was filled.
async fn fill(
    state: &AppState,
    l: &Listening,
    session: &mut actix_ws::Session,
    p: &mut Progress,
    upto: u32,
) -> Result<bool, ()> {
    loop {
        let (m, from, blobs) = (l.message.clone(), p.next_seq, state.deps.blobs.clone());
        let kept = state
            .deps
            .store
            .run(move |c| live_chunks::list(c, &blobs, &m, from))
            .await
            .unwrap_or_default();
        let bodies: Vec<Fragment> = kept
            .iter()
            .filter_map(|b| Fragment::decode(b).ok())
            .filter(|f| f.seq < upto)
            .collect();
        let complete = bodies.len() == usize::try_from(upto - from).unwrap_or(0)
            && bodies.first().is_some_and(|f| f.seq == from);
        if complete {
            for f in bodies {
                p.next_seq = f.seq.saturating_add(1);
                if !f.pcm.is_empty() {
                    p.sent_ms = f.offset_ms.saturating_add(ms(f.pcm.len(), f.rate));
                    session.binary(f.encode()).await.map_err(|_| ())?;
                }
            }
            return Ok(true);
        }
        if p.fill_waits == 0 {
            return Ok(false);
        }
        p.fill_waits -= 1;
        tokio::time::sleep(FILL_WAIT).await;
    }
}

fn ms(samples: usize, rate: u16) -> u32 {
    u32::try_from(samples as u64 * 1000 / u64::from(rate.max(1))).unwrap_or(u32::MAX)
}

/// The stored message's blob, once the recording is over; `Err` when it was withdrawn.
async fn stored(state: &AppState, id: &MessageId) -> Result<Option<String>, ()> {
    let m = id.clone();
    match state
        .deps
        .store
        .run(move |c| messages::find_by_id(c, &m))
        .await
    {
        Ok(Some(msg)) if msg.cancelled_at.is_some() => Err(()),
        Ok(Some(msg)) => Ok(msg.blob_key),
        Ok(None) => Err(()),
        Err(_) => Ok(None),
    }
}

/// Send the part of the stored message after what was sent live.
async fn finish_from_store(
    state: &AppState,
    l: &Listening,
    session: &mut actix_ws::Session,
    p: &mut Progress,
) -> Result<(), ()> {
    // The end fragment can come a moment before the IVR stores the message.
    let mut key = None;
    for _ in 0..20 {
        match stored(state, &l.message).await {
            Ok(Some(k)) => {
                key = Some(k);
                break;
            }
            Ok(None) => tokio::time::sleep(Duration::from_millis(250)).await,
            Err(()) => return Ok(()),
        }
    }
    let Some(key) = key else { return Ok(()) };
    let Ok(wav) = state.deps.blobs.get(&key).await else {
        return Ok(());
    };
    let Ok(decoded) = tokio::task::spawn_blocking(move || audio::decode(&wav, 3600)).await else {
        return Ok(());
    };
    let Ok(decoded) = decoded else { return Ok(()) };
    let rate = decoded.sample_rate;
    let from = usize::try_from(u64::from(p.sent_ms) * u64::from(rate) / 1000).unwrap_or(usize::MAX);
    let rest = decoded.samples.get(from..).unwrap_or_default();
    let rate16 = u16::try_from(rate).unwrap_or(16_000);
    for chunk in rest.chunks(STORED_FRAGMENT) {
        let f = Fragment {
            seq: p.next_seq,
            offset_ms: p.sent_ms,
            rate: rate16,
            pcm: chunk
                .iter()
                .map(|s| (s.clamp(-1.0, 1.0) * 32767.0) as i16)
                .collect(),
            end: None,
        };
        p.next_seq += 1;
        p.sent_ms = p.sent_ms.saturating_add(ms(chunk.len(), rate16));
        session.binary(f.encode()).await.map_err(|_| ())?;
        if !p.started {
            p.started = true;
            delivered(state, l).await;
        }
    }
    Ok(())
}

/// The live attempt reached the recipient: audio is playing in their browser.
async fn delivered(state: &AppState, l: &Listening) {
    let Some(attempt) = l.attempt.clone() else {
        return;
    };
    let event = Envelope::new(Event::DeliveryOutcome {
        attempt_id: attempt,
        message_id: l.message.clone(),
        recipient_id: l.user.clone(),
        channel: Channel::Stream,
        outcome: Outcome::Delivered,
        detail: Some("playing live in the portal".into()),
    });
    record(state, event).await;
}

/// The whole message went to the listener: they heard it.
async fn heard(state: &AppState, l: &Listening) {
    if let Err(e) = played::record(&state.deps, &l.message, &l.user, Via::Live).await {
        tracing::warn!(error = %e, "live stream play not recorded");
    }
}

async fn record(state: &AppState, event: Envelope<Event>) {
    let wrote: Result<(), StoreError> = state
        .deps
        .store
        .transaction(move |c| store::outbox::enqueue_event(c, &event))
        .await;
    match wrote {
        Ok(()) => state.deps.outbox.notify(),
        Err(e) => tracing::warn!(error = %e, "live stream outcome not recorded"),
    }
}
