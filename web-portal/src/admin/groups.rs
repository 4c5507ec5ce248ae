//! Groups, all of them: an admin makes company-wide groups (owned by nobody), renames any
//! group, changes its members or removes it. People manage their own on their profile.

use super::AdminUser;
use crate::{
    AppState,
    login::CsrfOnly,
    page::{self, PageError},
    profile::groups::members_of,
    session::{Me, WebUser},
};
use actix_web::{HttpResponse, get, http::StatusCode, post, web};
use askama::Template;
use hark_core::{
    ids::UserId,
    store::{StoreError, groups, users},
};
use serde::Deserialize;

pub(crate) struct GroupRow {
    pub id: String,
    pub number: String,
    pub name: String,
    /// Who made it ("Bob Baker (102)"), or empty for the organisation's own.
    pub owner: String,
    /// Members' extensions, as the form takes them.
    pub members: String,
}

#[derive(Template)]
#[template(path = "admin_groups.html")]
struct GroupsPage {
    me: Me,
    nav: &'static str,
    tab: &'static str,
    error: String,
    groups: Vec<GroupRow>,
}

async fn render(
    state: &AppState,
    me: &WebUser,
    status: StatusCode,
    error: String,
) -> Result<HttpResponse, PageError> {
    let groups = state
        .deps
        .store
        .run(|c| {
            let mut rows = Vec::new();
            for g in groups::list_all(c)? {
                let owner = match &g.owner_id {
                    Some(o) => users::find_by_id(c, &UserId::from(o.as_str()))?
                        .map(|u| format!("{} ({})", u.display_name, u.extension))
                        .unwrap_or_default(),
                    None => String::new(),
                };
                let members = groups::list_members(c, &g.id)?
                    .into_iter()
                    .map(|u| u.extension)
                    .collect::<Vec<_>>()
                    .join(", ");
                rows.push(GroupRow {
                    id: g.id,
                    number: g.number,
                    name: g.name,
                    owner,
                    members,
                });
            }
            Ok(rows)
        })
        .await?;
    Ok(page::html(
        status,
        &GroupsPage {
            me: me.me(),
            nav: "admin",
            tab: "groups",
            error,
            groups,
        },
    ))
}

#[get("/admin/groups")]
pub(crate) async fn groups_page(
    state: web::Data<AppState>,
    admin: AdminUser,
) -> Result<HttpResponse, PageError> {
    render(&state, &admin.0, StatusCode::OK, String::new()).await
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

/// A refusal the admin can act on, or the page fails.
async fn refused(state: &AppState, me: &WebUser, e: StoreError) -> Result<HttpResponse, PageError> {
    let why = match e {
        StoreError::Conflict(m) | StoreError::Invalid(m) => m,
        e @ StoreError::NotFoundNumbers(_) => e.to_string(),
        StoreError::NotFound(_) => return Err(PageError::NotFound),
        e => return Err(e.into()),
    };
    render(state, me, StatusCode::UNPROCESSABLE_ENTITY, why).await
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().count() <= 80
}

const BAD_NAME: &str = "Name the group (up to 80 characters).";

/// A group of the organisation's, owned by nobody.
#[post("/admin/groups")]
pub(crate) async fn create_group(
    state: web::Data<AppState>,
    admin: AdminUser,
    form: web::Form<GroupForm>,
) -> Result<HttpResponse, PageError> {
    let me = admin.0;
    me.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let (number, name) = (form.number.trim().to_owned(), form.name.trim().to_owned());
    if !valid_name(&name) {
        return render(
            &state,
            &me,
            StatusCode::UNPROCESSABLE_ENTITY,
            BAD_NAME.into(),
        )
        .await;
    }
    let shown = format!("Group {name} ({number}) made.");
    let result = state
        .deps
        .store
        .transaction(move |c| {
            let members = members_of(c, &form.members)?;
            let g = groups::create(c, &number, &name, None)?;
            groups::set_members(c, &g.id, &members)
        })
        .await;
    match result {
        Ok(()) => crate::forms::done(&state, &me, "/admin/groups", &shown).await,
        Err(e) => refused(&state, &me, e).await,
    }
}

/// Rename any group or change its members.
#[post("/admin/groups/{id}")]
pub(crate) async fn update_group(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<String>,
    form: web::Form<GroupForm>,
) -> Result<HttpResponse, PageError> {
    let me = admin.0;
    me.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let name = form.name.trim().to_owned();
    if !valid_name(&name) {
        return render(
            &state,
            &me,
            StatusCode::UNPROCESSABLE_ENTITY,
            BAD_NAME.into(),
        )
        .await;
    }
    let id = id.into_inner();
    let result = state
        .deps
        .store
        .transaction(move |c| {
            let g = groups::find(c, &id)?.ok_or(StoreError::NotFound("group"))?;
            let members = members_of(c, &form.members)?;
            groups::rename(c, &g.id, &name)?;
            groups::set_members(c, &g.id, &members)?;
            Ok(format!("Group {name} ({}) saved.", g.number))
        })
        .await;
    match result {
        Ok(shown) => crate::forms::done(&state, &me, "/admin/groups", &shown).await,
        Err(e) => refused(&state, &me, e).await,
    }
}

#[post("/admin/groups/{id}/delete")]
pub(crate) async fn delete_group(
    state: web::Data<AppState>,
    admin: AdminUser,
    id: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    let me = admin.0;
    me.check_csrf(&form.csrf)?;
    let id = id.into_inner();
    let result = state
        .deps
        .store
        .transaction(move |c| {
            let g = groups::find(c, &id)?.ok_or(StoreError::NotFound("group"))?;
            groups::delete(c, &g.id)?;
            Ok(format!("Group {} ({}) removed.", g.name, g.number))
        })
        .await;
    match result {
        Ok(shown) => crate::forms::done(&state, &me, "/admin/groups", &shown).await,
        Err(e) => refused(&state, &me, e).await,
    }
}
