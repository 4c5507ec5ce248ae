//! Placing a call (callbacks, "call me to record").
//!
//! Where the call goes ([`route`]): a SIP URI is called directly, its host being the next hop;
//! a phone number goes to the configured trunk as `sip:<number>@<trunk>`, and only the trunk
//! gets Hark's digest credentials when it challenges (401 or 407) — a callee's own URI never
//! does, so a hostile callee cannot collect responses to guess the trunk password from.
//!
//! A registered phone is called at its Contact ([`Route::registered`]), sent where its
//! REGISTER came from (so a phone behind NAT is reached through the hole it opened) or through
//! the proxy its `Path` names, with that Path as the INVITE's `Route`.
//!
//! [`place`] offers PCMU, PCMA and telephone-event, lets the phone ring for at most
//! `ring_timeout_secs` (then CANCEL, built here: see [`cancel`]), takes the first 2xx of any
//! fork, ACKs it, and starts the same leg and media an answered inbound call gets. How a call
//! that was not answered ended is an [`Unplaced`]. [`place_first`] rings several phones at
//! once (a person's registered phones): the first to answer gets the call, the others are
//! cancelled with `Reason: SIP;cause=200` (RFC 3326: answered elsewhere, not a missed call).

use super::Local;
use super::sdp;
use super::{Connected, info::InfoUsage};
use crate::media::session;
use bytesstr::BytesStr;
use ezk_sip_auth::{
    ClientAuthenticator, DigestAuthenticator, DigestCredentials, DigestUser, RequestParts,
    ResponseParts,
};
use ezk_sip_core::{
    Endpoint, Request,
    transaction::TsxResponse,
    transport::{OutgoingParts, OutgoingRequest},
};
use ezk_sip_types::{
    Headers, Method, Name, StatusCode,
    header::typed::{CSeq, Contact, ContentType},
    msg::RequestLine,
    uri::{NameAddr, SipUri},
};
use ezk_sip_ua::invite::{
    create_ack,
    initiator::{Early, EarlyResponse, InviteInitiator, Response},
};
use hark_core::{config::IvrConfig, store::registrations::Registration};
use std::{future::poll_fn, net::SocketAddr, task::Poll, time::Duration};
use tokio::{sync::mpsc, task::JoinSet};
use tokio_util::sync::CancellationToken;

/// Where a call goes, and whether the trunk's credentials may be used on it.
#[derive(Clone, Debug)]
pub struct Route {
    pub uri: SipUri,
    /// The URI as text, for logs and outcomes.
    pub text: String,
    pub via_trunk: bool,
    /// Where to send the INVITE instead of resolving `uri`: a registered phone's source
    /// address, or the first hop of its Path.
    pub next_hop: Option<SipUri>,
    /// `Route` headers (a registered phone's Path, RFC 3327).
    pub route_set: Vec<String>,
}

impl Route {
    /// The route to a registered phone's binding: its Contact as the Request-URI, sent
    /// through the proxies its Path names, else straight to where the REGISTER came from.
    pub fn registered(binding: &Registration) -> Result<Self, String> {
        Self::to_contact(&binding.contact, &binding.source, binding.path.as_deref())
    }

