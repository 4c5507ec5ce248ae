//! The IVR: Hark's SIP endpoint (inbound menus and recording, outbound callback calls).
//!
//! Not built yet: the SIP user agent, prompts and menus arrive with the IVR issue; the layers
//! below them — [`media`] (G.711, RTP, jitter buffer, DTMF, the per-call RTP session), [`sdp`]
//! (offer/answer) and [`prompts`] (the spoken prompts) — are here and tested. Until the
//! rest lands [`run`] refuses to start with a clear error instead of pretending to answer
//! calls, and `hark serve` runs without a phone side.

pub mod media;
pub mod prompts;
pub mod sdp;

use hark_core::{Deps, config::IvrConfig};
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum IvrError {
    #[error("the IVR (SIP endpoint on {0}) is not available in this build yet")]
    NotAvailable(std::net::SocketAddr),
}

/// Run the IVR until `shutdown`.
pub async fn run(
    config: IvrConfig,
    _deps: Deps,
    _shutdown: CancellationToken,
) -> Result<(), IvrError> {
    Err(IvrError::NotAvailable(config.sip_listen))
}
