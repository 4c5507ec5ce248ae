//! WAV headers: a recorded name or a prompt as the IVR reads it for the phone (hound), and as
//! the portal decodes it (symphonia).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = hark_ivr::voice::phone_audio(data);
    let _ = hark_core::audio::decode(data, 10);
});
