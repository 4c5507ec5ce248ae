//! The caller flow (DESIGN.md, "IVR"): identify by caller id, else ask the extension; PIN
//! (locked after repeated failures); greeting with new-message and receipt counts; then the
//! main menu — 1 who is online, 2 send, 3 listen, 4 receipts, 5 record your name — and
//! direct dial, `<prefix><extension|group>` (at the main menu or as the number called),
//! straight to the beep.
//!
//! Every prompt can be interrupted by a key. No answer re-prompts; three in a row, or three
//! invalid choices, end the call politely, as callers of voicemail systems expect.

pub mod callback;
mod listen;
mod login;

pub use login::PhoneCaller;
mod online;
mod receipts;
mod send;

use crate::{
    Ivr,
    line::{HungUp, Line},
    voice::Part,
};
use hark_core::store::{StoreError, users::User};
use std::{sync::Arc, time::Duration};

/// Tries before a menu gives up on a caller who does not answer or keeps pressing wrong keys.
const TRIES: usize = 3;

/// Why the flow stopped early.
#[derive(Debug)]
pub enum Stop {
    HungUp,
    /// Something failed on Hark's side; the caller is told and the call ends.
    Failed(String),
}

impl From<HungUp> for Stop {
    fn from(_: HungUp) -> Self {
        Stop::HungUp
    }
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Failed(format!("store: {e}"))
    }
}

impl From<crate::recording::RecordingError> for Stop {
    fn from(e: crate::recording::RecordingError) -> Self {
        Stop::Failed(format!("recording: {e}"))
    }
}

/// One logged-in caller's session.
pub struct Session<'a> {
    pub ivr: Arc<Ivr>,
    pub line: &'a mut Line,
    pub user: User,
}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.user.extension)
            .finish_non_exhaustive()
    }
}

impl Session<'_> {
    pub async fn say(&mut self, parts: &[Part<'_>]) -> Result<bool, HungUp> {
        let pcm = self.ivr.voice.say(parts);
        self.line.play(&pcm).await
    }

    pub fn first_wait(&self) -> Duration {
        Duration::from_secs(u64::from(self.ivr.config.digit_timeout_secs))
    }

    /// A menu choice: play `prompt`, take one key; re-prompt on silence up to [`TRIES`].
    /// `None` when the caller never answered.
    pub async fn choose(&mut self, prompt: &[Part<'_>]) -> Result<Option<char>, HungUp> {
        for attempt in 0..TRIES {
            if attempt > 0 {
                self.say(&[Part::Prompt("no_input")]).await?;
            }
            self.say(prompt).await?;
            if let Some(k) = self.line.key(self.first_wait()).await? {
                return Ok(Some(k));
            }
        }
        Ok(None)
    }

    /// Play `prompt` and wait once for a key.
    pub async fn choose_once(&mut self, prompt: &[Part<'_>]) -> Result<Option<char>, HungUp> {
        self.say(prompt).await?;
        self.line.key(self.first_wait()).await
    }

    /// How a person is named to the caller: their recorded name, else "extension 1 0 2".
    pub async fn name_of(&self, person: &User) -> Vec<i16> {
        if let Some(blob) = &person.name_blob {
            match self.ivr.deps.blobs.get(blob).await {
                Ok(wav) => match crate::voice::phone_audio(&wav) {
                    Ok(pcm) => return pcm,
                    Err(e) => tracing::warn!(error = %e, "a recorded name does not decode"),
                },
                Err(e) => tracing::warn!(error = %e, "a recorded name is missing"),
            }
        }
        self.ivr
            .voice
            .say(&[Part::Prompt("extension"), Part::Digits(&person.extension)])
    }
}

/// Run the whole flow for one call. `caller` is the caller id's user part, `phone` who the
/// registered phone that called is (when it authenticated), `dialled` what they called (a
/// direct dial when it starts with the prefix).
pub async fn run(
    ivr: Arc<Ivr>,
    line: &mut Line,
    caller: Option<String>,
    phone: Option<PhoneCaller>,
    dialled: Option<String>,
) -> Result<(), Stop> {
    let Some(user) = login::login(&ivr, line, caller.as_deref(), phone.as_ref()).await? else {
        return Ok(());
    };
    tracing::info!(extension = %user.extension, "caller logged in");
    let mut s = Session { ivr, line, user };
    let prefix = s.ivr.config.direct_dial_prefix.clone();
    if let Some(number) = dialled
        .as_deref()
        .and_then(|d| d.strip_prefix(prefix.as_str()))
        .filter(|n| !prefix.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    {
        send::direct(&mut s, number).await?;
        s.say(&[Part::Prompt("goodbye")]).await?;
        return Ok(());
    }
    greet(&mut s).await?;
    main_menu(&mut s, &prefix).await
}

async fn greet(s: &mut Session<'_>) -> Result<(), Stop> {
    let id = s.user.user_id();
    let since = s.user.receipts_seen_at;
    let (new, receipts) = s
        .ivr
        .deps
        .store
        .run(move |c| {
            let new = hark_core::store::inbox::count_new(c, &id)?;
            let r = hark_core::store::receipts::list_for_sender_since(c, &id, since)?;
            Ok((new, r.len()))
        })
        .await?;
    let (new, receipts) = (new.to_string(), receipts.to_string());
    s.say(&[
        Part::Prompt("you_have"),
        Part::Digits(&new),
        Part::Prompt("new_messages"),
        Part::Digits(&receipts),
        Part::Prompt("new_receipts"),
    ])
    .await?;
    Ok(())
}

async fn main_menu(s: &mut Session<'_>, prefix: &str) -> Result<(), Stop> {
    let mut invalid = 0;
    loop {
        let Some(key) = s.choose(&[Part::Prompt("main_menu")]).await? else {
            s.say(&[Part::Prompt("goodbye")]).await?;
            return Ok(());
        };
        match key {
            '1' => online::run(s).await?,
            '2' => send::run(s).await?,
            '3' => listen::run(s).await?,
            '4' => receipts::run(s).await?,
            '5' => online::record_name(s).await?,
            k if prefix.starts_with(k) => {
                // The rest of the prefix (if longer than one key), then the number.
                let wait = s.first_wait();
                let rest = s.line.keys(8 + prefix.len(), wait, wait).await?;
                let typed = format!("{k}{}", rest.unwrap_or_default());
                match typed.strip_prefix(prefix).filter(|n| !n.is_empty()) {
                    Some(number) => send::direct(s, number).await?,
                    None => invalid_choice(s, &mut invalid).await?,
                }
            }
            _ => invalid_choice(s, &mut invalid).await?,
        }
        if invalid >= TRIES {
            s.say(&[Part::Prompt("goodbye")]).await?;
            return Ok(());
        }
    }
}

async fn invalid_choice(s: &mut Session<'_>, count: &mut usize) -> Result<(), HungUp> {
    *count += 1;
    s.say(&[Part::Prompt("invalid")]).await?;
    Ok(())
}
