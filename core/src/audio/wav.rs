//! Writing the canonical WAV (hound).

use std::io::Cursor;

/// Encode mono samples in [-1, 1] as 16-bit PCM WAV; out-of-range samples are clipped.
pub fn encode_wav(samples: &[f32], rate: u32) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = Cursor::new(Vec::with_capacity(44 + samples.len() * 2));
    // Writing to memory cannot fail for lack of space; hound only errors on I/O or on more
    // than 4 GiB of data, which the upload limit rules out.
    let result = (|| -> Result<(), hound::Error> {
        let mut w = hound::WavWriter::new(&mut out, spec)?;
        for s in samples {
            let v = (s.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16;
            w.write_sample(v)?;
        }
        w.finalize()
    })();
    if let Err(e) = result {
        tracing::error!(error = %e, "WAV encoding to memory failed");
    }
    out.into_inner()
}

#[cfg(test)]
mod tests {
    #[test]
    fn writes_a_wav_symphonia_reads_back() {
        let x: Vec<f32> = (0..1600).map(|i| ((i % 40) as f32 / 40.0) - 0.5).collect();
        let wav = super::encode_wav(&x, 16_000);
        assert_eq!(&wav[..4], b"RIFF");
        let d = crate::audio::decode(&wav, 60).unwrap();
        assert_eq!(d.sample_rate, 16_000);
        assert_eq!(d.samples.len(), 1600);
        assert!((d.samples[10] - x[10]).abs() < 1e-3);
    }
}
