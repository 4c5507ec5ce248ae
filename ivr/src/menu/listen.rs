//! Menu 3, listening: each message's envelope ("message from …"), the message, then 1 replay,
//! 2 reply, 3 next, 7 delete, `*` back. The first play marks it heard, which becomes the
//! sender's "heard" receipt.

use super::{Session, Stop, TRIES, send};
use crate::voice::{self, Part};
use hark_core::{
    played::{self, Via},
    store::inbox,
};

pub async fn run(s: &mut Session<'_>) -> Result<(), Stop> {
    let me = s.user.user_id();
    let items = s.ivr.deps.store.run(move |c| inbox::list(c, &me)).await?;
    if items.is_empty() {
        s.say(&[Part::Prompt("no_messages")]).await?;
        return Ok(());
    }
    for item in items {
        let name = s.name_of(&item.sender).await;
        let audio = match &item.message.blob_key {
            Some(blob) => match s.ivr.deps.blobs.get(blob).await {
                Ok(wav) => voice::phone_audio(&wav).ok(),
                Err(e) => {
                    tracing::warn!(error = %e, message = %item.message.id, "message audio missing");
                    None
                }
            },
            None => None,
        };
        let Some(audio) = audio else {
            continue;
        };
        s.say(&[Part::Prompt("message_from"), Part::Audio(&name)])
            .await?;
        let mut heard = item.recipient.state == "played";
        let mut unanswered = 0;
        let mut play = true;
        loop {
            if play {
                if !heard {
                    mark_heard(s, &item).await?;
                    heard = true;
                }
                s.line.play(&audio).await?;
                play = false;
            }
            match s.choose_once(&[Part::Prompt("listen_menu")]).await? {
                Some('1') => play = true,
                Some('2') => {
                    send::record_and_review(s, vec![item.sender.user_id()], None).await?;
                }
                Some('3') => break,
                Some('7') => {
                    let (id, me) = (item.message.message_id(), s.user.user_id());
                    s.ivr
                        .deps
                        .store
                        .transaction(move |c| inbox::delete(c, &id, &me))
                        .await?;
                    s.ivr.deps.outbox.notify();
                    s.say(&[Part::Prompt("deleted")]).await?;
                    break;
                }
                Some('*') => return Ok(()),
                Some(_) => {
                    s.say(&[Part::Prompt("invalid")]).await?;
                }
                None => {
                    unanswered += 1;
                    if unanswered >= TRIES {
                        return Ok(());
                    }
                }
            }
        }
    }
    s.say(&[Part::Prompt("no_more_messages")]).await?;
    Ok(())
}

/// The recipient played it: `message.played`, from which the router makes the receipt.
async fn mark_heard(s: &Session<'_>, item: &inbox::InboxItem) -> Result<(), Stop> {
    played::record(
        &s.ivr.deps,
        &item.message.message_id(),
        &s.user.user_id(),
        Via::Phone,
    )
    .await?;
    Ok(())
}
