//! Keep-alives for phones behind NAT.
//!
//! A registered phone is called at the address its REGISTER came from (the hole in its NAT),
//! not at the private address its Contact names. A NAT forgets a UDP mapping after somewhere
//! between 30 seconds and a few minutes of silence, so a phone that re-registers every hour
//! could be reached only just after each registration. As Kamailio's nathelper does, the node
//! that took a binding sends the phone an OPTIONS every `ivr.nat_keepalive_secs` (25 s by
//! default; 0 sends none) from its SIP port, which keeps the mapping alive: only to phones that
//! look NATed (the Contact's address is not the one the REGISTER came from) and that registered
//! over UDP straight to this node (behind a proxy's `Path`, the proxy keeps its clients; over
//! TCP the connection is the way back). A phone that does not answer is not unregistered: its
//! registration runs out on its own; `hark_ivr_nat_keepalives_total{status}` counts answers.

use crate::{Ivr, sip::outbound::Route};
use ezk_sip_core::{Endpoint, Request, transport::TargetTransportInfo};
use ezk_sip_types::{Headers, Method, Name, StatusCode, msg::RequestLine};
use hark_core::store::{self, registrations};
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::{sync::Semaphore, task::JoinSet};
use tokio_util::sync::CancellationToken;

/// How long a phone has to answer one keep-alive.
const ANSWER_WAIT: Duration = Duration::from_secs(8);

/// Keep-alives in flight at once.
const AT_ONCE: usize = 64;

/// Whether a phone whose Contact is `contact` and whose REGISTER came from `source`
/// (`udp:ip:port`) sits behind NAT: the Contact names another host or port (5060 when none).
pub fn behind_nat(contact: &str, source: &str) -> bool {
    let Some(from) = source
        .split_once(':')
        .and_then(|(_, addr)| addr.parse::<SocketAddr>().ok())
    else {
        return false;
    };
    let uri = contact.trim().trim_start_matches('<');
    let uri = uri
        .strip_prefix("sips:")
        .or_else(|| uri.strip_prefix("sip:"))
        .unwrap_or(uri);
    let host_port = uri.rsplit_once('@').map_or(uri, |(_, h)| h);
    let host_port = host_port.split([';', '>', '?']).next().unwrap_or(host_port);
    let named = host_port.parse::<SocketAddr>().ok().or_else(|| {
        let host = host_port.trim_start_matches('[').trim_end_matches(']');
        host.parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, 5060))
    });
    // A Contact naming a host by name cannot be compared: treat it as NATed (one OPTIONS
    // costs little; a phone unreachable after a minute costs a missed call).
    named != Some(from)
}

/// Every `ivr.nat_keepalive_secs`, an OPTIONS to each NATed phone this node registered,
/// until `stop`.
pub async fn run(ivr: Arc<Ivr>, endpoint: Endpoint, stop: CancellationToken) {
    let every = ivr.config.nat_keepalive_secs;
    if every == 0 {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(u64::from(every)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let node = ivr.deps.node_id.clone();
        let bindings = match ivr
            .deps
            .store
            .run(move |c| registrations::taken_directly_by(c, &node, store::now()))
            .await
        {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the registrations to keep alive");
                continue;
            }
        };
        let natted: Vec<_> = bindings
            .into_iter()
            .filter(|b| behind_nat(&b.contact, &b.source))
            .collect();
        let slots = Arc::new(Semaphore::new(AT_ONCE));
        let mut pings = JoinSet::new();
        for b in natted {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break;
            };
            let (ivr, endpoint) = (ivr.clone(), endpoint.clone());
            pings.spawn(async move {
                let answer = ping(&ivr, &endpoint, &b).await;
                ivr.metrics.keepalive(answer);
                drop(slot);
            });
        }
        while pings.join_next().await.is_some() {}
    }
}

/// One OPTIONS to `binding`, along the way a call to it would take; its final answer.
async fn ping(
    ivr: &Ivr,
    endpoint: &Endpoint,
    binding: &registrations::Registration,
) -> Option<StatusCode> {
    let route = match Route::registered(binding) {
        Ok(r) => r,
        Err(why) => {
            tracing::debug!(%why, "no way to keep a phone's NAT open");
            return None;
        }
    };
    let hop = route.next_hop.clone()?;
    let transport = endpoint.select_transport(&hop).await.ok()?;
    let mut headers = Headers::new();
    headers.insert(
        Name::FROM,
        format!(
            "<sip:hark@{}>;tag={}",
            ivr.sip.sip_addr,
            hex::encode(rand::random::<[u8; 8]>())
        ),
    );
    headers.insert(Name::TO, format!("<{}>", binding.contact));
    headers.insert(
        Name::CALL_ID,
        hex::encode(rand::random::<[u8; 16]>()).as_str(),
    );
    headers.insert(Name::CSEQ, "1 OPTIONS");
    headers.insert_named(&ezk_sip_types::header::typed::MaxForwards(70));
    let request = Request {
        line: RequestLine {
            method: Method::OPTIONS,
            uri: route.uri.clone(),
        },
        headers,
        body: bytes::Bytes::new(),
    };
    let mut target = TargetTransportInfo {
        via_host_port: None,
        transport: Some(transport),
    };
    let mut tsx = endpoint.send_request(request, &mut target).await.ok()?;
    match tokio::time::timeout(ANSWER_WAIT, tsx.receive_final()).await {
        Ok(Ok(response)) => Some(response.line.code),
        _ => {
            tracing::debug!(contact = %binding.contact, "a NAT keep-alive went unanswered");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::behind_nat;

    #[test]
    fn a_contact_naming_another_address_is_behind_nat() {
        assert!(!behind_nat("sip:102@127.0.0.1:5062", "udp:127.0.0.1:5062"));
        assert!(!behind_nat(
            "<sip:102@127.0.0.1:5062;transport=udp>",
            "udp:127.0.0.1:5062"
        ));
        assert!(!behind_nat("sip:102@192.0.2.7", "udp:192.0.2.7:5060"));
        assert!(!behind_nat(
            "sip:[2001:db8::7]:5070",
            "udp:[2001:db8::7]:5070"
        ));
        assert!(behind_nat(
            "sip:102@192.168.1.20:5060",
            "udp:203.0.113.9:40211"
        ));
        assert!(behind_nat("sip:102@127.0.0.1:5062", "udp:127.0.0.1:61000"));
        assert!(behind_nat(
            "sip:102@phone.example.org",
            "udp:203.0.113.9:5060"
        ));
        assert!(!behind_nat("sip:102@1.2.3.4", "garbage"));
    }
}
