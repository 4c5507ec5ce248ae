//! Plans: which channels, in what order, with what delays.
//!
//! A recipient's delivery profile stores its channels as JSON:
//! `[{"channel": "email"}, {"channel": "callback", "after_secs": 300}]`. Steps run in order,
//! each starting `after_secs` after the message arrived. A recipient with no profile gets the
//! configured default channels, all at once. Channels are plain strings checked here against
//! what this router can dispatch, so a profile naming a channel this build does not know
//! skips that step (with a warning) instead of failing the message.

use serde::Deserialize;

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Step {
    pub channel: String,
    #[serde(default)]
    pub after_secs: u32,
    /// The recipient's endpoint to use; none means the channel's default for them.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Stop trying this step after so long (a callback that rings out, say).
    #[serde(default)]
    pub give_up_after_secs: Option<u32>,
}

/// Channels this router can dispatch: each has its command queue (`notify.<channel>`).
pub const KNOWN_CHANNELS: [&str; 4] = crate::plugins::call::PLAN_CHANNELS;

#[derive(Debug, thiserror::Error)]
#[error("delivery profile channels are not valid JSON steps: {0}")]
pub struct ProfileError(String);

/// Parse a profile's `channels` document.
pub fn parse_profile(channels_json: &str) -> Result<Vec<Step>, ProfileError> {
    serde_json::from_str(channels_json).map_err(|e| ProfileError(e.to_string()))
}

/// The steps for one recipient: the profile's (if any and valid), else the defaults; unknown
/// channels dropped. An empty result means the recipient cannot be reached.
pub fn plan(profile: Option<&str>, defaults: &[String]) -> Vec<Step> {
    let steps = match profile.map(parse_profile) {
        Some(Ok(steps)) if !steps.is_empty() => steps,
        Some(Err(e)) => {
            tracing::warn!(error = %e, "ignoring an unreadable delivery profile");
            default_steps(defaults)
        }
        _ => default_steps(defaults),
    };
    steps
        .into_iter()
        .filter(|s| {
            let known = KNOWN_CHANNELS.contains(&s.channel.as_str());
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
        Step {
            channel: "email".into(),
            after_secs,
            endpoint: None,
            give_up_after_secs: None,
        }
    }

    #[test]
    fn no_profile_means_the_defaults() {
        assert_eq!(plan(None, &["email".into()]), vec![email(0)]);
    }

    #[test]
    fn profile_steps_keep_order_and_delays() {
        let p = r#"[{"channel":"email","after_secs":30},{"channel":"email"}]"#;
        assert_eq!(plan(Some(p), &[]), vec![email(30), email(0)]);
    }

    #[test]
    fn unknown_channels_are_skipped_and_bad_profiles_fall_back() {
        let p = r#"[{"channel":"carrier-pigeon"},{"channel":"email","after_secs":5}]"#;
        // (popup, stream and callback are known channels; see KNOWN_CHANNELS.)
        assert_eq!(plan(Some(p), &[]), vec![email(5)]);
        assert_eq!(plan(Some("{not json"), &["email".into()]), vec![email(0)]);
        assert_eq!(plan(Some(r#"[{"channel":"fax"}]"#), &[]), vec![]);
    }
}
