//! In-band DTMF: any audio a caller sends, 20 ms frame by frame (including short and empty
//! frames, and the loudest samples there are).
#![no_main]

use hark_ivr::media::dtmf::ToneDetector;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let pcm: Vec<i16> = data
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let mut detector = ToneDetector::default();
    for frame in pcm.chunks(160) {
        if let Some(key) = detector.push_frame(frame) {
            assert!("0123456789*#ABCD".contains(key), "{key:?}");
        }
    }
    let _ = detector.push_frame(&[]);
});
