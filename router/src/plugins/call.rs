//! One `plan` call: the router's facts in, a checked verdict out.

use super::{
    LoadedPlugin, PluginError, PluginHost, bindings::hark::delivery::types as wit,
    bindings_1_1::hark::delivery::types as wit11, load::Pre,
};
use hark_core::channel::Channel;
use std::{sync::Arc, time::Instant};

/// Longest plan, and latest start, a plugin may ask for.
const MAX_ATTEMPTS: usize = 32;
const MAX_START_AFTER_SECS: u32 = 30 * 24 * 3600;

/// Everything a plugin is told about one recipient of one message.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanInput {
    pub message_id: String,
    pub sender_extension: String,
    pub sender_name: String,
    pub origin: String,
    pub duration_ms: u32,
    pub urgent: bool,
    pub recording: bool,
    pub recipient_id: String,
    pub extension: String,
    pub timezone: String,
    /// "available", "busy", "dnd" or "offline".
    pub presence: String,
    /// A phone of theirs is registered (told to 1.1 plugins).
    pub phone_registered: bool,
    /// (id, channel, verified)
    pub endpoints: Vec<(String, String, bool)>,
    /// (channel, after_secs)
    pub profile: Vec<(String, u32)>,
    pub now_unix_ms: i64,
    pub local_minute_of_day: u16,
    pub local_weekday: u8,
}

/// One step of a plugin's plan, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedAttempt {
    pub channel: String,
    pub endpoint_id: Option<String>,
    pub start_after_secs: u32,
    pub give_up_after_secs: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No opinion: ask the next plugin, or use the profile.
    Pass,
    Plan(Vec<PlannedAttempt>),
}

fn presence(s: &str) -> wit::PresenceStatus {
    match s {
        "available" => wit::PresenceStatus::Available,
        "busy" => wit::PresenceStatus::Busy,
        "dnd" => wit::PresenceStatus::Dnd,
        _ => wit::PresenceStatus::Offline,
    }
}

pub(super) fn request(input: &PlanInput, config: &str) -> wit::PlanRequest {
    wit::PlanRequest {
        message: wit::MessageFacts {
            id: input.message_id.clone(),
            sender_extension: input.sender_extension.clone(),
            sender_name: input.sender_name.clone(),
            origin: input.origin.clone(),
            duration_ms: input.duration_ms,
            urgent: input.urgent,
            recording: input.recording,
        },
        recipient: wit::Recipient {
            id: input.recipient_id.clone(),
            extension: input.extension.clone(),
            timezone: input.timezone.clone(),
            presence: presence(&input.presence),
            endpoints: input
                .endpoints
                .iter()
                .map(|(id, channel, verified)| wit::Endpoint {
                    id: id.clone(),
                    channel: channel.clone(),
                    verified: *verified,
                })
                .collect(),
        },
        profile: input
            .profile
            .iter()
            .map(|(channel, after_secs)| wit::ProfileStep {
                channel: channel.clone(),
                after_secs: *after_secs,
            })
            .collect(),
        now_unix_ms: input.now_unix_ms,
        local_minute_of_day: input.local_minute_of_day,
        local_weekday: input.local_weekday,
        config: config.to_owned(),
    }
}

/// The same request for a `hark:delivery@1.1.0` plugin.
pub(super) fn request_1_1(input: &PlanInput, config: &str) -> wit11::PlanRequest {
    let r = request(input, config);
    let presence = match r.recipient.presence {
        wit::PresenceStatus::Available => wit11::PresenceStatus::Available,
        wit::PresenceStatus::Busy => wit11::PresenceStatus::Busy,
        wit::PresenceStatus::Dnd => wit11::PresenceStatus::Dnd,
        wit::PresenceStatus::Offline => wit11::PresenceStatus::Offline,
    };
    wit11::PlanRequest {
        message: wit11::MessageFacts {
            id: r.message.id,
            sender_extension: r.message.sender_extension,
            sender_name: r.message.sender_name,
            origin: r.message.origin,
            duration_ms: r.message.duration_ms,
            urgent: r.message.urgent,
            recording: r.message.recording,
        },
        recipient: wit11::Recipient {
            id: r.recipient.id,
            extension: r.recipient.extension,
            timezone: r.recipient.timezone,
            presence,
            endpoints: r
                .recipient
                .endpoints
                .into_iter()
                .map(|e| wit11::Endpoint {
                    id: e.id,
                    channel: e.channel,
                    verified: e.verified,
                })
                .collect(),
            phone_registered: input.phone_registered,
        },
        profile: r
            .profile
            .into_iter()
            .map(|p| wit11::ProfileStep {
                channel: p.channel,
                after_secs: p.after_secs,
            })
            .collect(),
        now_unix_ms: r.now_unix_ms,
        local_minute_of_day: r.local_minute_of_day,
        local_weekday: r.local_weekday,
        config: r.config,
    }
}

