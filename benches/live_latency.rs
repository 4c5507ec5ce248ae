//! Live and pop-up latency, end to end, with the in-process bus and with RabbitMQ, beside the
//! bare RabbitMQ round trip measured in the same run. `cargo bench --bench live_latency`
//! (scripts/bench.sh).
//!
//! A caller written here (SIP over UDP, RTP with A-law audio and RFC 4733 keys, paced at
//! 20 ms) dials `*102`, keys the PIN and, after the beep, speaks a tone for `TALK` seconds.
//! Bob (102, "live in the portal") listens on `/messages/<id>/live`. For each fragment that
//! arrives, the latency is from the moment the caller sent the RTP packet that completed it to
//! the moment its WebSocket frame arrived (both on loopback, so the network adds microseconds;
//! the IVR's jitter buffer, the fragment, the bus and the portal are what is measured).
//! Then `POPUPS` short calls to Carol (103, "pop-up"): from the caller's send key (`1` in the
//! review, right after `#`) to the pop-up frame on Carol's open tab.

// A benchmark reports its figures on standard output.
#![allow(clippy::print_stdout)]

#[path = "../tests/support/mod.rs"]
mod support;

use hark::demo::DEMO_PASSWORD;
use hark_core::live::Fragment;
use lapin::{
    BasicProperties, Connection, ConnectionProperties,
    options::{
        BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions,
        QueueDeleteOptions,
    },
    types::FieldTable,
};
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use support::{Mode, Stack, eventually, sipp::alaw, web::WebSession};
use tokio::{net::UdpSocket, sync::mpsc};

/// Seconds the caller speaks to Bob.
const TALK: u64 = 20;
/// Calls that end in a pop-up.
const POPUPS: usize = 20;
/// Samples per RTP packet (20 ms at 8 kHz).
const PACKET: usize = 160;

/// What the caller's RTP sends next.
enum Say {
    Key(char),
    Tone(bool),
}

/// A SIP call placed by the benchmark, its RTP paced by a task of its own.
struct Call {
    sip: UdpSocket,
    ivr: SocketAddr,
    call_id: String,
    from: String,
    to_header: String,
    target: String,
    say: mpsc::Sender<Say>,
    /// When each tone packet went out, in order.
    sent: Arc<Mutex<Vec<Instant>>>,
    /// When each key's first event packet went out.
    keyed: Arc<Mutex<Vec<Instant>>>,
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

impl Call {
    async fn dial(ivr: SocketAddr, from: &str, target: &str) -> Self {
        let sip = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let rtp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let local = sip.local_addr().unwrap();
        let rtp_port = rtp.local_addr().unwrap().port();
        let n = support::hex64();
        let call_id = format!("bench-{}", &n[..16]);
        let tag = &n[16..24];
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {rtp_port} RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n"
        );
        let from_header = format!("<sip:{from}@127.0.0.1>;tag={tag}");
        let invite = format!(
            "INVITE sip:{target}@{ivr} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{}\r\n\
             Max-Forwards: 70\r\nFrom: {from_header}\r\nTo: <sip:{target}@{ivr}>\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:{from}@{local}>\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            &n[24..40],
            sdp.len()
        );
        sip.send_to(invite.as_bytes(), ivr).await.unwrap();
        let mut buf = vec![0u8; 8192];
        let (to_header, remote_rtp) = loop {
            let (len, _) = tokio::time::timeout(Duration::from_secs(10), sip.recv_from(&mut buf))
                .await
                .expect("an answer to the INVITE")
                .unwrap();
            let msg = String::from_utf8_lossy(&buf[..len]).into_owned();
            if !msg.starts_with("SIP/2.0 200") {
                continue;
            }
            let to = header(&msg, "To").unwrap().to_owned();
            let port: u16 = msg
                .lines()
                .find_map(|l| l.strip_prefix("m=audio "))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|p| p.parse().ok())
                .expect("an SDP answer");
            break (to, SocketAddr::from(([127, 0, 0, 1], port)));
        };
        let ack = format!(
            "ACK sip:{target}@{ivr} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{}a\r\n\
             Max-Forwards: 70\r\nFrom: {from_header}\r\nTo: {to_header}\r\nCall-ID: {call_id}\r\n\
             CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
            &n[24..40]
        );
        sip.send_to(ack.as_bytes(), ivr).await.unwrap();
        let (say, rx) = mpsc::channel(16);
        let sent = Arc::new(Mutex::new(Vec::new()));
        let keyed = Arc::new(Mutex::new(Vec::new()));
        tokio::spawn(pace(rtp, remote_rtp, rx, sent.clone(), keyed.clone()));
        Self {
            sip,
            ivr,
            call_id,
            from: from_header,
            to_header,
            target: target.to_owned(),
            say,
            sent,
            keyed,
        }
    }

    async fn keys(&self, keys: &str) {
        for k in keys.chars() {
            self.say.send(Say::Key(k)).await.unwrap();
        }
    }

    async fn hang_up(self) {
        let local = self.sip.local_addr().unwrap();
        let bye = format!(
            "BYE sip:{}@{} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{}b\r\n\
             Max-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 2 BYE\r\n\
             Content-Length: 0\r\n\r\n",
            self.target,
            self.ivr,
            &support::hex64()[..12],
            self.from,
            self.to_header,
            self.call_id
        );
        let _ = self.sip.send_to(bye.as_bytes(), self.ivr).await;
    }
}

