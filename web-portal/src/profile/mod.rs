//! My profile (`/profile`): how messages reach me and whom I reach quickly.
//!
//! - Details: display name, phone number or SIP URI (for callbacks and "call me to record"),
//!   timezone (quiet hours and times shown are in it).
//! - Devices: extra e-mail addresses (verified by a link e-mailed to them before anything is
//!   sent there), phones and SIP URIs, and "the portal" (pop-ups in my open tabs).
//! - Delivery rules ([`hark_core::profile`]): ordered steps with escalation delays, quiet
//!   hours, per-sender rules. The router reads them for the next message.
//! - My recorded name (played in "who is online" and message envelopes): record it here or on
//!   the phone, or upload a file.
//! - Contacts with speed-dial digits, and my groups with their dialable numbers.
//!
//! Every form posts back here with the session's CSRF token; a change goes back to the page,
//! which says what was done ("Contact saved."), and a refusal re-renders the page with the
//! reason and a 422.

mod contacts;
mod delivery;
mod details;
mod devices;
pub(crate) mod groups;
mod name;

pub(crate) use self::devices::plausible_email;
pub(crate) use self::devices::{
    add_device, clear_sip, delete_device, set_sip, verify, verify_page,
};
pub(crate) use self::groups::{create_group, delete_group, update_group};
pub(crate) use contacts::{delete_contact, set_contact};
pub(crate) use delivery::{add_sender, delete_sender, save_delivery};
pub(crate) use details::save_details;
pub(crate) use name::{delete_name, name_audio, upload_name};

use crate::{
    AppState,
    page::{self, PageError},
    session::{Me, WebUser},
};
use actix_web::{HttpResponse, get, http::StatusCode, web};
use askama::Template;
use hark_core::{
    channel::Channel,
    ids::UserId,
    profile::{Profile, Step},
    store::{self, StoreError, profiles, users},
};

const STEP_ROWS: usize = 4;
/// Longest recorded name.
pub(super) const NAME_SECONDS: u32 = 10;

pub(crate) struct Choice {
    pub value: String,
    pub label: String,
}

pub(crate) struct StepRow {
    pub channel: String,
    pub device: String,
    pub delay_mins: String,
}

pub(crate) struct DeviceRow {
    pub id: String,
    pub kind: String,
    pub address: String,
    pub verified: bool,
    /// A phone or SIP device: it can have SIP credentials and register.
    pub phone: bool,
    /// Its SIP username, when it has credentials.
    pub sip_username: String,
    pub trusted: bool,
    pub mwi: bool,
    /// Where it is registered now, in words.
    pub registered: String,
}

pub(crate) struct SenderRow {
    pub sender: String,
    pub summary: String,
}

pub(crate) struct ContactRow {
    pub name: String,
    pub extension: String,
    pub speed_dial: String,
}

pub(crate) struct GroupRow {
    pub id: String,
    pub number: String,
    pub name: String,
    pub members: String,
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    me: Me,
    nav: &'static str,
    error: String,
    display_name: String,
    email: String,
    phone: String,
    timezone: String,
    has_name: bool,
    devices: Vec<DeviceRow>,
    channels: Vec<Choice>,
    endpoints: Vec<Choice>,
    steps: Vec<StepRow>,
    quiet_on: bool,
    quiet_from: String,
    quiet_to: String,
    quiet_allow: Vec<String>,
    attach_audio: bool,
    senders: Vec<SenderRow>,
    contacts: Vec<ContactRow>,
    groups: Vec<GroupRow>,
    name_seconds: u32,
    /// What the defaults are, in words ("E-mail with a link").
    defaults: String,
}

/// What a channel is called on the page (a name this build does not know, as it is).
fn channel_label(channel: &str) -> &str {
    Channel::parse(channel).map_or(channel, |c| c.label())
}

fn summary(steps: &[Step]) -> String {
    if steps.is_empty() {
        return "nothing".into();
    }
    steps
        .iter()
        .map(|s| match s.after_secs {
            0 => channel_label(&s.channel).to_owned(),
            n => format!("{} after {} min", channel_label(&s.channel), n / 60),
        })
        .collect::<Vec<_>>()
        .join(", then ")
}

