//! business-hours: never ring someone's phone outside their working hours.
//!
//! Follows the recipient's own profile, but a callback step that would start outside working
//! hours (in the recipient's timezone, as the host computes it) is moved to the next opening.
//! Config (JSON, all optional): `{"start": "09:00", "end": "17:00", "days": [1, 2, 3, 4, 5]}`
//! with ISO weekdays (1 = Monday).

wit_bindgen::generate!({ world: "delivery-plugin", path: "../wit" });

use hark::delivery::types::Attempt;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawConfig {
    start: String,
    end: String,
    days: Vec<u8>,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            start: "09:00".into(),
            end: "17:00".into(),
            days: vec![1, 2, 3, 4, 5],
        }
    }
}

struct Hours {
    start: u32,
    end: u32,
    days: Vec<u8>,
}

fn minutes(hhmm: &str) -> Result<u32, PluginError> {
    let bad = || PluginError::InvalidConfig(format!("{hhmm:?} is not HH:MM"));
    let (h, m) = hhmm.split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

fn parse(config: &str) -> Result<Hours, PluginError> {
    let raw: RawConfig = if config.trim().is_empty() {
        RawConfig::default()
    } else {
        serde_json::from_str(config).map_err(|e| PluginError::InvalidConfig(e.to_string()))?
    };
    let (start, end) = (minutes(&raw.start)?, minutes(&raw.end)?);
    if start >= end {
        return Err(PluginError::InvalidConfig(
            "start must be before end".into(),
        ));
    }
    if raw.days.is_empty() || raw.days.iter().any(|d| !(1..=7).contains(d)) {
        return Err(PluginError::InvalidConfig(
            "days are 1 (Monday) to 7".into(),
        ));
    }
    Ok(Hours {
        start,
        end,
        days: raw.days,
    })
}

/// Seconds from `now` (weekday, minute of day) + `after` to the next working minute.
fn delay_into_hours(h: &Hours, weekday: u8, minute: u32, after: u32) -> u32 {
    let week = 7 * 24 * 60;
    let at = (u32::from(weekday - 1) * 24 * 60 + minute + after / 60) % week;
    for step in 0..week {
        let t = (at + step) % week;
        let (day, min) = ((t / (24 * 60)) as u8 + 1, t % (24 * 60));
        if h.days.contains(&day) && min >= h.start && min < h.end {
            return after + step * 60;
        }
    }
    after
}

struct Plugin;

impl Guest for Plugin {
    fn info() -> Info {
        Info {
            name: "business-hours".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Callbacks only within the recipient's working hours.".into(),
        }
    }

    fn validate_config(config: String) -> Result<(), PluginError> {
        parse(&config).map(|_| ())
    }

    fn plan(request: PlanRequest) -> Result<Decision, PluginError> {
        let hours = parse(&request.config)?;
        if !request.profile.iter().any(|s| s.channel == "callback") {
            return Ok(Decision::Pass);
        }
        if !(1..=7).contains(&request.local_weekday) {
            return Err(PluginError::InvalidRequest("weekday out of range".into()));
        }
        let plan = request
            .profile
            .iter()
            .map(|s| {
                let start_after_secs = if s.channel == "callback" {
                    delay_into_hours(
                        &hours,
                        request.local_weekday,
                        u32::from(request.local_minute_of_day),
                        s.after_secs,
                    )
                } else {
                    s.after_secs
                };
                Attempt {
                    channel: s.channel.clone(),
                    endpoint_id: None,
                    start_after_secs,
                    give_up_after_secs: None,
                }
            })
            .collect();
        Ok(Decision::Plan(plan))
    }
}

export!(Plugin);
