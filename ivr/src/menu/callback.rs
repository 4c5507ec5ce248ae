//! The callee's side of calls Hark places.
//!
//! Delivering a message: "Hello. This is Hark, with a voice message from <name>", the message,
//! then 1 hear it again, 2 reply, 3 decline. A key stops any prompt or the message. What
//! happened is kept in a [`Delivery`] as it happens, so a hang-up at any moment still reports
//! it truly: heard (the message played to its end, or they chose replay or reply), declined,
//! or answered and hung up before hearing it. Declining after hearing it declines the call's
//! attempt, but the sender's receipt still says "heard": they did.
//!
//! "Call me to record": straight to the beep for the recipients picked in the portal, then
//! the usual review; a hang-up after the beep sends what was said.

use super::{Session, Stop, TRIES, send};
use crate::voice::Part;
use hark_core::{ids::UserId, store::users::User};
use std::{future::Future, pin::Pin};

/// What the callee did with a delivered message, so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// They heard it: it played to the end, or they asked to replay or reply.
    pub heard: bool,
    /// `on_heard` recorded it (the sender's "heard" receipt is on its way).
    pub heard_recorded: bool,
    /// They pressed 3.
    pub declined: bool,
}

/// Records that the callee heard the message; true when it did.
pub type OnHeard = Box<dyn Fn() -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

impl Delivery {
    async fn hear(&mut self, on_heard: &OnHeard) {
        if !self.heard {
            self.heard = true;
            self.heard_recorded = on_heard().await;
        }
    }
}

/// Play `audio` from `sender` to the callee and take their choices. `on_heard` runs once, as
/// soon as they have heard it, so the sender learns it then, not when the call ends; it says
/// whether it recorded that.
pub async fn deliver(
    s: &mut Session<'_>,
    sender: &User,
    audio: &[i16],
    done: &mut Delivery,
    on_heard: OnHeard,
) -> Result<(), Stop> {
    let name = s.name_of(sender).await;
    let interrupted = s
        .say(&[Part::Prompt("callback_intro"), Part::Audio(&name)])
        .await?;
    let mut play = !interrupted;
    let mut unanswered = 0;
    let mut invalid = 0;
    loop {
        if play {
            play = false;
            if !s.line.play(audio).await? {
                done.hear(&on_heard).await;
            }
        }
        match s.choose_once(&[Part::Prompt("callback_menu")]).await? {
            Some('1') => {
                done.hear(&on_heard).await;
                play = true;
            }
            Some('2') => {
                done.hear(&on_heard).await;
                send::record_and_review(s, vec![sender.user_id()], None).await?;
                s.say(&[Part::Prompt("goodbye")]).await?;
                return Ok(());
            }
            Some('3') => {
                done.declined = true;
                s.say(&[Part::Prompt("goodbye")]).await?;
                return Ok(());
            }
            Some(_) => {
                invalid += 1;
                if invalid >= TRIES {
                    s.say(&[Part::Prompt("goodbye")]).await?;
                    return Ok(());
                }
                s.say(&[Part::Prompt("invalid")]).await?;
            }
            None => {
                unanswered += 1;
                if unanswered >= TRIES {
                    s.say(&[Part::Prompt("goodbye")]).await?;
                    return Ok(());
                }
            }
        }
    }
}

/// "Call me to record": record for `recipients` (the groups among them named by `sent_to`),
/// or ask for them when there are none.
pub async fn record(
    s: &mut Session<'_>,
    recipients: Vec<UserId>,
    sent_to: Option<String>,
) -> Result<(), Stop> {
    if recipients.is_empty() {
        send::run(s).await?;
    } else {
        send::record_and_review(s, recipients, sent_to).await?;
    }
    s.say(&[Part::Prompt("goodbye")]).await?;
    Ok(())
}
