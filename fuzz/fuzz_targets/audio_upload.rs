//! An uploaded audio file (any container and codec symphonia reads), through the whole
//! upload path: decode with the length limit, resample, encode the stored WAV.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(recording) = hark_core::audio::normalize_upload(data, 60) {
        // What we store is a WAV we can read back, no longer than the limit.
        let back = hark_core::audio::decode(&recording.wav, 61).expect("our own WAV decodes");
        assert!(back.samples.len() as u64 <= 61 * u64::from(back.sample_rate));
    }
});
