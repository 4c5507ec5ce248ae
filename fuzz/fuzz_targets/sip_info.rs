//! SIP INFO key presses: a Content-Type and a body, both the peer's.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (content_type, body) = text.split_once('\n').unwrap_or(("application/dtmf-relay", &text));
    if let Some(key) = hark_ivr::media::dtmf::parse_info(content_type, body) {
        assert!("0123456789*#ABCD".contains(key), "{key:?}");
    }
});
