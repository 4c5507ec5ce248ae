//! Audio: decoding uploads and the canonical stored format.
//!
//! Every recording is stored as **16 kHz, mono, 16-bit PCM WAV** (then encrypted by the blob
//! store). Wideband keeps web recordings and uploads clearly better than the telephone band,
//! every browser plays WAV natively (the e-mail link needs no transcoding), and the IVR's
//! 8 kHz G.711 is an exact 2:1 resample away. Uploads in any format symphonia reads (WAV,
//! MP3, Ogg Vorbis, FLAC, AAC/M4A) are decoded, mixed to mono and resampled with rubato.

mod decode;
mod isolated;
mod resample;
mod wav;

pub use decode::{Decoded, decode};
pub use isolated::{ChildDecoder, ChildLimits, Decoder, limit_this_process, serve_child};
pub use resample::resample;
pub use wav::encode_wav;

/// The stored sample rate.
pub const CANONICAL_RATE: u32 = 16_000;

#[derive(Debug, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum AudioError {
    #[error("the file is not audio in a supported format (WAV, MP3, Ogg Vorbis, FLAC, AAC/M4A)")]
    NotAudio,
    #[error("the audio is truncated: {got} of {expected} frames present")]
    Truncated { got: u64, expected: u64 },
    #[error("the audio is corrupt: {0}")]
    Corrupt(String),
    #[error("the recording is empty")]
    Empty,
    #[error("the recording is longer than the {max_seconds} s limit")]
    TooLong { max_seconds: u32 },
    #[error("resampling failed: {0}")]
    Resample(String),
    #[error("a sample rate of {0} Hz is not supported (4 kHz to 192 kHz)")]
    UnsupportedRate(u32),
    /// The decoder could not be run at all (not the file's fault).
    #[error("the audio decoder could not be started: {0}")]
    DecoderUnavailable(String),
}

/// A recording in the canonical format.
#[derive(Clone, Debug, PartialEq)]
pub struct Recording {
    pub wav: Vec<u8>,
    pub duration_ms: u32,
}

/// Decode any supported upload and convert it to the canonical format. CPU-bound: call it from
/// a blocking task.
pub fn normalize_upload(bytes: &[u8], max_seconds: u32) -> Result<Recording, AudioError> {
    let decoded = decode(bytes, max_seconds)?;
    let samples = resample(&decoded.samples, decoded.sample_rate, CANONICAL_RATE)?;
    if samples.is_empty() {
        return Err(AudioError::Empty);
    }
    let duration_ms =
        u32::try_from(samples.len() as u64 * 1000 / u64::from(CANONICAL_RATE)).unwrap_or(u32::MAX);
    Ok(Recording {
        wav: encode_wav(&samples, CANONICAL_RATE),
        duration_ms,
    })
}
