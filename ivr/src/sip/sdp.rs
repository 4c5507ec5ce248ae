//! SDP offer/answer for calls (RFC 3264), parsed and written with sdp-types.
//!
//! Hark speaks the codecs of [`Codec::ALL`] (G.711 at 8 kHz: PCMU or PCMA, whichever the offer lists first) with
//! `telephone-event/8000` for RFC 4733 digits, in 20 ms packets. Static payload types (0, 8)
//! are understood with or without `rtpmap`; dynamic ones by their `rtpmap`. Streams Hark does
//! not take (video, a second audio stream, wideband-only offers) are answered with port 0, as
//! RFC 3264 requires one answer line per offered line. An offer with no usable audio is
//! refused with [`SdpError::NoCommonCodec`], which the SIP layer answers with 488.

use crate::media::codec::Codec;
use sdp_types::{AddrType, Attribute, Connection, Media, NetType, Origin, Session, Time};
use std::net::{IpAddr, SocketAddr};

/// Which way media flows, from Hark's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    /// The remote put the call on hold (it offered `sendonly`).
    RecvOnly,
    SendOnly,
    Inactive,
}

impl Direction {
    fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::RecvOnly => "recvonly",
            Direction::SendOnly => "sendonly",
            Direction::Inactive => "inactive",
        }
    }
}

/// What both sides agreed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    pub payload_type: u8,
    /// RFC 4733 payload type, if the peer offered `telephone-event`.
    pub dtmf_payload_type: Option<u8>,
    /// Where to send RTP (until symmetric RTP learns the real source).
    pub remote: SocketAddr,
    pub direction: Direction,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("malformed SDP: {0}")]
    Malformed(String),
    #[error("no audio stream with PCMU or PCMA at 8 kHz")]
    NoCommonCodec,
}

/// The payload types in an `m=` line's format list, with what they carry.
fn formats(m: &Media) -> Vec<(u8, Option<(String, u32)>)> {
    m.fmt
        .split_whitespace()
        .filter_map(|t| t.parse::<u8>().ok())
        .map(|pt| {
            let map = m.attributes.iter().find_map(|a| {
                let v = a.value.as_deref()?;
                if a.attribute != "rtpmap" {
                    return None;
                }
                let (num, enc) = v.split_once(' ')?;
                if num.trim().parse::<u8>().ok()? != pt {
                    return None;
                }
                let mut parts = enc.trim().split('/');
                let name = parts.next()?.to_ascii_lowercase();
                let rate = parts.next()?.parse().ok()?;
                Some((name, rate))
            });
            (pt, map)
        })
        .collect()
}

fn codec_of(pt: u8, map: &Option<(String, u32)>) -> Option<Codec> {
    match map {
        Some((name, clock)) => Codec::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name) && c.clock_rate() == *clock),
        None => Codec::from_payload_type(pt),
    }
}

fn connection_ip(c: &Connection) -> Result<IpAddr, SdpError> {
    // Multicast forms carry "/ttl": take the address part.
    let addr = c.connection_address.split('/').next().unwrap_or_default();
    addr.parse()
        .map_err(|_| SdpError::Malformed(format!("connection address {addr:?} is not an IP")))
}

fn direction_of(m: &Media, session: &Session) -> Direction {
    let has = |name: &str| m.has_attribute(name) || session.has_attribute(name);
    // Our direction mirrors theirs.
    if has("sendonly") {
        Direction::RecvOnly
    } else if has("recvonly") {
        Direction::SendOnly
    } else if has("inactive") {
        Direction::Inactive
    } else {
        Direction::SendRecv
    }
}

/// What Hark would accept from one media line, if anything.
fn choose(m: &Media, session: &Session) -> Result<Option<Negotiated>, SdpError> {
    if m.media != "audio" || m.port == 0 || !m.proto.eq_ignore_ascii_case("RTP/AVP") {
        return Ok(None);
    }
    let fmts = formats(m);
    let Some((pt, codec)) = fmts
        .iter()
        .find_map(|(pt, map)| codec_of(*pt, map).map(|c| (*pt, c)))
    else {
        return Ok(None);
    };
    let dtmf = fmts.iter().find_map(|(pt, map)| match map {
        Some((name, 8000)) if name == "telephone-event" => Some(*pt),
        _ => None,
    });
    let conn = m
        .connections
        .first()
        .or(session.connection.as_ref())
        .ok_or_else(|| SdpError::Malformed("no connection address".into()))?;
    Ok(Some(Negotiated {
        codec,
        payload_type: pt,
        dtmf_payload_type: dtmf,
        remote: SocketAddr::new(connection_ip(conn)?, m.port),
        direction: direction_of(m, session),
    }))
}

