//! My devices: e-mail addresses (verified by a link before anything is sent there), phones,
//! SIP URIs and the portal; and the page the verification link opens.

use super::{answer, check_phone, refusal};
use crate::{
    AppState,
    login::CsrfOnly,
    page::{self, PageError},
    session::WebUser,
};
use actix_web::{HttpResponse, get, post, web};
use askama::Template;
use hark_core::{
    events::{Command, Envelope, VerifyEmail},
    store::{self, devices, sessions},
};
use serde::Deserialize;

/// How long a verification link works.
const VERIFY_HOURS: i64 = 48;

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
pub(crate) fn plausible_email(a: &str) -> bool {
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
        return answer(&state, &me, checked.map(|()| "")).await;
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
                let sent = format!(
                    "We sent a link to {}. Open it to start receiving messages there.",
                    d.address
                );
                return answer(&state, &me, Ok(&sent)).await;
            }
            answer(&state, &me, Ok("Device added.")).await
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
    answer(&state, &me, Ok("Device removed.")).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct SipForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    /// Checkboxes: present when ticked.
    trusted: Option<String>,
    mwi: Option<String>,
}

/// Give a phone device SIP credentials (or new ones), so the phone can register with Hark.
/// The password is stored only as its digest hashes.
#[post("/profile/devices/{id}/sip")]
pub(crate) async fn set_sip(
    state: web::Data<AppState>,
    me: WebUser,
    id: web::Path<String>,
    form: web::Form<SipForm>,
) -> Result<HttpResponse, PageError> {
    me.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let (uid, id, realm) = (me.user.user_id(), id.into_inner(), state.sip_realm.clone());
    let username = form.username.trim().to_owned();
    let shown = username.clone();
    let set = state
        .deps
        .store
        .run(move |c| {
            devices::set_sip_credentials(
                c,
                &uid,
                &id,
                &username,
                &form.password,
                &realm,
                form.trusted.is_some(),
                form.mwi.is_some(),
            )
        })
        .await;
    match set {
        Ok(true) => {
            let done = format!(
                "Phone sign-in saved: register the phone as {shown} with that password (realm {}).",
                state.sip_realm
            );
            answer(&state, &me, Ok(&done)).await
        }
        Ok(false) => Err(PageError::NotFound),
        Err(e) => answer(&state, &me, Err(refusal(e)?)).await,
    }
}

/// Take a phone's SIP credentials away; where it is registered is forgotten with them.
#[post("/profile/devices/{id}/sip/delete")]
pub(crate) async fn clear_sip(
    state: web::Data<AppState>,
    me: WebUser,
    id: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, PageError> {
    me.check_csrf(&form.csrf)?;
    let (uid, id) = (me.user.user_id(), id.into_inner());
    let cleared = state
        .deps
        .store
        .transaction(move |c| devices::clear_sip_credentials(c, &uid, &id))
        .await?;
    if !cleared {
        return Err(PageError::NotFound);
    }
    answer(&state, &me, Ok("The phone can no longer register.")).await
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
