//! The classes of tortuous and invalid SIP of RFC 4475 ("SIP Torture Test Messages"), written
//! for Hark's address and sent to a running IVR over UDP. Valid-but-strange messages must be
//! parsed and answered as their method deserves; invalid ones must be rejected (400, or
//! another 4xx/5xx the message earns) or dropped. After every message an OPTIONS probe must
//! still be answered, and at the end a message that was dropped must still have had no
//! answer. Every case is run, and all mismatches are reported at once.
//!
//! Over 500 lines on purpose: the torture cases are data, one after another.

mod support;

use std::net::SocketAddr;
use support::{Mode, Stack, sip_inbox::Inbox};

#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Answered with a final response with one of these codes.
    Answered(&'static [u16]),
    /// No final response, or one of these codes.
    Rejected(&'static [u16]),
}

struct Case {
    name: &'static str,
    call_id: String,
    bytes: Vec<u8>,
    expect: Expect,
}

/// Lines joined by CRLF, a blank line, then `body`; `{len}` in a line is the body's length.
fn message(lines: &[String], body: &str) -> Vec<u8> {
    let mut text = lines.join("\r\n").replace("{len}", &body.len().to_string());
    text.push_str("\r\n\r\n");
    text.push_str(body);
    text.into_bytes()
}

fn sdp() -> String {
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
     m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
        .into()
}

/// A well-formed request for `method`, as the base of most cases.
fn base(method: &str, id: &str, local: SocketAddr) -> Vec<String> {
    vec![
        format!("{method} sip:hark@127.0.0.1 SIP/2.0"),
        format!("Via: SIP/2.0/UDP {local};branch=z9hG4bK-{id}"),
        "Max-Forwards: 70".into(),
        format!("From: <sip:101@{local}>;tag=f-{id}"),
        "To: <sip:hark@127.0.0.1>".into(),
        format!("Call-ID: {id}"),
        format!("CSeq: 1 {method}"),
        format!("Contact: <sip:101@{local}>"),
    ]
}

fn with_len(mut lines: Vec<String>) -> Vec<String> {
    lines.push("Content-Length: {len}".into());
    lines
}

fn replace(lines: Vec<String>, from: &str, to: &str) -> Vec<String> {
    lines
        .into_iter()
        .map(|l| {
            if l.starts_with(from) {
                to.to_owned()
            } else {
                l
            }
        })
        .collect()
}

fn cases(local: SocketAddr) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut add = |name: &'static str, id: &str, bytes: Vec<u8>, expect: Expect| {
        cases.push(Case {
            name,
            call_id: id.to_owned(),
            bytes,
            expect,
        })
    };
    let invite_answers: &[u16] = &[200];

    // ---- Valid messages (RFC 4475 §3.1.1) ----

    // wsinv: short forms, header names in odd case, spaces around colons, folded values, an
    // unknown Request-URI parameter and unknown headers with odd values.
    let id = "t-wsinv";
    add(
        "wsinv: short forms, folding, odd case and whitespace",
        id,
        message(
            &[
                "INVITE sip:hark@127.0.0.1;unknownparam SIP/2.0".into(),
                "t :".into(),
                " <sip:hark@127.0.0.1>".into(),
                "from   : \"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>".into(),
                "  ;".into(),
                "  tag = 98asjd8".into(),
                "MaX-fOrWaRdS: 0068".into(),
                format!("i: {id}"),
                "l   : {len}".into(),
                "cseq: 0009".into(),
                "  INVITE".into(),
                format!("v  : SIP/2.0/UDP {local};branch=z9hG4bK-{id}"),
                "s :".into(),
                "NewFangledHeader:   newfangled value".into(),
                " continued newfangled value".into(),
                "UnknownHeaderWithUnusualValue: ;;,,;;,;".into(),
                "c: application/sdp".into(),
                format!("m:\"Quoted string \\\"\\\"\" <sip:101@{local}> ; newparam ="),
                "      newvalue ;".into(),
                "  secondparam ; q = 0.33".into(),
            ],
            &sdp(),
        ),
        Expect::Answered(invite_answers),
    );

    // intmeth: a method name of every token character; an unknown method gets 501.
    let id = "t-intmeth";
    let method = "!interesting-Method0123456789_*+`.%indeed'~";
    add(
        "intmeth: unknown method of odd token characters",
        id,
        message(&with_len(base(method, id, local)), ""),
        Expect::Answered(&[501]),
    );

    // esc01: escaped characters in the Request-URI user part and a display name.
    let id = "t-esc01";
    let lines = replace(
        base("INVITE", id, local),
        "INVITE ",
        "INVITE sip:sips%3Auser%40example.com@127.0.0.1 SIP/2.0",
    );
    let lines = replace(
        lines,
        "From:",
        &format!("From: \"%Z%45\" <sip:resource@{local}>;tag=f-{id}"),
    );
    let mut lines = with_len(lines);
    lines.push("Content-Type: application/sdp".into());
    add(
        "esc01: escaped user part and display name",
        id,
        message(&lines, &sdp()),
        Expect::Answered(invite_answers),
    );

    // escnull: %00 in a URI, in a REGISTER: challenged like any other (RFC 4475 lets a
    // registrar accept it; nothing is bound without credentials).
    let id = "t-escnull";
    let lines = replace(
        base("REGISTER", id, local),
        "To:",
        "To: sip:null-%00-null@127.0.0.1",
    );
    add(
        "escnull: %00 in a URI",
        id,
        message(&with_len(lines), ""),
        Expect::Answered(&[401]),
    );

    // esc02: an escaped method name is another method, not REGISTER: 501.
    let id = "t-esc02";
    add(
        "esc02: RE%47IST%45R is not REGISTER",
        id,
        message(&with_len(base("RE%47IST%45R", id, local)), ""),
        Expect::Answered(&[501]),
    );

    // lwsdisp: no space between a display name and its <.
    let id = "t-lwsdisp";
    let lines = replace(
        base("OPTIONS", id, local),
        "From:",
        &format!("From: caller<sip:caller@{local}>;tag=f-{id}"),
    );
    add(
        "lwsdisp: display name touching <",
        id,
        message(&with_len(lines), ""),
        Expect::Answered(&[200]),
    );

    // longreq: long values everywhere (a 2,000-character display name, a long unknown
    // header, many Via entries below ours).
    let id = "t-longreq";
    let mut lines = replace(
        base("OPTIONS", id, local),
        "To:",
        &format!(
            "To: \"{}\" <sip:hark@127.0.0.1>",
            "I have a long name ".repeat(100)
        ),
    );
    lines.push(format!("X-Long: {}", "a".repeat(3_000)));
    for i in 0..20 {
        lines.push(format!(
            "Via: SIP/2.0/TCP host{i}.example.com;branch=z9hG4bK{i}"
        ));
    }
    add(
        "longreq: long values and 21 Via entries",
        id,
        message(&with_len(lines), ""),
        Expect::Answered(&[200]),
    );

    // semiuri: a semicolon in the user part.
    let id = "t-semiuri";
    let lines = replace(
        base("OPTIONS", id, local),
        "OPTIONS ",
        "OPTIONS sip:user;par=u%40example.net@127.0.0.1 SIP/2.0",
    );
    add(
        "semiuri: ; in the user part",
        id,
        message(&with_len(lines), ""),
        Expect::Answered(&[200]),
    );

    // transports: transports Hark does not speak, further down the Via list.
    let id = "t-transports";
    let mut lines = base("OPTIONS", id, local);
    lines.push("Via: SIP/2.0/SCTP t1.example.com;branch=z9hG4bKkdjuw".into());
    lines.push("Via: SIP/2.0/TLS t2.example.com;branch=z9hG4bKklasjdhf".into());
    lines.push("Via: SIP/2.0/UNKNOWN t3.example.com;branch=z9hG4bKasd0f3en".into());
    add(
        "transports: SCTP, TLS and an unknown transport in Via",
        id,
        message(&with_len(lines), ""),
        Expect::Answered(&[200]),
    );

    // mpart01: an INVITE whose SDP is one part of multipart/mixed (as trunks send with ISUP).
    let id = "t-mpart01";
    let mut lines = with_len(base("INVITE", id, local));
    lines.push("Content-Type: multipart/mixed;boundary=7a9cbec02ceef655".into());
    lines.push("MIME-Version: 1.0".into());
    let body = format!(
        "--7a9cbec02ceef655\r\nContent-Type: application/sdp\r\nContent-Transfer-Encoding: binary\r\n\r\n{}\r\n\
         --7a9cbec02ceef655\r\nContent-Type: application/isup;version=itu-t92+\r\n\r\n\x01\x00\x49\x00\x00\r\n\
         --7a9cbec02ceef655--\r\n",
        sdp()
    );
    add(
        "mpart01: SDP inside multipart/mixed",
        id,
        message(&lines, &body),
        Expect::Answered(invite_answers),
    );

    // A body Hark cannot read at all: 415 (with Accept), not a guess.
    let id = "t-ctype";
    let mut lines = with_len(base("INVITE", id, local));
    lines.push("Content-Type: application/x-unknown".into());
    add(
        "an INVITE body of an unknown type",
        id,
        message(&lines, "whatever"),
        Expect::Answered(&[415]),
    );

    // inv2543: an RFC 2543 INVITE (no magic cookie in the branch, no branch at all).
    let id = "t-inv2543";
    let lines = replace(
        base("INVITE", id, local),
        "Via:",
        &format!("Via: SIP/2.0/UDP {local}"),
    );
    let mut lines = with_len(lines);
    lines.push("Content-Type: application/sdp".into());
    add(
        "inv2543: an RFC 2543 INVITE without a branch",
        id,
        message(&lines, &sdp()),
        Expect::Answered(invite_answers),
    );

    // badbranch: a branch that is only the magic cookie.
    let id = "t-badbranch";
    let lines = replace(
        base("OPTIONS", id, local),
        "Via:",
        &format!("Via: SIP/2.0/UDP {local};branch=z9hG4bK"),
    );
    add(
        "badbranch: the magic cookie alone",
        id,
        message(&with_len(lines), ""),
        Expect::Answered(&[200]),
    );

    // zeromf: Max-Forwards 0 at the UAS it is meant for.
    let id = "t-zeromf";
    let lines = replace(
        base("OPTIONS", id, local),
        "Max-Forwards:",
        "Max-Forwards: 0",
    );
    add(
        "zeromf: Max-Forwards 0",
        id,
        message(&with_len(lines), ""),
        Expect::Answered(&[200, 483]),
    );

    // dblreq-like: bytes after the Content-Length are ignored.
    let id = "t-trailing";
    let mut bytes = message(&with_len(base("OPTIONS", id, local)), "");
    bytes.extend_from_slice(b"INVITE sip:hark@127.0.0.1 SIP/2.0\r\n\r\n");
    add(
        "dblreq: bytes after the body are ignored",
        id,
        bytes,
        Expect::Answered(&[200]),
    );

    // Methods are case-sensitive: "options" is not OPTIONS.
    let id = "t-lowercase";
    add(
        "lower-case method name is another method",
        id,
        message(&with_len(base("options", id, local)), ""),
        Expect::Answered(&[501]),
    );

    // ---- Invalid messages (RFC 4475 §3.1.2) ----

    // clerr: a Content-Length past the end of the datagram.
    let id = "t-clerr";
    let lines = base("INVITE", id, local);
    let mut lines = lines;
    lines.push("Content-Type: application/sdp".into());
    lines.push("Content-Length: 9999".into());
    add(
        "clerr: Content-Length larger than the message",
        id,
        message(&lines, &sdp()),
        Expect::Rejected(&[400]),
    );

    // ncl: a negative Content-Length.
    let id = "t-ncl";
    let mut lines = base("INVITE", id, local);
    lines.push("Content-Length: -999".into());
    add(
        "ncl: negative Content-Length",
        id,
        message(&lines, &sdp()),
        Expect::Rejected(&[400]),
    );

    // scalar02: a Max-Forwards and CSeq past their ranges.
    let id = "t-scalar02";
    let lines = replace(
        base("OPTIONS", id, local),
        "CSeq:",
        "CSeq: 36893488147419103232 OPTIONS",
    );
    let lines = replace(lines, "Max-Forwards:", "Max-Forwards: 300");
    add(
        "scalar02: CSeq and Max-Forwards out of range",
        id,
        message(&with_len(lines), ""),
        Expect::Rejected(&[400]),
    );

    // quotbal: an unterminated quoted string.
    let id = "t-quotbal";
    let lines = replace(
        base("INVITE", id, local),
        "To:",
        "To: \"Mr. J. User <sip:hark@127.0.0.1>",
    );
    add(
        "quotbal: unbalanced quotes",
        id,
        message(&with_len(lines), ""),
        Expect::Rejected(&[400]),
    );

    // ltgtruri: the Request-URI in angle brackets.
    let id = "t-ltgtruri";
    let lines = replace(
        base("INVITE", id, local),
        "INVITE ",
        "INVITE <sip:hark@127.0.0.1> SIP/2.0",
    );
    add(
        "ltgtruri: Request-URI in <>",
        id,
        message(&with_len(lines), ""),
        Expect::Rejected(&[400]),
    );

    // escruri: an unescaped space in the Request-URI.
    let id = "t-escruri";
    let lines = replace(
        base("INVITE", id, local),
        "INVITE ",
        "INVITE sip:user@127.0.0.1?Route=<sip:example.com, sip:other.example.com> SIP/2.0",
    );
    add(
        "escruri: unescaped spaces in the Request-URI",
        id,
        message(&with_len(lines), ""),
        Expect::Rejected(&[400]),
    );

    // lwsstart: several spaces between the parts of the request line.
    let id = "t-lwsstart";
    let lines = replace(
        base("OPTIONS", id, local),
        "OPTIONS ",
        "OPTIONS  sip:hark@127.0.0.1   SIP/2.0",
    );
    add(
        "lwsstart: extra spaces in the request line",
        id,
        message(&with_len(lines), ""),
        Expect::Rejected(&[400]),
    );

    // badvers: SIP/7.0.
    let id = "t-badvers";
    let lines = replace(
        base("OPTIONS", id, local),
        "OPTIONS ",
        "OPTIONS sip:hark@127.0.0.1 SIP/7.0",
    );
    add(
        "badvers: SIP/7.0",
        id,
        message(&with_len(lines), ""),
        Expect::Rejected(&[400, 505]),
    );

    // mismatch01: CSeq names another method.
    let id = "t-mismatch01";
    let lines = replace(base("OPTIONS", id, local), "CSeq:", "CSeq: 1 INVITE");
    add(
        "mismatch01: CSeq method differs from the request line",
        id,
        message(&with_len(lines), ""),
        Expect::Rejected(&[400]),
    );

    // mismatch02: an unknown method with a CSeq of another.
    let id = "t-mismatch02";
    let lines = replace(base("NEWMETHOD", id, local), "CSeq:", "CSeq: 1 INVITE");
    add(
        "mismatch02: unknown method, CSeq of another",
        id,
        message(&with_len(lines), ""),
        Expect::Rejected(&[400, 501]),
    );

    // insuf: the mandatory headers missing, one at a time.
    for (name, header) in [
        ("insuf: no Call-ID", "Call-ID:"),
        ("insuf: no CSeq", "CSeq:"),
        ("insuf: no From", "From:"),
        ("insuf: no To", "To:"),
        ("insuf: no Via", "Via:"),
    ] {
        let id = format!("t-insuf-{}", header.trim_end_matches(':').to_lowercase());
        let mut lines: Vec<String> = base("OPTIONS", &id, local)
            .into_iter()
            .filter(|l| !l.starts_with(header))
            .collect();
        if header == "Call-ID:" {
            // Keep something to match the answer on.
            lines.push(format!("X-Id: {id}"));
        }
        add(
            name,
            &id,
            message(&with_len(lines), ""),
            Expect::Rejected(&[400]),
        );
    }

    // bcast-like: a NUL and raw binary inside a header value.
    let id = "t-binary";
    let mut bytes = message(&with_len(base("OPTIONS", id, local)), "");
    let at = bytes.windows(4).position(|w| w == b"To: ").unwrap() + 4;
    bytes.splice(at..at, b"\x00\xff\xfe".iter().copied());
    add(
        "NUL and binary bytes in a header",
        id,
        bytes,
        Expect::Rejected(&[400]),
    );

    // Responses nobody asked for (unreason, noreason): nothing to answer.
    let id = "t-unreason";
    let mut lines = base("OPTIONS", id, local);
    lines[0] = "SIP/2.0 200 = 2**3 * 5**2 но сто девяносто девять - простое".into();
    add(
        "unreason: a stray response with an odd reason phrase",
        id,
        message(&with_len(lines), ""),
        Expect::Rejected(&[]),
    );
    let id = "t-noreason";
    let mut lines = base("OPTIONS", id, local);
    lines[0] = "SIP/2.0 100 ".into();
    add(
        "noreason: a stray response without a reason phrase",
        id,
        message(&with_len(lines), ""),
        Expect::Rejected(&[]),
    );
    let id = "t-bigcode";
    let mut lines = base("OPTIONS", id, local);
    lines[0] = "SIP/2.0 4294967301 better not break the receiver".into();
    add(
        "bigcode: a response code past 699",
        id,
        message(&with_len(lines), ""),
        Expect::Rejected(&[]),
    );

    // Past Hark's own limits: 513 for a message over max_message_bytes, 400 for too many
    // header fields.
    let id = "t-toolarge";
    let mut lines = base("OPTIONS", id, local);
    lines.push(format!("X-Pad: {}", "p".repeat(17_000)));
    add(
        "a message over max_message_bytes",
        id,
        message(&with_len(lines), ""),
        Expect::Rejected(&[513]),
    );
    let id = "t-headers";
    let mut lines = base("OPTIONS", id, local);
    for i in 0..120 {
        lines.push(format!("X-H{i}: {i}"));
    }
    add(
        "more header fields than max_headers",
        id,
        message(&with_len(lines), ""),
        Expect::Rejected(&[400]),
    );
    // A maddr in Via must not send the answer elsewhere: it still comes to the source.
    let id = "t-maddr";
    let lines = replace(
        base("OPTIONS", id, local),
        "Via:",
        &format!("Via: SIP/2.0/UDP {local};maddr=192.0.2.1;branch=z9hG4bK-{id}"),
    );
    add(
        "maddr in Via names another host",
        id,
        message(&with_len(lines), ""),
        Expect::Answered(&[200]),
    );
    cases
}

