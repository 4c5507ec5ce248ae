//! What travels on the bus.
//!
//! Every payload is an [`Envelope`]: an event id (consumers remember it, so a redelivery is a
//! no-op), when it happened, and a typed body. Events go to the `hark.events` topic exchange,
//! commands to the `hark.commands` direct exchange; the routing keys are the ones in
//! DESIGN.md. Bodies are JSON with a `type` tag, so new variants never break old readers of the
//! envelope.

use crate::ids::{AttemptId, EventId, MessageId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An event or command with its identity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub id: EventId,
    pub occurred_at: DateTime<Utc>,
    pub body: T,
}

impl<T> Envelope<T> {
    pub fn new(body: T) -> Self {
        Self {
            id: EventId::new(),
            occurred_at: Utc::now(),
            body,
        }
    }
}

/// Where a message came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Phone,
    Web,
    Upload,
    Api,
    Event,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Phone => "phone",
            Origin::Web => "web",
            Origin::Upload => "upload",
            Origin::Api => "api",
            Origin::Event => "event",
        }
    }
}

/// How one delivery attempt ended, as reported by the notifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Handed over (e-mail accepted by the relay, pop-up shown, call answered).
    Delivered,
    /// Could not be delivered; the detail says why.
    Failed,
    /// Reached the recipient, who turned it down.
    Declined,
}

/// What a receipt tells the sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptKind {
    /// Reached the recipient (e.g. the e-mail was accepted).
    Delivered,
    /// The recipient played it.
    Heard,
    /// Every attempt failed.
    Failed,
    /// The recipient declined it (on a callback call, say).
    Declined,
}

impl ReceiptKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptKind::Delivered => "delivered",
            ReceiptKind::Heard => "heard",
            ReceiptKind::Failed => "failed",
            ReceiptKind::Declined => "declined",
        }
    }
}

/// Presence as the portal and IVR report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceStatus {
    Available,
    Busy,
    Dnd,
    Offline,
}

/// Facts published on `hark.events`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A caller passed the beep: the message exists (state `recording`) and live delivery may
    /// begin while it is still being spoken.
    MessageStarted {
        message_id: MessageId,
        sender_id: UserId,
        recipients: Vec<UserId>,
        urgent: bool,
    },
    /// A message is complete and stored; the router plans its delivery.
    MessageRecorded {
        message_id: MessageId,
        sender_id: UserId,
        recipients: Vec<UserId>,
        origin: Origin,
        duration_ms: u32,
        urgent: bool,
    },
    /// A recipient played a message (from any channel).
    MessagePlayed {
        message_id: MessageId,
        recipient_id: UserId,
        via: String,
    },
    /// The outcome of one delivery attempt.
    DeliveryOutcome {
        attempt_id: AttemptId,
        message_id: MessageId,
        recipient_id: UserId,
        channel: String,
        outcome: Outcome,
        detail: Option<String>,
    },
    /// Someone's presence changed; coming online releases messages waiting for them.
    PresenceChanged {
        user_id: UserId,
        status: PresenceStatus,
    },
    /// A plugin was added, changed, enabled or disabled: every router reloads its plugins.
    PluginChanged { name: String },
    /// A receipt for the sender; also stored, so senders read it through the API.
    Receipt {
        message_id: MessageId,
        recipient_id: UserId,
        sender_id: UserId,
        kind: ReceiptKind,
        channel: Option<String>,
    },
}

impl Event {
    /// The routing key on `hark.events`.
    pub fn routing_key(&self) -> String {
        match self {
            Event::MessageStarted { .. } => keys::MESSAGE_STARTED.into(),
            Event::MessageRecorded { .. } => keys::MESSAGE_RECORDED.into(),
            Event::PresenceChanged { .. } => keys::PRESENCE_CHANGED.into(),
            Event::MessagePlayed { .. } => keys::MESSAGE_PLAYED.into(),
            Event::DeliveryOutcome { .. } => keys::DELIVERY_OUTCOME.into(),
            Event::PluginChanged { .. } => keys::PLUGIN_CHANGED.into(),
            Event::Receipt { sender_id, .. } => format!("receipt.{sender_id}"),
        }
    }
}

/// One delivery attempt for a notifier channel worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notify {
    pub attempt_id: AttemptId,
    pub message_id: MessageId,
    pub recipient_id: UserId,
    /// The recipient's endpoint the plan chose (a device id); none means the channel's
    /// default for that person (their e-mail address, their phone).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Earlier tries of this attempt that failed for a reason that may pass (an SMTP relay
    /// down, say); the notifier waits longer after each.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tries: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Work sent to one service on `hark.commands`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// E-mail the recipient a signed link to the message.
    NotifyEmail(Notify),
    /// Show a pop-up in the recipient's portal sessions.
    NotifyPopup(Notify),
    /// Stream the message live to the recipient's browser.
    NotifyStream(Notify),
    /// Call the recipient's phone and play the message.
    NotifyCallback(Notify),
    /// Ask an IVR to place a call.
    Originate(Originate),
    /// E-mail a link that proves a person owns the address they added as a device
    /// (travels on the e-mail queue).
    VerifyEmail(VerifyEmail),
}

