//! The SIP side of the IVR, on ezk's transport and transaction core (`ezk-sip-core`) and its
//! dialog and INVITE session layers (`ezk-sip-ua`).
//!
//! We use ezk's lower layers — `InviteAcceptor`, `InviteSession`, dialog usages — rather than
//! its `Call` wrapper, for two known gaps (DESIGN.md): `Call` sends a second BYE when it is
//! dropped after the peer hung up, and it has no place for in-dialog INFO. Here a call's
//! [`leg::Leg`] sends BYE only when Hark hangs up, and [`info::InfoUsage`] takes INFO digits
//! in the dialog.
//!
//! The layer hands calls up and never reaches into the application: an admitted INVITE goes
//! to the [`CallHandler`] the application gives it, and what it needs of the node's settings
//! comes in a [`Local`].
//!
//! - [`admission`]: call slots in all and per source; a call holds a permit while it lives.
//! - [`guard`]: the first layer: limits on each message (size, headers) and each source
//!   (request and INVITE rate), before anything is made for a request; stateless refusals.
//! - [`limits`]: the per-source state those limits and the call slots are counted in.
//! - [`endpoint`]: UDP and TCP transports and the intake layer: new INVITEs (with overload
//!   refusal), REGISTER and SUBSCRIBE (handed to the [`PhoneHandler`]), OPTIONS, and methods Hark does
//!   not implement.
//! - [`digest`]: digest authentication as a server: challenges, nonces, checking a response.
//! - [`inbound`]: answering one INVITE: SDP offer/answer, 100/180/200, ACK.
//! - [`outbound`]: placing a call (callbacks), through a proxy with digest auth if configured.
//! - [`leg`]: one established call's signalling: BYE either way, re-INVITE (hold), session
//!   refresh.

pub mod admission;
pub mod digest;
pub mod endpoint;
pub mod guard;
pub mod inbound;
pub mod info;
pub mod leg;
pub mod limits;
pub mod outbound;
pub mod sdp;

use crate::media::session::{MediaEvent, Params, RtpSession};
use admission::CallPermit;
use ezk_sip_core::{Endpoint, IncomingRequest};
use ezk_sip_types::{Name, header::typed::FromTo, uri::SipUriUserPart};
use ezk_sip_ua::{dialog::UsageGuard, invite::session::InviteSession};
use hark_core::config::{IvrConfig, Secret};
use leg::Leg;
use sdp::Negotiated;
use std::{
    net::{IpAddr, SocketAddr},
    ops::RangeInclusive,
    sync::Arc,
    time::Duration,
};
use tokio::{net::UdpSocket, sync::mpsc};

/// `P-Asserted-Identity` (RFC 3325), which ezk does not name.
pub const P_ASSERTED_IDENTITY: Name = Name::custom("P-Asserted-Identity", &["p-asserted-identity"]);

/// What the application does with an admitted INVITE: answer it and run the call, on a task
/// of its own (the intake goes straight back to the next request).
pub trait CallHandler: Send + Sync + 'static {
    fn incoming(self: Arc<Self>, endpoint: Endpoint, invite: IncomingRequest, permit: CallPermit);
}

/// What the application does with what phones ask outside a call: answer it on a task of its
/// own (the store is behind it) — REGISTER (the registrar) and SUBSCRIBE (message-waiting,
/// also a refresh in a subscription's dialog).
pub trait PhoneHandler: Send + Sync + 'static {
    fn register(self: Arc<Self>, endpoint: Endpoint, request: IncomingRequest);
    fn subscribe(self: Arc<Self>, endpoint: Endpoint, request: IncomingRequest);
}

/// This node's SIP and media addresses and the settings the SIP layer applies.
#[derive(Debug, Clone)]
pub struct Local {
    /// The address in SDP.
    pub media_ip: IpAddr,
    /// Where SIP is bound (the port is real even when the config said 0).
    pub sip_addr: SocketAddr,
    /// Ports RTP is bound in.
    pub rtp_ports: RangeInclusive<u16>,
    /// `Retry-After` on a 503.
    pub retry_after_secs: u32,
    /// How long an outbound call may ring before it counts as no answer.
    pub ring_for: Duration,
    /// Digest credentials for the trunk, if it asks (never offered to anyone else).
    pub trunk_username: String,
    pub trunk_password: Secret,
}

impl Local {
    pub fn new(config: &IvrConfig, sip_addr: SocketAddr) -> Self {
        Self {
            media_ip: config.media_ip.unwrap_or(sip_addr.ip()),
            sip_addr,
            rtp_ports: config.rtp_port_min..=config.rtp_port_max,
            retry_after_secs: config.retry_after_secs,
            ring_for: Duration::from_secs(u64::from(config.ring_timeout_secs)),
            trunk_username: config.trunk_username.clone(),
            trunk_password: config.trunk_password.clone(),
        }
    }
}

