//! The phone side with real SIP clients. sipp: log in with RFC 4733 digits, choose with SIP
//! INFO, record and send to two people; the recipient calls in, listens and replies. Checked
//! by what users see: the stored recording is the tone the caller sent, recipients get it,
//! the sender's receipt says "heard", the reply holds what the listener said. Then baresip,
//! foreign RTP, and PIN lockout.

mod support;

use hark_core::store::messages;
use std::time::Duration;
use support::{
    Mode, Stack, audio, eventually,
    sipp::{Scenario, Step, tone, write_pcma_pcap},
};

const CALL_LIMIT: Duration = Duration::from_secs(60);

async fn record_send_and_listen(mode: Mode) {
    let stack = Stack::start(mode).await;
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("tone.pcap");
    let sent_ms = write_pcma_pcap(&pcap, &tone(440.0, 2.0, 8000.0)).unwrap();

    // 101 calls (known by caller id), PIN by RFC 4733, "2" (send) by SIP INFO, two
    // recipients, then speaks after the beep and presses # and 1 (send).
    let caller = Scenario {
        from_user: "101".into(),
        to_user: "hark".into(),
        steps: vec![
            Step::Pause(300),
            Step::Keys("1234#"),
            Step::Pause(300),
            Step::InfoKeys("2"),
            Step::Pause(500),
            Step::Keys("102#"),
            Step::Keys("103#"),
            Step::Keys("#"),
            Step::Pause(5_000),
            Step::Audio {
                pcap: pcap.clone(),
                ms: sent_ms,
            },
            Step::Keys("#"),
            Step::Pause(1_000),
            Step::Keys("1"),
            Step::Pause(2_500),
        ],
    };
    caller
        .run(stack.ivr_addr(), dir.path(), CALL_LIMIT)
        .await
        .expect("the caller's call succeeds");

    let sender = stack.user_id("101").await;
    let store = stack.app.deps.store.clone();
    let message = eventually("the phone message is complete", || {
        let (store, sender) = (store.clone(), sender.clone());
        async move {
            let sent = store
                .run(move |c| messages::list_sent(c, &sender, 5))
                .await
                .unwrap();
            sent.into_iter().find(|m| m.state == "complete")
        }
    })
    .await;
    let id = message.message_id();
    let recipients = store
        .run({
            let id = id.clone();
            move |c| messages::list_recipients(c, &id)
        })
        .await
        .unwrap();
    let mut to: Vec<String> = Vec::new();
    for r in &recipients {
        let u = store
            .run({
                let rid = hark_core::ids::UserId::from(r.recipient_id.as_str());
                move |c| hark_core::store::users::find_by_id(c, &rid)
            })
            .await
            .unwrap()
            .unwrap();
        to.push(u.extension);
    }
    to.sort();
    assert_eq!(to, ["102", "103"], "sent to the two people keyed in");

    // The recording is the tone that was sent: its loud part lasts as long, at 440 Hz.
    let decoded = support::decoded_recording(&stack.app.deps, &message).await;
    let rate = decoded.sample_rate;
    let loud: Vec<f32> = decoded
        .samples
        .chunks(rate as usize / 50)
        .filter(|c| (c.iter().map(|s| s * s).sum::<f32>() / c.len() as f32).sqrt() > 0.05)
        .flatten()
        .copied()
        .collect();
    let loud_ms = loud.len() as u64 * 1000 / u64::from(rate);
    assert!(
        loud_ms.abs_diff(u64::from(sent_ms)) <= 100,
        "the recording holds {loud_ms} ms of tone; {sent_ms} ms were sent"
    );
    assert_eq!(
        audio::dominant(&loud, rate, &[300.0, 440.0, 600.0, 1000.0]),
        440.0
    );

    // The router delivered it (e-mail by default) to both.
    eventually("both recipients are e-mailed", || async {
        (stack.emails().len() >= 2).then_some(())
    })
    .await;

    // 102 calls in and listens: PIN, 3 (listen), hears it, then 2 (reply) and answers with
    // a 600 Hz tone, # and 1 (send).
    let reply_pcap = dir.path().join("reply.pcap");
    let reply_ms = write_pcma_pcap(&reply_pcap, &tone(600.0, 1.5, 8000.0)).unwrap();
    let listener = Scenario {
        from_user: "102".into(),
        to_user: "hark".into(),
        steps: vec![
            Step::Pause(300),
            Step::Keys("1234#"),
            Step::Pause(300),
            Step::Keys("3"),
            Step::Pause(6_000),
            Step::Keys("2"),
            Step::Pause(5_000),
            Step::Audio {
                pcap: reply_pcap,
                ms: reply_ms,
            },
            Step::Keys("#"),
            Step::Pause(1_000),
            Step::Keys("1"),
            Step::Pause(2_500),
        ],
    };
    listener
        .run(stack.ivr_addr(), dir.path(), CALL_LIMIT)
        .await
        .expect("the listener's call succeeds");
    let token = stack.login("101").await;
    stack
        .wait_receipt(&token, id.as_str(), "102", "heard")
        .await;
    let (reply, rate) = stack.recording_between("102", "101").await;
    let replied = audio::tone_ms(&reply, rate, 600.0);
    assert!(
        replied.abs_diff(u64::from(reply_ms)) <= 100,
        "the reply holds {replied} ms of 102's tone; {reply_ms} ms were sent"
    );
    stack.stop().await;
}

