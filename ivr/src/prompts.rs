//! The spoken prompts, embedded in the binary.
//!
//! `ivr/prompts/prompts.txt` lists them (`NAME|TEXT`); `scripts/prompts.sh` generates each
//! `NAME.wav` with espeak-ng (8 kHz, mono, 16-bit, ready for G.711); the build embeds exactly
//! the listed ones. Replace a WAV with a real recording, or change the text and rerun the
//! script.

/// One prompt: its name, what it says, and its WAV bytes.
#[derive(Debug)]
pub struct Prompt {
    pub name: &'static str,
    pub text: &'static str,
    wav: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/prompts.rs"));

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("no prompt named {0:?}")]
    Unknown(String),
    #[error("prompt {name:?} is not 8 kHz mono 16-bit WAV: {why}")]
    Format { name: &'static str, why: String },
}

/// Every prompt, in list order.
pub fn all() -> &'static [Prompt] {
    PROMPTS
}

pub fn get(name: &str) -> Result<&'static Prompt, PromptError> {
    PROMPTS
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| PromptError::Unknown(name.to_owned()))
}

impl Prompt {
    /// The prompt as 8 kHz samples.
    pub fn pcm(&self) -> Result<Vec<i16>, PromptError> {
        let bad = |why: String| PromptError::Format {
            name: self.name,
            why,
        };
        let reader = hound::WavReader::new(std::io::Cursor::new(self.wav))
            .map_err(|e| bad(e.to_string()))?;
        let spec = reader.spec();
        if spec.sample_rate != crate::media::LINE_RATE
            || spec.channels != 1
            || spec.bits_per_sample != 16
        {
            return Err(bad(format!("{spec:?}")));
        }
        reader
            .into_samples::<i16>()
            .collect::<Result<_, _>>()
            .map_err(|e| bad(e.to_string()))
    }
}

/// The prompt names that say a number digit by digit ("one", "two", "zero").
pub fn digits(n: u64) -> Vec<&'static str> {
    const NAMES: [&str; 10] = [
        "digit_0", "digit_1", "digit_2", "digit_3", "digit_4", "digit_5", "digit_6", "digit_7",
        "digit_8", "digit_9",
    ];
    n.to_string()
        .bytes()
        .map(|b| NAMES[usize::from(b - b'0')])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_prompt_is_usable_speech() {
        assert!(all().len() >= 40);
        for p in all() {
            let pcm = p.pcm().unwrap();
            let secs = pcm.len() as f32 / 8000.0;
            // Roughly as long as its text takes to say, and not silent.
            let words = p.text.split_whitespace().count().max(1) as f32;
            assert!(secs > 0.15 && secs < 1.0 + words, "{}: {secs} s", p.name);
            let rms =
                (pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / pcm.len() as f64).sqrt();
            assert!(rms > 500.0, "{} is nearly silent ({rms})", p.name);
        }
    }

    #[test]
    fn numbers_are_spoken_digit_by_digit() {
        assert_eq!(digits(102), ["digit_1", "digit_0", "digit_2"]);
        for name in digits(9_876_543_210) {
            assert!(get(name).is_ok());
        }
        assert!(matches!(get("nonesuch"), Err(PromptError::Unknown(_))));
    }
}
