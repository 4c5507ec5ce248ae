//! A caller's line as the menus see it: play with barge-in, wait for keys, record.
//!
//! Keys arrive three ways — RFC 4733 events and in-band tones from the RTP session, INFO from
//! the dialog — and pass one [`Debouncer`], so a phone that sends a press two ways is heard
//! once. A key pressed during a prompt stops it and waits in the type-ahead buffer, so callers
//! who know the menus never wait for them. Audio that arrives while nothing records is read
//! and dropped, so the RTP task never backs up.
//!
//! The call ending (BYE, or the media going away) shows as [`HungUp`] from every operation,
//! except [`Line::record`], where it is an ordinary end: the recording keeps what was said.

use crate::{
    media::{
        LINE_RATE as RATE,
        dtmf::{Debouncer, Method},
        session::{MediaEvent, RtpSession},
    },
    metrics::Metrics,
};
use std::{
    collections::VecDeque,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The same key by a second method within this window is the same press.
const DEBOUNCE_MS: u64 = 200;
/// A 20 ms frame louder than this (RMS) is speech, not silence (about -38 dBFS).
const VOICE_RMS: f64 = 400.0;

/// The caller hung up (or the call's media ended).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HungUp;

/// What ended a recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordEnd {
    Key(char),
    Silence,
    Limit,
    HungUp,
}

/// A recording's result: how it ended and where the speech ended (samples), so trailing
/// silence can be cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub end: RecordEnd,
    pub voiced_until: usize,
    pub samples: usize,
}

enum Input {
    Audio(Vec<i16>),
    Digit(char),
}

struct Inputs {
    media: mpsc::Receiver<MediaEvent>,
    info: mpsc::Receiver<char>,
    ended: CancellationToken,
    debouncer: Debouncer,
    started: Instant,
    metrics: Arc<Metrics>,
}

impl Inputs {
    /// The next frame of audio or new key press. Cancel-safe.
    async fn next(&mut self) -> Result<Input, HungUp> {
        loop {
            let (digit, method) = tokio::select! {
                biased;
                _ = self.ended.cancelled() => return Err(HungUp),
                ev = self.media.recv() => match ev {
                    None => return Err(HungUp),
                    Some(MediaEvent::Audio(pcm)) => return Ok(Input::Audio(pcm)),
                    Some(MediaEvent::Digit(d, m)) => (d, m),
                },
                d = self.info.recv() => match d {
                    Some(d) => (d, Method::SipInfo),
                    None => std::future::pending().await,
                },
            };
            let at = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
            if self.debouncer.accept(digit, method, at) {
                // Never the digit: keys are PINs as often as menu choices.
                tracing::trace!(method = method.as_str(), "key");
                self.metrics.dtmf(method);
                return Ok(Input::Digit(digit));
            }
        }
    }
}

pub struct Line {
    rtp: RtpSession,
    inputs: Inputs,
    typeahead: VecDeque<char>,
}

impl std::fmt::Debug for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Line").finish_non_exhaustive()
    }
}

