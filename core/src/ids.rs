//! Id newtypes. Ids are UUIDs stored as text so one schema serves SQLite and PostgreSQL; the
//! newtypes keep a `UserId` from being passed where a `MessageId` is meant.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A fresh, time-ordered id (UUIDv7), so ids sort by creation.
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7().to_string())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A person with an extension.
    UserId
);
id_type!(
    /// A voice message.
    MessageId
);
id_type!(
    /// One planned attempt to reach one recipient over one channel.
    AttemptId
);
id_type!(
    /// A bus event or command; consumers remember it to make redelivery a no-op.
    EventId
);
id_type!(
    /// A dialable group of users.
    GroupId
);
id_type!(
    /// One of a person's devices (an e-mail address, a phone, a SIP URI, a browser).
    DeviceId
);
