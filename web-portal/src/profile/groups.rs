//! My groups, each with a number anyone can dial to reach all its members.

use super::{answer, refusal};
use crate::{AppState, login::CsrfOnly, page::PageError, session::WebUser};
use actix_web::{HttpResponse, post, web};
use hark_core::{
    ids::UserId,
    store::{self, StoreError, groups, users},
};
use serde::Deserialize;

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
pub(crate) fn members_of(
    c: &mut store::DbConnection,
    list: &str,
) -> Result<Vec<UserId>, StoreError> {
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
        Ok(()) => answer(&state, &me, Ok("Group made.")).await,
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
        Ok(()) => answer(&state, &me, Ok("Group saved.")).await,
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
    answer(&state, &me, Ok("Group removed.")).await
}
