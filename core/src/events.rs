//! What travels on the bus.
//!
//! Every payload is an [`Envelope`]: an event id (consumers remember it, so a redelivery is a
//! no-op), when it happened, and a typed body. Events go to the `hark.events` topic exchange,
//! commands to the `hark.commands` direct exchange; the routing keys are the ones in
//! DESIGN.md. Bodies are JSON with a `type` tag, so new variants never break old readers of the
//! envelope.

use crate::{
    channel::Channel,
    ids::{AttemptId, EventId, MessageId, UserId},
};
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
        channel: Channel,
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
    /// Someone's mailbox changed other than by a message arriving or being played (deleted,
    /// restored, marked unheard): their phones' message-waiting lamps are set again.
    MailboxChanged { user_id: UserId },
    /// A receipt for the sender; also stored, so senders read it through the API.
    Receipt {
        message_id: MessageId,
        recipient_id: UserId,
        sender_id: UserId,
        kind: ReceiptKind,
        channel: Option<Channel>,
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
            Event::MailboxChanged { .. } => keys::MAILBOX_CHANGED.into(),
            Event::Receipt { sender_id, .. } => format!("receipt.{sender_id}"),
        }
    }
}

/// One delivery attempt for a notifier channel worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notify {
    /// The channel to try; its worker consumes [`Channel::command_key`].
    pub channel: Channel,
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
#[serde(tag = "type", rename_all = "snake_case", from = "WireCommand")]
pub enum Command {
    /// Try one delivery attempt on its channel (`notify.<channel>`).
    Notify(Notify),
    /// Ask an IVR to place a call.
    Originate(Originate),
    /// E-mail a link that proves a person owns the address they added as a device
    /// (travels on the e-mail queue).
    VerifyEmail(VerifyEmail),
}

/// A command as read from the bus: today's, and those a previous version may have left in
/// a queue or an outbox (`notify_<channel>`, without a `channel` field), read as today's.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireCommand {
    Notify(Notify),
    Originate(Originate),
    VerifyEmail(VerifyEmail),
    NotifyEmail(LegacyNotify),
    NotifyPopup(LegacyNotify),
    NotifyStream(LegacyNotify),
    NotifyCallback(LegacyNotify),
}

/// [`Notify`] as a previous version wrote it: its channel was the command's name.
#[derive(Deserialize)]
struct LegacyNotify {
    attempt_id: AttemptId,
    message_id: MessageId,
    recipient_id: UserId,
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    tries: u32,
}

impl LegacyNotify {
    fn on(self, channel: Channel) -> Command {
        Command::Notify(Notify {
            channel,
            attempt_id: self.attempt_id,
            message_id: self.message_id,
            recipient_id: self.recipient_id,
            endpoint: self.endpoint,
            tries: self.tries,
        })
    }
}

impl From<WireCommand> for Command {
    fn from(w: WireCommand) -> Self {
        match w {
            WireCommand::Notify(n) => Command::Notify(n),
            WireCommand::Originate(o) => Command::Originate(o),
            WireCommand::VerifyEmail(v) => Command::VerifyEmail(v),
            WireCommand::NotifyEmail(n) => n.on(Channel::Email),
            WireCommand::NotifyPopup(n) => n.on(Channel::Popup),
            WireCommand::NotifyStream(n) => n.on(Channel::Stream),
            WireCommand::NotifyCallback(n) => n.on(Channel::Callback),
        }
    }
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
    /// Where to ring them when no phone of theirs is registered: a SIP URI (`sip:bob@host`),
    /// called directly, or a phone number (`+15551234`, `tel:+15551234`), dialled through the
    /// configured trunk; empty when there is none.
    pub target: String,
    /// The phone device the plan chose: its registered contacts ring (all of them at once).
    /// None: every registered phone of the person rings. Registered phones go before `target`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
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
    /// "Call me to record": they record a message on the phone for these recipients;
    /// `sent_to` names the groups among them ("Sales (200)") for the sender's sent list.
    Record {
        recipients: Vec<UserId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sent_to: Option<String>,
    },
}

impl Command {
    pub fn routing_key(&self) -> &'static str {
        match self {
            Command::Notify(n) => n.channel.command_key(),
            Command::Originate(_) => keys::IVR_ORIGINATE,
            Command::VerifyEmail(_) => Channel::Email.command_key(),
        }
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
    pub const MAILBOX_CHANGED: &str = "mailbox.changed";

    pub const IVR_ORIGINATE: &str = "ivr.originate";

    /// Every command's routing key; each has its own durable queue of the same name.
    pub fn commands() -> impl Iterator<Item = &'static str> {
        crate::channel::Channel::ALL
            .into_iter()
            .map(crate::channel::Channel::command_key)
            .chain([IVR_ORIGINATE])
    }
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
            device: Some("d1".into()),
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
    fn notify_commands_route_by_channel_and_read_what_older_versions_wrote() {
        let notify = Notify {
            channel: Channel::Popup,
            attempt_id: AttemptId::from("a1"),
            message_id: MessageId::from("m1"),
            recipient_id: UserId::from("u1"),
            endpoint: None,
            tries: 0,
        };
        let c = Command::Notify(notify.clone());
        assert_eq!(c.routing_key(), "notify.popup");
        let json = serde_json::to_string(&c).unwrap();
        assert!(
            json.contains(r#""type":"notify","channel":"popup""#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Command>(&json).unwrap(), c);
        // A command queued by the previous version, named for its channel.
        let old = r#"{"type":"notify_callback","attempt_id":"a1","message_id":"m1","recipient_id":"u1","tries":2}"#;
        assert_eq!(
            serde_json::from_str::<Command>(old).unwrap(),
            Command::Notify(Notify {
                channel: Channel::Callback,
                tries: 2,
                ..notify
            })
        );
        assert!(serde_json::from_str::<Command>(r#"{"type":"notify_pigeon"}"#).is_err());
        let queues: Vec<_> = keys::commands().collect();
        assert_eq!(
            queues,
            [
                "notify.stream",
                "notify.popup",
                "notify.email",
                "notify.callback",
                "ivr.originate"
            ]
        );
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
