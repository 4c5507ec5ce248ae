//! Sending: choose recipients (extensions, speed dials, group numbers), record after the beep
//! until `#`, silence or the limit, then review — 1 send, 2 listen, 3 record again, `*`
//! cancel. A hang-up after the beep sends what was said.

use super::{Session, Stop, TRIES};
use crate::{
    line::{HungUp, RecordEnd},
    recording::{Outgoing, Stopped},
    voice::Part,
};
use hark_core::{
    ids::UserId,
    store::{StoreError, groups, users::User},
};
use std::time::Duration;

/// Menu 2: pick recipients, then record.
pub async fn run(s: &mut Session<'_>) -> Result<(), Stop> {
    let mut chosen: Vec<User> = Vec::new();
    let mut groups_named: Vec<String> = Vec::new();
    let mut silent = 0;
    let wait = s.first_wait();
    loop {
        if chosen.is_empty() || silent > 0 {
            s.say(&[Part::Prompt("enter_recipients")]).await?;
        }
        match s.line.keys(8, wait, wait).await? {
            None if chosen.is_empty() => {
                silent += 1;
                if silent >= TRIES {
                    return Ok(());
                }
                s.say(&[Part::Prompt("no_input")]).await?;
            }
            None => break,
            Some(n) if n == "*" => {
                s.say(&[Part::Prompt("cancelled")]).await?;
                return Ok(());
            }
            Some(n) if n.is_empty() => {
                if chosen.is_empty() {
                    silent += 1;
                    if silent >= TRIES {
                        return Ok(());
                    }
                    continue;
                }
                break;
            }
            Some(n) => match resolve(s, &n).await? {
                Some((people, group)) => {
                    silent = 0;
                    if let Some(g) = group
                        && !groups_named.contains(&g)
                    {
                        groups_named.push(g);
                    }
                    for p in people {
                        if !chosen.iter().any(|c| c.id == p.id) {
                            chosen.push(p);
                        }
                    }
                    s.say(&[Part::Digits(&n), Part::Prompt("added")]).await?;
                }
                None => {
                    s.say(&[Part::Digits(&n), Part::Prompt("unknown_number")])
                        .await?;
                }
            },
        }
    }
    let sent_to = (!groups_named.is_empty()).then(|| groups_named.join(", "));
    record_and_review(s, chosen.iter().map(User::user_id).collect(), sent_to).await
}

/// Direct dial: `number` is an extension or group; straight to the beep.
pub async fn direct(s: &mut Session<'_>, number: &str) -> Result<(), Stop> {
    match resolve(s, number).await? {
        Some((people, group)) if !people.is_empty() => {
            record_and_review(s, people.iter().map(User::user_id).collect(), group).await
        }
        _ => {
            s.say(&[Part::Digits(number), Part::Prompt("unknown_number")])
                .await?;
            Ok(())
        }
    }
}

/// What one entry names: a speed dial (one digit), an extension or a group — the people, and
/// the group as its sender sees it named ("Team (200)") when it is one.
async fn resolve(
    s: &mut Session<'_>,
    entry: &str,
) -> Result<Option<(Vec<User>, Option<String>)>, Stop> {
    let (me, entry) = (s.user.user_id(), entry.to_owned());
    let found = s
        .ivr
        .deps
        .store
        .run(move |c| {
            if entry.len() == 1 {
                let digit: i32 = entry.parse().unwrap_or(-1);
                let contacts = groups::list_contacts(c, &me)?;
                return Ok(contacts
                    .into_iter()
                    .find(|(_, sd)| *sd == Some(digit))
                    .map(|(u, _)| (vec![u], None)));
            }
            let entry = std::slice::from_ref(&entry);
            match groups::resolve_recipients(c, entry, &me) {
                Ok(people) => Ok(Some((people, groups::names_of(c, entry)?.pop()))),
                Err(StoreError::NotFoundNumbers(_)) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await?;
    Ok(found)
}

/// Record a message to `recipients` and let the caller review it; `sent_to` names the groups
/// it was addressed to, for the sender's list of sent messages.
pub async fn record_and_review(
    s: &mut Session<'_>,
    recipients: Vec<UserId>,
    sent_to: Option<String>,
) -> Result<(), Stop> {
    let silence = Duration::from_secs(u64::from(s.ivr.config.silence_secs));
    let max = Duration::from_secs(u64::from(s.ivr.config.max_record_secs));
    let mut empty = 0;
    'record: loop {
        s.say(&[Part::Prompt("record_after_beep")]).await?;
        s.line.clear_typeahead();
        let beep = s.ivr.voice.prompt("beep");
        s.line.play_whole(&beep).await?;
        s.line.clear_typeahead();
        let mut out = Outgoing::begin(
            s.ivr.clone(),
            s.user.user_id(),
            recipients.clone(),
            sent_to.clone(),
        )
        .await?;
        let recorded = s.line.record(silence, max, |f| out.push(f)).await;
        let hung_up = recorded.end == RecordEnd::HungUp;
        match out.stop(recorded).await? {
            Stopped::Empty => {
                out.cancel().await?;
                if hung_up {
                    return Err(Stop::HungUp);
                }
                empty += 1;
                s.say(&[Part::Prompt("no_input")]).await?;
                if empty >= TRIES {
                    return Ok(());
                }
                continue 'record;
            }
            Stopped::Held { .. } if hung_up => {
                out.send().await?;
                return Err(Stop::HungUp);
            }
            Stopped::Held { .. } => {}
        }
        // Whatever happens in the review, a hang-up sends what was said.
        match review(s, &mut out).await {
            Ok(Decision::Send) => {
                out.send().await?;
                s.say(&[Part::Prompt("sent")]).await?;
                return Ok(());
            }
            Ok(Decision::Rerecord) => {
                out.cancel().await?;
                continue 'record;
            }
            Ok(Decision::Cancel) => {
                out.cancel().await?;
                s.say(&[Part::Prompt("cancelled")]).await?;
                return Ok(());
            }
            Err(HungUp) => {
                out.send().await?;
                return Err(Stop::HungUp);
            }
        }
    }
}

/// What the caller chose for a recording they just made.
enum Decision {
    Send,
    Rerecord,
    Cancel,
}

/// The review menu: 1 send, 2 listen, 3 record again, `*` cancel. A caller who walks away
/// (no answer [`TRIES`] times) meant to send it.
async fn review(s: &mut Session<'_>, out: &mut Outgoing) -> Result<Decision, HungUp> {
    let mut unanswered = 0;
    loop {
        match s.choose_once(&[Part::Prompt("review_menu")]).await? {
            Some('1') => return Ok(Decision::Send),
            Some('2') => {
                let audio = out.audio();
                s.line.play(&audio).await?;
            }
            Some('3') => return Ok(Decision::Rerecord),
            Some('*') => return Ok(Decision::Cancel),
            Some(_) => {
                s.say(&[Part::Prompt("invalid")]).await?;
            }
            None => {
                unanswered += 1;
                if unanswered >= TRIES {
                    return Ok(Decision::Send);
                }
            }
        }
    }
}