fn parse(sdp: &[u8]) -> Result<Session, SdpError> {
    Session::parse(sdp).map_err(|e| SdpError::Malformed(format!("{e:?}")))
}

fn session(local: IpAddr, id: u64, version: u64, medias: Vec<Media>) -> Session {
    let addrtype = if local.is_ipv4() {
        AddrType::Ip4
    } else {
        AddrType::Ip6
    };
    Session {
        origin: Origin {
            username: Some("hark".into()),
            sess_id: id.to_string(),
            sess_version: version,
            nettype: NetType::In,
            addrtype: addrtype.clone(),
            unicast_address: local.to_string(),
        },
        session_name: "Hark".into(),
        session_description: None,
        uri: None,
        emails: Vec::new(),
        phones: Vec::new(),
        connection: Some(Connection {
            nettype: NetType::In,
            addrtype,
            connection_address: local.to_string(),
        }),
        bandwidths: Vec::new(),
        times: vec![Time {
            start_time: 0,
            stop_time: 0,
            repeats: Vec::new(),
        }],
        time_zones: Vec::new(),
        key: None,
        attributes: Vec::new(),
        medias,
    }
}

fn attr(name: &str, value: Option<String>) -> Attribute {
    Attribute {
        attribute: name.into(),
        value,
    }
}

/// Our audio line: the codec(s), telephone-event, 20 ms, a direction.
fn audio_media(port: u16, codecs: &[(u8, Codec)], dtmf: Option<u8>, dir: Direction) -> Media {
    let mut fmt: Vec<String> = codecs.iter().map(|(pt, _)| pt.to_string()).collect();
    let mut attributes: Vec<Attribute> = codecs
        .iter()
        .map(|(pt, c)| attr("rtpmap", Some(format!("{pt} {}/8000", c.name()))))
        .collect();
    if let Some(pt) = dtmf {
        fmt.push(pt.to_string());
        attributes.push(attr("rtpmap", Some(format!("{pt} telephone-event/8000"))));
        attributes.push(attr("fmtp", Some(format!("{pt} 0-16"))));
    }
    attributes.push(attr("ptime", Some("20".into())));
    attributes.push(attr(dir.attribute(), None));
    Media {
        media: "audio".into(),
        port,
        num_ports: None,
        proto: "RTP/AVP".into(),
        fmt: fmt.join(" "),
        media_title: None,
        connections: Vec::new(),
        bandwidths: Vec::new(),
        key: None,
        attributes,
    }
}

/// Answer an offer (an inbound INVITE): the agreement and the answer's SDP text.
pub fn answer(
    offer: &[u8],
    local: IpAddr,
    local_port: u16,
    session_id: u64,
) -> Result<(Negotiated, String), SdpError> {
    let offered = parse(offer)?;
    let mut chosen: Option<Negotiated> = None;
    let mut medias = Vec::with_capacity(offered.medias.len());
    for m in &offered.medias {
        let pick = if chosen.is_none() {
            choose(m, &offered)?
        } else {
            None
        };
        match pick {
            Some(n) => {
                medias.push(audio_media(
                    local_port,
                    &[(n.payload_type, n.codec)],
                    n.dtmf_payload_type,
                    n.direction,
                ));
                chosen = Some(n);
            }
            None => {
                // Declined stream: same media and format list, port 0.
                medias.push(Media {
                    media: m.media.clone(),
                    port: 0,
                    num_ports: None,
                    proto: m.proto.clone(),
                    fmt: m.fmt.clone(),
                    media_title: None,
                    connections: Vec::new(),
                    bandwidths: Vec::new(),
                    key: None,
                    attributes: Vec::new(),
                });
            }
        }
    }
    let n = chosen.ok_or(SdpError::NoCommonCodec)?;
    let text = session(local, session_id, session_id, medias).to_string();
    Ok((n, text))
}

/// Our offer for an outbound call: PCMU, PCMA and telephone-event (101).
pub fn offer(local: IpAddr, local_port: u16, session_id: u64) -> String {
    let media = audio_media(
        local_port,
        &Codec::ALL.map(|c| (c.payload_type(), c)),
        Some(101),
        Direction::SendRecv,
    );
    session(local, session_id, session_id, vec![media]).to_string()
}

