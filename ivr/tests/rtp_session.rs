//! Two RTP sessions talking over loopback, and a hostile third party.

use hark_ivr::media::{
    LINE_FRAME as FRAME,
    codec::Codec,
    dtmf::Method,
    rtp::{self, Packet},
    session::{Counters, MediaEvent, Params, RtpSession, bind},
};
use std::{net::IpAddr, time::Duration};
use tokio::{net::UdpSocket, sync::mpsc};

const LO: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
const WAIT: Duration = Duration::from_secs(10);

fn sine(freq: f32, ms: usize) -> Vec<i16> {
    (0..ms * 8)
        .map(|i| (8000.0 * (2.0 * std::f32::consts::PI * freq * i as f32 / 8000.0).sin()) as i16)
        .collect()
}

fn level(x: &[i16], freq: f32) -> f32 {
    let (mut s, mut c) = (0.0f32, 0.0f32);
    for (i, v) in x.iter().enumerate() {
        let ph = 2.0 * std::f32::consts::PI * freq * i as f32 / 8000.0;
        s += f32::from(*v) * ph.sin();
        c += f32::from(*v) * ph.cos();
    }
    (s * s + c * c).sqrt() / x.len().max(1) as f32
}

async fn pair(
    codec: Codec,
) -> (
    RtpSession,
    mpsc::Receiver<MediaEvent>,
    RtpSession,
    mpsc::Receiver<MediaEvent>,
) {
    let a = bind(LO, 30_000..=30_400).await.unwrap();
    let b = bind(LO, 30_000..=30_400).await.unwrap();
    assert_eq!(a.local_addr().unwrap().port() % 2, 0, "even RTP port");
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let params = |remote| Params {
        codec,
        payload_type: codec.payload_type(),
        dtmf_payload_type: Some(101),
        remote,
    };
    let (a, a_rx) = RtpSession::start(a, params(b_addr));
    let (b, b_rx) = RtpSession::start(b, params(a_addr));
    (a, a_rx, b, b_rx)
}

/// Collect events until `done` says so (bounded by WAIT).
async fn collect(
    rx: &mut mpsc::Receiver<MediaEvent>,
    done: impl Fn(&[MediaEvent]) -> bool,
) -> Vec<MediaEvent> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done(&got) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(e)) => got.push(e),
            _ => panic!("timed out; got {} events", got.len()),
        }
    }
    got
}

fn audio(events: &[MediaEvent]) -> Vec<i16> {
    events
        .iter()
        .filter_map(|e| match e {
            MediaEvent::Audio(a) => Some(a.clone()),
            MediaEvent::Digit(..) => None,
        })
        .flatten()
        .collect()
}

#[tokio::test]
async fn a_tone_arrives_as_the_same_tone() {
    for codec in [Codec::Pcmu, Codec::Pcma] {
        let (mut a, _a_rx, _b, mut b_rx) = pair(codec).await;
        a.play(&sine(440.0, 600)).await.unwrap();
        let got = collect(&mut b_rx, |e| audio(e).len() >= 30 * FRAME).await;
        let pcm = audio(&got);
        assert_eq!(pcm.len(), 30 * FRAME, "{codec:?}");
        assert!(level(&pcm, 440.0) > 10.0 * level(&pcm, 1000.0), "{codec:?}");
        assert_eq!(Counters::get(&a.counters().packets_out), 30);
    }
}

#[tokio::test]
async fn a_key_press_arrives_once() {
    let (mut a, _a_rx, b, mut b_rx) = pair(Codec::Pcmu).await;
    a.send_digit('5').await.unwrap();
    a.send_digit('#').await.unwrap();
    // A little audio after, so anything else the presses caused has arrived too.
    a.play(&sine(440.0, 200)).await.unwrap();
    let got = collect(&mut b_rx, |e| audio(e).len() >= 10 * FRAME).await;
    let digits: Vec<(char, Method)> = got
        .iter()
        .filter_map(|e| match e {
            MediaEvent::Digit(d, m) => Some((*d, *m)),
            MediaEvent::Audio(_) => None,
        })
        .collect();
    assert_eq!(digits, [('5', Method::Rfc4733), ('#', Method::Rfc4733)]);
    assert_eq!(Counters::get(&b.counters().malformed), 0);
}

#[tokio::test]
async fn foreign_senders_and_garbage_are_ignored() {
    // The "phone" is a plain socket: it sends garbage, then real audio.
    let phone = UdpSocket::bind((LO, 0)).await.unwrap();
    let stranger = UdpSocket::bind((IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2)), 0))
        .await
        .unwrap();
    let socket = bind(LO, 31_000..=31_400).await.unwrap();
    let me = socket.local_addr().unwrap();
    let (session, mut rx) = RtpSession::start(
        socket,
        Params {
            codec: Codec::Pcmu,
            payload_type: 0,
            dtmf_payload_type: Some(101),
            remote: phone.local_addr().unwrap(),
        },
    );
    let packet = |seq: u16, value: i16| {
        rtp::build(&Packet {
            payload_type: 0,
            sequence: seq,
            timestamp: u32::from(seq) * 160,
            ssrc: 7,
            marker: false,
            payload: Codec::Pcmu.encode(&[value; FRAME]),
        })
    };
    phone.send_to(b"\x00garbage\xff", me).await.unwrap();
    phone.send_to(&[0x80; 3], me).await.unwrap();
    // Someone else injects a loud "digit" and audio: ignored.
    stranger.send_to(&packet(1, 30_000), me).await.unwrap();
    for seq in 10..20 {
        phone.send_to(&packet(seq, 1000), me).await.unwrap();
    }
    let got = collect(&mut rx, |e| audio(e).len() >= 10 * FRAME).await;
    assert!(
        audio(&got)
            .iter()
            .all(|s| (i32::from(*s) - 1000).abs() < 64),
        "only the phone's audio"
    );
    let c = session.counters();
    assert_eq!(Counters::get(&c.malformed), 2);
    assert_eq!(Counters::get(&c.foreign), 1);
    assert_eq!(Counters::get(&c.packets_in), 10);
}
