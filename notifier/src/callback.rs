//! Callbacks: the recipient's phone rings and Hark plays them the message.
//!
//! This worker only decides where to ring — the endpoint the plan chose (one of the
//! recipient's phone or SIP devices), else the phone number or SIP URI on their account — and
//! hands the call to whichever IVR takes the `ivr.originate` command. The IVR rings the
//! chosen device's registered contacts (or all the person's registered phones) before that
//! address, as registrations stand when it places the call. The IVR places the call
//! and reports the attempt's outcome (played, declined, busy, no answer, failed) itself.
//! The command is queued in the same transaction that marks this one handled, so a
//! redelivered `notify.callback` never places a second call.

use hark_core::{
    Deps,
    bus::consume::{self, HandleError},
    channel::{Channel, Endpoint},
    events::{CallPurpose, Command, Envelope, Event, Notify, Originate, Outcome},
    store::{self, DbConnection, StoreError, devices, registrations, users},
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

/// Where to ring for `notify`: the phone device the plan chose (its registered contacts, else
/// its address), else the person's registered phones, else the phone number or SIP URI on
/// their account; or why there is nowhere.
fn target(
    c: &mut DbConnection,
    notify: &Notify,
) -> Result<Result<(String, Option<String>), String>, StoreError> {
    let user =
        users::find_by_id(c, &notify.recipient_id)?.ok_or(StoreError::NotFound("recipient"))?;
    Ok(match notify.endpoint.as_deref() {
        None | Some("phone") => {
            let account = user.phone_uri.clone().filter(|p| !p.trim().is_empty());
            let registered =
                !registrations::of_user(c, &notify.recipient_id, store::now())?.is_empty();
            match account {
                Some(a) => Ok((a, None)),
                // The IVR rings their registered phones.
                None if registered => Ok((String::new(), None)),
                None => Err(
                    "the recipient has no phone number or SIP address, and no phone of \
                             theirs is registered"
                        .to_owned(),
                ),
            }
        }
        Some(device) => match devices::find_for_user(c, &notify.recipient_id, device)? {
            Some(d) if Endpoint::of_device(&d.kind) == Some(Endpoint::Phone) => {
                Ok((d.address, Some(d.id)))
            }
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
                Ok((target, device)) => {
                    tracing::info!(message = %notify.message_id, recipient = %notify.recipient_id, %target, ?device, "asking an IVR to call");
                    store::outbox::enqueue_command(
                        c,
                        &Envelope::new(Command::Originate(Originate {
                            user_id: notify.recipient_id,
                            target,
                            device,
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
