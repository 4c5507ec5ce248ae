//! Hark's shared domain.
//!
//! Every service crate (`hark-ivr`, `hark-router`, `hark-notifier`, `hark-web-portal`) depends
//! on this crate and on nothing else of Hark's: they share its types and talk over its [`bus`].
//!
//! - [`ids`]: id newtypes.
//! - [`config`]: the typed configuration, one struct per service.
//! - [`channel`]: the delivery channels, and all that is known of each.
//! - [`events`]: what travels on the bus (events and commands) and its routing keys.
//! - [`bus`]: the `Bus` trait, its in-process and RabbitMQ implementations, the outbox relay
//!   and the idempotent consumer loop.
//! - [`store`]: the diesel store over SQLite or PostgreSQL, with embedded migrations.
//! - [`audio`]: decoding uploads and the canonical stored format.
//! - [`blob`]: the encrypted blob store for audio.
//! - [`link`]: signed, expiring links for e-mail recipients.
//! - [`password`]: argon2id hashing for passwords and PINs.
//! - [`played`]: recording that a recipient played a message, from any channel.
//! - [`profile`]: a person's delivery rules (steps, quiet hours, sender rules).
//! - [`push`]: frames for a person's open portal tabs.
//! - [`metrics`]: the process's Prometheus registry, shared by its services.

pub mod audio;
pub mod blob;
pub mod bus;
pub mod channel;
pub mod config;
pub mod digest;
pub mod events;
pub mod ids;
pub mod link;
pub mod live;
pub mod metrics;
pub mod password;
pub mod played;
pub mod profile;
pub mod push;
pub mod store;

/// Everything a service needs from the outside world, built once by the binary.
#[derive(Clone, Debug)]
pub struct Deps {
    pub store: store::Store,
    pub bus: std::sync::Arc<dyn bus::Bus>,
    pub blobs: blob::BlobStore,
    /// Wakes the outbox relay as soon as a transaction has written to the outbox.
    pub outbox: bus::outbox::OutboxSignal,
    /// This process's metrics, served at `/metrics`.
    pub metrics: std::sync::Arc<metrics::Metrics>,
    /// This process's id in the `nodes` table (its heartbeat), fresh at every start: work a
    /// process owns (a recording in progress) names it, so others can tell when it died.
    pub node_id: String,
}