/// The final response code for `call_id` among `seen` (matched on Call-ID, its compact form
/// `i:`, or the `X-Id` some cases carry).
fn final_for(seen: &[String], call_id: &str) -> Option<u16> {
    seen.iter().find_map(|r| {
        let mentions = r.lines().any(|l| {
            let l = l.to_ascii_lowercase();
            (l.starts_with("call-id:") || l.starts_with("i:") || l.starts_with("x-id:"))
                && l.split_once(':').is_some_and(|(_, v)| v.trim() == call_id)
        });
        let code: u16 = r.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()?;
        (mentions && code >= 200).then_some(code)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torture_messages_are_answered_or_rejected() {
    let stack = Stack::start_with(Mode::Embedded, |c| c.ivr.max_calls = 100).await;
    let ivr = stack.ivr_addr();
    let mut inbox = Inbox::bind().await;
    let local = inbox.local();
    let cases = cases(local);
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        inbox.send(ivr, &case.bytes).await;
        // The endpoint answers a plain OPTIONS after each one.
        let probe = format!("probe-{i}");
        let options = message(&with_len(base("OPTIONS", &probe, local)), "");
        inbox.send(ivr, &options).await;
        if inbox.wait_for(|seen| final_for(seen, &probe)).await != Some(200) {
            failures.push(format!("{}: the IVR stopped answering after it", case.name));
            break;
        }
        if let Expect::Answered(codes) = case.expect {
            match inbox.wait_for(|seen| final_for(seen, &case.call_id)).await {
                Some(code) if codes.contains(&code) => {}
                other => failures.push(format!(
                    "{}: expected a final response in {codes:?}, got {other:?}",
                    case.name
                )),
            }
        }
    }
    // One last probe, then every rejected case is judged on all that came back.
    let options = message(&with_len(base("OPTIONS", "probe-last", local)), "");
    inbox.send(ivr, &options).await;
    assert_eq!(
        inbox.wait_for(|seen| final_for(seen, "probe-last")).await,
        Some(200)
    );
    for case in &cases {
        if let Expect::Rejected(codes) = case.expect
            && let Some(code) = final_for(&inbox.seen, &case.call_id)
            && !codes.contains(&code)
        {
            failures.push(format!(
                "{}: expected no answer or one in {codes:?}, got {code}",
                case.name
            ));
        }
    }
    let report: Vec<String> = cases
        .iter()
        .map(|c| format!("{:<60} -> {:?}", c.name, final_for(&inbox.seen, &c.call_id)))
        .collect();
    eprintln!("{}", report.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    stack.stop().await;
}
