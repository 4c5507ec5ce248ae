//! A person's delivery rules: how a message reaches them, edited in the portal's profile page
//! and read by the router when it plans.
//!
//! Stored in `delivery_profiles` as three JSON documents:
//! - `channels`: the ordered steps, `[{"channel": "popup"}, {"channel": "email",
//!   "after_secs": 300}]`. Each starts `after_secs` after the message arrives; a step may name
//!   one of the person's devices (`endpoint`) and give up after a while.
//! - `quiet_hours`: `{"from": "22:00", "to": "07:00", "allow": ["email"]}` in the person's
//!   timezone. While it is quiet only the allowed channels are used at once (so no phone
//!   rings at night); the other steps are held until it ends, as if the message arrived then.
//!   An urgent message ignores quiet hours. `from` after `to` spans midnight.
//! - `sender_rules`: `[{"sender": "201", "steps": [...]}]`: messages from that extension
//!   follow their own steps instead of the general ones (the boss rings through, a noisy
//!   alert system only e-mails).
//!
//! Channels are plain strings here; the router drops those it cannot dispatch.

use crate::channel::Channel;
use serde::{Deserialize, Serialize};

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub channel: String,
    #[serde(default)]
    pub after_secs: u32,
    /// The recipient's endpoint to use; none means the channel's default for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Stop trying this step after so long (a callback that rings out, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub give_up_after_secs: Option<u32>,
}

impl Step {
    /// The step's channel, if this build has it (a stored profile keeps the name).
    pub fn channel(&self) -> Option<Channel> {
        Channel::parse(&self.channel)
    }

    pub fn new(channel: &str, after_secs: u32) -> Self {
        Self {
            channel: channel.to_owned(),
            after_secs,
            endpoint: None,
            give_up_after_secs: None,
        }
    }
}

/// A daily quiet time in the person's timezone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    /// `HH:MM`, inclusive.
    pub from: String,
    /// `HH:MM`, exclusive.
    pub to: String,
    /// Channels still used while it is quiet.
    #[serde(default)]
    pub allow: Vec<String>,
}

/// Steps for messages from one sender.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderRule {
    /// The sender's extension.
    pub sender: String,
    pub steps: Vec<Step>,
}

/// Everything in one person's profile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    pub steps: Vec<Step>,
    pub quiet: Option<QuietHours>,
    pub senders: Vec<SenderRule>,
    /// Attach the recording itself to e-mails (its own column).
    pub attach_audio: bool,
}

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProfileError {
    #[error("delivery profile {what} is not valid JSON: {why}")]
    Json { what: &'static str, why: String },
    /// Not acceptable, in the part of the profile named second (`steps`, `quiet_hours` or
    /// `senders`, as the API calls them).
    #[error("{0}")]
    Invalid(String, &'static str),
}

impl ProfileError {
    /// The part of the profile the error is about (`steps`, `quiet_hours`, `senders`), for
    /// an answer that names its field; `None` for stored JSON that does not parse.
    pub fn part(&self) -> Option<&'static str> {
        match self {
            ProfileError::Invalid(_, part) => Some(part),
            ProfileError::Json { .. } => None,
        }
    }
}

/// Most steps in one list (a plan longer than this helps nobody).
pub const MAX_STEPS: usize = 10;
/// Most sender rules in one profile.
pub const MAX_SENDER_RULES: usize = 50;
/// Longest delay a step may have: one week.
pub const MAX_DELAY_SECS: u32 = 7 * 24 * 3600;

/// `HH:MM` as minutes after midnight.
pub fn parse_clock(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && s.trim().len() == 5).then_some(h * 60 + m)
}

impl QuietHours {
    /// Seconds from `minute` (after local midnight) until the quiet time next ends.
    pub fn secs_until_end(&self, minute: u16) -> u32 {
        let Some(to) = parse_clock(&self.to) else {
            return 0;
        };
        (u32::from(to) + 24 * 60 - u32::from(minute)) % (24 * 60) * 60
    }

    /// Is `minute` (after local midnight) inside the quiet time?
    pub fn contains(&self, minute: u16) -> bool {
        let (Some(from), Some(to)) = (parse_clock(&self.from), parse_clock(&self.to)) else {
            return false;
        };
        if from <= to {
            (from..to).contains(&minute)
        } else {
            minute >= from || minute < to
        }
    }
}

