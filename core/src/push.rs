//! What travels to a person's open portal tabs on `hark.push`, keyed `user.<id>`: JSON text
//! frames the portal relays verbatim to every tab of that person, on whichever node they are
//! connected.

use crate::{
    bus::{Bus, BusError, BusMessage, Exchange},
    ids::{AttemptId, EventId, MessageId, UserId},
};
use serde::{Deserialize, Serialize};

/// The routing key of one person's frames.
pub fn user_key(user: &UserId) -> String {
    format!("user.{user}")
}

/// Send a frame (a [`PushFrame`] as JSON) to every portal tab `user` has open, on any node.
/// `Ok(false)`: they have none open (the frame went nowhere).
pub async fn publish(bus: &dyn Bus, user: &UserId, body: Vec<u8>) -> Result<bool, BusError> {
    let message = BusMessage {
        id: EventId::new().into_string(),
        routing_key: user_key(user),
        body,
    };
    match bus.publish(Exchange::Push, message).await {
        Ok(()) => Ok(true),
        Err(BusError::Unroutable { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A frame for a person's tabs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PushFrame {
    /// Show a pop-up (and a browser notification) for a new message; a tab that shows it
    /// answers `seen` with the attempt id.
    Popup(Notice),
    /// Someone is leaving this person a message right now: the tab plays it live from
    /// `/messages/<id>/live` while it is being spoken.
    Stream(Notice),
    /// How Hark's "call me to record" call to this person went, for the page that asked:
    /// `answered`, `busy`, `no_answer`, `declined` or `failed` (then `detail` says why).
    CallMe { outcome: String, detail: String },
}

/// What a pop-up or a live stream says about its message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    pub attempt_id: AttemptId,
    pub message_id: MessageId,
    pub from_name: String,
    pub from_extension: String,
    pub duration_ms: i32,
    pub urgent: bool,
}

/// What a tab says back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TabFrame {
    /// The pop-up of this attempt was shown to the person.
    Seen { attempt_id: AttemptId },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_tagged_json() {
        let f = PushFrame::Popup(Notice {
            attempt_id: AttemptId::from("a1"),
            message_id: MessageId::from("m1"),
            from_name: "Alice".into(),
            from_extension: "101".into(),
            duration_ms: 1200,
            urgent: false,
        });
        let text = serde_json::to_string(&f).unwrap();
        assert!(
            text.starts_with(r#"{"type":"popup","attempt_id":"a1""#),
            "{text}"
        );
        let back: TabFrame = serde_json::from_str(r#"{"type":"seen","attempt_id":"a1"}"#).unwrap();
        assert_eq!(
            back,
            TabFrame::Seen {
                attempt_id: AttemptId::from("a1")
            }
        );
        assert!(serde_json::from_str::<TabFrame>(r#"{"type":"seen"}"#).is_err());
    }
}
