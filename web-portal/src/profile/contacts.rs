//! My contacts and their speed-dial digits.

use super::{answer, refusal};
use crate::{AppState, login::CsrfOnly, page::PageError, session::WebUser};
use actix_web::{HttpResponse, post, web};
use hark_core::store::{StoreError, groups, users};
use serde::Deserialize;

/// Most contacts one person keeps.
const MAX_CONTACTS: usize = 200;

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
        Ok(None) => answer(&state, &me, Ok("Contact saved.")).await,
        Ok(Some(from)) => {
            let notice = format!(
                "Contact saved. Speed dial {} moved to them from {} ({}).",
                dial.unwrap_or_default(),
                from.display_name,
                from.extension
            );
            answer(&state, &me, Ok(&notice)).await
        }
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
    answer(&state, &me, Ok("Contact removed.")).await
}
