//! Calls Hark places, on `ivr.originate`: the notifier's callback channel (play a message to
//! its recipient) and a portal user's "call me to record".
//!
//! Each command places at most one call: it is claimed in the store (as consumed, by event id)
//! before the phone rings, so a redelivery never rings a phone twice. A node that dies in
//! between leaves the attempt without an outcome, and the router's give-up time settles it.
//! When every line is busy the consumer waits for one to free up rather than refusing, so the
//! command stays on the queue for another IVR node meanwhile.
//!
//! A delivery's outcome is one `delivery.outcome` for its attempt, written with the
//! `message.played` that makes the sender's "heard" receipt when the callee heard it:
//!
//! | what happened | outcome | detail |
//! |---|---|---|
//! | heard it | delivered | `played` |
//! | pressed 3, or the phone answered 603 | declined | `declined on the phone` / `declined the call` |
//! | answered, hung up before hearing it | failed | `answered, hung up before the message ended` |
//! | 486, 600 | failed | `busy` |
//! | rang out, 408, 480 | failed | `no answer` |
//! | anything else | failed | why (`404 Not Found`, `no RTP port`, …) |

use crate::{
    Ivr, IvrError,
    call::OnLine,
    menu::{
        self,
        callback::{Delivery, OnHeard},
    },
    sip::outbound::{self, Route, Unplaced},
    voice,
};
use hark_core::{
    bus::consume::{self, HandleError},
    channel::Channel,
    events::{CallPurpose, Command, Envelope, Event, Originate, Outcome, keys},
    ids::{AttemptId, MessageId, UserId},
    played::{self, Via},
    push::{self, PushFrame},
    store::{self, StoreError, messages, registrations, users},
};
use std::{sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;

const CONSUMER: &str = "ivr.originate";

/// Consume `ivr.originate` until `shutdown`.
pub async fn run(
    ivr: Arc<Ivr>,
    endpoint: ezk_sip_core::Endpoint,
    prefetch: u16,
    shutdown: CancellationToken,
) -> Result<(), IvrError> {
    let deps = ivr.deps.clone();
    let handler = Arc::new(Originator {
        ivr,
        endpoint,
        shutdown: shutdown.clone(),
    });
    consume::run::<Command, _>(&deps, keys::IVR_ORIGINATE, prefetch, handler, shutdown).await?;
    Ok(())
}

struct Originator {
    ivr: Arc<Ivr>,
    endpoint: ezk_sip_core::Endpoint,
    shutdown: CancellationToken,
}

#[async_trait::async_trait]
impl consume::Handler<Command> for Originator {
    async fn handle(&self, envelope: Envelope<Command>) -> Result<(), HandleError> {
        let Command::Originate(call) = envelope.body else {
            return Err(HandleError::Poison(format!(
                "the IVR got a {} command",
                envelope.body.routing_key()
            )));
        };
        // A free line first: at `max_calls` wait, so the command waits with us (or goes to
        // another node) instead of failing.
        let permit = loop {
            if let Some(p) = self.ivr.admission.admit(None) {
                break p;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = self.shutdown.cancelled() => {
                    return Err(HandleError::Retry("shutting down".into()));
                }
            }
        };
        let claimed =
            consume::once(&self.ivr.deps.store, CONSUMER, envelope.id, |_| Ok(())).await?;
        if claimed.is_none() {
            tracing::debug!("this call was already placed");
            return Ok(());
        }
        let (ivr, endpoint) = (self.ivr.clone(), self.endpoint.clone());
        tokio::spawn(async move {
            let _permit = permit;
            place(ivr, endpoint, call).await;
        });
        Ok(())
    }
}

async fn place(ivr: Arc<Ivr>, endpoint: ezk_sip_core::Endpoint, call: Originate) {
    let Originate {
        user_id,
        target,
        device,
        purpose,
    } = call;
    match purpose {
        CallPurpose::Deliver {
            attempt_id,
            message_id,
        } => {
            let (outcome, detail, played) = deliver(
                &ivr,
                &endpoint,
                &user_id,
                (&target, device.as_deref()),
                &message_id,
            )
            .await;
            tracing::info!(%message_id, recipient = %user_id, ?outcome, %detail, "callback ended");
            report(
                &ivr, attempt_id, message_id, user_id, outcome, detail, played,
            )
            .await;
        }
        CallPurpose::Record {
            recipients,
            sent_to,
        } => {
            record(
                &ivr,
                &endpoint,
                &user_id,
                (&target, device.as_deref()),
                recipients,
                sent_to,
            )
            .await;
        }
    }
}

/// Call the recipient and play them the message. Returns the outcome, its detail, and
/// whether they heard it.
async fn deliver(
    ivr: &Arc<Ivr>,
    endpoint: &ezk_sip_core::Endpoint,
    recipient_id: &UserId,
    target: (&str, Option<&str>),
    message_id: &MessageId,
) -> (Outcome, String, bool) {
    let failed = |why: String| (Outcome::Failed, why, false);
    let (m, r) = (message_id.clone(), recipient_id.clone());
    let loaded = ivr
        .deps
        .store
        .run(move |c| {
            let message = messages::find_by_id(c, &m)?.ok_or(StoreError::NotFound("message"))?;
            let seat =
                messages::find_recipient(c, &m, &r)?.ok_or(StoreError::NotFound("recipient"))?;
            let recipient = users::find_by_id(c, &r)?.ok_or(StoreError::NotFound("recipient"))?;
            let sender = users::find_by_id(c, &UserId::from(message.sender_id.as_str()))?
                .ok_or(StoreError::NotFound("sender"))?;
            Ok((message, seat, recipient, sender))
        })
        .await;
    let (message, seat, recipient, sender) = match loaded {
        Ok(l) => l,
        Err(e) => return failed(format!("cannot load the message: {e}")),
    };
    if message.cancelled_at.is_some() || message.state != "complete" {
        return failed("the message was withdrawn".into());
    }
    if matches!(seat.state.as_str(), "played" | "declined") {
        return failed(format!("already {}", seat.state));
    }
    let Some(blob) = &message.blob_key else {
        return failed("the message has no audio".into());
    };
    let audio = match ivr.deps.blobs.get(blob).await {
        Ok(wav) => match voice::phone_audio(&wav) {
            Ok(pcm) => pcm,
            Err(e) => return failed(format!("the message's audio does not decode: {e}")),
        },
        Err(e) => return failed(format!("the message's audio is missing: {e}")),
    };
    let routes = match routes(ivr, recipient_id, target).await {
        Ok(r) => r,
        Err(why) => return failed(why),
    };
    let placed = match outbound::place_first(&ivr.sip, endpoint, routes, &sender.display_name).await
    {
        Ok(p) => p,
        Err(Unplaced::Declined) => {
            return (Outcome::Declined, Unplaced::Declined.to_string(), false);
        }
        Err(u) => return failed(u.to_string()),
    };
    let mut done = Delivery::default();
    let on_heard: OnHeard = {
        let (ivr, m, r) = (ivr.clone(), message_id.clone(), recipient_id.clone());
        Box::new(move || {
            let (ivr, m, r) = (ivr.clone(), m.clone(), r.clone());
            Box::pin(async move { played(&ivr, &m, &r).await })
        })
    };
    let mut call = OnLine::pick_up(ivr, placed, "outbound");
    let mut s = call.session(ivr, recipient);
    let result = menu::callback::deliver(&mut s, &sender, &audio, &mut done, on_heard).await;
    call.hang_up(ivr, result).await;
    // A play the call could not record yet is recorded with the outcome.
    let unrecorded_play = done.heard && !done.heard_recorded;
    if done.declined {
        (
            Outcome::Declined,
            "declined on the phone".into(),
            unrecorded_play,
        )
    } else if done.heard {
        (Outcome::Delivered, "played".into(), unrecorded_play)
    } else {
        failed("answered, hung up before the message ended".into())
    }
}

/// "Call me to record".
async fn record(
    ivr: &Arc<Ivr>,
    endpoint: &ezk_sip_core::Endpoint,
    user_id: &UserId,
    target: (&str, Option<&str>),
    recipients: Vec<UserId>,
    sent_to: Option<String>,
) {
    let id = user_id.clone();
    let user = match ivr.deps.store.run(move |c| users::find_by_id(c, &id)).await {
        Ok(Some(u)) => u,
        Ok(None) => {
            tracing::warn!(user = %user_id, "call me to record: no such user");
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "call me to record: cannot load the user");
            return;
        }
    };
    let placed = match routes(ivr, user_id, target).await {
        Ok(routes) => outbound::place_first(&ivr.sip, endpoint, routes, "Hark").await,
        Err(why) => Err(Unplaced::Failed(why)),
    };
    match placed {
        Ok(placed) => {
            tell_caller(ivr, user_id, "answered", "").await;
            let mut call = OnLine::pick_up(ivr, placed, "outbound");
            let mut s = call.session(ivr, user);
            let result = menu::callback::record(&mut s, recipients, sent_to).await;
            call.hang_up(ivr, result).await;
        }
        Err(u) => {
            tracing::info!(user = %user_id, target = %target.0, outcome = %u, "call me to record: not answered");
            let outcome = match u {
                Unplaced::Busy => "busy",
                Unplaced::NoAnswer => "no_answer",
                Unplaced::Declined => "declined",
                Unplaced::Failed(_) | Unplaced::AnsweredElsewhere => "failed",
            };
            tell_caller(ivr, user_id, outcome, &u.to_string()).await;
        }
    }
}