    /// The route to `contact`, sent through the proxies `path` names (a Path or Record-Route,
    /// comma-separated), else straight to `source` (`udp:ip:port` or `tcp:ip:port`, where the
    /// phone's request came from).
    pub fn to_contact(contact: &str, source: &str, path: Option<&str>) -> Result<Self, String> {
        let uri = contact
            .parse::<SipUri>()
            .map_err(|e| format!("the registered contact {contact:?} is unusable: {e}"))?;
        let route_set = path.map(split_path).unwrap_or_default();
        let next_hop = match route_set.first() {
            Some(first) => {
                // The proxy's own address, without its parameters: a `received` value
                // (Kamailio's `add_path_received`) holds `:` and `;` of its own.
                let inner = first.trim().trim_start_matches('<');
                let inner = inner.split('>').next().unwrap_or(inner);
                let addr = inner.split(';').next().unwrap_or(inner);
                addr.parse::<SipUri>()
                    .map_err(|e| format!("the registered Path {first:?} is unusable: {e}"))?
            }
            None => {
                let (transport, addr) = source
                    .split_once(':')
                    .ok_or_else(|| format!("no source in {source:?}"))?;
                let addr: SocketAddr = addr
                    .parse()
                    .map_err(|e| format!("the registered source {source:?}: {e}"))?;
                format!("sip:{addr};transport={transport}")
                    .parse::<SipUri>()
                    .map_err(|e| format!("the registered source {source:?}: {e}"))?
            }
        };
        Ok(Self {
            uri,
            text: contact.to_owned(),
            via_trunk: false,
            next_hop: Some(next_hop),
            route_set,
        })
    }
}

/// The entries of a stored Path (`<sip:a;lr>, <sip:b;lr>`), each as `<…>`.
fn split_path(path: &str) -> Vec<String> {
    path.split_inclusive('>')
        .map(|p| p.trim().trim_start_matches(',').trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

/// How an outbound call that never got going ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unplaced {
    /// 486 or 600.
    Busy,
    /// Rang out (Hark cancelled at `ring_timeout_secs`), or 408/480.
    NoAnswer,
    /// The callee rejected the call (603).
    Declined,
    /// Another of the person's phones answered first (this one was cancelled).
    AnsweredElsewhere,
    /// Anything else, with why.
    Failed(String),
}

impl std::fmt::Display for Unplaced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unplaced::Busy => f.write_str("busy"),
            Unplaced::NoAnswer => f.write_str("no answer"),
            Unplaced::Declined => f.write_str("declined the call"),
            Unplaced::AnsweredElsewhere => f.write_str("answered on another phone"),
            Unplaced::Failed(why) => f.write_str(why),
        }
    }
}

/// Where to send a call for `target`: a `sip:`/`sips:` URI as it is; a phone number
/// (`+1 555-1234`, `tel:+15551234`) through the trunk.
pub fn route(config: &IvrConfig, target: &str) -> Result<Route, String> {
    let target = target.trim();
    let lower = target.to_ascii_lowercase();
    if lower.starts_with("sip:") || lower.starts_with("sips:") {
        let uri = target
            .parse::<SipUri>()
            .map_err(|e| format!("{target:?} is not a SIP URI: {e}"))?;
        return Ok(Route {
            uri,
            text: target.to_owned(),
            via_trunk: false,
            next_hop: None,
            route_set: Vec::new(),
        });
    }
    let number = lower.strip_prefix("tel:").unwrap_or(&lower);
    let number: String = number
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let digits = number.strip_prefix('+').unwrap_or(&number);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 20 {
        return Err(format!(
            "{target:?} is neither a SIP URI nor a phone number"
        ));
    }
    let Some(trunk) = config.outbound_proxy.as_deref().map(str::trim) else {
        return Err(format!(
            "{target:?} is a phone number and no trunk is configured (ivr.outbound_proxy)"
        ));
    };
    let host = trunk
        .strip_prefix("sip:")
        .unwrap_or(trunk)
        .trim_end_matches('/');
    let text = format!("sip:{number}@{host}");
    let uri = text
        .parse::<SipUri>()
        .map_err(|e| format!("trunk {trunk:?} does not make a SIP URI: {e}"))?;
    Ok(Route {
        uri,
        text,
        via_trunk: true,
        next_hop: None,
        route_set: Vec::new(),
    })
}