impl Profile {
    /// Read the stored columns.
    pub fn from_columns(
        channels: &str,
        quiet_hours: Option<&str>,
        sender_rules: &str,
    ) -> Result<Self, ProfileError> {
        let json = |what, e: serde_json::Error| ProfileError::Json {
            what,
            why: e.to_string(),
        };
        let steps = serde_json::from_str(channels).map_err(|e| json("channels", e))?;
        let quiet = match quiet_hours.map(str::trim).filter(|q| !q.is_empty()) {
            Some(q) => serde_json::from_str(q).map_err(|e| json("quiet hours", e))?,
            None => None,
        };
        let senders = if sender_rules.trim().is_empty() {
            Vec::new()
        } else {
            serde_json::from_str(sender_rules).map_err(|e| json("sender rules", e))?
        };
        Ok(Self {
            steps,
            quiet,
            senders,
            attach_audio: false,
        })
    }

    /// The columns to store: (channels, quiet hours, sender rules).
    pub fn to_columns(&self) -> (String, Option<String>, String) {
        (
            json(&self.steps),
            self.quiet.as_ref().map(json),
            json(&self.senders),
        )
    }

    /// Check what a person entered; `channels` are those this installation can deliver on,
    /// `devices` the person's device ids.
    pub fn validate(&self, devices: &[String]) -> Result<(), ProfileError> {
        let bad = |part, m: String| Err(ProfileError::Invalid(m, part));
        let check_steps = |steps: &[Step], whose: &str, part| -> Result<(), ProfileError> {
            if steps.len() > MAX_STEPS {
                return bad(part, format!("{whose}: at most {MAX_STEPS} steps"));
            }
            for s in steps {
                if s.channel().is_none() {
                    return bad(
                        part,
                        format!("{whose}: there is no channel called {:?}", s.channel),
                    );
                }
                if s.after_secs > MAX_DELAY_SECS {
                    return bad(part, format!("{whose}: a step may wait at most 7 days"));
                }
                if let Some(d) = &s.endpoint
                    && !devices.contains(d)
                {
                    return bad(part, format!("{whose}: that device is not one of yours"));
                }
            }
            Ok(())
        };
        check_steps(&self.steps, "Delivery steps", "steps")?;
        if let Some(q) = &self.quiet {
            if parse_clock(&q.from).is_none() || parse_clock(&q.to).is_none() {
                return bad(
                    "quiet_hours",
                    "Quiet hours are two times of day, like 22:00 and 07:00.".into(),
                );
            }
            if q.from == q.to {
                return bad(
                    "quiet_hours",
                    "Quiet hours must start and end at different times.".into(),
                );
            }
            if let Some(c) = q.allow.iter().find(|c| Channel::parse(c).is_none()) {
                return bad(
                    "quiet_hours",
                    format!("Quiet hours: there is no channel called {c:?}"),
                );
            }
        }
        if self.senders.len() > MAX_SENDER_RULES {
            return bad(
                "senders",
                format!("At most {MAX_SENDER_RULES} sender rules."),
            );
        }
        for r in &self.senders {
            if r.sender.is_empty() || !r.sender.bytes().all(|b| b.is_ascii_digit()) {
                return bad(
                    "senders",
                    "A sender rule names the sender's extension.".into(),
                );
            }
            check_steps(&r.steps, &format!("Messages from {}", r.sender), "senders")?;
        }
        Ok(())
    }

    /// The steps for a message from `sender` (an extension) arriving at `local_minute` after
    /// the recipient's midnight. In quiet hours the channels they allow go at once and the
    /// others wait until they end (each step keeping its own delay after that). Empty means
    /// "use the defaults".
    /// Whether an open portal tab may alert the person now to a message that just arrived:
    /// not in quiet hours that allow neither pop-ups nor live streams (an urgent message
    /// alerts all the same, as it ignores quiet hours).
    pub fn tab_alerts_at(&self, local_minute: u16, urgent: bool) -> bool {
        match &self.quiet {
            Some(q) if !urgent && q.contains(local_minute) => q
                .allow
                .iter()
                .any(|c| matches!(Channel::parse(c), Some(Channel::Popup | Channel::Stream))),
            _ => true,
        }
    }

    pub fn steps_for(&self, sender: &str, local_minute: u16, urgent: bool) -> Vec<Step> {
        let steps = self
            .senders
            .iter()
            .find(|r| r.sender == sender)
            .map(|r| r.steps.clone())
            .unwrap_or_else(|| self.steps.clone());
        match &self.quiet {
            Some(q) if !urgent && q.contains(local_minute) => {
                let held = q.secs_until_end(local_minute);
                steps
                    .into_iter()
                    .map(|mut s| {
                        if !q.allow.contains(&s.channel) {
                            s.after_secs = s.after_secs.saturating_add(held);
                        }
                        s
                    })
                    .collect()
            }
            _ => steps,
        }
    }
}

