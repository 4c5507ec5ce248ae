//! What the IVR says: prompts (decoded once at start), numbers spoken digit by digit, and
//! recorded audio (people's names, messages), joined into one 8 kHz buffer per utterance.

use crate::{media::LINE_RATE, prompts};
use hark_core::audio;
use std::{collections::HashMap, sync::Arc};

/// A short pause between the parts of an utterance.
const GAP_MS: usize = 120;

/// One part of an utterance.
#[derive(Clone, Debug)]
pub enum Part<'a> {
    Prompt(&'static str),
    /// A number said digit by digit ("one zero two").
    Digits(&'a str),
    /// Recorded audio at 8 kHz.
    Audio(&'a [i16]),
}

#[derive(Debug)]
pub struct Voice {
    prompts: HashMap<&'static str, Arc<[i16]>>,
}

impl Voice {
    pub fn load() -> Result<Self, prompts::PromptError> {
        let mut map = HashMap::new();
        for p in prompts::all() {
            map.insert(p.name, Arc::from(p.pcm()?));
        }
        Ok(Self { prompts: map })
    }

    pub fn prompt(&self, name: &'static str) -> Arc<[i16]> {
        match self.prompts.get(name) {
            Some(p) => p.clone(),
            None => {
                // A missing prompt is a build mistake; say nothing rather than fail a call.
                tracing::error!(prompt = name, "no such prompt");
                Arc::from(Vec::new())
            }
        }
    }

    /// Join `parts` with short pauses.
    pub fn say(&self, parts: &[Part<'_>]) -> Vec<i16> {
        let gap = GAP_MS * LINE_RATE as usize / 1000;
        let mut out = Vec::new();
        for part in parts {
            if !out.is_empty() {
                out.extend(std::iter::repeat_n(0, gap));
            }
            match part {
                Part::Prompt(name) => out.extend_from_slice(&self.prompt(name)),
                Part::Digits(digits) => {
                    for (i, d) in digits.chars().filter_map(|c| c.to_digit(10)).enumerate() {
                        if i > 0 {
                            out.extend(std::iter::repeat_n(0, gap / 2));
                        }
                        out.extend_from_slice(&self.prompt(prompts::digits(u64::from(d))[0]));
                    }
                }
                Part::Audio(pcm) => out.extend_from_slice(pcm),
            }
        }
        out
    }
}

/// A stored recording (canonical WAV) as 8 kHz samples for the phone.
pub fn phone_audio(wav: &[u8]) -> Result<Vec<i16>, audio::AudioError> {
    let decoded = audio::decode(wav, u32::MAX)?;
    let pcm = audio::resample(&decoded.samples, decoded.sample_rate, LINE_RATE)?;
    Ok(pcm
        .into_iter()
        .map(|s| (s * 32767.0).clamp(-32768.0, 32767.0) as i16)
        .collect())
}

/// 8 kHz phone audio as a canonical WAV for storing.
pub fn stored_audio(pcm: &[i16]) -> Result<Vec<u8>, audio::AudioError> {
    let f: Vec<f32> = pcm.iter().map(|&s| f32::from(s) / 32768.0).collect();
    let up = audio::resample(&f, LINE_RATE, audio::CANONICAL_RATE)?;
    Ok(audio::encode_wav(&up, audio::CANONICAL_RATE))
}
