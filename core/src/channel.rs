//! Delivery channels: the ways a message reaches a person.
//!
//! Everything Hark knows about a channel is here, once: its name (on the wire, in stored
//! profiles and attempts, and in plugins' plans), the kind of endpoint it needs, the command
//! that makes the notifier try it and the queue that carries that command, what people call
//! it, and how the router treats it (live while spoken, shown only to someone watching).
//! Plugins and stored rows keep plain strings; [`Channel::parse`] is where they are checked,
//! so a name this build does not know is refused or skipped at that edge, never deep inside.
//!
//! Adding a channel: a variant here (the compiler then points at every `match` that must
//! say what it does), its worker file in `notifier/`, and what the portal shows for it
//! (docs/ARCHITECTURE.md, "Where to add things").

use serde::{Deserialize, Serialize};
use std::fmt;

/// A way to deliver a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Streamed live to the person's open portal tabs, while it is still being spoken.
    Stream,
    /// A pop-up in the person's open portal tabs.
    Popup,
    /// An e-mail with a signed link that plays the message.
    Email,
    /// A call to the person's phone that plays the finished message.
    Callback,
}

/// What a channel needs to reach a person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// An e-mail address (the person's own, or a verified e-mail device).
    EmailAddress,
    /// An open portal tab (a browser device, or any tab they have open).
    Portal,
    /// A phone: their SIP URI or number, or a phone or SIP device.
    Phone,
}

impl Endpoint {
    /// The endpoint a device of this kind (`devices.kind`) is.
    pub fn of_device(kind: &str) -> Option<Self> {
        match kind {
            "email" => Some(Self::EmailAddress),
            "phone" | "sip" => Some(Self::Phone),
            "browser" => Some(Self::Portal),
            _ => None,
        }
    }
}

impl Channel {
    /// Every channel, in the order the portal offers them.
    pub const ALL: [Channel; 4] = [
        Channel::Stream,
        Channel::Popup,
        Channel::Email,
        Channel::Callback,
    ];

    /// The channel's name: on the bus, in stored profiles and attempts, in plugins' plans.
    pub const fn name(self) -> &'static str {
        match self {
            Channel::Stream => "stream",
            Channel::Popup => "popup",
            Channel::Email => "email",
            Channel::Callback => "callback",
        }
    }

    /// The channel a name stands for, if this build has it.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// What it needs to reach a person.
    pub const fn endpoint(self) -> Endpoint {
        match self {
            Channel::Stream | Channel::Popup => Endpoint::Portal,
            Channel::Email => Endpoint::EmailAddress,
            Channel::Callback => Endpoint::Phone,
        }
    }

    /// The channel that reaches a device of this kind, when a plan names the device.
    pub fn for_device(kind: &str) -> Option<Self> {
        Some(match Endpoint::of_device(kind)? {
            Endpoint::EmailAddress => Channel::Email,
            Endpoint::Portal => Channel::Popup,
            Endpoint::Phone => Channel::Callback,
        })
    }

    /// The routing key on `hark.commands` of the command that tries it, which is also the
    /// name of the durable queue its notifier worker consumes.
    pub const fn command_key(self) -> &'static str {
        match self {
            Channel::Stream => "notify.stream",
            Channel::Popup => "notify.popup",
            Channel::Email => "notify.email",
            Channel::Callback => "notify.callback",
        }
    }

    /// What people call it (the portal's profile page, receipts).
    pub const fn label(self) -> &'static str {
        match self {
            Channel::Stream => "Live in the portal (while it is spoken)",
            Channel::Popup => "Pop-up in the portal",
            Channel::Email => "E-mail with a link",
            Channel::Callback => "Call my phone",
        }
    }

    /// The channel in a few words, as a receipt says how a message arrived ("delivered
    /// 14:02 by e-mail").
    pub const fn noun(self) -> &'static str {
        match self {
            Channel::Stream => "live stream",
            Channel::Popup => "pop-up",
            Channel::Email => "e-mail",
            Channel::Callback => "phone call",
        }
    }

    /// Delivered while the message is still being spoken: planned at `message.started`.
    pub const fn live(self) -> bool {
        matches!(self, Channel::Stream)
    }

    /// Only someone watching sees it: a step of this channel that nobody saw in time gives
    /// up (after `router.popup_give_up_secs` unless the plan says) and the next step starts
    /// at once.
    pub const fn needs_a_watcher(self) -> bool {
        matches!(self, Channel::Popup)
    }

    /// Reaches the person's open portal tabs: someone already hearing the message live
    /// there needs no other portal delivery of it.
    pub const fn in_portal(self) -> bool {
        matches!(self.endpoint(), Endpoint::Portal)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no channel of this build.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown channel {0:?}")]
pub struct UnknownChannel(pub String);

impl std::str::FromStr for Channel {
    type Err = UnknownChannel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| UnknownChannel(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.name()), Some(c));
            assert_eq!(c.to_string(), c.name());
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.name()));
            assert_eq!(serde_json::from_str::<Channel>(&json).unwrap(), c);
            assert_eq!(c.command_key(), format!("notify.{}", c.name()));
        }
        let mut names: Vec<_> = Channel::ALL.iter().map(|c| c.name()).collect();
        names.dedup();
        assert_eq!(names.len(), Channel::ALL.len());
        assert_eq!(Channel::parse("carrier-pigeon"), None);
        assert_eq!(
            "Email".parse::<Channel>(),
            Err(UnknownChannel("Email".into())),
            "names are exact"
        );
    }

    #[test]
    fn devices_reach_the_channel_of_their_endpoint() {
        assert_eq!(Channel::for_device("email"), Some(Channel::Email));
        assert_eq!(Channel::for_device("sip"), Some(Channel::Callback));
        assert_eq!(Channel::for_device("phone"), Some(Channel::Callback));
        assert_eq!(Channel::for_device("browser"), Some(Channel::Popup));
        assert_eq!(Channel::for_device("fax"), None);
        for c in Channel::ALL {
            if let Some(d) = Channel::for_device(match c.endpoint() {
                Endpoint::EmailAddress => "email",
                Endpoint::Portal => "browser",
                Endpoint::Phone => "phone",
            }) {
                assert_eq!(d.endpoint(), c.endpoint());
            }
        }
    }
}
