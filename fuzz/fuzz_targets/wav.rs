//! WAV headers: a recorded name or a prompt as the IVR reads it for the phone (hound), and as
//! the portal decodes it (symphonia).
#![no_main]

use libfuzzer_sys::fuzz_target;

/// A decoder reserving what a file claims would abort the portal; see `CappedAlloc`.
#[global_allocator]
static ALLOC: hark_fuzz::CappedAlloc = hark_fuzz::CappedAlloc;

fuzz_target!(|data: &[u8]| {
    // Hark catches a panic inside a demuxer or codec and refuses the file (see
    // `hark_core::audio::decode`); libFuzzer's hook would abort on it first. Panics that
    // escape Hark's own code still abort (libfuzzer-sys aborts on an unwinding target).
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let _ = hark_ivr::voice::phone_audio(data);
    let _ = hark_core::audio::decode(data, 10);
});
