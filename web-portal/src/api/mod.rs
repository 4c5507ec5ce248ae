//! The JSON API for everything a person and an admin do in the portal (sending is in
//! [`crate::send::api`], signing in in [`crate::api_session`]).
//!
//! - A person, with their token (`read` to look, `send` to change): their inbox ([`inbox`]:
//!   pages of it, each message's audio and attachments, heard, unheard, delete, restore),
//!   their presence, contacts and groups ([`me`]).
//! - An admin, with a token scoped `admin` ([`admin`]): people (create, change, disable),
//!   their devices and phone sign-ins, their delivery rules, and every group.
//!
//! Every id in a path is looked up as the caller's own: another person's message, device or
//! group is "not found", exactly like one that does not exist, so ids cannot be probed. A
//! body that does not fit gets 400 (not JSON) or 422 with `field` naming what is wrong.
//! `src/openapi.json` describes all of it.

pub(crate) mod admin;
pub(crate) mod inbox;
pub(crate) mod me;

use crate::error::ApiError;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use futures_util::future::LocalBoxFuture;
use hark_core::{
    ids::UserId,
    store::{DbConnection, StoreError, groups, users},
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Largest JSON body the API reads.
const MAX_BODY: usize = 64 * 1024;

/// A JSON request body. A value that does not fit is refused naming its field (the path into
/// the document, say `steps[1].after_secs`), which actix's own `Json` cannot say.
pub(crate) struct Body<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = bytes
                .await
                .map_err(|e| ApiError::BadRequest(format!("reading the body: {e}")))?;
            if bytes.len() > MAX_BODY {
                return Err(ApiError::TooLarge(MAX_BODY));
            }
            let mut de = serde_json::Deserializer::from_slice(&bytes);
            let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                if inner.is_syntax()
                    || inner.is_eof()
                    || path == "."
                    || inner.to_string().contains("field `")
                {
                    // Not JSON, or a field missing or unknown (serde's message names it).
                    ApiError::BadRequest(inner.to_string())
                } else {
                    ApiError::field(path, inner.to_string())
                }
            })?;
            Ok(Body(value))
        })
    }
}

/// A time as the API gives it: RFC 3339 in UTC, to the second.
pub(crate) fn time(at: chrono::NaiveDateTime) -> String {
    at.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A person as others see them in the API.
pub(crate) fn person(u: &users::User) -> Value {
    json!({ "extension": u.extension, "name": u.display_name })
}

/// A group's name as people and admins give it: 1 to 80 characters.
fn check_group_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.chars().count() > 80 {
        return Err(ApiError::field(
            "name",
            "a group's name is 1 to 80 characters",
        ));
    }
    Ok(())
}

/// Extensions → people; unknown ones are named in the refusal (`members`).
fn members_from(
    c: &mut DbConnection,
    extensions: &[String],
) -> Result<Result<Vec<UserId>, ApiError>, StoreError> {
    if extensions.len() > 500 {
        return Ok(Err(ApiError::field("members", "at most 500 members")));
    }
    let mut out = Vec::new();
    let mut unknown = Vec::new();
    for ext in extensions {
        match users::find_by_extension(c, ext.trim())? {
            Some(u) if !u.is_removed() => {
                if !out.contains(&u.user_id()) {
                    out.push(u.user_id());
                }
            }
            _ => unknown.push(ext.clone()),
        }
    }
    if unknown.is_empty() {
        Ok(Ok(out))
    } else {
        Ok(Err(ApiError::field(
            "members",
            format!("nobody has extension {}", unknown.join(", ")),
        )))
    }
}

/// A group with its members (and who made it, for admins).
fn group_json(c: &mut DbConnection, g: &groups::Group) -> Result<Value, StoreError> {
    let members: Vec<Value> = groups::list_members(c, &g.id)?.iter().map(person).collect();
    let owner = match &g.owner_id {
        Some(o) => users::find_by_id(c, &UserId::from(o.as_str()))?.map(|u| u.extension),
        None => None,
    };
    Ok(json!({
        "number": g.number,
        "name": g.name,
        "owner": owner,
        "members": members,
    }))
}

