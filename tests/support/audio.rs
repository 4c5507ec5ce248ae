//! Test audio: known tones in, and checks that the same tone comes out.

use hark_core::audio::encode_wav;

/// A mono WAV of a sine at `freq` Hz.
pub fn sine_wav(freq: f32, seconds: f32, rate: u32) -> Vec<u8> {
    let n = (seconds * rate as f32) as usize;
    let samples: Vec<f32> = (0..n)
        .map(|i| (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin() * 0.5)
        .collect();
    encode_wav(&samples, rate)
}

/// Strength of `freq` in `samples` (Goertzel power, normalised to the signal's length).
pub fn tone_level(samples: &[f32], rate: u32, freq: f32) -> f32 {
    let w = 2.0 * std::f32::consts::PI * freq / rate as f32;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in samples {
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    power.max(0.0).sqrt() / samples.len().max(1) as f32
}

/// The frequency among `candidates` that is strongest in `samples`.
pub fn dominant(samples: &[f32], rate: u32, candidates: &[f32]) -> f32 {
    candidates
        .iter()
        .copied()
        .max_by(|a, b| tone_level(samples, rate, *a).total_cmp(&tone_level(samples, rate, *b)))
        .unwrap_or(0.0)
}

/// How long `freq` sounds, alone, in `samples`: 20 ms frames that are not quiet and whose
/// energy is mostly that tone (speech and silence around it do not count).
pub fn tone_ms(samples: &[f32], rate: u32, freq: f32) -> u64 {
    let frame = rate as usize / 50;
    let frames = samples
        .chunks(frame)
        .filter(|c| c.len() == frame)
        .filter(|c| {
            let rms = (c.iter().map(|s| s * s).sum::<f32>() / c.len() as f32).sqrt();
            rms > 0.02 && tone_level(c, rate, freq) / rms > 0.5
        })
        .count();
    frames as u64 * 20
}

/// The samples of a 16-bit mono WAV still being written (its sizes not yet final).
pub fn wav_so_far(bytes: &[u8]) -> Option<(u32, Vec<f32>)> {
    let fmt = bytes.windows(4).position(|w| w == b"fmt ")?;
    let rate = u32::from_le_bytes(bytes.get(fmt + 12..fmt + 16)?.try_into().ok()?);
    let data = bytes.windows(4).position(|w| w == b"data")? + 8;
    let samples = bytes
        .get(data..)?
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    Some((rate, samples))
}
