//! A SIP datagram as the IVR's transport reads it (ezk-sip-core's `parse_complete`, rebuilt
//! from ezk-sip-types' public parser), then every header the IVR looks at, typed, and the
//! caller's identity (`P-Asserted-Identity` or `From`).
#![no_main]

use bytes::Bytes;
use ezk_sip_types::{
    Headers, Name,
    header::typed::{CSeq, CallID, Contact, ContentLength, ContentType, FromTo, MaxForwards, Via},
    msg::{Line, MessageLine, PullParser},
    parse::Parse,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let buffer = Bytes::copy_from_slice(data);
    let mut parser = PullParser::new(&buffer, 0);
    let mut message_line = None;
    let mut headers = Headers::new();
    for item in &mut parser {
        let Ok(line) = item else { return };
        let Ok(line) = std::str::from_utf8(line) else { return };
        if message_line.is_none() {
            match MessageLine::parse(&buffer)(line) {
                Ok((_, l)) => message_line = Some(l),
                Err(_) => return,
            }
        } else {
            match Line::parse(&buffer, line) {
                Ok((_, l)) => headers.insert(l.name, l.value),
                Err(_) => return,
            }
        }
    }
    let head_end = parser.head_end();
    if let Ok(len) = headers.get_named::<ContentLength>() {
        let _ = buffer.get(head_end..head_end.saturating_add(len.0));
    }
    let _ = headers.get_named::<Vec<Via>>();
    let _ = headers.get_named::<CallID>();
    let _ = headers.get_named::<CSeq>();
    let _ = headers.get_named::<MaxForwards>();
    let _ = headers.get_named::<ContentType>();
    let _ = headers.get_named::<Vec<Contact>>();
    let _ = headers.get::<FromTo>(Name::TO);
    if let Ok(from) = headers.get::<FromTo>(Name::FROM) {
        let _ = hark_ivr::sip::caller_user(&headers, &from);
    }
    let _ = message_line;
});
