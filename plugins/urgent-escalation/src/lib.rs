//! urgent-escalation: urgent messages ring the recipient's phone at once and keep ringing.
//!
//! Not urgent: no opinion (`pass`). Urgent: an e-mail and a callback at once, then the callback
//! again every `repeat_secs`, `times` times in all, each giving up after `ring_secs`. Without a
//! verified phone it passes. Config (JSON, all optional):
//! `{"repeat_secs": 120, "times": 3, "ring_secs": 45}`.

wit_bindgen::generate!({ world: "delivery-plugin", path: "../wit" });

use hark::delivery::types::Attempt;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    repeat_secs: u32,
    times: u32,
    ring_secs: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            repeat_secs: 120,
            times: 3,
            ring_secs: 45,
        }
    }
}

fn parse(config: &str) -> Result<Config, PluginError> {
    let c: Config = if config.trim().is_empty() {
        Config::default()
    } else {
        serde_json::from_str(config).map_err(|e| PluginError::InvalidConfig(e.to_string()))?
    };
    if c.times == 0 || c.times > 10 {
        return Err(PluginError::InvalidConfig("times must be 1 to 10".into()));
    }
    Ok(c)
}

struct Plugin;

impl Guest for Plugin {
    fn info() -> Info {
        Info {
            name: "urgent-escalation".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Urgent messages: call back at once, and again until answered.".into(),
        }
    }

    fn validate_config(config: String) -> Result<(), PluginError> {
        parse(&config).map(|_| ())
    }

    fn plan(request: PlanRequest) -> Result<Decision, PluginError> {
        let config = parse(&request.config)?;
        if !request.message.urgent {
            return Ok(Decision::Pass);
        }
        let Some(phone) = request
            .recipient
            .endpoints
            .iter()
            .find(|e| e.channel == "callback" && e.verified)
            .map(|e| e.id.clone())
        else {
            return Ok(Decision::Pass);
        };
        let mut plan = vec![Attempt {
            channel: "email".into(),
            endpoint_id: None,
            start_after_secs: 0,
            give_up_after_secs: None,
        }];
        for i in 0..config.times {
            plan.push(Attempt {
                channel: "callback".into(),
                endpoint_id: Some(phone.clone()),
                start_after_secs: i * config.repeat_secs,
                give_up_after_secs: Some(config.ring_secs),
            });
        }
        Ok(Decision::Plan(plan))
    }
}

export!(Plugin);
