//! Who is calling: the person whose registered phone authenticated the call (its SIP
//! password, see [`crate::phone_auth`]), else the caller id when it is a known extension, else
//! the extension they key in; then their PIN, unless the phone is marked trusted. Wrong PINs count across calls; `pin_attempts` in a row lock the PIN for
//! `pin_lockout_mins`, and a locked PIN is refused before it is even asked for, so guessing
//! costs an attacker a call per try and then nothing works. Why a call ends ("locked",
//! "goodbye") is always said whole, even to a caller who typed ahead.

use super::{Stop, TRIES};
use crate::{Ivr, line::Line, voice::Part};
use hark_core::{
    ids::UserId,
    store::users::{self, User},
};
use std::{sync::Arc, time::Duration};

/// A call from a registered phone that proved its SIP password.
#[derive(Clone, Debug)]
pub struct PhoneCaller {
    pub user_id: UserId,
    /// The device is marked trusted: no PIN is asked.
    pub trusted: bool,
}

pub async fn login(
    ivr: &Arc<Ivr>,
    line: &mut Line,
    caller: Option<&str>,
    phone: Option<&PhoneCaller>,
) -> Result<Option<User>, Stop> {
    let say = |parts: &[Part<'_>]| ivr.voice.say(parts);
    let wait = Duration::from_secs(u64::from(ivr.config.digit_timeout_secs));
    if let Some(phone) = phone {
        let id = phone.user_id.clone();
        let user = ivr
            .deps
            .store
            .run(move |c| users::find_by_id(c, &id))
            .await?
            .filter(|u| !u.is_disabled());
        if let Some(user) = user
            && phone.trusted
            && !user.pin_locked()
        {
            line.play(&say(&[Part::Prompt("welcome")])).await?;
            return Ok(Some(user));
        }
    }
    let known = match (
        phone,
        caller.filter(|c| c.bytes().all(|b| b.is_ascii_digit())),
    ) {
        (Some(p), _) => {
            let id = p.user_id.clone();
            ivr.deps
                .store
                .run(move |c| users::find_by_id(c, &id))
                .await?
                .filter(|u| !u.is_disabled())
        }
        (None, Some(ext)) => find(ivr, ext).await?,
        (None, None) => None,
    };
    let user = match known {
        Some(u) => {
            line.play(&say(&[Part::Prompt("welcome")])).await?;
            u
        }
        None => {
            line.play(&say(&[Part::Prompt("welcome")])).await?;
            let mut found = None;
            for _ in 0..TRIES {
                line.play(&say(&[Part::Prompt("enter_extension")])).await?;
                match line.keys(8, wait, wait).await? {
                    None => {
                        line.play(&say(&[Part::Prompt("no_input")])).await?;
                    }
                    Some(ext) => match find(ivr, &ext).await? {
                        Some(u) => {
                            found = Some(u);
                            break;
                        }
                        None => {
                            line.play(&say(&[Part::Prompt("unknown_number")])).await?;
                        }
                    },
                }
            }
            let Some(u) = found else {
                line.play_whole(&say(&[Part::Prompt("goodbye")])).await?;
                return Ok(None);
            };
            u
        }
    };
    for _ in 0..ivr.config.pin_attempts.max(1) {
        // Re-read each time: another call may have locked it meanwhile.
        let Some(fresh) = find(ivr, &user.extension).await? else {
            return Ok(None);
        };
        if fresh.pin_locked() {
            line.play_whole(&say(&[Part::Prompt("locked")])).await?;
            return Ok(None);
        }
        line.play(&say(&[Part::Prompt("enter_pin")])).await?;
        let Some(pin) = line.keys(16, wait, wait).await? else {
            line.play(&say(&[Part::Prompt("no_input")])).await?;
            continue;
        };
        let ok = ivr.pin_checks.verify(pin, fresh.pin_hash.clone()).await;
        let id = fresh.user_id();
        if ok {
            ivr.deps
                .store
                .run(move |c| users::reset_pin_failures(c, &id))
                .await?;
            return Ok(Some(fresh));
        }
        let (max, lock) = (
            ivr.config.pin_attempts,
            chrono::Duration::minutes(i64::from(ivr.config.pin_lockout_mins)),
        );
        let locked = ivr
            .deps
            .store
            .run(move |c| users::record_pin_failure(c, &id, max, lock))
            .await?;
        tracing::info!(extension = %fresh.extension, locked, "wrong PIN");
        if locked {
            line.play_whole(&say(&[Part::Prompt("locked")])).await?;
            return Ok(None);
        }
        line.play(&say(&[Part::Prompt("pin_wrong")])).await?;
    }
    line.play_whole(&say(&[Part::Prompt("goodbye")])).await?;
    Ok(None)
}

/// The account behind an extension; a disabled one is as good as unknown.
async fn find(ivr: &Arc<Ivr>, ext: &str) -> Result<Option<User>, Stop> {
    let ext = ext.to_owned();
    Ok(ivr
        .deps
        .store
        .run(move |c| users::find_by_extension(c, &ext))
        .await?
        .filter(|u| !u.is_disabled()))
}
