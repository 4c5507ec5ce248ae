//! One inbound call from INVITE to BYE: answer, run the caller flow, hang up, count.

use crate::{
    Ivr,
    line::Line,
    menu::{self, Stop},
    sip::{endpoint::CallPermit, inbound},
    voice::Part,
};
use ezk_sip_core::{Endpoint, IncomingRequest};
use std::sync::Arc;

pub async fn inbound(
    ivr: Arc<Ivr>,
    endpoint: Endpoint,
    invite: IncomingRequest,
    permit: CallPermit,
) {
    let Some((answered, _permit)) = inbound::answer(&ivr, &endpoint, invite, permit).await else {
        return;
    };
    ivr.metrics.call_started("inbound");
    let counters = answered.rtp.counters();
    let leg = answered.leg.clone();
    tracing::info!(remote = %answered.remote, caller = ?answered.caller, dialled = ?answered.dialled, "call answered");
    let mut line = Line::new(
        answered.rtp,
        answered.media,
        answered.info_digits,
        leg.ended.clone(),
        ivr.metrics.clone(),
    );
    match menu::run(ivr.clone(), &mut line, answered.caller, answered.dialled).await {
        Ok(()) => {}
        Err(Stop::HungUp) => tracing::info!("caller hung up"),
        Err(Stop::Failed(why)) => {
            tracing::error!(error = %why, "call failed on Hark's side");
            let sorry = ivr.voice.say(&[Part::Prompt("try_later")]);
            let _ = line.play(&sorry).await;
        }
    }
    leg.hang_up();
    let jitter_ms = jitter_ms(&counters);
    ivr.metrics.call_ended(&counters, jitter_ms);
}

pub(crate) fn jitter_ms(counters: &crate::media::session::Counters) -> f64 {
    crate::media::session::Counters::get(&counters.jitter) as f64 / 8.0
}
