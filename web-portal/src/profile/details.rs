//! My details: display name, phone number or SIP URI, timezone.

use super::{answer, check_phone};
use crate::{AppState, page::PageError, session::WebUser};
use actix_web::{HttpResponse, post, web};
use hark_core::store::users;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub(crate) struct DetailsForm {
    #[serde(default)]
    csrf: String,
    display_name: String,
    #[serde(default)]
    phone: String,
    timezone: String,
}

#[post("/profile/details")]
pub(crate) async fn save_details(
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
        return answer(&state, &me, problem.map(|()| "")).await;
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
    answer(&state, &me, Ok("Details saved.")).await
}