/// Where to ring `user`: every registered contact of the chosen device (of all their phones
/// when none was chosen), all at once; else the fixed address (`target`: the device's, or the
/// number on their account).
async fn routes(
    ivr: &Arc<Ivr>,
    user: &UserId,
    (target, device): (&str, Option<&str>),
) -> Result<Vec<Route>, String> {
    let (u, d) = (user.clone(), device.map(str::to_owned));
    let bindings = ivr
        .deps
        .store
        .run(move |c| match d {
            Some(d) => registrations::of_device(c, &d, store::now()),
            None => registrations::of_user(c, &u, store::now()),
        })
        .await
        .map_err(|e| format!("cannot read where their phones are registered: {e}"))?;
    let mut routes = Vec::new();
    for b in &bindings {
        match Route::registered(b) {
            Ok(r) => routes.push(r),
            Err(why) => tracing::warn!(device = %b.device_id, %why, "skipping a registration"),
        }
    }
    if !routes.is_empty() {
        return Ok(routes);
    }
    if target.trim().is_empty() {
        return Err("no phone of theirs is registered and they have no number".into());
    }
    Ok(vec![outbound::route(&ivr.config, target)?])
}

/// Tell the person's open portal tabs how their "call me to record" call went (none open: no
/// one to tell).
async fn tell_caller(ivr: &Arc<Ivr>, user: &UserId, outcome: &str, detail: &str) {
    let frame = PushFrame::CallMe {
        outcome: outcome.into(),
        detail: detail.into(),
    };
    let Ok(body) = serde_json::to_vec(&frame) else {
        return;
    };
    if let Err(e) = push::publish(ivr.deps.bus.as_ref(), user, body).await {
        tracing::debug!(error = %e, "could not tell the caller's tabs about the call");
    }
}

