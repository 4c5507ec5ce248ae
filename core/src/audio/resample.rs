//! Sample-rate conversion with rubato's FFT resampler (fixed input chunks).

use super::AudioError;
use rubato::{FftFixedIn, Resampler};

const CHUNK: usize = 1024;

/// Resample mono audio; the output has exactly `len * to / from` samples, aligned with the
/// input (the resampler's delay is removed).
pub fn resample(input: &[f32], from: u32, to: u32) -> Result<Vec<f32>, AudioError> {
    if from == to || input.is_empty() {
        return Ok(input.to_vec());
    }
    let err = |e: &dyn std::fmt::Display| AudioError::Resample(e.to_string());
    let mut r =
        FftFixedIn::<f32>::new(from as usize, to as usize, CHUNK, 2, 1).map_err(|e| err(&e))?;
    let delay = r.output_delay();
    let expected = usize::try_from(input.len() as u64 * u64::from(to) / u64::from(from))
        .map_err(|e| err(&e))?;
    let mut out = Vec::with_capacity(expected + delay + CHUNK);
    let mut pos = 0;
    while pos + CHUNK <= input.len() {
        let o = r
            .process(&[&input[pos..pos + CHUNK]], None)
            .map_err(|e| err(&e))?;
        out.extend_from_slice(&o[0]);
        pos += CHUNK;
    }
    if pos < input.len() {
        let o = r
            .process_partial(Some(&[&input[pos..]]), None)
            .map_err(|e| err(&e))?;
        out.extend_from_slice(&o[0]);
    }
    // Flush the resampler's tail until the delayed output covers the whole input.
    let mut guard = 0;
    while out.len() < expected + delay && guard < 64 {
        let o = r
            .process_partial::<&[f32]>(None, None)
            .map_err(|e| err(&e))?;
        out.extend_from_slice(&o[0]);
        guard += 1;
    }
    out.drain(..delay.min(out.len()));
    out.truncate(expected);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f32, rate: u32, secs: f32) -> Vec<f32> {
        (0..(rate as f32 * secs) as usize)
            .map(|i| (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin() * 0.5)
            .collect()
    }

    /// Correlate against a reference sine: high means the tone survived at the right pitch.
    fn tone_strength(x: &[f32], freq: f32, rate: u32) -> f32 {
        let (mut s, mut c) = (0.0f32, 0.0f32);
        for (i, v) in x.iter().enumerate() {
            let ph = 2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32;
            s += v * ph.sin();
            c += v * ph.cos();
        }
        (s * s + c * c).sqrt() / x.len() as f32
    }

    #[test]
    fn keeps_length_and_pitch() {
        let x = sine(440.0, 44_100, 1.5);
        let y = resample(&x, 44_100, 16_000).unwrap();
        assert_eq!(y.len(), 24_000);
        assert!(tone_strength(&y, 440.0, 16_000) > 0.2);
        assert!(tone_strength(&y, 523.0, 16_000) < 0.02);
        let z = resample(&sine(440.0, 8_000, 1.0), 8_000, 16_000).unwrap();
        assert_eq!(z.len(), 16_000);
        assert!(tone_strength(&z, 440.0, 16_000) > 0.2);
    }
}