impl Line {
    pub fn new(
        rtp: RtpSession,
        media: mpsc::Receiver<MediaEvent>,
        info: mpsc::Receiver<char>,
        ended: CancellationToken,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            rtp,
            inputs: Inputs {
                media,
                info,
                ended,
                debouncer: Debouncer::new(DEBOUNCE_MS),
                started: Instant::now(),
                metrics,
            },
            typeahead: VecDeque::new(),
        }
    }

    pub fn rtp(&self) -> &RtpSession {
        &self.rtp
    }

    /// Play `pcm`, stopping at the first key (kept for the next read). True if a key
    /// interrupted it, or one was already waiting (then nothing plays).
    pub async fn play(&mut self, pcm: &[i16]) -> Result<bool, HungUp> {
        if !self.typeahead.is_empty() {
            return Ok(true);
        }
        self.play_until(pcm, true).await
    }

    /// Play `pcm` whole (the beep); keys pressed meanwhile wait.
    pub async fn play_whole(&mut self, pcm: &[i16]) -> Result<(), HungUp> {
        self.play_until(pcm, false).await.map(|_| ())
    }

    /// Play, keeping keys in the type-ahead buffer; with `barge_in` the first key stops it.
    async fn play_until(&mut self, pcm: &[i16], barge_in: bool) -> Result<bool, HungUp> {
        let play = self.rtp.play(pcm);
        tokio::pin!(play);
        loop {
            tokio::select! {
                done = &mut play => {
                    if let Err(e) = done {
                        tracing::debug!(error = %e, "playback failed");
                    }
                    return Ok(false);
                }
                input = self.inputs.next() => {
                    if let Input::Digit(d) = input? {
                        self.typeahead.push_back(d);
                        if barge_in {
                            return Ok(true);
                        }
                    }
                }
            }
        }
    }

    /// The next key, waiting at most `wait`; `None` on time-out.
    pub async fn key(&mut self, wait: Duration) -> Result<Option<char>, HungUp> {
        if let Some(d) = self.typeahead.pop_front() {
            return Ok(Some(d));
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.inputs.next()).await {
                Err(_) => return Ok(None),
                Ok(input) => {
                    if let Input::Digit(d) = input? {
                        return Ok(Some(d));
                    }
                }
            }
        }
    }

    /// Keys up to `#` (not included), at most `max`; `first` to wait for the first key,
    /// `between` for each next one. `None` when nothing was entered in time; a time-out after
    /// some keys ends the entry as `#` would. `*` alone is returned as `"*"`.
    pub async fn keys(
        &mut self,
        max: usize,
        first: Duration,
        between: Duration,
    ) -> Result<Option<String>, HungUp> {
        let mut out = String::new();
        loop {
            let wait = if out.is_empty() { first } else { between };
            match self.key(wait).await? {
                None if out.is_empty() => return Ok(None),
                None | Some('#') => return Ok(Some(out)),
                Some('*') if out.is_empty() => return Ok(Some("*".into())),
                Some(d) => {
                    out.push(d);
                    if out.len() >= max {
                        return Ok(Some(out));
                    }
                }
            }
        }
    }

    /// Forget keys pressed ahead (before a beep, so a stray press does not end a recording).
    pub fn clear_typeahead(&mut self) {
        self.typeahead.clear();
    }

    /// Record into `sink` until a key, `silence` without speech, `max` in all, or hang-up.
    pub async fn record(
        &mut self,
        silence: Duration,
        max: Duration,
        mut sink: impl FnMut(&[i16]),
    ) -> Recorded {
        let started = tokio::time::Instant::now();
        let mut last_voice = started;
        let mut samples = 0usize;
        let mut voiced_until = 0usize;
        let max_samples =
            usize::try_from(max.as_millis() * u128::from(RATE) / 1000).unwrap_or(usize::MAX);
        let end = loop {
            let deadline = (last_voice + silence).min(started + max);
            let input = match tokio::time::timeout_at(deadline, self.inputs.next()).await {
                Err(_) if deadline >= started + max => break RecordEnd::Limit,
                Err(_) => break RecordEnd::Silence,
                Ok(Err(HungUp)) => break RecordEnd::HungUp,
                Ok(Ok(input)) => input,
            };
            match input {
                Input::Digit(d) => break RecordEnd::Key(d),
                Input::Audio(pcm) => {
                    let room = max_samples.saturating_sub(samples);
                    let take = &pcm[..pcm.len().min(room)];
                    sink(take);
                    samples += take.len();
                    if is_voice(take) {
                        last_voice = tokio::time::Instant::now();
                        voiced_until = samples;
                    }
                    if samples >= max_samples {
                        break RecordEnd::Limit;
                    }
                }
            }
        };
        Recorded {
            end,
            voiced_until,
            samples,
        }
    }
}

pub(crate) fn is_voice(pcm: &[i16]) -> bool {
    if pcm.is_empty() {
        return false;
    }
    let energy: f64 = pcm.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (energy / pcm.len() as f64).sqrt() > VOICE_RMS
}

/// Milliseconds of line audio in `samples`.
pub fn ms(samples: usize) -> u32 {
    u32::try_from(samples as u64 * 1000 / u64::from(RATE)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::LINE_FRAME as FRAME;

    #[test]
    fn voice_is_loud_frames_only() {
        assert!(!is_voice(&[0; FRAME]));
        assert!(!is_voice(&[100; FRAME]));
        assert!(is_voice(&[3000; FRAME]));
        assert!(!is_voice(&[]));
    }
}
