//! Decoding uploads with symphonia, mixed down to mono `f32`.

use super::AudioError;
use std::io::Cursor;
use symphonia::core::{
    audio::SampleBuffer,
    codecs::{CODEC_TYPE_NULL, DecoderOptions},
    errors::Error as SymError,
    formats::FormatOptions,
    io::MediaSourceStream,
    meta::MetadataOptions,
    probe::Hint,
};

/// Mono samples in [-1, 1] at their original rate.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
}

/// Codecs with encoder delay and padding may report a few frames more than they decode; a gap
/// larger than this is a truncated file.
const FRAME_TOLERANCE: u64 = 4096;

/// Sample rates accepted. The length limit is counted in the file's own frames, so a file
/// declaring four billion of them a second would pass it while filling memory; no real
/// recording is outside this range.
pub const SAMPLE_RATES: std::ops::RangeInclusive<u32> = 4_000..=192_000;

/// Decode a whole file, refusing what is not audio, truncated, or longer than `max_seconds`
/// (checked while decoding, so a tiny file that expands to hours never fills memory).
///
/// A panic inside a demuxer or codec is a refused file, not a failed request: fuzzing found
/// symphonia's MP4 reader overflowing on a crafted `stts` atom (a panic where overflow checks
/// are on, garbage where they are off) and its AAC decoder indexing past a table
/// (`core/tests/fixtures/fuzz-*.m4a`).
pub fn decode(bytes: &[u8], max_seconds: u32) -> Result<Decoded, AudioError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decode_unguarded(bytes, max_seconds)
    }))
    .unwrap_or_else(|_| {
        Err(AudioError::Corrupt(
            "the decoder could not read this file".into(),
        ))
    })
}

fn decode_unguarded(bytes: &[u8], max_seconds: u32) -> Result<Decoded, AudioError> {
    let mss = MediaSourceStream::new(Box::new(Cursor::new(bytes.to_vec())), Default::default());
    let probed = symphonia::default::get_probe()
        .format(
            &Hint::new(),
            mss,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|_| AudioError::NotAudio)?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or(AudioError::NotAudio)?;
    let track_id = track.id;
    let sample_rate = track.codec_params.sample_rate.ok_or(AudioError::NotAudio)?;
    if !SAMPLE_RATES.contains(&sample_rate) {
        return Err(AudioError::UnsupportedRate(sample_rate));
    }
    let expected_frames = track.codec_params.n_frames;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|_| AudioError::NotAudio)?;
    let max_frames = u64::from(max_seconds) * u64::from(sample_rate);

    let mut samples: Vec<f32> = Vec::new();
    let mut buf: Option<SampleBuffer<f32>> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break,
            Err(e) => return Err(AudioError::Corrupt(e.to_string())),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            // A damaged packet is skipped, as players do; a file of nothing but damage ends
            // up empty and is refused below.
            Err(SymError::DecodeError(e)) => {
                tracing::debug!(error = e, "skipping undecodable packet");
                continue;
            }
            Err(SymError::IoError(_)) => break,
            Err(e) => return Err(AudioError::Corrupt(e.to_string())),
        };
        let spec = *decoded.spec();
        let channels = spec.channels.count().max(1);
        let sb = buf.get_or_insert_with(|| SampleBuffer::new(decoded.capacity() as u64, spec));
        if sb.capacity() < decoded.capacity() * channels {
            *sb = SampleBuffer::new(decoded.capacity() as u64, spec);
        }
        sb.copy_interleaved_ref(decoded);
        for frame in sb.samples().chunks(channels) {
            samples.push(frame.iter().sum::<f32>() / channels as f32);
        }
        if samples.len() as u64 > max_frames {
            return Err(AudioError::TooLong { max_seconds });
        }
    }
    if let Some(expected) = expected_frames {
        let got = samples.len() as u64;
        if got + FRAME_TOLERANCE < expected {
            return Err(AudioError::Truncated { got, expected });
        }
    }
    if samples.is_empty() {
        return Err(AudioError::Empty);
    }
    Ok(Decoded {
        samples,
        sample_rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WAV whose header claims `rate` samples a second.
    fn wav_claiming(rate: u32) -> Vec<u8> {
        let mut wav = super::super::encode_wav(&vec![0.25; 800], 8_000);
        wav[24..28].copy_from_slice(&rate.to_le_bytes());
        wav[28..32].copy_from_slice(&rate.wrapping_mul(2).to_le_bytes());
        wav
    }

    #[test]
    fn a_file_that_makes_the_demuxer_panic_is_refused() {
        // Found by the audio_upload fuzz target: an M4A whose stts atom overflows a sum in
        // symphonia-format-isomp4 0.5.5.
        let bytes = include_bytes!("../../tests/fixtures/fuzz-m4a-stts-overflow.m4a");
        let e = decode(bytes, 60).unwrap_err();
        assert!(
            matches!(e, AudioError::Corrupt(_) | AudioError::NotAudio),
            "{e}"
        );
        assert!(super::super::normalize_upload(bytes, 60).is_err());
    }

    #[test]
    fn m4a_decodes_with_its_index_before_or_after_the_audio() {
        // The two layouts encoders write (moov last, or first for streaming), through Hark's
        // patched MP4 reader.
        for bytes in [
            &include_bytes!("../../../tests/fixtures/tone440.m4a")[..],
            &include_bytes!("../../tests/fixtures/tone440-faststart.m4a")[..],
        ] {
            let d = decode(bytes, 60).expect("a real M4A");
            let ms = d.samples.len() as u64 * 1000 / u64::from(d.sample_rate);
            assert!((1400..=1600).contains(&ms), "{ms} ms");
        }
    }

    #[test]
    fn an_m4a_cut_short_in_its_audio_is_refused() {
        // Media data may run past the end of the file (the one atom Hark's patch lets overrun
        // its container); the reader then meets the end where the next atom should be.
        let whole = include_bytes!("../../tests/fixtures/tone440-faststart.m4a");
        let e = decode(&whole[..whole.len() - 6_000], 60).unwrap_err();
        assert!(
            matches!(e, AudioError::NotAudio | AudioError::Truncated { .. }),
            "{e}"
        );
    }

    #[test]
    fn a_file_that_claims_a_huge_table_is_refused_without_reserving_it() {
        // Found by the audio_upload fuzz target: a 13 KiB M4A whose `stsc` atom claims four
        // billion entries. symphonia-format-isomp4 0.5.5 reserved 64 GB for them and the
        // failed allocation aborted the whole process (no panic to catch); Hark's patch in
        // vendor/symphonia-format-isomp4 reserves only what the atom's bytes can hold.
        let bytes = include_bytes!("../../tests/fixtures/fuzz-m4a-stsc-64gb.m4a");
        let e = decode(bytes, 60).unwrap_err();
        assert!(
            matches!(e, AudioError::Corrupt(_) | AudioError::NotAudio),
            "{e}"
        );
        assert!(super::super::normalize_upload(bytes, 60).is_err());
    }

    #[test]
    fn absurd_sample_rates_are_refused_before_decoding() {
        // A file declaring four billion samples a second would pass any length limit
        // counted in its own frames.
        for rate in [4_000_000_000, 192_001, 3_999] {
            let e = decode(&wav_claiming(rate), 60).unwrap_err();
            assert!(
                matches!(e, AudioError::UnsupportedRate(r) if r == rate),
                "{e}"
            );
        }
        for rate in [4_000, 192_000] {
            let d = decode(&wav_claiming(rate), 60).expect("a rate at the edge of the range");
            assert_eq!(d.sample_rate, rate);
        }
    }
}
