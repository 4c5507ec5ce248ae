//! RFC 4733 telephone-event payloads, alone and as a stream of (timestamp, payload) packets
//! through the tracker that turns them into key presses.
#![no_main]

use hark_ivr::media::dtmf::{EventTracker, parse_event};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_event(data);
    let mut tracker = EventTracker::default();
    for packet in data.chunks(8).take(512) {
        if packet.len() < 4 {
            continue;
        }
        let timestamp = u32::from_be_bytes([packet[0], packet[1], packet[2], packet[3]]);
        if let Some(key) = tracker.on_packet(timestamp, &packet[4..]) {
            assert!("0123456789*#ABCD".contains(key), "{key:?}");
        }
    }
});
