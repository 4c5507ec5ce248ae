//! Callbacks: the recipient's phone rings and Hark plays them the message.
//!
//! This worker only decides where to ring — the endpoint the plan chose (one of the
//! recipient's phone or SIP devices), else the phone number or SIP URI on their account — and
//! hands the call to whichever IVR takes the `ivr.originate` command. The IVR places the call
//! and reports the attempt's outcome (played, declined, busy, no answer, failed) itself.
//! The command is queued in the same transaction that marks this one handled, so a
//! redelivered `notify.callback` never places a second call.

use hark_core::{
    Deps,
    bus::consume::{self, HandleError},
    channel::{Channel, Endpoint},
    events::{CallPurpose, Command, Envelope, Event, Notify, Originate, Outcome},
    store::{self, DbConnection, StoreError, devices, users},
};

const CONSUMER: &str = "notifier.callback";

#[derive(Debug)]
pub struct CallbackWorker {
    deps: Deps,
}

impl CallbackWorker {
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }
}

/// The number or SIP URI to ring for `notify`, or why there is none.
fn target(c: &mut DbConnection, notify: &Notify) -> Result<Result<String, String>, StoreError> {
    let user =
        users::find_by_id(c, &notify.recipient_id)?.ok_or(StoreError::NotFound("recipient"))?;
    let account = || {
        user.phone_uri
            .clone()
            .filter(|p| !p.trim().is_empty())
            .ok_or_else(|| "the recipient has no phone number or SIP address".to_owned())
    };
    Ok(match notify.endpoint.as_deref() {
        None | Some("phone") => account(),
        Some(device) => match devices::find_for_user(c, &notify.recipient_id, device)? {
            Some(d) if Endpoint::of_device(&d.kind) == Some(Endpoint::Phone) => Ok(d.address),
            Some(d) => Err(format!("device {device} is a {}, not a phone", d.kind)),
            None => Err(format!("the recipient has no device {device}")),
        },
    })
}

#[async_trait::async_trait]
impl consume::Handler<Command> for CallbackWorker {
    async fn handle(&self, envelope: Envelope<Command>) -> Result<(), HandleError> {
        let notify = match envelope.body {
            Command::Notify(n) if n.channel == Channel::Callback => n,
            other => {
                return Err(HandleError::Poison(format!(
                    "the callback worker got a {} command",
                    other.routing_key()
                )));
            }
        };
        let done = consume::once(&self.deps.store, CONSUMER, envelope.id, move |c| {
            match target(c, &notify)? {
                Ok(target) => {
                    tracing::info!(message = %notify.message_id, recipient = %notify.recipient_id, %target, "asking an IVR to call");
                    store::outbox::enqueue_command(
                        c,
                        &Envelope::new(Command::Originate(Originate {
                            user_id: notify.recipient_id,
                            target,
                            purpose: CallPurpose::Deliver {
                                attempt_id: notify.attempt_id,
                                message_id: notify.message_id,
                            },
                        })),
                    )
                }
                Err(why) => store::outbox::enqueue_event(
                    c,
                    &Envelope::new(Event::DeliveryOutcome {
                        attempt_id: notify.attempt_id,
                        message_id: notify.message_id,
                        recipient_id: notify.recipient_id,
                        channel: Channel::Callback,
                        outcome: Outcome::Failed,
                        detail: Some(why),
                    }),
                ),
            }
        })
        .await?;
        if done.is_some() {
            self.deps.outbox.notify();
        }
        Ok(())
    }
}