/// Ring every one of `routes` at once; the first to answer gets the call and the others are
/// cancelled; a person declining on one phone (603) stops them all, as a 6xx does at a
/// forking proxy (RFC 3261 §16.7); a 486 on one phone (busy there) does not. When nobody answers: no answer if any rang out, else busy if any was, else the
/// first failure.
pub async fn place_first(
    local: &Local,
    endpoint: &Endpoint,
    routes: Vec<Route>,
    caller_name: &str,
) -> Result<Connected, Unplaced> {
    if let [route] = routes.as_slice() {
        return place(
            local,
            endpoint,
            route,
            caller_name,
            &CancellationToken::new(),
        )
        .await;
    }
    let stop = CancellationToken::new();
    let mut forks = JoinSet::new();
    for route in routes {
        let (local, endpoint, name, stop) = (
            local.clone(),
            endpoint.clone(),
            caller_name.to_owned(),
            stop.clone(),
        );
        forks.spawn(async move {
            let placed = place(&local, &endpoint, &route, &name, &stop).await;
            (route.text, placed)
        });
    }
    let mut won: Option<Connected> = None;
    let mut lost = Vec::new();
    while let Some(done) = forks.join_next().await {
        let Ok((text, placed)) = done else {
            lost.push(Unplaced::Failed("a fork of the call failed".into()));
            continue;
        };
        match placed {
            Ok(call) if won.is_none() => {
                tracing::info!(contact = %text, "answered first");
                won = Some(call);
                stop.cancel();
                // The others finish cancelling on their own; a late answer is hung up.
                let rest = std::mem::take(&mut forks);
                tokio::spawn(hang_up_late(rest));
                break;
            }
            Ok(call) => call.leg.hang_up(),
            Err(Unplaced::Declined) => {
                tracing::info!(contact = %text, "declined: the other phones stop ringing");
                stop.cancel();
                lost.push(Unplaced::Declined);
            }
            Err(u) => {
                tracing::info!(contact = %text, outcome = %u, "one phone did not answer");
                lost.push(u);
            }
        }
    }
    if let Some(call) = won {
        return Ok(call);
    }
    Err(worst_first(lost))
}

/// How a call that rang several phones ended when none answered.
fn worst_first(lost: Vec<Unplaced>) -> Unplaced {
    for wanted in [Unplaced::Declined, Unplaced::NoAnswer, Unplaced::Busy] {
        if lost.contains(&wanted) {
            return wanted;
        }
    }
    lost.into_iter()
        .find(|u| !matches!(u, Unplaced::AnsweredElsewhere))
        .unwrap_or_else(|| Unplaced::Failed("no phone to ring".into()))
}

/// Hang up forks that answered after another had won.
async fn hang_up_late(mut forks: JoinSet<(String, Result<Connected, Unplaced>)>) {
    while let Some(done) = forks.join_next().await {
        if let Ok((text, Ok(call))) = done {
            tracing::info!(contact = %text, "answered after another phone; hung up");
            call.leg.hang_up();
        }
    }
}