/// Everything the page shows, loaded in one go.
struct Loaded {
    user: users::User,
    devices: Vec<store::devices::Device>,
    accounts: Vec<store::devices::SipAccount>,
    registered: Vec<store::registrations::Registration>,
    profile: Profile,
    contacts: Vec<(users::User, Option<i32>)>,
    groups: Vec<(store::groups::Group, Vec<users::User>)>,
}

async fn load(state: &AppState, uid: UserId) -> Result<Loaded, PageError> {
    Ok(state
        .deps
        .store
        .run(move |c| {
            let user = users::find_by_id(c, &uid)?.ok_or(StoreError::NotFound("user"))?;
            let devices = store::devices::list_for_user(c, &uid)?;
            let accounts = store::devices::sip_accounts_of_user(c, &uid)?;
            let registered = store::registrations::of_user(c, &uid, store::now())?;
            let profile = profiles::find(c, &uid)?.unwrap_or_default();
            let contacts = store::groups::list_contacts(c, &uid)?;
            let groups = store::groups::list_owned(c, &uid)?
                .into_iter()
                .map(|g| {
                    let members = store::groups::list_members(c, &g.id)?;
                    Ok((g, members))
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(Loaded {
                user,
                devices,
                accounts,
                registered,
                profile,
                contacts,
                groups,
            })
        })
        .await?)
}

pub(super) async fn render(
    state: &AppState,
    me: &WebUser,
    status: StatusCode,
    error: String,
) -> Result<HttpResponse, PageError> {
    let l = load(state, me.user.user_id()).await?;
    let mut endpoints = vec![Choice {
        value: String::new(),
        label: "the usual address".into(),
    }];
    endpoints.extend(
        l.devices
            .iter()
            .filter(|d| d.verified_at.is_some())
            .map(|d| Choice {
                value: d.id.clone(),
                label: d.address.clone(),
            }),
    );
    let mut steps: Vec<StepRow> = l
        .profile
        .steps
        .iter()
        .map(|s| StepRow {
            channel: s.channel.clone(),
            device: s.endpoint.clone().unwrap_or_default(),
            delay_mins: (s.after_secs / 60).to_string(),
        })
        .collect();
    while steps.len() < STEP_ROWS {
        steps.push(StepRow {
            channel: String::new(),
            device: String::new(),
            delay_mins: String::new(),
        });
    }
    let quiet = l.profile.quiet.clone();
    let view = ProfilePage {
        me: me.me(),
        nav: "profile",
        error,
        display_name: l.user.display_name.clone(),
        email: l.user.email.clone().unwrap_or_default(),
        phone: l.user.phone_uri.clone().unwrap_or_default(),
        timezone: l.user.timezone.clone(),
        has_name: l.user.name_blob.is_some(),
        devices: l
            .devices
            .iter()
            .map(|d| {
                let account = l.accounts.iter().find(|a| a.device_id == d.id);
                let here: Vec<_> = l
                    .registered
                    .iter()
                    .filter(|r| r.device_id == d.id)
                    .collect();
                DeviceRow {
                    id: d.id.clone(),
                    kind: match d.kind.as_str() {
                        "email" => "E-mail",
                        "phone" => "Phone",
                        "sip" => "SIP",
                        "browser" => "Portal",
                        other => other,
                    }
                    .to_owned(),
                    address: d.address.clone(),
                    verified: d.verified_at.is_some(),
                    phone: store::devices::PHONE_KINDS.contains(&d.kind.as_str()),
                    sip_username: account
                        .and_then(|a| a.sip_username.clone())
                        .unwrap_or_default(),
                    trusted: account.is_some_and(|a| a.trusted),
                    mwi: account.is_some_and(|a| a.mwi_unsolicited),
                    registered: registered_words(&here, &l.user.timezone),
                }
            })
            .collect(),
        channels: Channel::ALL
            .into_iter()
            .map(|c| Choice {
                value: c.name().to_owned(),
                label: c.label().to_owned(),
            })
            .collect(),
        endpoints,
        steps,
        quiet_on: quiet.is_some(),
        quiet_from: quiet
            .as_ref()
            .map_or_else(|| "22:00".into(), |q| q.from.clone()),
        quiet_to: quiet
            .as_ref()
            .map_or_else(|| "07:00".into(), |q| q.to.clone()),
        quiet_allow: quiet.map_or_else(|| vec!["email".into()], |q| q.allow),
        attach_audio: l.profile.attach_audio,
        senders: l
            .profile
            .senders
            .iter()
            .map(|r| SenderRow {
                sender: r.sender.clone(),
                summary: summary(&r.steps),
            })
            .collect(),
        contacts: l
            .contacts
            .iter()
            .map(|(u, d)| ContactRow {
                name: u.display_name.clone(),
                extension: u.extension.clone(),
                speed_dial: d.map(|d| d.to_string()).unwrap_or_default(),
            })
            .collect(),
        groups: l
            .groups
            .iter()
            .map(|(g, members)| GroupRow {
                id: g.id.clone(),
                number: g.number.clone(),
                name: g.name.clone(),
                members: members
                    .iter()
                    .map(|m| m.extension.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
            .collect(),
        name_seconds: NAME_SECONDS,
        defaults: defaults_in_words(&state.default_channels),
    };
    Ok(page::html(status, &view))
}

/// The default channels as a person reads them: "E-mail with a link and Pop-up in the portal".
fn defaults_in_words(defaults: &[String]) -> String {
    let labels: Vec<&str> = defaults.iter().map(|c| channel_label(c)).collect();
    match labels.as_slice() {
        [] => "nothing (ask your administrator)".to_owned(),
        [one] => (*one).to_owned(),
        [first @ .., last] => format!("{} and {last}", first.join(", ")),
    }
}

/// Re-render with a refusal, or go back to the page after a change, which says what was done.
pub(super) async fn answer(
    state: &AppState,
    me: &WebUser,
    result: Result<&str, String>,
) -> Result<HttpResponse, PageError> {
    match result {
        Ok(done) => crate::forms::done(state, me, "/profile", done).await,
        Err(why) => render(state, me, StatusCode::UNPROCESSABLE_ENTITY, why).await,
    }
}

/// A store refusal a person can act on becomes their error message; the rest fail the page.
pub(super) fn refusal(e: StoreError) -> Result<String, PageError> {
    match e {
        StoreError::Conflict(m) | StoreError::Invalid(m) => Ok(m),
        e @ StoreError::NotFoundNumbers(_) => Ok(e.to_string()),
        e => Err(e.into()),
    }
}

#[get("/profile")]
pub(crate) async fn show(
    state: web::Data<AppState>,
    me: WebUser,
) -> Result<HttpResponse, PageError> {
    render(&state, &me, StatusCode::OK, String::new()).await
}

/// A phone number (`+15551234`, `tel:+1…`, digits) or a SIP URI, or why not.
pub(crate) fn check_phone(p: &str) -> Result<(), String> {
    let ok = if let Some(rest) = p.strip_prefix("sip:").or_else(|| p.strip_prefix("sips:")) {
        rest.contains('@')
            && rest.len() <= 200
            && !rest.chars().any(|c| c.is_whitespace() || c.is_control())
    } else {
        let digits = p.strip_prefix("tel:").unwrap_or(p);
        let digits = digits.strip_prefix('+').unwrap_or(digits);
        (3..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    };
    if ok {
        Ok(())
    } else {
        Err("A phone is a number like +15551234, or a SIP address like sip:me@example.org.".into())
    }
}

/// Where a phone is registered, in words: "Registered from 192.0.2.7:5060 (Yealink T54W) until
/// 2026-12-07 15:05 CET", one line per contact, or that it is not.
fn registered_words(here: &[&store::registrations::Registration], tz: &str) -> String {
    if here.is_empty() {
        return "Not registered.".into();
    }
    here.iter()
        .map(|r| {
            let from = r
                .source
                .split_once(':')
                .map_or(r.source.as_str(), |(_, a)| a);
            let agent = r
                .user_agent
                .as_deref()
                .map(|a| format!(" ({a})"))
                .unwrap_or_default();
            let until = crate::page::local_time(r.expires_at.and_utc(), tz);
            format!("Registered from {from}{agent} until {until}.")
        })
        .collect::<Vec<_>>()
        .join(" ")
}
