//! Hostile uploads cannot make the decoder reserve what their length fields claim.
//!
//! A failed allocation aborts the whole process (there is no panic to catch), so on a server
//! with less memory than a crafted file claims, one small upload would stop the portal; where
//! memory is overcommitted the reservation "succeeds" and only waits to be touched. Either
//! way Hark must not ask for it. This binary counts every byte the global allocator hands
//! out while each file is decoded: the fuzz findings (an M4A claiming 4 billion table
//! entries, FLACs whose Vorbis comment claims 1.8 and 4 GB) and hand-made files for the
//! other fields Hark's patches bound (a FLAC picture, an ID3v2 frame, a WAV INFO chunk, each
//! claiming ~4 GB) are refused or decoded having asked for a few MiB, and real files in every
//! format still decode.
//!
//! One test function: the counters are process-wide, so nothing may run beside it.

use hark_core::audio::{AudioError, decode};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// More than any file below needs to decode (the real ones are 1.5 s of 44.1 kHz stereo),
/// far less than any of the claims.
const BUDGET: usize = 64 << 20;

/// Decode `bytes`, returning the result and the bytes requested from the allocator meanwhile
/// (fresh allocations plus growth by reallocation).
fn decode_counting(bytes: &[u8]) -> (Result<hark_core::audio::Decoded, AudioError>, usize) {
    let region = Region::new(GLOBAL);
    let result = decode(bytes, 60);
    let change = region.change();
    let grown = usize::try_from(change.bytes_reallocated.max(0)).unwrap_or(usize::MAX);
    (result, change.bytes_allocated.saturating_add(grown))
}

/// A FLAC metadata block header.
fn flac_block(kind: u8, last: bool, len: u32) -> Vec<u8> {
    let mut h = vec![kind | if last { 0x80 } else { 0 }];
    h.extend_from_slice(&len.to_be_bytes()[1..]);
    h
}

/// `fLaC` and the STREAMINFO of a real file, then a PICTURE block whose media type claims
/// 4 GB.
fn flac_with_a_huge_picture() -> Vec<u8> {
    let real = include_bytes!("../../tests/fixtures/tone440.flac");
    let mut f = b"fLaC".to_vec();
    f.extend(flac_block(0, false, 34));
    f.extend_from_slice(&real[8..42]);
    f.extend(flac_block(6, true, 64));
    f.extend_from_slice(&3u32.to_be_bytes()); // front cover
    f.extend_from_slice(&0xFFFF_FFF0u32.to_be_bytes()); // media type length
    f.extend_from_slice(&[b'i'; 56]);
    f
}

/// An ID3v2.3 tag whose one frame claims 4 GB, before a real MP3.
fn mp3_with_a_huge_id3_frame() -> Vec<u8> {
    let mut f = b"ID3\x03\x00\x00".to_vec();
    f.extend_from_slice(&[0, 0, 1, 0]); // tag size 128, syncsafe
    f.extend_from_slice(b"TIT2");
    f.extend_from_slice(&0xFFFF_FF00u32.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&[b't'; 118]);
    f.extend_from_slice(include_bytes!("../../tests/fixtures/tone440.mp3"));
    f
}

/// A WAV whose LIST/INFO chunk holds a title claiming 4 GB.
fn wav_with_a_huge_info_chunk() -> Vec<u8> {
    let mut f = b"RIFF".to_vec();
    f.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    f.extend_from_slice(b"WAVEfmt ");
    f.extend_from_slice(&16u32.to_le_bytes());
    f.extend_from_slice(&1u16.to_le_bytes()); // PCM
    f.extend_from_slice(&1u16.to_le_bytes()); // mono
    f.extend_from_slice(&8_000u32.to_le_bytes());
    f.extend_from_slice(&16_000u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&16u16.to_le_bytes());
    f.extend_from_slice(b"LIST");
    f.extend_from_slice(&0xFFFF_FF00u32.to_le_bytes());
    f.extend_from_slice(b"INFOINAM");
    f.extend_from_slice(&0xFFFF_F000u32.to_le_bytes());
    f.extend_from_slice(&[b'n'; 64]);
    f
}

#[test]
fn hostile_lengths_reserve_nothing_and_real_files_still_decode() {
    let hostile: [(&str, Vec<u8>); 6] = [
        (
            "M4A stsc claiming 4 billion entries (fuzz)",
            include_bytes!("fixtures/fuzz-m4a-stsc-64gb.m4a").to_vec(),
        ),
        (
            "FLAC vendor string claiming 1.8 GB (fuzz)",
            include_bytes!("fixtures/fuzz-flac-vendor-1g.flac").to_vec(),
        ),
        (
            "FLAC comment claiming 4 GB (fuzz)",
            include_bytes!("fixtures/fuzz-flac-comment-4g.flac").to_vec(),
        ),
        ("FLAC picture claiming 4 GB", flac_with_a_huge_picture()),
        ("ID3v2 frame claiming 4 GB", mp3_with_a_huge_id3_frame()),
        ("WAV INFO chunk claiming 4 GB", wav_with_a_huge_info_chunk()),
    ];
    for (what, bytes) in &hostile {
        let (result, asked) = decode_counting(bytes);
        assert!(
            asked < BUDGET,
            "{what}: the decoder asked for {asked} bytes ({result:?})"
        );
        // Refused, or (the ID3 tag being damage before a real MP3) decoded without it.
        if let Ok(d) = result {
            assert!(what.starts_with("ID3"), "{what} decoded: {d:?}");
        }
    }

    for (name, bytes) in [
        (
            "flac",
            &include_bytes!("../../tests/fixtures/tone440.flac")[..],
        ),
        (
            "ogg",
            &include_bytes!("../../tests/fixtures/tone440.ogg")[..],
        ),
        (
            "mp3",
            &include_bytes!("../../tests/fixtures/tone440.mp3")[..],
        ),
        (
            "m4a",
            &include_bytes!("../../tests/fixtures/tone440.m4a")[..],
        ),
    ] {
        let (result, asked) = decode_counting(bytes);
        let d = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        let ms = d.samples.len() as u64 * 1000 / u64::from(d.sample_rate);
        assert!((1400..=1600).contains(&ms), "{name}: {ms} ms");
        assert!(asked < BUDGET, "{name}: {asked} bytes");
    }
}