/// A device verification e-mail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerifyEmail {
    pub user_id: UserId,
    pub address: String,
    /// The page that verifies it (holds a one-time token).
    pub link: String,
}

/// A call for an IVR to place (`ivr.originate`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Originate {
    /// Whom the call is for: the person who will answer.
    pub user_id: UserId,
    /// Where to ring them: a SIP URI (`sip:bob@host`), called directly, or a phone number
    /// (`+15551234`, `tel:+15551234`), dialled through the configured trunk.
    pub target: String,
    pub purpose: CallPurpose,
}

/// Why a call is placed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CallPurpose {
    /// Play them a message (the callback channel); how it went is this attempt's
    /// `delivery.outcome`.
    Deliver {
        attempt_id: AttemptId,
        message_id: MessageId,
    },
    /// "Call me to record": they record a message on the phone for these recipients.
    Record { recipients: Vec<UserId> },
}

impl Command {
    pub fn routing_key(&self) -> &'static str {
        match self {
            Command::NotifyEmail(_) => keys::NOTIFY_EMAIL,
            Command::NotifyPopup(_) => keys::NOTIFY_POPUP,
            Command::NotifyStream(_) => keys::NOTIFY_STREAM,
            Command::NotifyCallback(_) => keys::NOTIFY_CALLBACK,
            Command::Originate(_) => keys::IVR_ORIGINATE,
            Command::VerifyEmail(_) => keys::NOTIFY_EMAIL,
        }
    }

    /// The command for a channel name, if the channel exists.
    pub fn for_channel(channel: &str, notify: Notify) -> Option<Self> {
        Some(match channel {
            "email" => Command::NotifyEmail(notify),
            "popup" => Command::NotifyPopup(notify),
            "stream" => Command::NotifyStream(notify),
            "callback" => Command::NotifyCallback(notify),
            _ => return None,
        })
    }
}

/// Routing keys from DESIGN.md.
pub mod keys {
    pub const MESSAGE_STARTED: &str = "message.started";
    pub const MESSAGE_RECORDED: &str = "message.recorded";
    pub const MESSAGE_PLAYED: &str = "message.played";
    pub const DELIVERY_OUTCOME: &str = "delivery.outcome";
    pub const RECEIPT_ANY: &str = "receipt.*";
    pub const PRESENCE_CHANGED: &str = "presence.changed";
    pub const PLUGIN_CHANGED: &str = "plugin.changed";

    pub const NOTIFY_STREAM: &str = "notify.stream";
    pub const NOTIFY_POPUP: &str = "notify.popup";
    pub const NOTIFY_EMAIL: &str = "notify.email";
    pub const NOTIFY_CALLBACK: &str = "notify.callback";
    pub const IVR_ORIGINATE: &str = "ivr.originate";

    /// Every command; each has its own durable queue of the same name.
    pub const COMMANDS: [&str; 5] = [
        NOTIFY_STREAM,
        NOTIFY_POPUP,
        NOTIFY_EMAIL,
        NOTIFY_CALLBACK,
        IVR_ORIGINATE,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips_with_type_tag() {
        let e = Envelope::new(Event::MessagePlayed {
            message_id: MessageId::new(),
            recipient_id: UserId::new(),
            via: "link".into(),
        });
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains(r#""type":"message_played""#), "{json}");
        let back: Envelope<Event> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn originate_round_trips_on_its_queue() {
        let c = Envelope::new(Command::Originate(Originate {
            user_id: UserId::from("u2"),
            target: "sip:bob@127.0.0.1:5070".into(),
            purpose: CallPurpose::Deliver {
                attempt_id: AttemptId::new(),
                message_id: MessageId::new(),
            },
        }));
        assert_eq!(c.body.routing_key(), keys::IVR_ORIGINATE);
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains(r#""type":"originate""#), "{json}");
        assert!(json.contains(r#""kind":"deliver""#), "{json}");
        let back: Envelope<Command> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn receipts_route_by_sender() {
        let sender = UserId::from("u1");
        let e = Event::Receipt {
            message_id: MessageId::new(),
            recipient_id: UserId::new(),
            sender_id: sender,
            kind: ReceiptKind::Heard,
            channel: None,
        };
        assert_eq!(e.routing_key(), "receipt.u1");
    }
}
