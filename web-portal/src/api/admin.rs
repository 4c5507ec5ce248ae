//! The administration API (an admin's token scoped `admin`): what `/admin` and a person's
//! profile page do, for provisioning scripts.
//!
//! - People: `GET|POST /api/v1/admin/users`, `GET|PATCH /api/v1/admin/users/{extension}`
//!   (name, e-mail, timezone, a new password or PIN, admin, disabled — disabling ends their
//!   sessions and tokens at once).
//! - Their devices: `GET|POST …/users/{extension}/devices`, `PATCH|DELETE …/devices/{id}`
//!   (the address), `PUT|DELETE …/devices/{id}/sip` (a phone's sign-in: username, password,
//!   trusted, unsolicited lamp). A device an admin adds is verified at once: the admin vouches
//!   for the address, no link is mailed.
//! - Their delivery rules: `GET|PUT …/users/{extension}/delivery` (steps, quiet hours, sender
//!   rules, attaching the recording), checked as the profile page checks them.
//! - Groups: `GET|POST /api/v1/admin/groups`, `PATCH|DELETE /api/v1/admin/groups/{number}`,
//!   `PUT|DELETE …/groups/{number}/members/{extension}`.

use super::{
    Body, GroupChange, NewGroup, create_group_for, delete_group_as, group_json, time,
    update_group_as,
};
use crate::{AppState, auth::ApiAdmin, error::ApiError};
use actix_web::{HttpResponse, delete, get, http::header, patch, post, put, web};
use hark_core::{
    password,
    profile::{Profile, QuietHours, SenderRule, Step},
    store::{self, DbConnection, StoreError, devices, groups, profiles, registrations, users},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub(crate) fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.service(list_users)
        .service(create_user)
        .service(get_user)
        .service(update_user)
        .service(list_devices)
        .service(add_device)
        .service(update_device)
        .service(delete_device)
        .service(set_sip)
        .service(clear_sip)
        .service(get_delivery)
        .service(put_delivery)
        .service(list_groups)
        .service(new_group)
        .service(update_group)
        .service(delete_group)
        .service(add_member)
        .service(remove_member);
}

fn user_json(u: &users::User) -> Value {
    json!({
        "extension": u.extension,
        "name": u.display_name,
        "email": u.email,
        "timezone": u.timezone,
        "admin": u.is_admin(),
        "disabled": u.is_disabled(),
        "locked": u.login_locked() || u.pin_locked(),
        "has_password": u.password_hash.is_some(),
        "has_pin": u.pin_hash.is_some(),
        "created_at": time(u.created_at),
    })
}

/// The person with `extension` (not removed); the answer is 404 otherwise.
fn person(c: &mut DbConnection, extension: &str) -> Result<Option<users::User>, StoreError> {
    Ok(users::find_by_extension(c, extension)?.filter(|u| !u.is_removed()))
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.chars().count() > 80 {
        return Err(ApiError::field("name", "a name is 1 to 80 characters"));
    }
    Ok(())
}

fn check_email(email: &str) -> Result<(), ApiError> {
    if !crate::profile::plausible_email(email) {
        return Err(ApiError::field(
            "email",
            format!("{email:?} is not an e-mail address"),
        ));
    }
    Ok(())
}

fn check_password(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < 10 {
        return Err(ApiError::field(
            "password",
            "a password is at least 10 characters",
        ));
    }
    Ok(())
}

fn check_pin(pin: &str) -> Result<(), ApiError> {
    if !((4..=8).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit())) {
        return Err(ApiError::field("pin", "a PIN is 4 to 8 digits"));
    }
    Ok(())
}

fn check_timezone(tz: &str) -> Result<(), ApiError> {
    if tz.parse::<chrono_tz::Tz>().is_err() {
        return Err(ApiError::field(
            "timezone",
            format!("{tz:?} is not a timezone; use a name like Europe/Berlin"),
        ));
    }
    Ok(())
}