/// Call `route` and wait for an answer. Rings for at most `ring_timeout_secs`, or until
/// `stop` (another phone answered), then CANCELs.
pub async fn place(
    local: &Local,
    endpoint: &Endpoint,
    route: &Route,
    caller_name: &str,
    stop: &CancellationToken,
) -> Result<Connected, Unplaced> {
    let socket = session::bind(local.media_ip, local.rtp_ports.clone())
        .await
        .map_err(|e| Unplaced::Failed(format!("no RTP port: {e}")))?;
    let port = socket.local_addr().map(|a| a.port()).unwrap_or_default();
    let session_id = u64::from(rand::random::<u32>());
    let offer = sdp::offer(local.media_ip, port, session_id);

    let hark = SipUri::new(local.sip_addr.into()).user(BytesStr::from_static("hark"));
    let mut from = NameAddr::uri(hark.clone());
    from.name = Some(BytesStr::from(caller_name.to_owned()));
    let contact = Contact::new(NameAddr::uri(hark));
    let mut initiator = InviteInitiator::new(endpoint.clone(), from, contact, route.uri.clone());
    // No reliable provisional responses: the answer then always comes in the 2xx.
    initiator.support_100rel = false;
    initiator.support_timer = false;
    if let Some(hop) = &route.next_hop {
        let (transport, destination) = endpoint
            .select_transport(hop)
            .await
            .map_err(|e| Unplaced::Failed(format!("cannot reach {}: {e}", route.text)))?;
        initiator.set_target_transport(transport, destination);
    }

    let mut auth = route.via_trunk.then(|| {
        let mut credentials = DigestCredentials::new();
        credentials.set_default(DigestUser::new(
            local.trunk_username.clone(),
            local.trunk_password.expose().as_bytes().to_vec(),
        ));
        DigestAuthenticator::new(credentials)
    });

    let ring_for = local.ring_for;
    let deadline = tokio::time::Instant::now() + ring_for;
    let mut earlies: Vec<Early> = Vec::new();

    let (session, response) = 'invite: loop {
        let mut invite = initiator.create_invite();
        invite
            .headers
            .insert_named(&ContentType(BytesStr::from_static("application/sdp")));
        invite.body = offer.clone().into();
        for hop in &route.route_set {
            invite.headers.insert(Name::ROUTE, hop.as_str());
        }
        if let Some(a) = auth.as_mut() {
            a.authorize_request(&mut invite.headers);
        }
        initiator
            .send_invite(invite)
            .await
            .map_err(|e| Unplaced::Failed(format!("cannot reach {}: {e}", route.text)))?;

        loop {
            let event = tokio::select! {
                r = initiator.receive() => Event::Initial(r),
                r = next_early(&mut earlies), if !earlies.is_empty() => Event::Early(r),
                _ = tokio::time::sleep_until(deadline) => Event::RangOut,
                _ = stop.cancelled() => Event::Elsewhere,
            };
            match event {
                Event::RangOut => {
                    cancel(endpoint, &mut initiator, None).await;
                    return Err(Unplaced::NoAnswer);
                }
                Event::Elsewhere => {
                    cancel(endpoint, &mut initiator, Some(ANSWERED_ELSEWHERE)).await;
                    return Err(Unplaced::AnsweredElsewhere);
                }
                Event::Early((i, Ok(EarlyResponse::Success(session, response)))) => {
                    // That early dialog is the call now: not one to cancel.
                    earlies.swap_remove(i);
                    break 'invite (session, response);
                }
                Event::Early((_, Ok(_))) => {}
                Event::Early((_, Err(e))) => {
                    return Err(Unplaced::Failed(format!("early dialog: {e}")));
                }
                Event::Initial(Err(e)) => {
                    return Err(Unplaced::Failed(format!(
                        "no answer from {}: {e}",
                        route.text
                    )));
                }
                Event::Initial(Ok(r)) => match r {
                    Response::Provisional(_) | Response::EarlyEvent => {}
                    Response::Early(early, ..) => earlies.push(early),
                    Response::Session(session, response) => break 'invite (session, response),
                    Response::Finished => {
                        return Err(Unplaced::Failed(format!(
                            "{} never answered the INVITE",
                            route.text
                        )));
                    }
                    Response::Failure(response) => {
                        let code = response.line.code;
                        if (code == StatusCode::UNAUTHORIZED
                            || code == StatusCode::PROXY_AUTHENTICATION_REQUIRED)
                            && let Some(a) = auth.as_mut()
                        {
                            let Some(tsx) = initiator.transaction() else {
                                return Err(Unplaced::Failed("lost the INVITE".into()));
                            };
                            let sent = tsx.request();
                            a.handle_rejection(
                                RequestParts {
                                    line: &sent.msg.line,
                                    headers: &sent.msg.headers,
                                    body: &sent.msg.body,
                                },
                                ResponseParts {
                                    line: &response.line,
                                    headers: &response.headers,
                                    body: &response.body,
                                },
                            )
                            .map_err(|e| {
                                Unplaced::Failed(format!("the trunk refused our credentials: {e}"))
                            })?;
                            earlies.clear();
                            continue 'invite;
                        }
                        return Err(unplaced(&response));
                    }
                },
            }
        }
    };

    // Any other forks that answered early are cancelled; the first 2xx wins.
    for early in earlies {
        tokio::spawn(early.cancel());
    }
    let remote = session
        .dialog
        .target_tp_info
        .try_lock()
        .ok()
        .and_then(|t| t.transport.as_ref().map(|(_, addr)| *addr))
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let negotiated = sdp::accept_answer(&response.body);
    let mut ack = create_ack(&session.dialog, response.base_headers.cseq.cseq)
        .await
        .map_err(|e| Unplaced::Failed(format!("cannot ACK: {e}")))?;
    if let Err(e) = endpoint.send_outgoing_request(&mut ack).await {
        return Err(Unplaced::Failed(format!("cannot send ACK: {e}")));
    }
    initiator.set_acknowledge(&session, ack);
    // Keep the INVITE transaction alive to ACK retransmitted 2xx and end late forks.
    tokio::spawn(drain(initiator));

    let (info_tx, info_digits) = mpsc::channel(16);
    let info_guard = session.dialog.register_usage(InfoUsage { digits: info_tx });
    let established = super::Established {
        session,
        socket,
        session_id,
        info: (info_guard, info_digits),
        remote,
    };
    super::connect(established, local.media_ip, negotiated)
        .map_err(|e| Unplaced::Failed(format!("the callee's answer: {e}")))
}

