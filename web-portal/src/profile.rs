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
//! Every form posts back here with the session's CSRF token; a refusal re-renders the page
//! with the reason and a 422.

use crate::{
    AppState,
    login::CsrfOnly,
    page::{self, PageError},
    session::{Me, WebUser},
};
use actix_multipart::Multipart;
use actix_web::{HttpRequest, HttpResponse, get, http::StatusCode, post, web};
use askama::Template;
use futures_util::StreamExt;
use hark_core::{
    channel::Channel,
    events::{Command, Envelope, VerifyEmail},
    ids::UserId,
    profile::{Profile, QuietHours, SenderRule, Step},
    store::{self, StoreError, devices, groups, profiles, sessions, users},
};
use serde::Deserialize;

/// Rows of steps the form offers.
const STEP_ROWS: usize = 4;
/// Longest recorded name.
const NAME_SECONDS: u32 = 10;
/// How long a verification link works.
const VERIFY_HOURS: i64 = 48;
/// Most contacts one person keeps.
const MAX_CONTACTS: usize = 200;

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
    notice: String,
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
    devices: Vec<devices::Device>,
    profile: Profile,
    contacts: Vec<(users::User, Option<i32>)>,
    groups: Vec<(groups::Group, Vec<users::User>)>,
}

async fn load(state: &AppState, uid: UserId) -> Result<Loaded, PageError> {
    Ok(state
        .deps
        .store
        .run(move |c| {
            let user = users::find_by_id(c, &uid)?.ok_or(StoreError::NotFound("user"))?;
            let devices = devices::list_for_user(c, &uid)?;
            let profile = profiles::find(c, &uid)?.unwrap_or_default();
            let contacts = groups::list_contacts(c, &uid)?;
            let groups = groups::list_owned(c, &uid)?
                .into_iter()
                .map(|g| {
                    let members = groups::list_members(c, &g.id)?;
                    Ok((g, members))
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(Loaded {
                user,
                devices,
                profile,
                contacts,
                groups,
            })
        })
        .await?)
}

async fn render(
    state: &AppState,
    me: &WebUser,
    status: StatusCode,
    error: String,
    notice: String,
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
        notice,
        display_name: l.user.display_name.clone(),
        email: l.user.email.clone().unwrap_or_default(),
        phone: l.user.phone_uri.clone().unwrap_or_default(),
        timezone: l.user.timezone.clone(),
        has_name: l.user.name_blob.is_some(),
        devices: l
            .devices
            .iter()
            .map(|d| DeviceRow {
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
    };
    Ok(page::html(status, &view))
}

/// Re-render with a refusal, or go back to the page after a change.
async fn answer(
    state: &AppState,
    me: &WebUser,
    result: Result<(), String>,
) -> Result<HttpResponse, PageError> {
    match result {
        Ok(()) => Ok(page::see_other("/profile")),
        Err(why) => {
            render(
                state,
                me,
                StatusCode::UNPROCESSABLE_ENTITY,
                why,
                String::new(),
            )
            .await
        }
    }
}

/// A store refusal a person can act on becomes their error message; the rest fail the page.
fn refusal(e: StoreError) -> Result<String, PageError> {
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
    render(&state, &me, StatusCode::OK, String::new(), String::new()).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct DetailsForm {
    #[serde(default)]
    csrf: String,
    display_name: String,
    #[serde(default)]
    phone: String,
    timezone: String,
}

/// A phone number (`+15551234`, `tel:+1…`, digits) or a SIP URI, or why not.
fn check_phone(p: &str) -> Result<(), String> {
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

#[post("/profile/details")]
pub(crate) async fn details(
    state: web::Data<AppState>,
    me: WebUser,
    form: web::Form<DetailsForm>,
) -> Result<HttpResponse, PageError> {
    me.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let name = form.display_name.trim().to_owned();
    let phone = form.phone.trim().to_owned();
    let tz = form.timezone.trim().to_owned();
    let problem = if name.is_empty() || name.chars().count() > 80 {
        Err("Your name is 1 to 80 characters.".to_owned())
    } else if tz.parse::<chrono_tz::Tz>().is_err() {
        Err(format!(
            "{tz:?} is not a timezone; use a name like Europe/Berlin."
        ))
    } else if !phone.is_empty() {
        check_phone(&phone)
    } else {
        Ok(())
    };
    if problem.is_err() {
        return answer(&state, &me, problem).await;
    }
    let uid = me.user.user_id();
    let update = users::UserUpdateForm {
        display_name: name,
        email: me.user.email.clone(),
        phone_uri: (!phone.is_empty()).then_some(phone),
        timezone: tz,
    };
    state
        .deps
        .store
        .run(move |c| users::update(c, &uid, &update))
        .await?;
    answer(&state, &me, Ok(())).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct DeviceForm {
    #[serde(default)]
    csrf: String,
    kind: String,
    #[serde(default)]
    address: String,
}

/// Worth sending a verification link to: `local@domain.tld`, no spaces or angle brackets
/// (the mail relay has the final word).
fn plausible_email(a: &str) -> bool {
    let Some((local, domain)) = a.rsplit_once('@') else {
        return false;
    };
    a.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !a
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"".contains(c))
        && !domain.contains('@')
}

/// Add a device. An e-mail address gets a verification link and is used once it is opened;
/// a phone or SIP URI is mine to be called on at once; "portal" is my open tabs.
#[post("/profile/devices")]
pub(crate) async fn add_device(
    state: web::Data<AppState>,
    me: WebUser,
    form: web::Form<DeviceForm>,
) -> Result<HttpResponse, PageError> {
    me.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let address = form.address.trim().to_owned();
    let checked = match form.kind.as_str() {
        "email" => {
            if plausible_email(&address) {
                Ok(())
            } else {
                Err(format!("{address:?} is not an e-mail address."))
            }
        }
        "phone" | "sip" => check_phone(&address),
        "browser" => Ok(()),
        _ => Err("Choose what kind of device it is.".to_owned()),
    };
    if checked.is_err() {
        return answer(&state, &me, checked).await;
    }
    let address = if form.kind == "browser" {
        "portal".to_owned()
    } else {
        address
    };
    let token = (form.kind == "email").then(sessions::random_token);
    let hash = token.as_deref().map(devices::token_hash);
    let (uid, kind, public) = (
        me.user.user_id(),
        form.kind.clone(),
        state.public_url.clone(),
    );
    let added = state
        .deps
        .store
        .transaction(move |c| {
            let d = devices::add(c, &uid, &kind, &address, hash.as_deref())?;
            if let Some(token) = token {
                store::outbox::enqueue_command(
                    c,
                    &Envelope::new(Command::VerifyEmail(VerifyEmail {
                        user_id: uid.clone(),
                        address: d.address.clone(),
                        link: format!("{public}/verify/{}/{token}", d.id),
                    })),
                )?;
            }
            Ok(d)
        })
        .await;
    match added {
        Ok(d) => {
            state.deps.outbox.notify();
            if d.kind == "email" {
                return render(
                    &state,
                    &me,
                    StatusCode::OK,
                    String::new(),
                    format!(
                        "We sent a link to {}. Open it to start receiving messages there.",
                        d.address
                    ),
                )
                .await;
            }
            answer(&state, &me, Ok(())).await
        }
        Err(e) => answer(&state, &me, Err(refusal(e)?)).await,
    }
}

#[post("/profile/devices/{id}/delete")]
pub(crate) async fn delete_device(
    state: web::Data<AppState>,
    me: WebUser,
    id: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    me.check_csrf(&form.csrf)?;
    let (uid, id) = (me.user.user_id(), id.into_inner());
    let gone = state
        .deps
        .store
        .run(move |c| devices::delete(c, &uid, &id))
        .await?;
    if !gone {
        return Err(PageError::NotFound);
    }
    answer(&state, &me, Ok(())).await
}

#[derive(Template)]
#[template(path = "verify.html")]
struct VerifyPage {
    action: String,
    address: String,
    done: bool,
}

/// The link from the verification e-mail: a page with one button, so that mail scanners
/// fetching links do not verify on the person's behalf.
#[get("/verify/{id}/{token}")]
pub(crate) async fn verify_page(path: web::Path<(String, String)>) -> HttpResponse {
    let (id, token) = path.into_inner();
    page::ok(&VerifyPage {
        action: format!("/verify/{id}/{token}"),
        address: String::new(),
        done: false,
    })
}

#[post("/verify/{id}/{token}")]
pub(crate) async fn verify(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let (id, token) = path.into_inner();
    if token.len() > 100 || id.len() > 100 {
        return Err(PageError::NotFound);
    }
    let hash = devices::token_hash(&token);
    let verified = state
        .deps
        .store
        .run(move |c| devices::verify(c, &id, &hash, chrono::Duration::hours(VERIFY_HOURS)))
        .await?;
    match verified {
        Some(d) => {
            tracing::info!(user = %d.user_id, "e-mail device verified");
            Ok(page::ok(&VerifyPage {
                action: String::new(),
                address: d.address,
                done: true,
            }))
        }
        None => Err(PageError::Unprocessable(
            "This link is not valid: it may have expired or been used for an address that was \
             removed. Add the address again on your profile to get a new one."
                .into(),
        )),
    }
}

/// Form pairs → a value list for `key`.
fn all<'a>(pairs: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

fn one<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    all(pairs, key).first().copied().unwrap_or_default()
}

/// Steps from parallel `channel`/`device`/`delay` lists; blank channels are skipped.
fn steps_from(pairs: &[(String, String)], prefix: &str) -> Result<Vec<Step>, String> {
    let channels = all(pairs, &format!("{prefix}channel"));
    let devices = all(pairs, &format!("{prefix}device"));
    let delays = all(pairs, &format!("{prefix}delay"));
    let mut steps = Vec::new();
    for (i, channel) in channels
        .iter()
        .enumerate()
        .take(hark_core::profile::MAX_STEPS + 1)
    {
        if channel.is_empty() {
            continue;
        }
        let delay = delays.get(i).map(|d| d.trim()).unwrap_or_default();
        let mins: u32 = if delay.is_empty() {
            0
        } else {
            delay
                .parse()
                .map_err(|_| format!("{delay:?} is not a number of minutes."))?
        };
        let device = devices.get(i).copied().unwrap_or_default();
        steps.push(Step {
            channel: (*channel).to_owned(),
            after_secs: mins.saturating_mul(60),
            endpoint: (!device.is_empty()).then(|| device.to_owned()),
            give_up_after_secs: None,
        });
    }
    Ok(steps)
}

/// Check and store a new profile made from the stored one by `change`.
async fn save_profile(
    state: &AppState,
    me: &WebUser,
    change: impl FnOnce(&mut Profile) + Send + 'static,
) -> Result<Result<(), String>, PageError> {
    let uid = me.user.user_id();
    let saved = state
        .deps
        .store
        .transaction(move |c| {
            let mut p = profiles::find(c, &uid)?.unwrap_or_default();
            change(&mut p);
            let mine: Vec<String> = devices::list_for_user(c, &uid)?
                .into_iter()
                .filter(|d| d.verified_at.is_some())
                .map(|d| d.id)
                .collect();
            if let Err(e) = p.validate(&mine) {
                return Err(StoreError::Invalid(e.to_string()));
            }
            profiles::put(c, &uid, &p)
        })
        .await;
    match saved {
        Ok(()) => Ok(Ok(())),
        Err(e) => Ok(Err(refusal(e)?)),
    }
}

fn csrf_of(me: &WebUser, pairs: &[(String, String)]) -> Result<(), PageError> {
    me.check_csrf(one(pairs, "csrf"))
}

/// Steps, quiet hours (pairs: repeated `channel`/`device`/`delay`, `quiet`, `quiet_from`,
/// `quiet_to`, repeated `quiet_allow`).
#[post("/profile/delivery")]
pub(crate) async fn delivery(
    state: web::Data<AppState>,
    me: WebUser,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let pairs = form.into_inner();
    csrf_of(&me, &pairs)?;
    let steps = match steps_from(&pairs, "") {
        Ok(s) => s,
        Err(why) => return answer(&state, &me, Err(why)).await,
    };
    let quiet = (one(&pairs, "quiet") == "on").then(|| QuietHours {
        from: one(&pairs, "quiet_from").trim().to_owned(),
        to: one(&pairs, "quiet_to").trim().to_owned(),
        allow: all(&pairs, "quiet_allow")
            .into_iter()
            .map(str::to_owned)
            .collect(),
    });
    let attach = one(&pairs, "attach") == "on";
    let result = save_profile(&state, &me, move |p| {
        p.steps = steps;
        p.quiet = quiet;
        p.attach_audio = attach;
    })
    .await?;
    answer(&state, &me, result).await
}

/// Add (or replace) the rule for one sender: pairs `sender`, then steps as in `delivery`.
#[post("/profile/senders")]
pub(crate) async fn add_sender(
    state: web::Data<AppState>,
    me: WebUser,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, PageError> {
    let pairs = form.into_inner();
    csrf_of(&me, &pairs)?;
    let sender = one(&pairs, "sender").trim().to_owned();
    let steps = match steps_from(&pairs, "") {
        Ok(s) => s,
        Err(why) => return answer(&state, &me, Err(why)).await,
    };
    let s2 = sender.clone();
    let known = state
        .deps
        .store
        .run(move |c| users::find_by_extension(c, &s2))
        .await?
        .is_some();
    if !known {
        return answer(
            &state,
            &me,
            Err(format!("There is nobody with extension {sender:?}.")),
        )
        .await;
    }
    let result = save_profile(&state, &me, move |p| {
        p.senders.retain(|r| r.sender != sender);
        p.senders.push(SenderRule { sender, steps });
    })
    .await?;
    answer(&state, &me, result).await
}

#[post("/profile/senders/{sender}/delete")]
pub(crate) async fn delete_sender(
    state: web::Data<AppState>,
    me: WebUser,
    sender: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    me.check_csrf(&form.csrf)?;
    let sender = sender.into_inner();
    let result = save_profile(&state, &me, move |p| {
        p.senders.retain(|r| r.sender != sender)
    })
    .await?;
    answer(&state, &me, result).await
}

/// My recorded name: a file (or the browser's recording) up to `NAME_SECONDS`.
#[post("/profile/name")]
pub(crate) async fn upload_name(
    state: web::Data<AppState>,
    me: WebUser,
    req: HttpRequest,
    mut form: Multipart,
) -> Result<HttpResponse, PageError> {
    let limit = state.config.max_upload_bytes;
    let mut csrf = String::new();
    let mut bytes = Vec::new();
    let mut fields = 0;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|e| PageError::BadRequest(e.to_string()))?;
        fields += 1;
        if fields > 4 {
            return Err(PageError::BadRequest("too many form fields".into()));
        }
        let name = field.name().unwrap_or_default().to_owned();
        let mut buf = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| PageError::BadRequest(e.to_string()))?;
            if buf.len() + chunk.len() > limit {
                return Err(PageError::TooLarge(limit));
            }
            buf.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "csrf" => csrf = String::from_utf8_lossy(&buf).into_owned(),
            "audio" => bytes = buf,
            _ => {}
        }
    }
    if csrf.is_empty() {
        csrf = req
            .headers()
            .get("X-CSRF-Token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
    }
    me.check_csrf(&csrf)?;
    if bytes.is_empty() {
        return answer(&state, &me, Err("Record or choose a file first.".into())).await;
    }
    let decoded = state.decoder.normalize_upload(bytes, NAME_SECONDS).await;
    let recording = match decoded {
        Ok(r) => r,
        Err(e) => {
            let e = PageError::from(e);
            let status = actix_web::ResponseError::status_code(&e);
            return render(&state, &me, status, e.to_string(), String::new()).await;
        }
    };
    let key = state.deps.blobs.put(recording.wav).await?;
    let (uid, k2) = (me.user.user_id(), key.clone());
    let previous = state
        .deps
        .store
        .run(move |c| users::set_name_blob(c, &uid, Some(&k2)))
        .await;
    match previous {
        Ok(Some(old)) => {
            if let Err(e) = state.deps.blobs.delete(&old).await {
                tracing::warn!(error = %e, "could not remove the old name recording");
            }
        }
        Ok(None) => {}
        Err(e) => {
            let _ = state.deps.blobs.delete(&key).await;
            return Err(e.into());
        }
    }
    answer(&state, &me, Ok(())).await
}

/// Hear my recorded name.
#[get("/profile/name.wav")]
pub(crate) async fn name_audio(
    state: web::Data<AppState>,
    me: WebUser,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let uid = me.user.user_id();
    let user = state
        .deps
        .store
        .run(move |c| users::find_by_id(c, &uid))
        .await?
        .ok_or(PageError::NotFound)?;
    let key = user.name_blob.ok_or(PageError::NotFound)?;
    let wav = state.deps.blobs.get(&key).await?;
    let range = crate::audio_http::parse_range(&req, wav.len());
    Ok(crate::audio_http::respond(range, wav, "audio/wav"))
}

#[post("/profile/name/delete")]
pub(crate) async fn delete_name(
    state: web::Data<AppState>,
    me: WebUser,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    me.check_csrf(&form.csrf)?;
    let uid = me.user.user_id();
    let previous = state
        .deps
        .store
        .run(move |c| users::set_name_blob(c, &uid, None))
        .await?;
    if let Some(old) = previous
        && let Err(e) = state.deps.blobs.delete(&old).await
    {
        tracing::warn!(error = %e, "could not remove a name recording");
    }
    answer(&state, &me, Ok(())).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct ContactForm {
    #[serde(default)]
    csrf: String,
    extension: String,
    #[serde(default)]
    speed_dial: String,
}

/// Add a contact or change their speed dial.
#[post("/profile/contacts")]
pub(crate) async fn set_contact(
    state: web::Data<AppState>,
    me: WebUser,
    form: web::Form<ContactForm>,
) -> Result<HttpResponse, PageError> {
    me.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let dial = form.speed_dial.trim();
    let dial: Option<i32> = if dial.is_empty() {
        None
    } else {
        match dial.parse() {
            Ok(d) => Some(d),
            Err(_) => {
                return answer(
                    &state,
                    &me,
                    Err("A speed dial is one digit, 0 to 9.".into()),
                )
                .await;
            }
        }
    };
    let ext = form.extension.trim().to_owned();
    let uid = me.user.user_id();
    let result = state
        .deps
        .store
        .transaction(move |c| {
            let Some(contact) = users::find_by_extension(c, &ext)? else {
                return Err(StoreError::Invalid(format!(
                    "There is nobody with extension {ext:?}."
                )));
            };
            if groups::list_contacts(c, &uid)?.len() >= MAX_CONTACTS
                && !groups::list_contacts(c, &uid)?
                    .iter()
                    .any(|(u, _)| u.id == contact.id)
            {
                return Err(StoreError::Invalid(format!(
                    "At most {MAX_CONTACTS} contacts."
                )));
            }
            groups::set_contact(c, &uid, &contact.user_id(), dial)
        })
        .await;
    match result {
        Ok(()) => answer(&state, &me, Ok(())).await,
        Err(e) => answer(&state, &me, Err(refusal(e)?)).await,
    }
}

#[post("/profile/contacts/{extension}/delete")]
pub(crate) async fn delete_contact(
    state: web::Data<AppState>,
    me: WebUser,
    ext: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    me.check_csrf(&form.csrf)?;
    let (uid, ext) = (me.user.user_id(), ext.into_inner());
    let gone = state
        .deps
        .store
        .run(move |c| match users::find_by_extension(c, &ext)? {
            Some(u) => groups::remove_contact(c, &uid, &u.user_id()),
            None => Ok(false),
        })
        .await?;
    if !gone {
        return Err(PageError::NotFound);
    }
    answer(&state, &me, Ok(())).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct GroupForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    number: String,
    name: String,
    #[serde(default)]
    members: String,
}

/// Extensions → people, or which are unknown.
fn members_of(c: &mut store::DbConnection, list: &str) -> Result<Vec<UserId>, StoreError> {
    let mut out = Vec::new();
    let mut unknown = Vec::new();
    for ext in list
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .take(500)
    {
        match users::find_by_extension(c, ext)? {
            Some(u) if !out.contains(&u.user_id()) => out.push(u.user_id()),
            Some(_) => {}
            None => unknown.push(ext.to_owned()),
        }
    }
    if unknown.is_empty() {
        Ok(out)
    } else {
        Err(StoreError::NotFoundNumbers(unknown))
    }
}

/// Make a group with a dialable number.
#[post("/profile/groups")]
pub(crate) async fn create_group(
    state: web::Data<AppState>,
    me: WebUser,
    form: web::Form<GroupForm>,
) -> Result<HttpResponse, PageError> {
    me.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let (number, name) = (form.number.trim().to_owned(), form.name.trim().to_owned());
    if name.is_empty() || name.chars().count() > 80 {
        return answer(
            &state,
            &me,
            Err("Name the group (up to 80 characters).".into()),
        )
        .await;
    }
    let uid = me.user.user_id();
    let result = state
        .deps
        .store
        .transaction(move |c| {
            let members = members_of(c, &form.members)?;
            let g = groups::create(c, &number, &name, Some(&uid)).map_err(|e| match e {
                StoreError::Conflict(m) => StoreError::Conflict(m),
                StoreError::Query(_) | StoreError::Connection(_) | StoreError::Task(_) => e,
                other => StoreError::Invalid(format!("A group number is 2 to 8 digits ({other}).")),
            })?;
            groups::set_members(c, &g.id, &members)
        })
        .await;
    match result {
        Ok(()) => answer(&state, &me, Ok(())).await,
        Err(e) => answer(&state, &me, Err(refusal(e)?)).await,
    }
}

/// Rename a group of mine or change its members.
#[post("/profile/groups/{id}")]
pub(crate) async fn update_group(
    state: web::Data<AppState>,
    me: WebUser,
    id: web::Path<String>,
    form: web::Form<GroupForm>,
) -> Result<HttpResponse, PageError> {
    me.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let name = form.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 80 {
        return answer(
            &state,
            &me,
            Err("Name the group (up to 80 characters).".into()),
        )
        .await;
    }
    let (uid, id) = (me.user.user_id(), id.into_inner());
    let result = state
        .deps
        .store
        .transaction(move |c| {
            let g = groups::find_owned(c, &uid, &id)?.ok_or(StoreError::NotFound("group"))?;
            let members = members_of(c, &form.members)?;
            groups::rename(c, &g.id, &name)?;
            groups::set_members(c, &g.id, &members)
        })
        .await;
    match result {
        Ok(()) => answer(&state, &me, Ok(())).await,
        Err(e) => answer(&state, &me, Err(refusal(e)?)).await,
    }
}

#[post("/profile/groups/{id}/delete")]
pub(crate) async fn delete_group(
    state: web::Data<AppState>,
    me: WebUser,
    id: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    me.check_csrf(&form.csrf)?;
    let (uid, id) = (me.user.user_id(), id.into_inner());
    state
        .deps
        .store
        .transaction(move |c| {
            let g = groups::find_owned(c, &uid, &id)?.ok_or(StoreError::NotFound("group"))?;
            groups::delete(c, &g.id)
        })
        .await?;
    answer(&state, &me, Ok(())).await
}