/// Hash secrets off the async threads (Argon2 is slow on purpose).
async fn hash(secret: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(secret) = secret else {
        return Ok(None);
    };
    tokio::task::spawn_blocking(move || password::hash(&secret))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map(Some)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

#[get("/api/v1/admin/users")]
pub(crate) async fn list_users(
    state: web::Data<AppState>,
    _admin: ApiAdmin,
) -> Result<HttpResponse, ApiError> {
    let all = state.deps.store.run(users::list).await?;
    let list: Vec<Value> = all
        .iter()
        .filter(|u| !u.is_removed())
        .map(user_json)
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "users": list })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUser {
    extension: String,
    name: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    pin: Option<String>,
    #[serde(default)]
    admin: bool,
    #[serde(default)]
    timezone: Option<String>,
}

#[post("/api/v1/admin/users")]
pub(crate) async fn create_user(
    state: web::Data<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Body(body): Body<NewUser>,
) -> Result<HttpResponse, ApiError> {
    let ext = body.extension.trim().to_owned();
    if users::validate_extension(&ext).is_err() {
        return Err(ApiError::field(
            "extension",
            "an extension is 2 to 8 digits",
        ));
    }
    let name = body.name.trim().to_owned();
    check_name(&name)?;
    let email = body
        .email
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty());
    if let Some(e) = &email {
        check_email(e)?;
    }
    if let Some(p) = &body.password {
        check_password(p)?;
    }
    if let Some(p) = &body.pin {
        check_pin(p)?;
    }
    if body.password.is_none() && body.pin.is_none() {
        return Err(ApiError::field(
            "password",
            "give a password (portal), a PIN (phone), or both",
        ));
    }
    if let Some(tz) = &body.timezone {
        check_timezone(tz)?;
    }
    let (password_hash, pin_hash) = (hash(body.password).await?, hash(body.pin).await?);
    let form = users::UserInsertForm {
        extension: ext,
        display_name: name,
        email,
        phone_uri: None,
        pin_hash,
        password_hash,
        admin: body.admin,
    };
    let timezone = body.timezone;
    let made = state
        .deps
        .store
        .transaction(move |c| {
            if users::find_by_extension(c, &form.extension)?.is_some()
                || groups::find_by_number(c, &form.extension)?.is_some()
            {
                return Ok(Err(ApiError::field(
                    "extension",
                    format!("extension {} is taken", form.extension),
                )));
            }
            let u = users::create(c, form)?;
            if let Some(tz) = timezone {
                users::update(
                    c,
                    &u.user_id(),
                    &users::UserUpdateForm {
                        display_name: u.display_name.clone(),
                        email: u.email.clone(),
                        phone_uri: None,
                        timezone: tz,
                    },
                )?;
            }
            Ok(Ok(users::find_by_id(c, &u.user_id())?.unwrap_or(u)))
        })
        .await??;
    tracing::info!(by = %admin.extension, extension = %made.extension, "user created over the API");
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/admin/users/{}", made.extension),
        ))
        .json(user_json(&made)))
}

#[get("/api/v1/admin/users/{extension}")]
pub(crate) async fn get_user(
    state: web::Data<AppState>,
    _admin: ApiAdmin,
    ext: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ext = ext.into_inner();
    let answer = state
        .deps
        .store
        .run(move |c| {
            let Some(u) = person(c, &ext)? else {
                return Ok(None);
            };
            let mut v = user_json(&u);
            v["devices"] = json!(devices_json(c, &u)?);
            v["delivery"] = delivery_json(c, &u)?;
            Ok(Some(v))
        })
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(answer))
}

/// A change to someone: only what is given changes (`"email": null` removes the address).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserChange {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    email: Option<Option<String>>,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    pin: Option<String>,
    #[serde(default)]
    admin: Option<bool>,
    #[serde(default)]
    disabled: Option<bool>,
}

/// A field that is present, even as `null` (absent stays `None` through `default`).
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

