//! The SIP endpoint: UDP and TCP on one address; Hark's [`guard`](super::guard) layer first
//! (message and per-source limits), ezk's dialog and INVITE layers, then Hark's intake layer
//! for what arrives outside any dialog:
//!
//! - INVITE: over `max_calls`, or over `max_calls_per_source` from its source, it gets 503
//!   with `Retry-After` at once (a flood costs a response, not a call); otherwise it is
//!   answered on its own task;
//! - REGISTER and SUBSCRIBE: to the phone handler the application gives ([`PhoneHandler`]:
//!   the registrar, message-waiting), which answers them without a transaction too — also a
//!   SUBSCRIBE refresh inside a subscription's dialog, which lives in the store, not in ezk;
//! - OPTIONS: 200 with what Hark allows and accepts (keep-alive pings from proxies);
//! - methods Hark knows but does not serve here: 405 with `Allow`; unknown methods: 501.
//!
//! All of these answers but an answered call are sent without a transaction
//! ([`guard::answer_statelessly`](guard::answer_statelessly)), so a flood keeps
//! nothing.
//!
//! Requests inside a dialog never reach the intake: ezk's dialog layer hands them to the
//! call's usages (or answers 481 for a dialog that does not exist).

use super::{
    CallHandler, PhoneHandler,
    admission::Admission,
    guard::{self, Guard},
};
use crate::metrics::Metrics;
use bytesstr::BytesStr;
use ezk_sip_core::{Endpoint, IncomingRequest, Layer, MayTake};
use ezk_sip_types::{
    Method, StatusCode,
    header::typed::{Accept, Allow},
};
use ezk_sip_ua::{dialog::DialogLayer, invite::InviteLayer};
use std::{
    net::SocketAddr,
    sync::{Arc, OnceLock, Weak},
};

/// Methods this endpoint serves (sent in `Allow`).
const ALLOWED: [Method; 9] = [
    Method::INVITE,
    Method::REGISTER,
    Method::SUBSCRIBE,
    Method::ACK,
    Method::BYE,
    Method::CANCEL,
    Method::OPTIONS,
    Method::INFO,
    Method::PRACK,
];

/// Methods SIP defines that Hark does not serve outside a dialog: 405, not 501.
const KNOWN: [Method; 5] = [
    Method::NOTIFY,
    Method::MESSAGE,
    Method::REFER,
    Method::PUBLISH,
    Method::UPDATE,
];

/// Bind the transports and build the endpoint.
///
/// SIP wants UDP and TCP on one port. With port 0 the system picks a free UDP port, and
/// that port may already be taken for TCP by another process: then the attempt is dropped
/// (its UDP task ends with the builder) and a new port is tried, a bounded number of times.
pub async fn build(
    addr: SocketAddr,
    guard: Guard,
    intake: Intake,
) -> std::io::Result<(Endpoint, SocketAddr)> {
    const ATTEMPTS: usize = 32;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut builder = Endpoint::builder();
        builder.user_agent(concat!("Hark/", env!("CARGO_PKG_VERSION")));
        let udp = builder.bind_udp(addr).await?;
        let bound = udp.bound();
        // TCP on the same port as UDP, as SIP expects.
        match builder.listen_tcp(bound).await {
            Ok(()) => {}
            Err(e)
                if addr.port() == 0
                    && e.kind() == std::io::ErrorKind::AddrInUse
                    && attempt < ATTEMPTS =>
            {
                tracing::debug!(%bound, "TCP port taken; trying another port pair");
                continue;
            }
            Err(e) => return Err(e),
        }
        builder.add_accept(Accept(BytesStr::from_static("application/sdp")));
        builder.add_layer(guard);
        builder.add_layer(DialogLayer::default());
        builder.add_layer(InviteLayer::default());
        builder.add_layer(intake);
        return Ok((builder.build(), bound));
    }
}

