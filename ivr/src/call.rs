//! A call once it is up, either way: its line for the menus, the metrics, and the hang-up.
//! [`inbound`] is one inbound call from INVITE to BYE: tell whether a registered phone is
//! calling, answer, run the caller flow, hang up.

use crate::{
    Ivr,
    line::Line,
    media::session::Counters,
    menu::{self, PhoneCaller, Session, Stop},
    phone_auth::Checked,
    sip::{CallHandler, Connected, admission::CallPermit, inbound},
    voice::Part,
};
use ezk_sip_core::{Endpoint, IncomingRequest};
use hark_core::{
    ids::UserId,
    store::{self, devices, registrations, users::User},
};
use std::sync::Arc;

impl CallHandler for Ivr {
    fn incoming(self: Arc<Self>, endpoint: Endpoint, invite: IncomingRequest, permit: CallPermit) {
        tokio::spawn(inbound(self, endpoint, invite, permit));
    }
}

pub async fn inbound(
    ivr: Arc<Ivr>,
    endpoint: Endpoint,
    invite: IncomingRequest,
    permit: CallPermit,
) {
    let phone = match from_registered_phone(&ivr, &endpoint, &invite).await {
        Identified::Phone(p) => Some(p),
        Identified::Anyone => None,
        Identified::Answered => return,
    };
    let Some((answered, _permit)) = inbound::answer(&ivr.sip, &endpoint, invite, permit).await
    else {
        return;
    };
    tracing::info!(caller = ?answered.caller, dialled = ?answered.dialled, phone = phone.is_some(), "call answered");
    let mut call = OnLine::pick_up(&ivr, answered.call, "inbound");
    let result = menu::run(
        ivr.clone(),
        &mut call.line,
        answered.caller,
        phone,
        answered.dialled,
    )
    .await;
    call.hang_up(&ivr, result).await;
}

/// Who an INVITE is from, as far as phone sign-ins go.
enum Identified {
    /// A registered phone that proved its password.
    Phone(PhoneCaller),
    /// Not from a registered phone: the caller says who they are in the menus.
    Anyone,
    /// Already answered (challenged or refused): nothing more to do.
    Answered,
}

/// Whether `invite` comes from a registered phone: its From names a device's SIP username and
/// it comes from where that device registered. Such an INVITE is challenged like its REGISTER
/// (the phone answers with the same password), so a forged From from the phone's address
/// gets nowhere — the challenge goes to the real phone. Anything else is a caller like any
/// other; nothing here tells an outsider which usernames exist.
async fn from_registered_phone(
    ivr: &Arc<Ivr>,
    endpoint: &Endpoint,
    invite: &IncomingRequest,
) -> Identified {
    let Some(from) = crate::sip::user_part(&invite.base_headers.from.uri.uri.user_part) else {
        return Identified::Anyone;
    };
    let source = crate::sip::source_text(invite);
    let registered = ivr
        .deps
        .store
        .run(move |c| {
            let Some(account) = devices::find_sip_account(c, &from)? else {
                return Ok(false);
            };
            Ok(
                registrations::of_device(c, &account.device_id, store::now())?
                    .iter()
                    .any(|b| b.source == source),
            )
        })
        .await;
    match registered {
        Ok(true) => {}
        Ok(false) => return Identified::Anyone,
        Err(e) => {
            tracing::warn!(error = %e, "cannot tell whether a caller is a registered phone");
            return Identified::Anyone;
        }
    }
    let mut response = match ivr.phones.check(invite, "INVITE").await {
        Checked::Authenticated(account) => {
            return Identified::Phone(PhoneCaller {
                user_id: UserId::from(account.user_id.as_str()),
                trusted: account.trusted,
            });
        }
        Checked::Challenge { stale } => ivr.phones.challenge(endpoint, invite, stale),
        Checked::Refused(code, reason) => {
            endpoint.create_response(invite, code, Some(reason.into()))
        }
    };
    // Without a transaction, as every refusal before a call exists: the ACK is let go.
    if let Err(e) = endpoint.send_outgoing_response(&mut response).await {
        tracing::debug!(error = %e, "could not challenge an INVITE");
    }
    Identified::Answered
}

/// An answered call, for the menus.
pub(crate) struct OnLine {
    line: Line,
    leg: crate::sip::leg::Leg,
    counters: Arc<Counters>,
}

impl OnLine {
    pub(crate) fn pick_up(ivr: &Arc<Ivr>, call: Connected, direction: &'static str) -> Self {
        ivr.metrics.call_started(direction);
        tracing::info!(remote = %call.remote, direction, "call up");
        let counters = call.rtp.counters();
        let leg = call.leg.clone();
        let line = Line::new(
            call.rtp,
            call.media,
            call.info_digits,
            leg.ended.clone(),
            ivr.metrics.clone(),
        );
        Self {
            line,
            leg,
            counters,
        }
    }

    /// The menus' session on this call, as `user`.
    pub(crate) fn session(&mut self, ivr: &Arc<Ivr>, user: User) -> Session<'_> {
        Session {
            ivr: ivr.clone(),
            line: &mut self.line,
            user,
        }
    }

    /// Hang up after the flow ended with `result`; Hark's own failures are apologised for
    /// and logged (a hang-up is the other side's right).
    pub(crate) async fn hang_up(mut self, ivr: &Arc<Ivr>, result: Result<(), Stop>) {
        match result {
            Ok(()) => {}
            Err(Stop::HungUp) => tracing::info!("the other side hung up"),
            Err(Stop::Failed(why)) => {
                tracing::error!(error = %why, "call failed on Hark's side");
                let sorry = ivr.voice.say(&[Part::Prompt("try_later")]);
                let _ = self.line.play(&sorry).await;
            }
        }
        self.leg.hang_up();
        let jitter_ms = Counters::get(&self.counters.jitter_us) as f64 / 1000.0;
        ivr.metrics.call_ended(&self.counters, jitter_ms);
    }
}