#[patch("/api/v1/admin/users/{extension}")]
pub(crate) async fn update_user(
    state: web::Data<AppState>,
    ApiAdmin(admin): ApiAdmin,
    ext: web::Path<String>,
    Body(body): Body<UserChange>,
) -> Result<HttpResponse, ApiError> {
    let ext = ext.into_inner();
    if let Some(n) = &body.name {
        check_name(n.trim())?;
    }
    if let Some(Some(e)) = &body.email {
        check_email(e.trim())?;
    }
    if let Some(tz) = &body.timezone {
        check_timezone(tz)?;
    }
    if let Some(p) = &body.password {
        check_password(p)?;
    }
    if let Some(p) = &body.pin {
        check_pin(p)?;
    }
    if ext == admin.extension && (body.disabled == Some(true) || body.admin == Some(false)) {
        return Err(ApiError::field(
            if body.disabled == Some(true) {
                "disabled"
            } else {
                "admin"
            },
            "you cannot disable yourself or take away your own admin rights",
        ));
    }
    let (password_hash, pin_hash) = (hash(body.password).await?, hash(body.pin).await?);
    let new_password = password_hash.is_some();
    let UserChange {
        name,
        email,
        timezone,
        admin: make_admin,
        disabled,
        ..
    } = body;
    let changed = state
        .deps
        .store
        .transaction(move |c| {
            let Some(u) = person(c, &ext)? else {
                return Ok(None);
            };
            let id = u.user_id();
            users::update(
                c,
                &id,
                &users::UserUpdateForm {
                    display_name: name.map_or(u.display_name.clone(), |n| n.trim().to_owned()),
                    email: match email {
                        Some(e) => e.map(|e| e.trim().to_owned()).filter(|e| !e.is_empty()),
                        None => u.email.clone(),
                    },
                    phone_uri: u.phone_uri.clone(),
                    timezone: timezone.unwrap_or_else(|| u.timezone.clone()),
                },
            )?;
            if let Some(hash) = &password_hash {
                users::set_password_hash(c, &id, hash)?;
                store::sessions::delete_for_user(c, &id, None)?;
            }
            if let Some(hash) = &pin_hash {
                users::set_pin_hash(c, &id, Some(hash))?;
                users::reset_pin_failures(c, &id)?;
            }
            if let Some(a) = make_admin {
                users::set_admin(c, &id, a)?;
            }
            if let Some(d) = disabled {
                users::set_disabled(c, &id, d)?;
            }
            users::find_by_id(c, &id)
        })
        .await?
        .ok_or(ApiError::NotFound)?;
    if new_password || disabled == Some(true) {
        state.hub.sessions_ended(&changed.id);
    }
    tracing::info!(by = %admin.extension, extension = %changed.extension, "user changed over the API");
    Ok(HttpResponse::Ok().json(user_json(&changed)))
}

fn device_json(
    c: &mut DbConnection,
    d: &devices::Device,
    user: &users::User,
) -> Result<Value, StoreError> {
    let mut v = json!({
        "id": d.id,
        "kind": d.kind,
        "address": d.address,
        "verified": d.verified_at.is_some(),
        "sip": Value::Null,
    });
    if devices::PHONE_KINDS.contains(&d.kind.as_str())
        && let Some(sip) = devices::sip_account_of(c, &user.user_id(), &d.id)?
        && let Some(username) = &sip.sip_username
    {
        let registered: Vec<Value> = registrations::of_device(c, &d.id, store::now())?
            .iter()
            .map(|r| {
                json!({
                    "contact": r.contact,
                    "source": r.source,
                    "user_agent": r.user_agent,
                    "expires_at": time(r.expires_at),
                })
            })
            .collect();
        v["sip"] = json!({
            "username": username,
            "trusted": sip.trusted,
            "mwi_unsolicited": sip.mwi_unsolicited,
            "registered": registered,
        });
    }
    Ok(v)
}

fn devices_json(c: &mut DbConnection, u: &users::User) -> Result<Vec<Value>, StoreError> {
    devices::list_for_user(c, &u.user_id())?
        .iter()
        .map(|d| device_json(c, d, u))
        .collect()
}

