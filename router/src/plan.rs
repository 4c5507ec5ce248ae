//! Plans: which channels, in what order, with what delays.
//!
//! A recipient's delivery profile ([`hark_core::profile`]) holds ordered steps, quiet hours
//! and per-sender rules; [`plan`] turns it into the steps for one message. A recipient with no
//! profile (or one whose rules leave nothing) gets the configured default channels, all at
//! once — except that quiet hours still hold. Channels are plain strings checked here against
//! what this router can dispatch, so a profile naming a channel this build does not know
//! skips that step (with a warning) instead of failing the message.

pub use hark_core::profile::Step;
use hark_core::profile::{Profile, ProfileError};

/// Parse a profile's stored columns.
pub fn parse_profile(
    channels: &str,
    quiet_hours: Option<&str>,
    sender_rules: &str,
) -> Result<Profile, ProfileError> {
    Profile::from_columns(channels, quiet_hours, sender_rules)
}

/// What the plan depends on besides the profile.
#[derive(Clone, Copy, Debug)]
pub struct Moment<'a> {
    /// The sender's extension.
    pub sender: &'a str,
    /// Minutes after the recipient's local midnight.
    pub local_minute: u16,
    pub urgent: bool,
}

/// The steps for one recipient: the profile's (if any and valid), else the defaults; unknown
/// channels dropped. An empty result means the recipient cannot be reached now.
pub fn plan(
    profile: Option<&Result<Profile, ProfileError>>,
    at: Moment<'_>,
    defaults: &[String],
) -> Vec<Step> {
    let steps = match profile {
        Some(Ok(p)) => {
            let steps = p.steps_for(at.sender, at.local_minute, at.urgent);
            if p.steps.is_empty() && p.senders.iter().all(|r| r.sender != at.sender) {
                // No steps of their own: the defaults, under their quiet hours.
                let defaults = Profile {
                    steps: default_steps(defaults),
                    ..p.clone()
                };
                defaults.steps_for(at.sender, at.local_minute, at.urgent)
            } else {
                steps
            }
        }
        Some(Err(e)) => {
            tracing::warn!(error = %e, "ignoring an unreadable delivery profile");
            default_steps(defaults)
        }
        None => default_steps(defaults),
    };
    steps
        .into_iter()
        .filter(|s| {
            let known = s.channel().is_some();
            if !known {
                tracing::warn!(channel = %s.channel, "skipping a channel this router cannot dispatch");
            }
            known
        })
        .collect()
}

fn default_steps(defaults: &[String]) -> Vec<Step> {
    defaults
        .iter()
        .map(|c| Step {
            channel: c.clone(),
            after_secs: 0,
            endpoint: None,
            give_up_after_secs: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(after_secs: u32) -> Step {
        Step::new("email", after_secs)
    }

    const NOON: Moment<'static> = Moment {
        sender: "101",
        local_minute: 12 * 60,
        urgent: false,
    };

    fn stored(channels: &str) -> Result<Profile, ProfileError> {
        parse_profile(channels, None, "[]")
    }

    #[test]
    fn no_profile_means_the_defaults() {
        assert_eq!(plan(None, NOON, &["email".into()]), vec![email(0)]);
    }

    #[test]
    fn profile_steps_keep_order_and_delays() {
        let p = stored(r#"[{"channel":"email","after_secs":30},{"channel":"email"}]"#);
        assert_eq!(plan(Some(&p), NOON, &[]), vec![email(30), email(0)]);
    }

    #[test]
    fn unknown_channels_are_skipped_and_bad_profiles_fall_back() {
        let p = stored(r#"[{"channel":"carrier-pigeon"},{"channel":"email","after_secs":5}]"#);
        // (popup, stream and callback are known channels: hark_core::channel.)
        assert_eq!(plan(Some(&p), NOON, &[]), vec![email(5)]);
        assert_eq!(
            plan(Some(&stored("{not json")), NOON, &["email".into()]),
            vec![email(0)]
        );
        assert_eq!(
            plan(Some(&stored(r#"[{"channel":"fax"}]"#)), NOON, &[]),
            vec![]
        );
    }

    #[test]
    fn quiet_hours_hold_for_the_defaults_too() {
        let p = parse_profile(
            "[]",
            Some(r#"{"from":"22:00","to":"07:00","allow":["email"]}"#),
            "[]",
        );
        let defaults = ["popup".to_owned(), "email".to_owned()];
        let night = Moment {
            local_minute: 23 * 60,
            ..NOON
        };
        assert_eq!(plan(Some(&p), night, &defaults), vec![email(0)]);
        assert_eq!(plan(Some(&p), NOON, &defaults).len(), 2);
    }
}