/// Where the intake finds the application's [`CallHandler`] once it exists (weak: the
/// application owns the endpoint).
pub type HandlerSlot = Arc<OnceLock<Weak<dyn CallHandler>>>;

/// Where the intake finds the registrar once it exists (weak, as for calls).
pub type RegistrarSlot = Arc<OnceLock<Weak<dyn PhoneHandler>>>;

/// The layer that takes what arrives outside any dialog.
pub struct Intake {
    /// Who answers admitted INVITEs.
    pub calls: HandlerSlot,
    /// Who answers REGISTER and SUBSCRIBE.
    pub registrar: RegistrarSlot,
    /// Call slots, in all and per source.
    pub admission: Arc<Admission>,
    pub metrics: Arc<Metrics>,
    /// `Retry-After` on a 503 for a call over the limits.
    pub retry_after_secs: u32,
}

impl std::fmt::Debug for Intake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intake")
            .field("admission", &self.admission)
            .field("retry_after_secs", &self.retry_after_secs)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl Layer for Intake {
    fn name(&self) -> &'static str {
        "hark-intake"
    }

    fn init(&mut self, endpoint: &mut ezk_sip_core::EndpointBuilder) {
        endpoint.add_allow(Method::OPTIONS);
        endpoint.add_allow(Method::INFO);
        endpoint.add_allow(Method::REGISTER);
        endpoint.add_allow(Method::SUBSCRIBE);
    }

    async fn receive(&self, endpoint: &Endpoint, request: MayTake<'_, IncomingRequest>) {
        let method = request.line.method.clone();
        if method == Method::INVITE {
            if request.base_headers.to.tag.is_some() {
                return; // A re-INVITE for a dialog we do not have: ezk answers 481.
            }
            let Some(calls) = self.calls.get().and_then(Weak::upgrade) else {
                return;
            };
            let invite = request.take();
            match self.admission.admit(Some(invite.tp_info.source)) {
                Some(permit) => calls.incoming(endpoint.clone(), invite, permit),
                None => {
                    // At `max_calls` or the source's `max_calls_per_source`: refused without
                    // a transaction, so a flood keeps nothing.
                    self.metrics.refused(StatusCode::SERVICE_UNAVAILABLE);
                    let retry = self.retry_after_secs;
                    guard::refuse_statelessly(
                        endpoint,
                        invite,
                        StatusCode::SERVICE_UNAVAILABLE,
                        None,
                        Some(retry),
                    )
                    .await;
                }
            }
        } else if method == Method::REGISTER || method == Method::SUBSCRIBE {
            match self.registrar.get().and_then(Weak::upgrade) {
                Some(phones) if method == Method::REGISTER => {
                    phones.register(endpoint.clone(), request.take());
                }
                Some(phones) => phones.subscribe(endpoint.clone(), request.take()),
                None => {
                    let req = request.take();
                    guard::answer_statelessly(
                        endpoint,
                        &req,
                        StatusCode::SERVICE_UNAVAILABLE,
                        None,
                        allow,
                    )
                    .await;
                }
            }
        } else if method == Method::OPTIONS {
            // Answered without a transaction (keep-alive pings from proxies are many; a
            // repeat is answered again).
            let options = request.take();
            guard::answer_statelessly(endpoint, &options, StatusCode::OK, None, |h| {
                allow(h);
                h.insert_named(&Accept(BytesStr::from_static("application/sdp")));
            })
            .await;
        } else if !ALLOWED.contains(&method) {
            let req = request.take();
            let code = if KNOWN.contains(&method) {
                StatusCode::METHOD_NOT_ALLOWED
            } else {
                StatusCode::NOT_IMPLMENTED
            };
            guard::answer_statelessly(endpoint, &req, code, None, allow).await;
        }
    }
}

/// `Allow:` with every method Hark serves.
fn allow(headers: &mut ezk_sip_types::Headers) {
    for m in ALLOWED {
        headers.insert_named(&Allow(m));
    }
}
