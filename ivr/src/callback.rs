//! Callback calls (the notifier's `callback` channel): not built yet — the consumer of
//! `notify.callback` arrives with outbound calling. Until then this waits for shutdown so the
//! IVR serves inbound calls.

use crate::{Ivr, IvrError};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub async fn run(
    _ivr: Arc<Ivr>,
    _endpoint: ezk_sip_core::Endpoint,
    _prefetch: u16,
    shutdown: CancellationToken,
) -> Result<(), IvrError> {
    shutdown.cancelled().await;
    Ok(())
}