/// A 1.1 plugin's decision in 1.0's terms (the same shape), for [`check`].
fn decision_from_1_1(d: wit11::Decision) -> wit::Decision {
    match d {
        wit11::Decision::Pass => wit::Decision::Pass,
        wit11::Decision::Plan(attempts) => wit::Decision::Plan(
            attempts
                .into_iter()
                .map(|a| wit::Attempt {
                    channel: a.channel,
                    endpoint_id: a.endpoint_id,
                    start_after_secs: a.start_after_secs,
                    give_up_after_secs: a.give_up_after_secs,
                })
                .collect(),
        ),
    }
}

/// Check a plan against the request: known channels (a plan naming a channel this build does
/// not have is invalid, so a plugin's typo never becomes a silent non-delivery), the
/// recipient's own endpoints, sane sizes and times.
pub(super) fn check(input: &PlanInput, decision: wit::Decision) -> Result<Verdict, PluginError> {
    let attempts = match decision {
        wit::Decision::Pass => return Ok(Verdict::Pass),
        wit::Decision::Plan(a) => a,
    };
    let bad = |why: String| Err(PluginError::InvalidPlan(why));
    if attempts.is_empty() {
        return bad("an empty plan (answer pass for no opinion)".into());
    }
    if attempts.len() > MAX_ATTEMPTS {
        return bad(format!(
            "{} attempts; at most {MAX_ATTEMPTS}",
            attempts.len()
        ));
    }
    let mut out = Vec::with_capacity(attempts.len());
    for a in attempts {
        if Channel::parse(&a.channel).is_none() {
            return bad(format!("unknown channel {:?}", a.channel));
        }
        if let Some(id) = &a.endpoint_id {
            let owned = input
                .endpoints
                .iter()
                .any(|(eid, channel, _)| eid == id && *channel == a.channel);
            if !owned {
                return bad(format!(
                    "endpoint {id:?} is not the recipient's {} endpoint",
                    a.channel
                ));
            }
        }
        if a.start_after_secs > MAX_START_AFTER_SECS {
            return bad(format!("starts after {} s", a.start_after_secs));
        }
        out.push(PlannedAttempt {
            channel: a.channel,
            endpoint_id: a.endpoint_id,
            start_after_secs: a.start_after_secs,
            give_up_after_secs: a.give_up_after_secs,
        });
    }
    Ok(Verdict::Plan(out))
}

/// The host's check of a plan, on plain values (for tools and fuzzing: the same rules as
/// [`check`]). `None` is "pass".
pub fn check_plan(
    input: &PlanInput,
    plan: Option<Vec<PlannedAttempt>>,
) -> Result<Verdict, PluginError> {
    let decision = match plan {
        None => wit::Decision::Pass,
        Some(steps) => wit::Decision::Plan(
            steps
                .into_iter()
                .map(|a| wit::Attempt {
                    channel: a.channel,
                    endpoint_id: a.endpoint_id,
                    start_after_secs: a.start_after_secs,
                    give_up_after_secs: a.give_up_after_secs,
                })
                .collect(),
        ),
    };
    check(input, decision)
}

/// Turn a wasmtime error into a reason.
pub(super) fn classify(e: &anyhow::Error, host: &PluginHost) -> PluginError {
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => PluginError::Timeout(host.limits.deadline),
        Some(wasmtime::Trap::OutOfFuel) => PluginError::OutOfFuel,
        Some(t) => PluginError::Trap(t.to_string()),
        None => PluginError::Trap(format!("{e:#}")),
    }
}

impl PluginHost {
    /// Call `plan` synchronously: a fresh instance in a fresh store.
    pub fn plan_blocking(
        &self,
        plugin: &LoadedPlugin,
        input: &PlanInput,
    ) -> Result<Verdict, PluginError> {
        let mut store = self.store(&plugin.info.name)?;
        let decision = match &plugin.pre {
            Pre::V1_0(pre) => pre
                .instantiate(&mut store)
                .map_err(|e| classify(&e, self))?
                .call_plan(&mut store, &request(input, &plugin.config))
                .map_err(|e| classify(&e, self))?
                .map_err(|e| PluginError::Returned(format!("{e:?}")))?,
            Pre::V1_1(pre) => decision_from_1_1(
                pre.instantiate(&mut store)
                    .map_err(|e| classify(&e, self))?
                    .call_plan(&mut store, &request_1_1(input, &plugin.config))
                    .map_err(|e| classify(&e, self))?
                    .map_err(|e| PluginError::Returned(format!("{e:?}")))?,
            ),
        };
        check(input, decision)
    }

    /// Call `plan` on a blocking thread, counting the outcome; a benched plugin is not called.
    pub async fn plan(
        self: &Arc<Self>,
        plugin: Arc<LoadedPlugin>,
        input: Arc<PlanInput>,
    ) -> Result<Verdict, PluginError> {
        if !plugin.stats.admit() {
            return Err(PluginError::Benched);
        }
        let host = self.clone();
        let p = plugin.clone();
        let started = Instant::now();
        let result = tokio::task::spawn_blocking(move || host.plan_blocking(&p, &input))
            .await
            .map_err(|e| PluginError::Host(e.to_string()))?;
        plugin.stats.record(result.is_ok(), started.elapsed());
        result
    }
}