/// The callee heard the message: `message.played`, from which the router makes the sender's
/// "heard" receipt. False when the store could not take it (the outcome then carries it).
async fn played(ivr: &Arc<Ivr>, message_id: &MessageId, recipient_id: &UserId) -> bool {
    match played::record(&ivr.deps, message_id, recipient_id, Via::Callback).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "could not record a callback's play yet");
            false
        }
    }
}

/// Write the attempt's outcome (and the play, when heard) to the outbox, retrying a store
/// that is briefly away; the router's give-up time covers one that stays away.
async fn report(
    ivr: &Arc<Ivr>,
    attempt_id: AttemptId,
    message_id: MessageId,
    recipient_id: UserId,
    outcome: Outcome,
    detail: String,
    played: bool,
) {
    let mut events = Vec::new();
    if played {
        events.push(played::event(&message_id, &recipient_id, Via::Callback));
    }
    events.push(Envelope::new(Event::DeliveryOutcome {
        attempt_id,
        message_id,
        recipient_id,
        channel: Channel::Callback,
        outcome,
        detail: Some(detail),
    }));
    for attempt in 1..=5u32 {
        let batch = events.clone();
        let written = ivr
            .deps
            .store
            .transaction(move |c| {
                for e in &batch {
                    store::outbox::enqueue_event(c, e)?;
                }
                Ok(())
            })
            .await;
        match written {
            Ok(()) => {
                ivr.deps.outbox.notify();
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, attempt, "could not record a callback's outcome");
                tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
            }
        }
    }
    tracing::error!("gave up recording a callback's outcome; the router's give-up time settles it");
}
