//! Menu 4, receipts: what happened to the messages the caller sent since they last listened
//! ("your message was heard by …"), newest last.

use super::{Session, Stop};
use crate::voice::Part;
use hark_core::{
    ids::UserId,
    store::{receipts, users},
};

pub async fn run(s: &mut Session<'_>) -> Result<(), Stop> {
    let (me, since) = (s.user.user_id(), s.user.receipts_seen_at);
    let now = hark_core::store::now();
    let list = s
        .ivr
        .deps
        .store
        .run(move |c| {
            let rs = receipts::list_for_sender_since(c, &me, since)?;
            let mut out = Vec::with_capacity(rs.len());
            for r in rs {
                let who = users::find_by_id(c, &UserId::from(r.recipient_id.as_str()))?;
                out.push((r, who));
            }
            Ok(out)
        })
        .await?;
    if list.is_empty() {
        s.say(&[Part::Prompt("no_receipts")]).await?;
        return Ok(());
    }
    s.say(&[Part::Prompt("receipts_intro")]).await?;
    for (receipt, who) in &list {
        let kind = match receipt.kind.as_str() {
            "heard" => "heard_by",
            "delivered" => "delivered_to",
            "declined" => "declined_by",
            _ => "failed_for",
        };
        let name = match who {
            Some(u) => s.name_of(u).await,
            None => s.ivr.voice.say(&[Part::Prompt("someone")]),
        };
        if s.say(&[
            Part::Prompt("your_message"),
            Part::Prompt(kind),
            Part::Audio(&name),
        ])
        .await?
        {
            break;
        }
    }
    let me = s.user.user_id();
    s.ivr
        .deps
        .store
        .run(move |c| users::mark_receipts_seen(c, &me, now))
        .await?;
    s.user.receipts_seen_at = Some(now);
    Ok(())
}
