//! The portal's push path: one WebSocket per open tab (`/ws`), and one bus queue per portal
//! node that follows the people connected to it.
//!
//! The node's queue (`portal.<node>`, transient) is bound to `presence.changed` and
//! `message.recorded` for everyone, and — while someone has a tab open here — to their
//! `receipt.<id>` events and their `user.<id>` frames on `hark.push` (what the notifier sends
//! for pop-ups). So a pop-up for someone connected to node B reaches them even when node A's
//! router planned it, and a node carries only the traffic of the people it serves.
//!
//! Presence: the first tab a person opens on a node makes them present (their chosen status)
//! and a heartbeat keeps their row fresh; closing the last tab makes them offline. Each change
//! goes out as `presence.changed` through the outbox, in the same transaction as the row,
//! so the router (which releases messages held for people coming online) never misses one.
//!
//! Frames to the browser are JSON text: `presence`, `receipt`, `inbox`, and whatever
//! `hark.push` carries for the person. A tab's socket is checked for its Origin (no other
//! site may open it with the visitor's cookie), bounded in frame size and rate, and pinged;
//! one that stops answering is closed.

mod hub;
mod popups;
mod presence;
mod tab;

pub(crate) use hub::Hub;

use hark_core::bus::BusError;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Declare this node's queue and start relaying it to tabs, sending pop-ups not yet seen
/// again and keeping the people here present, until `shutdown`.
pub(crate) async fn start(
    deps: &hark_core::Deps,
    shutdown: CancellationToken,
) -> Result<Arc<Hub>, BusError> {
    let (hub, consumer) = Hub::new(deps).await?;
    tokio::spawn(hub.clone().relay(consumer, shutdown.clone()));
    tokio::spawn(hub.clone().resend(shutdown.clone()));
    tokio::spawn(hub.clone().heartbeat(shutdown));
    Ok(hub)
}
pub(crate) use presence::set_status;
pub(crate) use tab::{same_origin, socket};
