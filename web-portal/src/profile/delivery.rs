//! My delivery rules: ordered steps with escalation delays, quiet hours, per-sender rules.

use super::{answer, refusal};
use crate::{AppState, login::CsrfOnly, page::PageError, session::WebUser};
use actix_web::{HttpResponse, post, web};
use hark_core::{
    profile::{Profile, QuietHours, SenderRule, Step},
    store::{StoreError, devices, profiles, users},
};

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
pub(crate) async fn save_delivery(
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
    answer(&state, &me, result.map(|()| "Delivery rules saved.")).await
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
    answer(&state, &me, result.map(|()| "Sender rule saved.")).await
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
    answer(&state, &me, result.map(|()| "Sender rule removed.")).await
}
