//! presence-first: reach people where they are right now.
//!
//! Online (available): stream while the message is still being recorded, else a pop-up; then
//! e-mail if it has not been played after `email_after_secs`; then a callback after
//! `callback_after_secs` if the recipient has a phone. Not online but with a phone registered
//! (`phone-registered`, hark:delivery 1.1): a callback at once, ringing their registered
//! phones, then e-mail after `email_after_secs`. Otherwise (busy, do-not-disturb, offline):
//! e-mail at once, then the callback. Config (JSON, all optional):
//! `{"email_after_secs": 60, "callback_after_secs": 300}`.

wit_bindgen::generate!({ world: "delivery-plugin", path: "../wit-1.1" });

use hark::delivery::types::{Attempt, PresenceStatus, Recipient};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    email_after_secs: u32,
    callback_after_secs: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            email_after_secs: 60,
            callback_after_secs: 300,
        }
    }
}

fn parse(config: &str) -> Result<Config, PluginError> {
    if config.trim().is_empty() {
        return Ok(Config::default());
    }
    serde_json::from_str(config).map_err(|e| PluginError::InvalidConfig(e.to_string()))
}

/// The first verified endpoint of a channel, if the recipient has one.
fn endpoint(r: &Recipient, channel: &str) -> Option<String> {
    r.endpoints
        .iter()
        .find(|e| e.channel == channel && e.verified)
        .map(|e| e.id.clone())
}

fn attempt(channel: &str, endpoint_id: Option<String>, after: u32) -> Attempt {
    Attempt {
        channel: channel.into(),
        endpoint_id,
        start_after_secs: after,
        give_up_after_secs: None,
    }
}

struct Plugin;

impl Guest for Plugin {
    fn info() -> Info {
        Info {
            name: "presence-first".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Stream or pop up when online, then e-mail, then call back.".into(),
        }
    }

    fn validate_config(config: String) -> Result<(), PluginError> {
        parse(&config).map(|_| ())
    }

    fn plan(request: PlanRequest) -> Result<Decision, PluginError> {
        let config = parse(&request.config)?;
        let r = &request.recipient;
        let mut plan = Vec::new();
        let online = r.presence == PresenceStatus::Available;
        if online {
            let live = if request.message.recording {
                "stream"
            } else {
                "popup"
            };
            plan.push(attempt(live, None, 0));
            plan.push(attempt("email", None, config.email_after_secs));
        } else if r.phone_registered && r.presence == PresenceStatus::Offline {
            // Their phone rings now; e-mail if they do not pick up.
            plan.push(attempt("callback", None, 0));
            plan.push(attempt("email", None, config.email_after_secs));
            return Ok(Decision::Plan(plan));
        } else {
            plan.push(attempt("email", None, 0));
        }
        if let Some(phone) = endpoint(r, "callback") {
            plan.push(attempt("callback", Some(phone), config.callback_after_secs));
        }
        Ok(Decision::Plan(plan))
    }
}

export!(Plugin);