/// Plain data with string keys always serializes.
fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> Profile {
        Profile {
            steps: vec![Step::new("popup", 0), Step::new("callback", 300)],
            quiet: Some(QuietHours {
                from: "22:00".into(),
                to: "07:00".into(),
                allow: vec!["email".into(), "popup".into()],
            }),
            senders: vec![SenderRule {
                sender: "201".into(),
                steps: vec![Step::new("callback", 0)],
            }],
            attach_audio: false,
        }
    }

    #[test]
    fn stored_columns_read_back_the_same() {
        let p = profile();
        let (c, q, s) = p.to_columns();
        assert_eq!(Profile::from_columns(&c, q.as_deref(), &s).unwrap(), p);
        assert_eq!(
            Profile::from_columns(r#"[{"channel":"email"}]"#, None, "[]").unwrap(),
            Profile {
                steps: vec![Step::new("email", 0)],
                ..Profile::default()
            }
        );
        assert!(Profile::from_columns("{", None, "[]").is_err());
    }

    #[test]
    fn quiet_hours_span_midnight_and_hold_what_they_do_not_allow() {
        let p = profile();
        let night = 23 * 60;
        let morning = 6 * 60 + 59;
        let day = 7 * 60;
        // The pop-up is allowed at night; the call after 5 minutes waits until 07:00 and then
        // its 5 minutes.
        assert_eq!(
            p.steps_for("101", night, false),
            vec![Step::new("popup", 0), Step::new("callback", 8 * 3600 + 300)]
        );
        assert_eq!(
            p.steps_for("101", morning, false),
            vec![Step::new("popup", 0), Step::new("callback", 60 + 300)]
        );
        assert_eq!(p.steps_for("101", day, false), p.steps);
        // Urgent rings through the night.
        assert_eq!(p.steps_for("101", night, true), p.steps);
        let daytime = QuietHours {
            from: "12:00".into(),
            to: "13:30".into(),
            allow: vec![],
        };
        assert!(daytime.contains(12 * 60) && daytime.contains(13 * 60 + 29));
        assert!(!daytime.contains(13 * 60 + 30) && !daytime.contains(11 * 60 + 59));
    }

    #[test]
    fn a_sender_rule_replaces_the_general_steps() {
        let p = profile();
        assert_eq!(
            p.steps_for("201", 12 * 60, false),
            vec![Step::new("callback", 0)]
        );
        // ... and quiet hours still hold it: the call waits until 07:00.
        assert_eq!(
            p.steps_for("201", 23 * 60, false),
            vec![Step::new("callback", 8 * 3600)]
        );
    }

    #[test]
    fn validation_names_what_is_wrong() {
        let devices = vec!["dev-1".to_owned()];
        assert_eq!(profile().validate(&devices), Ok(()));
        let mut p = profile();
        p.steps.push(Step::new("fax", 0));
        assert!(
            matches!(p.validate(&devices), Err(ProfileError::Invalid(m, "steps")) if m.contains("fax"))
        );
        let mut p = profile();
        p.steps[0].endpoint = Some("someone-elses".into());
        assert!(p.validate(&devices).is_err());
        let mut p = profile();
        p.quiet.as_mut().unwrap().from = "25:00".into();
        assert!(p.validate(&devices).is_err());
        let mut p = profile();
        p.senders[0].sender = "<script>".into();
        assert!(p.validate(&devices).is_err());
        let mut p = profile();
        p.steps[1].after_secs = MAX_DELAY_SECS + 1;
        assert!(p.validate(&devices).is_err());
        assert_eq!(parse_clock("7:00"), None);
        assert_eq!(parse_clock("07:05"), Some(425));
    }

    #[test]
    fn quiet_hours_silence_tab_alerts_unless_they_allow_portal_channels_or_it_is_urgent() {
        let mut p = Profile::default();
        assert!(p.tab_alerts_at(23 * 60, false), "no quiet hours: alerts");
        p.quiet = Some(QuietHours {
            from: "22:00".into(),
            to: "07:00".into(),
            allow: vec!["email".into()],
        });
        assert!(!p.tab_alerts_at(23 * 60, false), "quiet, e-mail only");
        assert!(p.tab_alerts_at(23 * 60, true), "urgent ignores quiet hours");
        assert!(p.tab_alerts_at(12 * 60, false), "outside quiet hours");
        p.quiet.as_mut().unwrap().allow.push("popup".into());
        assert!(
            p.tab_alerts_at(23 * 60, false),
            "quiet hours that allow pop-ups"
        );
    }
}