support::both_modes!(record_send_and_listen);

/// A real softphone (baresip) as the caller: who is online (it hears a contact's recorded
/// name), the speed dial straight to the beep, and direct dial `*<extension>` as the number
/// called. What it said after each beep is what was stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn softphone_hears_who_is_online_and_direct_dials() {
    use support::baresip::Baresip;
    let stack = Stack::start(Mode::Embedded).await;
    let dir = tempfile::tempdir().unwrap();
    let limit = Duration::from_secs(60);
    let wait = Duration::from_secs(30);

    // 102 is online and has recorded their name; a 600 Hz tone stands in for the voice.
    let name = stack
        .app
        .deps
        .blobs
        .put(audio::sine_wav(600.0, 1.0, 8000))
        .await
        .unwrap();
    let bob = stack.user_id("102").await;
    stack
        .app
        .deps
        .store
        .run(move |c| hark_core::store::users::set_name_blob(c, &bob, Some(&name)))
        .await
        .unwrap();
    stack.set_online("102").await;

    // 101's microphone: a 440 Hz tone all along.
    let mic = dir.path().join("alice.wav");
    std::fs::write(&mic, audio::sine_wav(440.0, 60.0, 8000)).unwrap();
    let mut alice = Baresip::start("101", &mic, limit).await.unwrap();
    alice
        .command("dial", &format!("sip:hark@{}", stack.ivr_addr()))
        .await
        .unwrap();
    alice.event("CALL_ESTABLISHED", wait).await.unwrap();
    // PIN, then 1 (who is online), typed ahead through the prompts.
    for key in "1234#1".chars() {
        alice.command("sndcode", &key.to_string()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await; // a person's key presses
    }
    alice.wait_heard(600.0, 800, wait).await.unwrap();
    // 102 is speed dial 1: straight to the beep.
    alice.command("sndcode", "1").await.unwrap();
    alice.wait_heard(1000.0, 200, wait).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await; // Alice talks for two seconds.
    alice.command("sndcode", "#").await.unwrap();
    stack.held_for_review("101", "102").await;
    alice.command("sndcode", "1").await.unwrap(); // send
    let (samples, rate) = stack.recording_between("101", "102").await;
    let tone = audio::tone_ms(&samples, rate, 440.0);
    assert!(
        (1500..=3500).contains(&tone),
        "the message holds {tone} ms of Alice's tone"
    );
    alice.command("hangup", "").await.unwrap();
    alice.event("CALL_CLOSED", wait).await.unwrap();
    alice.stop().await;

    // 102 dials *200, the team's group: PIN, then the beep at once; the message reaches 101
    // (and the rest of the team), and Bob's sent list names the group.
    let mic = dir.path().join("bob.wav");
    std::fs::write(&mic, audio::sine_wav(520.0, 60.0, 8000)).unwrap();
    let mut bob = Baresip::start("102", &mic, limit).await.unwrap();
    bob.command("dial", &format!("sip:*200@{}", stack.ivr_addr()))
        .await
        .unwrap();
    bob.event("CALL_ESTABLISHED", wait).await.unwrap();
    for key in "1234#".chars() {
        bob.command("sndcode", &key.to_string()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    bob.wait_heard(1000.0, 200, wait).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    bob.command("sndcode", "#").await.unwrap();
    stack.held_for_review("102", "101").await;
    bob.command("sndcode", "1").await.unwrap();
    let (samples, rate) = stack.recording_between("102", "101").await;
    assert_eq!(
        audio::dominant(&samples, rate, &[440.0, 520.0, 1000.0]),
        520.0
    );
    let tone = audio::tone_ms(&samples, rate, 520.0);
    assert!((1500..=3500).contains(&tone), "{tone} ms of Bob's tone");
    bob.command("hangup", "").await.unwrap();
    bob.stop().await;
    let web = support::web::WebSession::login(&stack.base, "102", hark::demo::DEMO_PASSWORD).await;
    let (_, page) = web.get("/").await.unwrap();
    assert!(page.contains("To Team (200)"), "{page}");
    stack.stop().await;
}

/// RTP from an address the call did not signal — another host blasting a 1000 Hz tone and
/// `*` key presses (which would cancel the review) at the call's port — changes nothing: the
/// caller's message is stored as they said it, and the IVR's `/metrics` counts the packets as
/// foreign.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtp_from_a_foreign_address_is_ignored() {
    // One RTP port, so the test knows where the call's media is.
    let rtp_port = loop {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let p = s.local_addr().unwrap().port();
        if p.is_multiple_of(2) && p < 65_000 {
            break p;
        }
    };
    let stack = Stack::start_with(Mode::Embedded, |c| {
        c.ivr.rtp_port_min = rtp_port;
        c.ivr.rtp_port_max = rtp_port;
        c.ops.listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("tone.pcap");
    let sent_ms = write_pcma_pcap(&pcap, &tone(440.0, 2.0, 8000.0)).unwrap();

    // The intruder: 127.0.0.2 is another address on loopback.
    let stop = tokio_util::sync::CancellationToken::new();
    let intruder = tokio::spawn({
        let stop = stop.clone();
        async move {
            let sock = tokio::net::UdpSocket::bind("127.0.0.2:0").await.unwrap();
            let target = std::net::SocketAddr::from(([127, 0, 0, 1], rtp_port));
            let noise = tone(1000.0, 1.0, 8000.0);
            let mut sent = 0u64;
            for seq in 0u16..3000 {
                let mut packet = vec![0x80, 8];
                packet.extend_from_slice(&seq.to_be_bytes());
                packet.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
                packet.extend_from_slice(&0xbad0_beefu32.to_be_bytes());
                if seq.is_multiple_of(10) {
                    // RFC 4733 `*` (event 10), end bit set.
                    packet[1] = 101;
                    packet.extend_from_slice(&[10, 0x80 | 10, 0x03, 0x20]);
                } else {
                    let at = usize::from(seq % 50) * 160;
                    packet.extend(noise[at..at + 160].iter().map(|&s| support::sipp::alaw(s)));
                }
                let _ = sock.send_to(&packet, target).await;
                sent += 1;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                    _ = stop.cancelled() => break,
                }
            }
            sent
        }
    });

    let caller = Scenario {
        from_user: "101".into(),
        to_user: "hark".into(),
        steps: vec![
            Step::Pause(300),
            Step::Keys("1234#"),
            Step::Pause(300),
            Step::Keys("2"),
            Step::Pause(500),
            Step::Keys("102#"),
            Step::Keys("#"),
            Step::Pause(5_000),
            Step::Audio {
                pcap: pcap.clone(),
                ms: sent_ms,
            },
            Step::Keys("#"),
            Step::Pause(3_000),
            Step::Keys("1"),
            Step::Pause(2_500),
        ],
    };
    caller
        .run(stack.ivr_addr(), dir.path(), CALL_LIMIT)
        .await
        .expect("the caller's call succeeds");
    stop.cancel();
    let injected = intruder.await.unwrap();
    assert!(injected > 100, "the intruder sent {injected} packets");

    let (samples, rate) = stack.recording_between("101", "102").await;
    let own = audio::tone_ms(&samples, rate, 440.0);
    assert!(
        own.abs_diff(u64::from(sent_ms)) <= 100,
        "{own} ms of the caller's tone; {sent_ms} ms were sent"
    );
    assert_eq!(
        audio::tone_ms(&samples, rate, 1000.0),
        0,
        "no intruder audio"
    );

    let metrics_addr = stack.ops_addr().expect("metrics are served");
    let foreign = eventually("the call's foreign packets in /metrics", || async {
        let body = stack
            .http
            .get(format!("http://{metrics_addr}/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        body.lines()
            .find(|l| l.starts_with("hark_ivr_rtp_packets_total{kind=\"foreign\"}"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .filter(|&n| n > 0)
    })
    .await;
    assert!(
        foreign >= injected / 2,
        "{foreign} of {injected} intruding packets counted as foreign"
    );
    stack.stop().await;
}

/// Three wrong PINs lock the phone login across calls: Hark hangs up on the guesser, and the
/// next call is refused before the menus even with the right PIN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_pins_lock_the_phone_login() {
    let stack = Stack::start(Mode::Embedded).await;
    let dir = tempfile::tempdir().unwrap();
    let guesser = Scenario {
        from_user: "101".into(),
        to_user: "hark".into(),
        steps: vec![
            Step::Pause(300),
            Step::Keys("1235#"),
            Step::Pause(1_500),
            Step::Keys("4321#"),
            Step::Pause(1_500),
            Step::Keys("9876#"),
            Step::ExpectBye(15_000),
        ],
    };
    guesser
        .run(stack.ivr_addr(), dir.path(), CALL_LIMIT)
        .await
        .expect("Hark hangs up after the third wrong PIN");
    let owner = Scenario {
        from_user: "101".into(),
        to_user: "hark".into(),
        steps: vec![
            Step::Pause(300),
            Step::Keys("1234#"),
            Step::ExpectBye(10_000),
        ],
    };
    owner
        .run(stack.ivr_addr(), dir.path(), CALL_LIMIT)
        .await
        .expect("a locked PIN is refused even when right");
    let user = stack
        .app
        .deps
        .store
        .run(|c| hark_core::store::users::find_by_extension(c, "101"))
        .await
        .unwrap()
        .unwrap();
    assert!(user.pin_locked(), "the PIN is locked in the store");
    stack.stop().await;
}
