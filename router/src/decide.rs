//! Who decides a recipient's plan: the enabled plugins in priority order — the first that
//! answers with a plan wins — else the recipient's own profile (or the configured default).
//! A plugin that fails (trap, timeout, invalid plan, benched) is skipped: delivery fails open
//! to the profile, never closed.

use crate::{
    plan::{self, Step},
    plugins::{PlanInput, Verdict},
    registry::Registry,
};
use chrono::{DateTime, Datelike, Timelike, Utc};
use diesel::prelude::*;
use hark_core::{
    channel::{Channel, Endpoint},
    ids::{MessageId, UserId},
    store::{
        DbConnection, StoreError, messages,
        schema::{delivery_profiles, devices},
        users::{self, User},
    },
};
use std::sync::Arc;

/// What the router knows about one recipient when it plans.
#[derive(Clone, Debug)]
pub(crate) struct RecipientFacts {
    pub user: User,
    pub profile: Option<Result<hark_core::profile::Profile, hark_core::profile::ProfileError>>,
    pub presence: String,
    /// (id, channel, verified)
    pub endpoints: Vec<(String, String, bool)>,
    /// One of their phones is registered now (a callback rings it).
    pub phone_registered: bool,
}

impl RecipientFacts {
    /// Whether anything can carry out `step` for this person: the portal always can (a pop-up
    /// waits for their next sign-in); e-mail and calls need their address or phone, or a
    /// verified device of the kind — the very device the step names, if it names one.
    pub fn can_reach(&self, step: &Step) -> bool {
        let Some(channel) = step.channel() else {
            return false;
        };
        if channel.endpoint() == Endpoint::Portal {
            return true;
        }
        self.endpoints.iter().any(|(id, c, verified)| {
            *verified
                && c == channel.name()
                && step.endpoint.as_ref().is_none_or(|wanted| wanted == id)
        })
    }

