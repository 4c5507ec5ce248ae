//! Answering one INVITE. The order matters for callers: overload and bad offers are refused
//! before any state is made; RTP is bound before the 200 so the answer names a real port;
//! the call exists for the menus only once the ACK arrived.

use super::{
    Connected, Local,
    admission::CallPermit,
    info::InfoUsage,
    sdp::{self, SdpError},
};
use crate::media::session;
use bytesstr::BytesStr;
use ezk_sip_core::{Endpoint, IncomingRequest};
use ezk_sip_types::{
    StatusCode,
    header::typed::{Accept, Contact, ContentType, RetryAfter},
    uri::{NameAddr, SipUri},
};
use ezk_sip_ua::{
    dialog::{Dialog, register_usage},
    invite::acceptor::InviteAcceptor,
};
use tokio::sync::mpsc;

/// An answered call, and who called what.
#[derive(Debug)]
pub struct Answered {
    pub call: Connected,
    /// The caller's user part (P-Asserted-Identity, else From).
    pub caller: Option<String>,
    /// The Request-URI's user part: what they dialled.
    pub dialled: Option<String>,
}

/// Refuse an INVITE outside any dialog, before anything was set up.
pub async fn refuse(
    endpoint: &Endpoint,
    invite: IncomingRequest,
    code: StatusCode,
    retry_after: Option<u32>,
) {
    refuse_with(endpoint, invite, code, |headers| {
        if let Some(secs) = retry_after {
            headers.insert_named(&RetryAfter::new(secs));
        }
    })
    .await;
}

/// Refuse an INVITE, adding headers to the response: statelessly, so a refused INVITE keeps
/// nothing (a retransmission is refused again, and its ACK is let go).
async fn refuse_with(
    endpoint: &Endpoint,
    invite: IncomingRequest,
    code: StatusCode,
    add: impl FnOnce(&mut ezk_sip_types::Headers),
) {
    super::guard::answer_statelessly(endpoint, &invite, code, None, add).await;
}

/// Answer `invite`; `None` when it was refused, cancelled or never acknowledged (each already
/// answered as SIP requires).
/// The call's permit is given back before any refusal is sent, so a caller that retries on
/// the refusal finds the slot free.
pub async fn answer(
    local: &Local,
    endpoint: &Endpoint,
    invite: IncomingRequest,
    permit: CallPermit,
) -> Option<(Answered, CallPermit)> {
    let caller = super::caller_user(&invite.headers, &invite.base_headers.from);
    let dialled = super::user_part(&invite.line.uri.user_part);
    let remote = invite.tp_info.source;
    let offer = if invite.body.is_empty() {
        None
    } else {
        let content_type = invite.headers.get_named::<ContentType>().ok();
        match sdp::sdp_in_body(content_type.as_ref().map(|c| c.0.as_str()), &invite.body) {
            Some(sdp) => Some(invite.body.slice_ref(sdp)),
            None => {
                tracing::info!(%remote, ?content_type, "refusing an INVITE whose body is not SDP");
                drop(permit);
                refuse_with(
                    endpoint,
                    invite,
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    |headers| {
                        headers.insert_named(&Accept(BytesStr::from_static("application/sdp")));
                    },
                )
                .await;
                return None;
            }
        }
    };

    let socket = match session::bind(local.media_ip, local.rtp_ports.clone()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "no RTP port for a new call");
            drop(permit);
            refuse(
                endpoint,
                invite,
                StatusCode::SERVICE_UNAVAILABLE,
                Some(local.retry_after_secs),
            )
            .await;
            return None;
        }
    };
    let port = socket.local_addr().map(|a| a.port()).unwrap_or_default();
    let session_id = u64::from(rand::random::<u32>());
    // With an offer we answer it now; without one (a "delayed offer") we offer in the 200 and
    // read the answer from the ACK.
    let early = match &offer {
        Some(o) => match sdp::answer(o, local.media_ip, port, session_id) {
            Ok(a) => Some(a),
            Err(e) => {
                let code = match e {
                    SdpError::NoCommonCodec => StatusCode::NOT_ACCEPTABLE_HERE,
                    SdpError::Malformed(_) => StatusCode::BAD_REQUEST,
                };
                tracing::info!(error = %e, %remote, "refusing an INVITE's offer");
                drop(permit);
                refuse(endpoint, invite, code, None).await;
                return None;
            }
        },
        None => None,
    };

    let contact = Contact::new(NameAddr::uri(SipUri::new(local.sip_addr.into())));
    let dialog = match Dialog::new_server(endpoint.clone(), &invite, contact) {
        Ok(d) => d,
        Err(e) => {
            tracing::info!(error = %e, %remote, "INVITE cannot start a dialog");
            drop(permit);
            refuse(endpoint, invite, StatusCode::BAD_REQUEST, None).await;
            return None;
        }
    };
    let (info_tx, info_digits) = mpsc::channel(16);
    let info_guard = register_usage(
        endpoint.clone(),
        dialog.key(),
        InfoUsage { digits: info_tx },
    )?;
    let mut acceptor = InviteAcceptor::new(dialog, invite);

    for code in [StatusCode::TRYING, StatusCode::RINGING] {
        let response = acceptor.create_response(code, None).await.ok()?;
        acceptor.respond_provisional(response).await.ok()?;
    }
    let mut ok = acceptor.create_response(StatusCode::OK, None).await.ok()?;
    ok.msg
        .headers
        .insert_named(&ContentType(BytesStr::from_static("application/sdp")));
    ok.msg.body = match &early {
        Some((_, text)) => text.clone().into(),
        None => sdp::offer(local.media_ip, port, session_id).into(),
    };
    let (session, ack) = match acceptor.respond_success(ok).await {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(error = ?e, %remote, "call ended before it was acknowledged");
            return None;
        }
    };
    let negotiated = match early {
        Some((n, _)) => Ok(n),
        None => sdp::accept_answer(&ack.body),
    };
    let established = super::Established {
        session,
        socket,
        session_id,
        info: (info_guard, info_digits),
        remote,
    };
    match super::connect(established, local.media_ip, negotiated) {
        Ok(call) => Some((
            Answered {
                call,
                caller,
                dialled,
            },
            permit,
        )),
        Err(e) => {
            tracing::info!(error = %e, %remote, "ACK carried no usable answer; hung up");
            None
        }
    }
}
