//! One established call's signalling, driven on its own task: the peer's BYE (answered once,
//! and never followed by a BYE of ours), re-INVITEs (a phone putting Hark on hold, or
//! refreshing the session) answered from the same RTP port, and Hark's own hang-up.

use super::sdp::SdpError;
use bytesstr::BytesStr;
use ezk_sip_types::{StatusCode, header::typed::ContentType};
use ezk_sip_ua::{
    dialog::UsageGuard,
    invite::session::{InviteSession, InviteSessionEvent, ReInviteReceived},
};
use tokio_util::sync::CancellationToken;

/// Answers an SDP offer (re-INVITE) for this call's media; `None` asks for Hark's own offer
/// (a re-INVITE without SDP).
pub type Answerer = Box<dyn Fn(Option<&[u8]>) -> Result<String, SdpError> + Send + Sync>;

/// Handle on a running leg.
#[derive(Clone, Debug)]
pub struct Leg {
    /// Cancelled when the call is over, whoever ended it.
    pub ended: CancellationToken,
    hang_up: CancellationToken,
}

impl Leg {
    /// Start driving `session`; `guards` (extra dialog usages) live as long as the call.
    pub fn spawn(session: InviteSession, answerer: Answerer, guards: Vec<UsageGuard>) -> Self {
        let leg = Leg {
            ended: CancellationToken::new(),
            hang_up: CancellationToken::new(),
        };
        tokio::spawn(drive(session, answerer, leg.clone(), guards));
        leg
    }

    /// Hang up (send BYE) unless the peer already did.
    pub fn hang_up(&self) {
        self.hang_up.cancel();
    }
}

async fn drive(mut session: InviteSession, answerer: Answerer, leg: Leg, guards: Vec<UsageGuard>) {
    loop {
        tokio::select! {
            _ = leg.hang_up.cancelled() => {
                leg.ended.cancel();
                if let Err(e) = session.terminate().await {
                    tracing::debug!(error = ?e, "BYE got no final response");
                }
                break;
            }
            event = session.run() => match event {
                Ok(InviteSessionEvent::Bye(bye)) => {
                    leg.ended.cancel();
                    if let Err(e) = session.handle_bye(bye).await {
                        tracing::debug!(error = ?e, "could not answer BYE");
                    }
                    break;
                }
                Ok(InviteSessionEvent::Terminated) => break,
                Ok(InviteSessionEvent::ReInviteReceived(re)) => {
                    reinvite(&mut session, re, &answerer).await;
                }
                Ok(InviteSessionEvent::RefreshNeeded) => {
                    if let Err(e) = session.refresh().await {
                        tracing::info!(error = ?e, "session refresh failed; ending the call");
                        leg.ended.cancel();
                        let _ = session.terminate().await;
                        break;
                    }
                }
                Ok(InviteSessionEvent::Notify(_)) => {}
                Err(e) => {
                    tracing::debug!(error = ?e, "call signalling failed");
                    break;
                }
            }
        }
    }
    leg.ended.cancel();
    drop(guards);
}

async fn reinvite(session: &mut InviteSession, re: ReInviteReceived, answerer: &Answerer) {
    let offer = (!re.invite.body.is_empty()).then_some(&re.invite.body[..]);
    let (code, sdp) = match answerer(offer) {
        Ok(sdp) => (StatusCode::OK, Some(sdp)),
        Err(SdpError::NoCommonCodec) => (StatusCode::NOT_ACCEPTABLE_HERE, None),
        Err(SdpError::Malformed(_)) => (StatusCode::BAD_REQUEST, None),
    };
    let mut response = match session.dialog.create_response(&re.invite, code, None) {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = ?e, "could not answer re-INVITE");
            return;
        }
    };
    let result = match sdp {
        Some(sdp) => {
            response
                .msg
                .headers
                .insert_named(&ContentType(BytesStr::from_static("application/sdp")));
            response.msg.body = sdp.into();
            session
                .handle_reinvite_success(re, response)
                .await
                .map(|_ack| ())
        }
        None => re.transaction.respond_failure(response).await,
    };
    if let Err(e) = result {
        tracing::debug!(error = ?e, "re-INVITE exchange failed");
    }
}
