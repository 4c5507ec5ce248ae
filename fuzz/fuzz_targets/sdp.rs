//! An SDP body from a peer: an offer we answer (inbound INVITE, re-INVITE) and an answer we
//! accept (a callback's 200 OK).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let local = std::net::IpAddr::from([127, 0, 0, 1]);
    if let Ok((negotiated, text)) = hark_ivr::sip::sdp::answer(data, local, 20_000, 1) {
        // What we answer must itself be an answer we would accept.
        let back = hark_ivr::sip::sdp::accept_answer(text.as_bytes());
        assert!(back.is_ok(), "our own answer {text:?} does not parse: {back:?}");
        let _ = negotiated;
    }
    let _ = hark_ivr::sip::sdp::accept_answer(data);
    // The same bytes as an INVITE body of each kind: the SDP found is part of the body.
    for content_type in [None, Some("application/sdp"), Some("multipart/mixed;boundary=b")] {
        if let Some(sdp) = hark_ivr::sip::sdp::sdp_in_body(content_type, data) {
            let start = sdp.as_ptr() as usize - data.as_ptr() as usize;
            assert!(start + sdp.len() <= data.len());
        }
    }
});
