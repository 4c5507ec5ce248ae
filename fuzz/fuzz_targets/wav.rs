//! WAV headers: a recorded name or a prompt as the IVR reads it for the phone (hound), and as
//! the portal decodes it (symphonia).
#![no_main]

use libfuzzer_sys::fuzz_target;

/// A decoder reserving what a file claims would abort the portal; see `CappedAlloc`.
#[global_allocator]
static ALLOC: hark_fuzz::CappedAlloc = hark_fuzz::CappedAlloc;

fuzz_target!(|data: &[u8]| {
    hark_fuzz::quiet_decoder_panics();
    let _ = hark_ivr::voice::phone_audio(data);
    let _ = hark_core::audio::decode(data, 10);
});
