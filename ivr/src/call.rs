//! A call once it is up, either way: its line for the menus, the metrics, and the hang-up.
//! [`inbound`] is one inbound call from INVITE to BYE: answer, run the caller flow, hang up.

use crate::{
    Ivr,
    line::Line,
    media::session::Counters,
    menu::{self, Session, Stop},
    sip::{CallHandler, Connected, admission::CallPermit, inbound},
    voice::Part,
};
use ezk_sip_core::{Endpoint, IncomingRequest};
use hark_core::store::users::User;
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
    let Some((answered, _permit)) = inbound::answer(&ivr.sip, &endpoint, invite, permit).await
    else {
        return;
    };
    tracing::info!(caller = ?answered.caller, dialled = ?answered.dialled, "call answered");
    let mut call = OnLine::pick_up(&ivr, answered.call, "inbound");
    let result = menu::run(
        ivr.clone(),
        &mut call.line,
        answered.caller,
        answered.dialled,
    )
    .await;
    call.hang_up(&ivr, result).await;
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
