//! Menu 1, who is online: each present contact by their recorded name (or extension) and
//! speed-dial digit — and each contact whose phone is registered, though not present
//! otherwise, "on the phone" (a callback reaches them) — pressing that digit goes straight to
//! recording a message to them.
//! Menu 5 records the caller's own name, which others hear here.

use super::{Session, Stop, send};
use crate::{
    line::RecordEnd,
    voice::{self, Part},
};
use hark_core::store::{self, groups, presence, registrations, users};
use std::time::Duration;

pub async fn run(s: &mut Session<'_>) -> Result<(), Stop> {
    let me = s.user.user_id();
    let online = s
        .ivr
        .deps
        .store
        .run(move |c| {
            let contacts = groups::list_contacts(c, &me)?;
            let ids: Vec<&str> = contacts.iter().map(|(u, _)| u.id.as_str()).collect();
            let present = presence::statuses(c, &ids)?;
            let phones = registrations::registered_users(c, &ids, store::now())?;
            Ok(contacts
                .into_iter()
                .filter_map(|(u, dial)| {
                    let by_phone = !present.contains_key(&u.id) && phones.contains(&u.id);
                    (present.contains_key(&u.id) || by_phone).then_some((u, dial, by_phone))
                })
                .collect::<Vec<_>>())
        })
        .await?;
    if online.is_empty() {
        s.say(&[Part::Prompt("nobody_online")]).await?;
        return Ok(());
    }
    s.say(&[Part::Prompt("online_intro")]).await?;
    for (person, speed_dial, by_phone) in &online {
        let name = s.name_of(person).await;
        let digit = speed_dial.map(|d| d.to_string());
        let mut parts = vec![Part::Audio(&name)];
        if *by_phone {
            parts.push(Part::Prompt("by_phone"));
        }
        if let Some(d) = &digit {
            parts.extend([Part::Prompt("speed_dial"), Part::Digits(d)]);
        }
        if s.say(&parts).await? {
            break; // A key: they know whom they want.
        }
    }
    let Some(key) = s.choose_once(&[Part::Prompt("press_to_send")]).await? else {
        return Ok(());
    };
    let digit = key.to_digit(10).map(|d| d as i32);
    match online
        .iter()
        .find(|(_, sd, _)| digit.is_some() && *sd == digit)
    {
        Some((person, _, _)) => send::record_and_review(s, vec![person.user_id()], None).await,
        None => Ok(()),
    }
}

/// Menu 5: record my name.
pub async fn record_name(s: &mut Session<'_>) -> Result<(), Stop> {
    s.say(&[Part::Prompt("record_name")]).await?;
    s.line.clear_typeahead();
    let beep = s.ivr.voice.prompt("beep");
    s.line.play_whole(&beep).await?;
    s.line.clear_typeahead();
    let mut pcm = Vec::new();
    let recorded = s
        .line
        .record(Duration::from_secs(2), Duration::from_secs(5), |f| {
            pcm.extend_from_slice(f)
        })
        .await;
    if recorded.voiced_until == 0 {
        if recorded.end == RecordEnd::HungUp {
            return Err(Stop::HungUp);
        }
        s.say(&[Part::Prompt("no_input")]).await?;
        return Ok(());
    }
    pcm.truncate((recorded.voiced_until + 1_600).min(pcm.len()));
    let wav = voice::stored_audio(&pcm).map_err(|e| Stop::Failed(format!("audio: {e}")))?;
    let blob = s
        .ivr
        .deps
        .blobs
        .put(wav)
        .await
        .map_err(|e| Stop::Failed(format!("blob: {e}")))?;
    let (me, key) = (s.user.user_id(), blob.clone());
    let previous = s
        .ivr
        .deps
        .store
        .run(move |c| users::set_name_blob(c, &me, Some(&key)))
        .await?;
    s.user.name_blob = Some(blob);
    if let Some(old) = previous
        && let Err(e) = s.ivr.deps.blobs.delete(&old).await
    {
        tracing::warn!(error = %e, "could not remove the old name recording");
    }
    if recorded.end == RecordEnd::HungUp {
        return Err(Stop::HungUp);
    }
    s.say(&[Part::Prompt("name_saved")]).await?;
    Ok(())
}
