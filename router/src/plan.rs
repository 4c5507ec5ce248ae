//! Plans: which channels, in what order, with what delays.
//!
//! A recipient's delivery profile ([`hark_core::profile`]) holds ordered steps, quiet hours
//! and per-sender rules; [`plan`] turns it into the steps for one message. A recipient with no
//! profile (or whose rules leave nothing that can be carried out) gets the configured default
//! channels, all at once — except that quiet hours still hold them until they end. Channels
//! are plain strings checked here against what this router can dispatch, so a profile naming
//! a channel this build does not know skips that step (with a warning) instead of failing the
//! message.

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

/// The steps for one recipient: the profile's (if any and valid), else the defaults, under
/// their quiet hours. Steps this router cannot dispatch (an unknown channel) or nothing can
/// carry out for this person (`can_reach` says no: an e-mail without an address, a call
/// without a phone, a device since removed) are dropped with a warning; when the profile's own
/// steps leave nothing, the defaults that can be carried out are used instead. An empty result
/// means nothing can reach the recipient at all.
pub fn plan(
    profile: Option<&Result<Profile, ProfileError>>,
    at: Moment<'_>,
    defaults: &[String],
    can_reach: impl Fn(&Step) -> bool,
) -> Vec<Step> {
    let usable = |steps: Vec<Step>| -> Vec<Step> {
        steps
            .into_iter()
            .filter(|s| {
                if s.channel().is_none() {
                    tracing::warn!(channel = %s.channel, "skipping a channel this router cannot dispatch");
                    return false;
                }
                let reachable = can_reach(s);
                if !reachable {
                    tracing::warn!(channel = %s.channel, endpoint = ?s.endpoint,
                        "skipping a step nothing can carry out for this recipient");
                }
                reachable
            })
            .collect()
    };
    let fallback = |p: Option<&Profile>| {
        // The defaults, under the person's quiet hours (and not their sender rules).
        let defaults = Profile {
            steps: default_steps(defaults),
            quiet: p.and_then(|p| p.quiet.clone()),
            ..Profile::default()
        };
        usable(defaults.steps_for(at.sender, at.local_minute, at.urgent))
    };
    match profile {
        Some(Ok(p)) => {
            let own = p.steps_for(at.sender, at.local_minute, at.urgent);
            let had_own = !own.is_empty();
            let steps = usable(own);
            if steps.is_empty() {
                if had_own {
                    tracing::warn!(
                        "no step of the recipient's own rules can be carried out; using the defaults"
                    );
                }
                fallback(Some(p))
            } else {
                steps
            }
        }
        Some(Err(e)) => {
            tracing::warn!(error = %e, "ignoring an unreadable delivery profile");
            fallback(None)
        }
        None => fallback(None),
    }
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

    fn anything(_: &Step) -> bool {
        true
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
        assert_eq!(
            plan(None, NOON, &["email".into()], anything),
            vec![email(0)]
        );
    }

    #[test]
    fn profile_steps_keep_order_and_delays() {
        let p = stored(r#"[{"channel":"email","after_secs":30},{"channel":"email"}]"#);
        assert_eq!(
            plan(Some(&p), NOON, &[], anything),
            vec![email(30), email(0)]
        );
    }

    #[test]
    fn unknown_channels_are_skipped_and_bad_profiles_fall_back() {
        let p = stored(r#"[{"channel":"carrier-pigeon"},{"channel":"email","after_secs":5}]"#);
        // (popup, stream and callback are known channels: hark_core::channel.)
        assert_eq!(plan(Some(&p), NOON, &[], anything), vec![email(5)]);
        assert_eq!(
            plan(
                Some(&stored("{not json")),
                NOON,
                &["email".into()],
                anything
            ),
            vec![email(0)]
        );
        assert_eq!(
            plan(Some(&stored(r#"[{"channel":"fax"}]"#)), NOON, &[], anything),
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
        // The pop-up waits for 07:00; the e-mail goes now.
        assert_eq!(
            plan(Some(&p), night, &defaults, anything),
            vec![Step::new("popup", 8 * 3600), email(0)]
        );
        assert_eq!(plan(Some(&p), NOON, &defaults, anything).len(), 2);
    }

    #[test]
    fn steps_nothing_can_carry_out_fall_back_to_the_defaults() {
        // Bob's rule for Alice says "call my phone", but Bob has no phone.
        let p = parse_profile(
            r#"[{"channel":"popup"}]"#,
            None,
            r#"[{"sender":"101","steps":[{"channel":"callback"}]}]"#,
        );
        let no_phone = |s: &Step| s.channel != "callback";
        let defaults = ["popup".to_owned(), "email".to_owned()];
        assert_eq!(
            plan(Some(&p), NOON, &defaults, no_phone),
            vec![Step::new("popup", 0), email(0)]
        );
        // Someone nothing can reach gets an empty plan (and the message fails, saying why).
        assert_eq!(plan(Some(&p), NOON, &defaults, |_: &Step| false), vec![]);
    }
}
