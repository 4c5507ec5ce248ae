//! RTP datagrams from the network: parsed, and fed through a call's jitter buffer in the
//! order they came (sequence numbers and timestamps are the peer's to choose).
#![no_main]

use hark_ivr::media::{jitter::JitterBuffer, rtp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Datagrams separated by 0xA5 bytes, each led by a 2-byte arrival time.
    let mut jitter = JitterBuffer::new(6);
    for chunk in data.split(|&b| b == 0xA5).take(256) {
        let (arrival, datagram) = match chunk {
            [a, b, rest @ ..] => (u32::from(u16::from_le_bytes([*a, *b])), rest),
            _ => continue,
        };
        if let Ok(packet) = rtp::parse(datagram) {
            // Building it again gives back what was parsed.
            let again = rtp::parse(&rtp::build(&packet)).expect("our own packet parses");
            assert_eq!(again, packet);
            jitter.push(packet, arrival);
            let _ = jitter.pop();
        }
    }
    let _ = jitter.drain();
    let _ = jitter.stats();
});
