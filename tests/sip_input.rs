//! Hostile and odd SIP at the IVR, over a raw UDP socket: each gets the right protocol
//! answer (or is dropped), never a crash, and the endpoint keeps answering afterwards. An
//! INVITE flood past `max_calls` is refused with 503 and Retry-After instead of taken on.

mod support;

use std::net::SocketAddr;
use support::{Mode, Stack, sip_inbox::Inbox};

fn request(method: &str, call_id: &str, local: SocketAddr, extra: &str, body: &str) -> String {
    format!(
        "{method} sip:hark@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-{call_id}\r\n\
         From: <sip:101@{local}>;tag=t-{call_id}\r\n\
         To: <sip:hark@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:101@{local}>\r\n\
         Max-Forwards: 70\r\n\
         {extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn offer(payloads: &str, rtpmaps: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio 40000 RTP/AVP {payloads}\r\n{rtpmaps}"
    )
}

/// The first final response for `call_id`, waiting up to 5 s.
async fn first_final(inbox: &mut Inbox, call_id: &str) -> Option<String> {
    let tag = format!("Call-ID: {call_id}\r\n");
    inbox
        .wait_for(|seen| {
            seen.iter()
                .find(|r| r.contains(&tag) && !r.starts_with("SIP/2.0 1"))
                .cloned()
        })
        .await
}

async fn send(inbox: &Inbox, ivr: SocketAddr, text: &str) {
    inbox.send(ivr, text).await;
}

async fn hostile_sip_is_answered_or_dropped(mode: Mode) {
    let stack = Stack::start_with(mode, |c| c.ivr.max_calls = 2).await;
    let ivr = stack.ivr_addr();
    let mut inbox = Inbox::bind().await;
    let local = inbox.local();

    let options = |id: &str| request("OPTIONS", id, local, "", "");
    send(&inbox, ivr, &options("opt-1")).await;
    let ok = first_final(&mut inbox, "opt-1")
        .await
        .expect("OPTIONS answered");
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    assert!(
        ok.contains("INVITE") && ok.contains("INFO"),
        "Allow lists what Hark serves: {ok}"
    );

    send(&inbox, ivr, &request("FROB", "frob-1", local, "", "")).await;
    let r = first_final(&mut inbox, "frob-1")
        .await
        .expect("unknown method answered");
    assert!(r.starts_with("SIP/2.0 501"), "{r}");
    // A REGISTER without credentials is challenged (tests/registrar.rs goes further).
    send(&inbox, ivr, &request("REGISTER", "reg-1", local, "", "")).await;
    let r = first_final(&mut inbox, "reg-1")
        .await
        .expect("REGISTER answered");
    assert!(r.starts_with("SIP/2.0 401"), "{r}");

    // Garbage, truncation, missing mandatory headers, a Content-Length past the body, binary
    // noise and an oversize datagram: dropped, and nothing breaks.
    let full = request("OPTIONS", "bad-1", local, "", "");
    let no_call_id = full.replace("Call-ID: bad-1\r\n", "");
    let long_len = request("OPTIONS", "bad-2", local, "", "")
        .replace("Content-Length: 0", "Content-Length: 500");
    let huge = format!("{}{}", &full[..full.len() - 2], "X".repeat(60_000));
    for junk in [
        b"\x00\xff\xfe garbage \x01\x02".to_vec(),
        full.as_bytes()[..40].to_vec(),
        no_call_id.into_bytes(),
        long_len.into_bytes(),
        (0..1400u32).map(|i| (i * 7919 % 251) as u8).collect(),
        huge.into_bytes(),
        b"INVITE sip:hark@127.0.0.1 SIP/2.0\r\n\r\n".to_vec(),
    ] {
        inbox.send(ivr, &junk).await;
    }

    // An offer with no G.711: 488.
    let g722 = offer("9", "a=rtpmap:9 G722/8000\r\n");
    send(
        &inbox,
        ivr,
        &request(
            "INVITE",
            "inv-488",
            local,
            "Content-Type: application/sdp\r\n",
            &g722,
        ),
    )
    .await;
    let r = first_final(&mut inbox, "inv-488")
        .await
        .expect("INVITE answered");
    assert!(r.starts_with("SIP/2.0 488"), "{r}");

    // Five INVITEs at once with max_calls = 2: two answered, the rest 503 with Retry-After.
    let pcmu = offer("0 101", "a=rtpmap:101 telephone-event/8000\r\n");
    for i in 0..5 {
        let id = format!("flood-{i}");
        send(
            &inbox,
            ivr,
            &request(
                "INVITE",
                &id,
                local,
                "Content-Type: application/sdp\r\n",
                &pcmu,
            ),
        )
        .await;
    }
    let mut answered = 0;
    let mut refused = 0;
    for i in 0..5 {
        let id = format!("flood-{i}");
        let r = first_final(&mut inbox, &id)
            .await
            .expect("every INVITE gets a final response");
        if r.starts_with("SIP/2.0 200") {
            answered += 1;
        } else {
            assert!(r.starts_with("SIP/2.0 503"), "{r}");
            assert!(r.contains("Retry-After: 5"), "{r}");
            refused += 1;
        }
    }
    assert_eq!((answered, refused), (2, 3));

    // Still answering.
    send(&inbox, ivr, &options("opt-2")).await;
    let ok = first_final(&mut inbox, "opt-2")
        .await
        .expect("OPTIONS answered after all that");
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    stack.stop().await;
}

support::both_modes!(hostile_sip_is_answered_or_dropped);