/// Make group `number` called `name` with `members`, owned by `owner` (none: the
/// organisation's); the refusal names the field.
fn create_group(
    c: &mut DbConnection,
    number: &str,
    name: &str,
    members: &[String],
    owner: Option<&UserId>,
) -> Result<Result<Value, ApiError>, StoreError> {
    if let Err(e) = check_group_name(name) {
        return Ok(Err(e));
    }
    if users::validate_extension(number).is_err() {
        return Ok(Err(ApiError::field(
            "number",
            "a group number is 2 to 8 digits",
        )));
    }
    if users::find_by_extension(c, number)?.is_some()
        || groups::find_by_number(c, number)?.is_some()
    {
        return Ok(Err(ApiError::field(
            "number",
            format!("number {number} is taken"),
        )));
    }
    let members = match members_from(c, members)? {
        Ok(m) => m,
        Err(e) => return Ok(Err(e)),
    };
    let g = groups::create(c, number, name, owner)?;
    groups::set_members(c, &g.id, &members)?;
    group_json(c, &g).map(Ok)
}

/// Rename group `g` and/or set its members; the refusal names the field.
fn change_group(
    c: &mut DbConnection,
    g: &groups::Group,
    name: Option<&str>,
    members: Option<&[String]>,
) -> Result<Result<Value, ApiError>, StoreError> {
    if let Some(name) = name
        && let Err(e) = check_group_name(name)
    {
        return Ok(Err(e));
    }
    let members = match members {
        Some(list) => match members_from(c, list)? {
            Ok(m) => Some(m),
            Err(e) => return Ok(Err(e)),
        },
        None => None,
    };
    if let Some(name) = name {
        groups::rename(c, &g.id, name)?;
    }
    if let Some(members) = members {
        groups::set_members(c, &g.id, &members)?;
    }
    let g = groups::find(c, &g.id)?.ok_or(StoreError::NotFound("group"))?;
    group_json(c, &g).map(Ok)
}

/// A new group, as people and admins send it.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewGroup {
    pub number: String,
    pub name: String,
    #[serde(default)]
    pub members: Vec<String>,
}

/// A change to a group: only what is given changes.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GroupChange {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub members: Option<Vec<String>>,
}

/// Group `number` as `owner` may see it: theirs only, or any group for an admin (`None`).
fn group_of(
    c: &mut DbConnection,
    number: &str,
    owner: Option<&UserId>,
) -> Result<Option<groups::Group>, StoreError> {
    Ok(groups::find_by_number(c, number)?
        .filter(|g| owner.is_none_or(|o| g.owner_id.as_deref() == Some(o.as_str()))))
}

/// Make a group owned by `owner` (the organisation's for `None`): 201 with it.
async fn create_group_for(
    state: &crate::AppState,
    owner: Option<UserId>,
    body: NewGroup,
    location: &str,
) -> Result<actix_web::HttpResponse, ApiError> {
    let made = state
        .deps
        .store
        .transaction(move |c| {
            create_group(
                c,
                body.number.trim(),
                body.name.trim(),
                &body.members,
                owner.as_ref(),
            )
        })
        .await??;
    Ok(actix_web::HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("{location}/{}", made["number"].as_str().unwrap_or_default()),
        ))
        .json(made))
}

/// Change group `number` as `owner` may (any group for `None`).
async fn update_group_as(
    state: &crate::AppState,
    number: String,
    owner: Option<UserId>,
    body: GroupChange,
) -> Result<actix_web::HttpResponse, ApiError> {
    let changed = state
        .deps
        .store
        .transaction(move |c| {
            let Some(g) = group_of(c, &number, owner.as_ref())? else {
                return Ok(Err(ApiError::NotFound));
            };
            change_group(
                c,
                &g,
                body.name.as_deref().map(str::trim),
                body.members.as_deref(),
            )
        })
        .await??;
    Ok(actix_web::HttpResponse::Ok().json(changed))
}

/// Remove group `number` as `owner` may (any group for `None`).
async fn delete_group_as(
    state: &crate::AppState,
    number: String,
    owner: Option<UserId>,
) -> Result<actix_web::HttpResponse, ApiError> {
    let gone = state
        .deps
        .store
        .transaction(move |c| match group_of(c, &number, owner.as_ref())? {
            Some(g) => groups::delete(c, &g.id).map(|()| true),
            None => Ok(false),
        })
        .await?;
    if !gone {
        return Err(ApiError::NotFound);
    }
    Ok(actix_web::HttpResponse::NoContent().finish())
}

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(inbox::list)
        .service(inbox::trash)
        .service(inbox::one)
        .service(inbox::audio)
        .service(inbox::attachment)
        .service(inbox::heard)
        .service(inbox::unheard)
        .service(inbox::delete)
        .service(inbox::restore)
        .service(me::presence)
        .service(me::set_presence)
        .service(me::contacts)
        .service(me::set_contact)
        .service(me::delete_contact)
        .service(me::my_groups)
        .service(me::create_group)
        .service(me::update_group)
        .service(me::delete_group);
    admin::routes(cfg);
}