    /// Why nothing can reach this person, for the log and the sender.
    pub fn unreachable_because(&self) -> String {
        let has = |c: Channel| {
            self.endpoints
                .iter()
                .any(|(_, channel, verified)| *verified && channel == c.name())
        };
        let mut missing = Vec::new();
        if !has(Channel::Email) {
            missing.push("no e-mail address");
        }
        if !has(Channel::Callback) {
            missing.push("no phone");
        }
        let lacking = if missing.is_empty() {
            String::new()
        } else {
            format!(" ({})", missing.join(", "))
        };
        format!(
            "nothing can reach {}: no step of their rules or of the defaults can be carried \
             out{lacking}",
            self.user.display_name
        )
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Facts {
    pub message: messages::Message,
    pub sender: User,
    pub recipients: Vec<RecipientFacts>,
}

/// [`load_facts`] on the store's blocking pool.
pub(crate) async fn facts(
    deps: &hark_core::Deps,
    message_id: &MessageId,
    recipients: Vec<UserId>,
) -> Result<Facts, StoreError> {
    let mid = message_id.clone();
    deps.store
        .run(move |c| load_facts(c, &mid, &recipients))
        .await
}

/// Everything about every recipient in four queries, whatever their number.
pub(crate) fn load_facts(
    c: &mut DbConnection,
    message_id: &MessageId,
    recipients: &[UserId],
) -> Result<Facts, StoreError> {
    use hark_core::store::schema::users as users_t;
    use std::collections::HashMap;
    let message = messages::find_by_id(c, message_id)?.ok_or(StoreError::NotFound("message"))?;
    let sender = users::find_by_id(c, &UserId::from(message.sender_id.as_str()))?
        .ok_or(StoreError::NotFound("sender"))?;
    let ids: Vec<&str> = recipients.iter().map(UserId::as_str).collect();
    let mut people: HashMap<String, User> = users_t::table
        .filter(users_t::id.eq_any(&ids))
        .select(User::as_select())
        .load(c)?
        .into_iter()
        .map(|u| (u.id.clone(), u))
        .collect();
    type Row = (String, String, Option<String>, String);
    let mut profiles: HashMap<String, _> = delivery_profiles::table
        .filter(delivery_profiles::user_id.eq_any(&ids))
        .select((
            delivery_profiles::user_id,
            delivery_profiles::channels,
            delivery_profiles::quiet_hours,
            delivery_profiles::sender_rules,
        ))
        .load::<Row>(c)?
        .into_iter()
        .map(|(user, channels, quiet, senders)| {
            let parsed = plan::parse_profile(&channels, quiet.as_deref(), &senders);
            (user, parsed)
        })
        .collect();
    let mut present = hark_core::store::presence::statuses(c, &ids)?;
    let phones =
        hark_core::store::registrations::registered_users(c, &ids, hark_core::store::now())?;
    let mut device_rows: HashMap<String, Vec<(String, String, bool)>> = HashMap::new();
    let rows: Vec<(String, String, String, Option<chrono::NaiveDateTime>)> = devices::table
        .filter(devices::user_id.eq_any(&ids))
        .order(devices::created_at.asc())
        .select((
            devices::user_id,
            devices::id,
            devices::kind,
            devices::verified_at,
        ))
        .load(c)?;
    for (user, device, kind, verified_at) in rows {
        if let Some(channel) = Channel::for_device(&kind) {
            device_rows.entry(user).or_default().push((
                device,
                channel.name().to_owned(),
                verified_at.is_some(),
            ));
        }
    }
    let mut out = Vec::with_capacity(recipients.len());
    for id in recipients {
        let user = people
            .remove(id.as_str())
            .ok_or(StoreError::NotFound("recipient"))?;
        let mut endpoints = Vec::new();
        if user.email.as_deref().is_some_and(|e| !e.is_empty()) {
            endpoints.push(("email".to_owned(), Channel::Email.name().to_owned(), true));
        }
        if user.phone_uri.as_deref().is_some_and(|p| !p.is_empty()) {
            endpoints.push((
                "phone".to_owned(),
                Channel::Callback.name().to_owned(),
                true,
            ));
        }
        endpoints.extend(device_rows.remove(id.as_str()).unwrap_or_default());
        out.push(RecipientFacts {
            profile: profiles.remove(id.as_str()),
            presence: present
                .remove(id.as_str())
                .unwrap_or_else(|| "offline".into()),
            endpoints,
            phone_registered: phones.contains(id.as_str()),
            user,
        });
    }
    Ok(Facts {
        message,
        sender,
        recipients: out,
    })
}

/// The plan for one recipient, and which plugin made it (none: the profile).
pub(crate) async fn decide(
    registry: &Registry,
    facts: &Facts,
    r: &RecipientFacts,
    defaults: &[String],
    now: DateTime<Utc>,
) -> (Vec<Step>, Option<String>) {
    let tz: chrono_tz::Tz = r.user.timezone.parse().unwrap_or(chrono_tz::UTC);
    let local = now.with_timezone(&tz);
    let local_minute = u16::try_from(local.hour() * 60 + local.minute()).unwrap_or(0);
    let moment = plan::Moment {
        sender: &facts.sender.extension,
        local_minute,
        urgent: facts.message.urgent,
    };
    let profile = plan::plan(r.profile.as_ref(), moment, defaults, |s| r.can_reach(s));
    let active = registry.active();
    if active.is_empty() {
        return (profile, None);
    }
    let input = Arc::new(PlanInput {
        message_id: facts.message.id.clone(),
        sender_extension: facts.sender.extension.clone(),
        sender_name: facts.sender.display_name.clone(),
        origin: facts.message.origin.clone(),
        duration_ms: u32::try_from(facts.message.duration_ms).unwrap_or(0),
        urgent: facts.message.urgent,
        recording: facts.message.state == "recording",
        recipient_id: r.user.id.clone(),
        extension: r.user.extension.clone(),
        timezone: tz.name().to_owned(),
        presence: r.presence.clone(),
        phone_registered: r.phone_registered,
        endpoints: r.endpoints.clone(),
        profile: profile
            .iter()
            .map(|s| (s.channel.clone(), s.after_secs))
            .collect(),
        now_unix_ms: now.timestamp_millis(),
        local_minute_of_day: local_minute,
        local_weekday: u8::try_from(local.weekday().number_from_monday()).unwrap_or(1),
    });
    for plugin in active.iter() {
        match registry.host().plan(plugin.clone(), input.clone()).await {
            Ok(Verdict::Pass) => continue,
            Ok(Verdict::Plan(attempts)) => {
                let steps = attempts
                    .into_iter()
                    .map(|a| Step {
                        channel: a.channel,
                        after_secs: a.start_after_secs,
                        endpoint: a.endpoint_id,
                        give_up_after_secs: a.give_up_after_secs,
                    })
                    .collect();
                return (steps, Some(plugin.info.name.clone()));
            }
            Err(e) => {
                tracing::warn!(plugin = %plugin.info.name, error = %e, message = %facts.message.id,
                    "plugin skipped; falling back");
                registry.host().logs().push(
                    &plugin.info.name,
                    "host",
                    format!("skipped for message {}: {e}", facts.message.id),
                );
            }
        }
    }
    (profile, None)
}
