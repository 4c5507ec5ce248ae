//! Pop-ups and live streams: a frame on `hark.push` for the recipient's open portal tabs.
//!
//! - `notify.popup` becomes a [`PushFrame::Popup`]. The attempt stays open until a tab says
//!   it was seen (the portal reports `delivered`) or its give-up time passes (the router
//!   reports "not seen" and the next step of the plan goes at once). Nobody connected right
//!   now is not a failure: a tab that opens before the give-up time shows the pop-up then.
//! - `notify.stream` becomes a [`PushFrame::Stream`]: the tab plays the message from the
//!   portal's live endpoint while it is being spoken, and the portal reports the outcome.
//!
//! The frame is transient, so a redelivered command publishing it again does no harm beyond
//! a repeated frame, which tabs drop by attempt id; the processed mark makes even that rare.

use hark_core::{
    Deps,
    bus::consume::{self, HandleError},
    channel::Channel,
    events::{Command, Envelope, Notify},
    push::{self, Notice, PushFrame},
};

const CONSUMER: &str = "notifier.push";

#[derive(Debug)]
pub struct PushWorker {
    deps: Deps,
}

impl PushWorker {
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }
}

#[async_trait::async_trait]
impl consume::Handler<Command> for PushWorker {
    async fn handle(&self, envelope: Envelope<Command>) -> Result<(), HandleError> {
        let (notify, stream) = match envelope.body {
            Command::Notify(n) if n.channel == Channel::Popup => (n, false),
            Command::Notify(n) if n.channel == Channel::Stream => (n, true),
            other => {
                return Err(HandleError::Poison(format!(
                    "the push worker got a {} command",
                    other.routing_key()
                )));
            }
        };
        let event = envelope.id;
        let Notify {
            attempt_id,
            message_id,
            recipient_id,
            ..
        } = notify;
        let (e2, m2) = (event.clone(), message_id.clone());
        let loaded = self
            .deps
            .store
            .run(move |c| crate::message_and_sender(c, CONSUMER, &e2, &m2))
            .await?;
        let Some((message, sender)) = loaded else {
            return Ok(());
        };
        let notice = Notice {
            attempt_id,
            message_id,
            from_name: sender.display_name,
            from_extension: sender.extension,
            duration_ms: message.duration_ms,
            urgent: message.urgent,
        };
        let frame = if stream {
            PushFrame::Stream(notice)
        } else {
            PushFrame::Popup(notice)
        };
        let body = serde_json::to_vec(&frame).map_err(|e| HandleError::Poison(e.to_string()))?;
        match push::publish(self.deps.bus.as_ref(), &recipient_id, body).await {
            Ok(true) => {}
            // No tab open anywhere: one that opens before the give-up time shows it.
            Ok(false) => {
                tracing::debug!(recipient = %recipient_id, "no portal tab open for the frame");
            }
            Err(e) => return Err(HandleError::Retry(e.to_string())),
        }
        consume::once(&self.deps.store, CONSUMER, event, |_| Ok(())).await?;
        Ok(())
    }
}
