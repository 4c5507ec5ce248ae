//! An uploaded audio file (any container and codec symphonia reads), through the whole
//! upload path: decode with the length limit, resample, encode the stored WAV.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// A decoder reserving what a file claims would abort the portal; see `CappedAlloc`.
#[global_allocator]
static ALLOC: hark_fuzz::CappedAlloc = hark_fuzz::CappedAlloc;

fuzz_target!(|data: &[u8]| {
    hark_fuzz::quiet_decoder_panics();
    if let Ok(recording) = hark_core::audio::normalize_upload(data, 60) {
        // What we store is a WAV we can read back, no longer than the limit.
        let back = hark_core::audio::decode(&recording.wav, 61).expect("our own WAV decodes");
        assert!(back.samples.len() as u64 <= 61 * u64::from(back.sample_rate));
    }
});
