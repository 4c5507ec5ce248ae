//! A person's own presence, contacts and groups over the API.
//!
//! - `GET /api/v1/presence`: the status I chose (`available`, `busy`, `dnd`), what my contacts
//!   see (`shown_as`: that status while I have the portal open, else `offline`) and whether a
//!   phone of mine is registered. `PUT` sets the status, as the dashboard does.
//! - `GET /api/v1/contacts`: my contacts with their presence; `PUT
//!   /api/v1/contacts/{extension}` adds one or changes their speed dial; `DELETE` removes.
//! - `GET /api/v1/groups`: the groups I made (with members) and those I am in; `POST` makes
//!   one, `PUT /api/v1/groups/{number}` renames it or sets its members, `DELETE` removes it.
//!   Another person's group is "not found".

use super::{
    Body, GroupChange, NewGroup, create_group_for, delete_group_as, group_json, person,
    update_group_as,
};
use crate::{AppState, auth::ApiUser, error::ApiError};
use actix_web::{HttpResponse, delete, get, post, put, web};
use hark_core::store::{self, StoreError, groups, presence as presence_rows, registrations, users};
use serde::Deserialize;
use serde_json::{Value, json};

/// Most contacts one person keeps (as on the profile page).
const MAX_CONTACTS: usize = 200;

async fn presence_of(state: &AppState, me: &users::User) -> Result<Value, ApiError> {
    let uid = me.user_id();
    let (user, shown, phone) = state
        .deps
        .store
        .run(move |c| {
            let user = users::find_by_id(c, &uid)?.ok_or(StoreError::NotFound("user"))?;
            let shown = presence_rows::statuses(c, &[uid.as_str()])?.remove(uid.as_str());
            let phone = registrations::registered_users(c, &[uid.as_str()], store::now())?
                .contains(uid.as_str());
            Ok((user, shown, phone))
        })
        .await?;
    Ok(json!({
        "status": user.status,
        "shown_as": shown.unwrap_or_else(|| "offline".into()),
        "phone_registered": phone,
    }))
}

#[get("/api/v1/presence")]
pub(crate) async fn presence(
    state: web::Data<AppState>,
    ApiUser(me): ApiUser,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(presence_of(&state, &me).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PresenceBody {
    status: String,
}

#[put("/api/v1/presence")]
pub(crate) async fn set_presence(
    state: web::Data<AppState>,
    ApiUser(me): ApiUser,
    Body(body): Body<PresenceBody>,
) -> Result<HttpResponse, ApiError> {
    if !users::STATUSES.contains(&body.status.as_str()) {
        return Err(ApiError::field(
            "status",
            format!("a status is one of {}", users::STATUSES.join(", ")),
        ));
    }
    crate::push::set_status(&state, &me, &body.status).await?;
    Ok(HttpResponse::Ok().json(presence_of(&state, &me).await?))
}

#[get("/api/v1/contacts")]
pub(crate) async fn contacts(
    state: web::Data<AppState>,
    ApiUser(me): ApiUser,
) -> Result<HttpResponse, ApiError> {
    let uid = me.user_id();
    let list = state
        .deps
        .store
        .run(move |c| {
            let contacts = groups::list_contacts(c, &uid)?;
            let ids: Vec<&str> = contacts.iter().map(|(u, _)| u.id.as_str()).collect();
            let shown = presence_rows::statuses(c, &ids)?;
            let phones = registrations::registered_users(c, &ids, store::now())?;
            Ok(contacts
                .iter()
                .map(|(u, dial)| {
                    let mut v = person(u);
                    v["speed_dial"] = json!(dial);
                    v["status"] = json!(shown.get(&u.id).map_or("offline", String::as_str));
                    v["phone_registered"] = json!(phones.contains(&u.id));
                    v
                })
                .collect::<Vec<_>>())
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "contacts": list })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContactBody {
    #[serde(default)]
    speed_dial: Option<i32>,
}

#[put("/api/v1/contacts/{extension}")]
pub(crate) async fn set_contact(
    state: web::Data<AppState>,
    ApiUser(me): ApiUser,
    ext: web::Path<String>,
    Body(body): Body<ContactBody>,
) -> Result<HttpResponse, ApiError> {
    if body.speed_dial.is_some_and(|d| !(0..=9).contains(&d)) {
        return Err(ApiError::field(
            "speed_dial",
            "a speed dial is one digit, 0 to 9",
        ));
    }
    let (uid, ext, dial) = (me.user_id(), ext.into_inner(), body.speed_dial);
    let answer = state
        .deps
        .store
        .transaction(move |c| {
            let Some(contact) = users::find_by_extension(c, &ext)?.filter(|u| !u.is_removed())
            else {
                return Ok(Err(ApiError::NotFound));
            };
            let mine = groups::list_contacts(c, &uid)?;
            if mine.len() >= MAX_CONTACTS && !mine.iter().any(|(u, _)| u.id == contact.id) {
                return Ok(Err(ApiError::Unprocessable(format!(
                    "at most {MAX_CONTACTS} contacts"
                ))));
            }
            let moved = groups::set_contact(c, &uid, &contact.user_id(), dial)?;
            let mut v = person(&contact);
            v["speed_dial"] = json!(dial);
            v["speed_dial_taken_from"] = json!(moved.map(|u| u.extension));
            Ok(Ok(v))
        })
        .await??;
    Ok(HttpResponse::Ok().json(answer))
}

#[delete("/api/v1/contacts/{extension}")]
pub(crate) async fn delete_contact(
    state: web::Data<AppState>,
    ApiUser(me): ApiUser,
    ext: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (uid, ext) = (me.user_id(), ext.into_inner());
    let gone = state
        .deps
        .store
        .run(move |c| match users::find_by_extension(c, &ext)? {
            Some(u) => groups::remove_contact(c, &uid, &u.user_id()),
            None => Ok(false),
        })
        .await?;
    if !gone {
        return Err(ApiError::NotFound);
    }
    Ok(HttpResponse::NoContent().finish())
}

#[get("/api/v1/groups")]
pub(crate) async fn my_groups(
    state: web::Data<AppState>,
    ApiUser(me): ApiUser,
) -> Result<HttpResponse, ApiError> {
    let uid = me.user_id();
    let (own, member_of) = state
        .deps
        .store
        .run(move |c| {
            let own = groups::list_owned(c, &uid)?
                .iter()
                .map(|g| group_json(c, g))
                .collect::<Result<Vec<_>, _>>()?;
            let member_of: Vec<Value> = groups::list_for_member(c, &uid)?
                .iter()
                .map(|g| json!({ "number": g.number, "name": g.name }))
                .collect();
            Ok((own, member_of))
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "groups": own, "member_of": member_of })))
}

#[post("/api/v1/groups")]
pub(crate) async fn create_group(
    state: web::Data<AppState>,
    ApiUser(me): ApiUser,
    Body(body): Body<NewGroup>,
) -> Result<HttpResponse, ApiError> {
    create_group_for(&state, Some(me.user_id()), body, "/api/v1/groups").await
}

#[put("/api/v1/groups/{number}")]
pub(crate) async fn update_group(
    state: web::Data<AppState>,
    ApiUser(me): ApiUser,
    number: web::Path<String>,
    Body(body): Body<GroupChange>,
) -> Result<HttpResponse, ApiError> {
    update_group_as(&state, number.into_inner(), Some(me.user_id()), body).await
}

#[delete("/api/v1/groups/{number}")]
pub(crate) async fn delete_group(
    state: web::Data<AppState>,
    ApiUser(me): ApiUser,
    number: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    delete_group_as(&state, number.into_inner(), Some(me.user_id())).await
}