#[get("/api/v1/admin/users/{extension}/devices")]
pub(crate) async fn list_devices(
    state: web::Data<AppState>,
    _admin: ApiAdmin,
    ext: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ext = ext.into_inner();
    let list = state
        .deps
        .store
        .run(move |c| match person(c, &ext)? {
            Some(u) => devices_json(c, &u).map(Some),
            None => Ok(None),
        })
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(json!({ "devices": list })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewDevice {
    kind: String,
    #[serde(default)]
    address: String,
}

/// What a device of `kind` may be at `address`; the portal's own tab is `portal`.
fn check_address(kind: &str, address: &str) -> Result<String, ApiError> {
    match kind {
        "email" => check_email(address).map(|()| address.to_owned()),
        "phone" | "sip" => crate::profile::check_phone(address)
            .map(|()| address.to_owned())
            .map_err(|why| ApiError::field("address", why)),
        "browser" => Ok("portal".into()),
        _ => Err(ApiError::field(
            "kind",
            "a device is one of email, phone, sip, browser",
        )),
    }
}

#[post("/api/v1/admin/users/{extension}/devices")]
pub(crate) async fn add_device(
    state: web::Data<AppState>,
    _admin: ApiAdmin,
    ext: web::Path<String>,
    Body(body): Body<NewDevice>,
) -> Result<HttpResponse, ApiError> {
    let address = check_address(&body.kind, body.address.trim())?;
    let (ext, kind) = (ext.into_inner(), body.kind);
    let made = state
        .deps
        .store
        .transaction(move |c| {
            let Some(u) = person(c, &ext)? else {
                return Ok(Err(ApiError::NotFound));
            };
            match devices::add(c, &u.user_id(), &kind, &address, None) {
                Ok(d) => device_json(c, &d, &u).map(|v| Ok((u.extension, v))),
                Err(StoreError::Conflict(_)) => Ok(Err(ApiError::field(
                    "address",
                    format!("they already have {address}"),
                ))),
                Err(e) => Err(e),
            }
        })
        .await??;
    let (ext, device) = made;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!(
                "/api/v1/admin/users/{ext}/devices/{}",
                device["id"].as_str().unwrap_or_default()
            ),
        ))
        .json(device))
}