/// An established call, either way, as the menus get it.
pub struct Connected {
    pub leg: Leg,
    pub rtp: RtpSession,
    pub media: mpsc::Receiver<MediaEvent>,
    pub info_digits: mpsc::Receiver<char>,
    pub remote: std::net::SocketAddr,
}

impl std::fmt::Debug for Connected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connected")
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

/// What a call needs once its INVITE transaction is done: the dialog's session, the RTP
/// socket its SDP named, and the INFO digits usage that lives as long as the call.
pub(crate) struct Established {
    pub session: InviteSession,
    pub socket: UdpSocket,
    pub session_id: u64,
    pub info: (UsageGuard, mpsc::Receiver<char>),
    pub remote: std::net::SocketAddr,
}

/// Start an established call: its signalling on a [`Leg`] (re-INVITEs answered from the same
/// RTP port) and its media on an [`RtpSession`]. When the SDP exchange found nothing both
/// sides speak, the call is hung up instead, and the reason returned.
pub(crate) fn connect(
    call: Established,
    media_ip: IpAddr,
    negotiated: Result<Negotiated, sdp::SdpError>,
) -> Result<Connected, sdp::SdpError> {
    let Established {
        session,
        socket,
        session_id,
        info: (info_guard, info_digits),
        remote,
    } = call;
    let negotiated = match negotiated {
        Ok(n) => n,
        Err(e) => {
            Leg::spawn(
                session,
                Box::new(|_| Err(sdp::SdpError::NoCommonCodec)),
                vec![info_guard],
            )
            .hang_up();
            return Err(e);
        }
    };
    let rtp_port = socket.local_addr().map(|a| a.port()).unwrap_or_default();
    let answerer: leg::Answerer = Box::new(move |offer| match offer {
        Some(o) => sdp::answer(o, media_ip, rtp_port, session_id).map(|(_, text)| text),
        None => Ok(sdp::offer(media_ip, rtp_port, session_id)),
    });
    let leg = Leg::spawn(session, answerer, vec![info_guard]);
    let (rtp, media) = RtpSession::start(
        socket,
        Params {
            codec: negotiated.codec,
            payload_type: negotiated.payload_type,
            dtmf_payload_type: negotiated.dtmf_payload_type,
            remote: negotiated.remote,
        },
    );
    Ok(Connected {
        leg,
        rtp,
        media,
        info_digits,
        remote,
    })
}

/// The user part of a SIP URI (`102` in `sip:102@host`), unescaped.
pub fn user_part(user: &SipUriUserPart) -> Option<String> {
    let raw = match user {
        SipUriUserPart::Empty => return None,
        SipUriUserPart::User(u) => u.as_str(),
        SipUriUserPart::UserPw(up) => up.user.as_str(),
    };
    Some(percent_decode(raw))
}

/// Where `request` came from, as the store keeps it: `udp:ip:port` or `tcp:ip:port`.
pub fn source_text(request: &IncomingRequest) -> String {
    let transport = if request.tp_info.transport.is_udp() {
        "udp"
    } else {
        "tcp"
    };
    format!("{transport}:{}", request.tp_info.source)
}

/// Who is calling: the user part of `P-Asserted-Identity` when a trusted proxy set it, else of
/// `From`.
pub fn caller_user(headers: &ezk_sip_types::Headers, from: &FromTo) -> Option<String> {
    let asserted = headers
        .get_raw(&P_ASSERTED_IDENTITY)
        .next()
        .and_then(|raw| raw.as_str().parse::<ezk_sip_types::uri::NameAddr>().ok());
    match asserted {
        Some(na) => user_part(&na.uri.user_part),
        None => user_part(&from.uri.uri.user_part),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_user_parts() {
        assert_eq!(percent_decode("%2A102"), "*102");
        assert_eq!(percent_decode("102"), "102");
        assert_eq!(percent_decode("10%"), "10%");
        assert_eq!(percent_decode("%zz1"), "%zz1");
    }

    #[test]
    fn callers_with_escaped_quotes_in_their_name_are_known() {
        // RFC 4475 "wsinv": a display name with quoted-pairs (fixed in vendor/ezk-sip-types),
        // and method names that are case-sensitive and whole.
        let mut headers = ezk_sip_types::Headers::new();
        headers.insert(
            Name::FROM,
            "\"J Rosenberg \\\\\\\"\"  <sip:101@example.com>\r\n  ;\r\n  tag = 98asjd8",
        );
        let from = headers.get::<FromTo>(Name::FROM).expect("the From parses");
        assert_eq!(caller_user(&headers, &from).as_deref(), Some("101"));
        assert_eq!(
            ezk_sip_types::Method::from("OPTIONS"),
            ezk_sip_types::Method::OPTIONS
        );
        assert_ne!(
            ezk_sip_types::Method::from("options"),
            ezk_sip_types::Method::OPTIONS
        );
        assert_ne!(
            ezk_sip_types::Method::from("INVITEX"),
            ezk_sip_types::Method::INVITE
        );
    }
}