/// Send an RTP packet every 20 ms: silence, the tone, or a key (RFC 4733: 100 ms of event
/// packets, then three end packets).
async fn pace(
    rtp: UdpSocket,
    to: SocketAddr,
    mut rx: mpsc::Receiver<Say>,
    sent: Arc<Mutex<Vec<Instant>>>,
    keyed: Arc<Mutex<Vec<Instant>>>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let (mut seq, mut ts, ssrc) = (0u16, 0u32, 0x4841_524bu32);
    let mut tone = false;
    let mut keys: std::collections::VecDeque<char> = Default::default();
    let mut phase = 0usize;
    let silence = vec![alaw(0); PACKET];
    let packet = |pt: u8, marker: bool, seq: u16, ts: u32, payload: &[u8]| {
        let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(payload);
        p
    };
    loop {
        tokio::select! {
            say = rx.recv() => match say {
                Some(Say::Key(k)) => keys.push_back(k),
                Some(Say::Tone(on)) => tone = on,
                None => return,
            },
            _ = tick.tick() => {
                if let Some(k) = keys.pop_front() {
                    let event = match k {
                        '0'..='9' => k as u8 - b'0',
                        '*' => 10,
                        _ => 11,
                    };
                    keyed.lock().unwrap().push(Instant::now());
                    for i in 0..8u16 {
                        let end = i >= 5;
                        let duration = 160 * (i.min(4) + 1);
                        let mut payload = vec![event, if end { 0x80 | 10 } else { 10 }];
                        payload.extend_from_slice(&duration.to_be_bytes());
                        let _ = rtp.send_to(&packet(101, i == 0, seq, ts, &payload), to).await;
                        seq = seq.wrapping_add(1);
                        if i < 4 {
                            tick.tick().await;
                        }
                    }
                    ts = ts.wrapping_add(800);
                    // Keys a person presses: some time between them.
                    for _ in 0..10 {
                        tick.tick().await;
                    }
                    continue;
                }
                let payload: Vec<u8> = if tone {
                    (0..PACKET)
                        .map(|i| {
                            let t = (phase + i) as f32 / 8000.0;
                            alaw((16_000.0 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()) as i16)
                        })
                        .collect()
                } else {
                    silence.clone()
                };
                phase += PACKET;
                let _ = rtp.send_to(&packet(8, false, seq, ts, &payload), to).await;
                if tone {
                    sent.lock().unwrap().push(Instant::now());
                }
                seq = seq.wrapping_add(1);
                ts = ts.wrapping_add(PACKET as u32);
            }
        }
    }
}

/// The message a caller is recording to `to`, once it exists (the beep).
async fn recording(stack: &Stack, from: &'static str, to: &'static str) -> String {
    let (a, b) = (stack.user_id(from).await, stack.user_id(to).await);
    eventually("the beep", || {
        let (store, a, b) = (stack.app.deps.store.clone(), a.clone(), b.clone());
        async move {
            store
                .run(move |c| {
                    use diesel::prelude::*;
                    use hark_core::store::schema::{message_recipients as r, messages as m};
                    Ok(m::table
                        .inner_join(r::table)
                        .filter(m::sender_id.eq(a.as_str()))
                        .filter(r::recipient_id.eq(b.as_str()))
                        .filter(m::state.eq("recording"))
                        .filter(m::blob_key.is_null())
                        .select(m::id)
                        .first::<String>(c)
                        .optional()?)
                })
                .await
                .unwrap()
        }
    })
    .await
}

fn percentiles(mut v: Vec<f64>) -> (f64, f64, usize) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99), v.len())
}

/// Live latencies (ms) of one call to Bob.
async fn live(stack: &Stack) -> Vec<f64> {
    let bob = WebSession::login(&stack.base, "102", DEMO_PASSWORD).await;
    let mut tab = bob.socket().await.unwrap();
    tab.expect("hello", |_| true).await;
    let call = Call::dial(stack.ivr_addr(), "101", "*102").await;
    call.keys("1234#").await;
    let id = recording(stack, "101", "102").await;
    let mut listener = bob.live(&id).await.unwrap();
    // Frames are timed as they arrive, while the caller talks.
    let reader = tokio::spawn(async move { listener.until_text_timed().await });
    // Let the recording settle, then talk.
    tokio::time::sleep(Duration::from_millis(500)).await;
    call.say.send(Say::Tone(true)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(TALK)).await;
    call.say.send(Say::Tone(false)).await.unwrap();
    call.keys("#").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    call.keys("1").await;
    let (frames, _end) = reader.await.unwrap();
    let sent = call.sent.lock().unwrap().clone();
    call.hang_up().await;
    // Where the tone starts in the recording, then which packet completed each fragment.
    let mut start: Option<u64> = None;
    let mut out = Vec::new();
    for (at, body) in frames {
        let f = Fragment::decode(&body).unwrap();
        if f.rate != 8000 {
            continue; // The tail from the stored message, not live.
        }
        let first = u64::from(f.offset_ms) * 8;
        if start.is_none()
            && let Some(j) = f.pcm.iter().position(|s| s.unsigned_abs() > 4000)
        {
            start = Some(first + j as u64);
        }
        let Some(s0) = start else { continue };
        let last = first + f.pcm.len() as u64 - 1;
        if last < s0 + PACKET as u64 {
            continue;
        }
        let k = usize::try_from((last - s0) / PACKET as u64).unwrap();
        if let Some(t) = sent.get(k) {
            out.push(at.saturating_duration_since(*t).as_secs_f64() * 1000.0);
        }
    }
    out
}

