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

/// Decode a whole file, refusing what is not audio, truncated, or longer than `max_seconds`
/// (checked while decoding, so a tiny file that expands to hours never fills memory).
pub fn decode(bytes: &[u8], max_seconds: u32) -> Result<Decoded, AudioError> {
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