/// Read the callee's answer to our offer.
pub fn accept_answer(answer: &[u8]) -> Result<Negotiated, SdpError> {
    let session = parse(answer)?;
    for m in &session.medias {
        if let Some(n) = choose(m, &session)? {
            return Ok(n);
        }
    }
    Err(SdpError::NoCommonCodec)
}

/// The SDP in a message body, by the body's `Content-Type`: `application/sdp` as it is, or
/// the `application/sdp` part of a `multipart/mixed` body (RFC 5621; trunks add ISUP or
/// location parts). No `Content-Type` is taken as SDP, as lenient phones send. `None` when
/// the body holds no SDP Hark can read: the SIP layer answers 415 with `Accept`.
pub fn sdp_in_body<'a>(content_type: Option<&str>, body: &'a [u8]) -> Option<&'a [u8]> {
    let Some(content_type) = content_type else {
        return Some(body);
    };
    let (kind, params) = content_type.split_once(';').unwrap_or((content_type, ""));
    let kind = kind.trim();
    if kind.eq_ignore_ascii_case("application/sdp") {
        return Some(body);
    }
    if !kind.eq_ignore_ascii_case("multipart/mixed") {
        return None;
    }
    let boundary = params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"'))
    })?;
    if boundary.is_empty() || boundary.len() > 70 {
        return None;
    }
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut rest = body;
    // Each part starts after a delimiter line and ends at the CRLF before the next one.
    while let Some(at) = find(rest, delimiter) {
        rest = &rest[at + delimiter.len()..];
        if rest.starts_with(b"--") {
            return None; // The closing delimiter: no SDP part.
        }
        let end = find(rest, delimiter).unwrap_or(rest.len());
        let part = &rest[..end];
        let part = part
            .strip_prefix(b"\r\n")
            .or_else(|| part.strip_prefix(b"\n"))?;
        let (head, content) = split_head(part)?;
        let is_sdp = head.split(|&b| b == b'\n').any(|line| {
            let line = String::from_utf8_lossy(line);
            line.split_once(':').is_some_and(|(name, value)| {
                let name = name.trim();
                (name.eq_ignore_ascii_case("content-type") || name.eq_ignore_ascii_case("c"))
                    && value
                        .split(';')
                        .next()
                        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/sdp"))
            })
        });
        if is_sdp {
            // The line break before the next delimiter belongs to the delimiter.
            return Some(
                content
                    .strip_suffix(b"\r\n")
                    .or_else(|| content.strip_suffix(b"\n"))
                    .unwrap_or(content),
            );
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A MIME part's headers and content, split at the first empty line.
fn split_head(part: &[u8]) -> Option<(&[u8], &[u8])> {
    if let Some(at) = find(part, b"\r\n\r\n") {
        return Some((&part[..at], &part[at + 4..]));
    }
    find(part, b"\n\n").map(|at| (&part[..at], &part[at + 2..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    /// An offer as sipp sends it (PCMA first, RFC 4733 on 101).
    const SIPP: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
        c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 101\r\n\
        a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n";

    /// As linphone offers: wideband first, video too, media-level connection.
    const LINPHONE: &str = "v=0\r\no=alice 1 2 IN IP4 10.1.1.1\r\ns=Talk\r\nt=0 0\r\n\
        m=audio 7078 RTP/AVP 96 97 0 8 101\r\nc=IN IP4 127.0.0.1\r\n\
        a=rtpmap:96 opus/48000/2\r\na=rtpmap:97 speex/16000\r\na=rtpmap:101 telephone-event/8000\r\n\
        m=video 9078 RTP/AVP 98\r\nc=IN IP4 127.0.0.1\r\na=rtpmap:98 VP8/90000\r\n";

    #[test]
    fn answers_sipp_with_pcma_and_rfc4733() {
        let (n, text) = answer(SIPP.as_bytes(), LOCAL, 20_000, 7).unwrap();
        assert_eq!(n.codec, Codec::Pcma);
        assert_eq!((n.payload_type, n.dtmf_payload_type), (8, Some(101)));
        assert_eq!(n.remote, "127.0.0.1:6000".parse().unwrap());
        assert_eq!(n.direction, Direction::SendRecv);
        assert!(text.contains("m=audio 20000 RTP/AVP 8 101\r\n"), "{text}");
        assert!(text.contains("a=rtpmap:101 telephone-event/8000"), "{text}");
        assert!(text.contains("a=ptime:20"), "{text}");
        // Our answer parses as SDP and agrees with itself.
        assert_eq!(accept_answer(text.as_bytes()).unwrap().payload_type, 8);
    }

    #[test]
    fn picks_g711_from_a_wideband_offer_and_declines_video() {
        let (n, text) = answer(LINPHONE.as_bytes(), LOCAL, 20_002, 8).unwrap();
        assert_eq!((n.codec, n.payload_type), (Codec::Pcmu, 0));
        assert_eq!(n.remote, "127.0.0.1:7078".parse().unwrap());
        assert!(text.contains("m=audio 20002 RTP/AVP 0 101\r\n"), "{text}");
        assert!(text.contains("m=video 0 RTP/AVP 98\r\n"), "{text}");
    }

    #[test]
    fn hold_is_answered_recvonly() {
        let held = SIPP.replace(
            "a=fmtp:101 0-11,16\r\n",
            "a=fmtp:101 0-11,16\r\na=sendonly\r\n",
        );
        let (n, text) = answer(held.as_bytes(), LOCAL, 20_000, 9).unwrap();
        assert_eq!(n.direction, Direction::RecvOnly);
        assert!(text.contains("a=recvonly"), "{text}");
    }

    #[test]
    fn no_common_codec_and_garbage_are_refused() {
        let opus_only = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
            m=audio 5000 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n";
        assert_eq!(
            answer(opus_only.as_bytes(), LOCAL, 1, 1).unwrap_err(),
            SdpError::NoCommonCodec
        );
        // PCMU at the wrong clock rate is not PCMU.
        let odd = opus_only.replace("opus/48000/2", "PCMU/16000");
        assert_eq!(
            answer(odd.as_bytes(), LOCAL, 1, 1).unwrap_err(),
            SdpError::NoCommonCodec
        );
        assert!(matches!(
            answer(b"\x00\xffnot sdp", LOCAL, 1, 1),
            Err(SdpError::Malformed(_))
        ));
        let no_c = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";
        assert!(matches!(
            answer(no_c.as_bytes(), LOCAL, 1, 1),
            Err(SdpError::Malformed(_))
        ));
    }

    #[test]
    fn our_offer_is_accepted_by_our_own_answerer() {
        let o = offer(LOCAL, 30_000, 5);
        let (n, _) = answer(o.as_bytes(), LOCAL, 1, 1).unwrap();
        assert_eq!((n.codec, n.dtmf_payload_type), (Codec::Pcmu, Some(101)));
        assert_eq!(n.remote.port(), 30_000);
    }

    #[test]
    fn sdp_is_found_in_sdp_and_multipart_bodies_and_nothing_else() {
        let sdp = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n";
        assert_eq!(sdp_in_body(Some("application/sdp"), sdp), Some(&sdp[..]));
        assert_eq!(
            sdp_in_body(Some("Application/SDP; x=1"), sdp),
            Some(&sdp[..])
        );
        assert_eq!(sdp_in_body(None, sdp), Some(&sdp[..]));
        assert_eq!(sdp_in_body(Some("text/plain"), sdp), None);
        let multipart = b"--unique-boundary-1\r\n\
Content-Type: application/isup;version=itu-t92+\r\n\r\n\x01\x00\x49\r\n\
--unique-boundary-1\r\n\
Content-Type: application/sdp\r\n\r\n\
v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n\r\n\
--unique-boundary-1--\r\n";
        assert_eq!(
            sdp_in_body(
                Some("multipart/mixed;boundary=\"unique-boundary-1\""),
                multipart
            ),
            Some(&sdp[..])
        );
        // No SDP part, no boundary, or a body that never reaches a part: none.
        let isup_only = b"--b\r\nContent-Type: application/isup\r\n\r\nx\r\n--b--\r\n";
        assert_eq!(
            sdp_in_body(Some("multipart/mixed; boundary=b"), isup_only),
            None
        );
        assert_eq!(sdp_in_body(Some("multipart/mixed"), multipart), None);
        assert_eq!(
            sdp_in_body(Some("multipart/mixed;boundary=zz"), b"garbage"),
            None
        );
    }
}
