//! The router's check of a plugin's plan: any plan a hostile plugin could return, against
//! any recipient. A plan that passes names only known channels and the recipient's own
//! endpoints, within the limits.
#![no_main]

use arbitrary::Arbitrary;
use hark_core::channel::Channel;
use hark_router::plugins::{PlanInput, PlannedAttempt, check_plan};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Case {
    endpoints: Vec<(String, String, bool)>,
    plan: Option<Vec<(String, Option<String>, u32, Option<u32>)>>,
}

fuzz_target!(|case: Case| {
    let input = PlanInput {
        message_id: "m".into(),
        sender_extension: "101".into(),
        sender_name: "A".into(),
        origin: "api".into(),
        duration_ms: 1000,
        urgent: false,
        recording: false,
        recipient_id: "u".into(),
        extension: "102".into(),
        timezone: "UTC".into(),
        presence: "available".into(),
        phone_registered: false,
        endpoints: case.endpoints,
        profile: Vec::new(),
        now_unix_ms: 0,
        local_minute_of_day: 0,
        local_weekday: 0,
    };
    let plan = case.plan.map(|steps| {
        steps
            .into_iter()
            .map(|(channel, endpoint_id, start_after_secs, give_up_after_secs)| PlannedAttempt {
                channel,
                endpoint_id,
                start_after_secs,
                give_up_after_secs,
            })
            .collect::<Vec<_>>()
    });
    if let Ok(hark_router::plugins::Verdict::Plan(steps)) = check_plan(&input, plan) {
        assert!(!steps.is_empty() && steps.len() <= 32);
        for s in steps {
            assert!(Channel::parse(&s.channel).is_some());
            if let Some(id) = &s.endpoint_id {
                assert!(input.endpoints.iter().any(|(e, c, _)| e == id && *c == s.channel));
            }
        }
    }
});