/// Pop-up latencies (ms): short calls to Carol, from the send key to this call's pop-up frame.
///
/// Carol's tab behaves as the portal's page does: it answers each pop-up "seen", so the portal
/// does not send it again, and only the pop-up of the message just sent counts. (Before
/// 2026-12-06 this took the next pop-up frame of any message and timed it from the last key
/// sent: once the portal began to send unseen pop-ups again, a tab that never answered "seen"
/// got an old one while the caller was still in the review, so the figure was the 400 ms pause
/// after `#`, not Hark's latency.)
async fn popups(stack: &Stack) -> Vec<f64> {
    let carol = WebSession::login(&stack.base, "103", DEMO_PASSWORD).await;
    let mut tab = carol.socket().await.unwrap();
    tab.expect("hello", |_| true).await;
    let mut out = Vec::new();
    for _ in 0..POPUPS {
        let call = Call::dial(stack.ivr_addr(), "104", "*103").await;
        call.keys("1234#").await;
        let id = recording(stack, "104", "103").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        call.say.send(Say::Tone(true)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(800)).await;
        call.say.send(Say::Tone(false)).await.unwrap();
        call.keys("#").await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        let sent_keys = call.keyed.lock().unwrap().len();
        call.keys("1").await;
        let (at, frame) = tab.expect_timed("popup", |f| f["message_id"] == id).await;
        tab.send(serde_json::json!({"type": "seen", "attempt_id": frame["attempt_id"]}))
            .await;
        let keyed = call.keyed.lock().unwrap().clone();
        assert_eq!(
            keyed.len(),
            sent_keys + 1,
            "the pop-up came after the send key, not before it"
        );
        out.push(at.saturating_duration_since(keyed[sent_keys]).as_secs_f64() * 1000.0);
        call.hang_up().await;
    }
    out
}

/// Bare lapin round trip: publish a 1.6 KB message (a fragment's size) and receive it.
async fn bare_round_trip(url: &str, n: usize) -> Vec<f64> {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("RabbitMQ");
    let ch = conn.create_channel().await.unwrap();
    let q = format!("bench.rt.{}", std::process::id());
    ch.queue_declare(
        q.clone().into(),
        QueueDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    let mut consumer = ch
        .basic_consume(
            q.clone().into(),
            "bench".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let body = vec![0u8; 1614];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        ch.basic_publish(
            "".into(),
            q.clone().into(),
            BasicPublishOptions::default(),
            &body,
            BasicProperties::default(),
        )
        .await
        .unwrap();
        use futures_util::StreamExt;
        let d = consumer.next().await.unwrap().unwrap();
        out.push(t.elapsed().as_secs_f64() * 1000.0);
        d.ack(BasicAckOptions::default()).await.unwrap();
    }
    let _ = ch
        .queue_delete(q.into(), QueueDeleteOptions::default())
        .await;
    out
}

fn report(what: &str, v: Vec<f64>) {
    let (p50, p99, n) = percentiles(v);
    println!("{what:<58} p50 {p50:>7.2} ms   p99 {p99:>7.2} ms   (n = {n})");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    for mode in [Mode::Embedded, Mode::distributed()] {
        let name = match mode {
            Mode::Embedded => "in-process bus, SQLite",
            Mode::Distributed { .. } => "RabbitMQ, PostgreSQL",
        };
        let stack = Stack::start(mode).await;
        stack
            .set_profile(
                "102",
                r#"[{"channel":"stream"},{"channel":"email","after_secs":600}]"#,
            )
            .await;
        stack
            .set_profile(
                "103",
                r#"[{"channel":"popup"},{"channel":"email","after_secs":600}]"#,
            )
            .await;
        report(
            &format!("live: RTP packet → WebSocket frame ({name})"),
            live(&stack).await,
        );
        report(
            &format!("pop-up: send key → pop-up frame ({name})"),
            popups(&stack).await,
        );
        stack.stop().await;
    }
    report(
        "reference: bare RabbitMQ round trip (1.6 KB, publish → deliver)",
        bare_round_trip(&support::amqp_url(), 2000).await,
    );
}