/// CANCEL the ringing INVITE and wait (bounded) for its final response.
///
/// RFC 3261 §9.1: a CANCEL carries the INVITE's own top Via (its branch), which is how the
/// callee matches it to the INVITE. ezk's `InviteInitiator::cancel` sends it in a transaction
/// of its own, with a new branch, which phones answer with 481 and go on ringing; so the
/// CANCEL is built here from the INVITE as sent and retransmitted (as Timer E would) until the
/// INVITE's final response (487) arrives. Its 200 has no transaction to go to and is dropped
/// by ezk (logged as an orphaned response). A 2xx that crossed the CANCEL is ACKed and hung up.
/// `reason` goes in a `Reason` header (RFC 3326).
async fn cancel(endpoint: &Endpoint, initiator: &mut InviteInitiator, reason: Option<&str>) {
    let Some(tsx) = initiator.transaction() else {
        return;
    };
    let invite = tsx.request();
    let mut headers = Headers::new();
    if let Some(via) = invite.msg.headers.get_raw(&Name::VIA).next() {
        headers.insert(Name::VIA, via.as_str());
    }
    for name in [
        Name::MAX_FORWARDS,
        Name::FROM,
        Name::TO,
        Name::CALL_ID,
        Name::ROUTE,
    ] {
        for value in invite.msg.headers.get_raw(&name) {
            headers.insert(name.clone(), value.as_str());
        }
    }
    let cseq = invite
        .msg
        .headers
        .get_named::<CSeq>()
        .map(|c| c.cseq)
        .unwrap_or(1);
    headers.insert_named(&CSeq {
        cseq,
        method: Method::CANCEL,
    });
    if let Some(reason) = reason {
        headers.insert(Name::custom("Reason", &["reason"]), reason);
    }
    let mut request = OutgoingRequest {
        msg: Request {
            line: RequestLine {
                method: Method::CANCEL,
                uri: invite.msg.line.uri.clone(),
            },
            headers,
            body: bytes::Bytes::new(),
        },
        parts: OutgoingParts {
            transport: invite.parts.transport.clone(),
            destination: invite.parts.destination,
            buffer: bytes::Bytes::new(),
        },
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    let mut resend = Duration::from_millis(500);
    loop {
        if let Err(e) = endpoint.send_outgoing_request(&mut request).await {
            tracing::debug!(error = %e, "could not send CANCEL");
        }
        let next = tokio::time::Instant::now() + resend;
        resend = (resend * 2).min(Duration::from_secs(4));
        loop {
            let response = tokio::select! {
                r = initiator.receive() => r,
                _ = tokio::time::sleep_until(next) => break,
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::debug!("a cancelled INVITE got no final response in time");
                    return;
                }
            };
            match response {
                Ok(Response::Failure(_) | Response::Finished) | Err(_) => return,
                Ok(Response::Session(mut session, ok)) => {
                    // Answered as we gave up: ACK, then hang up at once.
                    if let Ok(mut ack) =
                        create_ack(&session.dialog, ok.base_headers.cseq.cseq).await
                    {
                        let _ = endpoint.send_outgoing_request(&mut ack).await;
                    }
                    let _ = session.terminate().await;
                    return;
                }
                Ok(Response::Provisional(_) | Response::Early(..) | Response::EarlyEvent) => {}
            }
        }
    }
}