/// Someone's device, found by both: another person's device id is not found.
fn their_device(
    c: &mut DbConnection,
    ext: &str,
    id: &str,
) -> Result<Option<(users::User, devices::Device)>, StoreError> {
    let Some(u) = person(c, ext)? else {
        return Ok(None);
    };
    Ok(devices::find_for_user(c, &u.user_id(), id)?.map(|d| (u, d)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeviceChange {
    address: String,
}

#[patch("/api/v1/admin/users/{extension}/devices/{id}")]
pub(crate) async fn update_device(
    state: web::Data<AppState>,
    _admin: ApiAdmin,
    path: web::Path<(String, String)>,
    Body(body): Body<DeviceChange>,
) -> Result<HttpResponse, ApiError> {
    let (ext, id) = path.into_inner();
    let address = body.address.trim().to_owned();
    let changed = state
        .deps
        .store
        .transaction(move |c| {
            let Some((u, d)) = their_device(c, &ext, &id)? else {
                return Ok(Err(ApiError::NotFound));
            };
            let address = match check_address(&d.kind, &address) {
                Ok(a) => a,
                Err(e) => return Ok(Err(e)),
            };
            match devices::set_address(c, &u.user_id(), &id, &address) {
                Ok(_) => {}
                Err(StoreError::Conflict(m)) => return Ok(Err(ApiError::field("address", m))),
                Err(e) => return Err(e),
            }
            let d = devices::find_for_user(c, &u.user_id(), &id)?
                .ok_or(StoreError::NotFound("device"))?;
            device_json(c, &d, &u).map(Ok)
        })
        .await??;
    Ok(HttpResponse::Ok().json(changed))
}

#[delete("/api/v1/admin/users/{extension}/devices/{id}")]
pub(crate) async fn delete_device(
    state: web::Data<AppState>,
    _admin: ApiAdmin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (ext, id) = path.into_inner();
    let gone = state
        .deps
        .store
        .transaction(move |c| match their_device(c, &ext, &id)? {
            Some((u, d)) => devices::delete(c, &u.user_id(), &d.id),
            None => Ok(false),
        })
        .await?;
    if !gone {
        return Err(ApiError::NotFound);
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SipBody {
    username: String,
    password: String,
    #[serde(default)]
    trusted: bool,
    #[serde(default)]
    mwi_unsolicited: bool,
}

/// A phone's sign-in (stored only as its digest hashes, in this installation's realm).
#[put("/api/v1/admin/users/{extension}/devices/{id}/sip")]
pub(crate) async fn set_sip(
    state: web::Data<AppState>,
    _admin: ApiAdmin,
    path: web::Path<(String, String)>,
    Body(body): Body<SipBody>,
) -> Result<HttpResponse, ApiError> {
    let (ext, id) = path.into_inner();
    let username = body.username.trim().to_owned();
    if !devices::valid_sip_username(&username) {
        return Err(ApiError::field(
            "username",
            "a SIP username is 1 to 32 letters, digits or . _ - +",
        ));
    }
    if body.password.chars().count() < 8 {
        return Err(ApiError::field(
            "password",
            "a phone's password needs at least 8 characters",
        ));
    }
    let realm = state.sip_realm.clone();
    let set = state
        .deps
        .store
        .transaction(move |c| {
            let Some((u, d)) = their_device(c, &ext, &id)? else {
                return Ok(Err(ApiError::NotFound));
            };
            if !devices::PHONE_KINDS.contains(&d.kind.as_str()) {
                return Ok(Err(ApiError::Unprocessable(
                    "only a phone or SIP device can register".into(),
                )));
            }
            match devices::set_sip_credentials(
                c,
                &u.user_id(),
                &d.id,
                &username,
                &body.password,
                &realm,
                body.trusted,
                body.mwi_unsolicited,
            ) {
                Ok(_) => {}
                Err(StoreError::Conflict(m)) => return Ok(Err(ApiError::field("username", m))),
                Err(e) => return Err(e),
            }
            device_json(c, &d, &u).map(Ok)
        })
        .await??;
    Ok(HttpResponse::Ok().json(set))
}

#[delete("/api/v1/admin/users/{extension}/devices/{id}/sip")]
pub(crate) async fn clear_sip(
    state: web::Data<AppState>,
    _admin: ApiAdmin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (ext, id) = path.into_inner();
    let cleared = state
        .deps
        .store
        .transaction(move |c| match their_device(c, &ext, &id)? {
            Some((u, d)) => devices::clear_sip_credentials(c, &u.user_id(), &d.id),
            None => Ok(false),
        })
        .await?;
    if !cleared {
        return Err(ApiError::NotFound);
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Delivery rules as the API reads and writes them.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Delivery {
    #[serde(default)]
    steps: Vec<Step>,
    #[serde(default)]
    quiet_hours: Option<QuietHours>,
    #[serde(default)]
    senders: Vec<SenderRule>,
    #[serde(default)]
    attach_audio: bool,
}

fn delivery_json(c: &mut DbConnection, u: &users::User) -> Result<Value, StoreError> {
    let p = profiles::find(c, &u.user_id())?.unwrap_or_default();
    Ok(json!(Delivery {
        steps: p.steps,
        quiet_hours: p.quiet,
        senders: p.senders,
        attach_audio: p.attach_audio,
    }))
}

#[get("/api/v1/admin/users/{extension}/delivery")]
pub(crate) async fn get_delivery(
    state: web::Data<AppState>,
    _admin: ApiAdmin,
    ext: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ext = ext.into_inner();
    let v = state
        .deps
        .store
        .run(move |c| match person(c, &ext)? {
            Some(u) => delivery_json(c, &u).map(Some),
            None => Ok(None),
        })
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(v))
}

/// Replace someone's delivery rules, checked as the profile page checks them (known channels,
/// their own verified devices, senders who exist).
#[put("/api/v1/admin/users/{extension}/delivery")]
pub(crate) async fn put_delivery(
    state: web::Data<AppState>,
    _admin: ApiAdmin,
    ext: web::Path<String>,
    Body(body): Body<Delivery>,
) -> Result<HttpResponse, ApiError> {
    let ext = ext.into_inner();
    let saved = state
        .deps
        .store
        .transaction(move |c| {
            let Some(u) = person(c, &ext)? else {
                return Ok(Err(ApiError::NotFound));
            };
            for (i, rule) in body.senders.iter().enumerate() {
                if users::find_by_extension(c, &rule.sender)?.is_none() {
                    return Ok(Err(ApiError::field(
                        format!("senders[{i}].sender"),
                        format!("nobody has extension {:?}", rule.sender),
                    )));
                }
            }
            let profile = Profile {
                steps: body.steps,
                quiet: body.quiet_hours,
                senders: body.senders,
                attach_audio: body.attach_audio,
            };
            let verified: Vec<String> = devices::list_for_user(c, &u.user_id())?
                .into_iter()
                .filter(|d| d.verified_at.is_some())
                .map(|d| d.id)
                .collect();
            if let Err(e) = profile.validate(&verified) {
                return Ok(Err(ApiError::field(
                    e.part().unwrap_or("steps"),
                    e.to_string(),
                )));
            }
            profiles::put(c, &u.user_id(), &profile)?;
            delivery_json(c, &u).map(Ok)
        })
        .await??;
    Ok(HttpResponse::Ok().json(saved))
}

#[get("/api/v1/admin/groups")]
pub(crate) async fn list_groups(
    state: web::Data<AppState>,
    _admin: ApiAdmin,
) -> Result<HttpResponse, ApiError> {
    let list = state
        .deps
        .store
        .run(|c| {
            groups::list_all(c)?
                .iter()
                .map(|g| group_json(c, g))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "groups": list })))
}

#[post("/api/v1/admin/groups")]
pub(crate) async fn new_group(
    state: web::Data<AppState>,
    _admin: ApiAdmin,
    Body(body): Body<NewGroup>,
) -> Result<HttpResponse, ApiError> {
    create_group_for(&state, None, body, "/api/v1/admin/groups").await
}

#[patch("/api/v1/admin/groups/{number}")]
pub(crate) async fn update_group(
    state: web::Data<AppState>,
    _admin: ApiAdmin,
    number: web::Path<String>,
    Body(body): Body<GroupChange>,
) -> Result<HttpResponse, ApiError> {
    update_group_as(&state, number.into_inner(), None, body).await
}

#[delete("/api/v1/admin/groups/{number}")]
pub(crate) async fn delete_group(
    state: web::Data<AppState>,
    _admin: ApiAdmin,
    number: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    delete_group_as(&state, number.into_inner(), None).await
}

/// Add or remove one member of a group.
async fn membership(
    state: &AppState,
    number: String,
    ext: String,
    member: bool,
) -> Result<HttpResponse, ApiError> {
    let done = state
        .deps
        .store
        .transaction(move |c| {
            let (Some(g), Some(u)) = (groups::find_by_number(c, &number)?, person(c, &ext)?) else {
                return Ok(false);
            };
            let mut ids: Vec<_> = groups::list_members(c, &g.id)?
                .iter()
                .map(users::User::user_id)
                .collect();
            let was = ids.contains(&u.user_id());
            if member == was {
                return Ok(true);
            }
            if member {
                ids.push(u.user_id());
            } else {
                ids.retain(|i| *i != u.user_id());
            }
            groups::set_members(c, &g.id, &ids)?;
            Ok(true)
        })
        .await?;
    if !done {
        return Err(ApiError::NotFound);
    }
    Ok(HttpResponse::NoContent().finish())
}

#[put("/api/v1/admin/groups/{number}/members/{extension}")]
pub(crate) async fn add_member(
    state: web::Data<AppState>,
    _admin: ApiAdmin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (number, ext) = path.into_inner();
    membership(&state, number, ext, true).await
}

#[delete("/api/v1/admin/groups/{number}/members/{extension}")]
pub(crate) async fn remove_member(
    state: web::Data<AppState>,
    _admin: ApiAdmin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (number, ext) = path.into_inner();
    membership(&state, number, ext, false).await
}