/// What woke the INVITE loop; short-lived, so its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Event {
    Initial(Result<Response, ezk_sip_core::Error>),
    /// Which early dialog, and what came in it.
    Early((usize, Result<EarlyResponse, ezk_sip_core::Error>)),
    RangOut,
    Elsewhere,
}

/// What a phone that stops ringing because another answered is told (RFC 3326): phones show
/// no missed call for it.
const ANSWERED_ELSEWHERE: &str = "SIP;cause=200;text=\"Call completed elsewhere\"";

/// The next response in any early dialog, and which one it came in.
async fn next_early(earlies: &mut [Early]) -> (usize, Result<EarlyResponse, ezk_sip_core::Error>) {
    poll_fn(|cx| {
        for (i, early) in earlies.iter_mut().enumerate() {
            if let Poll::Ready(r) = early.poll_receive(cx) {
                return Poll::Ready((i, r));
            }
        }
        Poll::Pending
    })
    .await
}

/// Answer what still arrives on the INVITE transaction after the call was set up.
async fn drain(mut initiator: InviteInitiator) {
    while let Ok(event) = initiator.receive().await {
        match event {
            Response::Early(early, ..) => {
                tokio::spawn(early.cancel());
            }
            Response::Session(mut session, ..) => {
                let _ = session.terminate().await;
            }
            Response::Failure(..) | Response::Finished => break,
            Response::Provisional(..) | Response::EarlyEvent => {}
        }
    }
}

/// What a final failure response means for the attempt.
fn unplaced(response: &TsxResponse) -> Unplaced {
    let code = response.line.code.into_u16();
    match code {
        486 | 600 => Unplaced::Busy,
        603 => Unplaced::Declined,
        408 | 480 | 487 => Unplaced::NoAnswer,
        _ => Unplaced::Failed(format!(
            "{code} {}",
            response
                .line
                .reason
                .as_ref()
                .map(|r| r.as_str())
                .unwrap_or_default()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(trunk: Option<&str>) -> IvrConfig {
        IvrConfig {
            outbound_proxy: trunk.map(str::to_owned),
            ..IvrConfig::default()
        }
    }

    #[test]
    fn sip_uris_go_direct_and_numbers_through_the_trunk() {
        let c = config(Some("sip:trunk.example.net:5070"));
        let r = route(&c, "sip:bob@10.0.0.7:5062").unwrap();
        assert!(!r.via_trunk);
        assert_eq!(r.text, "sip:bob@10.0.0.7:5062");

        let r = route(&c, "tel:+1 (555) 010-2000").unwrap();
        assert!(r.via_trunk);
        assert_eq!(r.text, "sip:+15550102000@trunk.example.net:5070");

        let r = route(&c, "5551234").unwrap();
        assert_eq!(r.text, "sip:5551234@trunk.example.net:5070");
    }

    #[test]
    fn numbers_need_a_trunk_and_junk_is_refused() {
        assert!(
            route(&config(None), "+15551234")
                .unwrap_err()
                .contains("no trunk")
        );
        let c = config(Some("127.0.0.1:5070"));
        assert!(route(&c, "bob@example.org").is_err());
        assert!(route(&c, "").is_err());
        assert!(route(&c, "sip:").is_err());
        assert!(route(&c, "12345678901234567890123").is_err());
        assert_eq!(route(&c, "555").unwrap().text, "sip:555@127.0.0.1:5070");
    }
}
